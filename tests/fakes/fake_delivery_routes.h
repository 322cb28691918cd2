// FakeDeliveryRoutes: a DeliveryRoutes for unit tests of the delivery engine. Answers route()
// from a table the test fills (a domain with no entry gets a route to one loopback endpoint),
// either at once or, when told to, later: the callbacks wait until answer_pending().
// Single-threaded, like the scheduler thread that uses the real one.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "delivery/delivery_engine.h"

namespace bulkq::testing {

class FakeDeliveryRoutes final : public DeliveryRoutes {
 public:
  // A route to one endpoint, host name "mx.<domain>".
  static RouteAnswer route_to(std::string_view domain, std::string address = "127.0.0.5",
                              std::uint16_t port = 25) {
    RouteAnswer answer;
    answer.kind = RouteAnswer::Kind::route;
    answer.endpoints.push_back(SmtpEndpoint{std::move(address), port});
    answer.endpoint_hosts.push_back("mx." + std::string(domain));
    return answer;
  }
  static RouteAnswer failure(RouteAnswer::Kind kind, std::string reason, bool null_mx = false) {
    RouteAnswer answer;
    answer.kind = kind;
    answer.reason = std::move(reason);
    answer.null_mx = null_mx;
    return answer;
  }

  void set(std::string domain, RouteAnswer answer) {
    table_[std::move(domain)] = std::move(answer);
  }
  // While on, route() keeps its callback until answer_pending().
  void defer_answers(bool on) { defer_ = on; }
  // Calls every kept callback with its answer; returns how many.
  std::size_t answer_pending() {
    std::vector<std::pair<std::string, std::function<void(RouteAnswer)>>> pending;
    pending.swap(pending_);
    for (auto& [domain, done] : pending)
      done(answer_for(domain));
    return pending.size();
  }

  [[nodiscard]] const std::vector<std::string>& routed() const { return routed_; }
  [[nodiscard]] const std::vector<std::string>& prefetched() const { return prefetched_; }
  [[nodiscard]] std::size_t pending() const { return pending_.size(); }

  // DeliveryRoutes
  void route(std::string_view domain, TimePoint, std::function<void(RouteAnswer)> done) override {
    routed_.emplace_back(domain);
    if (defer_) {
      pending_.emplace_back(std::string(domain), std::move(done));
      return;
    }
    done(answer_for(domain));
  }
  void prefetch(std::span<const std::string_view> domains, TimePoint) override {
    for (std::string_view d : domains)
      prefetched_.emplace_back(d);
  }

 private:
  RouteAnswer answer_for(std::string_view domain) const {
    const auto it = table_.find(std::string(domain));
    return it == table_.end() ? route_to(domain) : it->second;
  }

  std::map<std::string, RouteAnswer> table_;
  bool defer_ = false;
  std::vector<std::pair<std::string, std::function<void(RouteAnswer)>>> pending_;
  std::vector<std::string> routed_;
  std::vector<std::string> prefetched_;
};

}  // namespace bulkq::testing
