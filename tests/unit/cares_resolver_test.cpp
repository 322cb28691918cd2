// CaresResolver against a real DNS server on loopback: Debian's dnsmasq (dnsmasq-base) started in
// the foreground on 127.0.0.1 and a free port, with MX, A/AAAA, implicit-MX, null-MX and
// NXDOMAIN names under the local domain "test". Also a server that never answers (a bound UDP
// socket nobody reads), a closed port, 200 concurrent lookups, and destruction with lookups in
// flight. The io_context runs on the test thread with bounded run_for() calls; nothing sleeps to
// synchronise. Loopback only.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "dns/cares_resolver.h"
#include "dns/mx_route.h"

using namespace bulkq;
using namespace std::chrono_literals;

namespace {

constexpr const char* kDnsmasq = "/usr/sbin/dnsmasq";
constexpr std::uint32_t kLocalTtl = 300;

// A socket bound to 127.0.0.1 on port `port` (0: any free one); -1 on failure.
int bind_loopback(int type, std::uint16_t port) {
  const int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::uint16_t port_of(int fd) {
  sockaddr_in address{};
  socklen_t length = sizeof address;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return 0;
  return ntohs(address.sin_port);
}

// A port free for both UDP and TCP on 127.0.0.1 right now (dnsmasq takes it a moment later; a
// lost race makes dnsmasq exit and the caller retries).
std::uint16_t free_dns_port() {
  for (int attempt = 0; attempt < 20; ++attempt) {
    const int udp = bind_loopback(SOCK_DGRAM, 0);
    if (udp < 0) continue;
    const std::uint16_t port = port_of(udp);
    const int tcp = bind_loopback(SOCK_STREAM, port);
    ::close(udp);
    if (tcp < 0) continue;
    ::close(tcp);
    return port;
  }
  FAIL("no free loopback port for the DNS server");
  return 0;
}

// dnsmasq in the foreground, stopped by its pid (SIGTERM, waitpid) when the guard goes, even
// when the test failed.
class Dnsmasq {
 public:
  Dnsmasq() {
    if (::access(kDnsmasq, X_OK) != 0)
      FAIL(std::string(kDnsmasq) +
           " is missing: install dnsmasq-base (scripts/install-deps does) to run the "
           "[component] DNS tests");
    for (int attempt = 0; attempt < 5 && pid_ < 0; ++attempt)
      start(free_dns_port());
    if (pid_ < 0) FAIL("dnsmasq did not start:\n" + log_);
  }
  ~Dnsmasq() { stop(); }
  Dnsmasq(const Dnsmasq&) = delete;
  Dnsmasq& operator=(const Dnsmasq&) = delete;

  [[nodiscard]] std::string server() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  void start(std::uint16_t port) {
    std::array<int, 2> pipe_fds{};
    REQUIRE(::pipe2(pipe_fds.data(), O_CLOEXEC) == 0);
    const std::vector<std::string> args = {
        kDnsmasq,
        "--no-daemon",
        "--no-resolv",
        "--no-hosts",
        "--conf-file=/dev/null",
        "--pid-file=",
        "--port=" + std::to_string(port),
        "--listen-address=127.0.0.1",
        "--bind-interfaces",
        "--log-facility=-",
        "--local-ttl=" + std::to_string(kLocalTtl),
        "--local=/test/",
        "--mx-host=mx.test,mx1.mx.test,10",
        "--mx-host=mx.test,mx2.mx.test,20",
        "--host-record=mx1.mx.test,127.0.0.11",
        "--host-record=mx2.mx.test,127.0.0.12,::1",
        "--host-record=implicit.test,127.0.0.13",
        "--mx-host=nullmx.test,.,0",
    };
    std::vector<char*> argv;
    for (const std::string& arg : args)
      argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::dup2(pipe_fds[1], STDERR_FILENO);
      ::dup2(pipe_fds[1], STDOUT_FILENO);
      ::execv(kDnsmasq, argv.data());
      ::_exit(127);
    }
    ::close(pipe_fds[1]);
    pid_ = pid;
    port_ = port;
    // Ready once it logs "started" (after binding); it exits at once when the port was taken.
    log_fd_ = pipe_fds[0];  // kept open until stop(): a closed pipe would kill it with SIGPIPE
    if (!wait_for_started()) stop();
  }

  bool wait_for_started() {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    std::array<char, 4096> buffer{};
    while (log_.find("started, version") == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left <= 0ms) return false;
      pollfd p{log_fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
      const ssize_t n = ::read(log_fd_, buffer.data(), buffer.size());
      if (n <= 0) return false;  // exited (port taken?)
      log_.append(buffer.data(), static_cast<std::size_t>(n));
    }
    return true;  // logged after its sockets are bound; the records come from the command line
  }

  void stop() {
    if (pid_ >= 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
    }
    if (log_fd_ >= 0) ::close(log_fd_);
    log_fd_ = -1;
  }

  pid_t pid_ = -1;
  int log_fd_ = -1;  // its stdout and stderr
  std::uint16_t port_ = 0;
  std::string log_;
};

// The io_context and a resolver on it, with helpers that run the loop until answers arrive.
struct Harness {
  explicit Harness(const std::string& servers, std::chrono::milliseconds timeout = 2000ms,
                   int tries = 2) {
    CaresResolverCreateResult created = CaresResolver::create(io, {servers, timeout, tries});
    REQUIRE(created.error == "");
    resolver = std::move(created.resolver);
  }

  // One lookup, run to its answer (or until `bound` passes).
  DnsLookupResult lookup(const std::string& name, QueryType type,
                         std::chrono::milliseconds bound = 5000ms) {
    std::optional<DnsLookupResult> result;
    resolver->resolve(name, type, [&](DnsLookupResult r) { result = std::move(r); });
    const auto deadline = std::chrono::steady_clock::now() + bound;
    while (!result && std::chrono::steady_clock::now() < deadline) {
      io.restart();
      io.run_for(50ms);
    }
    REQUIRE(result.has_value());
    CHECK(result->domain == name);
    CHECK(result->type == type);
    return *result;
  }

  boost::asio::io_context io;
  CaresResolverPtr resolver;
};

std::vector<std::string> address_strings(const DnsLookupResult& result) {
  std::vector<std::string> out;
  for (const IpAddress& address : result.addresses)
    out.push_back(address.to_string());
  return out;
}

}  // namespace

TEST_CASE("CaresResolver: MX records in preference order with their TTL", "[dns][component]") {
  Dnsmasq dns;
  Harness h(dns.server());
  const DnsLookupResult result = h.lookup("mx.test", QueryType::mx);
  INFO(result.error);
  REQUIRE(result.outcome == DnsOutcome::records);
  CHECK(result.rcode == DnsRcode::noerror);
  CHECK(result.mx == std::vector<MxRecord>{{10, "mx1.mx.test"}, {20, "mx2.mx.test"}});
  CHECK(result.ttl == kLocalTtl);

  const MxRoute route = route_domain("mx.test", result.mx_answer(), [](std::size_t) { return 0; });
  REQUIRE(route.status == RouteStatus::route);
  REQUIRE(route.hosts.size() == 2);
  CHECK(route.hosts[0].name == "mx1.mx.test");
  CHECK(route.hosts[1].name == "mx2.mx.test");
}

TEST_CASE("CaresResolver: A and AAAA records", "[dns][component]") {
  Dnsmasq dns;
  Harness h(dns.server());

  const DnsLookupResult a = h.lookup("mx2.mx.test", QueryType::a);
  REQUIRE(a.outcome == DnsOutcome::records);
  CHECK(address_strings(a) == std::vector<std::string>{"127.0.0.12"});
  CHECK(a.ttl == kLocalTtl);

  const DnsLookupResult aaaa = h.lookup("mx2.mx.test", QueryType::aaaa);
  REQUIRE(aaaa.outcome == DnsOutcome::records);
  CHECK(address_strings(aaaa) == std::vector<std::string>{"::1"});
  CHECK(aaaa.ttl == kLocalTtl);

  // mx1 has no AAAA: the name exists, so NODATA.
  const DnsLookupResult none = h.lookup("mx1.mx.test", QueryType::aaaa);
  CHECK(none.outcome == DnsOutcome::nodata);
  CHECK(none.addresses.empty());
}

TEST_CASE("CaresResolver: a domain with an A record and no MX routes to itself",
          "[dns][component]") {
  Dnsmasq dns;
  Harness h(dns.server());
  const DnsLookupResult mx = h.lookup("implicit.test", QueryType::mx);
  REQUIRE(mx.outcome == DnsOutcome::nodata);
  CHECK(mx.rcode == DnsRcode::noerror);
  CHECK(mx.mx.empty());

  const MxRoute route =
      route_domain("implicit.test", mx.mx_answer(), [](std::size_t) { return 0; });
  REQUIRE(route.status == RouteStatus::route);
  REQUIRE(route.hosts.size() == 1);
  CHECK(route.hosts[0].name == "implicit.test");
  CHECK(route.hosts[0].implicit);

  const DnsLookupResult a = h.lookup("implicit.test", QueryType::a);
  REQUIRE(a.outcome == DnsOutcome::records);
  CHECK(address_strings(a) == std::vector<std::string>{"127.0.0.13"});
}

TEST_CASE("CaresResolver: a null MX is a permanent failure", "[dns][component]") {
  Dnsmasq dns;
  Harness h(dns.server());
  const DnsLookupResult mx = h.lookup("nullmx.test", QueryType::mx);
  REQUIRE(mx.outcome == DnsOutcome::records);
  CHECK(mx.mx == std::vector<MxRecord>{{0, "."}});
  const MxRoute route = route_domain("nullmx.test", mx.mx_answer(), [](std::size_t) { return 0; });
  CHECK(route.status == RouteStatus::permanent_failure);
}

TEST_CASE("CaresResolver: an unknown name under the local domain is NXDOMAIN", "[dns][component]") {
  Dnsmasq dns;
  Harness h(dns.server());
  for (const QueryType type : {QueryType::mx, QueryType::a, QueryType::aaaa}) {
    const DnsLookupResult result = h.lookup("nowhere.test", type);
    CHECK(result.outcome == DnsOutcome::nxdomain);
    CHECK(result.rcode == DnsRcode::nxdomain);
  }
  const DnsLookupResult mx = h.lookup("nowhere.test", QueryType::mx);
  const MxRoute route = route_domain("nowhere.test", mx.mx_answer(), [](std::size_t) { return 0; });
  CHECK(route.status == RouteStatus::permanent_failure);
}

TEST_CASE("CaresResolver: a server that never answers times out within the configured bound",
          "[dns][component]") {
  // A bound UDP socket nobody reads: queries land and no reply ever comes.
  const int silent = bind_loopback(SOCK_DGRAM, 0);
  REQUIRE(silent >= 0);
  const std::string server = "127.0.0.1:" + std::to_string(port_of(silent));
  // 200 ms then 400 ms: about 600 ms in all.
  Harness h(server, 200ms, 2);
  const auto started = std::chrono::steady_clock::now();
  const DnsLookupResult result = h.lookup("mx.test", QueryType::mx, 5000ms);
  const auto took = std::chrono::steady_clock::now() - started;
  ::close(silent);
  CHECK(result.outcome == DnsOutcome::timeout);
  CHECK(result.error != "");
  CHECK(took >= 500ms);
  CHECK(took < 3000ms);
  const MxRoute route = route_domain("mx.test", result.mx_answer(), [](std::size_t) { return 0; });
  CHECK(route.status == RouteStatus::temporary_failure);
}

TEST_CASE("CaresResolver: a closed port is a temporary failure, not a hang", "[dns][component]") {
  const int probe = bind_loopback(SOCK_DGRAM, 0);
  REQUIRE(probe >= 0);
  const std::string server = "127.0.0.1:" + std::to_string(port_of(probe));
  ::close(probe);  // nothing listens there now
  Harness h(server, 200ms, 2);
  const auto started = std::chrono::steady_clock::now();
  const DnsLookupResult result = h.lookup("mx.test", QueryType::mx, 5000ms);
  CHECK(std::chrono::steady_clock::now() - started < 3000ms);
  INFO(to_string(result.outcome) << ": " << result.error);
  CHECK((result.outcome == DnsOutcome::timeout || result.outcome == DnsOutcome::resolver_error));
  const MxRoute route = route_domain("mx.test", result.mx_answer(), [](std::size_t) { return 0; });
  CHECK(route.status == RouteStatus::temporary_failure);
}

TEST_CASE("CaresResolver: 200 concurrent lookups are all answered", "[dns][component]") {
  Dnsmasq dns;
  Harness h(dns.server());
  constexpr int kLookups = 200;
  int answered = 0;
  int right = 0;
  for (int i = 0; i < kLookups; ++i) {
    const QueryType type = i % 3 == 0 ? QueryType::mx : i % 3 == 1 ? QueryType::a : QueryType::aaaa;
    h.resolver->resolve(i % 3 == 0 ? "mx.test" : "mx2.mx.test", type, [&, type](DnsLookupResult r) {
      ++answered;
      if (r.outcome != DnsOutcome::records) return;
      if (type == QueryType::mx && r.mx.size() == 2) ++right;
      if (type == QueryType::a && address_strings(r) == std::vector<std::string>{"127.0.0.12"})
        ++right;
      if (type == QueryType::aaaa && address_strings(r) == std::vector<std::string>{"::1"}) ++right;
    });
  }
  CHECK(answered == 0);  // never inside resolve()
  CHECK(h.resolver->pending() == kLookups);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (answered < kLookups && std::chrono::steady_clock::now() < deadline) {
    h.io.restart();
    h.io.run_for(50ms);
  }
  CHECK(answered == kLookups);
  CHECK(right == kLookups);
  CHECK(h.resolver->pending() == 0);
}

TEST_CASE("CaresResolver: a callback may start the next lookup", "[dns][component]") {
  Dnsmasq dns;
  Harness h(dns.server());
  std::optional<DnsLookupResult> second;
  // No REQUIRE in a callback: an exception must not unwind through c-ares's C frames.
  h.resolver->resolve("mx.test", QueryType::mx, [&](DnsLookupResult mx) {
    if (mx.outcome != DnsOutcome::records || mx.mx.empty()) return;
    h.resolver->resolve(mx.mx.at(0).exchange, QueryType::a,
                        [&](DnsLookupResult a) { second = std::move(a); });
  });
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!second && std::chrono::steady_clock::now() < deadline) {
    h.io.restart();
    h.io.run_for(50ms);
  }
  REQUIRE(second.has_value());
  CHECK(address_strings(*second) == std::vector<std::string>{"127.0.0.11"});
}

TEST_CASE("CaresResolver: destruction with lookups in flight calls nothing back",
          "[dns][component]") {
  const int silent = bind_loopback(SOCK_DGRAM, 0);
  REQUIRE(silent >= 0);
  Dnsmasq dns;
  int called = 0;
  {
    // Half to a server that never answers, half to dnsmasq: some answers may be on their way.
    Harness quiet("127.0.0.1:" + std::to_string(port_of(silent)), 200ms, 2);
    Harness live(dns.server());
    for (int i = 0; i < 20; ++i) {
      quiet.resolver->resolve("mx.test", QueryType::mx, [&](DnsLookupResult) { ++called; });
      live.resolver->resolve("mx.test", QueryType::mx, [&](DnsLookupResult) { ++called; });
    }
    quiet.io.restart();
    quiet.io.run_for(20ms);  // the queries are sent; the silent server keeps them pending
    CHECK(quiet.resolver->pending() == 20);
    quiet.resolver.reset();
    live.resolver.reset();
    // Whatever the loops still hold (stale socket waits, the timer, replies) finds nothing.
    quiet.io.restart();
    quiet.io.run_for(800ms);
    live.io.restart();
    live.io.run_for(100ms);
  }
  ::close(silent);
  CHECK(called == 0);
}

TEST_CASE("CaresResolver: a name c-ares cannot ask is answered later, never inside resolve()",
          "[dns][component]") {
  Dnsmasq dns;
  Harness h(dns.server());
  // A 64-byte label: ares_query fails at once (ARES_EBADNAME) and calls back from inside itself.
  const std::string name = std::string(64, 'a') + ".test";
  std::optional<DnsLookupResult> result;
  h.resolver->resolve(name, QueryType::a, [&](DnsLookupResult r) { result = std::move(r); });
  CHECK_FALSE(result.has_value());
  h.io.restart();
  h.io.run_for(1000ms);
  REQUIRE(result.has_value());
  CHECK(result->outcome == DnsOutcome::resolver_error);
  CHECK(result->error != "");
  CHECK(h.resolver->pending() == 0);
}

TEST_CASE("CaresResolver: an invalid server list is refused", "[dns][component]") {
  boost::asio::io_context io;
  const CaresResolverCreateResult created =
      CaresResolver::create(io, {"not an address", 1000ms, 2});
  CHECK(created.resolver == nullptr);
  CHECK(created.error != "");
  const CaresResolverCreateResult bad_timeout = CaresResolver::create(io, {"127.0.0.1", 0ms, 2});
  CHECK(bad_timeout.resolver == nullptr);
}
