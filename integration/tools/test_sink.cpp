// bulkq_test_sink: a fast SMTP sink for the delivery integration tests and benchmarks. One thread,
// one Boost.Asio io_context, one coroutine per connection; it records what it receives and
// injects faults on request. Loopback only.
//
//   bulkq_test_sink --listen ADDR:PORT[,OPTION...] [--listen ...] [--log FILE] [--stats FILE]
//                   [--maildir DIR] [--tls-cert FILE --tls-key FILE]
//
//   --listen ADDR:PORT[,OPTION...]  a listener (repeatable; each one is one "destination host").
//                      ADDR must be an IPv4 loopback address (127.0.0.0/8). OPTIONs:
//                        greeting=CODE          greet with CODE (e.g. 421, 554) and close;
//                                               220 (the default) is the normal greeting
//                        greeting_delay_ms=N    wait N ms before the greeting
//                        reply_delay_ms=N       wait N ms before every reply (a slow server)
//                        drop_mid_data          close the connection once DATA content starts
//                                               arriving, before the final reply
//                        no_pipelining          do not offer PIPELINING (pipelined commands are
//                                               still served; counted as improper_pipelining)
//                        no_ehlo                500 to EHLO (the client must fall back to HELO)
//                        max_rcpt_per_tx=N      452 4.5.3 to every RCPT after the first N
//                        rate=R                 at most R transactions per second (R a positive
//                                               decimal, e.g. 40 or 2.5) over all the listener's
//                                               connections together: a token bucket refilled
//                                               at R per second holding at most max(1, R/5)
//                                               tokens (a burst of 200 ms' worth), full at the
//                                               start. Each accepted MAIL FROM takes a token;
//                                               with none left MAIL FROM gets the rate reply
//                                               and nothing else happens (the session goes on;
//                                               the client may RSET and try again). So in any
//                                               T seconds at most R*T + max(1, R/5) transactions
//                                               are accepted. Refusals count as rate_rejected.
//                        rate_reply=TEXT        the rate reply (default "451 4.7.1 Too many
//                                               messages, slow down"): a 4xx or 5xx code, a space
//                                               and text without commas; sent as it is, the
//                                               connection stays open even for a 421
//   --log FILE         one JSON line per accepted transaction:
//                        {"conn":N,"listener":"A:P","tls":B,"id":"N.n","from":"..","rcpts":[..],
//                         "size":BYTES,"body":"PATH"|null,"t":SECONDS}
//                      "t" (on every line) is the Unix time of the event with microseconds
//                      (for a transaction: when its final 250 was decided), e.g. 1764441234.567890.
//                      lines with an "event" member are not transactions:
//                        {"event":"close","conn":N,"listener":"A:P","transactions":K,
//                         "reason":"quit|eof|greeting|drop_mid_data|tls_failed|error|shutdown",
//                         "improper_pipelining":M,"t":SECONDS}
//                        {"event":"data_rejected"|"dropped",...transaction members, "reply":".."}
//                        {"event":"rate_rejected","conn":N,"listener":"A:P","t":SECONDS}
//                      Buffered: written every 20 ms when there is something new, and at exit.
//   --stats FILE       {"connections":N,"transactions":N,"recipients":N,"rcpt_rejected":N,
//                       "data_rejected":N,"rate_rejected":N,"per_listener":{"A:P":{same
//                       counters}}}, rewritten atomically (FILE.tmp, rename) every 200 ms when
//                      changed, and at exit.
//   --maildir DIR      each accepted message is written to DIR/msg.<conn>.<n> exactly as
//                      received (dot-stuffing undone, CRLF line ends as on the wire).
//   --tls-cert FILE --tls-key FILE   offer STARTTLS with this certificate (PEM).
//
// Faults by the recipient's local part (case-insensitive, counted per address in memory):
//   t450-...     450 4.2.0 at RCPT the first time the address is seen, then accepted
//   t450xN-...   450 4.2.0 the first N times, then accepted
//   p550-...     always 550 5.1.1
//   d451-...     451 4.3.0 at the end of DATA of the first transaction containing the address
//
// Replies: 220 greeting; EHLO offers PIPELINING, SIZE 52428800, 8BITMIME, SMTPUTF8,
// ENHANCEDSTATUSCODES (and STARTTLS when configured); MAIL 250 2.1.0, RCPT 250 2.1.5, DATA 354,
// end of data 250 2.0.0 Ok: queued as <conn>.<n>; RSET/NOOP 250 2.0.0; QUIT 221 2.0.0; unknown
// commands 502 5.5.2; lines over 64 KiB 500 5.5.2 (the line is discarded, the session goes on).
// Connections are numbered from 1 across all listeners; n counts accepted messages per connection.
//
// Prints "ready" on stdout once every listener is bound; SIGTERM/SIGINT flush the log, write the
// stats and exit 0. Exit codes: 0 stopped by a signal, 1 a listener or file could not be opened,
// 2 usage error.
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/third_party_headers.h"
BULKQ_THIRD_PARTY_HEADERS_BEGIN
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
BULKQ_THIRD_PARTY_HEADERS_END

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Ms = std::chrono::milliseconds;
using ErrorCode = boost::system::error_code;

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

constexpr std::size_t kMaxLine = 64 * 1024;
constexpr std::uint64_t kMaxMessageSize = 52428800;  // the SIZE we offer
constexpr std::size_t kReadChunk = 16 * 1024;
constexpr Ms kLogFlushInterval{20};
constexpr int kStatsEveryTicks = 10;  // 200 ms
constexpr std::string_view kDefaultRateReply = "451 4.7.1 Too many messages, slow down";

// ---- command line ---------------------------------------------------------------------------

struct ListenerSpec {
  std::string name;  // "127.0.0.5:2525", as in the log and stats
  asio::ip::address_v4 address;
  std::uint16_t port = 0;
  int greeting_code = 220;
  int greeting_delay_ms = 0;
  int reply_delay_ms = 0;
  bool drop_mid_data = false;
  bool no_pipelining = false;
  bool no_ehlo = false;
  std::size_t max_rcpt_per_tx = 0;  // 0: no limit
  double rate = 0;                  // transactions per second; 0: no limit
  std::string rate_reply{kDefaultRateReply};
};

struct Options {
  std::vector<ListenerSpec> listeners;
  std::string log;
  std::string stats;
  std::string maildir;
  std::string tls_cert;
  std::string tls_key;
};

template <typename Int>
bool parse_number(std::string_view text, Int& out) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc() && ptr == end && !text.empty();
}

// "4xx TEXT" or "5xx TEXT": a refusal a listener may be told to send, one line of printable text.
bool is_refusal_reply(std::string_view text) {
  if (text.size() < 5 || (text[0] != '4' && text[0] != '5') || text[3] != ' ') return false;
  if (text[1] < '0' || text[1] > '9' || text[2] < '0' || text[2] > '9') return false;
  return std::all_of(text.begin(), text.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

// "ADDR:PORT[,option...]" → spec, or an error message.
std::optional<std::string> parse_listen(std::string_view text, ListenerSpec& spec) {
  std::vector<std::string_view> parts;
  while (true) {
    const std::size_t comma = text.find(',');
    parts.push_back(text.substr(0, comma));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  const std::string_view endpoint = parts[0];
  const std::size_t colon = endpoint.rfind(':');
  if (colon == std::string_view::npos)
    return "expected ADDR:PORT, got '" + std::string(endpoint) + "'";
  ErrorCode ec;
  spec.address = asio::ip::make_address_v4(std::string(endpoint.substr(0, colon)), ec);
  if (ec) return "not an IPv4 address: '" + std::string(endpoint.substr(0, colon)) + "'";
  // Tests must never talk to a real host: only 127.0.0.0/8.
  if ((spec.address.to_uint() >> 24) != 127)
    return "refusing non-loopback address " + spec.address.to_string();
  if (!parse_number(endpoint.substr(colon + 1), spec.port) || spec.port == 0)
    return "bad port in '" + std::string(endpoint) + "'";
  spec.name = spec.address.to_string() + ":" + std::to_string(spec.port);
  for (std::size_t i = 1; i < parts.size(); ++i) {
    const std::string_view option = parts[i];
    const std::size_t eq = option.find('=');
    const std::string_view key = option.substr(0, eq);
    const std::string_view value =
        eq == std::string_view::npos ? std::string_view() : option.substr(eq + 1);
    const bool has_value = eq != std::string_view::npos;
    bool ok = true;
    if (key == "greeting") {
      ok = has_value && parse_number(value, spec.greeting_code) && spec.greeting_code >= 200 &&
           spec.greeting_code <= 599;
    } else if (key == "greeting_delay_ms") {
      ok = has_value && parse_number(value, spec.greeting_delay_ms);
    } else if (key == "reply_delay_ms") {
      ok = has_value && parse_number(value, spec.reply_delay_ms);
    } else if (key == "max_rcpt_per_tx") {
      ok = has_value && parse_number(value, spec.max_rcpt_per_tx) && spec.max_rcpt_per_tx > 0;
    } else if (key == "rate") {
      // NaN fails the comparison; a rate beyond a million per second is no rate limit.
      ok = has_value && parse_number(value, spec.rate) && spec.rate > 0 && spec.rate <= 1e6;
    } else if (key == "rate_reply") {
      ok = has_value && is_refusal_reply(value);
      if (ok) spec.rate_reply = std::string(value);
    } else if (key == "drop_mid_data" && !has_value) {
      spec.drop_mid_data = true;
    } else if (key == "no_pipelining" && !has_value) {
      spec.no_pipelining = true;
    } else if (key == "no_ehlo" && !has_value) {
      spec.no_ehlo = true;
    } else {
      return "unknown listener option '" + std::string(option) + "'";
    }
    if (!ok) return "bad value in listener option '" + std::string(option) + "'";
  }
  return std::nullopt;
}

int usage(const std::string& problem) {
  if (!problem.empty()) std::fprintf(stderr, "bulkq_test_sink: %s\n", problem.c_str());
  std::fputs(
      "usage: bulkq_test_sink --listen 127.0.0.X:PORT[,OPTION...]... [--log FILE]\n"
      "                       [--stats FILE] [--maildir DIR] [--tls-cert FILE --tls-key FILE]\n"
      "  listener OPTIONs: greeting=CODE greeting_delay_ms=N reply_delay_ms=N drop_mid_data\n"
      "                    no_pipelining no_ehlo max_rcpt_per_tx=N rate=R rate_reply=TEXT\n",
      stderr);
  return kExitUsage;
}

// Fills `options`; returns the exit code to use when the command line is bad.
std::optional<int> parse_args(int argc, char** argv, Options& options) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    const std::size_t eq = arg.find('=');
    if (arg.starts_with("--") && eq != std::string::npos) {  // --flag=value
      value = arg.substr(eq + 1);
      arg.resize(eq);
    } else if (arg == "--help" || arg == "-h") {
      return usage("");
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return usage("missing value for " + arg);
    }
    if (arg == "--listen") {
      ListenerSpec spec;
      if (auto error = parse_listen(value, spec)) return usage(*error);
      options.listeners.push_back(std::move(spec));
    } else if (arg == "--log") {
      options.log = value;
    } else if (arg == "--stats") {
      options.stats = value;
    } else if (arg == "--maildir") {
      options.maildir = value;
    } else if (arg == "--tls-cert") {
      options.tls_cert = value;
    } else if (arg == "--tls-key") {
      options.tls_key = value;
    } else {
      return usage("unknown option " + arg);
    }
  }
  if (options.listeners.empty()) return usage("at least one --listen is needed");
  if (options.tls_cert.empty() != options.tls_key.empty())
    return usage("--tls-cert and --tls-key go together");
  return std::nullopt;
}

// ---- small helpers --------------------------------------------------------------------------

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool iequals_prefix(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && lower(text.substr(0, prefix.size())) == prefix;
}

// Length of the valid UTF-8 sequence at text[i], or 0.
std::size_t utf8_sequence(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char c = byte(i);
  std::size_t n = 0;
  if (c >= 0xc2 && c <= 0xdf)
    n = 2;
  else if (c >= 0xe0 && c <= 0xef)
    n = 3;
  else if (c >= 0xf0 && c <= 0xf4)
    n = 4;
  else
    return 0;
  if (i + n > text.size()) return 0;
  for (std::size_t k = 1; k < n; ++k)
    if ((byte(i + k) & 0xc0) != 0x80) return 0;
  return n;
}

// A JSON string literal. Valid UTF-8 (SMTPUTF8 addresses) passes through; any other byte is
// escaped as \u00XX so that every log line stays valid JSON.
void append_json(std::string& out, std::string_view text) {
  out += '"';
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x80) {
      out += static_cast<char>(c);
    } else if (std::size_t n = c >= 0x80 ? utf8_sequence(text, i) : 0; n > 0) {
      out.append(text.substr(i, n));
      i += n;
      continue;
    } else {
      std::array<char, 8> buffer{};
      std::snprintf(buffer.data(), buffer.size(), "\\u%04x", c);
      out += buffer.data();
    }
    ++i;
  }
  out += '"';
}

struct Counters {
  std::uint64_t connections = 0;
  std::uint64_t transactions = 0;
  std::uint64_t recipients = 0;
  std::uint64_t rcpt_rejected = 0;
  std::uint64_t data_rejected = 0;
  std::uint64_t rate_rejected = 0;
};

void append_counters(std::string& out, const Counters& c) {
  out += "{\"connections\":" + std::to_string(c.connections) +
         ",\"transactions\":" + std::to_string(c.transactions) +
         ",\"recipients\":" + std::to_string(c.recipients) +
         ",\"rcpt_rejected\":" + std::to_string(c.rcpt_rejected) +
         ",\"data_rejected\":" + std::to_string(c.data_rejected) +
         ",\"rate_rejected\":" + std::to_string(c.rate_rejected);
}

// ",\"t\":SECONDS.MICROSECONDS": the Unix time now, for a log line.
std::string time_member() {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  std::array<char, 48> buffer{};
  std::snprintf(buffer.data(), buffer.size(), ",\"t\":%lld.%06lld",
                static_cast<long long>(us / 1000000), static_cast<long long>(us % 1000000));
  return buffer.data();
}

// The address inside "<...>" after a "FROM:"/"TO:" keyword (spaces allowed after the colon), and
// the parameters after it; nullopt on bad syntax.
std::optional<std::string_view> path_argument(std::string_view args, std::string_view keyword,
                                              std::string_view& params) {
  if (!iequals_prefix(args, keyword)) return std::nullopt;
  args.remove_prefix(keyword.size());
  while (!args.empty() && args.front() == ' ')
    args.remove_prefix(1);
  if (args.empty() || args.front() != '<') return std::nullopt;
  const std::size_t close = args.find('>');
  if (close == std::string_view::npos) return std::nullopt;
  params = args.substr(close + 1);
  return args.substr(1, close - 1);
}

// ---- the server -----------------------------------------------------------------------------

class Session;

class Sink {
 public:
  explicit Sink(Options options) : options_(std::move(options)) {}
  ~Sink() {
    if (log_file_ != nullptr) std::fclose(log_file_);
  }
  Sink(const Sink&) = delete;
  Sink& operator=(const Sink&) = delete;

  int run();

  const Options& options() const { return options_; }
  asio::io_context& io() { return io_; }
  asio::ssl::context* tls() { return tls_ ? &*tls_ : nullptr; }

  std::uint64_t open_connection(const ListenerSpec& listener, Session* session) {
    const std::uint64_t id = next_connection_++;
    live_[id] = session;
    ++total_.connections;
    ++per_listener_[listener.name].connections;
    stats_dirty_ = true;
    return id;
  }
  void forget_connection(std::uint64_t id) { live_.erase(id); }

  void count(const ListenerSpec& listener, std::uint64_t Counters::*member, std::uint64_t n = 1) {
    total_.*member += n;
    per_listener_[listener.name].*member += n;
    stats_dirty_ = true;
  }

  // Appends one log line (without its newline); written out by the periodic flush.
  void log(const std::string& line) {
    if (log_file_ == nullptr) return;
    log_buffer_ += line;
    log_buffer_ += '\n';
  }

  // Fault state shared by all connections: how often an address has been refused at RCPT, and
  // the d451 addresses whose first transaction has already been refused.
  int& rcpt_seen(const std::string& address) { return rcpt_seen_[address]; }
  bool first_d451(const std::string& address) { return d451_done_.insert(address).second; }

  // rate=R: takes one of the listener's tokens for a transaction; false when none is left. The
  // bucket holds at most max(1, R/5) tokens, gains R per second and is full when first used.
  bool take_rate_token(const ListenerSpec& listener) {
    const auto now = std::chrono::steady_clock::now();
    const double capacity = std::max(1.0, listener.rate / 5);
    auto [it, first] = rate_buckets_.try_emplace(listener.name, RateBucket{capacity, now});
    RateBucket& bucket = it->second;
    if (!first) {
      const std::chrono::duration<double> elapsed = now - bucket.last;
      bucket.tokens = std::min(capacity, bucket.tokens + elapsed.count() * listener.rate);
      bucket.last = now;
    }
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

 private:
  asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, const ListenerSpec& listener);
  asio::awaitable<void> tick();
  void flush_log();
  void write_stats();
  void shutdown();

  Options options_;
  FILE* log_file_ = nullptr;
  std::string log_buffer_;
  Counters total_;
  std::map<std::string, Counters> per_listener_;
  bool stats_dirty_ = true;
  std::unordered_map<std::string, int> rcpt_seen_;
  std::unordered_set<std::string> d451_done_;
  struct RateBucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point last;
  };
  std::unordered_map<std::string, RateBucket> rate_buckets_;  // by listener name
  std::map<std::uint64_t, Session*> live_;
  std::uint64_t next_connection_ = 1;
  bool stopping_ = false;
  std::optional<asio::ssl::context> tls_;
  // Destroyed before the members above: destroying it destroys the sessions' coroutine frames,
  // whose destructors still use live_ and the TLS context.
  asio::io_context io_{1};
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors_;
  asio::steady_timer tick_timer_{io_};
  asio::signal_set signals_{io_, SIGTERM, SIGINT};

  friend class Session;
};

class Session {
 public:
  Session(Sink& sink, const ListenerSpec& listener, tcp::socket socket)
      : sink_(sink), listener_(listener), socket_(std::move(socket)), timer_(sink.io()) {
    id_ = sink_.open_connection(listener_, this);
  }
  ~Session() { sink_.forget_connection(id_); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  static asio::awaitable<void> serve(std::shared_ptr<Session> self) {
    std::string reason = "error";
    try {
      reason = co_await self->converse();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bulkq_test_sink: connection %llu: %s\n",
                   static_cast<unsigned long long>(self->id_), e.what());
    }
    self->close(reason);
  }

  // The log line for a connection that is still open at exit.
  void close_at_shutdown() { log_close("shutdown"); }

 private:
  enum class LineStatus { line, too_long, closed };

  // The conversation; returns why it ended.
  asio::awaitable<std::string> converse() {
    if (listener_.greeting_delay_ms > 0) co_await sleep(Ms(listener_.greeting_delay_ms));
    if (listener_.greeting_code != 220) {
      co_await reply(std::to_string(listener_.greeting_code) +
                     (listener_.greeting_code < 500 ? " 4.3.2" : " 5.3.2") + " " + listener_.name +
                     " bulkq_test_sink: service not available (greeting fault)");
      co_await flush();
      co_return "greeting";
    }
    co_await reply("220 " + listener_.name + " ESMTP bulkq_test_sink");
    for (;;) {
      std::string_view line;
      const LineStatus status = co_await read_line(line);
      if (status == LineStatus::closed) co_return "eof";
      if (status == LineStatus::too_long) {
        co_await reply("500 5.5.2 Error: line too long");
        continue;
      }
      // Commands after one whose reply is still unsent were pipelined; fine unless not offered.
      if (listener_.no_pipelining && in_pos_ < in_.size()) ++improper_pipelining_;
      const std::size_t space = line.find(' ');
      const std::string verb = lower(line.substr(0, space));
      std::string_view args =
          space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
      if (verb == "ehlo" || verb == "helo") {
        co_await hello(verb == "ehlo", std::string(args));
      } else if (verb == "mail") {
        co_await mail(std::string(args));
      } else if (verb == "rcpt") {
        co_await rcpt(std::string(args));
      } else if (verb == "data") {
        if (!co_await data(!args.empty())) co_return dropped_ ? "drop_mid_data" : "eof";
      } else if (verb == "rset") {
        reset_transaction();
        co_await reply("250 2.0.0 Ok");
      } else if (verb == "noop") {
        co_await reply("250 2.0.0 Ok");
      } else if (verb == "quit") {
        co_await reply("221 2.0.0 Bye");
        co_await flush();
        co_return "quit";
      } else if (verb == "starttls") {
        const std::optional<bool> ok = co_await starttls(!args.empty());
        if (ok && !*ok) co_return "tls_failed";
      } else {
        co_await reply("502 5.5.2 Error: command not recognized");
      }
    }
  }

  asio::awaitable<void> hello(bool ehlo, std::string name) {
    if (ehlo && listener_.no_ehlo) {
      co_await reply("500 5.5.1 Error: command not recognized (no_ehlo)");
      co_return;
    }
    if (name.empty()) {
      co_await reply(std::string("501 5.5.4 Syntax: ") + (ehlo ? "EHLO" : "HELO") + " hostname");
      co_return;
    }
    reset_transaction();
    greeted_ = true;
    if (!ehlo) {
      co_await reply("250 " + listener_.name);
      co_return;
    }
    std::vector<std::string> lines = {listener_.name};
    if (!listener_.no_pipelining) lines.emplace_back("PIPELINING");
    lines.emplace_back("SIZE " + std::to_string(kMaxMessageSize));
    lines.emplace_back("8BITMIME");
    lines.emplace_back("SMTPUTF8");
    lines.emplace_back("ENHANCEDSTATUSCODES");
    if (sink_.tls() != nullptr && !tls_) lines.emplace_back("STARTTLS");
    std::string text;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      text += (i + 1 < lines.size() ? "250-" : "250 ") + lines[i];
      if (i + 1 < lines.size()) text += "\r\n";
    }
    co_await reply(text);
  }

  asio::awaitable<void> mail(std::string args) {
    if (!greeted_) {
      co_await reply("503 5.5.1 Error: send HELO/EHLO first");
      co_return;
    }
    if (in_transaction_) {
      co_await reply("503 5.5.1 Error: nested MAIL command");
      co_return;
    }
    std::string_view params;
    const std::optional<std::string_view> from = path_argument(args, "from:", params);
    if (!from) {
      co_await reply("501 5.5.4 Syntax: MAIL FROM:<address>");
      co_return;
    }
    // SIZE=N beyond what we offer is refused here, as a real server would.
    const std::string lowered = lower(params);
    if (const std::size_t at = lowered.find("size="); at != std::string::npos) {
      std::uint64_t size = 0;
      const std::string_view digits = std::string_view(lowered).substr(at + 5);
      std::from_chars(digits.data(), digits.data() + digits.size(), size);
      if (size > kMaxMessageSize) {
        co_await reply("552 5.3.4 Message size exceeds fixed limit");
        co_return;
      }
    }
    if (listener_.rate > 0 && !sink_.take_rate_token(listener_)) {
      sink_.count(listener_, &Counters::rate_rejected);
      std::string line =
          "{\"event\":\"rate_rejected\",\"conn\":" + std::to_string(id_) + ",\"listener\":";
      append_json(line, listener_.name);
      line += time_member() + "}";
      sink_.log(line);
      co_await reply(listener_.rate_reply);
      co_return;
    }
    in_transaction_ = true;
    from_ = std::string(*from);
    co_await reply("250 2.1.0 Ok");
  }

  asio::awaitable<void> rcpt(std::string args) {
    if (!in_transaction_) {
      co_await reply("503 5.5.1 Error: need MAIL command");
      co_return;
    }
    std::string_view params;
    const std::optional<std::string_view> to = path_argument(args, "to:", params);
    if (!to || to->empty()) {
      co_await reply("501 5.5.4 Syntax: RCPT TO:<address>");
      co_return;
    }
    const std::string address(*to);
    if (listener_.max_rcpt_per_tx > 0 && rcpts_.size() >= listener_.max_rcpt_per_tx) {
      sink_.count(listener_, &Counters::rcpt_rejected);
      co_await reply("452 4.5.3 Error: too many recipients");
      co_return;
    }
    const std::string key = lower(address);
    std::optional<std::string> fault = recipient_fault(key);
    if (fault) {
      sink_.count(listener_, &Counters::rcpt_rejected);
      co_await reply(*fault);
      co_return;
    }
    rcpts_.push_back(address);
    co_await reply("250 2.1.5 Ok");
  }

  // The refusal for a faulty recipient (key: the address in lower case), if it is refused now.
  std::optional<std::string> recipient_fault(const std::string& key) {
    if (key.starts_with("p550-"))
      return "550 5.1.1 <" + key + ">: Recipient address rejected: User unknown (p550 fault)";
    int times = 0;
    if (key.starts_with("t450-")) {
      times = 1;
    } else if (key.starts_with("t450x")) {
      const std::size_t dash = key.find('-');
      if (dash == std::string::npos ||
          !parse_number(std::string_view(key).substr(5, dash - 5), times))
        times = 0;
    }
    if (times > 0 && sink_.rcpt_seen(key)++ < times)
      return "450 4.2.0 <" + key + ">: Recipient address rejected: try again later (t450 fault)";
    return std::nullopt;
  }

  // DATA and its content; false when the connection is gone.
  asio::awaitable<bool> data(bool has_args) {
    if (has_args) {
      co_await reply("501 5.5.4 Syntax: DATA");
      co_return true;
    }
    if (!in_transaction_) {
      co_await reply("503 5.5.1 Error: need MAIL command");
      co_return true;
    }
    if (rcpts_.empty()) {
      co_await reply("554 5.5.1 Error: no valid recipients");
      co_return true;
    }
    co_await reply("354 End data with <CR><LF>.<CR><LF>");
    const bool keep = !sink_.options().maildir.empty();
    body_.clear();
    std::uint64_t size = 0;
    bool line_too_long = false;
    for (;;) {
      std::string_view line;
      const LineStatus status = co_await read_line(line);
      if (status == LineStatus::closed) co_return false;
      if (listener_.drop_mid_data) {
        // Content is arriving: hang up without the final reply.
        log_transaction("dropped", size, std::nullopt, "");
        dropped_ = true;
        co_return false;
      }
      if (status == LineStatus::too_long) {
        line_too_long = true;
        continue;
      }
      if (line == ".") break;
      if (line.starts_with('.')) line.remove_prefix(1);  // undo dot-stuffing
      size += line.size() + 2;
      if (keep && size <= kMaxMessageSize) {
        body_.append(line);
        body_ += "\r\n";
      }
    }
    std::optional<std::string> refusal;
    if (line_too_long) {
      refusal = "500 5.5.2 Error: message line too long";
    } else if (size > kMaxMessageSize) {
      refusal = "552 5.3.4 Error: message file too big";
    } else {
      bool d451 = false;
      for (const std::string& rcpt : rcpts_) {
        const std::string key = lower(rcpt);
        if (key.starts_with("d451-") && sink_.first_d451(key)) d451 = true;
      }
      if (d451) refusal = "451 4.3.0 Error: queue file write error (d451 fault)";
    }
    if (refusal) {
      sink_.count(listener_, &Counters::data_rejected);
      log_transaction("data_rejected", size, std::nullopt, *refusal);
      reset_transaction();
      co_await reply(*refusal);
      co_return true;
    }
    ++accepted_;
    const std::string queue_id = std::to_string(id_) + "." + std::to_string(accepted_);
    std::optional<std::string> path;
    if (keep) {
      path = sink_.options().maildir + "/msg." + queue_id;
      if (!write_file(*path, body_)) {
        sink_.count(listener_, &Counters::data_rejected);
        log_transaction("data_rejected", size, std::nullopt, "451 cannot write " + *path);
        --accepted_;
        reset_transaction();
        co_await reply("451 4.3.0 Error: cannot write the message file");
        co_return true;
      }
    }
    sink_.count(listener_, &Counters::transactions);
    sink_.count(listener_, &Counters::recipients, rcpts_.size());
    log_transaction("", size, path, "");
    reset_transaction();
    co_await reply("250 2.0.0 Ok: queued as " + queue_id);
    co_return true;
  }

  // nullopt: refused, the session goes on; true: TLS is up; false: the handshake failed.
  asio::awaitable<std::optional<bool>> starttls(bool has_args) {
    if (sink_.tls() == nullptr || tls_) {
      co_await reply("502 5.5.1 Error: command not implemented");
      co_return std::nullopt;
    }
    if (has_args) {
      co_await reply("501 5.5.4 Syntax: STARTTLS");
      co_return std::nullopt;
    }
    co_await reply("220 2.0.0 Ready to start TLS");
    co_await flush();
    // Anything pipelined after STARTTLS was sent in clear text: discard it (RFC 3207 §5).
    in_.clear();
    in_pos_ = 0;
    tls_.emplace(socket_, *sink_.tls());
    ErrorCode ec;
    co_await tls_->async_handshake(asio::ssl::stream_base::server,
                                   asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return false;
    greeted_ = false;
    reset_transaction();
    co_return true;
  }

  // ---- I/O ------------------------------------------------------------------------------------

  // Queues a reply; replies go out together when the input holds no further complete command
  // (pipelining), or one by one after the delay of a slow listener.
  asio::awaitable<void> reply(std::string text) {
    out_ += text;
    out_ += "\r\n";
    if (listener_.reply_delay_ms > 0) {
      co_await sleep(Ms(listener_.reply_delay_ms));
      co_await flush();
    }
  }

  asio::awaitable<void> flush() {
    if (out_.empty() || failed_) co_return;
    ErrorCode ec;
    if (tls_) {
      co_await asio::async_write(*tls_, asio::buffer(out_),
                                 asio::redirect_error(asio::use_awaitable, ec));
    } else {
      co_await asio::async_write(socket_, asio::buffer(out_),
                                 asio::redirect_error(asio::use_awaitable, ec));
    }
    out_.clear();
    if (ec) failed_ = true;
  }

  asio::awaitable<void> sleep(Ms delay) {
    ErrorCode ec;
    timer_.expires_after(delay);
    co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }

  // The next line without its CRLF (a bare LF also ends a line), valid until the next call.
  // A line over kMaxLine is consumed and reported as too_long.
  asio::awaitable<LineStatus> read_line(std::string_view& line) {
    bool too_long = false;
    for (;;) {
      const std::size_t lf = in_.find('\n', in_pos_);
      if (lf != std::string::npos) {
        std::size_t end = lf;
        if (end > in_pos_ && in_[end - 1] == '\r') --end;
        const std::size_t start = in_pos_;
        in_pos_ = lf + 1;
        if (too_long || end - start > kMaxLine) co_return LineStatus::too_long;
        line = std::string_view(in_).substr(start, end - start);
        co_return LineStatus::line;
      }
      if (in_.size() - in_pos_ > kMaxLine) {  // drop the overlong part, keep reading to its end
        too_long = true;
        in_.clear();
        in_pos_ = 0;
      }
      if (in_pos_ > 0) {  // keep the buffer small: drop what was consumed
        in_.erase(0, in_pos_);
        in_pos_ = 0;
      }
      co_await flush();  // the client may wait for our replies before sending more
      if (failed_) co_return LineStatus::closed;
      ErrorCode ec;
      std::size_t n = 0;
      if (tls_) {
        n = co_await tls_->async_read_some(asio::buffer(chunk_),
                                           asio::redirect_error(asio::use_awaitable, ec));
      } else {
        n = co_await socket_.async_read_some(asio::buffer(chunk_),
                                             asio::redirect_error(asio::use_awaitable, ec));
      }
      if (ec) {
        failed_ = true;
        co_return LineStatus::closed;
      }
      in_.append(chunk_.data(), n);
    }
  }

  static bool write_file(const std::string& path, const std::string& content) {
    FILE* file = std::fopen(path.c_str(), "wb");
    if (file == nullptr) return false;
    const bool ok = std::fwrite(content.data(), 1, content.size(), file) == content.size();
    return std::fclose(file) == 0 && ok;
  }

  // ---- state and logging ----------------------------------------------------------------------

  void reset_transaction() {
    in_transaction_ = false;
    from_.clear();
    rcpts_.clear();
  }

  void log_transaction(std::string_view event, std::uint64_t size,
                       const std::optional<std::string>& path, std::string_view reply_text) {
    std::string line = "{";
    if (!event.empty()) {
      line += "\"event\":";
      append_json(line, event);
      line += ',';
    }
    line += "\"conn\":" + std::to_string(id_) + ",\"listener\":";
    append_json(line, listener_.name);
    line += std::string(",\"tls\":") + (tls_ ? "true" : "false");
    if (event.empty()) {
      line += ",\"id\":";
      append_json(line, std::to_string(id_) + "." + std::to_string(accepted_));
    }
    line += ",\"from\":";
    append_json(line, from_);
    line += ",\"rcpts\":[";
    for (std::size_t i = 0; i < rcpts_.size(); ++i) {
      if (i > 0) line += ',';
      append_json(line, rcpts_[i]);
    }
    line += "],\"size\":" + std::to_string(size) + ",\"body\":";
    if (path) {
      append_json(line, *path);
    } else {
      line += "null";
    }
    if (!reply_text.empty()) {
      line += ",\"reply\":";
      append_json(line, reply_text);
    }
    line += time_member() + "}";
    sink_.log(line);
  }

  void log_close(std::string_view reason) {
    std::string line = "{\"event\":\"close\",\"conn\":" + std::to_string(id_) + ",\"listener\":";
    append_json(line, listener_.name);
    line += ",\"transactions\":" + std::to_string(accepted_) + ",\"reason\":";
    append_json(line, reason);
    line +=
        ",\"improper_pipelining\":" + std::to_string(improper_pipelining_) + time_member() + "}";
    sink_.log(line);
  }

  void close(std::string_view reason) {
    if (closed_) return;
    closed_ = true;
    ErrorCode ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
    log_close(reason);
    sink_.forget_connection(id_);
  }

  Sink& sink_;
  const ListenerSpec& listener_;
  tcp::socket socket_;
  std::optional<asio::ssl::stream<tcp::socket&>> tls_;
  asio::steady_timer timer_;
  std::uint64_t id_ = 0;
  std::string in_;
  std::size_t in_pos_ = 0;
  std::array<char, kReadChunk> chunk_{};
  std::string out_;
  bool failed_ = false;  // a read or write failed: the connection is gone
  bool closed_ = false;
  bool dropped_ = false;
  bool greeted_ = false;
  bool in_transaction_ = false;
  std::string from_;
  std::vector<std::string> rcpts_;
  std::string body_;
  std::uint64_t accepted_ = 0;
  std::uint64_t improper_pipelining_ = 0;
};

asio::awaitable<void> Sink::accept_loop(tcp::acceptor& acceptor, const ListenerSpec& listener) {
  while (!stopping_) {
    ErrorCode ec;
    tcp::socket socket =
        co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted || stopping_) co_return;
    if (ec) {  // e.g. out of descriptors: back off briefly instead of spinning
      std::fprintf(stderr, "bulkq_test_sink: accept on %s: %s\n", listener.name.c_str(),
                   ec.message().c_str());
      asio::steady_timer pause(io_, Ms(50));
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);  // small replies must not wait for Nagle
    auto session = std::make_shared<Session>(*this, listener, std::move(socket));
    asio::co_spawn(io_, Session::serve(std::move(session)), asio::detached);
  }
}

asio::awaitable<void> Sink::tick() {
  for (int n = 1; !stopping_; ++n) {
    tick_timer_.expires_after(kLogFlushInterval);
    ErrorCode ec;
    co_await tick_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (stopping_) co_return;
    flush_log();
    if (n % kStatsEveryTicks == 0 && stats_dirty_) write_stats();
  }
}

void Sink::flush_log() {
  if (log_file_ == nullptr || log_buffer_.empty()) return;
  if (std::fwrite(log_buffer_.data(), 1, log_buffer_.size(), log_file_) != log_buffer_.size() ||
      std::fflush(log_file_) != 0) {
    std::fprintf(stderr, "bulkq_test_sink: writing %s: %s\n", options_.log.c_str(),
                 std::strerror(errno));
  }
  log_buffer_.clear();
}

void Sink::write_stats() {
  stats_dirty_ = false;
  if (options_.stats.empty()) return;
  std::string json;
  append_counters(json, total_);
  json += ",\"per_listener\":{";
  bool first = true;
  for (const ListenerSpec& listener : options_.listeners) {  // every listener, even if unused
    if (!first) json += ',';
    first = false;
    append_json(json, listener.name);
    json += ':';
    append_counters(json, per_listener_[listener.name]);
    json += '}';
  }
  json += "}}\n";
  const std::string tmp = options_.stats + ".tmp";
  FILE* file = std::fopen(tmp.c_str(), "w");
  bool ok = file != nullptr;
  if (ok) {
    ok = std::fwrite(json.data(), 1, json.size(), file) == json.size();
    ok = std::fclose(file) == 0 && ok;
  }
  if (!ok || std::rename(tmp.c_str(), options_.stats.c_str()) != 0) {
    std::fprintf(stderr, "bulkq_test_sink: writing %s: %s\n", options_.stats.c_str(),
                 std::strerror(errno));
  }
}

void Sink::shutdown() {
  stopping_ = true;
  ErrorCode ec;
  for (auto& acceptor : acceptors_)
    acceptor->close(ec);
  tick_timer_.cancel();
  io_.stop();
}

int Sink::run() {
  if (!options_.log.empty()) {
    log_file_ = std::fopen(options_.log.c_str(), "a");
    if (log_file_ == nullptr) {
      std::fprintf(stderr, "bulkq_test_sink: cannot open log %s: %s\n", options_.log.c_str(),
                   std::strerror(errno));
      return kExitFailed;
    }
  }
  if (!options_.maildir.empty() && ::mkdir(options_.maildir.c_str(), 0755) != 0 &&
      errno != EEXIST) {
    std::fprintf(stderr, "bulkq_test_sink: cannot create %s: %s\n", options_.maildir.c_str(),
                 std::strerror(errno));
    return kExitFailed;
  }
  if (!options_.tls_cert.empty()) {
    tls_.emplace(asio::ssl::context::tls_server);
    ErrorCode ec;
    tls_->use_certificate_chain_file(options_.tls_cert, ec);
    if (!ec) tls_->use_private_key_file(options_.tls_key, asio::ssl::context::pem, ec);
    if (ec) {
      std::fprintf(stderr, "bulkq_test_sink: TLS certificate %s / key %s: %s\n",
                   options_.tls_cert.c_str(), options_.tls_key.c_str(), ec.message().c_str());
      return kExitFailed;
    }
  }
  for (const ListenerSpec& listener : options_.listeners) {
    auto acceptor = std::make_unique<tcp::acceptor>(io_);
    const tcp::endpoint endpoint(listener.address, listener.port);
    ErrorCode ec;
    acceptor->open(endpoint.protocol(), ec);
    if (!ec) acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor->bind(endpoint, ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      std::fprintf(stderr, "bulkq_test_sink: cannot listen on %s: %s\n", listener.name.c_str(),
                   ec.message().c_str());
      return kExitFailed;
    }
    acceptors_.push_back(std::move(acceptor));
    per_listener_[listener.name];
  }
  for (std::size_t i = 0; i < acceptors_.size(); ++i)
    asio::co_spawn(io_, accept_loop(*acceptors_[i], options_.listeners[i]), asio::detached);
  asio::co_spawn(io_, tick(), asio::detached);
  signals_.async_wait([this](const ErrorCode& ec, int) {
    if (!ec) shutdown();
  });
  write_stats();
  std::fputs("ready\n", stdout);
  std::fflush(stdout);
  io_.run();
  // Connections still open: their close lines, then the final log and stats.
  for (const auto& [id, session] : live_)
    session->close_at_shutdown();
  flush_log();
  write_stats();
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (std::optional<int> bad = parse_args(argc, argv, options)) return *bad;
  Sink sink(std::move(options));
  return sink.run();
}
