#include "app/pipeline.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>

#include "iocstream/aggregate/contribution.h"
#include "iocstream/alert/outbox_message.h"
#include "iocstream/decode/dead_letter.h"

namespace iocstream::app {
namespace {

constexpr Instant kMaxInstant = Instant::max();

Timer PartitionStart(PartitionId p) { return Timer{p, Instant::min(), "", TimerKind::kWarning}; }

}  // namespace

Pipeline::Pipeline(state::StateStore& store, aggregate::AggregateTable& aggregates,
                   rules::RulesContext rules, PipelineOptions options, PipelineProbe& probe)
    : store_(store), aggregates_(aggregates), rules_(rules), options_(options), probe_(probe) {}

int32_t Pipeline::HashPartition(std::string_view key, int32_t partitions) {
  // Kafka's murmur2 partitioner (Java client default; librdkafka "murmur2_random").
  const auto* data = reinterpret_cast<const uint8_t*>(key.data());
  const auto length = static_cast<uint32_t>(key.size());
  constexpr uint32_t kSeed = 0x9747b28c;
  constexpr uint32_t kM = 0x5bd1e995;
  constexpr int kR = 24;
  uint32_t h = kSeed ^ length;
  const uint32_t length4 = length / 4;
  for (uint32_t i = 0; i < length4; ++i) {
    const uint32_t i4 = i * 4;
    uint32_t k = static_cast<uint32_t>(data[i4]) | (static_cast<uint32_t>(data[i4 + 1]) << 8) |
                 (static_cast<uint32_t>(data[i4 + 2]) << 16) |
                 (static_cast<uint32_t>(data[i4 + 3]) << 24);
    k *= kM;
    k ^= k >> kR;
    k *= kM;
    h *= kM;
    h ^= k;
  }
  const uint32_t tail = length & ~3U;
  switch (length % 4) {
    case 3:
      h ^= static_cast<uint32_t>(data[tail + 2]) << 16;
      [[fallthrough]];
    case 2:
      h ^= static_cast<uint32_t>(data[tail + 1]) << 8;
      [[fallthrough]];
    case 1:
      h ^= static_cast<uint32_t>(data[tail]);
      h *= kM;
  }
  h ^= h >> 13;
  h *= kM;
  h ^= h >> 15;
  return static_cast<int32_t>((h & 0x7fffffffU) % static_cast<uint32_t>(partitions));
}

Status Pipeline::Restore() {
  auto rows = store_.LoadAggregates();
  if (!rows) return rows.error();
  aggregate::AggregateTable::Rows table;
  for (auto& [key, counters] : *rows) table.emplace(std::move(key), counters);
  aggregates_.Load(std::move(table));
  return {};
}

std::optional<Offset> Pipeline::StoredOffset(const TopicPartition& tp) const {
  if (auto it = next_offsets_.find(tp); it != next_offsets_.end()) return it->second;
  auto stored = store_.GetOffset(tp);
  if (!stored) {
    spdlog::error("reading stored offset of {}[{}]: {}", tp.topic, tp.partition.value(),
                  stored.error().message);
    return std::nullopt;
  }
  return *stored;
}

std::optional<Instant> Pipeline::Watermark(PartitionId partition) const {
  if (auto it = watermarks_.find(partition); it != watermarks_.end()) return it->second;
  return std::nullopt;
}

Status Pipeline::OnAssigned(std::span<const TopicPartition> partitions) {
  auto rows = store_.LoadAggregates();
  if (!rows) return rows.error();
  for (const auto& tp : partitions) {
    aggregate::AggregateTable::Rows mine;
    for (const auto& [key, counters] : *rows) {
      if (key.partition == tp.partition) mine.emplace(key, counters);
    }
    aggregates_.LoadPartition(tp.partition, std::move(mine));
  }
  return {};
}

void Pipeline::OnRevoked(std::span<const TopicPartition> partitions) {
  for (const auto& tp : partitions) {
    next_offsets_.erase(tp);
    watermarks_.erase(tp.partition);
    next_timer_due_.erase(tp.partition);
    aggregates_.DropPartition(tp.partition);
  }
}

Status Pipeline::Prefetch(std::span<const std::string_view> ids) {
  if (ids.empty()) return {};
  auto states = store_.GetDossiers(ids);
  if (!states) return states.error();
  for (size_t i = 0; i < ids.size(); ++i) {
    entries_.emplace(std::string(ids[i]), Entry{std::move((*states)[i]), false});
  }
  return {};
}

Pipeline::Entry* Pipeline::Lookup(const std::string& dossier_id) {
  if (auto it = entries_.find(dossier_id); it != entries_.end()) return &it->second;
  auto stored = store_.GetDossier(dossier_id);
  if (!stored) {
    fatal_ = stored.error();
    return nullptr;
  }
  return &entries_.emplace(dossier_id, Entry{std::move(*stored), false}).first->second;
}

void Pipeline::Update(Entry& entry, DossierState next) {
  const DossierState* before = entry.current ? &*entry.current : nullptr;
  aggregates_.Apply(before, next);
  const std::vector<Timer> old_timers =
      before != nullptr ? rules::DesiredTimers(*before) : std::vector<Timer>{};
  const std::vector<Timer> new_timers = rules::DesiredTimers(next);
  for (const Timer& t : old_timers) {
    if (!std::binary_search(new_timers.begin(), new_timers.end(), t)) timer_changes_[t] = false;
  }
  for (const Timer& t : new_timers) {
    if (!std::binary_search(old_timers.begin(), old_timers.end(), t)) {
      timer_changes_[t] = true;
      // Lower a known bound; an unknown one is read from the store (and the batch) on use.
      if (auto due = next_timer_due_.find(t.partition); due != next_timer_due_.end()) {
        if (!due->second || t.due < *due->second) due->second = t.due;
      }
    }
  }
  entry.current = std::move(next);
  entry.dirty = true;
}

void Pipeline::QueueAlerts(const std::vector<AlertIntent>& alerts) {
  for (const AlertIntent& a : alerts) {
    outbox_.push_back(alert::EncodeOutboxMessage(alert::AlertMessage(a)));
    probe_.alerts_by_kind[static_cast<size_t>(a.kind)].fetch_add(1, std::memory_order_relaxed);
  }
}

void Pipeline::AdvanceWatermark(PartitionId partition, Instant event_time) {
  auto it = watermarks_.find(partition);
  if (it == watermarks_.end()) {
    auto stored = store_.GetWatermark(partition);
    const Instant initial = stored && *stored ? **stored : Instant::min();
    it = watermarks_.emplace(partition, initial).first;
  }
  const Instant candidate = event_time - options_.allowed_lateness;
  if (candidate > it->second) {
    it->second = candidate;
    watermark_moved_[partition] = true;
  }
}

Status Pipeline::FireDue(PartitionId p, Instant up_to) {
  auto nd = next_timer_due_.find(p);
  if (nd == next_timer_due_.end()) {
    auto stored = store_.NextTimerDue(p);
    if (!stored) return stored.error();
    nd = next_timer_due_.emplace(p, *stored).first;
    for (auto it = timer_changes_.lower_bound(PartitionStart(p));
         it != timer_changes_.end() && it->first.partition == p; ++it) {
      if (it->second && (!nd->second || it->first.due < *nd->second)) nd->second = it->first.due;
    }
  }
  if (!nd->second || *nd->second > up_to) return {};
  // No live timer of p is due before the cached next due time (it only ever errs low), so
  // scans start there instead of walking the tombstones of timers deleted before it.
  const Instant from = *nd->second;
  const Timer window_start{p, from, "", TimerKind::kWarning};
  while (true) {
    // Timers this batch already deleted inside the window still come back from the store.
    size_t deleted_in_window = 0;
    for (auto it = timer_changes_.lower_bound(window_start);
         it != timer_changes_.end() && it->first.partition == p && it->first.due <= up_to; ++it) {
      if (!it->second) ++deleted_in_window;
    }
    const size_t limit = deleted_in_window + options_.timer_scan_chunk;
    auto stored = store_.DueTimers(p, up_to, limit, from);
    if (!stored) return stored.error();
    std::vector<Timer> due;
    for (Timer& t : *stored) {
      auto c = timer_changes_.find(t);
      if (c == timer_changes_.end() || c->second) due.push_back(std::move(t));
    }
    for (auto it = timer_changes_.lower_bound(window_start);
         it != timer_changes_.end() && it->first.partition == p && it->first.due <= up_to; ++it) {
      if (it->second) due.push_back(it->first);
    }
    std::sort(due.begin(), due.end());
    due.erase(std::unique(due.begin(), due.end()), due.end());
    if (due.empty()) break;
    for (const Timer& t : due) {
      timer_changes_[t] = false;
      Entry* entry = Lookup(t.dossier_id);
      if (entry == nullptr) return fatal_;
      if (!entry->current) continue;  // orphan timer: its dossier is gone
      rules::TimerResult r = rules::FireTimer(*entry->current, t, up_to, rules_);
      if (!r.fired) continue;
      probe_.timers_fired.fetch_add(1, std::memory_order_relaxed);
      QueueAlerts(r.alerts);
      Update(*entry, std::move(r.state));
    }
    // Loop while the store may hold more (a full page) or firing created due timers.
    if (stored->size() < limit) {
      bool more = false;
      for (auto it = timer_changes_.lower_bound(window_start);
           !more && it != timer_changes_.end() && it->first.partition == p &&
           it->first.due <= up_to;
           ++it) {
        more = it->second;
      }
      if (!more) break;
    }
  }
  // Everything due up to `up_to` was handled; the next timer lies after it. Look at a few
  // stored ones (skipping those this batch deleted); if all of them were deleted, their last
  // due time is still a valid lower bound.
  constexpr size_t kHead = 8;
  const Instant after = up_to + Millis(1);
  auto head = store_.DueTimers(p, kMaxInstant, kHead, after);
  if (!head) return head.error();
  std::optional<Instant> next;
  for (const Timer& t : *head) {
    auto c = timer_changes_.find(t);
    if (c == timer_changes_.end() || c->second) {
      next = t.due;
      break;
    }
  }
  if (!next && head->size() == kHead) next = head->back().due;
  for (auto it = timer_changes_.lower_bound(Timer{p, after, "", TimerKind::kWarning});
       it != timer_changes_.end() && it->first.partition == p; ++it) {
    if (it->second) {
      if (!next || it->first.due < *next) next = it->first.due;
      break;  // ordered by due: the first put is the earliest
    }
  }
  nd->second = next;
  return {};
}

Status Pipeline::ProcessBatch(std::span<const SourceRecord> records, Instant wall_now) {
  if (!fatal_) return fatal_;
  std::vector<DecodeResult> decoded;
  decoded.reserve(records.size());
  std::vector<std::string_view> ids;
  ids.reserve(records.size());
  for (const SourceRecord& r : records) {
    decoded.push_back(decoder_.Decode(r.payload, r.key));
    if (decoded.back().has_value()) ids.push_back(decoded.back()->dossier_id);
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  std::erase_if(ids, [&](std::string_view id) { return entries_.count(std::string(id)) > 0; });
  if (Status s = Prefetch(ids); !s) return s;

  std::vector<PartitionId> touched;
  for (size_t i = 0; i < records.size(); ++i) {
    const SourceRecord& rec = records[i];
    TopicPartition tp{std::string(rec.topic), rec.partition};
    auto expected = batch_offsets_.find(tp);
    std::optional<Offset> next =
        expected != batch_offsets_.end() ? std::optional(expected->second) : StoredOffset(tp);
    if (next && rec.offset < *next) {
      // Already applied (a redelivery after a rebalance race): its effects are in the store.
      probe_.consumed.fetch_add(1, std::memory_order_relaxed);
      probe_.duplicates.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    if (next && rec.offset > *next) {
      const auto gap = static_cast<uint64_t>(rec.offset.value() - next->value());
      probe_.offset_gaps.fetch_add(gap, std::memory_order_relaxed);
      spdlog::warn("offset gap on {}[{}]: expected {}, got {}", tp.topic, tp.partition.value(),
                   next->value(), rec.offset.value());
    }
    batch_offsets_[tp] = Offset(rec.offset.value() + 1);
    probe_.consumed.fetch_add(1, std::memory_order_relaxed);

    DecodeResult& d = decoded[i];
    if (!d.has_value()) {
      const DecodeError& err = d.error();
      alert::OutboxMessage m;
      m.kind = alert::OutboxKind::kDeadLetter;
      m.key = std::string(rec.key);
      m.value = std::string(rec.payload);
      m.headers = DeadLetterHeaders(MakeDeadLetter(err, tp, rec.offset));
      outbox_.push_back(alert::EncodeOutboxMessage(m));
      probe_.dead_lettered.fetch_add(1, std::memory_order_relaxed);
      probe_.dead_lettered_by_reason[static_cast<size_t>(err.reason)].fetch_add(
          1, std::memory_order_relaxed);
      continue;
    }
    DossierEvent& event = *d;
    const PartitionId p =
        options_.hash_partitions > 0
            ? PartitionId(HashPartition(event.dossier_id, options_.hash_partitions))
            : rec.partition;
    if (touched.empty() || touched.back() != p) touched.push_back(p);
    const std::optional<Instant> watermark_before = Watermark(p);
    AdvanceWatermark(p, event.occurred_at);
    if (options_.clock == TimerClock::kWatermark && watermark_moved_.count(p) > 0) {
      if (Status s = FireDue(p, watermarks_[p]); !s) return fatal_ = s;
    }
    Entry* entry = Lookup(event.dossier_id);
    if (entry == nullptr) return fatal_;
    rules::EventResult r =
        rules::ApplyEvent(entry->current ? &*entry->current : nullptr, event, p, rules_);
    if (r.disposition == rules::Disposition::kDuplicate) {
      probe_.duplicates.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    probe_.applied.fetch_add(1, std::memory_order_relaxed);
    // Late data: behind the watermark (replay), or older than the allowed lateness (live).
    const bool late = options_.clock == TimerClock::kWatermark
                          ? watermark_before && event.occurred_at < *watermark_before
                          : event.occurred_at + options_.allowed_lateness < wall_now;
    if (watermark_before && event.occurred_at < *watermark_before) {
      probe_.late_applied.fetch_add(1, std::memory_order_relaxed);
    }
    if (late) {
      const Instant clock = options_.clock == TimerClock::kWatermark ? watermarks_[p] : wall_now;
      rules::ApplyLateDataGrace(r.state, clock, options_.allowed_lateness);
    }
    const int64_t event_ms = ToEpochMillis(event.occurred_at);
    if (event_ms > probe_.max_event_time_ms.load(std::memory_order_relaxed)) {
      probe_.max_event_time_ms.store(event_ms, std::memory_order_relaxed);
    }
    QueueAlerts(r.alerts);
    Update(*entry, std::move(r.state));
  }
  if (options_.clock == TimerClock::kWallClock) {
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    for (PartitionId p : touched) {
      if (Status s = FireDue(p, wall_now); !s) return fatal_ = s;
    }
  }
  return Commit();
}

Status Pipeline::FireTimers(std::span<const PartitionId> partitions, Instant now) {
  if (!fatal_) return fatal_;
  for (PartitionId p : partitions) {
    if (Status s = FireDue(p, now); !s) return fatal_ = s;
  }
  return Commit();
}

Status Pipeline::Commit() {
  bool empty = batch_offsets_.empty() && outbox_.empty() && timer_changes_.empty() &&
               watermark_moved_.empty();
  for (const auto& [id, e] : entries_) empty = empty && !e.dirty;
  if (empty) {
    entries_.clear();
    return {};
  }
  state::StateBatch batch = store_.NewBatch();
  for (const auto& [id, e] : entries_) {
    if (e.dirty && e.current) batch.PutDossier(*e.current);
  }
  for (const auto& [t, put] : timer_changes_) {
    if (put) {
      batch.PutTimer(t);
    } else {
      batch.DeleteTimer(t);
    }
  }
  for (const auto& [key, counters] : aggregates_.TakeDirty()) batch.PutAggregate(key, counters);
  for (const auto& [tp, off] : batch_offsets_) batch.PutOffset(tp, off);
  for (const auto& [p, moved] : watermark_moved_) batch.PutWatermark(p, watermarks_[p]);
  for (std::string& m : outbox_) batch.AppendOutbox(std::move(m));
  if (Status s = store_.Commit(std::move(batch)); !s) {
    fatal_ = s;
    return s;
  }
  for (const auto& [tp, off] : batch_offsets_) next_offsets_[tp] = off;
  // The store is now exact: refresh the cached next due time of partitions whose timers moved.
  // Seek from the cached bound: it never exceeds the earliest live timer.
  PartitionId last{-1};
  for (const auto& [t, put] : timer_changes_) {
    if (t.partition == last) continue;
    last = t.partition;
    auto cached = next_timer_due_.find(t.partition);
    const Instant from =
        cached != next_timer_due_.end() && cached->second ? *cached->second : Instant::min();
    auto stored = store_.NextTimerDue(t.partition, from);
    if (!stored) return fatal_ = stored.error();
    next_timer_due_[t.partition] = *stored;
  }
  entries_.clear();
  timer_changes_.clear();
  outbox_.clear();
  batch_offsets_.clear();
  watermark_moved_.clear();
  probe_.batches.fetch_add(1, std::memory_order_relaxed);
  return {};
}

}  // namespace iocstream::app
