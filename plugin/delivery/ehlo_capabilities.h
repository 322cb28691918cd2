// EhloCapabilities: what a server offers, read from its 250 reply to EHLO.
//
// The first line of the reply is the greeting ("mx.example.com Hello ..."); every later line is a
// keyword with optional parameters (RFC 5321 §4.1.1.1). Keywords are matched case-insensitively,
// unknown keywords and malformed parameters are ignored (a server's odd extension must not cost
// us the connection), and what is kept is bounded: the greeting domain and the AUTH list are
// capped, so a hostile reply cannot make this grow beyond a few KiB.
//
// Pure: no I/O, no state; callable from any thread (in practice the connection's event-loop
// thread, right after EHLO).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "delivery/smtp_reply.h"

namespace bulkq {

// Most AUTH mechanisms kept; the rest are ignored.
inline constexpr std::size_t kMaxAuthMechanisms = 16;
// RFC 4422 §3.1: a mechanism name is 1..20 of A-Z, 0-9, '-', '_'.
inline constexpr std::size_t kMaxAuthMechanismLength = 20;
// Longest greeting domain kept (a DNS name is at most 253; an address literal is shorter).
inline constexpr std::size_t kMaxGreetingDomainLength = 255;

struct EhloCapabilities {
  std::string greeting_domain;  // first word of the first line; empty if over-long; not validated
  bool pipelining = false;      // RFC 2920
  bool starttls = false;        // RFC 3207
  bool size = false;            // RFC 1870: SIZE is offered, so MAIL FROM may carry SIZE=
  // The announced maximum message size. Empty when SIZE has no number, its number is 0 (RFC 1870:
  // "no fixed maximum") or is not a number that fits.
  std::optional<std::uint64_t> size_limit;
  bool eight_bit_mime = false;         // RFC 6152
  bool smtputf8 = false;               // RFC 6531
  bool enhanced_status_codes = false;  // RFC 2034
  bool chunking = false;               // RFC 3030
  bool dsn = false;                    // RFC 3461
  // Upper-cased, without duplicates, in the server's order; from "AUTH ..." and the old
  // "AUTH=..." form. Names that are not valid RFC 4422 mechanism names are skipped.
  std::vector<std::string> auth_mechanisms;

  friend bool operator==(const EhloCapabilities&, const EhloCapabilities&) = default;
};

struct EhloCapabilitiesResult {
  EhloCapabilities capabilities;  // set when ok()
  std::string error;              // set when !ok(): the reply is not a 250
  [[nodiscard]] bool ok() const { return error.empty(); }
};

// The capabilities in a reply to EHLO. Only a 250 reply has any; any other code is an error
// (the caller falls back to HELO or gives up, and a default EhloCapabilities offers nothing).
[[nodiscard]] EhloCapabilitiesResult parse_ehlo_capabilities(const SmtpReply& reply);

}  // namespace bulkq
