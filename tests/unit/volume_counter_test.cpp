// VolumeCounter against an in-memory VolumeStore: limits (global and per sender domain, messages
// and recipients, at and past the limit), case-insensitive domains, refunds, period rollover
// (including a late caller and a clock set back), snapshots, restore after a restart, flushes of
// what changed only, and concurrent admits that never pass a limit.
#include "quota/volume_counter.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

using namespace bulkq;
using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

using SystemTime = system_clock::time_point;

SystemTime at(year_month_day date, hours h = 0h, minutes m = 0min, seconds s = 0s,
              milliseconds fraction = 0ms) {
  return SystemTime{sys_days{date}} + h + m + s + fraction;
}

const SystemTime kNoon = at(2026y / 11 / 29, 12h);
const SystemTime kLastMillisecond = at(2026y / 11 / 29, 23h, 59min, 59s, 999ms);
const SystemTime kNextMidnight = at(2026y / 11 / 30);

// A VolumeStore in memory: what was saved, by period; scripted failures.
class FakeVolumeStore final : public VolumeStore {
 public:
  VolumeLoadResult load(std::string_view period_key) override {
    ++loads;
    VolumeLoadResult result;
    if (auto it = periods.find(std::string(period_key)); it != periods.end()) {
      result.counts = it->second;
    }
    result.error = load_error;
    result.skipped = load_skipped;
    if (load_skipped > 0) result.first_skip = "scope @bad.test: value of 3 bytes";
    return result;
  }

  std::string save(std::string_view period_key, const VolumePeriodCounts& counts) override {
    if (!save_error.empty()) return save_error;
    saves.emplace_back(std::string(period_key), counts);
    VolumePeriodCounts& stored = periods[std::string(period_key)];
    stored.global = counts.global;
    for (const auto& [domain, domain_counts] : counts.domains) {
      stored.domains[domain] = domain_counts;
    }
    return {};
  }

  std::map<std::string, VolumePeriodCounts> periods;
  std::vector<std::pair<std::string, VolumePeriodCounts>> saves;
  std::string save_error;
  std::string load_error;
  std::size_t load_skipped = 0;
  int loads = 0;
};

VolumeCounts counts(std::uint64_t messages, std::uint64_t recipients) {
  return VolumeCounts{messages, recipients};
}

VolumeCounts domain_counts(const VolumeSnapshot& snap, std::string_view domain) {
  for (const VolumeDomainCounts& d : snap.domains) {
    if (d.domain == domain) return d.counts;
  }
  return {};
}

}  // namespace

TEST_CASE("a message exactly reaching the global message limit is admitted, the next is over",
          "[quota]") {
  VolumeLimits limits;
  limits.messages = 3;
  VolumeCounter counter(limits, nullptr);
  for (int i = 0; i < 3; ++i) {
    const VolumeAdmission admission = counter.admit("sender.test", 10, kNoon);
    CHECK(admission.admitted());
    CHECK(admission.period_key == "2026-11-29");
  }
  const VolumeAdmission over = counter.admit("sender.test", 1, kNoon);
  REQUIRE_FALSE(over.admitted());
  CHECK(over.verdict == VolumeVerdict::over);
  CHECK(over.scope == VolumeScope::global);
  CHECK(over.domain.empty());
  CHECK(over.measure == VolumeMeasure::messages);
  CHECK(over.limit == 3);
  CHECK(over.count == 3);
  CHECK(over.adding == 1);
  CHECK(over.period_key == "2026-11-29");
  CHECK(over.describe() ==
        "volume quota reached: global, messages 3 of 3 in period 2026-11-29, the message has 1");

  // An over message counts nothing.
  const VolumeSnapshot snap = counter.snapshot(kNoon);
  CHECK(snap.global == counts(3, 30));
  CHECK(domain_counts(snap, "sender.test") == counts(3, 30));
}

TEST_CASE("the global recipient limit admits up to the limit and counts nothing past it",
          "[quota]") {
  VolumeLimits limits;
  limits.recipients = 10;
  VolumeCounter counter(limits, nullptr);
  CHECK(counter.admit("a.test", 4, kNoon).admitted());
  CHECK(counter.admit("b.test", 4, kNoon).admitted());

  const VolumeAdmission over = counter.admit("a.test", 3, kNoon);  // 8 + 3 > 10
  REQUIRE_FALSE(over.admitted());
  CHECK(over.scope == VolumeScope::global);
  CHECK(over.measure == VolumeMeasure::recipients);
  CHECK(over.limit == 10);
  CHECK(over.count == 8);
  CHECK(over.adding == 3);

  CHECK(counter.admit("a.test", 2, kNoon).admitted());  // exactly 10
  CHECK_FALSE(counter.admit("a.test", 1, kNoon).admitted());
  // A message with no recipients passes no recipient limit (there is no message limit).
  CHECK(counter.admit("a.test", 0, kNoon).admitted());
  CHECK(counter.snapshot(kNoon).global == counts(4, 10));
}

TEST_CASE("a message with more recipients than the whole limit is over at once", "[quota]") {
  VolumeLimits limits;
  limits.recipients = 100;
  VolumeCounter counter(limits, nullptr);
  const VolumeAdmission over = counter.admit("big.test", 150, kNoon);
  CHECK_FALSE(over.admitted());
  CHECK(over.count == 0);
  CHECK(over.adding == 150);
  CHECK(counter.admit("big.test", 100, kNoon).admitted());
}

TEST_CASE("a listed sender domain has its own limits; unlisted ones only the global", "[quota]") {
  VolumeLimits limits;
  limits.messages = 100;
  limits.domains["Limited.TEST"] = {2, 0};
  limits.domains["few-rcpts.test"] = {0, 5};
  VolumeCounter counter(limits, nullptr);

  CHECK(counter.admit("limited.test", 50, kNoon).admitted());
  CHECK(counter.admit("LIMITED.test", 50, kNoon).admitted());  // exactly 2 messages
  const VolumeAdmission over = counter.admit("Limited.Test", 1, kNoon);
  REQUIRE_FALSE(over.admitted());
  CHECK(over.scope == VolumeScope::sender_domain);
  CHECK(over.domain == "limited.test");
  CHECK(over.measure == VolumeMeasure::messages);
  CHECK(over.limit == 2);
  CHECK(over.count == 2);
  CHECK(over.describe() ==
        "volume quota reached: sender domain limited.test, messages 2 of 2 in period 2026-11-29, "
        "the message has 1");

  CHECK(counter.admit("few-rcpts.test", 3, kNoon).admitted());
  CHECK(counter.admit("few-rcpts.test", 2, kNoon).admitted());  // exactly 5 recipients
  const VolumeAdmission rcpts = counter.admit("few-rcpts.test", 1, kNoon);
  REQUIRE_FALSE(rcpts.admitted());
  CHECK(rcpts.scope == VolumeScope::sender_domain);
  CHECK(rcpts.domain == "few-rcpts.test");
  CHECK(rcpts.measure == VolumeMeasure::recipients);
  CHECK(rcpts.limit == 5);
  CHECK(rcpts.count == 5);
  CHECK(rcpts.adding == 1);

  // Unlisted domains are limited by the global figure only.
  for (int i = 0; i < 20; ++i) {
    CHECK(counter.admit("free.test", 1000, kNoon).admitted());
  }

  const VolumeSnapshot snap = counter.snapshot(kNoon);
  CHECK(snap.global == counts(24, 100 + 5 + 20000));
  CHECK(domain_counts(snap, "limited.test") == counts(2, 100));
  CHECK(domain_counts(snap, "few-rcpts.test") == counts(2, 5));
  CHECK(domain_counts(snap, "free.test") == counts(20, 20000));
}

TEST_CASE("the global limit is reported before the sender domain's", "[quota]") {
  VolumeLimits limits;
  limits.messages = 1;
  limits.domains["d.test"] = {1, 0};
  VolumeCounter counter(limits, nullptr);
  CHECK(counter.admit("d.test", 1, kNoon).admitted());
  const VolumeAdmission over = counter.admit("d.test", 1, kNoon);
  CHECK(over.scope == VolumeScope::global);
}

TEST_CASE("sender domains are counted in lower case; the null sender is counted under \"\"",
          "[quota]") {
  VolumeCounter counter(VolumeLimits{}, nullptr);
  CHECK(counter.admit("Example.COM", 1, kNoon).admitted());
  CHECK(counter.admit("example.com", 2, kNoon).admitted());
  CHECK(counter.admit("EXAMPLE.COM", 3, kNoon).admitted());
  CHECK(counter.admit("", 1, kNoon).admitted());

  const VolumeSnapshot snap = counter.snapshot(kNoon);
  REQUIRE(snap.domains.size() == 2);
  CHECK(snap.domains[0] == VolumeDomainCounts{"example.com", counts(3, 6)});
  CHECK(snap.domains[1] == VolumeDomainCounts{"", counts(1, 1)});
}

TEST_CASE("limits given in two spellings of one domain merge to the stricter", "[quota]") {
  VolumeLimits limits;
  limits.domains["Example.com"] = {5, 0};
  limits.domains["example.COM"] = {10, 7};
  const VolumeCounter counter(limits, nullptr);
  REQUIRE(counter.limits().domains.size() == 1);
  CHECK(counter.limits().domains.at("example.com") == VolumeDomainLimits{5, 7});
}

TEST_CASE("a null-sender limit applies to the null sender", "[quota]") {
  VolumeLimits limits;
  limits.domains[""] = {1, 0};
  VolumeCounter counter(limits, nullptr);
  CHECK(counter.admit("", 1, kNoon).admitted());
  const VolumeAdmission over = counter.admit("", 1, kNoon);
  REQUIRE_FALSE(over.admitted());
  CHECK(over.describe() ==
        "volume quota reached: sender domain <> (null sender), messages 1 of 1 in period "
        "2026-11-29, the message has 1");
  CHECK(counter.admit("other.test", 1, kNoon).admitted());
}

TEST_CASE("a refund undoes one admit and frees its room under the limit", "[quota]") {
  VolumeLimits limits;
  limits.messages = 2;
  limits.domains["d.test"] = {0, 10};
  VolumeCounter counter(limits, nullptr);
  CHECK(counter.admit("d.test", 6, kNoon).admitted());
  CHECK(counter.admit("D.test", 4, kNoon).admitted());
  CHECK_FALSE(counter.admit("d.test", 1, kNoon).admitted());

  counter.refund("D.TEST", 4, kNoon);
  VolumeSnapshot snap = counter.snapshot(kNoon);
  CHECK(snap.global == counts(1, 6));
  CHECK(domain_counts(snap, "d.test") == counts(1, 6));
  CHECK(counter.admit("d.test", 4, kNoon + 1s).admitted());

  // Counts never go below zero, whatever the caller refunds.
  counter.refund("d.test", 100, kNoon);
  counter.refund("d.test", 100, kNoon);
  counter.refund("d.test", 100, kNoon);
  snap = counter.snapshot(kNoon);
  CHECK(snap.global == counts(0, 0));
  CHECK(domain_counts(snap, "d.test") == counts(0, 0));
}

TEST_CASE("a refund for a period that has rolled over is ignored", "[quota]") {
  VolumeCounter counter(VolumeLimits{}, nullptr);
  CHECK(counter.admit("d.test", 3, kLastMillisecond).admitted());
  CHECK(counter.admit("d.test", 2, kNextMidnight).admitted());
  counter.refund("d.test", 3, kLastMillisecond);
  const VolumeSnapshot snap = counter.snapshot(kNextMidnight);
  CHECK(snap.period_key == "2026-11-30");
  CHECK(snap.global == counts(1, 2));
}

TEST_CASE("counts restart at zero when a new period begins", "[quota]") {
  for (const auto& [period, before, after] :
       std::vector<std::tuple<VolumePeriod, SystemTime, SystemTime>>{
           {VolumePeriod::hour, at(2026y / 11 / 29, 19h, 59min, 59s, 999ms),
            at(2026y / 11 / 29, 20h)},
           {VolumePeriod::day, kLastMillisecond, kNextMidnight},
           {VolumePeriod::month, at(2028y / 2 / 29, 23h, 59min, 59s, 999ms), at(2028y / 3 / 1)},
       }) {
    INFO(to_string(period));
    VolumeLimits limits;
    limits.period = period;
    limits.messages = 2;
    limits.domains["d.test"] = {0, 3};
    VolumeCounter counter(limits, nullptr);
    CHECK(counter.admit("d.test", 3, before - 1min).admitted());
    CHECK(counter.admit("x.test", 1, before).admitted());
    CHECK_FALSE(counter.admit("x.test", 1, before).admitted());
    CHECK(counter.snapshot(before).global == counts(2, 4));

    const VolumeAdmission first = counter.admit("d.test", 3, after);
    CHECK(first.admitted());
    CHECK(first.period_key == volume_period_key(period, after));
    CHECK(counter.admit("x.test", 1, after).admitted());
    CHECK_FALSE(counter.admit("x.test", 1, after).admitted());

    const VolumeSnapshot snap = counter.snapshot(after);
    CHECK(snap.period_key == volume_period_key(period, after));
    CHECK(snap.global == counts(2, 4));
    CHECK(domain_counts(snap, "d.test") == counts(1, 3));
    CHECK(domain_counts(snap, "x.test") == counts(1, 1));
  }
}

TEST_CASE("a caller that read the clock just before the boundary counts in the new period",
          "[quota]") {
  VolumeLimits limits;
  limits.messages = 2;
  VolumeCounter counter(limits, nullptr);
  CHECK(counter.admit("d.test", 1, kNextMidnight + 1ms).admitted());
  // Another milter thread read 23:59:59.999 but took the lock after the rollover.
  const VolumeAdmission late = counter.admit("d.test", 1, kLastMillisecond);
  CHECK(late.admitted());
  CHECK(late.period_key == "2026-11-30");
  CHECK_FALSE(counter.admit("d.test", 1, kLastMillisecond).admitted());
  CHECK(counter.snapshot(kNextMidnight).global == counts(2, 2));
  // A snapshot taken with a slightly late clock shows the current period too.
  CHECK(counter.snapshot(kLastMillisecond).period_key == "2026-11-30");
}

TEST_CASE("a clock set back by hours moves the counter to that period, from zero", "[quota]") {
  VolumeLimits limits;
  limits.messages = 1;
  VolumeCounter counter(limits, nullptr);
  // A clock wrongly a year ahead, then corrected: the counter must not stay in the future.
  const SystemTime wrong = at(2027y / 11 / 29, 12h);
  CHECK(counter.admit("d.test", 1, wrong).admitted());
  CHECK_FALSE(counter.admit("d.test", 1, wrong).admitted());
  const VolumeAdmission corrected = counter.admit("d.test", 1, kNoon);
  CHECK(corrected.admitted());
  CHECK(corrected.period_key == "2026-11-29");
  CHECK(counter.snapshot(kNoon).global == counts(1, 1));
}

TEST_CASE("a snapshot lists every sender domain, biggest first, with the limits", "[quota]") {
  VolumeLimits limits;
  limits.messages = 1000;
  limits.recipients = 5000;
  limits.domains["Listed.test"] = {10, 20};
  VolumeCounter counter(limits, nullptr);
  for (int i = 0; i < 3; ++i) {
    (void)counter.admit("three.test", 1, kNoon);
  }
  for (int i = 0; i < 5; ++i) {
    (void)counter.admit("five.test", 1, kNoon);
  }
  (void)counter.admit("b-one.test", 2, kNoon);
  (void)counter.admit("a-one.test", 2, kNoon);
  (void)counter.admit("c-one.test", 9, kNoon);

  const VolumeSnapshot snap = counter.snapshot(kNoon + 5min);
  CHECK(snap.period_key == "2026-11-29");
  CHECK(snap.global == counts(11, 21));
  CHECK(snap.untracked == counts(0, 0));
  CHECK(snap.limits.messages == 1000);
  CHECK(snap.limits.recipients == 5000);
  CHECK(snap.limits.period == VolumePeriod::day);
  CHECK(snap.limits.domains.at("listed.test") == VolumeDomainLimits{10, 20});
  const std::vector<VolumeDomainCounts> expected = {
      {"five.test", counts(5, 5)},  {"three.test", counts(3, 3)}, {"c-one.test", counts(1, 9)},
      {"a-one.test", counts(1, 2)}, {"b-one.test", counts(1, 2)},
  };
  CHECK(snap.domains == expected);

  // The next day, before anything is counted: the new period, all zero.
  const VolumeSnapshot tomorrow = counter.snapshot(kNextMidnight);
  CHECK(tomorrow.period_key == "2026-11-30");
  CHECK(tomorrow.global == counts(0, 0));
  CHECK(tomorrow.domains.empty());
  // A snapshot does not end the period.
  CHECK(counter.snapshot(kNoon).global == counts(11, 21));
}

TEST_CASE("past max_counted_domains new unlisted domains count globally only", "[quota]") {
  VolumeLimits limits;
  limits.max_counted_domains = 2;
  limits.domains["listed.test"] = {0, 0};
  VolumeCounter counter(limits, nullptr);
  CHECK(counter.admit("a.test", 1, kNoon).admitted());
  CHECK(counter.admit("b.test", 2, kNoon).admitted());
  CHECK(counter.admit("c.test", 4, kNoon).admitted());       // not tracked
  CHECK(counter.admit("a.test", 1, kNoon).admitted());       // already tracked
  CHECK(counter.admit("listed.test", 8, kNoon).admitted());  // listed: always tracked

  VolumeSnapshot snap = counter.snapshot(kNoon);
  CHECK(snap.global == counts(5, 16));
  CHECK(snap.untracked == counts(1, 4));
  CHECK(snap.domains.size() == 3);
  CHECK(domain_counts(snap, "c.test") == counts(0, 0));

  counter.refund("c.test", 4, kNoon);
  snap = counter.snapshot(kNoon);
  CHECK(snap.untracked == counts(0, 0));
  CHECK(snap.global == counts(4, 12));
}

TEST_CASE("an absurdly long sender domain is cut to 253 bytes", "[quota]") {
  VolumeCounter counter(VolumeLimits{}, nullptr);
  const std::string long_domain(1000, 'a');
  CHECK(counter.admit(long_domain, 1, kNoon).admitted());
  const VolumeSnapshot snap = counter.snapshot(kNoon);
  REQUIRE(snap.domains.size() == 1);
  CHECK(snap.domains[0].domain == std::string(kMaxVolumeDomainLength, 'a'));
}

TEST_CASE("counts near 2^64 from a damaged store saturate instead of wrapping", "[quota]") {
  FakeVolumeStore store;
  const std::uint64_t huge = ~std::uint64_t{0};
  store.periods["2026-11-29"].global = counts(huge, huge - 1);
  VolumeLimits limits;
  limits.messages = 10;
  VolumeCounter counter(limits, &store);
  CHECK(counter.restore(kNoon).empty());
  CHECK_FALSE(counter.admit("d.test", 1, kNoon).admitted());

  VolumeCounter unlimited(VolumeLimits{}, &store);
  CHECK(unlimited.restore(kNoon).empty());
  CHECK(unlimited.admit("d.test", 5, kNoon).admitted());
  CHECK(unlimited.snapshot(kNoon).global == counts(huge, huge));
}

TEST_CASE("without a store, restore and flush do nothing", "[quota]") {
  VolumeCounter counter(VolumeLimits{}, nullptr);
  CHECK(counter.restore(kNoon).empty());
  CHECK(counter.admit("d.test", 1, kNoon).admitted());
  CHECK(counter.flush().empty());
}

TEST_CASE("flush writes only what changed since the last flush", "[quota]") {
  FakeVolumeStore store;
  VolumeCounter counter(VolumeLimits{}, &store);
  CHECK(counter.restore(kNoon).empty());
  CHECK(store.loads == 1);

  CHECK(counter.flush().empty());
  CHECK(store.saves.empty());  // nothing counted: nothing written

  CHECK(counter.admit("a.test", 2, kNoon).admitted());
  CHECK(counter.admit("b.test", 3, kNoon).admitted());
  CHECK(counter.flush().empty());
  REQUIRE(store.saves.size() == 1);
  CHECK(store.saves[0].first == "2026-11-29");
  CHECK(store.saves[0].second.global == counts(2, 5));
  CHECK(store.saves[0].second.domains ==
        std::map<std::string, VolumeCounts>{{"a.test", counts(1, 2)}, {"b.test", counts(1, 3)}});

  CHECK(counter.flush().empty());
  CHECK(store.saves.size() == 1);  // clean: no write

  CHECK(counter.admit("b.test", 1, kNoon).admitted());
  CHECK(counter.flush().empty());
  REQUIRE(store.saves.size() == 2);
  CHECK(store.saves[1].second.global == counts(3, 6));
  CHECK(store.saves[1].second.domains ==
        std::map<std::string, VolumeCounts>{{"b.test", counts(2, 4)}});  // a.test unchanged

  // A refund is a change too.
  counter.refund("a.test", 2, kNoon);
  CHECK(counter.flush().empty());
  REQUIRE(store.saves.size() == 3);
  CHECK(store.saves[2].second.domains ==
        std::map<std::string, VolumeCounts>{{"a.test", counts(0, 0)}});

  // An over message changes nothing.
  VolumeLimits limits;
  limits.messages = 1;
  VolumeCounter limited(limits, &store);
  CHECK(limited.admit("z.test", 1, kNoon).admitted());
  CHECK(limited.flush().empty());
  const std::size_t saved = store.saves.size();
  CHECK_FALSE(limited.admit("z.test", 1, kNoon).admitted());
  CHECK(limited.flush().empty());
  CHECK(store.saves.size() == saved);
}

TEST_CASE("a restarted counter continues the stored counts of the current period", "[quota]") {
  FakeVolumeStore store;
  VolumeLimits limits;
  limits.messages = 5;
  limits.domains["d.test"] = {0, 10};
  {
    VolumeCounter counter(limits, &store);
    CHECK(counter.restore(kNoon).empty());
    CHECK(counter.admit("d.test", 4, kNoon).admitted());
    CHECK(counter.admit("D.TEST", 4, kNoon).admitted());
    CHECK(counter.admit("e.test", 7, kNoon).admitted());
    CHECK(counter.flush().empty());
  }  // "restart"
  VolumeCounter counter(limits, &store);
  CHECK(counter.restore(kNoon + 1h).empty());
  VolumeSnapshot snap = counter.snapshot(kNoon + 1h);
  CHECK(snap.global == counts(3, 15));
  CHECK(domain_counts(snap, "d.test") == counts(2, 8));
  CHECK(domain_counts(snap, "e.test") == counts(1, 7));

  CHECK_FALSE(counter.admit("d.test", 3, kNoon + 1h).admitted());  // 8 + 3 > 10
  CHECK(counter.admit("d.test", 2, kNoon + 1h).admitted());
  CHECK(counter.admit("e.test", 1, kNoon + 1h).admitted());
  CHECK_FALSE(counter.admit("e.test", 1, kNoon + 1h).admitted());  // 5 messages
  // Restoring adds nothing to be written back: only what was counted since.
  CHECK(counter.flush().empty());
  REQUIRE(store.saves.size() == 2);
  CHECK(store.saves[1].second.domains.size() == 2);
  CHECK(store.periods["2026-11-29"].global == counts(5, 18));

  // A restart the next day starts from zero.
  VolumeCounter next_day(limits, &store);
  CHECK(next_day.restore(kNextMidnight).empty());
  CHECK(next_day.snapshot(kNextMidnight).global == counts(0, 0));
}

TEST_CASE("restore adds to admits counted before it and is applied once", "[quota]") {
  FakeVolumeStore store;
  store.periods["2026-11-29"].global = counts(10, 100);
  store.periods["2026-11-29"].domains["d.test"] = counts(10, 100);
  VolumeCounter counter(VolumeLimits{}, &store);
  CHECK(counter.admit("d.test", 1, kNoon).admitted());
  CHECK(counter.restore(kNoon).empty());
  CHECK(counter.snapshot(kNoon).global == counts(11, 101));

  const std::string again = counter.restore(kNoon);
  CHECK(again == "volume counter: period 2026-11-29 already restored; counts left as they are");
  CHECK(counter.snapshot(kNoon).global == counts(11, 101));

  // The sum differs from what is stored: it is written back.
  CHECK(counter.flush().empty());
  REQUIRE(store.saves.size() == 1);
  CHECK(store.saves[0].second.global == counts(11, 101));
  CHECK(store.saves[0].second.domains.at("d.test") == counts(11, 101));
}

TEST_CASE("restore reports a store error and skipped records, and counting goes on", "[quota]") {
  FakeVolumeStore store;
  store.periods["2026-11-29"].global = counts(4, 4);
  store.load_skipped = 2;
  VolumeCounter counter(VolumeLimits{}, &store);
  const std::string note = counter.restore(kNoon);
  CHECK(note ==
        "volume counter: restore period 2026-11-29: 2 malformed record(s) skipped, counted from "
        "zero; first: scope @bad.test: value of 3 bytes");
  CHECK(counter.snapshot(kNoon).global == counts(4, 4));

  FakeVolumeStore broken;
  broken.load_error = "volume counter /x: load 2026-11-29: Input/output error";
  VolumeCounter other(VolumeLimits{}, &broken);
  CHECK(other.restore(kNoon) ==
        "volume counter: restore period 2026-11-29: volume counter /x: load 2026-11-29: "
        "Input/output error");
  CHECK(other.admit("d.test", 1, kNoon).admitted());
}

TEST_CASE("a failed flush keeps the changes for the next flush", "[quota]") {
  FakeVolumeStore store;
  VolumeCounter counter(VolumeLimits{}, &store);
  CHECK(counter.admit("a.test", 1, kNoon).admitted());
  store.save_error = "volume counter /x: save 2026-11-29: MDB_MAP_FULL";
  CHECK(counter.flush() == store.save_error);
  CHECK(counter.admit("b.test", 1, kNoon).admitted());
  CHECK(counter.flush() == store.save_error);

  store.save_error.clear();
  CHECK(counter.flush().empty());
  REQUIRE(store.saves.size() == 1);
  CHECK(store.saves[0].second.global == counts(2, 2));
  CHECK(store.saves[0].second.domains ==
        std::map<std::string, VolumeCounts>{{"a.test", counts(1, 1)}, {"b.test", counts(1, 1)}});
  CHECK(counter.flush().empty());
  CHECK(store.saves.size() == 1);
}

TEST_CASE("changes of a period that rolled over before the flush are written first", "[quota]") {
  FakeVolumeStore store;
  VolumeCounter counter(VolumeLimits{}, &store);
  CHECK(counter.admit("a.test", 1, kLastMillisecond).admitted());
  CHECK(counter.admit("b.test", 2, kNextMidnight).admitted());
  CHECK(counter.flush().empty());
  REQUIRE(store.saves.size() == 2);
  CHECK(store.saves[0].first == "2026-11-29");
  CHECK(store.saves[0].second.global == counts(1, 1));
  CHECK(store.saves[1].first == "2026-11-30");
  CHECK(store.saves[1].second.global == counts(1, 2));

  // A failure across a rollover loses nothing either.
  store.save_error = "disk full";
  const SystemTime day3 = kNextMidnight + 24h;
  CHECK(counter.admit("c.test", 3, kNextMidnight + 1h).admitted());
  CHECK(counter.flush() == "disk full");
  CHECK(counter.admit("c.test", 4, day3).admitted());
  store.save_error.clear();
  CHECK(counter.flush().empty());
  CHECK(store.periods["2026-11-30"].global == counts(2, 5));
  CHECK(store.periods["2026-11-30"].domains.at("c.test") == counts(1, 3));
  CHECK(store.periods["2026-12-01"].global == counts(1, 4));
}

TEST_CASE("concurrent admits never pass a limit and count exactly what they admitted",
          "[quota][tsan]") {
  FakeVolumeStore store;
  VolumeLimits limits;
  limits.messages = 3000;
  limits.recipients = 7000;
  limits.domains["capped.test"] = {500, 0};
  VolumeCounter counter(limits, &store);

  constexpr int kThreads = 6;
  constexpr int kAttempts = 1500;
  std::atomic<std::uint64_t> admitted_messages{0};
  std::atomic<std::uint64_t> admitted_recipients{0};
  std::atomic<std::uint64_t> admitted_capped{0};
  std::atomic<bool> done{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kAttempts; ++i) {
        const bool capped = (i + t) % 3 == 0;
        const std::uint32_t recipients = 1 + static_cast<std::uint32_t>((i * 7 + t) % 4);
        const VolumeAdmission a =
            counter.admit(capped ? "Capped.TEST" : "free-" + std::to_string(t) + ".test",
                          recipients, kNoon + milliseconds(i));
        if (!a.admitted()) continue;
        admitted_messages += 1;
        admitted_recipients += recipients;
        if (capped) admitted_capped += 1;
      }
    });
  }
  // The flush thread, as bulkqd runs it, racing the admits.
  // Catch2's assertions are not thread-safe: the flusher keeps its first error for later.
  std::string flush_error;
  std::thread flusher([&] {
    while (!done) {
      if (std::string e = counter.flush(); !e.empty() && flush_error.empty()) flush_error = e;
      std::this_thread::yield();
    }
  });
  for (std::thread& th : threads) {
    th.join();
  }
  done = true;
  flusher.join();
  CHECK(flush_error.empty());
  REQUIRE(counter.flush().empty());

  const VolumeSnapshot snap = counter.snapshot(kNoon + 2s);
  CHECK(snap.global.messages == admitted_messages.load());
  CHECK(snap.global.recipients == admitted_recipients.load());
  CHECK(snap.global.messages <= 3000);
  CHECK(snap.global.recipients <= 7000);
  CHECK(domain_counts(snap, "capped.test").messages == admitted_capped.load());
  CHECK(admitted_capped.load() == 500);  // far more were tried
  // The store holds the same figures after the final flush.
  CHECK(store.periods["2026-11-29"].global == snap.global);
  for (const VolumeDomainCounts& d : snap.domains) {
    INFO(d.domain);
    CHECK(store.periods["2026-11-29"].domains.at(d.domain) == d.counts);
  }
}
