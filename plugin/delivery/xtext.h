// xtext: the encoding of DSN parameter values (ENVID, ORCPT) on the SMTP command line.
//
// RFC 3461 §4: bytes 33..126 stand for themselves, except '+' and '='; every other byte (space,
// controls, '+', '=', 8-bit bytes) is written "+XX" with two upper-case hex digits. The result is
// printable ASCII without spaces, so it can never break a command line. Pure; any thread.
#pragma once

#include <string>
#include <string_view>

namespace bulkq {

[[nodiscard]] std::string xtext_encode(std::string_view bytes);

}  // namespace bulkq
