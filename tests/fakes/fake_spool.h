// FakeSpool: an in-memory SpoolAdapter for unit tests of the engine: held files are envelopes a
// test puts in, commits, corrupts or deletes.
//
// Same contract as PostfixSpool (spool/spool_adapter.h). Single-threaded, like the scheduler
// thread that uses the real one.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "spool/spool_adapter.h"

namespace bulkq::testing {

class FakeSpool final : public SpoolAdapter {
 public:
  struct File {
    HeldEnvelope envelope;
    HeldFileState state = HeldFileState::committed;
    std::string read_error;  // non-empty: read_envelope and open_message fail with it
    std::vector<std::string> content{"Subject: test", "", "body"};
  };

  // Puts a held file for `envelope.queue_id` (committed unless told otherwise).
  void hold(HeldEnvelope envelope, HeldFileState state = HeldFileState::committed) {
    std::string id = envelope.queue_id;
    files_[id] = File{std::move(envelope), state, {}};
  }
  void set_state(const std::string& queue_id, HeldFileState state) {
    files_.at(queue_id).state = state;
  }
  void corrupt(const std::string& queue_id, std::string error) {
    files_.at(queue_id).read_error = std::move(error);
  }
  void erase(const std::string& queue_id) { files_.erase(queue_id); }
  [[nodiscard]] bool has(const std::string& queue_id) const { return files_.count(queue_id) != 0; }
  [[nodiscard]] const std::vector<std::string>& removed() const { return removed_; }
  [[nodiscard]] int reads() const { return reads_; }

  // SpoolAdapter
  [[nodiscard]] HeldFileCheck check(std::string_view queue_id) override {
    const auto it = files_.find(std::string(queue_id));
    if (it == files_.end()) return {HeldFileState::missing, {}};
    if (it->second.state == HeldFileState::error) return {HeldFileState::error, "fake: EACCES"};
    return {it->second.state, {}};
  }
  [[nodiscard]] HeldEnvelopeResult read_envelope(std::string_view queue_id) override {
    ++reads_;
    const auto it = files_.find(std::string(queue_id));
    if (it == files_.end()) return {{}, "hold/" + std::string(queue_id) + ": no such file"};
    if (!it->second.read_error.empty()) {
      return {{}, "hold/" + std::string(queue_id) + ": " + it->second.read_error};
    }
    return {it->second.envelope, {}};
  }
  [[nodiscard]] SpoolResult stream_message(std::string_view,
                                           const std::function<void(std::string_view)>&) override {
    return {"fake: no content"};
  }
  [[nodiscard]] HeldMessageOpenResult open_message(std::string_view queue_id) override {
    ++reads_;
    const auto it = files_.find(std::string(queue_id));
    if (it == files_.end()) return {nullptr, "hold/" + std::string(queue_id) + ": no such file"};
    if (!it->second.read_error.empty()) {
      return {nullptr, "hold/" + std::string(queue_id) + ": " + it->second.read_error};
    }
    auto reader = std::make_unique<Reader>();
    reader->envelope_.sender = it->second.envelope.sender;
    for (const HeldRecipient& r : it->second.envelope.recipients) {
      HeldSendRecipient out;
      out.address = r.address;
      out.done = r.done;
      reader->envelope_.recipients.push_back(std::move(out));
    }
    reader->lines_ = it->second.content;
    return {std::move(reader), {}};
  }
  [[nodiscard]] SpoolResult remove(std::string_view queue_id) override {
    removed_.emplace_back(queue_id);
    files_.erase(std::string(queue_id));
    return {};
  }
  [[nodiscard]] SpoolResult list_held(const std::function<void(std::string_view)>& visit) override {
    std::vector<std::string> ids;
    for (const auto& [id, file] : files_) {
      if (file.state == HeldFileState::committed) ids.push_back(id);
    }
    for (const std::string& id : ids)
      visit(id);
    return {};
  }

 private:
  class Reader final : public HeldMessageReader {
   public:
    [[nodiscard]] const HeldSendEnvelope& envelope() const override { return envelope_; }
    [[nodiscard]] ReadStep read(const std::function<void(std::string_view)>& on_line,
                                std::size_t) override {
      for (const std::string& line : lines_)
        on_line(line);
      return ReadStep::done;
    }
    [[nodiscard]] const std::string& error() const override { return error_; }
    HeldSendEnvelope envelope_;
    std::vector<std::string> lines_;
    std::string error_;
  };

  std::map<std::string, File> files_;
  std::vector<std::string> removed_;
  int reads_ = 0;
};

}  // namespace bulkq::testing
