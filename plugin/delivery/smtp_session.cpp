// SmtpSession's coroutines: the only translation unit of the delivery client that includes
// Boost.Asio and OpenSSL (each such TU costs ~30 s to compile here).
//
// Threads: everything below runs on the io_context's thread; the Session object is shared by the
// coroutine and its timer handler through a shared_ptr, so it outlives both.
//
// Timeouts: one steady_timer per session races each operation: arm() before it, disarm() after;
// when the timer wins it cancels the socket, the operation completes with operation_aborted, and
// the timed_out_ flag says why. A generation counter keeps a late timer handler from touching the
// next operation.
#include "delivery/smtp_session.h"

#include <array>
#include <exception>
#include <memory>
#include <stdexcept>
#include <utility>

#include "core/third_party_headers.h"
BULKQ_THIRD_PARTY_HEADERS_BEGIN
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
BULKQ_THIRD_PARTY_HEADERS_END

#include "delivery/ehlo_capabilities.h"
#include "delivery/smtp_data_encoder.h"

namespace bulkq {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Ms = std::chrono::milliseconds;

// Content is sent in writes of about this size: the only part of a message held in memory.
constexpr std::size_t kDataWriteBytes = 64 * 1024;

SmtpStatus local_status(int code, int klass, int subject, int detail, std::string text) {
  return SmtpStatus{code, klass, subject, detail, std::move(text)};
}

SmtpStatus status_for_command_error(SmtpCommandError error, bool sender) {
  std::string text = std::string(to_string(error));
  switch (error) {
    case SmtpCommandError::message_too_large:
      return local_status(552, 5, 3, 4, std::move(text));
    case SmtpCommandError::smtputf8_not_offered:
      return local_status(553, 5, 6, 7, std::move(text));
    default:
      return sender ? local_status(553, 5, 1, 7, std::move(text))
                    : local_status(553, 5, 1, 3, std::move(text));
  }
}

// One client context for every session: building an SSL_CTX is costly, and SSL_new from a
// shared one is thread-safe. Opportunistic and (for now) required TLS do not verify the peer.
asio::ssl::context& client_tls_context() {
  static asio::ssl::context context = [] {
    asio::ssl::context made(asio::ssl::context::tls_client);
    made.set_verify_mode(asio::ssl::verify_none);
    return made;
  }();
  return context;
}

class Session final : public SmtpConnection, public std::enable_shared_from_this<Session> {
 public:
  Session(asio::io_context& io, SmtpSessionRequest request,
          std::function<void(SmtpSessionResult)> done)
      : io_(io), request_(std::move(request)), done_(std::move(done)), socket_(io), timer_(io) {
    prepare_results();
  }

  asio::awaitable<void> run() {
    co_await open_and_send();
    for (;;) {
      if (!keepable()) {
        if (finished_normally_) co_await quit();
        close_socket();
        report(false);
        co_return;
      }
      report(true);  // the owner may call next_batch() or close_idle() from within
      const IdleEnd end = co_await wait_idle();
      if (end != IdleEnd::batch) {
        if (end == IdleEnd::quit) co_await quit();
        close_socket();
        co_return;
      }
      begin_batch();
      co_await send_reused();
    }
  }

  // Ends the session after an exception escaped the coroutine (memory exhaustion, an Asio bug):
  // every undecided recipient of the batch in progress is a transport failure, so nothing is
  // lost.
  void fail_from_exception(std::string_view what) {
    if (done_) {
      if (!result_.failure && !result_.session_reply) {
        fail(TransportFailure::connection_lost, stage_, "internal error: " + std::string(what));
      }
      end_session(next_message_);
    }
    close_socket();
    if (done_) report(false);
  }

  // ---- SmtpConnection ---------------------------------------------------------------------

  [[nodiscard]] bool idle() const override {
    return phase_ == Phase::idle && connected_ && !pending_ && !close_requested_;
  }

  void next_batch(std::vector<SmtpMessage> messages,
                  std::function<void(SmtpSessionResult)> done) override {
    if (!idle()) {
      SmtpSessionResult refused;
      refused.failure = TransportFailure::connection_lost;
      refused.failure_detail = "the kept connection is no longer open";
      refused.messages.resize(messages.size());
      for (std::size_t m = 0; m < messages.size(); ++m) {
        refused.affected_messages.push_back(m);
        refused.messages[m].recipients.resize(messages[m].recipients.size());
        for (SmtpRecipientResult& r : refused.messages[m].recipients)
          r.verdict.transport = TransportFailure::connection_lost;
      }
      done(std::move(refused));
      return;
    }
    pending_ = std::move(messages);
    done_ = std::move(done);
    wake();
  }

  void close_idle() override {
    if (phase_ != Phase::idle || pending_) return;
    close_requested_ = true;
    wake();
  }

 private:
  enum class Outcome { finished, retry_without_tls };
  enum class Phase { busy, idle, closed };
  enum class IdleEnd { batch, quit, hung_up };

  // ---- batches and idling -----------------------------------------------------------------

  void prepare_results() {
    result_ = SmtpSessionResult{};
    result_.messages.resize(request_.messages.size());
    decided_.assign(request_.messages.size(), {});
    for (std::size_t m = 0; m < request_.messages.size(); ++m) {
      result_.messages[m].recipients.resize(request_.messages[m].recipients.size());
      decided_[m].assign(request_.messages[m].recipients.size(), false);
    }
    next_message_ = 0;
    replies_in_batch_ = 0;
    finished_normally_ = false;
  }

  asio::awaitable<void> open_and_send() {
    bool without_tls = request_.tls == TlsPolicy::off;
    for (int attempt = 0; attempt < 2; ++attempt) {
      const Outcome outcome = co_await converse(without_tls);
      if (outcome != Outcome::retry_without_tls) break;
      without_tls = true;
      result_.tls_fallback = true;
      reset_connection();
    }
  }

  [[nodiscard]] bool keepable() const {
    return request_.keep_idle.count() > 0 && finished_normally_ && connected_ && !result_.failure &&
           !result_.session_reply && !closing_ && !close_requested_;
  }

  // Hands the batch's result to its owner; with `keep`, the connection goes with it, idle.
  void report(bool keep) {
    for (const SmtpMessageResult& message : result_.messages) {
      if (message.attempted) ++messages_used_;
    }
    std::function<void(SmtpSessionResult)> done = std::move(done_);
    done_ = nullptr;
    SmtpSessionResult out = std::move(result_);
    result_ = SmtpSessionResult{};
    phase_ = keep ? Phase::idle : Phase::closed;
    if (keep) out.connection = shared_from_this();
    if (done) done(std::move(out));
  }

  // Waits for the next batch, close_idle(), the end of keep_idle, or the server: anything it
  // sends while no command is outstanding (a 421 before it hangs up, or the end of the stream)
  // ends the connection. The wait only polls readability, so nothing is consumed.
  asio::awaitable<IdleEnd> wait_idle() {
    if (!pending_ && !close_requested_) {
      boost::system::error_code ec;
      waiting_idle_ = true;
      arm(request_.keep_idle);
      co_await socket_.async_wait(tcp::socket::wait_read,
                                  asio::redirect_error(asio::use_awaitable, ec));
      waiting_idle_ = false;
      const bool timed_out = disarm();
      if (!ec && !timed_out && !pending_ && !close_requested_) {
        phase_ = Phase::closed;
        connected_ = false;
        co_return IdleEnd::hung_up;
      }
    }
    if (pending_) {
      phase_ = Phase::busy;
      co_return IdleEnd::batch;
    }
    phase_ = Phase::closed;
    co_return IdleEnd::quit;
  }

  void wake() {
    if (!waiting_idle_) return;
    boost::system::error_code ignored;
    socket_.cancel(ignored);
  }

  void begin_batch() {
    request_.messages = std::move(*pending_);
    pending_.reset();
    prepare_results();
    result_.endpoint = endpoint_;
    result_.tls = tls_.has_value();
    result_.tls_fallback = tls_fallback_;
    result_.pipelining = capabilities_.pipelining;
    result_.reused = true;
    result_.earlier_messages = messages_used_;
  }

  // A batch over a kept connection. When no command of it got any reply because the server had
  // closed the connection meanwhile, the result says so: the batch was never seen, so it must
  // not count as the destination's failure, and its owner sends it over a new connection.
  asio::awaitable<void> send_reused() {
    co_await send_messages();
    result_.stale_connection = result_.failure == TransportFailure::connection_lost &&
                               !result_.protocol_error && replies_in_batch_ == 0;
  }

  asio::awaitable<void> send_messages() {
    finished_normally_ = false;
    for (std::size_t m = 0; m < request_.messages.size(); ++m) {
      next_message_ = m;
      if (!co_await transaction(m)) co_return;
    }
    next_message_ = request_.messages.size();
    finished_normally_ = true;
  }

  // ---- the conversation -------------------------------------------------------------------

  asio::awaitable<Outcome> converse(bool without_tls) {
    if (!co_await connect_first_endpoint()) {
      end_session(0);
      co_return Outcome::finished;
    }
    stage_ = SmtpStage::greeting;
    auto greeting = co_await read_reply(request_.timeouts.greeting);
    if (!greeting) {
      end_session(0);
      co_return Outcome::finished;
    }
    if (greeting->code != 220) {
      reject_session(*greeting, SmtpStage::greeting);
      co_await quit();
      co_return Outcome::finished;
    }
    if (!co_await hello()) co_return Outcome::finished;

    if (request_.tls != TlsPolicy::off) {
      if (!capabilities_.starttls || without_tls) {
        if (request_.tls == TlsPolicy::required) {
          fail(TransportFailure::tls_failure, SmtpStage::ehlo, "STARTTLS not offered");
          end_session(0);
          co_await quit();
          co_return Outcome::finished;
        }
      } else {
        const TlsStep step = co_await starttls();
        if (step == TlsStep::failed) {
          end_session(0);
          co_return Outcome::finished;
        }
        if (step == TlsStep::retry_plain) co_return Outcome::retry_without_tls;
        if (step == TlsStep::active && !co_await hello()) co_return Outcome::finished;
      }
    }
    result_.pipelining = capabilities_.pipelining;
    tls_fallback_ = result_.tls_fallback;
    co_await send_messages();
    co_return Outcome::finished;
  }

  // EHLO, and HELO when EHLO gets a 5xx. False: the session is over (decided).
  asio::awaitable<bool> hello() {
    stage_ = SmtpStage::ehlo;
    if (!co_await send(ehlo_command(request_.client_name).line, request_.timeouts.ehlo)) {
      end_session(0);
      co_return false;
    }
    auto reply = co_await read_reply(request_.timeouts.ehlo);
    if (!reply) {
      end_session(0);
      co_return false;
    }
    if (reply->code == 250) {
      capabilities_ = parse_ehlo_capabilities(*reply).capabilities;
      co_return true;
    }
    if (is_permanent(*reply)) {
      if (!co_await send(helo_command(request_.client_name).line, request_.timeouts.ehlo)) {
        end_session(0);
        co_return false;
      }
      reply = co_await read_reply(request_.timeouts.ehlo);
      if (!reply) {
        end_session(0);
        co_return false;
      }
      if (reply->code == 250) {
        capabilities_ = EhloCapabilities{};
        co_return true;
      }
    }
    reject_session(*reply, SmtpStage::ehlo);
    co_await quit();
    co_return false;
  }

  enum class TlsStep { active, plain, retry_plain, failed };

  asio::awaitable<TlsStep> starttls() {
    stage_ = SmtpStage::starttls;
    const bool required = request_.tls == TlsPolicy::required;
    if (!co_await send(kSmtpStarttlsCommand, request_.timeouts.starttls)) co_return TlsStep::failed;
    auto reply = co_await read_reply(request_.timeouts.starttls);
    if (!reply) co_return TlsStep::failed;
    if (reply->code != 220) {
      if (!required) co_return TlsStep::plain;
      fail(TransportFailure::tls_failure, SmtpStage::starttls,
           "STARTTLS refused: " + to_log_text(*reply));
      co_await quit();
      co_return TlsStep::failed;
    }
    // RFC 3207 §5: anything the server sent after its 220 came before TLS and must not be read
    // as if it came through it (the STARTTLS command-injection attacks).
    if (parser_.unparsed_bytes() != 0) {
      fail(TransportFailure::tls_failure, SmtpStage::starttls,
           "server sent data after its STARTTLS reply");
      co_return TlsStep::failed;
    }
    tls_.emplace(socket_, client_tls_context());
    boost::system::error_code ec;
    arm(request_.timeouts.starttls);
    co_await tls_->async_handshake(asio::ssl::stream_base::client,
                                   asio::redirect_error(asio::use_awaitable, ec));
    const bool timed_out = disarm();
    if (ec) {
      if (!required) co_return TlsStep::retry_plain;
      fail(TransportFailure::tls_failure, SmtpStage::starttls,
           std::string("TLS handshake failed: ") + (timed_out ? "timeout" : ec.message()));
      co_return TlsStep::failed;
    }
    result_.tls = true;
    parser_ = SmtpReplyParser{};
    capabilities_ = EhloCapabilities{};
    co_return TlsStep::active;
  }

  // One message. False: the session is over (every affected recipient decided).
  asio::awaitable<bool> transaction(std::size_t m) {
    SmtpMessage& message = request_.messages[m];
    SmtpMessageResult& out = result_.messages[m];

    const SmtpCommandLine mail =
        mail_from_command(message.sender, message.parameters, capabilities_);
    if (!mail.ok()) {
      decide_pending(m, local_verdict(status_for_command_error(mail.error, true)));
      co_return true;
    }
    std::vector<std::size_t> sent;  // recipient indexes whose RCPT goes out, in order
    std::string batch = mail.line;
    std::vector<std::string> rcpt_lines;
    for (std::size_t r = 0; r < message.recipients.size(); ++r) {
      SmtpCommandLine rcpt = rcpt_to_command(message.recipients[r].address,
                                             message.recipients[r].parameters, capabilities_);
      if (!rcpt.ok()) {
        decide(m, r, local_verdict(status_for_command_error(rcpt.error, false)));
        continue;
      }
      sent.push_back(r);
      rcpt_lines.push_back(std::move(rcpt.line));
    }
    if (sent.empty()) co_return true;

    if (need_rset_ && !co_await rset()) co_return false;

    const bool pipelined = capabilities_.pipelining;
    stage_ = SmtpStage::mail_from;
    out.attempted = true;
    if (pipelined) {
      for (const std::string& line : rcpt_lines)
        batch += line;
      batch += kSmtpDataCommand;
      if (!co_await send(batch, request_.timeouts.mail)) co_return lost(m);
    } else if (!co_await send(mail.line, request_.timeouts.mail)) {
      co_return lost(m);
    }

    auto mail_reply = co_await read_reply(request_.timeouts.mail);
    if (!mail_reply) co_return lost(m);
    out.mail_reply = to_smtp_status(*mail_reply);
    const bool mail_ok = is_positive(*mail_reply);

    std::size_t accepted = 0;
    stage_ = SmtpStage::rcpt_to;
    for (std::size_t i = 0; i < sent.size(); ++i) {
      if (!pipelined) {
        if (!mail_ok) break;
        if (!co_await send(rcpt_lines[i], request_.timeouts.rcpt)) co_return lost(m);
      }
      auto reply = co_await read_reply(request_.timeouts.rcpt);
      if (!reply) co_return lost(m);
      SmtpRecipientResult& rr = out.recipients[sent[i]];
      rr.rcpt_reply = to_smtp_status(*reply);
      if (!mail_ok) continue;  // decided by the MAIL reply below
      if (is_positive(*reply)) {
        ++accepted;
      } else {
        decide(m, sent[i], reply_verdict(*reply, SmtpStage::rcpt_to));
      }
    }
    if (!mail_ok) decide_pending(m, reply_verdict(*mail_reply, SmtpStage::mail_from));

    stage_ = SmtpStage::data;
    std::optional<SmtpReply> data_reply;
    if (pipelined) {
      // DATA went out with the batch; its reply comes whatever happened before.
      data_reply = co_await read_reply(request_.timeouts.data_init);
      if (!data_reply) co_return lost(m);
    } else if (mail_ok && accepted > 0) {
      if (!co_await send(kSmtpDataCommand, request_.timeouts.data_init)) co_return lost(m);
      data_reply = co_await read_reply(request_.timeouts.data_init);
      if (!data_reply) co_return lost(m);
    }
    if (data_reply) out.data_reply = to_smtp_status(*data_reply);

    if (!mail_ok || accepted == 0 || !data_reply || data_reply->code != 354) {
      if (data_reply && data_reply->code == 354) {
        // A server that says 354 with no recipient accepted: end the empty message at once.
        stage_ = SmtpStage::data_end;
        if (!co_await send(".\r\n", request_.timeouts.data_block)) co_return lost(m);
        if (!co_await read_reply(request_.timeouts.data_end)) co_return lost(m);
      } else if (data_reply && mail_ok && accepted > 0) {
        decide_pending(m, reply_verdict(*data_reply, SmtpStage::data));
      }
      // No content went out: reset the transaction before the next (when every recipient was
      // refused this is the RSET instead of DATA; RFC 2920 lets a pipelined DATA fail then).
      need_rset_ = true;
      if (closing_) {
        end_with_reply(m + 1, *closing_, stage_);
        co_return false;
      }
      co_return true;
    }

    stage_ = SmtpStage::data_end;
    if (!co_await stream_content(m)) co_return false;
    auto final_reply = co_await read_reply(request_.timeouts.data_end);
    if (!final_reply) co_return lost(m);
    out.data_end_reply = to_smtp_status(*final_reply);
    decide_pending(m, reply_verdict(*final_reply, SmtpStage::data_end));
    ++result_.transactions;
    need_rset_ = false;
    if (closing_) {
      end_with_reply(m + 1, *closing_, SmtpStage::data_end);
      co_return false;
    }
    co_return true;
  }

  // The content, through the encoder, in writes of about kDataWriteBytes.
  asio::awaitable<bool> stream_content(std::size_t m) {
    SmtpMessage& message = request_.messages[m];
    SmtpDataEncoder encoder;
    std::string buffer;
    buffer.reserve(kDataWriteBytes + 1024);
    const ContentLineEmitter emit = [&](std::string_view line) {
      encoder.append_line(line, buffer);
    };
    for (;;) {
      const ContentStep step = message.content ? message.content(emit) : ContentStep::done;
      if (step == ContentStep::failed) {
        // Sending "." now would deliver a truncated message: drop the connection instead.
        result_.messages[m].content_failed = true;
        fail(TransportFailure::connection_lost, SmtpStage::data_end,
             "message content could not be read; connection dropped");
        end_session(m);
        co_return false;
      }
      if (step == ContentStep::done) encoder.finish(buffer);
      if (buffer.size() >= kDataWriteBytes || step == ContentStep::done) {
        if (!co_await send(buffer, request_.timeouts.data_block)) co_return lost(m);
        buffer.clear();
      }
      if (step == ContentStep::done) co_return true;
    }
  }

  asio::awaitable<bool> rset() {
    stage_ = SmtpStage::rset;
    if (!co_await send(kSmtpRsetCommand, request_.timeouts.rset)) co_return lost(next_message_);
    auto reply = co_await read_reply(request_.timeouts.rset);
    if (!reply) co_return lost(next_message_);
    if (!is_positive(*reply)) {
      // A server that cannot reset cannot take the next transaction either.
      reject_session(*reply, SmtpStage::rset);
      co_await quit();
      co_return false;
    }
    need_rset_ = false;
    co_return true;
  }

  // Best effort: a failing QUIT changes no outcome.
  asio::awaitable<void> quit() {
    if (!connected_) co_return;
    stage_ = SmtpStage::quit;
    const std::optional<TransportFailure> failure = result_.failure;
    const std::string detail = result_.failure_detail;
    const SmtpStage failed_stage = result_.failure_stage;
    if (co_await send(kSmtpQuitCommand, request_.timeouts.quit)) {
      (void)co_await read_reply(request_.timeouts.quit);
    }
    result_.failure = failure;
    result_.failure_detail = detail;
    result_.failure_stage = failed_stage;
    connected_ = false;
  }

  // ---- I/O with timeouts ------------------------------------------------------------------

  asio::awaitable<bool> connect_first_endpoint() {
    std::string details;
    bool any_timeout = false;
    for (std::size_t i = 0; i < request_.endpoints.size(); ++i) {
      const SmtpEndpoint& endpoint = request_.endpoints[i];
      boost::system::error_code ec;
      const asio::ip::address address = asio::ip::make_address(endpoint.address, ec);
      const std::string name = endpoint.address + ":" + std::to_string(endpoint.port);
      if (ec) {
        details += (details.empty() ? "" : "; ") + name + ": bad address";
        continue;
      }
      reset_connection();
      arm(request_.timeouts.connect);
      co_await socket_.async_connect(tcp::endpoint(address, endpoint.port),
                                     asio::redirect_error(asio::use_awaitable, ec));
      const bool timed_out = disarm();
      if (!ec) {
        result_.endpoint = i;
        endpoint_ = i;
        connected_ = true;
        co_return true;
      }
      any_timeout = any_timeout || timed_out;
      details += (details.empty() ? "" : "; ") + name + ": " +
                 (timed_out ? std::string("timeout") : ec.message());
    }
    fail(any_timeout ? TransportFailure::connect_timeout : TransportFailure::connect_refused,
         SmtpStage::greeting,
         "connect: " + (details.empty() ? std::string("no endpoints") : details));
    co_return false;
  }

  asio::awaitable<bool> send(std::string_view bytes, Ms timeout) {
    boost::system::error_code ec;
    arm(timeout);
    if (tls_) {
      co_await asio::async_write(*tls_, asio::buffer(bytes.data(), bytes.size()),
                                 asio::redirect_error(asio::use_awaitable, ec));
    } else {
      co_await asio::async_write(socket_, asio::buffer(bytes.data(), bytes.size()),
                                 asio::redirect_error(asio::use_awaitable, ec));
    }
    const bool timed_out = disarm();
    if (ec) {
      fail_io(timed_out, ec, "write");
      co_return false;
    }
    co_return true;
  }

  // The next complete reply, or nothing when the session failed (result_.failure says why).
  asio::awaitable<std::optional<SmtpReply>> read_reply(Ms timeout) {
    arm(timeout);
    for (;;) {
      SmtpReplyParseStep step = parser_.next();
      if (step.status == SmtpReplyStatus::reply) {
        disarm();
        ++replies_in_batch_;
        if (step.reply.code == 421) closing_ = step.reply;
        co_return std::move(step.reply);
      }
      if (step.status == SmtpReplyStatus::protocol_error) {
        disarm();
        result_.protocol_error = true;
        fail(TransportFailure::connection_lost, stage_, "protocol error: " + step.error);
        co_return std::nullopt;
      }
      boost::system::error_code ec;
      std::size_t n = 0;
      if (tls_) {
        n = co_await tls_->async_read_some(asio::buffer(read_buffer_),
                                           asio::redirect_error(asio::use_awaitable, ec));
      } else {
        n = co_await socket_.async_read_some(asio::buffer(read_buffer_),
                                             asio::redirect_error(asio::use_awaitable, ec));
      }
      if (ec) {
        const bool timed_out = disarm();
        fail_io(timed_out, ec, "read");
        co_return std::nullopt;
      }
      parser_.feed(std::string_view(read_buffer_.data(), n));
    }
  }

  void arm(Ms timeout) {
    timed_out_ = false;
    const std::uint64_t generation = ++generation_;
    timer_.expires_after(timeout);
    timer_.async_wait([self = shared_from_this(), generation](boost::system::error_code ec) {
      if (ec || generation != self->generation_) return;
      self->timed_out_ = true;
      boost::system::error_code ignored;
      self->socket_.cancel(ignored);
    });
  }

  // Stops the race; true when the timer had already won it.
  bool disarm() {
    ++generation_;
    timer_.cancel();
    return timed_out_;
  }

  void reset_connection() {
    boost::system::error_code ignored;
    tls_.reset();
    socket_.close(ignored);
    socket_ = tcp::socket(io_);
    parser_ = SmtpReplyParser{};
    capabilities_ = EhloCapabilities{};
    connected_ = false;
    need_rset_ = false;
    closing_.reset();
  }

  void close_socket() {
    boost::system::error_code ignored;
    timer_.cancel();
    tls_.reset();
    socket_.close(ignored);
    connected_ = false;
    phase_ = Phase::closed;
  }

  // ---- results ----------------------------------------------------------------------------

  void fail_io(bool timed_out, const boost::system::error_code& ec, std::string_view what) {
    connected_ = false;
    fail(timed_out ? TransportFailure::read_timeout : TransportFailure::connection_lost, stage_,
         std::string(what) + " in " + std::string(to_string(stage_)) + ": " +
             (timed_out ? std::string("timeout") : ec.message()));
  }

  void fail(TransportFailure failure, SmtpStage stage, std::string detail) {
    if (result_.failure) return;  // the first failure is the one that ended the session
    result_.failure = failure;
    result_.failure_stage = stage;
    result_.failure_detail = std::move(detail);
  }

  // The session failed during message m: it and every later message are decided by the failure.
  bool lost(std::size_t m) {
    end_session(m);
    return false;
  }

  void end_session(std::size_t first) {
    SmtpVerdict verdict;
    verdict.stage = result_.failure_stage;
    verdict.transport = result_.failure.value_or(TransportFailure::connection_lost);
    for (std::size_t m = first; m < request_.messages.size(); ++m) {
      if (decide_pending(m, verdict)) result_.affected_messages.push_back(m);
    }
  }

  // A reply that refuses the whole session (greeting, EHLO, RSET; or a 421) decides every
  // message not yet decided.
  void reject_session(const SmtpReply& reply, SmtpStage stage) {
    result_.session_reply = to_smtp_status(reply);
    end_with_reply(next_message_, reply, stage);
  }

  void end_with_reply(std::size_t first, const SmtpReply& reply, SmtpStage stage) {
    const SmtpVerdict verdict = reply_verdict(reply, stage);
    for (std::size_t m = first; m < request_.messages.size(); ++m) {
      if (decide_pending(m, verdict)) result_.affected_messages.push_back(m);
    }
  }

  static SmtpVerdict reply_verdict(const SmtpReply& reply, SmtpStage stage) {
    SmtpVerdict verdict;
    verdict.reply = to_smtp_status(reply);
    verdict.stage = stage;
    return verdict;
  }

  static SmtpVerdict local_verdict(SmtpStatus status) {
    SmtpVerdict verdict;
    verdict.reply = std::move(status);
    verdict.stage = SmtpStage::mail_from;
    verdict.local = true;
    return verdict;
  }

  void decide(std::size_t m, std::size_t r, SmtpVerdict verdict) {
    if (decided_[m][r]) return;
    decided_[m][r] = true;
    result_.messages[m].recipients[r].verdict = std::move(verdict);
  }

  // Decides every undecided recipient of message m; true when there was one.
  bool decide_pending(std::size_t m, const SmtpVerdict& verdict) {
    bool any = false;
    for (std::size_t r = 0; r < decided_[m].size(); ++r) {
      if (decided_[m][r]) continue;
      decide(m, r, verdict);
      any = true;
    }
    return any;
  }

  asio::io_context& io_;
  SmtpSessionRequest request_;
  std::function<void(SmtpSessionResult)> done_;  // the batch in progress's; empty while idle
  SmtpSessionResult result_;
  std::vector<std::vector<bool>> decided_;  // [message][recipient]

  tcp::socket socket_;
  asio::steady_timer timer_;
  std::optional<asio::ssl::stream<tcp::socket&>> tls_;  // set once STARTTLS succeeded
  std::array<char, 16 * 1024> read_buffer_{};
  SmtpReplyParser parser_;
  EhloCapabilities capabilities_;

  SmtpStage stage_ = SmtpStage::greeting;  // what the I/O in progress belongs to
  std::size_t next_message_ = 0;           // the message in progress
  std::uint64_t generation_ = 0;
  bool timed_out_ = false;
  bool connected_ = false;
  bool need_rset_ = false;            // the last transaction did not end with a final reply
  std::optional<SmtpReply> closing_;  // a 421 came: the server is closing the connection

  Phase phase_ = Phase::busy;
  std::optional<std::vector<SmtpMessage>> pending_;  // the next batch, given while idle
  bool close_requested_ = false;
  bool waiting_idle_ = false;
  bool finished_normally_ = false;  // the batch's every message ran (no failure ended it)
  bool tls_fallback_ = false;
  std::size_t endpoint_ = 0;
  std::size_t messages_used_ = 0;     // messages attempted over this connection
  std::size_t replies_in_batch_ = 0;  // replies read since the batch began
};

}  // namespace

std::string_view to_string(TlsPolicy policy) {
  switch (policy) {
    case TlsPolicy::opportunistic:
      return "opportunistic";
    case TlsPolicy::required:
      return "required";
    case TlsPolicy::off:
      return "off";
  }
  return "unknown";
}

SmtpStatus to_smtp_status(const SmtpReply& reply) {
  SmtpStatus status;
  status.code = reply.code;
  if (reply.enhanced) {
    status.enhanced_class = reply.enhanced->status_class;
    status.subject = reply.enhanced->subject;
    status.detail = reply.enhanced->detail;
  }
  for (std::size_t i = 0; i < reply.lines.size(); ++i) {
    std::string_view line = reply.lines[i];
    if (reply.enhanced) {
      if (auto prefix = parse_enhanced_status_prefix(line);
          prefix && prefix->code == *reply.enhanced) {
        line.remove_prefix(prefix->length);
        while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) {
          line.remove_prefix(1);
        }
      }
    }
    if (i > 0) status.text += ' ';
    status.text += line;
  }
  return status;
}

void start_smtp_session(boost::asio::io_context& io, SmtpSessionRequest request,
                        std::function<void(SmtpSessionResult)> done) {
  if (!ehlo_command(request.client_name).ok()) {
    throw std::invalid_argument("smtp session: invalid client name for EHLO");
  }
  auto session = std::make_shared<Session>(io, std::move(request), std::move(done));
  asio::co_spawn(
      io, [session]() { return session->run(); },
      [session](std::exception_ptr error) {
        if (!error) return;
        try {
          std::rethrow_exception(error);
        } catch (const std::exception& e) {
          session->fail_from_exception(e.what());
        } catch (...) {
          session->fail_from_exception("unknown exception");
        }
      });
}

SmtpSessionResult run_smtp_session(SmtpSessionRequest request) {
  asio::io_context io;
  SmtpSessionResult result;
  start_smtp_session(io, std::move(request), [&result](SmtpSessionResult r) {
    r.connection.reset();  // kept open, it QUITs after keep_idle; no session may outlive `io`
    result = std::move(r);
  });
  io.run();
  return result;
}

std::vector<SmtpSessionResult> run_smtp_batches(SmtpSessionRequest first,
                                                std::vector<std::vector<SmtpMessage>> more) {
  asio::io_context io;
  std::vector<SmtpSessionResult> results;
  SmtpSessionRequest again = first;  // for a batch that needs a new session
  again.messages.clear();
  std::size_t next = 0;
  std::function<void(SmtpSessionResult)> on_done = [&](SmtpSessionResult result) {
    std::shared_ptr<SmtpConnection> connection = std::move(result.connection);
    result.connection.reset();  // no session may outlive `io`
    if (result.stale_connection) {
      // The kept connection had closed: the same batch (never seen) over a new session.
      SmtpSessionRequest request = again;
      request.messages = more[next - 1];
      start_smtp_session(io, std::move(request), on_done);
      return;
    }
    results.push_back(std::move(result));
    if (next == more.size()) {
      if (connection) connection->close_idle();
      return;
    }
    std::vector<SmtpMessage> batch = more[next++];  // a copy, for a stale connection
    if (connection && connection->idle()) {
      connection->next_batch(std::move(batch), on_done);
    } else {
      SmtpSessionRequest request = again;
      request.messages = std::move(batch);
      start_smtp_session(io, std::move(request), on_done);
    }
  };
  start_smtp_session(io, std::move(first), on_done);
  io.run();
  return results;
}

}  // namespace bulkq
