// CaresResolver: the Resolver on c-ares 1.18, driven by a Boost.Asio io_context (Envoy's way:
// c-ares's socket-state callback registers each fd with the event loop, one timer is re-armed
// from ares_timeout(), and ares_process_fd() runs when a socket is ready or the timer fires).
//
// Thread: owned by the thread that runs the io_context. Create, call and destroy it there (or
// while the io_context is not running); every callback runs there. Not thread-safe.
//
// What is promised, besides Resolver's promises:
//   - the servers are exactly the configured ones ("127.0.0.1:5353,[::1]:53"); an empty list
//     means the system's (/etc/resolv.conf);
//   - a lookup ends within about timeout * (2^tries - 1) per server (c-ares doubles the timeout
//     on each round over the servers): with no answer it ends as DnsOutcome::timeout, with a
//     refused socket or another local error as resolver_error; both are temporary;
//   - the raw response bytes are decoded by dns_answer.h, so a negative answer keeps its RCODE
//     and SOA negative TTL; a SERVFAIL/REFUSED response makes c-ares try the next server first;
//   - the fds stay c-ares's: the event loop only watches them and never closes one.
// Only this file's .cpp includes Asio's socket headers (they cost ~30 s of compile time per TU).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "dns/resolver.h"

namespace boost::asio {
class io_context;
}

namespace bulkq {

struct CaresResolverOptions {
  // Comma-separated "host[:port]" list, IPv6 as "[addr]:port" (ares_set_servers_ports_csv).
  std::string servers;
  std::chrono::milliseconds timeout{2000};  // the first try's timeout; doubled each round
  int tries = 2;                            // rounds over the servers
};

class CaresResolver;
using CaresResolverPtr = std::unique_ptr<CaresResolver>;

struct CaresResolverCreateResult {
  CaresResolverPtr resolver;  // set when error is empty
  std::string error;          // c-ares could not start or the server list is invalid
};

class CaresResolver final : public Resolver {
 public:
  [[nodiscard]] static CaresResolverCreateResult create(boost::asio::io_context& io,
                                                        const CaresResolverOptions& options);
  ~CaresResolver() override;
  CaresResolver(const CaresResolver&) = delete;
  CaresResolver& operator=(const CaresResolver&) = delete;

  // Resolver
  void resolve(std::string domain, QueryType type, ResolveCallback callback) override;

  // How many lookups are waiting for their callback (tests, status).
  [[nodiscard]] std::size_t pending() const;

  class Impl;

 private:
  explicit CaresResolver(std::shared_ptr<Impl> impl);

  std::shared_ptr<Impl> impl_;
};

}  // namespace bulkq
