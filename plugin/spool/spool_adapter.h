// SpoolAdapter: the engine's one seam to the MTA's spool, where every held message's body stays.
//
// One implementation per MTA (shim/postfix: PostfixSpool). The engine names a message by its
// MTA queue id only; the adapter knows the paths and the file format. All calls do blocking file
// I/O: the scheduler thread (or a delivery worker) makes them, never a milter callback. Errors
// are values carrying the queue id and the cause, never exceptions; a malformed or truncated
// file is an error for that message only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/message_record.h"

namespace bulkq {

// The header bulkq adds to every message it diverts, carrying its numeric MessageId, so that
// recovery recognises its own held messages (Postfix discards the quarantine reason). Delivery
// strips it from the stream: it never reaches a recipient.
inline constexpr std::string_view kMarkerHeaderName = "X-Bulkq-Id";

enum class HeldFileState : std::uint8_t {
  missing,     // no such held file (never committed, or removed/released by an admin)
  incomplete,  // the file exists but the MTA has not finished it (Postfix: mode is not 0700)
  committed,   // complete and held
  error,       // it could not be checked (permissions, I/O): see the error text
};

struct HeldFileCheck {
  HeldFileState state = HeldFileState::missing;
  std::string error;  // set when state == error
};

struct HeldRecipient {
  std::string address;  // as the MTA will deliver it (Postfix `R`/`D`)
  bool done = false;    // already delivered by the MTA (Postfix `D`): never send again
};

// What the engine needs of one held message to queue it: no body, no headers but the marker.
struct HeldEnvelope {
  std::string queue_id;
  std::string sender;                     // "" = the null sender
  std::vector<HeldRecipient> recipients;  // in the MTA's order: recipient index = position
  std::int64_t arrival_unix_ms = 0;
  std::optional<MessageId> marker;  // kMarkerHeaderName's value, when present and well-formed
};

struct HeldEnvelopeResult {
  HeldEnvelope envelope;  // set when ok()
  std::string error;      // set when !ok(): "hold/ID: offset N: ...", "cannot open ...: ..."
  [[nodiscard]] bool ok() const { return error.empty(); }
};

struct SpoolResult {
  std::string error;  // set when !ok()
  [[nodiscard]] bool ok() const { return error.empty(); }
};

// What delivery needs of a held message besides its content: the envelope as the MTA stored it,
// with the SMTP parameters that must travel on (shared/MTA-FACTS.md §8.4).
struct HeldSendRecipient {
  std::string address;           // as the MTA will deliver it
  std::string original_address;  // before alias/virtual expansion; empty = the same or unknown
  bool done = false;             // already delivered by the MTA: never send again
  bool notify_never = false;     // DSN NOTIFY (RFC 3461); all false = not given
  bool notify_success = false;
  bool notify_failure = false;
  bool notify_delay = false;
  std::string original_recipient;  // DSN ORCPT as given ("rfc822;addr"); empty = not given
};

struct HeldSendEnvelope {
  std::string sender;                         // "" = the null sender
  std::vector<HeldSendRecipient> recipients;  // recipient index = position (as HeldEnvelope)
  std::uint64_t size = 0;                     // content bytes (RFC 1870 SIZE estimate)
  bool eight_bit = false;                     // BODY=8BITMIME was given
  bool smtputf8 = false;                      // SMTPUTF8 was requested or headers are UTF-8
  std::string envelope_id;                    // DSN ENVID; empty = not given
  int ret = 0;                                // DSN RET: 0 not given, 1 FULL, 2 HDRS
};

enum class ReadStep : std::uint8_t {
  more,    // some lines were passed on; call again
  done,    // the last line was passed on
  failed,  // the file could not be read (error() says why); nothing more comes
};

// One held message opened for sending: its envelope, and its content read a few lines at a time
// (the marker header left out, lines without their line ending, not dot-stuffed). The file's
// bytes are mapped, not copied: a message is never held whole in bulkq's memory.
class HeldMessageReader {
 public:
  virtual ~HeldMessageReader() = default;
  [[nodiscard]] virtual const HeldSendEnvelope& envelope() const = 0;
  // Passes lines to `on_line` until about `max_bytes` were passed or the content ends.
  [[nodiscard]] virtual ReadStep read(const std::function<void(std::string_view line)>& on_line,
                                      std::size_t max_bytes) = 0;
  [[nodiscard]] virtual const std::string& error() const = 0;
};

struct HeldMessageOpenResult {
  std::unique_ptr<HeldMessageReader> reader;  // set when ok()
  std::string error;
  [[nodiscard]] bool ok() const { return error.empty(); }
};

// What release() did with one held message.
struct SpoolReleaseResult {
  std::string error;              // set when !ok(): what failed; the message is left as it was
  bool gone = false;              // !ok() because the held file is not there (nothing done)
  std::uint32_t recipients = 0;   // recipients handed back to the MTA (not done)
  std::uint32_t marked_done = 0;  // recipients marked done by this call
  std::string warning;            // ok(), but something after the hand-back failed (logged)
  [[nodiscard]] bool ok() const { return error.empty(); }
};

class SpoolAdapter {
 public:
  virtual ~SpoolAdapter() = default;

  // Cheap (one stat): is the held file there and complete?
  [[nodiscard]] virtual HeldFileCheck check(std::string_view queue_id) = 0;

  // Reads the envelope and the marker header of a committed held file.
  [[nodiscard]] virtual HeldEnvelopeResult read_envelope(std::string_view queue_id) = 0;

  // Streams the message as RFC 5322 text: each line (header lines as the MTA stores them,
  // including those other milters added, the empty separator line, the body) is passed to
  // `on_line` without its line ending, in order, never the whole message in memory. The marker
  // header is left out. Not dot-stuffed: the SMTP client does that.
  [[nodiscard]] virtual SpoolResult stream_message(
      std::string_view queue_id, const std::function<void(std::string_view line)>& on_line) = 0;

  // Opens a committed held message for sending (see HeldMessageReader).
  [[nodiscard]] virtual HeldMessageOpenResult open_message(std::string_view queue_id) = 0;

  // Removes the held message (delivered or bounced to every recipient). Removing a file that is
  // already gone is not an error.
  [[nodiscard]] virtual SpoolResult remove(std::string_view queue_id) = 0;

  // bulkqctl release: hands the held message back to the MTA, which then delivers its
  // recipients not yet done. The recipients at the `finished` indexes (positions in the
  // recipient list as read_envelope and open_message report it) are first marked done in the
  // file, durably, so the MTA never delivers them again; then the message leaves the hold queue
  // for the MTA's own queue. On failure nothing changed, or only finished recipients were marked
  // (which the engine's journal already says). The default says the spool cannot do it.
  [[nodiscard]] virtual SpoolReleaseResult release(std::string_view queue_id,
                                                   std::span<const RecipientIndex> finished) {
    (void)finished;
    SpoolReleaseResult result;
    result.error = std::string(queue_id) + ": release is not supported by this spool";
    return result;
  }

  // Calls `visit` with the queue id of every committed held file (for recovery's adoption scan).
  [[nodiscard]] virtual SpoolResult list_held(
      const std::function<void(std::string_view queue_id)>& visit) = 0;
};

}  // namespace bulkq
