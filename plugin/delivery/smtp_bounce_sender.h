// SmtpBounceSender: hands DSNs to the MTA over SMTP, from the null sender, to one listener of
// its own (delivery.dsn_relay, e.g. Postfix's smtpd on 127.0.0.1:25 or a submission port).
//
// The MTA then queues and delivers the DSN like any other mail; its smtpd may pass it through
// bulkqd's milter, which never diverts it (a null sender is never bulk), and which answers from
// its own threads, so waiting here cannot deadlock. Blocking: the scheduler thread waits for the
// one short session (bounded by the timeouts); bounces are rare next to deliveries.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "delivery/delivery_engine.h"
#include "delivery/smtp_session.h"

namespace bulkq {

class SmtpBounceSender final : public BounceSender {
 public:
  SmtpBounceSender(SmtpEndpoint relay, std::string helo_name,
                   std::chrono::milliseconds timeout = std::chrono::seconds(60));

  [[nodiscard]] std::string submit(std::string_view recipient,
                                   const std::vector<std::string>& lines) override;

 private:
  SmtpEndpoint relay_;
  std::string helo_name_;
  SmtpTimeouts timeouts_;
};

}  // namespace bulkq
