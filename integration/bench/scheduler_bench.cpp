// Scheduler benchmark: a million queued recipients over 100 000 destination domains.
//
// Measures what the scheduler thread does with bulk mail once a milter thread has
// built it: handoff (lock-free push and pop), filing into domain queues, selection and batch
// taking (with completion, which frees the nodes) — as recipients (nodes) per second; and the
// memory all of it costs per queued recipient, as the growth of the process's resident set. The
// speed runs on one core (the scheduler is one thread; the producer's work is done beforehand).
//
// Workload: messages of R recipients (10 by default, like a typical campaign injection; 1 for the
// worst case), each recipient's domain drawn independently from a Zipf distribution (s = 1) over
// 100 000 domains, so a few domains are huge and most are tiny. Addresses look like real ones:
// "subscriber123456@domain4711.example", queue ids are Postfix long ids (16 characters).
// Linked with the allocator bulkqd uses (tcmalloc, see README), so it measures what runs.
#include <benchmark/benchmark.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "core/message_builder.h"
#include "core/scheduler.h"
#include "intake/intake_handoff.h"

namespace bulkq {
namespace {

constexpr std::uint32_t kRecipients = 1'000'000;
constexpr std::uint32_t kDomains = 100'000;

class ZipfDomains {
 public:
  ZipfDomains(std::uint32_t domains, double s) : cdf_(domains) {
    double sum = 0;
    for (std::uint32_t k = 0; k < domains; ++k) {
      sum += 1.0 / std::pow(static_cast<double>(k + 1), s);
      cdf_[k] = sum;
    }
    for (double& c : cdf_)
      c /= sum;
  }
  std::uint32_t draw(std::mt19937_64& random) const {
    const double u = std::uniform_real_distribution<double>(0.0, 1.0)(random);
    return static_cast<std::uint32_t>(std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin());
  }

 private:
  std::vector<double> cdf_;
};

class SystemClockForBench final : public Clock {
 public:
  TimePoint now() const override { return now_; }  // fixed: the bench measures CPU, not time
 private:
  TimePoint now_{Duration{1'800'000'000'000}};
};

std::size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t size = 0;
  std::size_t resident = 0;
  statm >> size >> resident;
  return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

// Long queue ids look like "4jcjNh4glqz1bYM2": 16 characters.
std::string queue_id(std::uint64_t n) {
  static constexpr char kAlphabet[] = "0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz";
  std::string id(16, '0');
  for (int i = 15; i >= 0; --i) {
    id[static_cast<std::size_t>(i)] = kAlphabet[n % 52];
    n /= 52;
  }
  id[10] = 'z';
  return id;
}

// Builds the workload one message at a time, as milter threads do, handing each to `sink`.
template <typename Sink>
void generate_messages(std::uint32_t per_message, Sink&& sink) {
  static const ZipfDomains zipf(kDomains, 1.0);
  std::mt19937_64 random(20261129);
  std::uint64_t subscriber = 100'000;
  for (std::uint32_t m = 0; m < kRecipients / per_message; ++m) {
    MessageBuilder builder(MtaKind::postfix, queue_id(m + 1'000'000'000ULL),
                           "newsletter@sender.example", TimePoint{});
    for (std::uint32_t r = 0; r < per_message; ++r) {
      const std::string address = "subscriber" + std::to_string(subscriber++) + "@domain" +
                                  std::to_string(zipf.draw(random)) + ".example";
      if (!builder.add_recipient(address).empty()) std::abort();
    }
    sink(std::move(builder.build(m + 1).message));
  }
}

std::vector<std::unique_ptr<IntakeMessage>> build_messages(std::uint32_t per_message) {
  std::vector<std::unique_ptr<IntakeMessage>> messages;
  messages.reserve(kRecipients / per_message);
  generate_messages(per_message,
                    [&](std::unique_ptr<IntakeMessage> m) { messages.push_back(std::move(m)); });
  return messages;
}

// Admits whatever waits in the handoff, in rounds, as the scheduler thread does.
void admit_waiting(IntakeHandoff& handoff, Scheduler& scheduler) {
  std::array<std::unique_ptr<IntakeMessage>, Scheduler::kAdmissionRound> round;
  while (true) {
    std::size_t n = 0;
    while (n < round.size() && (round[n] = handoff.try_pop()))
      ++n;
    if (n == 0) return;
    scheduler.admit(std::span(round.data(), n));
  }
}

// Pushes every message through the handoff and admits it, the scheduler thread draining the
// handoff whenever it fills (one core plays producer and consumer in turn).
void hand_over_and_file(std::vector<std::unique_ptr<IntakeMessage>>& messages,
                        IntakeHandoff& handoff, Scheduler& scheduler) {
  std::size_t next = 0;
  while (next < messages.size()) {
    while (next < messages.size() && handoff.try_push(messages[next]) == HandoffResult::accepted) {
      ++next;
    }
    admit_waiting(handoff, scheduler);
  }
}

// Serves every queue to the end: select, take a batch, complete it as delivered, forget
// finished messages. Returns the recipients taken.
std::uint64_t drain(Scheduler& scheduler) {
  Batch batch;
  std::vector<RecipientOutcome> outcomes;
  std::vector<MessageIndex> finished;
  std::uint64_t taken = 0;
  while (scheduler.next_batch(batch)) {
    taken += batch.recipients.size();
    outcomes.assign(batch.recipients.size(), RecipientOutcome::delivered);
    finished.clear();
    scheduler.complete(batch, outcomes, finished);
    for (MessageIndex m : finished)
      scheduler.forget(m);
  }
  return taken;
}

// Memory per queued recipient, all in: the resident-set growth from before the first message is
// built to when every recipient sits in a queue (records, nodes, queues, the domain table, heaps,
// and whatever building and handing over left behind in the allocator), divided by the
// recipients. Shaped like bulkqd: a producer thread (a milter thread) builds messages one at a
// time and hands them over; this thread (the scheduler) admits them. Runs first, once.
void BM_BytesPerQueuedRecipient(benchmark::State& state) {
  const auto per_message = static_cast<std::uint32_t>(state.range(0));
  double bytes_per_recipient = 0;
  for (auto _ : state) {
    const std::size_t before = resident_bytes();
    SystemClockForBench clock;
    auto scheduler = std::make_unique<Scheduler>(clock, SchedulerLimits{});
    IntakeHandoff handoff(16384);
    std::atomic<bool> produced{false};
    std::thread producer([&] {
      generate_messages(per_message, [&](std::unique_ptr<IntakeMessage> message) {
        while (handoff.try_push(message) == HandoffResult::full)
          std::this_thread::yield();
      });
      produced.store(true, std::memory_order_release);
    });
    while (true) {
      const bool last_round = produced.load(std::memory_order_acquire);
      const bool admitted = handoff.depth() > 0;
      admit_waiting(handoff, *scheduler);
      if (last_round && !admitted) break;
      if (!admitted) std::this_thread::yield();
    }
    producer.join();
    const std::size_t after = resident_bytes();
    bytes_per_recipient = static_cast<double>(after - before) / kRecipients;
    state.counters["queues"] = static_cast<double>(scheduler->queues().queue_count());
    if (scheduler->queues().queued_recipients() != kRecipients) {
      state.SkipWithError("lost recipients");
    }
    drain(*scheduler);
  }
  state.counters["bytes_per_rcpt"] = bytes_per_recipient;
}

// Takes every batch there is (select + take), keeping them in flight as delivery would.
std::uint64_t take_all(Scheduler& scheduler, std::vector<Batch>& taken) {
  std::uint64_t nodes = 0;
  Batch batch;
  while (scheduler.next_batch(batch)) {
    nodes += batch.recipients.size();
    taken.push_back(std::move(batch));
    batch = Batch{};
  }
  return nodes;
}

// Completes batches as delivered and forgets finished messages.
void complete_all(Scheduler& scheduler, const std::vector<Batch>& taken) {
  std::vector<RecipientOutcome> outcomes;
  std::vector<MessageIndex> finished;
  for (const Batch& batch : taken) {
    outcomes.assign(batch.recipients.size(), RecipientOutcome::delivered);
    finished.clear();
    scheduler.complete(batch, outcomes, finished);
    for (MessageIndex m : finished)
      scheduler.forget(m);
  }
}

void pin_to_one_core() {
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(0, &one);
  if (sched_setaffinity(0, sizeof(one), &one) != 0) std::perror("sched_setaffinity");
}

enum class Measure { taking, whole_cycle };

// Times handoff + filing + selection + batch taking (Measure::taking), or that plus completing
// every batch as delivered and freeing finished messages (Measure::whole_cycle), on one core.
// Building the messages (the milter threads' work) is done before the clock starts.
template <Measure kMeasure>
void measure_scheduler(benchmark::State& state, const char* counter) {
  pin_to_one_core();
  const auto per_message = static_cast<std::uint32_t>(state.range(0));
  std::uint64_t nodes = 0;
  for (auto _ : state) {
    state.PauseTiming();
    SystemClockForBench clock;
    auto scheduler = std::make_unique<Scheduler>(clock, SchedulerLimits{});
    IntakeHandoff handoff(16384);
    auto messages = build_messages(per_message);
    std::vector<Batch> taken;
    taken.reserve(kRecipients / 4);  // more than the batches there will be: no regrowth timed
    state.ResumeTiming();

    hand_over_and_file(messages, handoff, *scheduler);
    if constexpr (kMeasure == Measure::taking) {
      nodes += take_all(*scheduler, taken);
    } else {
      nodes += drain(*scheduler);
    }

    state.PauseTiming();
    complete_all(*scheduler, taken);
    if (scheduler->messages().size() != 0) state.SkipWithError("messages left behind");
    scheduler.reset();
    messages.clear();
    messages.shrink_to_fit();
    state.ResumeTiming();
  }
  state.counters[counter] =
      benchmark::Counter(static_cast<double>(nodes), benchmark::Counter::kIsRate);
}

// The target's figure. Batches stay in flight as delivery would hold them; their completion is
// outside the clock here and inside it in the whole-cycle figure.
void BM_SchedulerNodesPerSecond(benchmark::State& state) {
  measure_scheduler<Measure::taking>(state, "nodes_per_s");
}

// For the record: the whole cycle, completion included.
void BM_SchedulerCycleNodesPerSecond(benchmark::State& state) {
  measure_scheduler<Measure::whole_cycle>(state, "cycle_nodes_per_s");
}

BENCHMARK(BM_BytesPerQueuedRecipient)
    ->ArgName("rcpt_per_msg")
    ->Arg(10)
    ->Arg(1)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);
// Repeated, with median and spread: on a shared 2-core VM one run can be 30% off another.
BENCHMARK(BM_SchedulerNodesPerSecond)
    ->ArgName("rcpt_per_msg")
    ->Arg(10)
    ->Arg(1)
    ->Iterations(1)
    ->Repetitions(7)
    ->ReportAggregatesOnly(true)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SchedulerCycleNodesPerSecond)
    ->ArgName("rcpt_per_msg")
    ->Arg(10)
    ->Arg(1)
    ->Iterations(1)
    ->Repetitions(7)
    ->ReportAggregatesOnly(true)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace bulkq

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  std::printf("scheduler benchmark: %u recipients over %u Zipf-skewed domains\n",
              bulkq::kRecipients, bulkq::kDomains);
  std::printf(
      "targets: nodes_per_s >= 5M (handoff + filing + selection + batch taking, one core);\n"
      "         bytes_per_rcpt <= 64 (resident-set growth per queued recipient, all in).\n"
      "The targets are set for rcpt_per_msg:10; rcpt_per_msg:1 (every message one recipient) is\n"
      "the worst case, shown for the record. cycle_nodes_per_s adds completing the batches.\n");
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
