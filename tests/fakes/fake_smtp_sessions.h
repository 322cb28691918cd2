// FakeSmtpSessions: a StartSession for unit tests of the delivery engine. Each started session
// is kept open, its SmtpSessionRequest recorded, until the test completes it with a scripted
// SmtpSessionResult; it counts how many were open at once. With keep_connections(true), a
// session completed without a failure hands the engine a FakeConnection, idle, whose next batch
// shows up as a further open session (`reused` then says so).
#pragma once

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "delivery/delivery_engine.h"

namespace bulkq::testing {

class FakeSmtpSessions {
 public:
  class FakeConnection final : public SmtpConnection {
   public:
    explicit FakeConnection(FakeSmtpSessions& sessions, SmtpSessionRequest first)
        : sessions_(sessions), first_(std::move(first)) {}
    [[nodiscard]] bool idle() const override { return idle_; }
    void next_batch(std::vector<SmtpMessage> messages,
                    std::function<void(SmtpSessionResult)> done) override {
      REQUIRE(idle_);  // the engine checks idle() first
      idle_ = false;
      ++batches_;
      SmtpSessionRequest request = first_;
      request.messages = std::move(messages);
      sessions_.open_.push_back(Open{std::move(request), std::move(done), self_.lock()});
      sessions_.max_open_ = std::max(sessions_.max_open_, sessions_.open_.size());
    }
    void close_idle() override {
      if (!idle_) return;
      idle_ = false;
      closed_ = true;
    }
    // The server hung up while it was idle.
    void hang_up() { idle_ = false; }
    [[nodiscard]] bool closed() const { return closed_; }
    [[nodiscard]] int batches() const { return batches_; }
    std::size_t messages_used = 0;

   private:
    friend class FakeSmtpSessions;
    FakeSmtpSessions& sessions_;
    SmtpSessionRequest first_;
    std::weak_ptr<FakeConnection> self_;
    bool idle_ = false;
    bool closed_ = false;
    int batches_ = 0;
  };

  struct Open {
    SmtpSessionRequest request;
    std::function<void(SmtpSessionResult)> done;
    std::shared_ptr<FakeConnection> over;  // set when the batch went over a kept connection
  };

  void keep_connections(bool keep) { keep_ = keep; }
  // Every connection handed to the engine, in order.
  [[nodiscard]] const std::vector<std::shared_ptr<FakeConnection>>& connections() const {
    return connections_;
  }
  [[nodiscard]] bool reused(std::size_t i) const { return open_.at(i).over != nullptr; }

  // The StartSession to give the engine; `this` must outlive it.
  StartSession starter() {
    return [this](SmtpSessionRequest request, std::function<void(SmtpSessionResult)> done) {
      ++started_;
      open_.push_back(Open{std::move(request), std::move(done), nullptr});
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
    std::shared_ptr<FakeConnection> connection = session.over;
    if (connection) {
      result.reused = true;
      result.earlier_messages = connection->messages_used;
    }
    const bool clean = !result.failure && !result.session_reply;
    if (keep_ && clean) {
      if (!connection) {
        SmtpSessionRequest first = session.request;
        first.messages.clear();
        connection = std::make_shared<FakeConnection>(*this, std::move(first));
        connection->self_ = connection;
        connections_.push_back(connection);
      }
      for (const SmtpMessageResult& m : result.messages) {
        if (m.attempted) ++connection->messages_used;
      }
      connection->idle_ = true;
      result.connection = connection;
    }
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
  std::vector<std::shared_ptr<FakeConnection>> connections_;
  std::size_t max_open_ = 0;
  int started_ = 0;
  bool keep_ = false;
};

}  // namespace bulkq::testing
