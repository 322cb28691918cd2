// read_queue_file: the bytes of one Postfix queue file on disk, for parse_queue_file.
//
// The only I/O of the queue-file reader, kept apart so the parser stays pure. Blocking file I/O:
// call it from the thread that owns the spool adapter, never from a milter callback. The whole
// file is read into memory (queue files are small next to message_size_limit, 10 MB by default),
// up to max_bytes; a bigger file, a non-regular file, or an open/read failure is an error value
// carrying the path and strerror text, never an exception.
#pragma once

#include <cstddef>
#include <string>

namespace bulkq {

inline constexpr std::size_t kMaxQueueFileBytes = 64 * 1024 * 1024;

struct QueueFileBytes {
  std::string bytes;
  std::string error;  // set when !ok(): "cannot open PATH: No such file or directory", ...
  [[nodiscard]] bool ok() const { return error.empty(); }
};

[[nodiscard]] QueueFileBytes read_queue_file(const std::string& path,
                                             std::size_t max_bytes = kMaxQueueFileBytes);

}  // namespace bulkq
