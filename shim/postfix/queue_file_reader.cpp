#include "postfix/queue_file_reader.h"

#include <charconv>
#include <optional>

#include "core/quoted_text.h"
#include "postfix/queue_record.h"
#include "postfix/queue_record_walker.h"

namespace bulkq {

namespace {

namespace rt = queue_record_type;

enum class Segment { envelope, content, extracted };

std::string_view to_string(Segment segment) {
  switch (segment) {
    case Segment::envelope:
      return "envelope";
    case Segment::content:
      return "message content";
    case Segment::extracted:
      return "extracted";
  }
  return "unknown";
}

// Record types Postfix allows in each segment (rec_type.h REC_TYPE_ENVELOPE, _CONTENT, _EXTRACT),
// without the segment terminators and the `p`/`w` records the walker consumes. `C` is allowed
// only as the very first record; `L` in the envelope and extracted segments is a filter record.
constexpr std::string_view kEnvelopeTypes = "TcFILSDRO/WVA>K<ionfdm";
constexpr std::string_view kContentTypes = "NL";
constexpr std::string_view kExtractedTypes = "DRO/PreAFIL>Kon";

std::string_view allowed_types(Segment segment) {
  switch (segment) {
    case Segment::envelope:
      return kEnvelopeTypes;
    case Segment::content:
      return kContentTypes;
    case Segment::extracted:
      return kExtractedTypes;
  }
  return {};
}

std::string at(const QueueRecord& record) {
  return "offset " + std::to_string(record.offset) + ": ";
}

std::string shown(std::string_view data) {
  return quoted_text(data, 60, NonAscii::escape);
}

// Digits only, at most 18 of them (no overflow of int64).
std::optional<std::int64_t> parse_decimal(std::string_view text) {
  if (text.empty() || text.size() > 18) return std::nullopt;
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || text.front() == '-') {
    return std::nullopt;
  }
  return value;
}

std::optional<std::uint32_t> parse_flags(std::string_view text) {
  const std::optional<std::int64_t> value = parse_decimal(text);
  if (!value || *value > 0xFFFF) return std::nullopt;
  return static_cast<std::uint32_t>(*value);
}

// The `C` record: space-separated, right-aligned decimals. Postfix 3.x writes six; qmgr accepts
// files from older versions with fewer (it needs the first three), so missing ones read as 0.
std::string parse_size_record(const QueueRecord& record, std::size_t file_size,
                              PostfixSizeRecord& size) {
  std::int64_t* const fields[] = {&size.content_size, &size.content_offset, &size.recipient_count,
                                  &size.qmgr_flags,   &size.content_length, &size.smtputf8_flags};
  std::size_t count = 0;
  std::string_view rest = record.data;
  for (;;) {
    while (!rest.empty() && rest.front() == ' ')
      rest.remove_prefix(1);
    if (rest.empty()) break;
    const std::size_t end = std::min(rest.find(' '), rest.size());
    const std::optional<std::int64_t> value = parse_decimal(rest.substr(0, end));
    if (!value) {
      return at(record) + "bad C size record " + shown(record.data) + ": field " +
             std::to_string(count + 1) + " is not a decimal number";
    }
    if (count == std::size(fields)) {
      return at(record) + "bad C size record " + shown(record.data) + ": more than " +
             std::to_string(std::size(fields)) + " fields";
    }
    *fields[count++] = *value;
    rest.remove_prefix(end);
  }
  if (count < 3) {
    return at(record) + "bad C size record " + shown(record.data) + ": " + std::to_string(count) +
           " fields, expected 6";
  }
  if (size.content_offset <= 0 || static_cast<std::uint64_t>(size.content_offset) >= file_size) {
    return at(record) + "bad C size record: content offset " + std::to_string(size.content_offset) +
           " is outside the file (size " + std::to_string(file_size) + ")";
  }
  return {};
}

// `T` data: "sec usec" (or "sec" from old versions).
std::string parse_time_record(const QueueRecord& record, PostfixQueueFile& file) {
  const std::string_view data = record.data;
  const std::size_t space = data.find(' ');
  const std::optional<std::int64_t> seconds = parse_decimal(data.substr(0, space));
  std::optional<std::int64_t> microseconds = 0;
  if (space != std::string_view::npos) microseconds = parse_decimal(data.substr(space + 1));
  if (!seconds || !microseconds || *microseconds >= 1'000'000) {
    return at(record) + "bad T arrival time record " + shown(data) +
           ", expected \"seconds microseconds\"";
  }
  file.arrival_seconds = *seconds;
  file.arrival_microseconds = *microseconds;
  return {};
}

class EnvelopeBuilder {
 public:
  explicit EnvelopeBuilder(PostfixQueueFile& file) : file_(file) {}

  // Applies one envelope or extracted-segment record; returns an error or "".
  std::string apply(const QueueRecord& record, Segment segment) {
    switch (record.type) {
      case rt::kTime:
        if (time_seen_) return at(record) + "second T arrival time record";
        time_seen_ = true;
        return parse_time_record(record, file_);
      case rt::kSender:
        if (sender_seen_) return at(record) + "second S sender record";
        sender_seen_ = true;
        file_.sender = std::string(record.data);
        return {};
      case rt::kAttribute:
        return apply_attribute(record);
      case rt::kOriginalRcpt:
        pending_.original_address = std::string(record.data);
        return {};
      case rt::kRecipient:
      case rt::kDoneRecipient:
        pending_.address = std::string(record.data);
        pending_.done = record.type == rt::kDoneRecipient;
        pending_.extracted = segment == Segment::extracted;
        pending_.record_offset = record.offset;
        file_.recipients.push_back(std::move(pending_));
        pending_ = {};
        return {};
      case rt::kCancelledRcpt:
      case rt::kKilled:
        pending_ = {};  // whatever preceded belonged to the cancelled recipient
        return {};
      case rt::kDsnEnvelopeId:
        file_.envelope_id = std::string(record.data);
        return {};
      case rt::kDsnRet:
        return set_flags(record, "RET", file_.ret_flags, record.data);
      case rt::kDsnOrcpt:
        pending_.dsn_orig_rcpt = std::string(record.data);
        return {};
      case rt::kDsnNotify:
        return set_flags(record, "NOTIFY", pending_.notify_flags, record.data);
      default:
        return {};  // known, allowed here, and not needed to re-send the message
    }
  }

  [[nodiscard]] bool time_seen() const { return time_seen_; }
  [[nodiscard]] bool sender_seen() const { return sender_seen_; }

 private:
  static std::string set_flags(const QueueRecord& record, std::string_view what,
                               std::uint32_t& flags, std::string_view value) {
    const std::optional<std::uint32_t> parsed = parse_flags(value);
    if (!parsed) return at(record) + "bad DSN " + std::string(what) + " value " + shown(value);
    flags = *parsed;
    return {};
  }

  std::string apply_attribute(const QueueRecord& record) {
    const std::size_t equals = record.data.find('=');
    if (equals == std::string_view::npos || equals == 0) {
      return at(record) + "malformed A attribute record " + shown(record.data) +
             ", expected name=value";
    }
    const std::string_view name = record.data.substr(0, equals);
    const std::string_view value = record.data.substr(equals + 1);
    if (name == "envelope_id") {
      file_.envelope_id = std::string(value);
    } else if (name == "ret_flags") {
      return set_flags(record, "RET", file_.ret_flags, value);
    } else if (name == "encoding") {
      file_.encoding = std::string(value);
    } else if (name == "notify_flags") {
      return set_flags(record, "NOTIFY", pending_.notify_flags, value);
    } else if (name == "dsn_orig_rcpt") {
      pending_.dsn_orig_rcpt = std::string(value);
    }
    return {};
  }

  PostfixQueueFile& file_;
  PostfixRecipient pending_;  // O and per-recipient DSN data waiting for their R
  bool time_seen_ = false;
  bool sender_seen_ = false;
};

}  // namespace

PostfixQueueFileResult parse_queue_file(std::string_view bytes) {
  PostfixQueueFileResult result;
  PostfixQueueFile& file = result.file;
  const auto failed = [&result](std::string error) {
    result.error = std::move(error);
    return std::move(result);
  };

  // The first record is read as it stands: a `p` there would make "start at 0" meaningless.
  const QueueRecordResult first = decode_queue_record(bytes, 0);
  if (!first.ok()) return failed(bytes.empty() ? "empty queue file" : first.error);
  if (first.record.type != rt::kSize) {
    return failed(at(first.record) + "first record is " +
                  describe_queue_record_type(first.record.type) +
                  ", expected the C size record: not a Postfix queue file");
  }
  if (std::string error = parse_size_record(first.record, bytes.size(), file.size);
      !error.empty()) {
    return failed(std::move(error));
  }

  EnvelopeBuilder envelope(file);
  QueueRecordWalker walker(bytes, first.record.next_offset);
  Segment segment = Segment::envelope;
  for (;;) {
    const QueueRecordResult next = walker.next();
    if (!next.ok()) return failed(next.error);
    const QueueRecord& record = next.record;
    if (!is_known_queue_record_type(record.type)) {
      return failed(at(record) + "unknown record type " + describe_queue_record_type(record.type));
    }
    if (segment == Segment::envelope && record.type == rt::kMessageStart) {
      if (!envelope.time_seen()) return failed(at(record) + "envelope has no T arrival time");
      if (!envelope.sender_seen()) return failed(at(record) + "envelope has no S sender");
      segment = Segment::content;
      file.content_start = walker.offset();
      continue;
    }
    if (segment == Segment::content && record.type == rt::kExtracted) {
      segment = Segment::extracted;
      continue;
    }
    if (segment == Segment::extracted && record.type == rt::kEnd) return result;
    if (allowed_types(segment).find(record.type) == std::string_view::npos) {
      return failed(at(record) + "record type " + describe_queue_record_type(record.type) +
                    " is out of place in the " + std::string(to_string(segment)) + " segment");
    }
    if (segment == Segment::content) continue;  // ContentCursor reads it later
    if (std::string error = envelope.apply(record, segment); !error.empty()) {
      return failed(std::move(error));
    }
  }
}

}  // namespace bulkq
