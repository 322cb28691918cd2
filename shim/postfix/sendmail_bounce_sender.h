// SendmailBounceSender: hands DSNs to Postfix through its sendmail(1) command, from the null
// sender, as `sendmail [-C CONFIG_DIR] -f "" -i -- RECIPIENT` with the message on stdin (-C only
// when CONFIG_DIR is not /etc/postfix: Postfix honours it for root, or for directories the default
// main.cf lists in alternate_config_directories; else use delivery.dsn_relay).
//
// Postfix then queues and delivers the DSN like any locally submitted mail (pickup, cleanup,
// qmgr); sendmail(1) works for any user (postdrop is setgid), so bulkqd needs no extra rights.
// Blocking: the scheduler thread waits for sendmail to exit (a few milliseconds; bounded by a
// timeout). Bounces are rare next to deliveries; should they ever dominate, a worker thread
// would take this over.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "delivery/delivery_engine.h"

namespace bulkq {

class SendmailBounceSender final : public BounceSender {
 public:
  SendmailBounceSender(std::string sendmail, std::string config_directory,
                       std::chrono::milliseconds timeout = std::chrono::seconds(60))
      : sendmail_(std::move(sendmail)),
        config_directory_(std::move(config_directory)),
        timeout_(timeout) {}

  [[nodiscard]] std::string submit(std::string_view recipient,
                                   const std::vector<std::string>& lines) override;

 private:
  std::string sendmail_;
  std::string config_directory_;
  std::chrono::milliseconds timeout_;
};

}  // namespace bulkq
