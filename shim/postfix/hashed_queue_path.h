// hashed_queue_directory: where Postfix keeps a queue file of a given queue — the queue's name,
// then, when the queue is listed in hash_queue_names, hash_queue_depth levels of one-character
// subdirectories (shared/MTA-FACTS.md §1).
//
// Learned from Postfix's mail_queue_dir() and dir_forest() (src/global/mail_queue.c,
// src/util/dir_forest.c): the names are compared without regard to case; the levels are the
// first `depth` characters of the short queue id itself, or, for a long queue id (a 'z'
// separator at position 10 or later), of its microseconds field re-encoded the short way: the 4
// base-52 characters before the last 'z', decoded, written as 5 upper-case hex digits (a field
// that does not decode counts as 0). A name shorter than `depth` is padded with '_' levels.
// `postsuper -H` moves hold/ID to this directory of the deferred queue.
//
// Pure; any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace bulkq {

// "deferred/" or "deferred/A/" or "deferred/A/B/" (relative to the queue directory, with the
// trailing slash). `queue_id` must be a valid queue id (is_valid_queue_id); `depth` ≥ 1 (Postfix
// refuses less).
[[nodiscard]] std::string hashed_queue_directory(std::string_view queue_name,
                                                 std::string_view queue_id,
                                                 const std::vector<std::string>& hash_queue_names,
                                                 int depth);

// The characters the hash levels are taken from: the id itself for a short id, the 5 hex digits
// of the microseconds for a long one ("4jcjj44HR8z…" → "93824").
[[nodiscard]] std::string queue_hash_source(std::string_view queue_id);

}  // namespace bulkq
