// Component tests of SmtpSession against real loopback servers: Postfix's smtp-sink (several
// messages over one connection, dumped content) and a scripted SMTP server in this file (plain
// POSIX socket + one thread, answers from a script) for the faults smtp-sink cannot inject
// precisely: per-recipient 450/550, 421 at greeting, a silent server, a disconnect mid-DATA, no
// PIPELINING, no STARTTLS. Loopback (127.0.0.1) only, ports chosen by the kernel, every wait
// bounded; timeouts are asserted to fire, never how fast.
//
// Threads: the session runs on the test's thread (run_smtp_session); the scripted server on its
// own thread, joined by its destructor; smtp-sink is a child process killed by pid in a guard.
#include "delivery/smtp_session.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "delivery/delivery_outcome.h"
#include "support/temp_dir.h"

namespace bulkq {
namespace {

using namespace std::chrono_literals;

// ---- helpers ----------------------------------------------------------------------------------

// A port the kernel had free a moment ago (for smtp-sink, which needs a number up front).
std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

MessageContent lines_content(std::vector<std::string> lines) {
  auto next = std::make_shared<std::size_t>(0);
  auto held = std::make_shared<std::vector<std::string>>(std::move(lines));
  // Two lines per call, to exercise the source's "some lines at a time" contract.
  return [next, held](const ContentLineEmitter& emit) {
    for (int i = 0; i < 2 && *next < held->size(); ++i)
      emit((*held)[(*next)++]);
    return *next < held->size() ? ContentStep::more : ContentStep::done;
  };
}

SmtpMessage make_message(std::string sender, std::vector<std::string> recipients,
                         std::vector<std::string> lines) {
  SmtpMessage message;
  message.sender = std::move(sender);
  for (auto& r : recipients)
    message.recipients.push_back(SmtpRecipient{std::move(r), {}});
  message.content = lines_content(std::move(lines));
  return message;
}

SmtpTimeouts short_timeouts() {
  SmtpTimeouts t;
  t.connect = 5s;
  t.greeting = t.ehlo = t.starttls = t.mail = t.rcpt = t.data_init = t.data_block = t.data_end =
      t.rset = t.quit = 5s;
  return t;
}

SmtpSessionRequest make_request(std::uint16_t port) {
  SmtpSessionRequest request;
  request.endpoints.push_back(SmtpEndpoint{"127.0.0.1", port});
  request.client_name = "client.bulkq.test";
  request.timeouts = short_timeouts();
  return request;
}

// ---- the scripted server ----------------------------------------------------------------------

struct ServerScript {
  std::string greeting = "220 scripted.test ESMTP\r\n";
  bool ehlo = true;  // false: EHLO gets 502 (HELO then works)
  bool pipelining = true;
  bool starttls = false;
  std::string mail_reply = "250 2.1.0 Ok\r\n";
  std::map<std::string, std::string> rcpt_replies{};  // "<addr>" → reply; default 250
  std::string data_end_reply = "250 2.0.0 Ok: queued\r\n";
  std::string stall_on{};  // after this command word the server goes silent
  bool disconnect_in_data = false;
  int hang_up_after_data = 0;  // > 0: close the connection after this many DATA replies
  // A directory with cert.pem and key.pem: STARTTLS is then real (OpenSSL, server side).
  std::string tls_dir{};
  bool broken_tls = false;  // STARTTLS gets 220, then the "handshake" is garbage
};

class ScriptedSmtpServer {
 public:
  explicit ScriptedSmtpServer(ServerScript script) : script_(std::move(script)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(listen_fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listen_fd_, 8) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
    if (!script_.tls_dir.empty()) {
      ssl_context_ = SSL_CTX_new(TLS_server_method());
      REQUIRE(ssl_context_ != nullptr);
      REQUIRE(SSL_CTX_use_certificate_file(ssl_context_, (script_.tls_dir + "/cert.pem").c_str(),
                                           SSL_FILETYPE_PEM) == 1);
      REQUIRE(SSL_CTX_use_PrivateKey_file(ssl_context_, (script_.tls_dir + "/key.pem").c_str(),
                                          SSL_FILETYPE_PEM) == 1);
    }
    thread_ = std::thread([this] { serve(); });
  }
  ~ScriptedSmtpServer() {
    stop_ = true;
    thread_.join();
    ::close(listen_fd_);
    if (ssl_context_ != nullptr) SSL_CTX_free(ssl_context_);
  }
  ScriptedSmtpServer(const ScriptedSmtpServer&) = delete;
  ScriptedSmtpServer& operator=(const ScriptedSmtpServer&) = delete;

  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] int connections() const { return connections_; }
  [[nodiscard]] std::vector<std::string> commands() const {
    std::lock_guard lock(mutex_);
    return commands_;
  }
  // The wire bytes of each completed DATA, terminator included.
  [[nodiscard]] std::vector<std::string> data() const {
    std::lock_guard lock(mutex_);
    return data_;
  }

 private:
  // Waits up to 100 ms for `fd`; false when stopping.
  bool wait_readable(int fd) {
    if (ssl_ != nullptr && SSL_pending(ssl_) > 0) return true;
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 100) > 0) return true;
    }
    return false;
  }

  void serve() {
    while (!stop_) {
      if (!wait_readable(listen_fd_)) return;
      const int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      ++connections_;
      converse(fd);
      if (ssl_ != nullptr) {
        SSL_free(ssl_);
        ssl_ = nullptr;
      }
      ::close(fd);
    }
  }

  void say(int fd, std::string_view text) {
    if (ssl_ != nullptr) {
      (void)SSL_write(ssl_, text.data(), static_cast<int>(text.size()));
    } else {
      (void)::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
    }
  }

  // Next line with its CRLF stripped; empty optional when the peer closed or we stop.
  std::optional<std::string> read_line(int fd) {
    for (;;) {
      const auto eol = buffer_.find("\r\n");
      if (eol != std::string::npos) {
        std::string line = buffer_.substr(0, eol);
        buffer_.erase(0, eol + 2);
        return line;
      }
      if (!wait_readable(fd)) return std::nullopt;
      char chunk[4096];
      const ssize_t n = ssl_ != nullptr ? SSL_read(ssl_, chunk, sizeof chunk)
                                        : ::recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) return std::nullopt;
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

  void silent_until_closed(int fd) {
    while (wait_readable(fd)) {
      char chunk[256];
      if (::recv(fd, chunk, sizeof chunk, 0) <= 0) return;
    }
  }

  void converse(int fd) {
    buffer_.clear();
    say(fd, script_.greeting);
    if (script_.greeting.rfind("220", 0) != 0) {
      (void)read_line(fd);  // QUIT, or the close
      say(fd, "221 bye\r\n");
      return;
    }
    int accepted = 0;
    int data_replies = 0;
    while (auto line = read_line(fd)) {
      const std::string verb = line->substr(0, line->find_first_of(" :"));
      {
        std::lock_guard lock(mutex_);
        commands_.push_back(*line);
      }
      if (!script_.stall_on.empty() && verb == script_.stall_on) {
        silent_until_closed(fd);
        return;
      }
      if (verb == "EHLO") {
        if (!script_.ehlo) {
          say(fd, "502 5.5.2 no EHLO here\r\n");
          continue;
        }
        std::string reply = "250-scripted.test\r\n";
        if (script_.pipelining) reply += "250-PIPELINING\r\n";
        if (script_.starttls) reply += "250-STARTTLS\r\n";
        reply += "250 8BITMIME\r\n";
        say(fd, reply);
      } else if (verb == "HELO") {
        say(fd, "250 scripted.test\r\n");
      } else if (verb == "MAIL") {
        accepted = 0;
        say(fd, script_.mail_reply);
      } else if (verb == "RCPT") {
        const std::string address = line->substr(line->find('<'));
        const auto it = script_.rcpt_replies.find(address.substr(0, address.find('>') + 1));
        const std::string reply =
            it == script_.rcpt_replies.end() ? "250 2.1.5 Ok\r\n" : it->second;
        if (reply[0] == '2') ++accepted;
        say(fd, reply);
      } else if (verb == "DATA") {
        if (accepted == 0) {
          say(fd, "554 5.5.1 Error: no valid recipients\r\n");
          continue;
        }
        say(fd, "354 End data with <CR><LF>.<CR><LF>\r\n");
        std::string data;
        bool ended = false;
        while (auto data_line = read_line(fd)) {
          data += *data_line + "\r\n";
          if (script_.disconnect_in_data) return;
          if (*data_line == ".") {
            ended = true;
            break;
          }
        }
        if (!ended) return;
        {
          std::lock_guard lock(mutex_);
          data_.push_back(std::move(data));
        }
        say(fd, script_.data_end_reply);
        if (script_.hang_up_after_data > 0 && ++data_replies >= script_.hang_up_after_data) return;
      } else if (verb == "RSET" || verb == "NOOP") {
        say(fd, "250 2.0.0 Ok\r\n");
      } else if (verb == "STARTTLS") {
        if (ssl_context_ != nullptr && ssl_ == nullptr) {
          say(fd, "220 2.0.0 Ready to start TLS\r\n");
          timeval limit{5, 0};  // bounds the blocking handshake
          ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
          ssl_ = SSL_new(ssl_context_);
          SSL_set_fd(ssl_, fd);
          if (SSL_accept(ssl_) != 1) return;
          buffer_.clear();
          {
            std::lock_guard lock(mutex_);
            commands_.push_back("(TLS)");
          }
          continue;
        }
        if (!script_.broken_tls) {
          say(fd, "454 4.7.0 TLS not available\r\n");
          continue;
        }
        say(fd, "220 2.0.0 Ready to start TLS\r\n");
        if (wait_readable(fd)) {
          char hello[4096];
          (void)::recv(fd, hello, sizeof hello, 0);  // the client's TLS hello
        }
        say(fd, "this is not TLS\r\n");
        return;
      } else if (verb == "QUIT") {
        say(fd, "221 2.0.0 Bye\r\n");
        return;
      } else {
        say(fd, "502 5.5.2 Error: command not recognized\r\n");
      }
    }
  }

  ServerScript script_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::string buffer_;  // server thread only
  SSL_CTX* ssl_context_ = nullptr;
  SSL* ssl_ = nullptr;  // server thread only: the connection after STARTTLS
  mutable std::mutex mutex_;
  std::vector<std::string> commands_;
  std::vector<std::string> data_;
};

// ---- smtp-sink ----------------------------------------------------------------------------------

// Postfix's smtp-sink as a child process, killed by pid when the guard goes.
class SmtpSink {
 public:
  SmtpSink(const std::string& dump_dir, std::uint16_t port) {
    const std::string listen = "127.0.0.1:" + std::to_string(port);
    const std::string dump = dump_dir + "/%Y%m%d%H%M%S.";
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      if (::geteuid() == 0) {
        ::execl("/usr/sbin/smtp-sink", "smtp-sink", "-u", "nobody", "-d", dump.c_str(),
                listen.c_str(), "16", static_cast<char*>(nullptr));
      } else {
        ::execl("/usr/sbin/smtp-sink", "smtp-sink", "-d", dump.c_str(), listen.c_str(), "16",
                static_cast<char*>(nullptr));
      }
      ::_exit(127);
    }
    // Bounded wait until it listens.
    for (int i = 0; i < 100; ++i) {
      const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(port);
      const bool up = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
      ::close(fd);
      if (up) {
        listening_ = true;
        return;
      }
      std::this_thread::sleep_for(50ms);
    }
  }
  ~SmtpSink() {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  SmtpSink(const SmtpSink&) = delete;
  SmtpSink& operator=(const SmtpSink&) = delete;
  [[nodiscard]] bool listening() const { return listening_; }

 private:
  pid_t pid_ = -1;
  bool listening_ = false;
};

std::vector<std::string> read_dumps(const std::string& dir) {
  std::vector<std::string> dumps;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    dumps.push_back(text.str());
  }
  return dumps;
}

}  // namespace

TEST_CASE("smtp session: several messages over one pipelined connection", "[delivery][component]") {
  ScriptedSmtpServer server(
      ServerScript{.rcpt_replies = {{"<soft@b.test>", "450 4.2.0 mailbox busy\r\n"},
                                    {"<hard@b.test>", "550 5.1.1 no such user\r\n"}}});
  SmtpSessionRequest request = make_request(server.port());
  request.messages.push_back(make_message("sender@a.test", {"one@b.test", "soft@b.test"},
                                          {"Subject: one", "", ".leading dot", "..two", "."}));
  request.messages.push_back(
      make_message("sender@a.test", {"hard@b.test", "two@b.test"}, {"Subject: two", "", "body"}));
  const SmtpSessionResult result = run_smtp_session(std::move(request));

  CHECK_FALSE(result.failure);
  CHECK(result.pipelining);
  CHECK(result.transactions == 2);
  CHECK(server.connections() == 1);
  REQUIRE(result.messages.size() == 2);
  const auto& first = result.messages[0];
  REQUIRE(first.recipients.size() == 2);
  CHECK(first.recipients[0].verdict.reply.code == 250);
  CHECK(first.recipients[0].verdict.stage == SmtpStage::data_end);
  CHECK(first.recipients[1].verdict.reply.code == 450);
  CHECK(first.recipients[1].verdict.stage == SmtpStage::rcpt_to);
  CHECK(classify_reply(first.recipients[1].verdict.reply, first.recipients[1].verdict.stage)
            .recipient == RecipientOutcome::retry);
  const auto& second = result.messages[1];
  CHECK(second.recipients[0].verdict.reply.code == 550);
  CHECK(second.recipients[0].verdict.reply.text == "no such user");
  CHECK(second.recipients[1].verdict.reply.code == 250);

  const auto data = server.data();
  REQUIRE(data.size() == 2);
  CHECK(data[0] == "Subject: one\r\n\r\n..leading dot\r\n...two\r\n..\r\n.\r\n");
  CHECK(data[1] == "Subject: two\r\n\r\nbody\r\n.\r\n");
  const auto commands = server.commands();
  REQUIRE_FALSE(commands.empty());
  CHECK(commands.front() == "EHLO client.bulkq.test");
  CHECK(commands.back() == "QUIT");
}

TEST_CASE("smtp session: lock-step without PIPELINING, RSET when every RCPT fails",
          "[delivery][component]") {
  ScriptedSmtpServer server(ServerScript{
      .pipelining = false, .rcpt_replies = {{"<bad@b.test>", "550 5.1.1 unknown\r\n"}}});
  SmtpSessionRequest request = make_request(server.port());
  request.messages.push_back(make_message("s@a.test", {"bad@b.test"}, {"x"}));
  request.messages.push_back(make_message("s@a.test", {"good@b.test"}, {"y"}));
  const SmtpSessionResult result = run_smtp_session(std::move(request));

  CHECK_FALSE(result.failure);
  CHECK_FALSE(result.pipelining);
  CHECK(result.transactions == 1);
  CHECK(result.messages[0].recipients[0].verdict.reply.code == 550);
  CHECK_FALSE(result.messages[0].data_reply);  // no DATA after every RCPT failed
  CHECK(result.messages[1].recipients[0].verdict.reply.code == 250);
  const std::vector<std::string> expected = {"EHLO client.bulkq.test",
                                             "MAIL FROM:<s@a.test> BODY=8BITMIME",
                                             "RCPT TO:<bad@b.test>",
                                             "RSET",
                                             "MAIL FROM:<s@a.test> BODY=8BITMIME",
                                             "RCPT TO:<good@b.test>",
                                             "DATA",
                                             "QUIT"};
  const auto commands = server.commands();
  // The MAIL lines' parameters depend on smtp_commands' choices; compare verbs and addresses.
  REQUIRE(commands.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    CHECK(commands[i].substr(0, 12) == expected[i].substr(0, 12));
  }
}

TEST_CASE("smtp session: 421 at the greeting decides every message", "[delivery][component]") {
  ScriptedSmtpServer server(ServerScript{.greeting = "421 4.3.2 busy, try later\r\n"});
  SmtpSessionRequest request = make_request(server.port());
  request.messages.push_back(make_message("s@a.test", {"r1@b.test", "r2@b.test"}, {"x"}));
  request.messages.push_back(make_message("s@a.test", {"r3@b.test"}, {"y"}));
  const SmtpSessionResult result = run_smtp_session(std::move(request));

  REQUIRE(result.session_reply);
  CHECK(result.session_reply->code == 421);
  CHECK(result.affected_messages == std::vector<std::size_t>{0, 1});
  for (const auto& message : result.messages) {
    CHECK_FALSE(message.attempted);
    for (const auto& recipient : message.recipients) {
      CHECK(recipient.verdict.reply.code == 421);
      CHECK(recipient.verdict.stage == SmtpStage::greeting);
      CHECK(classify_reply(recipient.verdict.reply, recipient.verdict.stage).domain ==
            DomainAction::back_off);
    }
  }
}

TEST_CASE("smtp session: a malformed reply ends the session", "[delivery][component]") {
  ScriptedSmtpServer server(ServerScript{.greeting = "22 not a reply code\r\n"});
  SmtpSessionRequest request = make_request(server.port());
  request.messages.push_back(make_message("s@a.test", {"r@b.test"}, {"x"}));
  const SmtpSessionResult result = run_smtp_session(std::move(request));
  REQUIRE(result.failure);
  CHECK(result.protocol_error);
  CHECK(*result.failure == TransportFailure::connection_lost);
  CHECK(result.messages[0].recipients[0].verdict.transport == TransportFailure::connection_lost);
}

TEST_CASE("smtp session: a silent server times out", "[delivery][component]") {
  ScriptedSmtpServer server(ServerScript{.stall_on = "MAIL"});
  SmtpSessionRequest request = make_request(server.port());
  request.timeouts.mail = 300ms;
  request.messages.push_back(make_message("s@a.test", {"r@b.test"}, {"x"}));
  request.messages.push_back(make_message("s@a.test", {"r@b.test"}, {"y"}));
  const SmtpSessionResult result = run_smtp_session(std::move(request));

  REQUIRE(result.failure);
  CHECK(*result.failure == TransportFailure::read_timeout);
  CHECK(result.failure_stage == SmtpStage::mail_from);
  CHECK(result.affected_messages == std::vector<std::size_t>{0, 1});
  CHECK(result.messages[0].recipients[0].verdict.transport == TransportFailure::read_timeout);
}

TEST_CASE("smtp session: a disconnect mid-DATA is a lost connection", "[delivery][component]") {
  ScriptedSmtpServer server(ServerScript{.disconnect_in_data = true});
  SmtpSessionRequest request = make_request(server.port());
  std::vector<std::string> lines(2000, std::string(100, 'x'));  // ~200 KiB: several writes
  request.messages.push_back(make_message("s@a.test", {"r@b.test"}, lines));
  const SmtpSessionResult result = run_smtp_session(std::move(request));

  REQUIRE(result.failure);
  CHECK(*result.failure == TransportFailure::connection_lost);
  CHECK(result.affected_messages == std::vector<std::size_t>{0});
  CHECK(result.messages[0].recipients[0].verdict.transport == TransportFailure::connection_lost);
  CHECK(result.transactions == 0);
}

TEST_CASE("smtp session: endpoints are tried in order", "[delivery][component]") {
  const std::uint16_t closed = free_port();  // nothing listens there any more
  ScriptedSmtpServer server(ServerScript{});
  SmtpSessionRequest request = make_request(closed);
  request.endpoints.push_back(SmtpEndpoint{"127.0.0.1", server.port()});
  request.messages.push_back(make_message("s@a.test", {"r@b.test"}, {"x"}));
  const SmtpSessionResult result = run_smtp_session(std::move(request));
  CHECK_FALSE(result.failure);
  CHECK(result.endpoint == std::size_t{1});
  CHECK(result.messages[0].recipients[0].verdict.reply.code == 250);

  SmtpSessionRequest refused = make_request(closed);
  refused.messages.push_back(make_message("s@a.test", {"r@b.test"}, {"x"}));
  const SmtpSessionResult none = run_smtp_session(std::move(refused));
  REQUIRE(none.failure);
  CHECK(*none.failure == TransportFailure::connect_refused);
  CHECK(none.messages[0].recipients[0].verdict.transport == TransportFailure::connect_refused);
}

TEST_CASE("smtp session: TLS policy without STARTTLS offered", "[delivery][component]") {
  SECTION("required fails the session") {
    ScriptedSmtpServer server(ServerScript{});
    SmtpSessionRequest request = make_request(server.port());
    request.tls = TlsPolicy::required;
    request.messages.push_back(make_message("s@a.test", {"r@b.test"}, {"x"}));
    const SmtpSessionResult result = run_smtp_session(std::move(request));
    REQUIRE(result.failure);
    CHECK(*result.failure == TransportFailure::tls_failure);
    CHECK(result.messages[0].recipients[0].verdict.transport == TransportFailure::tls_failure);
    CHECK(server.data().empty());
  }
  SECTION("opportunistic sends in plaintext, also when STARTTLS is refused") {
    ScriptedSmtpServer server(ServerScript{.starttls = true});
    SmtpSessionRequest request = make_request(server.port());
    request.messages.push_back(make_message("s@a.test", {"r@b.test"}, {"x"}));
    const SmtpSessionResult result = run_smtp_session(std::move(request));
    CHECK_FALSE(result.failure);
    CHECK_FALSE(result.tls);
    CHECK(result.transactions == 1);
  }
}

TEST_CASE("smtp session: opportunistic TLS falls back to plaintext after a failed handshake",
          "[delivery][component]") {
  ScriptedSmtpServer server(ServerScript{.starttls = true, .broken_tls = true});
  SmtpSessionRequest request = make_request(server.port());
  request.messages.push_back(make_message("s@a.test", {"r@b.test"}, {"x"}));
  SECTION("opportunistic reconnects once without TLS") {
    const SmtpSessionResult result = run_smtp_session(std::move(request));
    CHECK_FALSE(result.failure);
    CHECK(result.tls_fallback);
    CHECK_FALSE(result.tls);
    CHECK(result.transactions == 1);
    CHECK(server.connections() == 2);
  }
  SECTION("required fails") {
    request.tls = TlsPolicy::required;
    const SmtpSessionResult result = run_smtp_session(std::move(request));
    REQUIRE(result.failure);
    CHECK(*result.failure == TransportFailure::tls_failure);
    CHECK(server.connections() == 1);
    CHECK(server.data().empty());
  }
}

TEST_CASE("smtp session: STARTTLS with a self-signed certificate", "[delivery][component]") {
  REQUIRE(std::filesystem::exists("/usr/bin/openssl"));  // package openssl
  testing::TempDir dir;
  const std::string make_cert =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1"
      " -subj /CN=scripted.test -keyout " +
      dir.path() + "/key.pem -out " + dir.path() + "/cert.pem >/dev/null 2>&1";
  REQUIRE(std::system(make_cert.c_str()) == 0);
  ScriptedSmtpServer server(ServerScript{.starttls = true, .tls_dir = dir.path()});
  SmtpSessionRequest request = make_request(server.port());
  request.tls = GENERATE(TlsPolicy::opportunistic, TlsPolicy::required);
  request.messages.push_back(make_message("s@a.test", {"r@b.test"}, {"over TLS", ".dot"}));
  request.messages.push_back(make_message("s@a.test", {"q@b.test"}, {"second"}));
  const SmtpSessionResult result = run_smtp_session(std::move(request));

  CHECK_FALSE(result.failure);
  CHECK(result.tls);
  CHECK(result.transactions == 2);
  CHECK(server.connections() == 1);
  const auto data = server.data();
  REQUIRE(data.size() == 2);
  CHECK(data[0] == "over TLS\r\n..dot\r\n.\r\n");
  const auto commands = server.commands();
  REQUIRE(commands.size() >= 4);
  CHECK(commands[0] == "EHLO client.bulkq.test");
  CHECK(commands[1] == "STARTTLS");
  CHECK(commands[2] == "(TLS)");
  CHECK(commands[3] == "EHLO client.bulkq.test");  // EHLO again after the handshake
}

TEST_CASE("smtp session: HELO when EHLO is refused", "[delivery][component]") {
  ScriptedSmtpServer server(ServerScript{.ehlo = false});
  SmtpSessionRequest request = make_request(server.port());
  request.messages.push_back(make_message("s@a.test", {"r@b.test"}, {"x"}));
  const SmtpSessionResult result = run_smtp_session(std::move(request));
  CHECK_FALSE(result.failure);
  CHECK(result.transactions == 1);
  const auto commands = server.commands();
  REQUIRE(commands.size() >= 2);
  CHECK(commands[1] == "HELO client.bulkq.test");
}

TEST_CASE("smtp session: several messages to Postfix's smtp-sink", "[delivery][component]") {
  REQUIRE(std::filesystem::exists("/usr/sbin/smtp-sink"));  // package postfix (install-deps)
  testing::TempDir dir;
  std::filesystem::permissions(dir.path(), std::filesystem::perms::all);
  const std::uint16_t port = free_port();
  SmtpSink sink(dir.path(), port);
  REQUIRE(sink.listening());

  SmtpSessionRequest request = make_request(port);
  for (int i = 0; i < 3; ++i) {
    request.messages.push_back(make_message("sender@a.test", {"r1@b.test", "r2@b.test"},
                                            {"Subject: message " + std::to_string(i), "",
                                             ".dot line", "..", "end " + std::to_string(i)}));
  }
  const SmtpSessionResult result = run_smtp_session(std::move(request));
  CHECK_FALSE(result.failure);
  CHECK(result.pipelining);
  CHECK(result.transactions == 3);
  for (const auto& message : result.messages) {
    for (const auto& recipient : message.recipients)
      CHECK(recipient.verdict.reply.code == 250);
  }

  // smtp-sink writes each dump when the transaction ends; the session ended with QUIT.
  std::vector<std::string> dumps;
  for (int i = 0; i < 100 && dumps.size() < 3; ++i) {
    dumps = read_dumps(dir.path());
    if (dumps.size() < 3) std::this_thread::sleep_for(50ms);
  }
  REQUIRE(dumps.size() == 3);
  int found = 0;
  for (int i = 0; i < 3; ++i) {
    const std::string body = "Subject: message " + std::to_string(i) + "\n\n.dot line\n..\nend " +
                             std::to_string(i) + "\n";
    for (const auto& dump : dumps) {
      if (dump.find(body) != std::string::npos) ++found;
    }
  }
  CHECK(found == 3);
}

TEST_CASE("smtp session: a kept connection carries further batches", "[delivery][component]") {
  ScriptedSmtpServer server(ServerScript{});
  SmtpSessionRequest request = make_request(server.port());
  request.keep_idle = 5s;
  request.messages.push_back(make_message("s@a.test", {"one@b.test"}, {"first"}));
  std::vector<std::vector<SmtpMessage>> more(2);
  more[0].push_back(make_message("s@a.test", {"two@b.test"}, {"second"}));
  more[0].push_back(make_message("s@a.test", {"three@b.test"}, {"third"}));
  more[1].push_back(make_message("s@a.test", {"four@b.test"}, {"fourth"}));
  const std::vector<SmtpSessionResult> results =
      run_smtp_batches(std::move(request), std::move(more));

  REQUIRE(results.size() == 3);
  CHECK(server.connections() == 1);
  CHECK_FALSE(results[0].reused);
  CHECK(results[1].reused);
  CHECK(results[1].earlier_messages == 1);
  CHECK(results[2].reused);
  CHECK(results[2].earlier_messages == 3);
  for (const SmtpSessionResult& result : results) {
    CHECK_FALSE(result.failure);
    CHECK(result.endpoint == std::optional<std::size_t>(0));
    CHECK(result.pipelining);
    CHECK_FALSE(result.connection);
    for (const SmtpMessageResult& message : result.messages)
      CHECK(message.recipients.at(0).verdict.reply.code == 250);
  }
  CHECK(server.data().size() == 4);
  const auto commands = server.commands();
  CHECK(std::count(commands.begin(), commands.end(), "EHLO client.bulkq.test") == 1);
  CHECK(std::count(commands.begin(), commands.end(), "QUIT") == 1);
  CHECK(commands.back() == "QUIT");
}

TEST_CASE("smtp session: a kept connection the server closed is replaced for the next batch",
          "[delivery][component]") {
  ScriptedSmtpServer server(ServerScript{.hang_up_after_data = 1});
  SmtpSessionRequest request = make_request(server.port());
  request.keep_idle = 5s;
  request.messages.push_back(make_message("s@a.test", {"one@b.test"}, {"first"}));
  std::vector<std::vector<SmtpMessage>> more(1);
  more[0].push_back(make_message("s@a.test", {"two@b.test"}, {"second"}));
  const std::vector<SmtpSessionResult> results =
      run_smtp_batches(std::move(request), std::move(more));

  REQUIRE(results.size() == 2);
  // Whether the hang-up was seen while idle or only by the batch's first command, the batch
  // reached the server over a new connection and nothing failed.
  CHECK(server.connections() == 2);
  CHECK_FALSE(results[1].failure);
  CHECK_FALSE(results[1].reused);
  REQUIRE(results[1].messages.size() == 1);
  CHECK(results[1].messages[0].recipients.at(0).verdict.reply.code == 250);
  CHECK(server.data().size() == 2);
}

TEST_CASE("smtp session: an idle connection says QUIT after keep_idle", "[delivery][component]") {
  ScriptedSmtpServer server(ServerScript{});
  SmtpSessionRequest request = make_request(server.port());
  request.keep_idle = 200ms;
  request.messages.push_back(make_message("s@a.test", {"one@b.test"}, {"first"}));
  const SmtpSessionResult result = run_smtp_session(std::move(request));
  CHECK_FALSE(result.failure);
  CHECK(result.transactions == 1);
  CHECK_FALSE(result.connection);
  const auto commands = server.commands();
  REQUIRE_FALSE(commands.empty());
  CHECK(commands.back() == "QUIT");
}

}  // namespace bulkq
