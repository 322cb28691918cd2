// FakeSmtpSessions: a StartSession for unit tests of the delivery engine. Each started session
// is kept open, its SmtpSessionRequest recorded, until the test completes it with a scripted
// SmtpSessionResult; it counts how many were open at once.
#pragma once

#include <algorithm>
#include <cstddef>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "delivery/delivery_engine.h"

namespace bulkq::testing {

class FakeSmtpSessions {
 public:
  struct Open {
    SmtpSessionRequest request;
    std::function<void(SmtpSessionResult)> done;
  };

  // The StartSession to give the engine; `this` must outlive it.
  StartSession starter() {
    return [this](SmtpSessionRequest request, std::function<void(SmtpSessionResult)> done) {
      ++started_;
      open_.push_back(Open{std::move(request), std::move(done)});
      max_open_ = std::max(max_open_, open_.size());
    };
  }

  [[nodiscard]] std::size_t open() const { return open_.size(); }
  [[nodiscard]] std::size_t max_open() const { return max_open_; }
  [[nodiscard]] int started() const { return started_; }
  [[nodiscard]] const SmtpSessionRequest& request(std::size_t i) const {
    return open_.at(i).request;
  }

  // Ends open session `i` with `result` (the engine's callback runs now).
  void complete(std::size_t i, SmtpSessionResult result) {
    Open session = std::move(open_.at(i));
    open_.erase(open_.begin() + static_cast<std::ptrdiff_t>(i));
    session.done(std::move(result));
  }
  // Ends open session `i` with every recipient decided by `verdict(message, recipient)`.
  void complete_with(std::size_t i,
                     const std::function<SmtpVerdict(std::size_t, const SmtpRecipient&)>& verdict) {
    complete(i, result_for(open_.at(i).request, verdict));
  }
  // Ends open session `i` with one reply for every recipient.
  void complete_all(std::size_t i, int code, SmtpStage stage = SmtpStage::rcpt_to,
                    std::string text = "ok") {
    complete_with(i, [&](std::size_t, const SmtpRecipient&) { return reply(code, stage, text); });
  }
  // Ends open session `i` with a transport failure for everything (nothing reached the server).
  void fail(std::size_t i, TransportFailure failure, std::string detail) {
    const SmtpSessionRequest& request = open_.at(i).request;
    SmtpSessionResult result;
    result.failure = failure;
    result.failure_detail = std::move(detail);
    for (std::size_t m = 0; m < request.messages.size(); ++m) {
      result.affected_messages.push_back(m);
      SmtpMessageResult message;
      for (std::size_t r = 0; r < request.messages[m].recipients.size(); ++r) {
        SmtpRecipientResult rr;
        rr.verdict.transport = failure;
        message.recipients.push_back(rr);
      }
      result.messages.push_back(std::move(message));
    }
    complete(i, std::move(result));
  }

  static SmtpVerdict reply(int code, SmtpStage stage, std::string text = "ok") {
    SmtpVerdict verdict;
    verdict.reply.code = code;
    verdict.reply.enhanced_class = code / 100;
    verdict.reply.subject = code / 100 == 2 ? 0 : 1;
    verdict.reply.detail = code / 100 == 2 ? 0 : 1;
    verdict.reply.text = std::move(text);
    verdict.stage = stage;
    return verdict;
  }

  static SmtpSessionResult result_for(
      const SmtpSessionRequest& request,
      const std::function<SmtpVerdict(std::size_t, const SmtpRecipient&)>& verdict) {
    SmtpSessionResult result;
    result.endpoint = 0;
    for (std::size_t m = 0; m < request.messages.size(); ++m) {
      SmtpMessageResult message;
      message.attempted = true;
      bool any_accepted = false;
      for (const SmtpRecipient& recipient : request.messages[m].recipients) {
        SmtpRecipientResult rr;
        rr.verdict = verdict(m, recipient);
        if (!rr.verdict.transport && rr.verdict.reply.code / 100 == 2) any_accepted = true;
        message.recipients.push_back(std::move(rr));
      }
      if (any_accepted) ++result.transactions;
      result.messages.push_back(std::move(message));
    }
    return result;
  }

 private:
  std::vector<Open> open_;
  std::size_t max_open_ = 0;
  int started_ = 0;
};

}  // namespace bulkq::testing
