// SmtpSession: one SMTP client connection that carries a batch of messages to one destination.
//
// Connects to the endpoints in order (the first that accepts), reads the greeting, says EHLO
// (HELO when EHLO gets a 5xx), does STARTTLS when the server offers it and the policy allows, then
// runs one MAIL/RCPT/DATA transaction per message (pipelined when PIPELINING is offered), RSET
// when a transaction did not end cleanly, and QUIT at the end. Content is streamed from a
// MessageContent source through SmtpDataEncoder; at most one write buffer (~64 KiB) of it is held.
//
// Threads: the session runs as Boost.Asio coroutines on the io_context passed to
// start_smtp_session(); `done` is called on that io_context's thread, once per batch.
// run_smtp_session() is the blocking convenience form (its own io_context, the calling thread).
// Asio and OpenSSL stay in smtp_session.cpp so this header is cheap to include.
//
// Connection reuse: with `keep_idle` > 0, a session whose batch ended cleanly stays connected
// and hands itself to `done` as SmtpSessionResult::connection, idle. The owner gives it the next
// batch to the same destination (SmtpConnection::next_batch) or closes it; otherwise it QUITs
// when `keep_idle` has passed, and closes at once when the server speaks or hangs up while idle.
// A reused connection that turns out to have been closed by the server (no command of the batch
// got a reply: reset or end of file) reports `stale_connection`: the batch was never seen and
// goes again over a new connection, so a stale connection never fails a batch.
//
// Promised: every operation is bounded by its timeout (RFC 5321 §4.5.3.2 defaults); the result
// says, per message and per recipient, the reply that decides it (or the transport failure that
// did), and for the session the failure that ended it and which messages it affected. Untrusted
// replies go through SmtpReplyParser; a protocol error ends the session.
//
// TLS policy (documented choice): `opportunistic` tries STARTTLS when offered, without verifying
// the certificate; if the handshake fails, the session reconnects to the same endpoint once and
// continues without TLS (as Postfix does for opportunistic TLS), and a STARTTLS refused with a
// non-220 reply continues in plaintext on the same connection. `required` fails the session with
// TransportFailure::tls_failure when STARTTLS is not offered, refused, or the handshake fails (the
// certificate is not verified either: verification needs a trust policy, a later stage).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "delivery/delivery_outcome.h"
#include "delivery/smtp_commands.h"
#include "delivery/smtp_reply.h"

namespace boost::asio {
class io_context;
}

namespace bulkq {

enum class TlsPolicy { opportunistic, required, off };
[[nodiscard]] std::string_view to_string(TlsPolicy policy);

// Per-phase timeouts. Defaults: RFC 5321 §4.5.3.2 (greeting, MAIL, RCPT 5 min; DATA initiation
// 2 min; each data block 3 min; the final reply 10 min); connect, EHLO, STARTTLS, RSET and QUIT as
// Postfix's smtp_*_timeout defaults.
struct SmtpTimeouts {
  std::chrono::milliseconds connect{std::chrono::seconds(30)};
  std::chrono::milliseconds greeting{std::chrono::minutes(5)};
  std::chrono::milliseconds ehlo{std::chrono::minutes(5)};
  std::chrono::milliseconds starttls{std::chrono::minutes(5)};  // reply and handshake
  std::chrono::milliseconds mail{std::chrono::minutes(5)};
  std::chrono::milliseconds rcpt{std::chrono::minutes(5)};
  std::chrono::milliseconds data_init{std::chrono::minutes(2)};
  std::chrono::milliseconds data_block{std::chrono::minutes(3)};
  std::chrono::milliseconds data_end{std::chrono::minutes(10)};
  std::chrono::milliseconds rset{std::chrono::seconds(20)};
  std::chrono::milliseconds quit{std::chrono::minutes(5)};
};

struct SmtpEndpoint {
  std::string address;  // numeric IPv4 or IPv6 address (DNS is resolved before the session)
  std::uint16_t port = 25;
};

// What one call to a MessageContent source did.
enum class ContentStep {
  more,    // emitted zero or more lines; call again
  done,    // emitted its last lines (possibly none); the message is complete
  failed,  // the spool could not be read; the message must not be completed
};

// Yields a message's lines without line endings (the encoder adds CRLF and dot-stuffing), a few at
// a time: each call passes some lines to `emit` (a line's bytes need only live during the call).
using ContentLineEmitter = std::function<void(std::string_view line)>;
using MessageContent = std::function<ContentStep(const ContentLineEmitter& emit)>;

struct SmtpRecipient {
  std::string address;
  RcptToParameters parameters;
};

struct SmtpMessage {
  std::string sender;  // empty: the null sender
  MailFromParameters parameters;
  std::vector<SmtpRecipient> recipients;
  MessageContent content;
};

struct SmtpSessionRequest {
  std::vector<SmtpEndpoint> endpoints;  // tried in order
  std::string client_name;              // our EHLO name
  TlsPolicy tls = TlsPolicy::opportunistic;
  SmtpTimeouts timeouts;
  std::vector<SmtpMessage> messages;
  // After a clean batch, stay connected this long waiting for another (0: QUIT at once).
  std::chrono::milliseconds keep_idle{0};
};

struct SmtpSessionResult;

// A connection kept open after its batch (see "Connection reuse" above). Used on the thread of the
// io_context the session runs on.
class SmtpConnection {
 public:
  virtual ~SmtpConnection() = default;
  // True while it waits for a batch: connected, not closing.
  [[nodiscard]] virtual bool idle() const = 0;
  // Sends `messages` as the next batch; `done` then runs once with its result (which may carry
  // the connection again). On a connection that is not idle every message is decided by a lost
  // connection at once, so nothing is ever dropped.
  virtual void next_batch(std::vector<SmtpMessage> messages,
                          std::function<void(SmtpSessionResult)> done) = 0;
  // QUIT and close, when idle; nothing otherwise.
  virtual void close_idle() = 0;
};

// What decides one recipient: a reply (classify_reply(reply, stage)) or a transport failure
// (classify_transport(*transport)). Exactly one of the two is meaningful: `transport` when set.
struct SmtpVerdict {
  SmtpStatus reply;
  SmtpStage stage = SmtpStage::greeting;
  std::optional<TransportFailure> transport;
  // A command that could not be built (bad address, SIZE over the limit, no SMTPUTF8): a local
  // permanent failure; `reply` then holds a synthetic 5xx (code 550/552/553) explaining it.
  bool local = false;
};

struct SmtpRecipientResult {
  std::optional<SmtpStatus> rcpt_reply;  // the reply to RCPT TO, when it came
  SmtpVerdict verdict;                   // the final word for this recipient
};

struct SmtpMessageResult {
  bool attempted = false;                    // MAIL FROM was sent
  std::optional<SmtpStatus> mail_reply;      // the reply to MAIL FROM
  std::optional<SmtpStatus> data_reply;      // the reply to DATA (354 when accepted)
  std::optional<SmtpStatus> data_end_reply;  // the final reply after the content
  bool content_failed = false;               // the content source failed; the session was dropped
  std::vector<SmtpRecipientResult> recipients;  // in the order of SmtpMessage::recipients
};

struct SmtpSessionResult {
  // The transport failure that ended the session early, when one did.
  std::optional<TransportFailure> failure;
  SmtpStage failure_stage = SmtpStage::greeting;
  std::string failure_detail;   // one line for the log ("connect to 127.0.0.1:25: refused")
  bool protocol_error = false;  // the reply parser failed (failure is then connection_lost)
  // A session-wide rejection reply (greeting 4xx/5xx, EHLO and HELO refused), when one came.
  std::optional<SmtpStatus> session_reply;
  // Indexes of the messages the failure or session reply decided (in flight or never started).
  std::vector<std::size_t> affected_messages;
  std::optional<std::size_t> endpoint;  // index of the endpoint that accepted the connection
  bool tls = false;                     // the session ran over TLS (at its end)
  bool tls_fallback = false;            // opportunistic TLS failed and the session reconnected
  bool pipelining = false;
  std::size_t transactions = 0;             // DATA transactions completed with a final reply
  std::vector<SmtpMessageResult> messages;  // one per request message, same order
  // This batch ran over a connection that had carried earlier batches, which attempted
  // `earlier_messages` messages in all.
  bool reused = false;
  std::size_t earlier_messages = 0;
  // A reused connection the server had closed while it was idle: nothing of the batch was
  // accepted or refused (every recipient reads as a lost connection); send it again elsewhere.
  bool stale_connection = false;
  // Set when the connection stays open, idle, for another batch (keep_idle > 0).
  std::shared_ptr<SmtpConnection> connection;
};

// The reply parser's reply as the outcome classifier's SmtpStatus (text without the enhanced
// code, lines joined with spaces).
[[nodiscard]] SmtpStatus to_smtp_status(const SmtpReply& reply);

// Starts the session on `io`; `done` runs on io's thread when it ends. `request` is moved in.
void start_smtp_session(boost::asio::io_context& io, SmtpSessionRequest request,
                        std::function<void(SmtpSessionResult)> done);

// Runs one session to its end on a private io_context in the calling thread (with keep_idle, it
// returns once the idle connection has QUIT; the result carries no connection).
[[nodiscard]] SmtpSessionResult run_smtp_session(SmtpSessionRequest request);

// Runs `first`, then each of `more` as a further batch over the connection kept open (a new
// session when it was not kept, or was stale), then closes it; one result per batch, without
// `connection`.
// For tools and tests: a blocking picture of what the delivery engine does with reuse.
[[nodiscard]] std::vector<SmtpSessionResult> run_smtp_batches(
    SmtpSessionRequest first, std::vector<std::vector<SmtpMessage>> more);

}  // namespace bulkq
