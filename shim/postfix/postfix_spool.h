// PostfixSpool: the SpoolAdapter for Postfix's hold queue, reading held queue files directly.
//
// Held messages are the files QUEUEDIR/hold/ID, flat (bulkqd refuses a hashed hold queue at
// start-up: check_hold_not_hashed in postconf_query.h). A file is complete when Postfix has set
// its mode to 0700 (cleanup renames incoming/ID to hold/ID, fsyncs, then fchmods), so check() and
// list_held() report only 0700 regular files as committed. Envelopes and content come from the
// pure queue-file reader (parse_queue_file, ContentCursor); the marker header from
// marker_header.h.
//
// Queue ids are untrusted (they come from the MTA, the journal, an admin): every call validates
// the id (is_valid_queue_id) before it builds a path, so no id names a file outside hold/.
// Errors are values carrying the queue id or the path and the cause; a malformed file is an
// error for that message only. Blocking file I/O: the scheduler thread or a delivery worker
// calls it, never a milter callback. The object holds only the directory path, so several
// threads may call it at once.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/spool_ref.h"
#include "spool/spool_adapter.h"

namespace bulkq {

// A Postfix queue id: 1 to kMaxQueueIdLength (core/spool_ref.h) characters of [0-9A-Za-z]
// (short ids are uppercase hex, long ids base 52 and 51 with a 'z').
[[nodiscard]] bool is_valid_queue_id(std::string_view queue_id);

// What release() needs to know of Postfix besides the queue directory.
struct PostfixReleaseSettings {
  std::vector<std::string> hash_queue_names{"deferred", "defer"};  // postconf's defaults
  int hash_queue_depth = 1;
  // After the move, qmgr is asked to scan the deferred queue now — one 'D' request written to
  // its trigger endpoint, QUEUEDIR/public/<this> (a unix socket, or a FIFO on systems whose
  // master.cf says so), as Postfix's own flush and postqueue do through mail_trigger(). The
  // released file qualifies at once (its mtime is not in the future); other deferred mail waits
  // for its own retry time as always. "" = wait for the next deferred-queue scan
  // (queue_run_delay). postqueue -i is not used: as mail_owner it refuses a non-default
  // configuration directory not listed in /etc/postfix/main.cf, and it costs a process per
  // message.
  std::string queue_service = "qmgr";
};

class PostfixSpool final : public SpoolAdapter {
 public:
  // `queue_directory` as postconf reports it, e.g. "/var/spool/postfix".
  explicit PostfixSpool(std::string queue_directory);
  PostfixSpool(std::string queue_directory, PostfixReleaseSettings release);

  // SpoolAdapter
  [[nodiscard]] HeldFileCheck check(std::string_view queue_id) override;
  [[nodiscard]] HeldEnvelopeResult read_envelope(std::string_view queue_id) override;
  [[nodiscard]] SpoolResult stream_message(
      std::string_view queue_id,
      const std::function<void(std::string_view line)>& on_line) override;
  [[nodiscard]] HeldMessageOpenResult open_message(std::string_view queue_id) override;
  [[nodiscard]] SpoolResult remove(std::string_view queue_id) override;
  // As `postsuper -H` does, as mail_owner: finished recipients' `R` records become `D` (fsync),
  // then hold/ID is renamed to deferred/<hash levels>/ID (missing levels created, mode 0700) and
  // both directories are fsynced; then qmgr is asked to scan the deferred queue now.
  [[nodiscard]] SpoolReleaseResult release(std::string_view queue_id,
                                           std::span<const RecipientIndex> finished) override;
  [[nodiscard]] SpoolResult list_held(
      const std::function<void(std::string_view queue_id)>& visit) override;

  // QUEUEDIR/hold
  [[nodiscard]] const std::string& hold_directory() const { return hold_directory_; }

 private:
  [[nodiscard]] std::string held_path(std::string_view queue_id) const;

  std::string queue_directory_;
  std::string hold_directory_;
  PostfixReleaseSettings release_;
};

}  // namespace bulkq
