// The client's SMTP command lines: EHLO/HELO, MAIL FROM and RCPT TO with their ESMTP parameters,
// and the fixed commands.
//
// A command carries only the parameters the server offered in its EHLO reply: SIZE= when SIZE is
// offered, BODY=8BITMIME when 8BITMIME is, SMTPUTF8 when SMTPUTF8 is, and the DSN parameters
// (RET, ENVID, NOTIFY, ORCPT) only when DSN is; a parameter the server did not offer is left out
// (RFC 1870, 6152, 3461 say so) — except SMTPUTF8, whose absence would send a UTF-8 address the
// server cannot read: that is an error value (Postfix bounces such mail with 5.6.7 too).
//
// Addresses are untrusted bytes from the spool: one with a control byte (CR, LF, NUL, ...) or over
// kMaxSmtpCommandAddressLength is refused, so no input can smuggle a second command into the line.
// Every line this returns is exactly one command ending in CRLF, with no other CR or LF.
//
// Pure: no I/O, no state; any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "delivery/ehlo_capabilities.h"

namespace bulkq {

// Longest address put into MAIL FROM / RCPT TO / ORCPT (bytes, without the angle brackets).
inline constexpr std::size_t kMaxSmtpCommandAddressLength = 512;
// RFC 3461 §4.4: ENVID is at most 100 characters, xtext-encoded.
inline constexpr std::size_t kMaxEnvidXtextLength = 100;
// RFC 3461 §4.2: ORCPT is at most 500 characters ("rfc822;" and the xtext).
inline constexpr std::size_t kMaxOrcptLength = 500;
// RFC 1035 name limit, also used for an address literal in EHLO.
inline constexpr std::size_t kMaxClientNameLength = 255;

inline constexpr std::string_view kSmtpDataCommand = "DATA\r\n";
inline constexpr std::string_view kSmtpRsetCommand = "RSET\r\n";
inline constexpr std::string_view kSmtpQuitCommand = "QUIT\r\n";
inline constexpr std::string_view kSmtpStarttlsCommand = "STARTTLS\r\n";
inline constexpr std::string_view kSmtpNoopCommand = "NOOP\r\n";

enum class SmtpCommandError {
  none,
  address_has_control_bytes,  // CR, LF, NUL or another byte below 0x20, or DEL
  address_too_long,           // over kMaxSmtpCommandAddressLength
  empty_recipient,            // RCPT TO:<> does not exist
  smtputf8_not_offered,       // the envelope needs SMTPUTF8 and the server does not offer it
  message_too_large,          // the message size is over the server's SIZE limit
  envid_too_long,             // ENVID over kMaxEnvidXtextLength once xtext-encoded
  orcpt_too_long,             // ORCPT over kMaxOrcptLength once encoded
  notify_never_with_others,   // NOTIFY=NEVER cannot be combined with SUCCESS/FAILURE/DELAY
  invalid_client_name,        // EHLO/HELO name empty, over-long, or with spaces or control bytes
};

// A short English phrase for logs and bounce texts ("address too long").
[[nodiscard]] std::string_view to_string(SmtpCommandError error);

struct SmtpCommandLine {
  std::string line;  // the command with its CRLF; set when ok()
  SmtpCommandError error = SmtpCommandError::none;
  [[nodiscard]] bool ok() const { return error == SmtpCommandError::none; }
};

// RET= (RFC 3461 §4.3): how much of the message a failure DSN should return.
enum class DsnReturn { unspecified, full, headers };

struct MailFromParameters {
  // The message size as RFC 1870 counts it (CRLF line endings, before dot-stuffing); sent as
  // SIZE= when the server offers SIZE, and checked against its announced limit.
  std::optional<std::uint64_t> size;
  bool eight_bit_mime = false;  // the body has 8-bit bytes: BODY=8BITMIME when offered
  // The message needs SMTPUTF8 (UTF-8 in headers). Non-ASCII bytes in the sender also need it,
  // whatever this says.
  bool smtputf8 = false;
  DsnReturn ret = DsnReturn::unspecified;  // RET=, when DSN is offered
  std::string envid;                       // ENVID= (raw bytes; xtext-encoded), when DSN is offered
};

// NOTIFY= (RFC 3461 §4.1). None set: no NOTIFY parameter.
struct DsnNotify {
  bool never = false;
  bool success = false;
  bool failure = false;
  bool delay = false;
};

struct RcptToParameters {
  DsnNotify notify;  // when DSN is offered
  std::string
      orcpt;  // the original recipient (raw bytes), as ORCPT=rfc822;xtext when DSN is offered
};

// "EHLO name\r\n" and "HELO name\r\n". `client_name` is our host name or an address literal.
[[nodiscard]] SmtpCommandLine ehlo_command(std::string_view client_name);
[[nodiscard]] SmtpCommandLine helo_command(std::string_view client_name);

// "MAIL FROM:<sender> [params]\r\n". `sender` is the bare address without angle brackets; empty is
// the null sender (bounces): "MAIL FROM:<>".
[[nodiscard]] SmtpCommandLine mail_from_command(std::string_view sender,
                                                const MailFromParameters& parameters,
                                                const EhloCapabilities& server);

// "RCPT TO:<recipient> [params]\r\n". `recipient` is the bare address, never empty.
[[nodiscard]] SmtpCommandLine rcpt_to_command(std::string_view recipient,
                                              const RcptToParameters& parameters,
                                              const EhloCapabilities& server);

}  // namespace bulkq
