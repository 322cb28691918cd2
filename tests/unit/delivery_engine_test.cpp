#include "delivery/delivery_engine.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/message_builder.h"
#include "fakes/fake_bounce_sender.h"
#include "fakes/fake_clock.h"
#include "fakes/fake_delivery_routes.h"
#include "fakes/fake_journal.h"
#include "fakes/fake_smtp_sessions.h"
#include "fakes/fake_spool.h"
#include "journal/journal_record.h"
#include "shaping/token_bucket.h"

using namespace bulkq;
using namespace std::chrono_literals;
using bulkq::testing::FakeBounceSender;
using bulkq::testing::FakeClock;
using bulkq::testing::FakeDeliveryRoutes;
using bulkq::testing::FakeJournal;
using bulkq::testing::FakeSmtpSessions;
using bulkq::testing::FakeSpool;

namespace {

// FakeJournal and FakeSpool with every write noted in one shared list, so a test can check the
// order of journal commits and spool removals.
class RecordingJournal final : public Journal {
 public:
  explicit RecordingJournal(std::vector<std::string>& events) : events_(events) {}
  FakeJournal inner;

  JournalStatus begin_batch() override {
    events_.emplace_back("journal.begin");
    return inner.begin_batch();
  }
  JournalStatus put(MessageId id, const JournalRecord& record) override {
    events_.push_back("journal.put:" + std::to_string(id));
    return inner.put(id, record);
  }
  JournalStatus set_finished(MessageId id, std::span<const RecipientIndex> recipients) override {
    std::string event = "journal.set_finished:" + std::to_string(id) + ":";
    for (RecipientIndex r : recipients)
      event += std::to_string(r);
    events_.push_back(event);
    return inner.set_finished(id, recipients);
  }
  JournalStatus remove(MessageId id) override {
    events_.push_back("journal.remove:" + std::to_string(id));
    return inner.remove(id);
  }
  JournalStatus commit_batch() override {
    events_.emplace_back("journal.commit");
    return inner.commit_batch();
  }
  void abort_batch() override { inner.abort_batch(); }
  JournalStatus walk(const std::function<void(const JournalEntry&)>& visit) override {
    return inner.walk(visit);
  }
  HighestIdResult highest_id() override { return inner.highest_id(); }
  JournalStatus sync_if_due(TimePoint now) override { return inner.sync_if_due(now); }
  JournalStatus health() const override { return inner.health(); }

 private:
  std::vector<std::string>& events_;
};

class RecordingSpool final : public SpoolAdapter {
 public:
  explicit RecordingSpool(std::vector<std::string>& events) : events_(events) {}
  FakeSpool inner;

  HeldFileCheck check(std::string_view queue_id) override { return inner.check(queue_id); }
  HeldEnvelopeResult read_envelope(std::string_view queue_id) override {
    return inner.read_envelope(queue_id);
  }
  SpoolResult stream_message(std::string_view queue_id,
                             const std::function<void(std::string_view)>& on_line) override {
    return inner.stream_message(queue_id, on_line);
  }
  HeldMessageOpenResult open_message(std::string_view queue_id) override {
    return inner.open_message(queue_id);
  }
  SpoolResult remove(std::string_view queue_id) override {
    events_.push_back("spool.remove:" + std::string(queue_id));
    return inner.remove(queue_id);
  }
  SpoolResult list_held(const std::function<void(std::string_view)>& visit) override {
    return inner.list_held(visit);
  }

 private:
  std::vector<std::string>& events_;
};

struct LogLine {
  LogLevel level;
  std::string text;
};

struct Harness {
  explicit Harness(DeliveryEngineOptions options = {}, SchedulerLimits limits = {})
      : scheduler(clock, limits),
        engine(
            clock, scheduler, journal, spool, routes, sessions.starter(), bounces,
            std::move(options),
            [this](LogLevel level, std::string_view text) {
              logs.push_back(LogLine{level, std::string(text)});
            },
            [this](std::string_view lines) {
              // One call per session: whole lines, each ending in '\n'.
              REQUIRE(!lines.empty());
              REQUIRE(lines.back() == '\n');
              while (!lines.empty()) {
                const std::size_t end = lines.find('\n');
                accounting.emplace_back(lines.substr(0, end));
                lines.remove_prefix(end + 1);
              }
            }) {}

  // Admits a message (scheduler), holds its file (spool) and stores its record (journal).
  MessageIndex add(MessageId id, const std::string& sender,
                   const std::vector<std::string>& recipients) {
    const std::string queue_id = "Q" + std::to_string(id);
    MessageBuilder builder(MtaKind::postfix, queue_id, sender, clock.now());
    HeldEnvelope envelope;
    envelope.queue_id = queue_id;
    envelope.sender = sender;
    for (const std::string& r : recipients) {
      REQUIRE(builder.add_recipient(r).empty());
      envelope.recipients.push_back(HeldRecipient{r, false});
    }
    BuildResult built = builder.build(id);
    REQUIRE(built.ok());
    const MessageIndex m = scheduler.admit(std::move(*built.message));
    spool.inner.hold(envelope);
    REQUIRE(journal.inner.begin_batch().ok());
    REQUIRE(journal.inner.put(id, make_journal_record(scheduler.messages()[m])).ok());
    REQUIRE(journal.inner.commit_batch().ok());
    return m;
  }

  [[nodiscard]] bool journal_has(MessageId id) const {
    return journal.inner.committed().count(id) != 0;
  }
  [[nodiscard]] JournalRecord journal_record(MessageId id) const {
    DecodedJournalRecord decoded = decode_journal_record(journal.inner.committed().at(id));
    REQUIRE(decoded.ok());
    return decoded.record;
  }
  [[nodiscard]] std::vector<std::string> log_lines_with(std::string_view text) const {
    std::vector<std::string> out;
    for (const LogLine& line : logs) {
      if (line.text.find(text) != std::string::npos) out.push_back(line.text);
    }
    return out;
  }
  [[nodiscard]] std::vector<std::string> accounting_with(std::string_view text) const {
    std::vector<std::string> out;
    for (const std::string& line : accounting) {
      if (line.find(text) != std::string::npos) out.push_back(line);
    }
    return out;
  }

  FakeClock clock;
  std::vector<std::string> events;
  RecordingJournal journal{events};
  RecordingSpool spool{events};
  Scheduler scheduler;
  FakeDeliveryRoutes routes;
  FakeSmtpSessions sessions;
  FakeBounceSender bounces;
  std::vector<LogLine> logs;
  std::vector<std::string> accounting;
  DeliveryEngine engine;
};

SmtpVerdict reply(int code, SmtpStage stage = SmtpStage::rcpt_to, std::string text = "ok") {
  return FakeSmtpSessions::reply(code, stage, std::move(text));
}

std::string domain_of(const SmtpSessionRequest& request) {
  const std::string& address = request.messages.at(0).recipients.at(0).address;
  return address.substr(address.find('@') + 1);
}

}  // namespace

TEST_CASE("delivery: all 2xx commits the bits once, then removes the files, then the records",
          "[delivery][engine]") {
  Harness h;
  h.add(1, "sender@example.org", {"a@x.test", "b@x.test"});
  h.add(2, "other@example.org", {"c@x.test"});
  h.events.clear();

  REQUIRE(h.engine.pump());
  REQUIRE(h.sessions.open() == 1);
  const SmtpSessionRequest& request = h.sessions.request(0);
  REQUIRE(request.endpoints.size() == 1);
  CHECK(request.endpoints[0].address == "127.0.0.5");
  CHECK(request.endpoints[0].port == 25);
  CHECK(request.client_name == "localhost");
  REQUIRE(request.messages.size() == 2);
  CHECK(request.messages[0].sender == "sender@example.org");
  REQUIRE(request.messages[0].recipients.size() == 2);
  CHECK(request.messages[0].recipients[0].address == "a@x.test");
  CHECK(request.messages[0].recipients[1].address == "b@x.test");
  CHECK(request.messages[1].sender == "other@example.org");
  REQUIRE(request.messages[1].recipients.size() == 1);
  CHECK(request.messages[1].recipients[0].address == "c@x.test");
  // The content is streamed from the held file.
  std::vector<std::string> content;
  CHECK(request.messages[0].content([&](std::string_view line) { content.emplace_back(line); }) ==
        ContentStep::done);
  CHECK(content == std::vector<std::string>{"Subject: test", "", "body"});
  CHECK(h.engine.sessions_open() == 1);
  CHECK(h.engine.counters().sessions_open == 1);
  CHECK(h.events.empty());  // nothing is written before the outcome

  h.sessions.complete_all(0, 250, SmtpStage::data_end, "2.0.0 Ok: queued");

  const std::vector<std::string> expected{
      "journal.begin",  "journal.set_finished:1:01", "journal.set_finished:2:0",
      "journal.commit", "spool.remove:Q1",           "spool.remove:Q2",
      "journal.begin",  "journal.remove:1",          "journal.remove:2",
      "journal.commit"};
  CHECK(h.events == expected);
  CHECK_FALSE(h.journal_has(1));
  CHECK_FALSE(h.journal_has(2));
  CHECK_FALSE(h.spool.inner.has("Q1"));
  CHECK_FALSE(h.spool.inner.has("Q2"));
  CHECK(h.scheduler.queues().queue_count() == 0);
  CHECK(h.scheduler.queues().queued_recipients() == 0);
  CHECK(h.scheduler.queues().in_flight_recipients() == 0);
  CHECK(h.scheduler.messages().size() == 0);
  CHECK(h.engine.sessions_open() == 0);
  CHECK(h.bounces.attempts() == 0);

  const DeliveryCounters c = h.engine.counters();
  CHECK(c.sessions_open == 0);
  CHECK(c.connections == 1);
  CHECK(c.transactions == 2);
  CHECK(c.sent == 3);
  CHECK(c.deferred == 0);
  CHECK(c.bounced == 0);
  CHECK(c.dropped == 0);
  CHECK(c.waiting_retry == 0);
  CHECK(h.engine.next_due() == TimePoint::max());
  CHECK_FALSE(h.engine.pump());
}

TEST_CASE("delivery: log lines and accounting lines, one per recipient outcome",
          "[delivery][engine]") {
  Harness h;
  h.add(1, "sender@example.org", {"a@x.test", "b@x.test", "c@x.test"});
  REQUIRE(h.engine.pump());
  h.clock.advance(420ms);
  h.sessions.complete_with(0, [](std::size_t, const SmtpRecipient& r) {
    if (r.address == "a@x.test") return reply(250, SmtpStage::data_end, "Ok");
    if (r.address == "b@x.test") return reply(450, SmtpStage::rcpt_to, "mailbox busy");
    return reply(550, SmtpStage::rcpt_to, "no such user");
  });

  const auto sent = h.log_lines_with("status=sent");
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].rfind("Q1: to=<a@x.test>, relay=mx.x.test[127.0.0.5]:25, ", 0) == 0);
  CHECK(sent[0].find("delay=0.42") != std::string::npos);
  CHECK(sent[0].find("dsn=2.0.0, status=sent (250 2.0.0 Ok") != std::string::npos);

  const auto deferred = h.log_lines_with("status=deferred");
  REQUIRE(deferred.size() == 1);
  CHECK(deferred[0].rfind("Q1: to=<b@x.test>, relay=mx.x.test[127.0.0.5]:25, ", 0) == 0);
  CHECK(deferred[0].find("dsn=4.1.1, status=deferred (450 4.1.1 mailbox busy (in reply to RCPT "
                         "TO command))") != std::string::npos);

  const auto bounced = h.log_lines_with("status=bounced");
  REQUIRE(bounced.size() == 1);
  CHECK(bounced[0].rfind("Q1: to=<c@x.test>, ", 0) == 0);
  CHECK(bounced[0].find("dsn=5.1.1, status=bounced (550 5.1.1 no such user") != std::string::npos);

  REQUIRE(h.accounting.size() == 3);
  CHECK(h.accounting_with("\"status\":\"sent\"").size() == 1);
  CHECK(h.accounting_with("\"status\":\"deferred\"").size() == 1);
  CHECK(h.accounting_with("\"status\":\"bounced\"").size() == 1);
  const auto a = h.accounting_with("\"recipient\":\"a@x.test\"");
  REQUIRE(a.size() == 1);
  CHECK(a[0].find("\"queue_id\":\"Q1\"") != std::string::npos);
  CHECK(a[0].find("\"bulkq_id\":1") != std::string::npos);
  CHECK(a[0].find("\"sender\":\"sender@example.org\"") != std::string::npos);
  CHECK(a[0].find("\"domain\":\"x.test\"") != std::string::npos);
  CHECK(a[0].find("\"relay\":\"mx.x.test[127.0.0.5]:25\"") != std::string::npos);
  CHECK(a[0].find("\"attempts\":1") != std::string::npos);

  const DeliveryCounters c = h.engine.counters();
  CHECK(c.sent == 1);
  CHECK(c.deferred == 1);
  CHECK(c.bounced == 1);
  CHECK(c.dsn_sent == 1);
  CHECK(c.waiting_retry == 1);
  CHECK(c.transactions == 1);
  CHECK(c.connections == 1);
}

TEST_CASE("delivery: a recipient's 450 waits out its own retry delay, then is sent",
          "[delivery][engine]") {
  Harness h;
  const MessageIndex m = h.add(1, "sender@example.org", {"a@x.test", "b@x.test"});
  REQUIRE(h.engine.pump());
  h.sessions.complete_with(0, [](std::size_t, const SmtpRecipient& r) {
    return r.address == "a@x.test" ? reply(250, SmtpStage::data_end)
                                   : reply(450, SmtpStage::rcpt_to, "greylisted");
  });

  // a's bit is committed; b is neither finished nor queued.
  REQUIRE(h.journal_has(1));
  const JournalRecord record = h.journal_record(1);
  CHECK(record.finished(0));
  CHECK_FALSE(record.finished(1));
  CHECK(h.spool.inner.has("Q1"));
  CHECK(h.spool.inner.removed().empty());
  CHECK(h.scheduler.messages()[m].finished(0));
  CHECK_FALSE(h.scheduler.messages()[m].finished(1));
  CHECK(h.scheduler.queues().find("x.test") == nullptr);
  CHECK(h.scheduler.queues().queued_recipients() == 0);
  CHECK(h.engine.counters().deferred == 1);
  CHECK(h.engine.counters().waiting_retry == 1);

  // First retry: RetryPolicy base 5 min, equal jitter: in [2.5 min, 5 min].
  const TimePoint due = h.engine.next_due();
  CHECK(due >= h.clock.now() + 150s);
  CHECK(due <= h.clock.now() + 300s);

  CHECK_FALSE(h.engine.pump());
  h.clock.set(due - 1ms);
  CHECK_FALSE(h.engine.pump());
  CHECK(h.sessions.open() == 0);
  CHECK(h.scheduler.queues().find("x.test") == nullptr);

  h.clock.set(due);
  REQUIRE(h.engine.pump());
  CHECK(h.engine.counters().waiting_retry == 0);
  REQUIRE(h.sessions.open() == 1);
  REQUIRE(h.sessions.request(0).messages.size() == 1);
  REQUIRE(h.sessions.request(0).messages[0].recipients.size() == 1);
  CHECK(h.sessions.request(0).messages[0].recipients[0].address == "b@x.test");

  h.sessions.complete_all(0, 250, SmtpStage::data_end);
  CHECK_FALSE(h.journal_has(1));
  CHECK_FALSE(h.spool.inner.has("Q1"));
  CHECK(h.scheduler.messages().size() == 0);
  CHECK(h.scheduler.queues().queue_count() == 0);
  const auto b = h.accounting_with("\"recipient\":\"b@x.test\"");
  REQUIRE(b.size() == 2);
  CHECK(b[0].find("\"status\":\"deferred\"") != std::string::npos);
  CHECK(b[0].find("\"attempts\":1") != std::string::npos);
  CHECK(b[1].find("\"status\":\"sent\"") != std::string::npos);
  CHECK(b[1].find("\"attempts\":2") != std::string::npos);
  CHECK(h.engine.counters().sent == 2);
}

TEST_CASE("delivery: a 421 greeting puts the recipients back and backs the domain off",
          "[delivery][engine]") {
  Harness h;
  const MessageIndex m = h.add(1, "sender@example.org", {"a@x.test", "b@x.test"});
  REQUIRE(h.engine.pump());
  h.sessions.complete_all(0, 421, SmtpStage::greeting, "too busy");

  const DomainQueue* queue = h.scheduler.queues().find("x.test");
  REQUIRE(queue != nullptr);
  CHECK(queue->size() == 2);
  CHECK(queue->in_flight() == 0);
  // Domain backoff: domain_base 1 min, equal jitter: in [30 s, 60 s].
  const TimePoint until = queue->next_attempt();
  CHECK(until >= h.clock.now() + 30s);
  CHECK(until <= h.clock.now() + 60s);
  CHECK(h.engine.counters().domain_backoffs == 1);
  CHECK(h.engine.counters().deferred == 2);
  CHECK(h.engine.counters().waiting_retry == 0);
  CHECK_FALSE(h.scheduler.messages()[m].finished(0));
  CHECK(h.journal_record(1).finished_count() == 0);
  CHECK(h.log_lines_with("x.test: deferring new connections for").size() == 1);
  CHECK(h.log_lines_with("status=deferred").size() == 2);

  CHECK_FALSE(h.engine.pump());
  h.clock.set(until - 1ms);
  CHECK_FALSE(h.engine.pump());
  CHECK(h.sessions.started() == 1);
  h.clock.set(until);
  REQUIRE(h.engine.pump());
  REQUIRE(h.sessions.open() == 1);
  REQUIRE(h.sessions.request(0).messages.size() == 1);
  CHECK(h.sessions.request(0).messages[0].recipients.size() == 2);
  h.sessions.complete_all(0, 250, SmtpStage::data_end);
  CHECK_FALSE(h.journal_has(1));
  CHECK(h.scheduler.queues().queue_count() == 0);
}

TEST_CASE("delivery: other domains are served while one backs off", "[delivery][engine]") {
  Harness h;
  h.add(1, "sender@example.org", {"a@x.test"});
  REQUIRE(h.engine.pump());
  h.sessions.complete_all(0, 421, SmtpStage::greeting, "too busy");
  h.add(2, "sender@example.org", {"a@y.test"});
  REQUIRE(h.engine.pump());
  REQUIRE(h.sessions.open() == 1);
  CHECK(domain_of(h.sessions.request(0)) == "y.test");
  CHECK_FALSE(h.engine.pump());
}

TEST_CASE("delivery: next_due names the end of a domain backoff", "[delivery][engine]") {
  // "The earliest time a waiting retry or a backing-off queue becomes due."
  Harness h;
  h.add(1, "sender@example.org", {"a@x.test"});
  REQUIRE(h.engine.pump());
  h.sessions.complete_all(0, 421, SmtpStage::greeting, "too busy");
  const DomainQueue* queue = h.scheduler.queues().find("x.test");
  REQUIRE(queue != nullptr);
  CHECK(h.engine.next_due() == queue->next_attempt());
}

TEST_CASE("delivery: a refused connection backs the domain off and keeps the recipients",
          "[delivery][engine]") {
  Harness h;
  h.add(1, "sender@example.org", {"a@x.test"});
  REQUIRE(h.engine.pump());
  h.sessions.fail(0, TransportFailure::connect_refused,
                  "connect to 127.0.0.5:25: Connection refused");

  const DomainQueue* queue = h.scheduler.queues().find("x.test");
  REQUIRE(queue != nullptr);
  CHECK(queue->size() == 1);
  CHECK(queue->next_attempt() > h.clock.now());
  CHECK(h.engine.counters().domain_backoffs == 1);
  CHECK(h.engine.counters().connections == 0);
  CHECK(h.bounces.attempts() == 0);
  CHECK(h.journal_record(1).finished_count() == 0);
  const auto deferred = h.log_lines_with("status=deferred");
  REQUIRE(deferred.size() == 1);
  CHECK(deferred[0].find("relay=none") != std::string::npos);
  CHECK(deferred[0].find("dsn=4.4.1") != std::string::npos);
  CHECK(deferred[0].find("Connection refused") != std::string::npos);
  CHECK_FALSE(h.engine.pump());

  // A second failure in a row: the backoff grows (domain range for 2 failures: [1 min, 2 min]).
  h.clock.set(queue->next_attempt());
  REQUIRE(h.engine.pump());
  h.sessions.fail(0, TransportFailure::connect_timeout, "connect to 127.0.0.5:25: timed out");
  queue = h.scheduler.queues().find("x.test");
  REQUIRE(queue != nullptr);
  CHECK(queue->next_attempt() >= h.clock.now() + 60s);
  CHECK(queue->next_attempt() <= h.clock.now() + 120s);
  CHECK(h.engine.counters().domain_backoffs == 2);
  CHECK(h.log_lines_with("(failure 2 in a row)").size() == 1);
}

TEST_CASE("delivery: a 550 sends a DSN to the original sender and finishes the recipient",
          "[delivery][engine]") {
  Harness h;
  h.add(1, "sender@example.org", {"a@x.test", "b@x.test"});
  REQUIRE(h.engine.pump());
  h.sessions.complete_with(0, [](std::size_t, const SmtpRecipient& r) {
    return r.address == "a@x.test" ? reply(550, SmtpStage::rcpt_to, "no such user")
                                   : reply(250, SmtpStage::data_end);
  });

  REQUIRE(h.bounces.submissions().size() == 1);
  const FakeBounceSender::Submission& dsn = h.bounces.submissions()[0];
  CHECK(dsn.recipient == "sender@example.org");
  CHECK(dsn.contains("Final-Recipient: rfc822; a@x.test"));
  CHECK_FALSE(dsn.contains("b@x.test"));
  CHECK(dsn.contains("Status: 5.1.1"));
  CHECK(dsn.contains("550 5.1.1 no such user"));
  CHECK(dsn.contains("Subject: test"));  // the original headers
  CHECK_FALSE(h.journal_has(1));
  CHECK_FALSE(h.spool.inner.has("Q1"));
  CHECK(h.scheduler.messages().size() == 0);
  const DeliveryCounters c = h.engine.counters();
  CHECK(c.bounced == 1);
  CHECK(c.sent == 1);
  CHECK(c.dsn_sent == 1);
  CHECK(c.dsn_failed == 0);
  CHECK(h.log_lines_with("Q1: sender non-delivery notification for 1 recipient(s)").size() == 1);
}

TEST_CASE("delivery: a DSN that cannot be handed over leaves the recipient to try again",
          "[delivery][engine]") {
  Harness h;
  const MessageIndex m = h.add(1, "sender@example.org", {"a@x.test"});
  h.bounces.fail_with("sendmail exited with status 75");
  REQUIRE(h.engine.pump());
  h.sessions.complete_all(0, 550, SmtpStage::rcpt_to, "no such user");

  CHECK(h.bounces.attempts() == 1);
  CHECK(h.bounces.submissions().empty());
  REQUIRE(h.journal_has(1));
  CHECK_FALSE(h.journal_record(1).finished(0));
  CHECK(h.spool.inner.has("Q1"));
  CHECK_FALSE(h.scheduler.messages()[m].finished(0));
  DeliveryCounters c = h.engine.counters();
  CHECK(c.dsn_failed == 1);
  CHECK(c.dsn_sent == 0);
  CHECK(c.bounced == 0);
  CHECK(c.waiting_retry == 1);
  CHECK(h.log_lines_with("sendmail exited with status 75").size() == 1);
  CHECK(h.engine.next_due() < TimePoint::max());

  h.bounces.heal();
  h.clock.set(h.engine.next_due());
  REQUIRE(h.engine.pump());
  REQUIRE(h.sessions.open() == 1);
  h.sessions.complete_all(0, 550, SmtpStage::rcpt_to, "no such user");
  REQUIRE(h.bounces.submissions().size() == 1);
  CHECK(h.bounces.submissions()[0].contains("a@x.test"));
  CHECK_FALSE(h.journal_has(1));
  CHECK_FALSE(h.spool.inner.has("Q1"));
  c = h.engine.counters();
  CHECK(c.dsn_sent == 1);
  CHECK(c.bounced == 1);
  CHECK(c.waiting_retry == 0);
}

TEST_CASE("delivery: a 5xx for a message from the null sender finishes without a DSN",
          "[delivery][engine]") {
  Harness h;
  h.add(1, "", {"a@x.test"});
  REQUIRE(h.engine.pump());
  CHECK(h.sessions.request(0).messages[0].sender.empty());
  h.sessions.complete_all(0, 550, SmtpStage::rcpt_to, "no such user");
  CHECK(h.bounces.attempts() == 0);
  CHECK_FALSE(h.journal_has(1));
  CHECK_FALSE(h.spool.inner.has("Q1"));
  CHECK(h.engine.counters().bounced == 1);
  CHECK(h.engine.counters().dsn_sent == 0);
  CHECK(h.log_lines_with("status=bounced").size() == 1);
}

TEST_CASE("delivery: NXDOMAIN bounces without a session", "[delivery][engine]") {
  Harness h;
  h.routes.set("x.test", FakeDeliveryRoutes::failure(RouteAnswer::Kind::permanent_failure,
                                                     "x.test: NXDOMAIN"));
  h.add(1, "sender@example.org", {"a@x.test", "b@x.test"});
  h.engine.pump();
  CHECK(h.sessions.started() == 0);
  REQUIRE(h.bounces.submissions().size() == 1);
  const FakeBounceSender::Submission& dsn = h.bounces.submissions()[0];
  CHECK(dsn.recipient == "sender@example.org");
  CHECK(dsn.contains("a@x.test"));
  CHECK(dsn.contains("b@x.test"));
  CHECK(dsn.contains("Status: 5.4.4"));
  CHECK_FALSE(h.journal_has(1));
  CHECK_FALSE(h.spool.inner.has("Q1"));
  CHECK(h.scheduler.queues().queue_count() == 0);
  CHECK(h.engine.counters().bounced == 2);
  CHECK(h.engine.counters().domain_backoffs == 0);
  const auto bounced = h.log_lines_with("status=bounced");
  REQUIRE(bounced.size() == 2);
  CHECK(bounced[0].find("relay=none") != std::string::npos);
  CHECK(bounced[0].find("x.test: NXDOMAIN") != std::string::npos);
}

TEST_CASE("delivery: a null MX bounces without a session", "[delivery][engine]") {
  Harness h;
  h.routes.set("x.test", FakeDeliveryRoutes::failure(RouteAnswer::Kind::permanent_failure,
                                                     "x.test: null MX", true));
  h.add(1, "sender@example.org", {"a@x.test"});
  h.engine.pump();
  CHECK(h.sessions.started() == 0);
  REQUIRE(h.bounces.submissions().size() == 1);
  CHECK(h.bounces.submissions()[0].contains("Status: 5.1.10"));
  CHECK_FALSE(h.journal_has(1));
  CHECK(h.log_lines_with("dsn=5.1.10, status=bounced").size() == 1);
}

TEST_CASE("delivery: a route answered later starts the session then", "[delivery][engine]") {
  Harness h;
  h.routes.defer_answers(true);
  h.add(1, "sender@example.org", {"a@x.test"});
  REQUIRE(h.engine.pump());
  CHECK(h.sessions.started() == 0);
  CHECK(h.engine.sessions_open() == 1);
  REQUIRE(h.routes.answer_pending() == 1);
  REQUIRE(h.sessions.open() == 1);
  h.sessions.complete_all(0, 250, SmtpStage::data_end);
  CHECK(h.engine.sessions_open() == 0);
  CHECK_FALSE(h.journal_has(1));
}

TEST_CASE("delivery: a temporary route failure retries after a domain backoff",
          "[delivery][engine]") {
  Harness h;
  h.routes.set("x.test", FakeDeliveryRoutes::failure(RouteAnswer::Kind::temporary_failure,
                                                     "x.test: SERVFAIL"));
  h.add(1, "sender@example.org", {"a@x.test"});
  h.engine.pump();
  CHECK(h.sessions.started() == 0);
  CHECK(h.bounces.attempts() == 0);
  const DomainQueue* queue = h.scheduler.queues().find("x.test");
  REQUIRE(queue != nullptr);
  CHECK(queue->size() == 1);
  CHECK(queue->next_attempt() > h.clock.now());
  CHECK(h.engine.counters().domain_backoffs == 1);
  CHECK(h.journal_record(1).finished_count() == 0);
  const auto deferred = h.log_lines_with("status=deferred");
  REQUIRE(deferred.size() == 1);
  CHECK(deferred[0].find("dsn=4.4.3") != std::string::npos);

  CHECK_FALSE(h.engine.pump());
  h.routes.set("x.test", FakeDeliveryRoutes::route_to("x.test"));
  h.clock.set(queue->next_attempt());
  REQUIRE(h.engine.pump());
  REQUIRE(h.sessions.open() == 1);
  h.sessions.complete_all(0, 250, SmtpStage::data_end);
  CHECK_FALSE(h.journal_has(1));
}

TEST_CASE("delivery: past max_lifetime a temporary failure bounces as expired",
          "[delivery][engine]") {
  DeliveryEngineOptions options;
  options.retry.max_lifetime = 1h;
  Harness h(options);
  h.add(1, "sender@example.org", {"a@x.test"});
  h.clock.advance(2h);
  REQUIRE(h.engine.pump());
  h.sessions.complete_all(0, 450, SmtpStage::rcpt_to, "mailbox busy");

  REQUIRE(h.bounces.submissions().size() == 1);
  CHECK(h.bounces.submissions()[0].contains("Status: 5.4.7"));
  CHECK(h.bounces.submissions()[0].contains("a@x.test"));
  CHECK_FALSE(h.journal_has(1));
  CHECK_FALSE(h.spool.inner.has("Q1"));
  const DeliveryCounters c = h.engine.counters();
  CHECK(c.bounced == 1);
  CHECK(c.expired == 1);
  CHECK(c.waiting_retry == 0);
  const auto expired = h.log_lines_with("status=expired");
  REQUIRE(expired.size() == 1);
  CHECK(expired[0].find("dsn=5.4.7") != std::string::npos);
  CHECK(expired[0].find("message expired in queue; last failure: 450") != std::string::npos);
  CHECK(h.accounting_with("\"status\":\"expired\"").size() == 1);
}

TEST_CASE("delivery: a message not yet expired is deferred, not bounced", "[delivery][engine]") {
  DeliveryEngineOptions options;
  options.retry.max_lifetime = 1h;
  Harness h(options);
  h.add(1, "sender@example.org", {"a@x.test"});
  h.clock.advance(59min);
  REQUIRE(h.engine.pump());
  h.sessions.complete_all(0, 450, SmtpStage::rcpt_to, "mailbox busy");
  CHECK(h.bounces.attempts() == 0);
  CHECK(h.engine.counters().expired == 0);
  CHECK(h.engine.counters().waiting_retry == 1);
}

TEST_CASE("delivery: a held file that is gone drops its recipients without a DSN",
          "[delivery][engine]") {
  Harness h;
  h.add(1, "sender@example.org", {"a@x.test", "b@x.test"});
  h.add(2, "sender@example.org", {"c@x.test"});
  h.spool.inner.erase("Q1");
  REQUIRE(h.engine.pump());
  // Only message 2 goes out.
  REQUIRE(h.sessions.open() == 1);
  REQUIRE(h.sessions.request(0).messages.size() == 1);
  CHECK(h.sessions.request(0).messages[0].recipients[0].address == "c@x.test");
  h.sessions.complete_all(0, 250, SmtpStage::data_end);

  CHECK(h.bounces.attempts() == 0);
  CHECK_FALSE(h.journal_has(1));
  CHECK_FALSE(h.journal_has(2));
  CHECK(h.scheduler.messages().size() == 0);
  const DeliveryCounters c = h.engine.counters();
  CHECK(c.dropped == 2);
  CHECK(c.bounced == 0);
  CHECK(c.sent == 1);
  CHECK(h.log_lines_with("Q1: held file is gone").size() == 1);
  CHECK(h.accounting.size() == 1);
}

TEST_CASE("delivery: a batch whose only held file is gone needs no session", "[delivery][engine]") {
  Harness h;
  h.add(1, "sender@example.org", {"a@x.test"});
  h.spool.inner.erase("Q1");
  h.engine.pump();
  CHECK(h.sessions.started() == 0);
  CHECK(h.bounces.attempts() == 0);
  CHECK_FALSE(h.journal_has(1));
  CHECK(h.scheduler.queues().queue_count() == 0);
  CHECK(h.engine.counters().dropped == 1);
  CHECK(h.engine.sessions_open() == 0);
}

TEST_CASE("delivery: max_connections caps the sessions open at once", "[delivery][engine]") {
  DeliveryEngineOptions options;
  options.max_connections = 2;
  Harness h(options);
  for (MessageId id = 1; id <= 5; ++id) {
    h.add(id, "sender@example.org", {"a@d" + std::to_string(id) + ".test"});
  }
  REQUIRE(h.engine.pump());
  CHECK(h.sessions.open() == 2);
  CHECK(h.engine.counters().sessions_open == 2);
  CHECK_FALSE(h.engine.pump());
  CHECK(h.sessions.open() == 2);
  // The next queues' DNS is asked for ahead.
  CHECK(h.routes.prefetched().size() >= 1);
  int rounds = 0;
  while (h.sessions.open() > 0 && rounds < 10) {
    h.sessions.complete_all(0, 250, SmtpStage::data_end);
    h.engine.pump();
    CHECK(h.sessions.open() <= 2);
    ++rounds;
  }
  CHECK(h.sessions.started() == 5);
  CHECK(h.sessions.max_open() == 2);
  CHECK(h.engine.counters().sent == 5);
  CHECK(h.scheduler.messages().size() == 0);
}

TEST_CASE("delivery: max_connections_per_domain caps one domain's sessions", "[delivery][engine]") {
  const std::uint32_t limit = GENERATE(1U, 2U);
  DeliveryEngineOptions options;
  options.max_connections = 10;
  options.max_connections_per_domain = limit;
  // One recipient per batch, so x.test's five recipients could fill five sessions.
  Harness h(options, SchedulerLimits{SelectionPolicy::fair, 1});
  h.add(1, "sender@example.org", {"a@x.test", "b@x.test", "c@x.test", "d@x.test", "e@x.test"});
  h.add(2, "sender@example.org", {"a@y.test"});
  REQUIRE(h.engine.pump());

  const auto count_open = [&h](const std::string& domain) {
    std::size_t n = 0;
    for (std::size_t i = 0; i < h.sessions.open(); ++i) {
      if (domain_of(h.sessions.request(i)) == domain) ++n;
    }
    return n;
  };
  CHECK(count_open("x.test") == limit);
  CHECK(count_open("y.test") == 1);
  std::size_t max_x = count_open("x.test");
  int rounds = 0;
  while (h.sessions.open() > 0 && rounds < 20) {
    h.sessions.complete_all(0, 250, SmtpStage::data_end);
    h.engine.pump();
    max_x = std::max(max_x, count_open("x.test"));
    ++rounds;
  }
  CHECK(max_x == limit);
  CHECK(h.engine.counters().sent == 6);
  CHECK(h.scheduler.queues().queue_count() == 0);
  CHECK_FALSE(h.journal_has(1));
  CHECK_FALSE(h.journal_has(2));
}

TEST_CASE("delivery: max_messages_per_connection splits a batch over sessions",
          "[delivery][engine]") {
  DeliveryEngineOptions options;
  options.max_messages_per_connection = 2;
  Harness h(options);
  h.add(1, "sender@example.org", {"a@x.test"});
  h.add(2, "sender@example.org", {"b@x.test"});
  const MessageIndex third = h.add(3, "sender@example.org", {"c@x.test"});
  REQUIRE(h.engine.pump());
  REQUIRE(h.sessions.open() == 1);
  CHECK(h.sessions.request(0).messages.size() == 2);
  h.sessions.complete_all(0, 250, SmtpStage::data_end);

  // The third message is back at once: no retry delay, no deferral, no log line.
  CHECK(h.engine.counters().deferred == 0);
  CHECK(h.engine.counters().waiting_retry == 0);
  CHECK(h.accounting.size() == 2);
  const DomainQueue* queue = h.scheduler.queues().find("x.test");
  REQUIRE(queue != nullptr);
  CHECK(queue->size() == 1);
  CHECK(queue->next_attempt() <= h.clock.now());
  CHECK(h.journal_has(3));
  CHECK_FALSE(h.journal_has(1));
  (void)third;

  REQUIRE(h.engine.pump());
  REQUIRE(h.sessions.open() == 1);
  REQUIRE(h.sessions.request(0).messages.size() == 1);
  CHECK(h.sessions.request(0).messages[0].recipients[0].address == "c@x.test");
  h.sessions.complete_all(0, 250, SmtpStage::data_end);
  CHECK(h.scheduler.messages().size() == 0);
  CHECK(h.engine.counters().sent == 3);
}

TEST_CASE("delivery: a message left out by max_messages_per_connection spends no attempt",
          "[delivery][engine]") {
  DeliveryEngineOptions options;
  options.max_messages_per_connection = 1;
  Harness h(options);
  h.add(1, "sender@example.org", {"a@x.test"});
  const MessageIndex second = h.add(2, "sender@example.org", {"b@x.test"});
  REQUIRE(h.engine.pump());
  h.sessions.complete_all(0, 250, SmtpStage::data_end);
  CHECK(h.scheduler.messages()[second].attempts() == 0);
  REQUIRE(h.engine.pump());
  h.sessions.complete_all(0, 250, SmtpStage::data_end);
  const auto b = h.accounting_with("\"recipient\":\"b@x.test\"");
  REQUIRE(b.size() == 1);
  CHECK(b[0].find("\"attempts\":1") != std::string::npos);
}

TEST_CASE("delivery: stop_starting stops new batches, not the sessions in flight",
          "[delivery][engine]") {
  Harness h;
  h.add(1, "sender@example.org", {"a@x.test"});
  h.add(2, "sender@example.org", {"a@y.test"});
  REQUIRE(h.engine.pump());
  REQUIRE(h.sessions.open() == 2);
  h.engine.stop_starting();
  h.sessions.complete_all(0, 250, SmtpStage::data_end);
  h.add(3, "sender@example.org", {"a@z.test"});
  CHECK_FALSE(h.engine.pump());
  CHECK(h.sessions.open() == 1);
  h.sessions.complete_all(0, 250, SmtpStage::data_end);
  CHECK(h.engine.counters().sent == 2);
}

TEST_CASE("delivery: on_message_removed reports each removed message", "[delivery][engine]") {
  Harness h;
  std::vector<std::uint64_t> removed;
  h.engine.on_message_removed([&removed](std::uint64_t bytes) { removed.push_back(bytes); });
  h.add(1, "sender@example.org", {"a@x.test"});
  h.add(2, "sender@example.org", {"b@x.test"});
  REQUIRE(h.engine.pump());
  h.sessions.complete_all(0, 250, SmtpStage::data_end);
  REQUIRE(removed.size() == 2);
  CHECK(removed[0] > 0);
}

TEST_CASE("delivery: a message its session never carried does not expire unseen",
          "[delivery][engine]") {
  // Message 2 is left out of the session by max_messages_per_connection when it is already past
  // max_lifetime: it was not tried, so it neither bounces (no DSN, no log line) nor is lost; it
  // goes back to its queue, and bounces as expired once a session tries it and fails.
  DeliveryEngineOptions options;
  options.max_messages_per_connection = 1;
  options.retry.max_lifetime = 1h;
  Harness h(options);
  h.add(1, "sender@example.org", {"a@x.test"});
  const MessageIndex second = h.add(2, "sender@example.org", {"b@x.test"});
  h.clock.advance(2h);
  REQUIRE(h.engine.pump());
  REQUIRE(h.sessions.request(0).messages.size() == 1);
  h.sessions.complete_all(0, 250, SmtpStage::data_end);

  CHECK(h.bounces.attempts() == 0);
  CHECK(h.log_lines_with("to=<b@x.test>").empty());
  CHECK(h.accounting.size() == 1);
  CHECK_FALSE(h.scheduler.messages()[second].finished(0));
  const DomainQueue* queue = h.scheduler.queues().find("x.test");
  REQUIRE(queue != nullptr);
  CHECK(queue->size() == 1);
  DeliveryCounters c = h.engine.counters();
  CHECK(h.accounting.size() == c.sent + c.bounced + c.deferred);

  REQUIRE(h.engine.pump());
  h.sessions.complete_all(0, 451, SmtpStage::rcpt_to, "try later");
  REQUIRE(h.bounces.submissions().size() == 1);
  CHECK(h.bounces.submissions()[0].contains("b@x.test"));
  CHECK(h.log_lines_with("to=<b@x.test>").size() == 1);
  CHECK(h.log_lines_with("status=expired").size() == 1);
  CHECK(h.accounting_with("\"recipient\":\"b@x.test\"").size() == 1);
  c = h.engine.counters();
  CHECK(c.expired == 1);
  CHECK(h.accounting.size() == c.sent + c.bounced + c.deferred);
  CHECK(h.scheduler.messages().size() == 0);
}

TEST_CASE("delivery: an unreadable held file is retried later, without a domain backoff",
          "[delivery][engine]") {
  Harness h;
  const MessageIndex m = h.add(1, "sender@example.org", {"a@x.test"});
  h.spool.inner.corrupt("Q1", "offset 12: bad record type");
  h.engine.pump();
  CHECK(h.sessions.started() == 0);
  CHECK(h.bounces.attempts() == 0);
  CHECK(h.log_lines_with("Q1: cannot read the held message: hold/Q1: offset 12: bad record type")
            .size() == 1);
  CHECK(h.engine.counters().waiting_retry == 1);
  CHECK(h.engine.counters().domain_backoffs == 0);
  CHECK(h.engine.counters().dropped == 0);
  CHECK_FALSE(h.scheduler.messages()[m].finished(0));
  REQUIRE(h.journal_has(1));
  CHECK(h.journal_record(1).finished_count() == 0);
  CHECK(h.spool.inner.has("Q1"));
  CHECK(h.log_lines_with("status=deferred").size() == 1);
}

TEST_CASE("delivery: a journal that cannot be written is logged; delivery goes on",
          "[delivery][engine]") {
  Harness h;
  h.add(1, "sender@example.org", {"a@x.test"});
  h.add(2, "sender@example.org", {"a@y.test"});
  h.journal.inner.fail_writes();
  REQUIRE(h.engine.pump());
  REQUIRE(h.sessions.open() == 2);
  h.sessions.complete_all(0, 250, SmtpStage::data_end);
  CHECK_FALSE(h.journal.inner.batch_open());
  CHECK_FALSE(h.log_lines_with("journal: fake journal: told to fail").empty());
  CHECK(h.engine.counters().sent == 1);
  // The next session still gets a journal batch of its own once the journal heals.
  h.journal.inner.heal();
  h.sessions.complete_all(0, 250, SmtpStage::data_end);
  CHECK_FALSE(h.journal.inner.batch_open());
  CHECK(h.engine.counters().sent == 2);
  CHECK(h.scheduler.messages().size() == 0);
}

TEST_CASE("delivery: group commit — sessions that end together share one journal transaction",
          "[delivery][engine]") {
  DeliveryEngineOptions options;
  options.group_commit = true;
  Harness h(options);
  h.add(1, "sender@example.org", {"a@x.test"});
  h.add(2, "sender@example.org", {"b@y.test"});
  h.events.clear();
  REQUIRE(h.engine.pump());
  REQUIRE(h.sessions.open() == 2);
  h.sessions.complete_all(0, 250, SmtpStage::data_end);
  h.sessions.complete_all(0, 250, SmtpStage::data_end);  // the other one, now first
  // Nothing is written, and no file removed, until the event loop's round commits.
  CHECK(h.events.empty());
  CHECK(h.engine.commit_pending());
  CHECK(h.journal_has(1));

  REQUIRE(h.engine.commit());
  CHECK(h.events == std::vector<std::string>{"journal.begin", "journal.set_finished:1:0",
                                             "journal.set_finished:2:0", "journal.commit",
                                             "spool.remove:Q1", "spool.remove:Q2"});
  // The records go in the next round's transaction, after their files.
  CHECK(h.journal_has(1));
  CHECK(h.engine.commit_pending());
  h.events.clear();
  REQUIRE(h.engine.commit());
  CHECK(h.events == std::vector<std::string>{"journal.begin", "journal.remove:1",
                                             "journal.remove:2", "journal.commit"});
  CHECK_FALSE(h.journal_has(1));
  CHECK_FALSE(h.journal_has(2));
  CHECK_FALSE(h.engine.commit_pending());
  CHECK(h.scheduler.messages().size() == 0);
}

TEST_CASE("delivery: a further session to a domain opens only for a full batch",
          "[delivery][engine]") {
  DeliveryEngineOptions options;
  options.max_connections_per_domain = 8;
  Harness h(options, SchedulerLimits{SelectionPolicy::fair, 2});
  // Three recipients, batches of two: the one left over waits for the open session.
  h.add(1, "sender@example.org", {"a@x.test", "b@x.test", "c@x.test"});
  REQUIRE(h.engine.pump());
  CHECK(h.sessions.open() == 1);
  CHECK_FALSE(h.engine.pump());
  h.sessions.complete_all(0, 250, SmtpStage::data_end);
  REQUIRE(h.engine.pump());
  CHECK(h.sessions.open() == 1);
  h.sessions.complete_all(0, 250, SmtpStage::data_end);
  CHECK(h.engine.counters().sent == 3);

  // Five recipients: after the first batch, a full batch (two) still waits → a second session.
  h.add(2, "sender@example.org", {"d@x.test", "e@x.test", "f@x.test", "g@x.test", "h@x.test"});
  REQUIRE(h.engine.pump());
  CHECK(h.sessions.open() == 2);
}

// ---- connection reuse --------------------------------------------------------------------------

TEST_CASE("delivery: a kept connection carries the domain's next batch", "[delivery][engine]") {
  Harness h;
  h.sessions.keep_connections(true);
  h.add(1, "sender@example.org", {"a@x.test"});
  REQUIRE(h.engine.pump());
  REQUIRE(h.sessions.open() == 1);
  CHECK(h.sessions.request(0).keep_idle == DeliveryEngineOptions{}.connection_idle_time);
  // A second message arrives while the first is being sent: it waits for the session.
  h.add(2, "sender@example.org", {"b@x.test"});
  CHECK_FALSE(h.engine.pump());
  h.sessions.complete_all(0, 250, SmtpStage::data_end);
  CHECK(h.engine.counters().connections_idle == 1);

  REQUIRE(h.engine.pump());
  REQUIRE(h.sessions.open() == 1);
  CHECK(h.sessions.reused(0));
  CHECK(h.sessions.started() == 1);  // no new session
  CHECK(h.engine.counters().connections_idle == 0);
  CHECK(h.sessions.request(0).messages[0].recipients[0].address == "b@x.test");
  h.sessions.complete_all(0, 250, SmtpStage::data_end);

  const DeliveryCounters c = h.engine.counters();
  CHECK(c.connections == 1);
  CHECK(c.batches_reused == 1);
  CHECK(c.sent == 2);
  CHECK(c.connections_idle == 1);
  // The second batch's log line counts the connection's uses on from the first.
  bool second_use = false;
  for (const LogLine& line : h.logs) {
    if (line.text.find("to=<b@x.test>") != std::string::npos &&
        line.text.find("conn_use=2") != std::string::npos)
      second_use = true;
  }
  CHECK(second_use);

  // Stopping closes it.
  h.engine.stop_starting();
  REQUIRE(h.sessions.connections().size() == 1);
  CHECK(h.sessions.connections()[0]->closed());
  CHECK(h.engine.counters().connections_idle == 0);
}

TEST_CASE("delivery: max_messages_per_connection counts over every batch of a connection",
          "[delivery][engine]") {
  DeliveryEngineOptions options;
  options.max_messages_per_connection = 3;
  Harness h(options);
  h.sessions.keep_connections(true);
  h.add(1, "sender@example.org", {"a@x.test"});
  h.add(2, "sender@example.org", {"b@x.test"});
  REQUIRE(h.engine.pump());
  REQUIRE(h.sessions.request(0).messages.size() == 2);
  h.add(3, "sender@example.org", {"c@x.test"});
  h.add(4, "sender@example.org", {"d@x.test"});
  h.sessions.complete_all(0, 250, SmtpStage::data_end);

  // One message left in the connection's budget: the other goes back, unattempted.
  REQUIRE(h.engine.pump());
  REQUIRE(h.sessions.reused(0));
  CHECK(h.sessions.request(0).messages.size() == 1);
  h.sessions.complete_all(0, 250, SmtpStage::data_end);
  // Its budget spent, the connection is closed rather than kept.
  REQUIRE(h.sessions.connections().size() == 1);
  CHECK(h.sessions.connections()[0]->closed());
  CHECK(h.engine.counters().connections_idle == 0);

  REQUIRE(h.engine.pump());
  REQUIRE(h.sessions.open() == 1);
  CHECK_FALSE(h.sessions.reused(0));
  h.sessions.complete_all(0, 250, SmtpStage::data_end);
  CHECK(h.engine.counters().sent == 4);
  CHECK(h.engine.counters().deferred == 0);
  CHECK(h.scheduler.messages().size() == 0);
}

TEST_CASE("delivery: a connection that closed while idle is not used", "[delivery][engine]") {
  Harness h;
  h.sessions.keep_connections(true);
  h.add(1, "sender@example.org", {"a@x.test"});
  REQUIRE(h.engine.pump());
  h.sessions.complete_all(0, 250, SmtpStage::data_end);
  REQUIRE(h.sessions.connections().size() == 1);
  h.sessions.connections()[0]->hang_up();

  h.add(2, "sender@example.org", {"b@x.test"});
  REQUIRE(h.engine.pump());
  REQUIRE(h.sessions.open() == 1);
  CHECK_FALSE(h.sessions.reused(0));
  CHECK(h.sessions.started() == 2);
  CHECK(h.engine.counters().connections_idle == 0);
  h.sessions.complete_all(0, 250, SmtpStage::data_end);
  CHECK(h.engine.counters().sent == 2);
}

TEST_CASE("delivery: max_idle_connections closes the connection idle longest",
          "[delivery][engine]") {
  DeliveryEngineOptions options;
  options.max_idle_connections = 1;
  Harness h(options);
  h.sessions.keep_connections(true);
  h.routes.set("x.test", FakeDeliveryRoutes::route_to("x.test", "127.0.0.11"));
  h.routes.set("y.test", FakeDeliveryRoutes::route_to("y.test", "127.0.0.12"));
  h.routes.set("z.test", FakeDeliveryRoutes::route_to("z.test", "127.0.0.13"));
  h.add(1, "sender@example.org", {"a@x.test"});
  h.add(2, "sender@example.org", {"a@y.test"});
  REQUIRE(h.engine.pump());
  REQUIRE(h.sessions.open() == 2);
  h.sessions.complete_all(0, 250, SmtpStage::data_end);
  REQUIRE(h.engine.counters().connections_idle == 1);
  h.clock.advance(100ms);
  // The second to go idle takes the first's place.
  h.sessions.complete_all(0, 250, SmtpStage::data_end);
  CHECK(h.engine.counters().connections_idle == 1);
  REQUIRE(h.sessions.connections().size() == 2);
  CHECK(h.sessions.connections()[0]->closed());
  CHECK_FALSE(h.sessions.connections()[1]->closed());

  // max_connections caps the sessions carrying a batch, not the idle ones.
  h.add(3, "sender@example.org", {"a@z.test"});
  REQUIRE(h.engine.pump());
  REQUIRE(h.sessions.open() == 1);
  CHECK(domain_of(h.sessions.request(0)) == "z.test");
  CHECK_FALSE(h.sessions.reused(0));
  CHECK(h.engine.counters().connections_idle == 1);
}

TEST_CASE("delivery: a connection past connection_reuse_time is not kept", "[delivery][engine]") {
  DeliveryEngineOptions options;
  options.connection_reuse_time = std::chrono::seconds(10);
  Harness h(options);
  h.sessions.keep_connections(true);
  h.add(1, "sender@example.org", {"a@x.test"});
  REQUIRE(h.engine.pump());
  h.clock.advance(11s);
  h.sessions.complete_all(0, 250, SmtpStage::data_end);
  REQUIRE(h.sessions.connections().size() == 1);
  CHECK(h.sessions.connections()[0]->closed());
  CHECK(h.engine.counters().connections_idle == 0);
}

TEST_CASE("delivery: a failed batch keeps no connection", "[delivery][engine]") {
  Harness h;
  h.sessions.keep_connections(true);
  h.add(1, "sender@example.org", {"a@x.test"});
  REQUIRE(h.engine.pump());
  h.sessions.fail(0, TransportFailure::connection_lost, "lost");
  CHECK(h.sessions.connections().empty());
  CHECK(h.engine.counters().connections_idle == 0);
}

TEST_CASE("delivery: domains on the same MX share a kept connection", "[delivery][engine]") {
  Harness h;
  h.sessions.keep_connections(true);
  RouteAnswer shared;
  shared.kind = RouteAnswer::Kind::route;
  shared.endpoints = {SmtpEndpoint{"127.0.0.21", 25}, SmtpEndpoint{"127.0.0.22", 25}};
  shared.endpoint_hosts = {"mx1.provider.test", "mx2.provider.test"};
  h.routes.set("x.test", shared);
  // y.test lists the provider's hosts the other way round: its second is x.test's first.
  RouteAnswer reversed = shared;
  std::swap(reversed.endpoints[0], reversed.endpoints[1]);
  std::swap(reversed.endpoint_hosts[0], reversed.endpoint_hosts[1]);
  h.routes.set("y.test", reversed);

  h.add(1, "sender@example.org", {"a@x.test"});
  REQUIRE(h.engine.pump());
  h.sessions.complete_all(0, 250, SmtpStage::data_end);  // connected to its first, .21
  REQUIRE(h.engine.counters().connections_idle == 1);

  h.add(2, "sender@example.org", {"b@y.test"});
  REQUIRE(h.engine.pump());
  REQUIRE(h.sessions.open() == 1);
  CHECK(h.sessions.reused(0));
  h.sessions.complete_all(0, 250, SmtpStage::data_end);
  CHECK(h.engine.counters().connections == 1);
  // The log names the server the connection goes to, in y.test's own terms.
  CHECK(h.log_lines_with("to=<b@y.test>, relay=mx1.provider.test[127.0.0.21]:25").size() == 1);
}

TEST_CASE("delivery: a kept connection serves only batches of its TLS policy",
          "[delivery][engine]") {
  DeliveryEngineOptions options;
  options.tls_by_domain["y.test"] = TlsPolicy::required;
  Harness h(options);
  h.sessions.keep_connections(true);
  h.add(1, "sender@example.org", {"a@x.test"});
  REQUIRE(h.engine.pump());
  h.sessions.complete_all(0, 250, SmtpStage::data_end);
  REQUIRE(h.engine.counters().connections_idle == 1);

  h.add(2, "sender@example.org", {"b@y.test"});
  REQUIRE(h.engine.pump());
  REQUIRE(h.sessions.open() == 1);
  CHECK_FALSE(h.sessions.reused(0));
  CHECK(h.sessions.request(0).tls == TlsPolicy::required);
  CHECK(h.engine.counters().connections_idle == 1);
}

TEST_CASE("delivery: a batch that finds its kept connection stale goes over a new one",
          "[delivery][engine]") {
  Harness h;
  h.sessions.keep_connections(true);
  h.add(1, "sender@example.org", {"a@x.test"});
  REQUIRE(h.engine.pump());
  h.sessions.complete_all(0, 250, SmtpStage::data_end);
  h.add(2, "sender@example.org", {"b@x.test"});
  REQUIRE(h.engine.pump());
  REQUIRE(h.sessions.reused(0));

  // Nothing of the batch got a reply: the server had hung up.
  SmtpSessionResult stale =
      FakeSmtpSessions::result_for(h.sessions.request(0), [](std::size_t, const SmtpRecipient&) {
        SmtpVerdict verdict;
        verdict.transport = TransportFailure::connection_lost;
        return verdict;
      });
  stale.failure = TransportFailure::connection_lost;
  stale.stale_connection = true;
  h.sessions.keep_connections(false);
  h.sessions.complete(0, std::move(stale));

  REQUIRE(h.sessions.open() == 1);
  CHECK_FALSE(h.sessions.reused(0));
  CHECK(h.sessions.request(0).messages.at(0).recipients.at(0).address == "b@x.test");
  CHECK(h.engine.counters().deferred == 0);
  CHECK(h.engine.counters().domain_backoffs == 0);
  h.sessions.complete_all(0, 250, SmtpStage::data_end);
  CHECK(h.engine.counters().sent == 2);
  CHECK(h.engine.counters().connections == 2);
}

// --- shaping -------------------------------------------------------------------------------------

namespace {

SmtpVerdict reply_with(int code, int klass, int subject, int detail, std::string text,
                       SmtpStage stage = SmtpStage::rcpt_to) {
  SmtpVerdict verdict;
  verdict.reply = SmtpStatus{code, klass, subject, detail, std::move(text)};
  verdict.stage = stage;
  return verdict;
}

DestinationPolicy policy_for_pattern(std::string pattern) {
  DestinationPolicy policy;
  policy.pattern = std::move(pattern);
  return policy;
}

// Runs the engine for `duration` of fake time in `step`s, completing every session at once with
// `verdict`; returns the messages sent.
std::size_t run_for(Harness& h, Duration duration, Duration step,
                    const std::function<SmtpVerdict(std::size_t, const SmtpRecipient&)>& verdict) {
  std::size_t attempted = 0;
  for (Duration t{0}; t < duration; t += step) {
    h.engine.pump();
    h.routes.answer_pending();  // routes told to wait answer within the step
    // The sessions open now answer within the step; those they make room for start next step.
    for (std::size_t n = h.sessions.open(); n > 0; --n) {
      attempted += h.sessions.request(0).messages.size();
      h.sessions.complete_with(0, verdict);
    }
    h.clock.advance(step);
  }
  return attempted;
}

}  // namespace

TEST_CASE("shaping: a destination's max_rate spaces its messages", "[delivery][shaping]") {
  DeliveryEngineOptions options;
  DestinationPolicy slow = policy_for_pattern("slow.test");
  slow.limits.max_rate = 2.0;  // messages per second; the bucket holds one
  slow.limits.max_connections = 1;
  options.destination_policies.push_back(slow);
  Harness h(options);
  for (MessageId id = 1; id <= 30; ++id)
    h.add(id, "sender@example.org", {"r" + std::to_string(id) + "@slow.test"});
  h.add(31, "sender@example.org", {"a@fast.test", "b@fast.test"});

  REQUIRE(h.engine.pump());
  // One message to slow.test now (the bucket's one token); fast.test has no limit.
  std::size_t slow_first = 0;
  for (std::size_t i = 0; i < h.sessions.open(); ++i) {
    if (domain_of(h.sessions.request(i)) == "slow.test")
      slow_first = h.sessions.request(i).messages.size();
  }
  CHECK(slow_first == 1);

  const std::size_t sent = run_for(h, 5s, 50ms, [](std::size_t, const SmtpRecipient&) {
    return reply(250, SmtpStage::data_end);
  });
  // 2 per second for five seconds, plus the first token and fast.test's one.
  CHECK(sent >= 10);
  CHECK(sent <= 13);
  CHECK(h.engine.counters().rate_deferrals > 0);
  const DeliveryDomainState state = h.engine.domain_state("slow.test");
  REQUIRE(state.destination);
  CHECK(state.destination->policy == "slow.test");
  CHECK_FALSE(state.destination->adaptive);
  REQUIRE(state.destination->shaping.rate);
  CHECK(*state.destination->shaping.rate == Approx(2.0));
  // Nothing lost: what was not sent is still queued.
  CHECK(h.engine.counters().sent + h.scheduler.queues().queued_recipients() == 32);
}

TEST_CASE("shaping: domains on the same MX hosts share one connection budget",
          "[delivery][shaping]") {
  DeliveryEngineOptions options;
  options.mx_rollup = true;
  options.max_connections_per_domain = 1;
  Harness h(options);
  RouteAnswer shared;
  shared.kind = RouteAnswer::Kind::route;
  shared.endpoints = {SmtpEndpoint{"127.0.0.21", 25}, SmtpEndpoint{"127.0.0.22", 25}};
  shared.endpoint_hosts = {"mx1.provider.test", "mx2.provider.test"};
  h.routes.set("x.test", shared);
  RouteAnswer reversed = shared;
  std::swap(reversed.endpoints[0], reversed.endpoints[1]);
  std::swap(reversed.endpoint_hosts[0], reversed.endpoint_hosts[1]);
  h.routes.set("y.test", reversed);
  h.add(1, "sender@example.org", {"a@x.test"});
  REQUIRE(h.engine.pump());
  REQUIRE(h.sessions.open() == 1);

  // y.test's first batch learns its route and finds the budget in use: back to its queue.
  h.add(2, "sender@example.org", {"b@y.test"});
  h.engine.pump();
  CHECK(h.sessions.open() == 1);
  CHECK(h.engine.counters().sent == 0);
  const DeliveryDomainState y = h.engine.domain_state("y.test");
  REQUIRE(y.destination);
  CHECK(y.destination->name == "mx:mx1.provider.test,mx2.provider.test");
  CHECK(y.destination->members == 2);
  CHECK(y.destination->sessions == 1);
  CHECK(h.scheduler.queues().queued_recipients() == 1);  // b@y.test waits, untried

  h.sessions.complete_all(0, 250, SmtpStage::data_end);
  h.engine.pump();
  REQUIRE(h.sessions.open() == 1);
  CHECK(domain_of(h.sessions.request(0)) == "y.test");
  h.sessions.complete_all(0, 250, SmtpStage::data_end);
  CHECK(h.engine.counters().sent == 2);
  CHECK(h.engine.counters().deferred == 0);  // the hand-back cost no attempt

  // Without rollup each domain is its own destination.
  DeliveryEngineOptions apart = options;
  apart.mx_rollup = false;
  Harness g(apart);
  g.routes.set("x.test", shared);
  g.routes.set("y.test", reversed);
  g.add(1, "sender@example.org", {"a@x.test"});
  g.add(2, "sender@example.org", {"b@y.test"});
  g.engine.pump();
  CHECK(g.sessions.open() == 2);
}

TEST_CASE("shaping: an adaptive destination slows down on 4xx, not on greylisting",
          "[delivery][shaping]") {
  const bool greylisting = GENERATE(false, true);
  DeliveryEngineOptions options;
  options.adaptive = true;
  options.shaping.initial_connections = 2;
  Harness h(options, SchedulerLimits{SelectionPolicy::fair, 5});
  for (MessageId id = 1; id <= 400; ++id)
    h.add(id, "sender@example.org", {"r" + std::to_string(id) + "@busy.test"});
  const SmtpVerdict refusal =
      greylisting ? reply_with(450, 4, 2, 0, "Greylisted, see https://postgrey.schweikert.ch/")
                  : reply_with(451, 4, 7, 1, "Too many messages, slow down");
  std::size_t calls = 0;
  run_for(h, 6s, 100ms, [&](std::size_t, const SmtpRecipient&) {
    // Every other transaction refused: far above a 5% share.
    return ++calls % 2 == 0 ? refusal : reply(250, SmtpStage::data_end);
  });
  const DeliveryDomainState state = h.engine.domain_state("busy.test");
  REQUIRE(state.destination);
  CHECK(state.destination->adaptive);
  if (greylisting) {
    CHECK(state.destination->shaping.decreases == 0);
    CHECK(h.engine.counters().shaping_decreases == 0);
    CHECK_FALSE(state.destination->shaping.rate);
  } else {
    CHECK(state.destination->shaping.decreases >= 1);
    CHECK(h.engine.counters().shaping_decreases >= 1);
    CHECK(state.destination->shaping.rate);  // a number now: it pushed back
    CHECK(h.log_lines_with("busy.test: slowing down to").size() >= 1);
  }
}

TEST_CASE("shaping: a 'too many connections' reply suspends the destination",
          "[delivery][shaping]") {
  DeliveryEngineOptions options;
  options.adaptive = true;
  ResponseRulesResult rules = ResponseRules::make(default_response_rules());
  REQUIRE(rules.ok());
  options.response_rules = std::move(rules.rules);
  Harness h(options);
  h.add(1, "sender@example.org", {"a@crowded.test"});
  REQUIRE(h.engine.pump());
  const TimePoint t0 = h.clock.now();
  h.sessions.complete_with(0, [](std::size_t, const SmtpRecipient&) {
    return reply_with(421, 4, 7, 0, "Too many connections from your IP", SmtpStage::mail_from);
  });
  const DeliveryDomainState state = h.engine.domain_state("crowded.test");
  REQUIRE(state.destination);
  CHECK(state.destination->shaping.state == ShapingState::suspended);
  REQUIRE(state.destination->shaping.suspended_until);
  CHECK(*state.destination->shaping.suspended_until == t0 + 1min);
  CHECK(h.engine.counters().rule_matches == 1);
  // Nothing starts while suspended, even once the domain's own backoff has ended.
  h.engine.flush("crowded.test");
  h.clock.advance(30s);
  h.engine.pump();
  CHECK(h.sessions.open() == 0);
  h.clock.advance(31s);
  h.engine.pump();
  CHECK(h.sessions.open() == 1);
}

TEST_CASE("shaping: a bounce rule bounces a temporary reply at once", "[delivery][shaping]") {
  DeliveryEngineOptions options;
  ResponseRulesResult rules = ResponseRules::make({ResponseRule{
      "mailbox disabled", PatternSyntax::substring, ResponseAction::bounce, {}, 1.0}});
  REQUIRE(rules.ok());
  options.response_rules = std::move(rules.rules);
  Harness h(options);
  h.add(1, "sender@example.org", {"gone@x.test", "here@x.test"});
  REQUIRE(h.engine.pump());
  h.sessions.complete_with(0, [](std::size_t, const SmtpRecipient& r) {
    return r.address == "gone@x.test"
               ? reply_with(452, 4, 2, 1, "Mailbox disabled, not accepting messages")
               : reply(250, SmtpStage::data_end);
  });
  CHECK(h.engine.counters().bounced == 1);
  CHECK(h.engine.counters().deferred == 0);
  CHECK(h.bounces.submissions().size() == 1);
  CHECK(h.log_lines_with("response rule \"mailbox disabled\"").size() == 1);
  CHECK_FALSE(h.journal_has(1));
}

TEST_CASE("shaping: a domain pattern's limits and TLS policy apply to its subdomains",
          "[delivery][shaping]") {
  DeliveryEngineOptions options;
  DestinationPolicy small = policy_for_pattern("*.example.com");
  small.max_messages_per_connection = 2;
  small.tls = TlsPolicy::required;
  options.destination_policies.push_back(small);
  Harness h(options);
  for (MessageId id = 1; id <= 5; ++id)
    h.add(id, "sender@example.org", {"r" + std::to_string(id) + "@a.example.com"});
  h.add(6, "sender@example.org", {"r@example.com"});
  REQUIRE(h.engine.pump());
  REQUIRE(h.sessions.open() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    const SmtpSessionRequest& request = h.sessions.request(i);
    if (domain_of(request) == "a.example.com") {
      CHECK(request.messages.size() == 2);
      CHECK(request.tls == TlsPolicy::required);
    } else {
      CHECK(request.messages.size() == 1);
      CHECK(request.tls == TlsPolicy::opportunistic);  // the pattern is for subdomains only
    }
  }
}

TEST_CASE("delivery: recent_rate is a decaying count of recipients delivered",
          "[delivery][engine]") {
  Harness h;
  CHECK(h.engine.recent_rate("x.test", h.clock.now()) == 0);
  h.add(1, "sender@example.org", {"a@x.test", "b@x.test", "c@x.test"});
  REQUIRE(h.engine.pump());
  h.sessions.complete_all(0, 250, SmtpStage::data_end);
  // Three recipients over the one-minute time constant.
  CHECK(h.engine.recent_rate("x.test", h.clock.now()) == Approx(3.0 / 60));
  h.clock.advance(60s);
  CHECK(h.engine.recent_rate("x.test", h.clock.now()) == Approx(3.0 / 60 / 2.718281828));
  CHECK(h.engine.recent_rate("y.test", h.clock.now()) == 0);
}

TEST_CASE("shaping: against a destination taking R per second the engine settles near R",
          "[delivery][shaping]") {
  DeliveryEngineOptions options;
  options.adaptive = true;
  options.mx_rollup = true;
  RetryPolicy fast_retry;
  fast_retry.base = 1s;
  fast_retry.cap = 2s;
  options.retry = fast_retry;
  Harness h(options);
  h.sessions.keep_connections(GENERATE(false, true));
  h.routes.defer_answers(GENERATE(false, true));
  for (MessageId id = 1; id <= 600; ++id)
    h.add(id, "sender@example.org", {"r" + std::to_string(id) + "@slow.test"});
  // The destination: 20 transactions a second, a 451 above that.
  TokenBucket server(20.0, 4.0, h.clock.now());
  std::size_t accepted = 0;
  std::size_t refused = 0;
  const auto verdict = [&](std::size_t, const SmtpRecipient&) {
    if (server.try_take(h.clock.now())) {
      ++accepted;
      return reply(250, SmtpStage::data_end);
    }
    ++refused;
    return reply_with(451, 4, 7, 1, "Too many messages, slow down", SmtpStage::mail_from);
  };
  run_for(h, 20s, 20ms, verdict);
  const std::size_t accepted_early = accepted;
  run_for(h, 10s, 20ms, verdict);
  const double steady = static_cast<double>(accepted - accepted_early) / 10.0;
  CAPTURE(accepted, refused, steady);
  CHECK(steady > 16.0);
  CHECK(steady <= 20.5);
  const DeliveryDomainState state = h.engine.domain_state("slow.test");
  REQUIRE(state.destination);
  CHECK(state.destination->shaping.rate);
}

TEST_CASE("shaping: a destination waiting for its next token never stalls a pump",
          "[delivery][shaping]") {
  // Real time passes while pump() runs; a queue deferred to the next token comes back within
  // the same round, and must then be judged by the clock as it is, not as the round began.
  DeliveryEngineOptions options;
  DestinationPolicy slow = policy_for_pattern("slow.test");
  slow.limits.max_rate = 50.0;
  options.destination_policies.push_back(slow);
  Harness h(options, SchedulerLimits{SelectionPolicy::fair, 1});
  for (MessageId id = 1; id <= 40; ++id)
    h.add(id, "sender@example.org", {"r" + std::to_string(id) + "@slow.test"});
  h.clock.step_on_read(1ms);
  std::size_t sent = 0;
  for (int round = 0; round < 200 && sent < 40; ++round) {
    h.engine.pump();
    for (std::size_t n = h.sessions.open(); n > 0; --n) {
      sent += h.sessions.request(0).messages.size();
      h.sessions.complete_all(0, 250, SmtpStage::data_end);
    }
  }
  CHECK(sent == 40);
  CHECK(h.engine.counters().sent == 40);
  // Put back at most about once per message: never spun on within a round.
  CHECK(h.engine.counters().rate_deferrals < 100);
}
