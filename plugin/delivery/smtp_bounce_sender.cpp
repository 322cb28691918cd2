#include "delivery/smtp_bounce_sender.h"

#include <memory>

namespace bulkq {

SmtpBounceSender::SmtpBounceSender(SmtpEndpoint relay, std::string helo_name,
                                   std::chrono::milliseconds timeout)
    : relay_(std::move(relay)), helo_name_(std::move(helo_name)) {
  SmtpTimeouts& t = timeouts_;
  t.connect = t.greeting = t.ehlo = t.starttls = t.mail = t.rcpt = t.data_init = t.data_block =
      t.data_end = t.rset = t.quit = timeout;
}

std::string SmtpBounceSender::submit(std::string_view recipient,
                                     const std::vector<std::string>& lines) {
  if (recipient.empty()) return "no recipient (the original sender was <>)";
  SmtpSessionRequest request;
  request.endpoints = {relay_};
  request.client_name = helo_name_;
  request.tls = TlsPolicy::off;  // the MTA's own listener on this machine
  request.timeouts = timeouts_;
  SmtpMessage message;
  message.recipients.push_back(SmtpRecipient{std::string(recipient), {}});
  auto sent = std::make_shared<bool>(false);
  message.content = [&lines, sent](const ContentLineEmitter& emit) {
    if (!*sent) {
      for (const std::string& line : lines)
        emit(line);
      *sent = true;
    }
    return ContentStep::done;
  };
  request.messages.push_back(std::move(message));
  const SmtpSessionResult result = run_smtp_session(std::move(request));
  const std::string where = "DSN relay " + relay_.address + ":" + std::to_string(relay_.port);
  if (result.messages.empty() || !result.messages.front().data_end_reply) {
    if (result.session_reply) {
      return where + ": " + std::to_string(result.session_reply->code) + " " +
             result.session_reply->text;
    }
    if (!result.messages.empty() && !result.messages.front().recipients.empty()) {
      const SmtpVerdict& verdict = result.messages.front().recipients.front().verdict;
      if (!verdict.transport && verdict.reply.code != 0) {
        return where + ": " + std::to_string(verdict.reply.code) + " " + verdict.reply.text;
      }
    }
    return where + ": " +
           (result.failure_detail.empty() ? "the session failed" : result.failure_detail);
  }
  const SmtpStatus& reply = *result.messages.front().data_end_reply;
  if (reply.code / 100 != 2) {
    return where + ": " + std::to_string(reply.code) + " " + reply.text;
  }
  return {};
}

}  // namespace bulkq
