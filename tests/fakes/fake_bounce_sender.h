// FakeBounceSender: a BounceSender that records every DSN handed to it and can be told to fail.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "delivery/delivery_engine.h"

namespace bulkq::testing {

class FakeBounceSender final : public BounceSender {
 public:
  struct Submission {
    std::string recipient;
    std::vector<std::string> lines;
    [[nodiscard]] bool contains(std::string_view text) const {
      for (const std::string& line : lines) {
        if (line.find(text) != std::string::npos) return true;
      }
      return false;
    }
  };

  // From now on submit() fails with `error` (and records nothing) until heal().
  void fail_with(std::string error) { error_ = std::move(error); }
  void heal() { error_.clear(); }

  [[nodiscard]] const std::vector<Submission>& submissions() const { return submissions_; }
  [[nodiscard]] int attempts() const { return attempts_; }

  // BounceSender
  [[nodiscard]] std::string submit(std::string_view recipient,
                                   const std::vector<std::string>& lines) override {
    ++attempts_;
    if (!error_.empty()) return error_;
    submissions_.push_back(Submission{std::string(recipient), lines});
    return {};
  }

 private:
  std::string error_;
  std::vector<Submission> submissions_;
  int attempts_ = 0;
};

}  // namespace bulkq::testing
