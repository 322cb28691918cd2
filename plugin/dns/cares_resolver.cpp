// CaresResolver's implementation: the c-ares channel, its sockets watched by Asio, one timer.
//
// Everything here runs on the io_context's thread. Asio handlers hold a weak_ptr to the Impl, so
// a handler that runs after the resolver is gone (a completed wait already queued, a cancelled
// timer) does nothing. Socket watches are found again by fd and generation: c-ares may close an
// fd and open a new socket with the same number before a stale handler runs.

#include "dns/cares_resolver.h"

#include <ares.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <span>
#include <unordered_map>
#include <utility>

namespace bulkq {
namespace {

// ares_library_init once per process, before the first channel; cleanup at exit. A function
// static is initialised once even when two threads create their first resolvers at once.
int init_cares_library() {
  struct Library {
    int status = ares_library_init(ARES_LIB_INIT_ALL);
    ~Library() {
      if (status == ARES_SUCCESS) ares_library_cleanup();
    }
  };
  static const Library library;
  return library.status;
}

int dns_type_of(QueryType type) {
  switch (type) {
    case QueryType::mx:
      return kDnsTypeMx;
    case QueryType::a:
      return kDnsTypeA;
    case QueryType::aaaa:
      return kDnsTypeAaaa;
  }
  return kDnsTypeA;
}

// The result for a response (bytes present) or for a c-ares status without bytes.
DnsLookupResult decode_result(std::string domain, QueryType type, int status,
                              std::span<const std::uint8_t> bytes) {
  DnsLookupResult result;
  result.domain = std::move(domain);
  result.type = type;
  if (bytes.empty()) {
    result.outcome = outcome_from_ares_status(status);
    result.error = std::string("c-ares: ") + ares_strerror(status);
    return result;
  }
  if (type == QueryType::mx) {
    MxAnswer answer = decode_mx_answer(bytes);
    result.outcome = answer.outcome;
    result.rcode = answer.rcode;
    result.mx = std::move(answer.records);
    result.ttl = answer.ttl;
    result.error = std::move(answer.error);
    return result;
  }
  AddressAnswer answer = type == QueryType::a ? decode_a_answer(bytes) : decode_aaaa_answer(bytes);
  result.outcome = answer.outcome;
  result.rcode = answer.rcode;
  result.addresses = std::move(answer.addresses);
  result.ttl = answer.ttl;
  result.error = std::move(answer.error);
  return result;
}

}  // namespace

class CaresResolver::Impl : public std::enable_shared_from_this<CaresResolver::Impl> {
 public:
  explicit Impl(boost::asio::io_context& io) : io_(io), timer_(io) {}

  ~Impl() { shut_down(); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  std::string start(const CaresResolverOptions& options) {
    if (const int status = init_cares_library(); status != ARES_SUCCESS)
      return std::string("ares_library_init: ") + ares_strerror(status);
    ares_options opts{};
    opts.sock_state_cb = &Impl::on_socket_state;
    opts.sock_state_cb_data = this;
    opts.timeout = static_cast<int>(options.timeout.count());  // milliseconds with TIMEOUTMS
    opts.tries = options.tries;
    const int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
    if (const int status = ares_init_options(&channel_, &opts, mask); status != ARES_SUCCESS) {
      channel_ = nullptr;
      return std::string("ares_init_options: ") + ares_strerror(status);
    }
    if (!options.servers.empty()) {
      if (const int status = ares_set_servers_ports_csv(channel_, options.servers.c_str());
          status != ARES_SUCCESS)
        return "DNS servers \"" + options.servers + "\": " + ares_strerror(status);
    }
    return {};
  }

  void resolve(std::string domain, QueryType type, ResolveCallback callback) {
    auto query = std::make_unique<PendingQuery>(
        PendingQuery{this, std::move(domain), type, std::move(callback)});
    PendingQuery* raw = query.get();
    const std::string& name = raw->domain;
    ++pending_;
    ++in_resolve_;  // a callback c-ares makes from inside ares_query is posted, not run here
    ares_query(channel_, name.c_str(), kDnsClassIn, dns_type_of(type), &Impl::on_answer,
               query.release());
    --in_resolve_;
    update_timer();
  }

  [[nodiscard]] std::size_t pending() const { return pending_; }

 private:
  struct PendingQuery {
    Impl* owner;
    std::string domain;
    QueryType type;
    ResolveCallback callback;
  };

  // One fd c-ares asked us to watch. The descriptor never owns the fd: release() before it goes.
  struct SocketWatch {
    SocketWatch(boost::asio::io_context& io, std::uint64_t id) : descriptor(io), generation(id) {}
    ~SocketWatch() {
      if (descriptor.is_open()) descriptor.release();
    }
    SocketWatch(const SocketWatch&) = delete;
    SocketWatch& operator=(const SocketWatch&) = delete;

    boost::asio::posix::stream_descriptor descriptor;
    std::uint64_t generation;
    bool want_read = false;
    bool want_write = false;
    bool read_waiting = false;
    bool write_waiting = false;
  };

  // c-ares calls on_socket_state and on_answer from its C frames: both are noexcept, so a throw
  // terminates instead of unwinding through C.
  static void on_socket_state(void* data, ares_socket_t fd, int readable, int writable) noexcept {
    static_cast<Impl*>(data)->socket_state(fd, readable != 0, writable != 0);
  }

  void socket_state(ares_socket_t fd, bool readable, bool writable) {
    auto it = watches_.find(fd);
    if (!readable && !writable) {
      // c-ares is about to close the fd: stop watching it (release cancels the waits).
      if (it != watches_.end()) watches_.erase(it);
      return;
    }
    if (shutting_down_) return;
    if (it == watches_.end()) {
      auto watch = std::make_unique<SocketWatch>(io_, ++generations_);
      boost::system::error_code ec;
      watch->descriptor.assign(fd, ec);
      // Unwatchable (epoll refused it): its queries end at their timeout instead.
      if (ec) return;
      it = watches_.emplace(fd, std::move(watch)).first;
    }
    SocketWatch& watch = *it->second;
    watch.want_read = readable;
    watch.want_write = writable;
    arm(fd, watch);
  }

  void arm(ares_socket_t fd, SocketWatch& watch) {
    using boost::asio::posix::descriptor_base;
    if (watch.want_read && !watch.read_waiting) {
      watch.read_waiting = true;
      watch.descriptor.async_wait(descriptor_base::wait_read,
                                  [weak = weak_from_this(), fd,
                                   id = watch.generation](const boost::system::error_code& ec) {
                                    if (const auto self = weak.lock())
                                      self->on_ready(fd, id, true, ec);
                                  });
    }
    if (watch.want_write && !watch.write_waiting) {
      watch.write_waiting = true;
      watch.descriptor.async_wait(descriptor_base::wait_write,
                                  [weak = weak_from_this(), fd,
                                   id = watch.generation](const boost::system::error_code& ec) {
                                    if (const auto self = weak.lock())
                                      self->on_ready(fd, id, false, ec);
                                  });
    }
  }

  SocketWatch* find_watch(ares_socket_t fd, std::uint64_t generation) {
    const auto it = watches_.find(fd);
    if (it == watches_.end() || it->second->generation != generation) return nullptr;
    return it->second.get();
  }

  void on_ready(ares_socket_t fd, std::uint64_t generation, bool read,
                const boost::system::error_code& ec) {
    SocketWatch* watch = find_watch(fd, generation);
    if (watch == nullptr) return;  // a closed (maybe reused) fd's stale wait
    (read ? watch->read_waiting : watch->write_waiting) = false;
    // A cancellation comes only with release, when the watch is gone; on any other error
    // c-ares tries the socket and meets the error itself.
    if (ec == boost::asio::error::operation_aborted) return;
    ares_process_fd(channel_, read ? fd : ARES_SOCKET_BAD, read ? ARES_SOCKET_BAD : fd);
    // The callbacks may have closed the socket, or closed it and opened another on this fd.
    if (SocketWatch* again = find_watch(fd, generation)) arm(fd, *again);
    update_timer();
  }

  // One timer for the whole channel, at the earliest query timeout c-ares reports.
  void update_timer() {
    if (shutting_down_ || channel_ == nullptr) return;
    timeval tv{};
    if (ares_timeout(channel_, nullptr, &tv) == nullptr) {
      timer_.cancel();
      return;
    }
    const auto delay = std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec);
    timer_.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(delay));
    timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      if (ec) return;  // re-armed or cancelled
      if (const auto self = weak.lock()) self->on_timer();
    });
  }

  void on_timer() {
    ares_process_fd(channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // expires timed-out queries
    update_timer();
  }

  static void on_answer(void* arg, int status, int /*timeouts*/, unsigned char* abuf,
                        int alen) noexcept {
    std::unique_ptr<PendingQuery> query(static_cast<PendingQuery*>(arg));
    Impl& self = *query->owner;
    --self.pending_;
    // Shutting down (ARES_EDESTRUCTION, ARES_ECANCELLED): the callback is dropped uncalled.
    if (self.shutting_down_) return;
    // ares_query hands the response bytes on even when its status is an RCODE error
    // (ARES_ENOTFOUND for NXDOMAIN, ARES_ENODATA): decoding them keeps the SOA negative TTL.
    std::span<const std::uint8_t> bytes;
    if (abuf != nullptr && alen > 0)
      bytes = std::span<const std::uint8_t>(abuf, static_cast<std::size_t>(alen));
    DnsLookupResult result = decode_result(std::move(query->domain), query->type, status, bytes);
    if (self.in_resolve_ > 0) {
      // Called from inside ares_query: Resolver promises never to call back inside resolve().
      boost::asio::post(self.io_,
                        [weak = self.weak_from_this(), callback = std::move(query->callback),
                         result = std::move(result)]() mutable {
                          if (weak.lock()) callback(std::move(result));
                        });
      return;
    }
    query->callback(std::move(result));
  }

  void shut_down() {
    if (shutting_down_) return;
    shutting_down_ = true;
    timer_.cancel();
    if (channel_ != nullptr) {
      // Calls every pending query back with ARES_EDESTRUCTION (dropped, see on_answer) and each
      // socket's state with (0, 0) before closing it (its watch is released).
      ares_destroy(channel_);
      channel_ = nullptr;
    }
    watches_.clear();
  }

  boost::asio::io_context& io_;
  boost::asio::steady_timer timer_;
  ares_channel channel_ = nullptr;
  std::unordered_map<ares_socket_t, std::unique_ptr<SocketWatch>> watches_;
  std::uint64_t generations_ = 0;
  std::size_t pending_ = 0;
  int in_resolve_ = 0;
  bool shutting_down_ = false;
};

CaresResolverCreateResult CaresResolver::create(boost::asio::io_context& io,
                                                const CaresResolverOptions& options) {
  if (options.timeout.count() <= 0 || options.tries <= 0)
    return {nullptr, "DNS timeout and tries must be positive"};
  auto impl = std::make_shared<Impl>(io);
  if (std::string error = impl->start(options); !error.empty()) return {nullptr, error};
  return {CaresResolverPtr(new CaresResolver(std::move(impl))), {}};
}

CaresResolver::CaresResolver(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

// The last reference to the Impl goes here (handlers hold it only while they run, and callbacks
// must not destroy the resolver), so the channel is destroyed now and no callback runs after.
CaresResolver::~CaresResolver() = default;

void CaresResolver::resolve(std::string domain, QueryType type, ResolveCallback callback) {
  impl_->resolve(std::move(domain), type, std::move(callback));
}

std::size_t CaresResolver::pending() const {
  return impl_->pending();
}

}  // namespace bulkq
