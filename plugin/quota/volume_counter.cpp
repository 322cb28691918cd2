#include "quota/volume_counter.h"

#include <algorithm>
#include <limits>
#include <utility>

namespace bulkq {
namespace {

using SystemTime = std::chrono::system_clock::time_point;

// ASCII only: domains on the wire are A-labels, and a UTF-8 (SMTPUTF8) domain keeps its bytes.
std::string counted_domain(std::string_view sender_domain) {
  std::string out(sender_domain.substr(0, kMaxVolumeDomainLength));
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) {
  return b > std::numeric_limits<std::uint64_t>::max() - a
             ? std::numeric_limits<std::uint64_t>::max()
             : a + b;
}

std::uint64_t saturating_sub(std::uint64_t a, std::uint64_t b) {
  return b > a ? 0 : a - b;
}

void add(VolumeCounts& counts, const VolumeCounts& more) {
  counts.messages = saturating_add(counts.messages, more.messages);
  counts.recipients = saturating_add(counts.recipients, more.recipients);
}

// Written as a subtraction from the limit so that a count near 2^64 cannot wrap the sum.
bool would_pass(std::uint64_t count, std::uint64_t adding, std::uint64_t limit) {
  return limit != 0 && (adding > limit || count > limit - adding);
}

// The stricter of two limits, where 0 means none.
std::uint64_t stricter(std::uint64_t a, std::uint64_t b) {
  if (a == 0) return b;
  if (b == 0) return a;
  return std::min(a, b);
}

VolumeLimits lower_case_domains(VolumeLimits limits) {
  std::map<std::string, VolumeDomainLimits> domains;
  for (const auto& [name, domain_limits] : limits.domains) {
    auto [it, inserted] = domains.try_emplace(counted_domain(name), domain_limits);
    if (!inserted) {
      it->second.messages = stricter(it->second.messages, domain_limits.messages);
      it->second.recipients = stricter(it->second.recipients, domain_limits.recipients);
    }
  }
  limits.domains = std::move(domains);
  return limits;
}

}  // namespace

std::string VolumeAdmission::describe() const {
  if (admitted()) return "admitted (" + period_key + ")";
  std::string text = "volume quota reached: ";
  text += to_string(scope);
  if (scope == VolumeScope::sender_domain) {
    text += domain.empty() ? " <> (null sender)" : " " + domain;
  }
  text += ", ";
  text += to_string(measure);
  text += " " + std::to_string(count) + " of " + std::to_string(limit) + " in period " +
          period_key + ", the message has " + std::to_string(adding);
  return text;
}

VolumeCounter::VolumeCounter(VolumeLimits limits, VolumeStore* store)
    : limits_(lower_case_domains(std::move(limits))), store_(store) {}

bool VolumeCounter::starts_new_period_locked(const std::string& key, SystemTime now) const {
  if (key == period_key_) return false;
  if (period_key_.empty() || key > period_key_) return true;
  // An earlier period: a caller that read the clock just before the boundary, or a clock set
  // back (see the header).
  return now < latest_now_ - kVolumeClockTolerance;
}

void VolumeCounter::enter_period_locked(const std::string& key, SystemTime now) {
  if (!starts_new_period_locked(key, now)) {
    latest_now_ = std::max(latest_now_, now);
    return;
  }
  if (store_ != nullptr && !period_key_.empty() && has_dirty_locked()) {
    keep_unsaved_locked(period_key_, take_dirty_locked(), /*newer=*/true);
  }
  period_key_ = key;
  latest_now_ = now;
  global_ = {};
  untracked_ = {};
  domains_.clear();
  unlisted_domains_ = 0;
  global_dirty_ = false;
  dirty_domains_.clear();
}

void VolumeCounter::mark_dirty_locked(const std::string& domain, DomainEntry& entry) {
  global_dirty_ = true;
  if (!entry.dirty) {
    entry.dirty = true;
    dirty_domains_.push_back(domain);
  }
}

VolumePeriodCounts VolumeCounter::take_dirty_locked() {
  VolumePeriodCounts taken;
  taken.global = global_;
  for (std::string& name : dirty_domains_) {
    auto it = domains_.find(name);
    if (it == domains_.end()) continue;  // cannot happen: entries live until the period ends
    it->second.dirty = false;
    taken.domains.emplace(std::move(name), it->second.counts);
  }
  dirty_domains_.clear();
  global_dirty_ = false;
  return taken;
}

void VolumeCounter::keep_unsaved_locked(const std::string& key, VolumePeriodCounts counts,
                                        bool newer) {
  auto [it, inserted] = unsaved_.try_emplace(key, std::move(counts));
  if (!inserted) {
    VolumePeriodCounts& kept = it->second;
    if (newer) {
      kept.global = counts.global;
      for (auto& [name, domain_counts] : counts.domains) {
        kept.domains[name] = domain_counts;
      }
    } else {
      // Older figures only fill scopes the kept (newer) ones do not name.
      for (auto& [name, domain_counts] : counts.domains) {
        kept.domains.try_emplace(name, domain_counts);
      }
    }
  }
  // The store keeps the current period and the one before it; anything older is not worth
  // holding memory for while the store is failing.
  while (unsaved_.size() > 2) {
    unsaved_.erase(unsaved_.begin());
  }
}

VolumeAdmission VolumeCounter::admit(std::string_view sender_domain, std::uint32_t recipients,
                                     SystemTime now) {
  // The string work happens before the lock; limits_ never changes.
  const std::string key = volume_period_key(limits_.period, now);
  std::string domain = counted_domain(sender_domain);
  const auto listed = limits_.domains.find(domain);
  const VolumeDomainLimits* own_limits =
      listed == limits_.domains.end() ? nullptr : &listed->second;

  VolumeAdmission result;
  auto over = [&](VolumeScope scope, VolumeMeasure measure, std::uint64_t limit,
                  std::uint64_t count, std::uint64_t adding) {
    result.verdict = VolumeVerdict::over;
    result.scope = scope;
    if (scope == VolumeScope::sender_domain) result.domain = std::move(domain);
    result.measure = measure;
    result.limit = limit;
    result.count = count;
    result.adding = adding;
    return std::move(result);
  };

  std::lock_guard lock(mutex_);
  enter_period_locked(key, now);
  result.period_key = period_key_;

  if (would_pass(global_.messages, 1, limits_.messages)) {
    return over(VolumeScope::global, VolumeMeasure::messages, limits_.messages, global_.messages,
                1);
  }
  if (would_pass(global_.recipients, recipients, limits_.recipients)) {
    return over(VolumeScope::global, VolumeMeasure::recipients, limits_.recipients,
                global_.recipients, recipients);
  }
  auto entry = domains_.find(domain);
  if (own_limits != nullptr) {
    const VolumeCounts counted = entry == domains_.end() ? VolumeCounts{} : entry->second.counts;
    if (would_pass(counted.messages, 1, own_limits->messages)) {
      return over(VolumeScope::sender_domain, VolumeMeasure::messages, own_limits->messages,
                  counted.messages, 1);
    }
    if (would_pass(counted.recipients, recipients, own_limits->recipients)) {
      return over(VolumeScope::sender_domain, VolumeMeasure::recipients, own_limits->recipients,
                  counted.recipients, recipients);
    }
  }

  const VolumeCounts adding{1, recipients};
  add(global_, adding);
  global_dirty_ = true;
  if (entry == domains_.end()) {
    if (own_limits == nullptr && unlisted_domains_ >= limits_.max_counted_domains) {
      add(untracked_, adding);
      return result;
    }
    if (own_limits == nullptr) ++unlisted_domains_;
    entry = domains_.try_emplace(std::move(domain)).first;
  }
  add(entry->second.counts, adding);
  mark_dirty_locked(entry->first, entry->second);
  return result;
}

void VolumeCounter::refund(std::string_view sender_domain, std::uint32_t recipients,
                           SystemTime admitted_at) {
  const std::string key = volume_period_key(limits_.period, admitted_at);
  const std::string domain = counted_domain(sender_domain);

  std::lock_guard lock(mutex_);
  if (key != period_key_) return;  // that period has ended: its counts no longer matter
  global_.messages = saturating_sub(global_.messages, 1);
  global_.recipients = saturating_sub(global_.recipients, recipients);
  global_dirty_ = true;
  auto entry = domains_.find(domain);
  if (entry == domains_.end()) {
    // Admitted past max_counted_domains: it was counted as untracked.
    untracked_.messages = saturating_sub(untracked_.messages, 1);
    untracked_.recipients = saturating_sub(untracked_.recipients, recipients);
    return;
  }
  VolumeCounts& counts = entry->second.counts;
  counts.messages = saturating_sub(counts.messages, 1);
  counts.recipients = saturating_sub(counts.recipients, recipients);
  mark_dirty_locked(entry->first, entry->second);
}

VolumeSnapshot VolumeCounter::snapshot(SystemTime now) const {
  VolumeSnapshot snap;
  snap.period_key = volume_period_key(limits_.period, now);
  snap.limits = limits_;
  {
    std::lock_guard lock(mutex_);
    if (!starts_new_period_locked(snap.period_key, now)) {
      snap.period_key = period_key_;
      snap.global = global_;
      snap.untracked = untracked_;
      snap.domains.reserve(domains_.size());
      for (const auto& [name, entry] : domains_) {
        snap.domains.push_back({name, entry.counts});
      }
    }
  }
  std::sort(snap.domains.begin(), snap.domains.end(),
            [](const VolumeDomainCounts& a, const VolumeDomainCounts& b) {
              if (a.counts.messages != b.counts.messages) {
                return a.counts.messages > b.counts.messages;
              }
              if (a.counts.recipients != b.counts.recipients) {
                return a.counts.recipients > b.counts.recipients;
              }
              return a.domain < b.domain;
            });
  return snap;
}

std::string VolumeCounter::restore(SystemTime now) {
  if (store_ == nullptr) return {};
  const std::string key = volume_period_key(limits_.period, now);
  {
    std::lock_guard lock(mutex_);
    if (restored_period_ == key) {
      return "volume counter: period " + key + " already restored; counts left as they are";
    }
  }
  VolumeLoadResult loaded = store_->load(key);  // outside the mutex: this is I/O

  std::string note;
  if (!loaded.ok()) note = "volume counter: restore period " + key + ": " + loaded.error;
  if (loaded.skipped > 0) {
    if (!note.empty()) note += "; ";
    note += "volume counter: restore period " + key + ": " + std::to_string(loaded.skipped) +
            " malformed record(s) skipped, counted from zero; first: " + loaded.first_skip;
  }

  std::lock_guard lock(mutex_);
  enter_period_locked(key, now);
  if (period_key_ != key) return note;  // the counter has moved on to a later period already
  if (restored_period_ == key) {
    return "volume counter: period " + key + " already restored; counts left as they are";
  }
  restored_period_ = key;
  // Admits counted before the restore (normally none) make the sum differ from what is stored:
  // those scopes must be written back.
  if (global_.messages != 0 || global_.recipients != 0) global_dirty_ = true;
  add(global_, loaded.counts.global);
  for (auto& [name, counts] : loaded.counts.domains) {
    auto [entry, inserted] = domains_.try_emplace(name);
    if (inserted) {
      if (limits_.domains.find(name) == limits_.domains.end()) ++unlisted_domains_;
    } else {
      mark_dirty_locked(entry->first, entry->second);
    }
    add(entry->second.counts, counts);
  }
  return note;
}

std::string VolumeCounter::flush() {
  if (store_ == nullptr) return {};
  std::lock_guard flushing(flush_mutex_);

  std::vector<std::pair<std::string, VolumePeriodCounts>> batches;
  {
    std::lock_guard lock(mutex_);
    for (auto& [key, counts] : unsaved_) {
      batches.emplace_back(key, std::move(counts));
    }
    unsaved_.clear();
    if (has_dirty_locked()) batches.emplace_back(period_key_, take_dirty_locked());
  }
  if (batches.empty()) return {};

  std::string error;
  std::size_t written = 0;
  for (; written < batches.size(); ++written) {
    error = store_->save(batches[written].first, batches[written].second);
    if (!error.empty()) break;
  }
  if (error.empty()) return {};

  // Keep what was not written. Figures are absolute, so whatever changed since is newer and wins;
  // the next flush writes the latest.
  std::lock_guard lock(mutex_);
  for (std::size_t i = written; i < batches.size(); ++i) {
    auto& [key, counts] = batches[i];
    if (key != period_key_) {
      keep_unsaved_locked(key, std::move(counts), /*newer=*/false);
      continue;
    }
    global_dirty_ = true;
    for (const auto& [name, domain_counts] : counts.domains) {
      if (auto entry = domains_.find(name); entry != domains_.end()) {
        mark_dirty_locked(entry->first, entry->second);
      }
    }
  }
  return error;
}

}  // namespace bulkq
