#include "milter/milter_intake.h"

#include <arpa/inet.h>
#include <libmilter/mfapi.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "core/mail_address.h"
#include "core/quoted_text.h"
#include "spool/spool_adapter.h"

namespace bulkq {
namespace {

// The one instance libmilter's C callbacks reach (see the header).
std::atomic<MilterIntake*> g_intake{nullptr};

// Header values kept for the rules are cut here: a rule compares short words, and a 1 MB header
// must not become a 1 MB copy per message.
constexpr std::size_t kMaxKeptHeaderValue = 1024;
constexpr std::size_t kMaxKeptHeaders = 64;

// Replies the MTA does not wait for (protocol 6), where the MTA offers them: bulkq never rejects
// at these stages, so each saved round trip is latency off the client's critical path.
constexpr unsigned long kNoReplySteps = SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_MAIL |
                                        SMFIP_NR_RCPT | SMFIP_NR_HDR | SMFIP_NR_EOH |
                                        SMFIP_NR_DATA | SMFIP_NR_UNKN;
// Steps bulkq has no use for: never sent, never a round trip. The body above all: never copied.
constexpr unsigned long kSkippedSteps =
    SMFIP_NOHELO | SMFIP_NOBODY | SMFIP_NOEOH | SMFIP_NOUNKNOWN | SMFIP_NODATA;
constexpr unsigned long kActions = SMFIF_QUARANTINE | SMFIF_ADDHDRS | SMFIF_SETSYMLIST;

struct Connection {
  unsigned long protocol = 0;  // negotiated SMFIP_* bits
  bool can_divert = false;     // the MTA offered quarantine and header addition
  bool broken = false;         // a callback failed for this message: it is left to the MTA
  std::string client_address;
  // The current message.
  std::string sender;
  std::string sender_domain;
  std::string sasl_login;
  std::vector<std::string> recipients;
  MessageEvidence evidence;

  void reset_message() {
    sender.clear();
    sender_domain.clear();
    sasl_login.clear();
    recipients.clear();
    evidence = {};
    broken = false;
  }
  [[nodiscard]] sfsistat done(unsigned long no_reply_flag) const {
    return (protocol & no_reply_flag) != 0 ? SMFIS_NOREPLY : SMFIS_CONTINUE;
  }
};

Connection* connection_of(SMFICTX* ctx) {
  return static_cast<Connection*>(smfi_getpriv(ctx));
}

MilterIntake* intake() {
  return g_intake.load(std::memory_order_acquire);
}

void log_failure(std::string_view where, const std::exception* e) {
  if (MilterIntake* self = intake()) {
    self->log(LogLevel::error, std::string("milter ") + std::string(where) + ": " +
                                   (e != nullptr ? e->what() : "unknown error") +
                                   "; the message is left to the MTA");
  }
}

// "<a@b>" → "a@b"; the MTA hands addresses over in angle brackets.
std::string strip_brackets(const char* address) {
  if (address == nullptr) return {};
  std::string_view text(address);
  if (text.size() >= 2 && text.front() == '<' && text.back() == '>') {
    text = text.substr(1, text.size() - 2);
  }
  return std::string(text);
}

std::string address_text(const sockaddr* address) {
  if (address == nullptr) return {};
  char buffer[INET6_ADDRSTRLEN] = {};
  if (address->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(address);
    if (inet_ntop(AF_INET, &in->sin_addr, buffer, sizeof buffer) != nullptr) return buffer;
  } else if (address->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address);
    if (inet_ntop(AF_INET6, &in6->sin6_addr, buffer, sizeof buffer) != nullptr) return buffer;
  }
  return {};
}

sfsistat on_negotiate(SMFICTX* ctx, unsigned long actions, unsigned long steps, unsigned long,
                      unsigned long, unsigned long* want_actions, unsigned long* want_steps,
                      unsigned long* want_2, unsigned long* want_3) {
  try {
    auto* connection = connection_of(ctx);
    if (connection == nullptr) {
      connection = new (std::nothrow) Connection;
      // No state: the MTA does not consult bulkq again on this connection (fail open).
      if (connection == nullptr) return SMFIS_REJECT;
      smfi_setpriv(ctx, connection);
    }
    *want_actions = actions & kActions;
    connection->can_divert =
        (*want_actions & (SMFIF_QUARANTINE | SMFIF_ADDHDRS)) == (SMFIF_QUARANTINE | SMFIF_ADDHDRS);
    connection->protocol = steps & (kNoReplySteps | kSkippedSteps);
    *want_steps = connection->protocol;
    *want_2 = 0;
    *want_3 = 0;
    if ((*want_actions & SMFIF_SETSYMLIST) != 0) {
      // The queue id at end-of-message even if milter_end_of_data_macros was emptied (without
      // it the message would be held with no way to know it; shared/MTA-FACTS.md §2).
      char eom_macros[] = "{i}";
      char mail_macros[] = "{auth_authen}";
      smfi_setsymlist(ctx, SMFIM_EOM, eom_macros);
      smfi_setsymlist(ctx, SMFIM_ENVFROM, mail_macros);
    }
    return SMFIS_CONTINUE;
  } catch (const std::exception& e) {
    log_failure("negotiate", &e);
  } catch (...) {
    log_failure("negotiate", nullptr);
  }
  return SMFIS_REJECT;
}

sfsistat on_connect(SMFICTX* ctx, char*, _SOCK_ADDR* address) {
  Connection* connection = connection_of(ctx);
  if (connection == nullptr) return SMFIS_CONTINUE;  // negotiate always sets it
  try {
    connection->client_address = address_text(address);
  } catch (...) {
    connection->client_address.clear();
  }
  return connection->done(SMFIP_NR_CONN);
}

sfsistat on_envfrom(SMFICTX* ctx, char** argv) {
  Connection* connection = connection_of(ctx);
  if (connection == nullptr) return SMFIS_CONTINUE;
  try {
    connection->reset_message();
    connection->sender = strip_brackets(argv != nullptr ? argv[0] : nullptr);
    if (!connection->sender.empty()) {
      SplitAddress split = split_address(connection->sender);
      if (split.ok()) connection->sender_domain = std::move(split.domain);
    }
    if (const char* login = smfi_getsymval(ctx, const_cast<char*>("{auth_authen}"))) {
      connection->sasl_login = login;
    }
  } catch (const std::exception& e) {
    log_failure("MAIL FROM", &e);
    connection->broken = true;
  }
  return connection->done(SMFIP_NR_MAIL);
}

sfsistat on_envrcpt(SMFICTX* ctx, char** argv) {
  Connection* connection = connection_of(ctx);
  if (connection == nullptr) return SMFIS_CONTINUE;
  try {
    if (connection->recipients.size() < kMaxRecipientsPerMessage) {
      connection->recipients.push_back(strip_brackets(argv != nullptr ? argv[0] : nullptr));
    }
  } catch (const std::exception& e) {
    log_failure("RCPT TO", &e);
    connection->broken = true;
  }
  return connection->done(SMFIP_NR_RCPT);
}

sfsistat on_header(SMFICTX* ctx, char* name, char* value) {
  Connection* connection = connection_of(ctx);
  if (connection == nullptr) return SMFIS_CONTINUE;
  try {
    MilterIntake* self = intake();
    if (self != nullptr && name != nullptr && value != nullptr &&
        connection->evidence.headers.size() < kMaxKeptHeaders &&
        is_watched_header(self->gate().rules(), name)) {
      const std::size_t length = strnlen(value, kMaxKeptHeaderValue);
      connection->evidence.headers.push_back({name, std::string(value, length)});
    }
  } catch (const std::exception& e) {
    log_failure("header", &e);
    connection->broken = true;
  }
  return connection->done(SMFIP_NR_HDR);
}

sfsistat on_eom(SMFICTX* ctx) {
  Connection* connection = connection_of(ctx);
  MilterIntake* self = intake();
  if (connection == nullptr || self == nullptr) return SMFIS_CONTINUE;
  try {
    const char* queue_id = smfi_getsymval(ctx, const_cast<char*>("i"));
    MessageEvidence& evidence = connection->evidence;
    evidence.recipient_count = connection->recipients.size();
    evidence.sasl_login = connection->sasl_login;
    evidence.client_address = connection->client_address;
    evidence.sender_domain = connection->sender_domain;
    const std::string id_text = queue_id != nullptr ? queue_id : "";
    const std::string name = id_text.empty() ? "NOQUEUE" : plain_or_quoted(id_text, 40);

    if (connection->broken) {
      self->signals().fail_open_spool.fetch_add(1, std::memory_order_relaxed);
      connection->reset_message();
      return SMFIS_CONTINUE;
    }
    if (!connection->can_divert) {
      // Counted as passed: this MTA connection cannot hold mail, so nothing is diverted.
      self->signals().passed.fetch_add(1, std::memory_order_relaxed);
      return SMFIS_CONTINUE;
    }
    IntakeEnvelope envelope;
    envelope.queue_id = id_text;
    envelope.sender = connection->sender;
    envelope.recipients = connection->recipients;
    envelope.arrived = self->clock().now();
    const IntakeDecision decision = self->gate().submit(evidence, envelope);
    switch (decision.action) {
      case IntakeAction::pass:
        break;
      case IntakeAction::fail_open:
        self->log(LogLevel::warning,
                  name + ": bulk mail not diverted, left to the MTA: " + decision.reason);
        break;
      case IntakeAction::tempfail: {
        self->log(LogLevel::warning,
                  name + ": bulk mail refused for now (451 4.7.1): " + decision.reason);
        std::string code = "451";
        std::string status = "4.7.1";
        std::string text = self->quota_reply();
        // Without the reply the MTA still tempfails, with its own generic text.
        (void)smfi_setreply(ctx, code.data(), status.data(), text.data());
        connection->reset_message();
        return SMFIS_TEMPFAIL;
      }
      case IntakeAction::divert: {
        std::string header_name(kMarkerHeaderName);
        std::string header_value = std::to_string(decision.id);
        if (smfi_addheader(ctx, header_name.data(), header_value.data()) != MI_SUCCESS) {
          self->gate().refund_volume(envelope);
          self->signals().diverted.fetch_sub(1, std::memory_order_relaxed);
          self->signals().fail_open_spool.fetch_add(1, std::memory_order_relaxed);
          self->log(LogLevel::warning,
                    name +
                        ": bulk mail not diverted, left to the MTA: the MTA refused the "
                        "marker header");
          break;
        }
        char reason[] = "bulkq";
        if (smfi_quarantine(ctx, reason) != MI_SUCCESS) {
          self->gate().refund_volume(envelope);
          self->signals().diverted.fetch_sub(1, std::memory_order_relaxed);
          self->signals().fail_open_spool.fetch_add(1, std::memory_order_relaxed);
          self->log(LogLevel::warning, name +
                                           ": bulk mail not diverted, left to the MTA: the "
                                           "MTA refused to hold it");
          break;
        }
        self->log(LogLevel::info,
                  name + ": held for bulkq as message " + header_value + ", from=<" +
                      (connection->sender.empty() ? std::string()
                                                  : plain_or_quoted(connection->sender, 256)) +
                      ">, nrcpt=" + std::to_string(connection->recipients.size()) + " (" +
                      decision.reason + ")");
        break;
      }
    }
  } catch (const std::exception& e) {
    log_failure("end-of-message", &e);
  } catch (...) {
    log_failure("end-of-message", nullptr);
  }
  connection->reset_message();
  return SMFIS_CONTINUE;
}

sfsistat on_abort(SMFICTX* ctx) {
  if (Connection* connection = connection_of(ctx)) connection->reset_message();
  return SMFIS_CONTINUE;
}

sfsistat on_close(SMFICTX* ctx) {
  delete connection_of(ctx);
  smfi_setpriv(ctx, nullptr);
  return SMFIS_CONTINUE;
}

}  // namespace

MilterIntake::MilterIntake(IntakeGate& gate, IntakeSignals& signals, const Clock& clock,
                           MilterLog log)
    : gate_(gate), signals_(signals), clock_(clock), log_(std::move(log)) {}

MilterIntake::~MilterIntake() {
  MilterIntake* self = this;
  g_intake.compare_exchange_strong(self, nullptr);
}

std::string MilterIntake::open(const std::string& socket_spec, uid_t owner, gid_t group) {
  MilterIntake* none = nullptr;
  if (!g_intake.compare_exchange_strong(none, this)) return "a milter is already open";
  smfiDesc description{};
  char name[] = "bulkq";
  description.xxfi_name = name;
  description.xxfi_version = SMFI_VERSION;
  description.xxfi_flags = kActions;
  description.xxfi_connect = on_connect;
  description.xxfi_envfrom = on_envfrom;
  description.xxfi_envrcpt = on_envrcpt;
  description.xxfi_header = on_header;
  description.xxfi_eom = on_eom;
  description.xxfi_abort = on_abort;
  description.xxfi_close = on_close;
  description.xxfi_negotiate = on_negotiate;
  if (smfi_register(description) != MI_SUCCESS) return "libmilter refused the filter description";
  std::string spec = socket_spec;
  if (smfi_setconn(spec.data()) != MI_SUCCESS) return "libmilter refused the socket " + socket_spec;
  smfi_setbacklog(256);
  if (smfi_opensocket(true) != MI_SUCCESS) {
    return "cannot create the milter socket " + socket_spec + " (does its directory exist?)";
  }
  const std::size_t colon = socket_spec.find(':');
  const std::string path = socket_spec.substr(colon + 1);
  socket_path_ = path;
  if (::chown(path.c_str(), owner, group) != 0 && errno != EPERM) {
    return "cannot chown the milter socket " + path + ": " + std::generic_category().message(errno);
  }
  if (::chmod(path.c_str(), 0660) != 0) {
    return "cannot chmod the milter socket " + path + ": " + std::generic_category().message(errno);
  }
  return {};
}

int MilterIntake::run() {
  return smfi_main();
}

void MilterIntake::stop() {
  // libmilter's listener holds its lock while it waits up to 5 s (MI_CHK_TIME) for a connection,
  // and smfi_stop() needs that lock to close the socket: left alone, every stop takes 5 s. A
  // connection of our own wakes the listener, which then sees the stop request and returns.
  std::atomic<bool> stopped{false};
  std::thread stopper([&stopped] {
    smfi_stop();
    stopped.store(true);
  });
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const bool can_nudge = !socket_path_.empty() && socket_path_.size() < sizeof address.sun_path;
  if (can_nudge) std::memcpy(address.sun_path, socket_path_.c_str(), socket_path_.size() + 1);
  for (int attempt = 0; can_nudge && attempt < 200 && !stopped.load(); ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) break;
    (void)::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address);
    ::close(fd);
  }
  stopper.join();
}

}  // namespace bulkq
