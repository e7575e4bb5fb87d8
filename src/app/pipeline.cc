#include "app/pipeline.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <boost/endian/conversion.hpp>
#include <cassert>
#include <cstring>
#include <limits>
#include <thread>
#include <tuple>

#include "iocstream/aggregate/contribution.h"
#include "iocstream/alert/outbox_message.h"
#include "iocstream/core/code.h"
#include "iocstream/core/json_string.h"
#include "iocstream/core/prefetch.h"
#include "iocstream/decode/dead_letter.h"
#include "iocstream/decode/rfc3339.h"

namespace iocstream::app {
namespace {

// Adds `n` to a PipelineProbe counter. The Pipeline's thread is each counter's only writer, so
// a relaxed load and store are enough (readers on other threads still see whole values): a
// locked add, several per record, drains the store buffer each time (a locked add after the
// consumed count was 13% of ProcessDecoded's own samples in a replay profile).
void CountUp(std::atomic<uint64_t>& counter, uint64_t n) {
  counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

// Raises a PipelineProbe gauge to `value` (its only writer is the Pipeline's thread).
void RaiseTo(std::atomic<int64_t>& gauge, int64_t value) {
  if (value > gauge.load(std::memory_order_relaxed)) {
    gauge.store(value, std::memory_order_relaxed);
  }
}

constexpr Instant kMaxInstant = Instant::max();

// Pipeline::LogRateLimit: a warning about the data (a conflict kind, receipts without a deadline)
// is logged at most this often.
constexpr std::chrono::seconds kLogInterval{10};

// The value of a receipt's field as a conflicting_receipt detail quotes it: the event's, or
// (e == nullptr) the dossier's.
std::string ReceiptValue(rules::ReceiptField field, const DossierState& s, const DossierEvent* e) {
  auto instant = [](const std::optional<Instant>& t) {
    return t ? FormatRfc3339Utc(*t) : std::string("none");
  };
  auto code = [&](CodeField f, Code held) {
    return "'" + std::string(e != nullptr ? CodeText(*e, f) : held.view()) + "'";
  };
  switch (field) {
    case rules::ReceiptField::kOccurredAt:
      return instant(e != nullptr ? std::optional<Instant>(e->occurred_at)
                                  : s.received_at.ToOptional());
    case rules::ReceiptField::kDueAt:
      return instant(e != nullptr ? e->due_at : s.original_due_at.ToOptional());
    case rules::ReceiptField::kAgency:
      return code(CodeField::kAgency, s.agency_code);
    case rules::ReceiptField::kCommune:
      return code(CodeField::kCommune, s.commune_code);
    case rules::ReceiptField::kProcedure:
      return code(CodeField::kProcedure, s.procedure_code);
    case rules::ReceiptField::kChannel:
      return std::string(ToString(e != nullptr ? e->channel : s.channel));
    case rules::ReceiptField::kOnlineLevel:
      return std::string(ToString(e != nullptr ? e->online_level : s.online_level));
  }
  return {};
}

// The error that dead-letters `event`, a received event contradicting in `field` the receipt
// dossier `s` holds (rules::ReceiptConflict).
DecodeError ConflictingReceipt(const DossierState& s, const DossierEvent& event,
                               rules::ReceiptField field) {
  return DecodeError{
      DecodeErrorReason::kConflictingReceipt,
      fmt::format("{}: {} here, but dossier '{}' was received already with {} (received at {}): "
                  "a second receipt that contradicts the first is not applied, the first stays",
                  rules::ToString(field), ReceiptValue(field, s, &event), event.dossier_id,
                  ReceiptValue(field, s, nullptr), FormatRfc3339Utc(*s.received_at))};
}

// The error that dead-letters `event`, whose id dossier `s` applied already for another event
// (rules::EventIdReused). A receipt that differs from the one held names the field, as a
// conflicting_receipt would: "holds no received at T" misled where a receipt at T was held
// with another commune (a helper's finding).
DecodeError EventIdReusedError(const DossierState& s, const DossierEvent& event) {
  std::string what;
  if (const auto field = rules::ReceiptDifferenceFrom(s, event)) {
    what = fmt::format("its receipt says {} {}, the receipt applied {} (received at {})",
                       rules::ToString(*field), ReceiptValue(*field, s, &event),
                       ReceiptValue(*field, s, nullptr), FormatRfc3339Utc(*s.received_at));
  } else {
    what = fmt::format("the dossier holds no {} at {} that it would have left",
                       ToString(event.type), FormatRfc3339Utc(event.occurred_at));
  }
  return DecodeError{
      DecodeErrorReason::kEventIdReused,
      fmt::format("event_id: '{}' was applied to dossier '{}' already, by another event: {}; "
                  "an event id names one event, so this one is not applied as a duplicate of "
                  "it: publish it under an id of its own",
                  event.event_id, event.dossier_id, what)};
}

// The heap bytes of a dossier state's id or an alert's strings (boost::container::string: up to
// its empty capacity, 22 bytes, inline).
size_t HeapBytes(const boost::container::string& s) {
  static const size_t kInline = boost::container::string().capacity();
  return s.capacity() > kInline ? s.capacity() + 1 : 0;
}

// Admits the event's codes that were new to the process when it was read (see
// core/dossier_event.h), through Code::Admitted. A code its dossier holds is admitted even
// past the limit: reading the dossier from the store interned it (after a restart, a pool
// emptied by it did not hold the code when the event was decoded). A new code past the limit:
// the error that dead-letters the event, before it changes anything: all of its codes are
// admitted or none (with one slot left, an event bringing two new codes took it and was
// refused all the same). Last of the event's checks, so an event refused for another reason
// adds nothing to the pool.
std::optional<DecodeError> AdmitNewCodes(DossierEvent& event) {
  auto refuse = [](const NewCode& code) {
    return DecodeError{DecodeErrorReason::kTooManyCodes,
                       std::string(ToString(code.field)) + ": new code '" +
                           code.text.substr(0, 64) + "': " + std::to_string(Code::PoolSize()) +
                           " distinct codes are held already (a process admits " +
                           std::to_string(kMaxAdmittedCodes) + " from events)"};
  };
  if (event.new_codes.size() > 1) {
    // The distinct texts the pool lacks (one text may fill several fields).
    std::array<std::string_view, kCodeFieldCount> missing;
    size_t count = 0;
    const NewCode* first_missing = nullptr;
    for (const NewCode& code : event.new_codes) {
      if (Code::Find(code.text)) continue;
      if (std::find(missing.begin(), missing.begin() + count, code.text) !=
          missing.begin() + count) {
        continue;
      }
      missing[count++] = code.text;
      if (first_missing == nullptr) first_missing = &code;
    }
    if (count > 0 && Code::PoolSize() + count > kMaxAdmittedCodes) return refuse(*first_missing);
  }
  for (const NewCode& code : event.new_codes) {
    std::optional<Code> admitted = Code::Admitted(code.text);
    if (!admitted) return refuse(code);
    CodeOf(event, code.field) = *admitted;
  }
  event.new_codes.clear();
  return std::nullopt;
}

}  // namespace

Pipeline::CacheKey::CacheKey(std::string_view id) {
  if (id.size() <= kInline) {
    std::memcpy(bytes_, id.data(), id.size());
    size_ = static_cast<uint8_t>(id.size());
    return;
  }
  char* heap = new char[id.size()];
  std::memcpy(heap, id.data(), id.size());
  const auto size = static_cast<uint32_t>(id.size());
  std::memcpy(bytes_, &heap, sizeof heap);
  std::memcpy(bytes_ + sizeof heap, &size, sizeof size);
  size_ = kOnHeap;
}

Pipeline::CacheKey::CacheKey(CacheKey&& other) noexcept : size_(other.size_) {
  std::memcpy(bytes_, other.bytes_, kInline);
  other.size_ = 0;  // the heap bytes, if any, are this key's now
}

Pipeline::CacheKey& Pipeline::CacheKey::operator=(CacheKey&& other) noexcept {
  if (this != &other) {
    if (!IsInline()) delete[] HeapData();
    std::memcpy(bytes_, other.bytes_, kInline);
    size_ = other.size_;
    other.size_ = 0;
  }
  return *this;
}

Pipeline::CacheKey::~CacheKey() {
  if (!IsInline()) delete[] HeapData();
}

char* Pipeline::CacheKey::HeapData() const noexcept {
  char* heap = nullptr;
  std::memcpy(&heap, bytes_, sizeof heap);
  return heap;
}

uint32_t Pipeline::CacheKey::HeapSize() const noexcept {
  uint32_t size = 0;
  std::memcpy(&size, bytes_ + sizeof(char*), sizeof size);
  return size;
}

std::string_view Pipeline::CacheKey::view() const noexcept {
  return IsInline() ? std::string_view(bytes_, size_) : std::string_view(HeapData(), HeapSize());
}

size_t Pipeline::EntryBytes(std::string_view dossier_id, const std::optional<DossierState>& state) {
  // The index's slot (hash, key and pointer), the key's heap bytes, the entry; then the state's
  // heap parts (its codes are interned: their texts are shared, not the entry's).
  size_t bytes = kIndexBytesPerEntry + CacheKey::HeapBytesFor(dossier_id) + sizeof(Entry);
  if (state) {
    bytes += HeapBytes(state->dossier_id) + state->pauses.HeapBytes() +
             state->pause_marks.HeapBytes() + state->applied_event_ids.HeapBytes();
  }
  return bytes;
}

PipelineOptions Pipeline::WithDefaults(PipelineOptions options) {
  if (options.timer_horizon <= Millis(0)) {
    options.timer_horizon = options.clock == TimerClock::kWatermark
                                ? Millis(std::chrono::hours(24))
                                : Millis(std::chrono::minutes(5));
  }
  return options;
}

Pipeline::Pipeline(state::StateStore& store, aggregate::AggregateTable& aggregates,
                   rules::RulesContext rules, PipelineOptions options, PipelineProbe& probe)
    : store_(store),
      aggregates_(aggregates),
      rules_(rules),
      options_(WithDefaults(options)),
      probe_(probe),
      writer_(options.async_commit ? std::make_unique<CommitWriter>(store) : nullptr) {}

Pipeline::~Pipeline() {
  if (Status s = AwaitWrite(); !s) {
    spdlog::error("last state commit failed: {} (a restart resumes from the store)",
                  s.error().message);
  }
  // The writer goes first: a job reads members destroyed before it (job_).
  writer_.reset();
}

Status Pipeline::AwaitWrite() {
  if (!writer_ || !writer_->busy()) return fatal_;
  Status s;
  {
    const ScopedWait wait(probe_, PipelineWait::kStateWriter);
    s = writer_->Await();
  }
  if (!s) {
    fatal_ = s;
    return s;
  }
  for (const auto& [tp, off] : in_flight_offsets_) durable_offsets_[tp] = off;
  in_flight_offsets_.clear();
  ForEachHead([](TimerHead& head) { head.uncovered.in_flight.clear(); });
  ++durable_commits_;
  return fatal_;
}

uint32_t Pipeline::Murmur2(std::string_view key) {
  const auto* data = reinterpret_cast<const uint8_t*>(key.data());
  const auto length = static_cast<uint32_t>(key.size());
  constexpr uint32_t kSeed = 0x9747b28c;
  constexpr uint32_t kM = 0x5bd1e995;
  constexpr int kR = 24;
  uint32_t h = kSeed ^ length;
  const uint32_t length4 = length / 4;
  for (uint32_t i = 0; i < length4; ++i) {
    uint32_t k = boost::endian::load_little_u32(data + i * 4);  // one load (GCC 12 made four)
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
  return h;
}

void HashDecoded(std::span<const DecodeResult> decoded, std::span<EventHashes> out) {
  assert(out.size() == decoded.size());
  for (size_t i = 0; i < decoded.size(); ++i) {
    if (!decoded[i].has_value()) {
      out[i] = EventHashes{};
      continue;
    }
    const DossierEvent& e = *decoded[i];
    out[i] = EventHashes{ShortHash(e.dossier_id), rules::EventIdHash(e.event_id),
                         Pipeline::Murmur2(e.dossier_id)};
  }
}

Status Pipeline::Restore() {
  auto rows = store_.LoadAggregates();
  if (!rows) return rows.error();
  aggregate::AggregateTable::Rows table;
  for (auto& [key, counters] : *rows) table.emplace(std::move(key), counters);
  aggregates_.Load(std::move(table));
  return {};
}

Result<std::optional<Offset>> Pipeline::ReadStoredOffset(const TopicPartition& tp) const {
  if (auto it = next_offsets_.find(tp); it != next_offsets_.end()) {
    return std::optional<Offset>(it->second);
  }
  return store_.GetOffset(tp);
}

void Pipeline::ExpectFirstOffset(const TopicPartition& tp, Offset log_start) {
  log_starts_[tp] = log_start;
}

std::optional<Offset> Pipeline::StoredOffset(const TopicPartition& tp) const {
  auto stored = ReadStoredOffset(tp);
  if (!stored) {
    spdlog::error("reading stored offset of {}[{}]: {}", tp.topic, tp.partition.value(),
                  stored.error().message);
    return std::nullopt;
  }
  return *stored;
}

std::optional<uint64_t> Pipeline::StoredSourceCheck(const TopicPartition& tp) const {
  const std::optional<Offset> offset = StoredOffset(tp);
  return offset ? ChainBefore(tp, *offset) : std::nullopt;
}

std::optional<uint64_t> Pipeline::ChainBefore(const TopicPartition& tp, Offset offset) const {
  std::optional<state::SourceCheck> check;
  if (auto it = next_source_checks_.find(tp); it != next_source_checks_.end()) {
    check = it->second;
  } else if (auto stored = store_.GetSourceCheck(tp); stored) {
    check = *stored;
  } else {
    spdlog::error("reading stored source check of {}[{}]: {}", tp.topic, tp.partition.value(),
                  stored.error().message);
  }
  if (!check || check->next_offset != offset) return std::nullopt;
  return check->chain;
}

std::string_view Pipeline::WithoutTrailingBlanks(std::string_view payload) {
  const size_t end = payload.find_last_not_of(" \t\r");
  return payload.substr(0, end == std::string_view::npos ? 0 : end + 1);
}

uint64_t Pipeline::ChainFingerprint(uint64_t previous, std::string_view payload) {
  payload = WithoutTrailingBlanks(payload);
  // The dispatching variant (SeededLongHash): lines are longer than XXH3's 240-byte short
  // path, and the seeded long path cost the reader thread about 430 instructions per line
  // built for SSE2, 250 with AVX2.
  return SeededLongHash(previous, payload);
}

std::optional<Instant> Pipeline::Watermark(PartitionId partition) const {
  if (auto it = watermarks_.find(partition); it != watermarks_.end()) return it->second.watermark;
  return std::nullopt;
}

bool Pipeline::AnyWatermarkMoved() const {
  return std::any_of(watermarks_.begin(), watermarks_.end(),
                     [](const auto& w) { return w.second.moved; });
}

Status Pipeline::OnAssigned(std::span<const TopicPartition> partitions, Instant wall_now) {
  if (Status s = AwaitWrite(); !s) return s;
  // Held partitions the group gave to another member (or to none) now leave the screens: their
  // owner shows them. The assigned ones are reloaded below, as any.
  {
    std::lock_guard lock(held_mu_);
    for (const PartitionId p : held_) {
      const bool assigned =
          std::any_of(partitions.begin(), partitions.end(),
                      [&](const TopicPartition& tp) { return tp.partition == p; });
      if (!assigned) aggregates_.DropPartition(p);
    }
    held_.clear();
    probe_.partitions_held.store(0);
  }
  // The event-time gauges start from the assigned partitions' stored clocks (a watermark is
  // the newest event time applied there minus the allowed lateness): a restart on a quiet
  // topic exported none until its next event, and Grafana showed no lag (a QA trial).
  const int64_t now_ms = ToEpochMillis(wall_now);
  // Whether the lag has a base yet (none before the first assignment since the start).
  const bool lag_based = probe_.max_past_event_time_ms.load(std::memory_order_relaxed) > 0;
  for (const TopicPartition& tp : partitions) {
    auto stored = store_.GetWatermark(tp.partition);
    if (!stored || !*stored) continue;  // none yet (a read failure is the next event's to say)
    const int64_t newest = ToEpochMillis(**stored + options_.allowed_lateness);
    RaiseTo(probe_.max_event_time_ms, newest);
    // A newest dated ahead is capped at now, as each event's time is when applied
    // (PipelineProbe), but only for a base the process does not have yet: left out, the lag
    // came from other partitions' older events after a restart; capped at every rebalance, it
    // fell to 0 whenever another instance joined or left (QA trials).
    if (newest <= now_ms || !lag_based) {
      RaiseTo(probe_.max_past_event_time_ms, std::min(newest, now_ms));
    }
  }
  return LoadAggregatesOf(partitions);
}

Status Pipeline::LoadAggregatesOf(std::span<const TopicPartition> partitions) {
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

std::set<PartitionId> Pipeline::HeldPartitions() const {
  std::lock_guard lock(held_mu_);
  return held_;
}

void Pipeline::OnRevoked(std::span<const TopicPartition> partitions, bool lost, bool hold) {
  hold = hold && lost;
  if (lost) {
    if (Status s = AwaitWrite(); !s) {
      spdlog::error("a state commit in flight when partitions were lost failed: {}",
                    s.error().message);
    }
    // Every partition of the assignment is lost at once: all that is pending goes.
    batch_offsets_.clear();
    outbox_.clear();
    outbox_bytes_ = 0;
    for (auto& [p, clock] : watermarks_) clock.moved = false;
    local_markers_.clear();
    pending_records_ = 0;
    touched_.clear();
  } else if (fatal_ && HasPending()) {
    if (Status s = Flush(); !s) {
      spdlog::error("committing before giving up partitions failed: {}", s.error().message);
    }
  }
  // Another instance may change these dossiers before they come back: drop the whole cache
  // (rebalances are rare; it refills from the store).
  entries_.Clear();
  finished_.clear();
  cache_bytes_ = 0;
  dirty_.clear();  // empty unless the Pipeline is fatal (then it never commits again)
  dirty_bytes_ = 0;
  // Likewise (they belong to the entries just dropped).
  timer_writes_ = 0;
  stray_timers_.clear();
  ForEachHead([](TimerHead& head) {
    head.uncovered.current.clear();
    head.uncovered.in_flight.clear();
  });
  for (const auto& tp : partitions) {
    log_starts_.erase(tp);
    next_offsets_.erase(tp);
    next_source_checks_.erase(tp);
    durable_offsets_.erase(tp);
    watermarks_.erase(tp.partition);
    DropHead(tp.partition);
    aggregates_.DropPartition(tp.partition);
  }
  if (!hold) return;
  // The aggregates in memory counted the changes just dropped: held, they are those of the last
  // commit, as the store's dossiers (what the worklist and lookups read) are.
  if (Status s = LoadAggregatesOf(partitions); !s) {
    spdlog::error(
        "reading the aggregates of the lost partitions failed ({}): they leave the "
        "screens until the group assigns partitions again",
        s.error().message);
    return;
  }
  std::lock_guard lock(held_mu_);
  for (const auto& tp : partitions) held_.insert(tp.partition);
  probe_.partitions_held.store(held_.size());
}

Pipeline::Entry* Pipeline::Cache(const std::string& dossier_id, std::optional<DossierState> state) {
  const uint64_t hash = ShortHash(dossier_id);
  auto [found, inserted] = entries_.FindOrInsert(dossier_id, hash, [&] { return NewEntry(hash); });
  if (!inserted) return found;
  Entry& entry = *found;
  entry.current = std::move(state);
  entry.last_used = commit_count_;
  Resize(entry, dossier_id);  // from 0 bytes: counts it in cache_bytes_, sets `open`
  return &entry;
}

void Pipeline::Resize(Entry& entry, std::string_view dossier_id) {
  const size_t bytes = EntryBytes(dossier_id, entry.current);
  cache_bytes_ = cache_bytes_ - entry.bytes + bytes;
  if (entry.dirty) dirty_bytes_ = dirty_bytes_ - entry.bytes + bytes;
  entry.bytes = static_cast<uint32_t>(bytes);
  entry.open = entry.current && rules::IsOpen(*entry.current);
}

Pipeline::Entry* Pipeline::Lookup(const std::string& dossier_id) {
  if (Entry* cached = FindCached(dossier_id)) {
    cached->last_used = commit_count_;
    CountUp(probe_.dossier_cache_hits, 1);
    return cached;
  }
  auto stored = store_.GetDossier(dossier_id);
  if (!stored) {
    fatal_ = stored.error();
    return nullptr;
  }
  CountUp(stored->has_value() ? probe_.dossier_cache_misses : probe_.dossier_cache_new, 1);
  return Cache(dossier_id, std::move(*stored));
}

void Pipeline::SettleEncode(const Entry& entry) {
  uint8_t state = entry.encode.load(std::memory_order_acquire);
  if (state == kEncodeIdle) return;
  if (state == kEncodePending) {
    // The writer has not reached it: encoded here, as it is now, for the write in flight.
    // Under the lock the writer takes once it has been through every entry, so the claimed
    // states it adds then are complete.
    const std::lock_guard lock(claim_mu_);
    if (entry.encode.compare_exchange_strong(state, kEncodeByPipeline, std::memory_order_acquire)) {
      claimed_.Add(*entry.current);
      entry.encode.store(kEncodeIdle, std::memory_order_release);
      return;
    }
  }
  // The writer is encoding it (one state: a microsecond at most).
  while (entry.encode.load(std::memory_order_acquire) != kEncodeIdle) {
    std::this_thread::yield();
  }
}

void Pipeline::EncodeOnWriter(CommitJob& job) {
  // The entries are as far out of the caches here as on the pipeline thread: asked for a few
  // ahead, their ids' heap bytes after them.
  constexpr size_t kAhead = 4;
  const std::vector<Entry*>& entries = job.to_encode;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i + 2 * kAhead < entries.size()) prefetch::Bytes(entries[i + 2 * kAhead], sizeof(Entry));
    if (i + kAhead < entries.size()) prefetch::Text(entries[i + kAhead]->current->dossier_id);
    Entry* e = entries[i];
    uint8_t expected = kEncodePending;
    if (e->encode.compare_exchange_strong(expected, kEncodeByWriter, std::memory_order_acquire)) {
      job.dossiers.Add(*e->current);
      e->encode.store(kEncodeIdle, std::memory_order_release);
    }  // else the pipeline claimed it: in claimed_
  }
  const std::lock_guard lock(claim_mu_);
  job.dossiers.Append(claimed_);
}

void Pipeline::BeginChange(const Entry& entry) {
  SettleEncode(entry);
  ChangeBase& base = change_base_;
  base.existed = entry.current.has_value();
  if (!base.existed) {
    base.timers = rules::TimerSlots{};
    return;
  }
  base.partition = entry.current->partition;
  aggregate::AggregateTable::TakeFootprint(*entry.current, base.footprint);
  if (entry.stored_timer_known) {
    base.timers = rules::TimerSlots{};
    if (entry.has_stored_timer) {
      base.timers.slots[0] = {entry.stored_timer_due, entry.stored_timer_kind};
      base.timers.size = 1;
    }
  } else {
    base.timers = rules::StoredTimerSlots(*entry.current);
  }
}

void Pipeline::EndChange(Entry& entry) {
  const ChangeBase& base = change_base_;
  const DossierState& next = *entry.current;
  aggregates_.Apply(base.existed ? &base.footprint : nullptr, next);
  // Compare the stored timer (the dossier's next one) before and after without building it:
  // most events leave it as it was, and a changed one is built (with its dossier id) only to
  // be put or deleted.
  const rules::TimerSlots& old_timers = base.timers;
  const rules::TimerSlots new_timers = rules::StoredTimerSlots(next);
  // Kept for the entry's next BeginChange (the state changes only between the two).
  assert(new_timers.size <= 1);
  entry.KnowStoredTimer(new_timers);
  const bool moved = base.existed && base.partition != next.partition;
  bool changed = false;
  for (size_t i = 0; i < old_timers.size; ++i) {
    const auto& slot = old_timers.slots[i];
    if (moved || !new_timers.Contains(slot)) {
      ChangeTimer(entry, next.dossier_id, base.partition, slot.due, slot.kind, false);
      changed = true;
    }
  }
  for (size_t i = 0; i < new_timers.size; ++i) {
    const auto& slot = new_timers.slots[i];
    if (moved || !old_timers.Contains(slot)) {
      ChangeTimer(entry, next.dossier_id, next.partition, slot.due, slot.kind, true);
      changed = true;
    }
  }
  // The first change since the last commit starts from the timer that commit left.
  MarkDirty(entry, old_timers, base.existed ? base.partition : next.partition);
  if (changed) {
    DirtyEntry& d = dirty_[entry.dirty_index];
    const bool same = entry.has_stored_timer &&
                      d.Committed(next.partition, entry.stored_timer_due, entry.stored_timer_kind);
    const auto writes = static_cast<uint8_t>(
        same ? 0 : static_cast<int>(d.has_committed) + static_cast<int>(entry.has_stored_timer));
    timer_writes_ = timer_writes_ - d.timer_writes + writes;
    d.timer_writes = writes;
  }
  Resize(entry, next.dossier_id);
}

void Pipeline::MarkDirty(Entry& entry, const rules::TimerSlots& committed, PartitionId partition) {
  if (entry.dirty) return;
  assert(committed.size <= 1);
  entry.dirty = true;
  entry.dirty_index = static_cast<uint32_t>(dirty_.size());
  DirtyEntry d{&entry};
  if (committed.size > 0) {
    d.has_committed = true;
    d.committed_due = committed.slots[0].due;
    d.committed_kind = committed.slots[0].kind;
    d.committed_partition = partition;
  }
  dirty_.push_back(d);
  dirty_bytes_ += entry.bytes;
}

void Pipeline::Update(Entry& entry, DossierState next) {
  BeginChange(entry);
  entry.current = std::move(next);
  EndChange(entry);
}

void Pipeline::CheckReceiptDeadline(const DossierState& state) {
  if (state.due_source != DueSource::kNone || rules_.catalog == nullptr) return;
  uint64_t unlogged = 0;
  const auto since = [&unlogged](std::string_view metric) {
    return unlogged > 0 ? fmt::format(" ({} more such dossier(s) since the last warning; see {})",
                                      unlogged, metric)
                        : std::string();
  };
  constexpr std::string_view kNoDeadlineMetric = "iocstream_events_received_without_deadline_total";
  // Counts the dossier under `reason`; whether to log it now.
  const auto count = [&](NoDeadlineReason reason) {
    CountUp(probe_.received_without_deadline[static_cast<size_t>(reason)], 1);
    return no_deadline_logs_[static_cast<size_t>(reason)].Admit(unlogged);
  };
  if (state.procedure_code.empty()) {
    if (!count(NoDeadlineReason::kNoProcedureCode)) return;
    spdlog::warn(
        "dossier '{}' (agency {}): its received event has no due_at and the dossier has no "
        "procedure code to look its duration up in the procedure catalog: the dossier has no "
        "deadline{}",
        state.dossier_id, state.agency_code.view(), since(kNoDeadlineMetric));
    return;
  }
  const rules::ProcedureRule* rule = rules_.catalog->Find(state.procedure_code);
  if (rule == nullptr) {
    CountUp(probe_.unknown_procedures, 1);
    if (!unknown_procedure_log_.Admit(unlogged)) return;
    spdlog::warn(
        "dossier '{}' (agency {}): procedure code '{}' is not in the procedure catalog and its "
        "received event has no due_at: the dossier has no deadline{}",
        state.dossier_id, state.agency_code.view(), state.procedure_code.view(),
        since("iocstream_events_unknown_procedure_total"));
    return;
  }
  if (const std::optional<rules::LegalDuration> duration = rule->DurationFor(state.channel)) {
    // A duration and still no deadline: the period ends after 2199, past the calendar.
    if (!state.received_at || !count(NoDeadlineReason::kPastCalendar)) return;
    spdlog::warn(
        "dossier '{}' (agency {}): procedure '{}''s catalog duration ({} {}) from its receipt "
        "at {} ends after {}, past the business calendar, and its received event has no "
        "due_at: the dossier has no deadline{}",
        state.dossier_id, state.agency_code.view(), state.procedure_code.view(), duration->amount,
        rules::ToString(duration->unit), FormatRfc3339Utc(*state.received_at),
        FormatRfc3339Utc(kLatestEventTime - Millis(1)), since(kNoDeadlineMetric));
    return;
  }
  if (!count(NoDeadlineReason::kNoDurationForChannel)) return;
  spdlog::warn(
      "dossier '{}' (agency {}): procedure '{}' is in the procedure catalog but has no duration "
      "for channel {} (nor an in-person one, which stands in for it), and its received event "
      "has no due_at: the dossier has no deadline{}",
      state.dossier_id, state.agency_code.view(), state.procedure_code.view(),
      ToString(state.channel), since(kNoDeadlineMetric));
}

bool Pipeline::LogRateLimit::Admit(uint64_t& unlogged_before) {
  const auto now = std::chrono::steady_clock::now();
  if (!window_start || now - *window_start >= kLogInterval) {
    window_start = now;
    logged_in_window = 0;
  }
  if (logged_in_window >= burst) {
    ++unlogged;
    return false;
  }
  ++logged_in_window;
  unlogged_before = unlogged;
  unlogged = 0;
  return true;
}

void Pipeline::QueueAlerts(std::vector<AlertIntent>& alerts, Instant wall_now) {
  for (AlertIntent& a : alerts) {
    CountUp(probe_.alerts_by_kind[static_cast<size_t>(a.kind)], 1);
    if (a.kind == AlertKind::kDeadlineBreached &&
        wall_now - a.due_at <= LiveBreachWindow(options_.allowed_lateness)) {
      CountUp(probe_.breaches_detected_live, 1);
    }
    // What it holds until the commit is built: the entry and its two strings' buffers.
    outbox_bytes_ += sizeof(OutboxEntry) + HeapBytes(a.alert_id) + HeapBytes(a.dossier_id);
    outbox_.emplace_back(std::move(a));
  }
  alerts.clear();
}

Pipeline::Watermarks::iterator Pipeline::LoadWatermark(PartitionId partition) {
  // Partitions are numbered from 0 and usually all held: partition i is then the i-th entry
  // of the sorted map, found without a search (an entry per event).
  if (const auto index = static_cast<size_t>(partition.value()); index < watermarks_.size()) {
    if (auto nth = watermarks_.nth(index); nth->first == partition) return nth;
  }
  auto it = watermarks_.find(partition);
  if (it == watermarks_.end()) {
    auto stored = store_.GetWatermark(partition);
    const Instant initial = stored && *stored ? **stored : Instant::min();
    // Timers due at the stored watermark may not have fired yet (armed): a commit within a
    // batch (a burst of due timers) may store the watermark before a crash cuts the burst
    // short.
    it = watermarks_.emplace(partition, PartitionClock{initial, false, true}).first;
  }
  return it;
}

void Pipeline::AdvanceWatermark(Watermarks::iterator watermark, Instant event_time) {
  const Instant candidate = event_time - options_.allowed_lateness;
  PartitionClock& clock = watermark->second;
  if (candidate > clock.watermark) {
    clock.watermark = candidate;
    clock.moved = true;
    clock.armed = true;
  }
}

Pipeline::TimerHead& Pipeline::AddHead(PartitionId partition) {
  assert(partition.value() >= 0);
  const auto index = static_cast<size_t>(partition.value());
  if (index >= heads_.size()) heads_.resize(index + 1);
  if (!heads_[index]) heads_[index] = std::make_unique<TimerHead>();
  return *heads_[index];
}

void Pipeline::DropHead(PartitionId partition) {
  assert(partition.value() >= 0);
  if (const auto index = static_cast<size_t>(partition.value()); index < heads_.size()) {
    heads_[index].reset();
  }
}

void Pipeline::ChangeTimer(Entry& entry, std::string_view dossier_id, PartitionId partition,
                           Instant due, TimerKind kind, bool put) {
  // Keep the partition's head exact: it holds every timer due up to its coverage. (A head not
  // loaded yet covers nothing.)
  TimerHead& head = HeadOf(partition);
  if (head.loaded && head.covered.Covers(due, kind, dossier_id)) {
    auto& timers = head.timers;
    if (put) {
      timers.insert(HeadTimer(partition, due, kind, CacheKey(dossier_id)));
      if (&entry == refire_watch_.entry && due == refire_watch_.due && kind == refire_watch_.kind &&
          partition == refire_watch_.partition) {
        refire_watch_.seen = true;
      }
    } else if (auto it = timers.find(HeadKey(partition, due, kind, dossier_id));
               it != timers.end()) {
      timers.erase(it);  // found without building the timer (its id) to look it up
    }
  } else if (put) {
    head.uncovered.current.push_back({&entry, due, kind});
  }
  if (put && options_.clock == TimerClock::kWatermark) {
    // A timer put behind the watermark (late data whose dossier had its grace already, a
    // recompute) is due now: the partition's next event fires it, whatever commits or
    // restarts come between (they used to disarm the partition until the watermark moved, so
    // where a poll batch ended decided whether and when it fired: a QA trial).
    if (auto clock = watermarks_.find(partition);
        clock != watermarks_.end() && due <= clock->second.watermark) {
      clock->second.armed = true;
    }
  }
  // The store is told at the commit: it holds exactly the timers of the committed states, so
  // the commit writes the difference between a dossier's timer then and at the last commit
  // (DirtyEntry). A dossier received and finished within one commit interval writes no timer.
}

std::optional<bool> Pipeline::StateKeeps(const Entry& entry, PartitionId partition, Instant due,
                                         TimerKind kind) {
  if (!entry.stored_timer_known) return std::nullopt;
  return entry.has_stored_timer && entry.stored_timer_due == due &&
         entry.stored_timer_kind == kind && entry.current && entry.current->partition == partition;
}

std::optional<bool> Pipeline::StateKeeps(const Timer& t) const {
  // A dossier with a change pending or in flight is cached (dirty entries and those written
  // by the write in flight are never evicted).
  const Entry* cached = FindCached(t.dossier_id);
  if (cached == nullptr) return std::nullopt;
  return StateKeeps(*cached, t.partition, t.due, t.kind);
}

void Pipeline::DeleteStrayTimer(const Timer& t) { stray_timers_.push_back(t); }

Status Pipeline::ExtendHead(PartitionId p, TimerHead& head, Instant up_to) {
  const Instant from = !head.loaded           ? Instant::min()
                       : head.covered.partial ? head.covered.partial->due
                                              : head.covered.until + Millis(1);
  // Read up to a horizon past the clock, so the head (and the new timers it must hold) stays
  // small: timers due later are read when the clock nears them.
  const Instant start = std::max(up_to, from);
  const Instant until =
      start > kMaxInstant - options_.timer_horizon ? kMaxInstant : start + options_.timer_horizon;
  const size_t limit = options_.timer_scan_chunk;
  auto page = head.covered.partial ? store_.DueTimersAfter(p, until, limit, *head.covered.partial)
                                   : store_.DueTimers(p, until, limit, from);
  if (!page) return page.error();
  std::vector<Timer> stored = std::move(*page);
  if (stored.size() < limit) {
    head.covered.until = until;
    head.covered.partial.reset();
  } else {
    // A full page covers exactly the keys up to its last one, which may be in the middle of
    // an instant.
    head.covered.until = stored.back().due - Millis(1);
    head.covered.partial = stored.back();
  }
  head.loaded = true;
  // What was read is the store before or after the write in flight: the cached states decide
  // (a dossier with a change pending or in flight is cached), the store where none is.
  for (Timer& t : stored) {
    const Entry* e = FindCached(t.dossier_id);
    if (e == nullptr || StateKeeps(*e, t.partition, t.due, t.kind).value_or(true)) {
      head.timers.insert(HeadTimer(t.partition, t.due, t.kind, CacheKey(t.dossier_id)));
      continue;
    }
    // Its cached state does not keep it: the next commit deletes it as the timer the store
    // keeps for a dirty entry, or else as a stray one (a stale timer; or one the write in
    // flight deletes, which the read came before: deleted twice).
    if (e->dirty && dirty_[e->dirty_index].Committed(t.partition, t.due, t.kind)) continue;
    DeleteStrayTimer(t);
  }
  // Timers put by the write in flight or this batch, which the read may not hold: those no
  // head covered when they were put. Each list keeps the puts still beyond the coverage; a
  // covered one joins the head if it is still a put (if it was cancelled since, a store read
  // finds it when it is stored), and leaves the list either way.
  auto add_covered = [&](std::vector<UncoveredPut>& puts) {
    // Most puts stay beyond the coverage, which their due times alone tell: their entries (a
    // cache miss each, scattered over the cache) are read only for an id that may decide,
    // gathered first and then read a few ahead of each other, so that their misses overlap
    // (one after the other, they were most of ExtendHead's time in a 1M-dossier replay).
    // The order of the list does not matter (a covered put goes into the ordered head): one
    // leaving it takes the last one's place, so that the puts that stay, most of them, are
    // read and not written (the extensions of a 4.57M-event replay scanned 7.9M puts and took
    // 1.4M).
    may_cover_.clear();
    for (size_t i = 0; i < puts.size();) {
      const UncoveredPut& put = puts[i];
      if (put.due <= head.covered.until ||
          (head.covered.partial && put.due == head.covered.partial->due)) {
        may_cover_.push_back(put);
        puts[i] = puts.back();
        puts.pop_back();
        continue;
      }
      ++i;
    }
    constexpr size_t kAhead = 8;
    for (size_t k = 0; k < std::min(kAhead, may_cover_.size()); ++k) {
      prefetch::Bytes(may_cover_[k].entry, sizeof(Entry));
    }
    for (size_t k = 0; k < may_cover_.size(); ++k) {
      if (k + kAhead < may_cover_.size()) {
        prefetch::Bytes(may_cover_[k + kAhead].entry, sizeof(Entry));
      }
      const UncoveredPut& put = may_cover_[k];
      const Entry& e = *put.entry;
      const std::string_view id = e.current->dossier_id;
      if (!head.covered.Covers(put.due, put.kind, id)) {
        puts.push_back(put);  // due at the partial instant, after its last key: still beyond
        continue;
      }
      // Still a put only if the state still keeps that timer (its stored timer, as EndChange
      // left it): a change that moved it on deleted it (most puts reached here were cancelled
      // so).
      if (StateKeeps(e, p, put.due, put.kind).value_or(true)) {
        head.timers.insert(HeadTimer(p, put.due, put.kind, CacheKey(id)));
      }
    }
  };
  add_covered(head.uncovered.in_flight);
  add_covered(head.uncovered.current);
  return {};
}

Status Pipeline::FireDue(PartitionId p, Instant up_to, Instant wall_now) {
  TimerHead& head = HeadOf(p);
  size_t fired = 0;
  // The dossiers of due timers are scattered over the cache, each found (its slot, then its
  // entry, then its id's bytes for the alert) long after its last event: the next ones due
  // are found together every kFireAhead firings, in a loop whose misses overlap, and their
  // entries asked for, so that firing them finds them in the caches.
  // The entries found by the look ahead are those of the timers it saw, in order: the k-th
  // firing after it takes found[k] without a second search, once its id tells it is the same
  // dossier (a change may have put a timer due earlier in front, and a timer's node freed
  // by its firing may come back for another).
  constexpr size_t kFireAhead = 16;
  std::array<Entry*, kFireAhead> found{};
  size_t until_warm = 0;  // firings left before the next look ahead
  while (true) {
    if (head.timers.empty() || head.timers.begin()->due > up_to) {
      if (head.loaded && head.covered.until >= up_to) break;  // nothing else is due
      if (Status s = ExtendHead(p, head, up_to); !s) return s;
      until_warm = 0;
      continue;
    }
    if (until_warm == 0) {
      found.fill(nullptr);
      size_t n = 0;
      for (auto t = head.timers.begin();
           t != head.timers.end() && n < kFireAhead && t->due <= up_to; ++t) {
        if (Entry* e = FindCached(IdView(t->dossier_id))) {
          found[n] = e;
          prefetch::Bytes(found[n], sizeof(Entry));
        }
        ++n;
      }
      for (size_t k = 0; k < n; ++k) {
        if (found[k] != nullptr && found[k]->current) prefetch::Text(found[k]->current->dossier_id);
      }
      until_warm = kFireAhead;
    }
    Entry* ahead = found[kFireAhead - until_warm];
    --until_warm;
    // Taken off the head whole (the delete below finds it gone); its id goes into fired_,
    // whose buffer is reused from timer to timer.
    auto node = head.timers.extract(head.timers.begin());
    Timer& t = fired_;
    t.partition = node.value().partition;
    t.due = node.value().due;
    t.kind = node.value().kind;
    t.dossier_id.assign(node.value().dossier_id.view());
    // No entry is evicted while timers fire (commits within a batch evict nothing), so the
    // look ahead's is still cached.
    Entry* entry = nullptr;
    if (ahead != nullptr && ahead->current &&
        std::string_view(ahead->current->dossier_id) == t.dossier_id) {
      entry = ahead;
      entry->last_used = commit_count_;
      CountUp(probe_.dossier_cache_hits, 1);
    } else {
      entry = Lookup(t.dossier_id);
      if (entry == nullptr) return fatal_;
    }
    // A timer fires once: it is off the head, and the commit deletes it, as the dossier's timer
    // the rules replace (the state's change) or as a stray one. The entry is kept (dirty)
    // until then, its timer known, so that a store read before the delete does not fire it
    // again.
    if (!entry->current) {  // orphan timer: its dossier is gone
      entry->KnowStoredTimer(rules::TimerSlots{});
      DeleteStrayTimer(t);
      MarkDirty(*entry, rules::TimerSlots{}, t.partition);
      continue;
    }
    BeginChange(*entry);
    const rules::TimerSlots& before = change_base_.timers;  // the state's timer before firing
    const bool the_states =
        before.Contains({t.due, t.kind}) && change_base_.partition == t.partition;
    alerts_.clear();
    if (!rules::FireTimerInPlace(*entry->current, t, up_to, rules_, alerts_)) {
      // A stale timer: only its delete is written.
      DeleteStrayTimer(t);
      entry->KnowStoredTimer(before);
      MarkDirty(*entry, before, change_base_.partition);
      continue;
    }
    // Not the state's timer (one of a store written when every desired timer was kept): the
    // change below does not delete it.
    if (!the_states) DeleteStrayTimer(t);
    CountUp(probe_.timers_fired, 1);
    QueueAlerts(alerts_, wall_now);
    // Whether the change puts the timer that just fired back into the head (see below).
    refire_watch_ = {entry, t.partition, t.due, t.kind, false};
    EndChange(*entry);
    const bool refired = refire_watch_.seen;
    refire_watch_ = {};
    // A burst of timers due together (after Tết, every warning that fell in the holiday
    // comes due at its first working minute) commits as it goes, so its dirty dossiers and
    // alerts stay within the commit size instead of growing until the batch ends. Nothing is
    // evicted: the batch being processed holds pointers to its entries.
    const bool burst = ++fired % options_.timer_burst_commit == 0;
    if (burst || OverByteBound()) {
      const CommitTrigger trigger = burst ? CommitTrigger::kTimerBurst : CommitTrigger::kBytes;
      if (Status s = Commit(trigger, CommitKind::kWithinBatch); !s) return s;
    }
    if (auto again = refired ? head.timers.find(HeadKey(t.partition, t.due, t.kind, t.dossier_id))
                             : head.timers.end();
        again != head.timers.end()) {
      // The rules asked for the timer that just fired again: leave it to a later call.
      spdlog::warn("timer of {} at {} re-armed by its own firing", t.dossier_id,
                   ToEpochMillis(t.due));
      head.timers.erase(again);
    }
  }
  // Bound the head: drop its far end (it is re-read from the store when needed). (HeadIdle
  // asks the same bound.)
  if (head.timers.size() > 4 * options_.timer_scan_chunk) {
    auto cut =
        std::next(head.timers.begin(), static_cast<std::ptrdiff_t>(2 * options_.timer_scan_chunk));
    const Instant due = cut->due;
    const auto from = head.timers.lower_bound(HeadKey(p, due, TimerKind::kWarning, ""));
    // Timers in the store are read again; those the store may not have yet (their dossiers'
    // states keep them and are dirty, or written by the write in flight) go back to the
    // uncovered puts, which keep them until they are.
    UncoveredPuts& uncovered = head.uncovered;
    for (auto t = from; t != head.timers.end(); ++t) {
      const Entry* e = FindCached(IdView(t->dossier_id));
      if (e == nullptr) continue;  // no change pending: in the store
      if (!StateKeeps(*e, t->partition, t->due, t->kind).value_or(false)) continue;
      if (e->dirty) {
        uncovered.current.push_back({e, t->due, t->kind});
      } else if (e->written > durable_commits_) {
        uncovered.in_flight.push_back({e, t->due, t->kind});
      }
    }
    head.timers.erase(from, head.timers.end());
    head.covered.until = due - Millis(1);
    head.covered.partial.reset();
  }
  return {};
}

std::vector<DecodeResult> DecodeRecords(EventDecoder& decoder,
                                        std::span<const SourceRecord> records) {
  std::vector<DecodeResult> decoded;
  DecodeRecords(decoder, records, decoded);
  return decoded;
}

void DecodeRecords(EventDecoder& decoder, std::span<const SourceRecord> records,
                   std::vector<DecodeResult>& decoded) {
  // The results already there (an earlier batch's) are decoded into, keeping their memory.
  const size_t reused = std::min(decoded.size(), records.size());
  decoded.erase(decoded.begin() + static_cast<std::ptrdiff_t>(reused), decoded.end());
  for (size_t i = 0; i < reused; ++i) {
    decoder.DecodeInto(records[i].payload, KeyOf(records[i]), decoded[i]);
  }
  decoded.reserve(records.size());
  for (size_t i = reused; i < records.size(); ++i) {
    decoded.push_back(decoder.Decode(records[i].payload, KeyOf(records[i])));
  }
}

Status Pipeline::ProcessBatch(std::span<const SourceRecord> records, Instant wall_now) {
  if (!fatal_) return fatal_;
  std::vector<DecodeResult> decoded = DecodeRecords(decoder_, records);
  return ProcessDecoded(records, decoded, wall_now);
}

void Pipeline::ReportConflict(rules::EventConflict conflict, const DossierEvent& event,
                              const TopicPartition& tp, Offset offset) {
  CountUp(probe_.conflicting_by_kind[static_cast<size_t>(conflict)], 1);
  uint64_t unlogged = 0;
  if (!conflict_logs_[static_cast<size_t>(conflict)].Admit(unlogged)) return;
  std::string more;
  if (unlogged > 0) {
    more = fmt::format(
        " ({} more since the last line, not logged: see "
        "iocstream_events_conflicting_total)",
        unlogged);
  }
  std::string_view what;  // after "<type> at <instant>"
  switch (conflict) {
    case rules::EventConflict::kSupplementAfterEnd:
      // Named on whichever came second: the request, or an end dated before a request applied
      // earlier (the line named that end as if it were the request: a helper's finding).
      what = event.type == EventType::kSupplementRequested
                 ? " after the dossier's end of processing (completion, result return or "
                   "cancellation); applied without effect on its deadline"
                 : ": the dossier's end of processing, dated before a supplement request "
                   "applied earlier; applied, that request now lies after the end and has no "
                   "effect on its deadline";
      break;
    case rules::EventConflict::kEndBeforeReceipt:
      what =
          ": the dossier's end of processing (completion, result return or cancellation) is "
          "dated before its receipt; applied, the outcome judged on the earliest end";
      break;
    case rules::EventConflict::kRepeatedEnd:
      what =
          ": a second one, at another instant than the one applied before; applied, the "
          "earliest kept and the outcome judged on it (alerts raised before stand)";
      break;
    case rules::EventConflict::kReturnedBeforeCompletion:
      what =
          ": the dossier's result is returned before its processing completed; applied, the "
          "outcome judged on the completion";
      break;
  }
  std::string row;
  if (options_.locate_record) {
    if (std::string at = options_.locate_record(tp, offset); !at.empty()) {
      row = " (row " + at + ")";
    }
  }
  spdlog::warn("conflicting event ({}): dossier '{}', {}[{}] offset {}{}, event '{}': {} at {}{}{}",
               ToString(conflict), event.dossier_id, tp.topic, tp.partition.value(), offset.value(),
               row, event.event_id, ToString(event.type), FormatRfc3339Utc(event.occurred_at), what,
               more);
}

std::optional<DecodeError> Pipeline::WrongPartition(const DossierEvent& event, uint32_t murmur2,
                                                    PartitionId partition) const {
  if (options_.keyed_partitions <= 0 || options_.hash_partitions > 0) return std::nullopt;
  const int32_t home = PartitionOfMurmur2(murmur2, options_.keyed_partitions);
  if (home == partition.value()) return std::nullopt;
  if (partition.value() >= options_.keyed_partitions) {
    return DecodeError{
        DecodeErrorReason::kWrongPartition,
        fmt::format("key: '{}' belongs to partition {} of the {} that iocstream keeps the state "
                    "over (the topic's count when this instance started), not to partition {}, "
                    "which was added to the topic since: publish the events again to a new "
                    "topic (see \"The partition\" in the event contract)",
                    event.dossier_id, home, options_.keyed_partitions, partition.value())};
  }
  return DecodeError{
      DecodeErrorReason::kWrongPartition,
      fmt::format("key: '{}' belongs to partition {} of the {} that iocstream keeps the state "
                  "over under Kafka's default partitioner for keyed records (murmur2), not to "
                  "partition {}: publish with that partitioner (librdkafka-based clients default "
                  "to another: set partitioner=murmur2_random), and by the topic's count when "
                  "this instance started (partitions added since move keys)",
                  event.dossier_id, home, options_.keyed_partitions, partition.value())};
}

std::optional<DecodeError> Pipeline::TimeAhead(const DossierEvent& event, PartitionId partition,
                                               Instant watermark, Instant wall_now) const {
  if (options_.max_time_ahead <= Millis(0)) return std::nullopt;
  // The partition's newest event time: its watermark trails it by the allowed lateness.
  const Instant newest =
      watermark == Instant::min() ? Instant::min() : watermark + options_.allowed_lateness;
  if (!DatedTooFarAhead(event.occurred_at, newest, wall_now, options_.max_time_ahead)) {
    return std::nullopt;
  }
  std::string detail = "occurred_at: " + FormatRfc3339Utc(event.occurred_at) +
                       " is more than timers.max_time_ahead (" +
                       std::to_string(options_.max_time_ahead.count() / 1000) +
                       " s) ahead of both the wall clock and partition " +
                       std::to_string(partition.value()) + "'s newest event";
  if (newest != Instant::min()) detail += " (" + FormatRfc3339Utc(newest) + ")";
  return DecodeError{DecodeErrorReason::kEventTimeAhead, std::move(detail)};
}

Status Pipeline::ProcessDecoded(std::span<const SourceRecord> records,
                                std::span<DecodeResult> decoded, Instant wall_now, bool batch_end,
                                std::span<const uint64_t> chains,
                                std::span<const EventHashes> hashes) {
  if (!fatal_) return fatal_;
  if (decoded.size() != records.size()) {
    return InvalidArgument("Pipeline::ProcessDecoded: " + std::to_string(decoded.size()) +
                           " decode results for " + std::to_string(records.size()) + " records");
  }
  if (!chains.empty() && chains.size() != records.size()) {
    return InvalidArgument("Pipeline::ProcessDecoded: " + std::to_string(chains.size()) +
                           " source chains for " + std::to_string(records.size()) + " records");
  }
  if (hashes.empty()) {
    HashDecoded(decoded, own_hashes_);
    hashes = own_hashes_;
  } else if (hashes.size() != records.size()) {
    return InvalidArgument("Pipeline::ProcessDecoded: " + std::to_string(hashes.size()) +
                           " hashes for " + std::to_string(records.size()) + " records");
  }
  // Each record's cache entry, found once here: entries are node-stable and nothing is
  // evicted before the commit, so the pointers hold for the whole batch. Dossiers missing
  // from the cache get an entry now and are read from the store in one MultiGet.
  std::vector<Entry*> entry_of(records.size(), nullptr);
  std::vector<std::string_view> missing;
  std::vector<Entry*> missing_entries;
  uint64_t hits = 0;
  // The index's slots of the ids a few records ahead are asked for (their hashes are at hand):
  // each lookup then finds its slot in the cache (the slot's key was 8% of a replay's pipeline
  // thread, waiting on memory, when they were not).
  constexpr size_t kLookupAhead = 16;
  auto prefetch_slot = [&](size_t j) {
    if (j < records.size() && decoded[j].has_value()) entries_.Prefetch(hashes[j].dossier_id);
  };
  for (size_t j = 0; j < kLookupAhead; ++j) prefetch_slot(j);
  for (size_t i = 0; i < records.size(); ++i) {
    prefetch_slot(i + kLookupAhead);
    if (!decoded[i].has_value()) continue;
    const std::string& id = decoded[i]->dossier_id;
    assert(hashes[i].dossier_id == ShortHash(id));
    const uint64_t hash = hashes[i].dossier_id;
    auto [entry, inserted] = entries_.FindOrInsert(id, hash, [&] { return NewEntry(hash); });
    if (!inserted) {
      ++hits;
    } else {
      entry->bytes = static_cast<uint32_t>(EntryBytes(id, std::nullopt));
      entry->last_used = commit_count_;
      cache_bytes_ += entry->bytes;
      missing.push_back(id);  // `decoded` outlives the lookups: the id stays put
      missing_entries.push_back(entry);
    }
    // A hit's entry is not touched here: its `last_used` is set where its event is applied
    // (the loop below, which prefetches entries), rather than here and then again there.
    entry_of[i] = entry;
  }
  CountUp(probe_.dossier_cache_hits, hits);
  if (!missing.empty()) {
    auto states = store_.GetDossiers(missing);
    if (!states) return fatal_ = states.error();
    uint64_t found = 0;
    for (size_t k = 0; k < missing.size(); ++k) {
      Entry* entry = missing_entries[k];
      found += (*states)[k].has_value() ? 1 : 0;
      entry->current = std::move((*states)[k]);
      Resize(*entry, missing[k]);
    }
    CountUp(probe_.dossier_cache_misses, found);
    CountUp(probe_.dossier_cache_new, missing.size() - found);
  }

  std::vector<PartitionId>& touched = touched_;  // of every part of the poll batch so far
  // The source partition of the previous record and its entry in batch_offsets_: a batch
  // holds runs of records of one partition, so the map is searched once per run (and again
  // after a commit within the batch, which empties the map).
  BatchPosition* run_next = nullptr;
  const TopicPartition* run_tp = nullptr;
  uint64_t run_commit = commit_count_;
  // The source's chains go on from the chain it started from; so do this Pipeline's from the
  // stored check it reads, once per run of records (and again after a commit within the
  // batch). Both are the same check unless the source's read and this one disagreed (a
  // failed read), or records were skipped (duplicates) or missing (a gap): the first chain
  // after each is compared with a hash of this Pipeline's own, and the source's are not used
  // again if they differ. Debug builds compare every one.
  bool use_chains = !chains.empty();
  bool chain_verified = false;  // the chain of the run so far is the source's
  auto next_offset_slot = [&](const SourceRecord& rec) -> BatchPosition& {
    if (run_tp == nullptr || run_commit != commit_count_ || run_tp->partition != rec.partition ||
        run_tp->topic != rec.topic) {
      TopicPartition key{std::string(rec.topic), rec.partition};
      auto it = batch_offsets_.find(key);
      if (it == batch_offsets_.end()) {
        const Result<std::optional<Offset>> stored = ReadStoredOffset(key);
        // Offset(-1): nothing stored (or unreadable, logged), so any offset is expected next.
        // The chain goes on from the stored check; a source surely never consumed starts one.
        // Unknown (no check stored, or a read failed): no check is stored, rather than one
        // that does not describe the records before the offset.
        std::optional<uint64_t> chain;
        if (!stored) {
          spdlog::error("reading stored offset of {}[{}]: {}", key.topic, key.partition.value(),
                        stored.error().message);
        } else if (options_.source_checks) {
          chain = *stored ? ChainBefore(key, **stored) : std::optional<uint64_t>(kChainStart);
        }
        Offset next = stored && *stored ? **stored : Offset(-1);
        if (stored && !*stored) {
          if (auto start = log_starts_.find(key); start != log_starts_.end()) {
            next = start->second;
          }
        }
        it = batch_offsets_.emplace(std::move(key), BatchPosition{next, chain}).first;
      }
      run_tp = &it->first;
      run_next = &it->second;
      run_commit = commit_count_;
      chain_verified = false;
    }
    return *run_next;
  };
  auto consumed = [&](BatchPosition& position, size_t i, Offset done) {
    position.next = done;
    if (!position.chain) return;
    if (!use_chains || !chain_verified) {
      const uint64_t own = ChainFingerprint(*position.chain, records[i].payload);
      if (use_chains && chains[i] != own) {
        use_chains = false;
        if (!chains_refused_) {  // once: a source that parted stays apart, batch after batch
          spdlog::warn(
              "{}: the source's chained hash at offset {} is not this pipeline's: the "
              "pipeline hashes the records itself where they differ",
              records[i].topic, records[i].offset.value());
        }
        chains_refused_ = true;
      }
      chain_verified = use_chains;
      position.chain = own;
      return;
    }
    assert(chains[i] == ChainFingerprint(*position.chain, records[i].payload));
    position.chain = chains[i];
  };
  // Two stages ahead of record i: the lines of record i + 2k's cache entry and event, then,
  // once those are in, the heap bytes of record i + k's ids that they point to.
  constexpr size_t kAhead = 4;
  auto prefetch_objects = [&](size_t j) {
    if (j >= records.size() || !decoded[j].has_value()) return;
    prefetch::Bytes<true>(entry_of[j], sizeof(Entry));
    prefetch::Bytes(&*decoded[j], sizeof(DossierEvent));
  };
  auto prefetch_texts = [&](size_t j) {
    if (j >= records.size() || !decoded[j].has_value()) return;
    prefetch::Text(decoded[j]->dossier_id);
    prefetch::Text(decoded[j]->event_id);
    if (entry_of[j]->current) prefetch::Text(entry_of[j]->current->dossier_id);
  };
  for (size_t j = 0; j < 2 * kAhead; ++j) prefetch_objects(j);
  for (size_t i = 0; i < records.size(); ++i) {
    prefetch_objects(i + 2 * kAhead);
    prefetch_texts(i + kAhead);
    const SourceRecord& rec = records[i];
    std::optional<Offset> next;
    if (const Offset slot = next_offset_slot(rec).next; slot.value() >= 0) next = slot;
    const TopicPartition& tp = *run_tp;
    if (next && rec.offset < *next && rec.position_reset) {
      // Not a redelivery: the records from here on are another log's (the topic was deleted
      // and created again). They are applied; events among them that were applied before are
      // known by their event ids.
      CountUp(probe_.source_resets, 1);
      spdlog::error(
          "{}[{}]: the broker's log no longer reaches offset {}, where the state store resumed "
          "(the topic was deleted and created again, or its log truncated): applying the log "
          "there is now from offset {}; events applied before are recognised by their ids",
          tp.topic, tp.partition.value(), next->value(), rec.offset.value());
      next = rec.offset;
      chain_verified = false;
    }
    if (next && rec.offset < *next) {
      // Already applied (a redelivery after a rebalance race): its effects are in the store.
      CountUp(probe_.consumed, 1);
      CountUp(probe_.duplicates, 1);
      chain_verified = false;
      continue;
    }
    if (next && rec.offset > *next) {
      const auto gap = static_cast<uint64_t>(rec.offset.value() - next->value());
      CountUp(probe_.offset_gaps, gap);
      // At most one line per kLogInterval: a publisher writing in Kafka transactions leaves a
      // gap at every commit marker (a line per transaction and partition otherwise).
      if (uint64_t unlogged = 0; gap_log_.Admit(unlogged)) {
        spdlog::warn(
            "offset gap on {}[{}]: expected {}, got {}: {} offset(s) Kafka did not hand out "
            "(transaction markers and aborted transactions' records when the publisher writes "
            "in Kafka transactions, else records lost between the broker and iocstream; "
            "counted in iocstream_offset_gaps_total){}",
            tp.topic, tp.partition.value(), next->value(), rec.offset.value(), gap,
            unlogged > 0 ? fmt::format("; {} more gap(s) since the last line, not logged", unlogged)
                         : std::string());
      }
      chain_verified = false;
    }
    CountUp(probe_.consumed, 1);
    // The record counts as done (its next offset goes into the batch) once its effects are:
    // a commit within the batch (a burst of due timers) must not store an offset past them.
    const Offset done = Offset(rec.offset.value() + 1);

    DecodeResult& d = decoded[i];
    uint64_t event_id_hash = 0;  // of a decoded event's id, for the rules (hashed once)
    PartitionId p{0};
    Watermarks::iterator watermark;  // the partition's clock, for an event that decoded
    if (d.has_value()) {
      assert(hashes[i].murmur2 == Murmur2(d->dossier_id));
      assert(hashes[i].event_id == rules::EventIdHash(d->event_id));
      p = options_.hash_partitions > 0
              ? PartitionId(PartitionOfMurmur2(hashes[i].murmur2, options_.hash_partitions))
              : rec.partition;
      // The partition's clock before this event: after a restart, the stored one (loaded
      // now), so that the first event behind it is late data too and gets the allowed
      // lateness. (Instant::min() before the partition's first event: no event is behind it.)
      watermark = LoadWatermark(p);
      std::optional<DecodeError> refused = WrongPartition(*d, hashes[i].murmur2, rec.partition);
      if (!refused) refused = TimeAhead(*d, p, watermark->second.watermark, wall_now);
      event_id_hash = hashes[i].event_id;
      if (!refused && entry_of[i]->current &&
          rules::EventIdReused(*entry_of[i]->current, *d, event_id_hash)) {
        refused = EventIdReusedError(*entry_of[i]->current, *d);
      }
      if (!refused && entry_of[i]->current &&
          rules::PauseMarksFull(*entry_of[i]->current, *d, rules_)) {
        refused = DecodeError{
            DecodeErrorReason::kTooManyPauses,
            fmt::format("type: dossier '{}' holds {} supplement and payment pause starts and "
                        "ends already, the limit: its {} event is not applied",
                        d->dossier_id, rules::kMaxPauseMarks, ToString(d->type))};
      }
      if (!refused && entry_of[i]->current) {
        if (const auto field = rules::ReceiptConflict(*entry_of[i]->current, *d)) {
          refused = ConflictingReceipt(*entry_of[i]->current, *d, *field);
        }
      }
      if (!refused && !d->new_codes.empty()) refused = AdmitNewCodes(*d);
      if (refused) d = std::move(*refused);
    }
    if (!d.has_value()) {
      const DecodeError& err = d.error();
      if (err.reason == DecodeErrorReason::kEmpty && options_.skip_blank_records) {
        // A blank line of a file: layout, not an event. Its offset is done like any other
        // (the source check's chain holds it, as the reader hashes every line).
        CountUp(probe_.blank_skipped, 1);
        consumed(next_offset_slot(rec), i, done);
        continue;
      }
      alert::OutboxMessage m;
      m.kind = alert::OutboxKind::kDeadLetter;
      m.headers = DeadLetterHeaders(MakeDeadLetter(err, tp, rec.offset));
      DeadLetterRecord cut = CutDeadLetterRecord(rec.payload, rec.key, m.headers);
      m.key = std::move(cut.key);
      m.value = std::move(cut.value);
      outbox_.emplace_back(alert::EncodeOutboxMessage(m));
      outbox_bytes_ += sizeof(OutboxEntry) + std::get<std::string>(outbox_.back()).size();
      CountUp(probe_.dead_lettered, 1);
      CountUp(probe_.dead_lettered_by_reason[static_cast<size_t>(err.reason)], 1);
      consumed(next_offset_slot(rec), i, done);
      continue;
    }
    DossierEvent& event = *d;
    if (touched.empty() || touched.back() != p) touched.push_back(p);
    // (Nothing between LoadWatermark and here adds a partition: `watermark` is valid.)
    const Instant watermark_before = watermark->second.watermark;
    AdvanceWatermark(watermark, event.occurred_at);
    // (FireDue adds no partition to watermarks_: `watermark` stays valid.)
    const Instant watermark_now = watermark->second.watermark;
    if (options_.clock == TimerClock::kWatermark && watermark->second.armed) {
      if (!HeadIdle(HeadOf(p), watermark_now)) {
        if (Status s = FireDue(p, watermark_now, wall_now); !s) return fatal_ = s;
      }
      // Every timer due by the watermark has fired: the partition stays disarmed until the
      // watermark moves or a change puts a timer behind it (ChangeTimer).
      watermark->second.armed = false;
    }
    consumed(next_offset_slot(rec), i, done);
    Entry* entry = entry_of[i];
    entry->last_used = commit_count_;
    BeginChange(*entry);
    alerts_.clear();
    const Instant clock = options_.clock == TimerClock::kWatermark ? watermark_now : wall_now;
    const std::optional<rules::EventConflict> conflict =
        rules::ConflictOf(entry->current ? &*entry->current : nullptr, event);
    const bool had_receipt = entry->current && entry->current->received_at;
    if (rules::ApplyEventInPlace(entry->current, event, event_id_hash, p, rules_, alerts_, clock) ==
        rules::Disposition::kDuplicate) {
      CountUp(probe_.duplicates, 1);
      continue;
    }
    CountUp(probe_.applied, 1);
    if (conflict) ReportConflict(*conflict, event, tp, rec.offset);
    if (!had_receipt && event.type == EventType::kReceived) CheckReceiptDeadline(*entry->current);
    // Late data: behind the watermark (replay), or older than the allowed lateness (live).
    const bool late = options_.clock == TimerClock::kWatermark
                          ? event.occurred_at < watermark_before
                          : event.occurred_at + options_.allowed_lateness < wall_now;
    if (event.occurred_at < watermark_before) {
      CountUp(probe_.late_applied, 1);
    }
    if (late) {
      rules::ApplyLateDataGrace(*entry->current, clock, options_.allowed_lateness);
    }
    const int64_t event_ms = ToEpochMillis(event.occurred_at);
    RaiseTo(probe_.max_event_time_ms, event_ms);
    RaiseTo(probe_.max_past_event_time_ms, std::min(event_ms, ToEpochMillis(wall_now)));
    QueueAlerts(alerts_, wall_now);
    EndChange(*entry);
  }
  pending_records_ += records.size();
  if (!batch_end) return {};  // the rest of the poll batch follows
  if (options_.clock == TimerClock::kWallClock) {
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    for (PartitionId p : touched) {
      if (Status s = FireDue(p, wall_now, wall_now); !s) return fatal_ = s;
    }
  }
  touched.clear();
  std::optional<CommitTrigger> due;
  if (options_.commit_interval.count() <= 0) {
    due = CommitTrigger::kPollBatch;
  } else if (options_.commit_max_records > 0 && pending_records_ >= options_.commit_max_records) {
    due = CommitTrigger::kRecords;
  } else if (OverByteBound()) {
    due = CommitTrigger::kBytes;
  } else if (std::chrono::steady_clock::now() - last_commit_ >= options_.commit_interval) {
    due = CommitTrigger::kInterval;
  }
  Status status;
  if (due) {
    status = Commit(*due);
  } else {
    // Commits within the batch (timer bursts, the byte bound) do not evict, and may have left
    // nothing for a commit here: evict anyway (the batch is done with its entries).
    Evict();
  }
  probe_.dossier_cache_bytes.store(cache_bytes_, std::memory_order_relaxed);
  return status;
}

Status Pipeline::Flush() {
  if (!fatal_) return fatal_;
  if (Status s = Commit(CommitTrigger::kFlush); !s) return s;
  return AwaitWrite();
}

Status Pipeline::EndOfInput(Instant wall_now) {
  if (!fatal_) return fatal_;
  if (options_.clock != TimerClock::kWatermark || options_.hash_partitions <= 0) return {};
  Instant newest = Instant::min();
  for (int32_t i = 0; i < options_.hash_partitions; ++i) {
    newest = std::max(newest, LoadWatermark(PartitionId(i))->second.watermark);
  }
  if (newest == Instant::min()) return {};
  for (int32_t i = 0; i < options_.hash_partitions; ++i) {
    const PartitionId p(i);
    PartitionClock& clock = LoadWatermark(p)->second;
    if (clock.watermark < newest) {
      clock.watermark = newest;
      clock.moved = true;
      clock.armed = true;
    }
    if (!clock.armed) continue;
    if (Status s = FireDue(p, newest, wall_now); !s) return fatal_ = s;
  }
  return {};
}

size_t Pipeline::PendingBytes() const {
  // A timer write: the key (with its id) and ref the commit encodes for it
  // (state::EncodedTimerChanges: 56 bytes for a 19-byte id), and its dirty entry's record or a
  // stray timer's; an uncovered put: its entry in its list.
  constexpr size_t kTimerChangeBytes = sizeof(DirtyEntry) + 64;
  constexpr size_t kUncoveredPutBytes = sizeof(UncoveredPut);
  size_t uncovered = 0;  // a few partitions: summed when asked
  for (const auto& head : heads_) {
    if (head) uncovered += head->uncovered.current.size();
  }
  return dirty_bytes_ + (timer_writes_ + stray_timers_.size()) * kTimerChangeBytes +
         uncovered * kUncoveredPutBytes + outbox_bytes_;
}

bool Pipeline::OverByteBound() const {
  return options_.commit_max_bytes > 0 && PendingBytes() >= options_.commit_max_bytes;
}

bool Pipeline::HasPending() const {
  return (writer_ && writer_->busy()) || !dirty_.empty() || !batch_offsets_.empty() ||
         !outbox_.empty() || !stray_timers_.empty() || AnyWatermarkMoved() ||
         !local_markers_.empty();
}

Status Pipeline::FireTimers(std::span<const PartitionId> partitions, Instant now) {
  if (!fatal_) return fatal_;
  for (PartitionId p : partitions) {
    if (Status s = FireDue(p, now, now); !s) return fatal_ = s;
  }
  return Commit(CommitTrigger::kTimers);
}

std::string_view ToString(NoDeadlineReason reason) {
  switch (reason) {
    case NoDeadlineReason::kNoDurationForChannel:
      return "no_duration_for_channel";
    case NoDeadlineReason::kNoProcedureCode:
      return "no_procedure_code";
    case NoDeadlineReason::kPastCalendar:
      return "past_calendar";
  }
  return "unknown";
}

std::string_view ToString(PipelineWait wait) {
  switch (wait) {
    case PipelineWait::kSource:
      return "source";
    case PipelineWait::kDecoder:
      return "decoder";
    case PipelineWait::kStateWriter:
      return "state_writer";
  }
  return "unknown";
}

std::string_view ToString(CommitTrigger trigger) {
  switch (trigger) {
    case CommitTrigger::kPollBatch:
      return "poll_batch";
    case CommitTrigger::kInterval:
      return "interval";
    case CommitTrigger::kRecords:
      return "records";
    case CommitTrigger::kBytes:
      return "bytes";
    case CommitTrigger::kTimerBurst:
      return "timer_burst";
    case CommitTrigger::kTimers:
      return "timers";
    case CommitTrigger::kFlush:
      return "flush";
  }
  return "unknown";
}

Status Pipeline::Commit(CommitTrigger trigger, CommitKind kind) {
  last_commit_ = std::chrono::steady_clock::now();
  pending_records_ = 0;
  // One write in flight at most. Entries are evicted only once their last write is in the
  // store, so a dossier missing from the cache is never newer in a write in flight.
  if (Status s = AwaitWrite(); !s) return s;
  if (kind == CommitKind::kBatchEnd) Evict();
  if (!HasPending()) return {};
  CommitJob& job = job_;
  job.dossiers.Clear();
  // The dirty entries are clean once this commit is built (a failed write makes the Pipeline
  // fatal).
  // Most dirty entries have left the processor's caches since they were changed: each is
  // asked for a few entries ahead (prefetch::Bytes), its id's heap bytes after it.
  constexpr size_t kAhead = 4;
  job.to_encode.clear();
  claimed_.Clear();  // no write in flight
  // With a writer thread, it encodes the states (EncodeOnWriter): only the entries' first
  // lines are touched here.
  const bool encode_here = writer_ == nullptr;
  // The timers to write, encoded with their ids (the writer thread must not read the entries,
  // whose states change again at once): each dirty entry's difference from the last commit
  // (its state's first line, whose partition it needs, and its id's heap bytes asked for
  // ahead too: unasked, the timer writes' misses made Commit cost 110 ns per event of a
  // 1M-dossier replay against 25 with 150,000 dossiers, perf), then the stray timers.
  job.timers.Clear();
  const auto writes_timers = [this](size_t k) {
    return k < dirty_.size() && dirty_[k].timer_writes > 0 && dirty_[k].entry->current;
  };
  for (size_t i = 0; i < dirty_.size(); ++i) {
    if (i + 2 * kAhead < dirty_.size()) {
      prefetch::Bytes<true>(dirty_[i + 2 * kAhead].entry, encode_here ? sizeof(Entry) : 1);
    }
    if (writes_timers(i + kAhead)) {
      prefetch::Line(reinterpret_cast<const char*>(&dirty_[i + kAhead].entry->current));
    }
    if (encode_here ? i + kAhead < dirty_.size() && dirty_[i + kAhead].entry->current
                    : writes_timers(i + kAhead / 2)) {
      prefetch::Text(dirty_[i + (encode_here ? kAhead : kAhead / 2)].entry->current->dossier_id);
    }
    const DirtyEntry& d = dirty_[i];
    Entry* e = d.entry;
    if (e->current && encode_here) {
      job.dossiers.Add(*e->current);
    } else if (e->current) {
      e->encode.store(kEncodePending, std::memory_order_relaxed);  // published by Submit
      job.to_encode.push_back(e);
    }
    if (d.timer_writes > 0) {
      assert(e->current);  // a change of a state's timer
      if (!e->current) {   // never (a bug): said, not dropped in silence
        spdlog::error("timer change of a dossier with no state: not written");
      } else {
        const DossierState& state = *e->current;
        if (d.has_committed) {
          job.timers.Add(d.committed_partition, d.committed_due, d.committed_kind, state.dossier_id,
                         false);
        }
        if (e->has_stored_timer) {
          job.timers.Add(state.partition, e->stored_timer_due, e->stored_timer_kind,
                         state.dossier_id, true);
        }
      }
    }
    e->dirty = false;
    e->written = commit_count_ + 1;
    if (options_.cache_bytes > 0 && !e->open && e->current && !e->in_finished_queue) {
      e->in_finished_queue = true;
      finished_.push_back({e, e->written});
    }
  }
  // A stray timer is deleted unless a state keeps it again by now (then put by its entry's
  // difference, or in the store already): a key is written once per batch, whose writes are
  // sorted by key alone.
  for (const Timer& t : stray_timers_) {
    if (StateKeeps(t).value_or(false)) continue;
    job.timers.Add(t.partition, t.due, t.kind, t.dossier_id, false);
  }
  stray_timers_.clear();
  job.aggregates = aggregates_.TakeDirty();
  job.offsets.clear();
  job.source_checks.clear();
  for (const auto& [tp, position] : batch_offsets_) {
    job.offsets.emplace_back(tp, position.next);
    if (position.chain) {
      job.source_checks.emplace_back(tp, state::SourceCheck{position.next, *position.chain});
    }
  }
  job.watermarks.clear();
  for (const auto& [p, clock] : watermarks_) {
    if (clock.moved) job.watermarks.emplace_back(p, clock.watermark);
  }
  job.outbox.swap(outbox_);  // BuildBatch empties it: outbox_ gets the emptied vector back
  job.markers.clear();
  job.markers.swap(local_markers_);
  job.to_changelog = options_.changelog != nullptr && !restoring_;
  if (job.to_changelog) AddChangelogMarkers(job);
  if (writer_) {
    in_flight_offsets_.clear();
    for (const auto& [tp, position] : batch_offsets_) in_flight_offsets_[tp] = position.next;
    // Swapped, not moved: the map emptied by the last AwaitWrite keeps its buckets, so the
    // next interval's changes do not regrow (and rehash) a table from nothing.
    ForEachHead([](TimerHead& head) {  // in_flight emptied above
      head.uncovered.in_flight.swap(head.uncovered.current);
    });
    // The changelog gets the commit once the store has it (app/changelog.h).
    CommitWriter::AfterCommit after;
    if (job.to_changelog) {
      after = [&job, log = options_.changelog, &probe = probe_]() -> Status {
        if (Status s = log->Write(job.dossiers, job.markers, job.group); !s) return s;
        probe.changelog_records_written.fetch_add(job.dossiers.size() + job.markers.size(),
                                                  std::memory_order_relaxed);
        return {};
      };
    }
    writer_->Submit(
        [this, &store = store_, &job]() -> Result<state::StateBatch> {
          EncodeOnWriter(job);
          return BuildBatch(store, job, options_.alert_sink);
        },
        std::move(after));
  } else {
    auto batch = BuildBatch(store_, job, options_.alert_sink);
    if (!batch) {
      fatal_ = batch.error();
      return fatal_;
    }
    if (Status s = store_.Commit(std::move(*batch)); !s) {
      fatal_ = s;
      return s;
    }
    if (job.to_changelog) {
      if (Status s = options_.changelog->Write(job.dossiers, job.markers, job.group); !s) {
        fatal_ = s;
        return s;
      }
      CountUp(probe_.changelog_records_written, job.dossiers.size() + job.markers.size());
    }
    for (const auto& [tp, position] : batch_offsets_) durable_offsets_[tp] = position.next;
    ++durable_commits_;
  }
  for (const auto& [tp, position] : batch_offsets_) {
    next_offsets_[tp] = position.next;
    if (position.chain)
      next_source_checks_[tp] = state::SourceCheck{position.next, *position.chain};
  }
  dirty_.clear();
  dirty_bytes_ = 0;
  ++commit_count_;
  timer_writes_ = 0;
  // In the store or in flight.
  ForEachHead([](TimerHead& head) { head.uncovered.current.clear(); });
  outbox_.clear();
  outbox_bytes_ = 0;
  batch_offsets_.clear();
  for (auto& [p, clock] : watermarks_) clock.moved = false;
  CountUp(probe_.batches, 1);
  CountUp(probe_.commits_by_trigger[static_cast<size_t>(trigger)], 1);
  return {};
}

Result<state::StateBatch> Pipeline::BuildBatch(state::StateStore& store, CommitJob& job,
                                               CommitAlertSink* alert_sink) {
  state::StateBatch batch = store.NewBatch();
  batch.PutDossiers(job.dossiers);
  batch.PutTimerChanges(job.timers);
  // In key order, here rather than on the pipeline thread (AggregateTable::TakeDirty): the
  // memtable inserts sorted keys next to each other (unsorted, its inserts cost more than the
  // sort).
  std::sort(job.aggregates.begin(), job.aggregates.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [key, counters] : job.aggregates) batch.PutAggregate(key, counters);
  for (const auto& [tp, off] : job.offsets) batch.PutOffset(tp, off);
  for (const auto& [tp, check] : job.source_checks) batch.PutSourceCheck(tp, check);
  for (const auto& [p, watermark] : job.watermarks) batch.PutWatermark(p, watermark);
  // With an alert sink, its lines are written a piece at a time (the bytes of a commit's
  // alerts are not held whole), and its position last: the lines of a batch that is then not
  // written (its Commit failed) lie past the stored position, and the sink cuts them off when
  // it is opened next.
  constexpr size_t kAlertPieceBytes = size_t{1} << 20;
  job.alert_lines.clear();
  uint64_t piece_alerts = 0;
  bool sink_written = false;
  auto write_piece = [&]() -> Status {
    if (piece_alerts == 0) return {};
    if (Status s = alert_sink->WriteAlerts(job.alert_lines, piece_alerts); !s) return s;
    job.alert_lines.clear();
    piece_alerts = 0;
    sink_written = true;
    return {};
  };
  for (OutboxEntry& m : job.outbox) {
    if (auto* a = std::get_if<AlertIntent>(&m)) {
      if (alert_sink) {
        alert::AppendAlertToJson(*a, job.alert_lines);
        job.alert_lines.push_back('\n');
        ++piece_alerts;
        if (job.alert_lines.size() >= kAlertPieceBytes) {
          if (Status s = write_piece(); !s) return s.error();
        }
      } else {
        batch.AppendOutbox(alert::EncodeAlertOutbox(*a));
      }
    } else {
      batch.AppendOutbox(std::move(std::get<std::string>(m)));
    }
  }
  job.outbox.clear();
  for (const auto& [p, marker] : job.markers) batch.PutChangelogMarker(p, marker);
  if (Status s = write_piece(); !s) return s.error();
  if (sink_written) {
    auto position = alert_sink->Position();
    if (!position) return position.error();
    batch.PutSinkPosition(*position);
  }
  return batch;
}

void Pipeline::Evict() {
  if (cache_bytes_ <= options_.cache_bytes) return;
  if (options_.cache_bytes == 0 && dirty_.empty() && durable_commits_ == commit_count_) {
    entries_.Clear();
    finished_.clear();
    cache_bytes_ = 0;
    return;
  }
  // Down to 90% of the bound, so evictions come in rounds: finished dossiers first (they
  // rarely see another event), then the least recently used.
  const size_t target = options_.cache_bytes / 10 * 9;
  EvictFinished(target);
  if (cache_bytes_ <= target) return;
  // Skipped while no write became durable since a scan that found too little, unless the
  // cache grew by a tenth of its bound since (entries read and left clean: duplicates,
  // dead-lettered events), which a scan must evict.
  if (evict_exhausted_at_ == durable_commits_ &&
      cache_bytes_ < evict_exhausted_bytes_ + options_.cache_bytes / 10) {
    return;
  }
  struct Candidate {
    bool open;
    uint64_t last_used;
    Entry* entry;
  };
  std::vector<Candidate> candidates;
  candidates.reserve(entries_.size());
  // The scan reads the first line of every entry, each allocated apart: asked for ahead, far
  // enough for the misses to overlap (8 ahead left the scan waiting on memory: Evict 70 ns per
  // event of a 1M-dossier replay, 59 with 32 ahead, perf).
  constexpr int kAhead = 32;
  const size_t slots = entries_.slot_count();
  size_t ahead = 0;
  auto prefetch_next = [&] {
    while (ahead < slots && !entries_.Occupied(ahead)) ++ahead;
    if (ahead < slots) prefetch::Bytes(entries_.ValueAt(ahead++), 1);
  };
  for (int k = 0; k < kAhead; ++k) prefetch_next();
  for (size_t i = 0; i < slots; ++i) {
    if (!entries_.Occupied(i)) continue;
    prefetch_next();
    Entry& entry = *entries_.ValueAt(i);
    // Never a state newer in a write in flight than in the store: a later read would get
    // the older one.
    // Nor one the finished queue holds (it is in flight or dirty once the queue is through).
    if (entry.dirty || entry.written > durable_commits_ || entry.in_finished_queue) continue;
    candidates.push_back({entry.open, entry.last_used, &entry});
  }
  auto order = [](const Candidate& a, const Candidate& b) {
    return std::tie(a.open, a.last_used) < std::tie(b.open, b.last_used);
  };
  // Only the entries to evict need their order: select about as many as the bytes to free
  // (at the mean entry size), evict them, and sort the rest only if that was not enough.
  const size_t mean = std::max<size_t>(1, cache_bytes_ / std::max<size_t>(1, entries_.size()));
  const size_t guess = std::min(candidates.size(), (cache_bytes_ - target) / mean + 1);
  std::nth_element(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(guess),
                   candidates.end(), order);
  std::sort(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(guess), order);
  // Freeing an entry reads the whole of it (its state's strings and vectors), long out of the
  // caches since the scan: the entries to free are asked for a few ahead (this loop's misses
  // were a third of Evict's time in a 1M-dossier replay, perf).
  constexpr size_t kFreeAhead = 8;
  auto prefetch_free = [&](size_t k) {
    if (k < candidates.size()) prefetch::Bytes(candidates[k].entry, sizeof(Entry));
  };
  for (size_t k = 0; k < kFreeAhead; ++k) prefetch_free(k);
  size_t next = 0;
  for (; next < candidates.size() && cache_bytes_ > target; ++next) {
    if (next == guess) {
      std::sort(candidates.begin() + static_cast<std::ptrdiff_t>(guess), candidates.end(), order);
      for (size_t k = next; k < next + kFreeAhead; ++k) prefetch_free(k);
    }
    prefetch_free(next + kFreeAhead);
    cache_bytes_ -= candidates[next].entry->bytes;
    [[maybe_unused]] const bool erased =
        entries_.Erase(candidates[next].entry->id_hash, candidates[next].entry);
    assert(erased);
  }
  if (cache_bytes_ > target) {
    evict_exhausted_at_ = durable_commits_;
    evict_exhausted_bytes_ = cache_bytes_;
  }
}

void Pipeline::EvictFinished(size_t target) {
  // Freeing an entry reads the whole of it, and erasing it reads its index slot (found by the
  // hash the entry keeps): asked for a few ahead (the entries were listed at their commits,
  // long out of the caches).
  constexpr size_t kAhead = 8;
  auto prefetch_entry = [&](size_t k) {
    if (k >= finished_.size()) return;
    const Entry* e = finished_[k].entry;
    prefetch::Bytes(e, sizeof(Entry));
  };
  auto prefetch_slot = [&](size_t k) {
    if (k < finished_.size()) entries_.Prefetch(finished_[k].entry->id_hash);
  };
  for (size_t k = 0; k < 2 * kAhead; ++k) prefetch_entry(k);
  for (size_t k = 0; k < kAhead; ++k) prefetch_slot(k);
  while (cache_bytes_ > target && !finished_.empty()) {
    const FinishedEntry front = finished_.front();
    if (front.written > durable_commits_) break;  // the rest are later writes
    finished_.pop_front();
    prefetch_entry(2 * kAhead - 1);
    prefetch_slot(kAhead - 1);
    Entry* e = front.entry;
    if (e->dirty || e->open || !e->current) {  // changed since: listed again if it finishes
      e->in_finished_queue = false;
      continue;
    }
    if (e->written > durable_commits_) {  // written again since, and that write is in flight
      finished_.push_back({e, e->written});
      continue;
    }
    const size_t bytes = e->bytes;
    assert(e->id_hash == ShortHash(e->current->dossier_id));
    const bool erased = entries_.Erase(e->id_hash, e);
    assert(erased);
    if (!erased) {  // never (a bug): left to the scan
      e->in_finished_queue = false;
      continue;
    }
    cache_bytes_ -= bytes;
  }
}

}  // namespace iocstream::app
