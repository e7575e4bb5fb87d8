// Pipeline: the processor between a source and the state store. For one poll batch it
// decodes, deduplicates, applies the dossier state machine, fires due timers, updates the
// aggregates, queues alerts and dead letters in the outbox, and commits all of it together
// with the partitions' next offsets in ONE state-store batch (exactly-once state).
//
// Timers are driven by a clock chosen per run: the wall clock (live) or each partition's
// watermark = max event time seen - allowed lateness (replay). In watermark mode, timers fire
// in-stream before the first event that moves the watermark past them, so a replay gives the
// same alerts whatever the batch boundaries.
//
// Thread-safety: one thread drives a Pipeline (ProcessBatch, FireTimers, OnAssigned, OnRevoked).
// The probe counters may be read from any thread (the Pipeline's thread is their one writer).
#pragma once

#include <array>
#include <atomic>
#include <boost/container/flat_map.hpp>
#include <boost/container/flat_set.hpp>
#include <cassert>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <tuple>
#include <unordered_map>
#include <variant>
#include <vector>

#include "app/changelog.h"
#include "app/commit_alert_sink.h"
#include "app/commit_writer.h"
#include "app/event_hashes.h"
#include "app/id_index.h"
#include "iocstream/aggregate/aggregate_table.h"
#include "iocstream/core/hash.h"
#include "iocstream/core/id_prefix.h"
#include "iocstream/core/result.h"
#include "iocstream/core/source_record.h"
#include "iocstream/decode/event_decoder.h"
#include "iocstream/rules/dossier_state_machine.h"
#include "iocstream/state/state_store.h"

namespace iocstream::app {

enum class TimerClock { kWallClock, kWatermark };

struct PipelineOptions {
  TimerClock clock = TimerClock::kWallClock;
  // Where a record came from, for the log lines that name one, when its source and offset do
  // not tell: `replay --mapping` gives a record's CSV file and line ("pothole-2016.csv:92"),
  // its offset being an event's index among all the files' events in time order. Called only
  // to log (rate-limited lines); empty or no function: the offset alone.
  std::function<std::string(const TopicPartition&, Offset)> locate_record;
  Millis allowed_lateness{std::chrono::hours(1)};
  // An event whose occurred_at is more than this ahead of both the wall clock (`now` of
  // ProcessDecoded) and its partition's newest event is dead-lettered (event_time_ahead)
  // instead of moving the partition's watermark. 0: no bound (the default here; the config's
  // timers.max_time_ahead is 180 days).
  Millis max_time_ahead{0};
  // File sources: dossiers are spread over this many state partitions by the Kafka
  // producer's murmur2 hash of the dossier id, as `import` publishes them, so a file replay
  // and a Kafka replay of the same events build the same state. 0: use the record's partition.
  int32_t hash_partitions = 0;
  // Kafka sources (`run`): the events topic's partition count. A record whose key hashes to
  // another partition (HashPartition: Kafka's default partitioner for keyed records) is
  // dead-lettered as wrong_partition. 0: not checked (file sources, an unknown count).
  int32_t keyed_partitions = 0;
  size_t timer_scan_chunk = 4096;
  // How far past the clock each partition's timer head reads the store (and so which new
  // timers it must hold, in an ordered set): timers due later stay in the store until the
  // clock gets near them. 0: 24 hours with the watermark clock (event time moves by hours per
  // poll batch in a replay), 5 minutes with the wall clock (which moves 200 ms between timer
  // ticks; a day ahead, the head held every timer the late-data floor put an hour ahead in a
  // catch-up, 10k+ of them, and each event's put and delete walked that tree).
  Millis timer_horizon{0};
  // A burst of due timers (thousands due at one instant, e.g. every warning that fell in Tết
  // comes due at the first working minute after it) commits every this many firings, so its
  // dirty dossiers and alerts do not pile up in memory until the batch ends.
  size_t timer_burst_commit = 16384;
  // Commit policy. ProcessBatch commits when `commit_interval` has passed since the last
  // commit or `commit_max_records` records are pending; 0 (the default) commits every batch.
  // Longer intervals coalesce the writes of a dossier's events and the put/delete pairs of its
  // timers into one batch (catch-up speed); they delay alerts by at most the interval. State
  // and offsets always commit together, so the interval never weakens exactly-once.
  Millis commit_interval{0};
  size_t commit_max_records = 0;
  // ... or once the changes pending a commit reach this many bytes (estimated: the dirty
  // dossiers' cached states, the timer changes, the queued alerts; 0: no byte bound). This
  // bounds the memory of a commit whatever the records hold: a commit's WriteBatch is about
  // the size of what it writes (with async_commit the dossiers' encoded values are held too
  // while the writer builds it from them), and with async_commit the next commit's changes
  // build up while the previous one is written. Checked after each poll batch and each timer
  // firing, so a commit may exceed it by the changes of one poll batch.
  size_t commit_max_bytes = 0;
  // Bound of the dossier cache in bytes (estimated from the states' sizes): dossiers stay in
  // memory across commits, so a hot dossier is read from RocksDB once. Clean entries are
  // evicted past the bound (finished dossiers first, then the least recently used). 0: no
  // cache beyond the current commit.
  size_t cache_bytes = 0;
  // Build and write each commit's batch on a writer thread (one, for the Pipeline's life)
  // while the next records are processed (at most one write in flight; the next commit, Flush and
  // every store read that could see it wait for it). The writer also encodes the commit's
  // dossier states, reading the cached states while the pipeline goes on; a state the pipeline
  // is about to change before the writer reached it, the pipeline encodes first
  // (SettleEncode). The state committed is the same; a failed write makes the Pipeline fatal
  // at the next call, exactly as a failed synchronous commit.
  bool async_commit = false;
  // Store each source partition's check (StoredSourceCheck) with its offset: for sources that
  // can be rewritten under their name (files); a Kafka partition cannot, and its records are
  // not hashed.
  bool source_checks = false;
  // Skip records whose payload is empty or whitespace only (what the decoder calls `empty`):
  // counted (PipelineProbe::blank_skipped) and their offsets committed, not dead-lettered. For
  // file sources (`replay`), where a blank line is layout, not an event; a Kafka record is a
  // message even when empty, and is dead-lettered.
  bool skip_blank_records = false;
  // The changelog each commit is written to before the state store (`run` with
  // kafka.changelog_topic; app/changelog.h), mirroring the partitions of `changelog_topic`'s
  // events (the source topic). Not owned; outlives the Pipeline. nullptr: none.
  StateChangelog* changelog = nullptr;
  std::string changelog_source_topic;
  // Where commits write alerts themselves (CommitAlertSink); nullptr: into the outbox. Dead
  // letters go into the outbox either way. Not owned; outlives the Pipeline.
  CommitAlertSink* alert_sink = nullptr;
};

// What Pipeline::SyncWithChangelog did with a newly assigned partition.
struct ChangelogSync {
  enum class Action {
    kNone,      // neither the changelog nor the store has anything of the partition
    kCurrent,   // the store's state is the changelog's last: nothing read
    kRestored,  // the store's state was replaced by the changelog's
    kSeeded,    // the changelog was empty (or behind): the store's state was written to it
  };
  Action action = Action::kNone;
  size_t records = 0;                 // dossier records read (restored) or written (seeded)
  std::optional<Offset> next_offset;  // the partition's stored offset afterwards
};
[[nodiscard]] std::string_view ToString(ChangelogSync::Action action);

// What made the Pipeline commit (PipelineProbe::commits_by_trigger).
enum class CommitTrigger : uint8_t {
  kPollBatch,   // commit_interval 0: every poll batch
  kInterval,    // commit_interval passed
  kRecords,     // commit_max_records pending
  kBytes,       // commit_max_bytes pending
  kTimerBurst,  // timer_burst_commit firings within one call
  kTimers,      // FireTimers: timers due by the clock between batches
  kFlush,       // Flush: a drained source, shutdown, rebalance
};
inline constexpr size_t kCommitTriggerCount = 7;
// "poll_batch", "interval", "records", "bytes", "timer_burst", "timers", "flush".
[[nodiscard]] std::string_view ToString(CommitTrigger trigger);

// What the pipeline thread was blocked on (PipelineProbe::wait_ns): with the thread's CPU
// time, they say why a pipeline that cannot keep up is not busy (a stream processor's "idle"
// and "back-pressured" time).
enum class PipelineWait : uint8_t {
  kSource,       // the next records: librdkafka's fetch (run; KafkaSource::PollWaitNanos), the
                 // NDJSON reader's next batch (replay); idle time when the source has nothing new
  kDecoder,      // the decode worker's next chunk of a poll batch (run)
  kStateWriter,  // the previous commit's write to the state store, before the next (back
                 // pressure from RocksDB: memtable inserts, flush stalls; and the changelog)
};
inline constexpr size_t kPipelineWaitCount = 3;
// "source", "decoder", "state_writer".
[[nodiscard]] std::string_view ToString(PipelineWait wait);

// Why a dossier's receipt without due_at got no deadline from the procedure catalog, besides
// a procedure code the catalog does not know (PipelineProbe::unknown_procedures). Stable
// names (ToString): the reason label of iocstream_events_received_without_deadline_total.
enum class NoDeadlineReason : uint8_t {
  kNoDurationForChannel,  // "no_duration_for_channel": the catalog knows the procedure but
                          // gives no duration for the dossier's channel (nor an in-person one)
  kNoProcedureCode,       // "no_procedure_code": the dossier has no procedure code
  kPastCalendar,          // "past_calendar": the catalog's period from the receipt ends after
                          // 2199, where the business calendar ends (rules: no deadline there,
                          // as the decoder refuses an event's instant there)
};
inline constexpr size_t kNoDeadlineReasonCount = 3;
[[nodiscard]] std::string_view ToString(NoDeadlineReason reason);

// Counters of what happened to every consumed record (the probe of this component).
// consumed == applied + duplicates + dead_lettered + blank_skipped always holds after each
// batch; late_applied is a subset of applied.
struct PipelineProbe {
  std::atomic<uint64_t> consumed{0};
  std::atomic<uint64_t> applied{0};
  std::atomic<uint64_t> late_applied{0};
  // Receipts (a dossier's first received event) without due_at whose procedure code the
  // catalog does not know: the dossier gets no deadline (a subset of applied).
  std::atomic<uint64_t> unknown_procedures{0};
  // Receipts without due_at left without a deadline for another reason, by NoDeadlineReason
  // (a subset of applied; like unknown_procedures, counted only with a catalog).
  std::array<std::atomic<uint64_t>, kNoDeadlineReasonCount> received_without_deadline{};
  std::atomic<uint64_t> duplicates{0};
  std::atomic<uint64_t> dead_lettered{0};
  std::array<std::atomic<uint64_t>, kDecodeErrorReasonCount> dead_lettered_by_reason{};
  // Blank records skipped (PipelineOptions::skip_blank_records: blank lines of files; always
  // 0 otherwise).
  std::atomic<uint64_t> blank_skipped{0};
  // Applied events that contradict their dossier's other events (a subset of applied), by
  // rules::EventConflict: applied because the rules give them the same effect (often none) in
  // any arrival order, counted and logged so that the publishers' data is seen.
  std::array<std::atomic<uint64_t>, 4> conflicting_by_kind{};
  std::atomic<uint64_t> offset_gaps{0};  // offsets skipped within a partition (should be 0)
  // Partitions whose log went back behind the stored offset (topic deleted and created again)
  std::atomic<uint64_t> source_resets{0};
  std::atomic<uint64_t> timers_fired{0};
  std::array<std::atomic<uint64_t>, 8> alerts_by_kind{};
  // deadline_breached alerts raised within LiveBreachWindow(allowed lateness) of their due
  // time by the wall clock: breaches detected as they happen. A catch-up (a replay, a restart on a
  // new state directory, a partition moving without its state) raises again the breaches of
  // dossiers long overdue; those are not counted, so that a page on this counter is always news.
  std::atomic<uint64_t> breaches_detected_live{0};
  std::atomic<uint64_t> batches{0};  // commits that wrote a batch
  std::array<std::atomic<uint64_t>, kCommitTriggerCount> commits_by_trigger{};  // of those
  std::atomic<int64_t> max_event_time_ms{0};
  // The newest event time applied, each capped at the wall clock when it was applied (after a
  // restart, the stored newest capped at the restart): the event-time lag's base. An event
  // dated ahead (a publisher's clock a few seconds fast, or a wrong year accepted up to
  // timers.max_time_ahead) counts as of its arrival: it neither turns the lag negative nor,
  // skipped, leaves a live stream looking stalled.
  std::atomic<int64_t> max_past_event_time_ms{0};
  // Estimated bytes of the dossier cache (dirty entries included), as of the last poll batch.
  std::atomic<uint64_t> dossier_cache_bytes{0};
  // Dossier reads by events and due timers: found in the dossier cache (hits), read from the
  // state store (misses: evicted, or cached by no read before), or in neither (new dossiers,
  // a read of the store too). Misses that grow with the hits, not with new dossiers, say that
  // state.dossier_cache_mb is small for the dossiers still being worked on.
  std::atomic<uint64_t> dossier_cache_hits{0};
  std::atomic<uint64_t> dossier_cache_misses{0};
  std::atomic<uint64_t> dossier_cache_new{0};
  // With a changelog: partitions assigned, by ChangelogSync::Action; dossiers restored from it
  // or seeded into it; records (dossiers and markers) of commits the broker acknowledged
  // (written by the state-writer thread).
  std::array<std::atomic<uint64_t>, 4> changelog_syncs{};
  std::atomic<uint64_t> changelog_records_synced{0};
  std::atomic<uint64_t> changelog_records_written{0};
  // Partitions lost in a Kafka outage whose last committed state is still shown (see
  // Pipeline::OnRevoked's `hold`), until the group assigns partitions again.
  std::atomic<uint64_t> partitions_held{0};
  // Nanoseconds (steady clock) the pipeline thread waited, by PipelineWait.
  std::array<std::atomic<uint64_t>, kPipelineWaitCount> wait_ns{};
};

static_assert(rules::kEventConflictCount <= 4, "PipelineProbe::conflicting_by_kind");

// Adds `ns` nanoseconds to `probe`'s wait_ns of `wait`.
inline void CountWait(PipelineProbe& probe, PipelineWait wait, uint64_t ns) {
  probe.wait_ns[static_cast<size_t>(wait)].fetch_add(ns, std::memory_order_relaxed);
}

// Adds the time from its construction to its destruction to `probe`'s wait_ns of `wait`: put
// around a call that blocks the pipeline thread. Two steady-clock reads: for calls made per
// poll batch or chunk, not per record.
class ScopedWait {
 public:
  ScopedWait(PipelineProbe& probe, PipelineWait wait)
      : probe_(probe), wait_(wait), start_(std::chrono::steady_clock::now()) {}
  ~ScopedWait() {
    CountWait(probe_, wait_,
              static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now() - start_)
                                        .count()));
  }
  ScopedWait(const ScopedWait&) = delete;
  ScopedWait& operator=(const ScopedWait&) = delete;

 private:
  PipelineProbe& probe_;
  PipelineWait wait_;
  std::chrono::steady_clock::time_point start_;
};

// The window of PipelineProbe::breaches_detected_live: 2 hours, and at least an hour more than
// the allowed lateness, for which the timers of late data wait (and by which a watermark
// clock trails the newest event).
[[nodiscard]] inline Millis LiveBreachWindow(Millis allowed_lateness) {
  return std::max<Millis>(std::chrono::hours(2), allowed_lateness + std::chrono::hours(1));
}

// What one Pipeline::Recompute did.
struct RecomputeSummary {
  uint64_t dossiers_scanned = 0;  // dossiers read from the store
  uint64_t open_dossiers = 0;     // open dossiers of the partitions recomputed
  uint64_t dossiers_changed = 0;  // written back: deadline, warnings or fired flags changed
  uint64_t due_changed = 0;       // of which the due time moved
  // Over the dossiers' timer schedules (rules::DesiredTimers), of which the store keeps the next
  // timer of each dossier (rules::StoredTimers).
  uint64_t timers_moved = 0;    // timers put at another instant (same dossier and kind)
  uint64_t timers_added = 0;    // timers a dossier now needs and did not have
  uint64_t timers_removed = 0;  // timers a dossier no longer needs
  Millis duration{0};           // wall time of the scan, recompute and commit
};

// Decodes each record's payload (with its key) in order: the first step of ProcessBatch.
// Touches no Pipeline; any thread may call it with an EventDecoder of its own.
[[nodiscard]] std::vector<DecodeResult> DecodeRecords(EventDecoder& decoder,
                                                      std::span<const SourceRecord> records);
// The same into `decoded`, which ends with records.size() results. The results it holds
// already (an earlier batch's) are overwritten, and their events' memory is reused
// (EventDecoder::DecodeInto).
void DecodeRecords(EventDecoder& decoder, std::span<const SourceRecord> records,
                   std::vector<DecodeResult>& decoded);

class Pipeline {
 public:
  Pipeline(state::StateStore& store, aggregate::AggregateTable& aggregates,
           rules::RulesContext rules, PipelineOptions options, PipelineProbe& probe);
  // Waits for a write in flight (its failure is logged: nothing is lost, a restart resumes
  // from the store). Call Flush first to learn its status.
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Loads the aggregates of every partition in the store (file replays, which own them all).
  // A consumer-group run loads partitions as they are assigned (OnAssigned) instead.
  [[nodiscard]] Status Restore();

  // Loads the aggregates of newly assigned partitions from the store, so that their counts
  // continue where this store left them (a rebalance never loses or doubles counts), and
  // starts the event-time gauges from their stored clocks; `wall_now` caps a stored newest
  // event time dated ahead of it (PipelineProbe::max_past_event_time_ms).
  [[nodiscard]] Status OnAssigned(std::span<const TopicPartition> partitions, Instant wall_now);

  // Processes `records` (in source order) and commits as the commit policy says (every batch
  // by default). `wall_now` drives wall-clock timers. A failed commit is fatal for this
  // Pipeline: its in-memory view may be ahead of the store; the caller stops, and a restart
  // resumes from the store.
  [[nodiscard]] Status ProcessBatch(std::span<const SourceRecord> records, Instant wall_now);

  // ProcessBatch of records decoded beforehand, on any thread, with an EventDecoder of that
  // thread's own (DecodeRecords): decoded[i] is records[i]'s result, and the events may be
  // moved from. Lets a source decode the next batch while this one is applied.
  //
  // A poll batch may also be given in consecutive parts (decoded a part ahead): every part
  // but the last passes `batch_end` false, and the commit policy is applied after the last
  // one only, as for a whole batch (with commit_interval 0, one commit per poll batch).
  //
  // With source checks, a source that reads its records in order from the stored position
  // may hash them on its own thread too: `chains[i]` is then the chain through records[i]
  // (ChainFingerprint of the chain before it, starting from the stored check or kChainStart,
  // and its payload). Used only where the Pipeline knows the chain before the record, which
  // is then the source's (debug builds check each one). Empty: the Pipeline hashes them.
  //
  // `hashes`, when given, are HashDecoded's of `decoded` (computed on the decoding thread);
  // empty: the Pipeline hashes them (debug builds check each one).
  [[nodiscard]] Status ProcessDecoded(std::span<const SourceRecord> records,
                                      std::span<DecodeResult> decoded, Instant wall_now,
                                      bool batch_end = true, std::span<const uint64_t> chains = {},
                                      std::span<const EventHashes> hashes = {});

  // Fires the timers due at `now` on the given partitions and commits everything pending
  // (wall-clock mode: call periodically, also when no record arrives).
  [[nodiscard]] Status FireTimers(std::span<const PartitionId> partitions, Instant now);

  // Commits what is pending and waits until every commit is in the store (call when the
  // source is drained, before exit, before a pause).
  [[nodiscard]] Status Flush();

  // The end of a file replay's input (watermark clock with hash_partitions): the partitions
  // are the file's dossiers spread by hash, not streams of their own, so a partition whose
  // dossiers got no recent event (a small file, a quiet spell at its end) moves to the newest
  // partition's watermark, and the timers due by then fire there, as they would have had the
  // file gone on. Pending until the next commit (call Flush after it). No-op in other modes.
  // `wall_now`: the wall clock, as for ProcessBatch.
  [[nodiscard]] Status EndOfInput(Instant wall_now);

  // True while processed records or timer firings wait for a commit, or a commit's write is
  // in flight (async_commit).
  [[nodiscard]] bool HasPending() const;

  // Number of commits in the store so far, and the next offsets they stored per source
  // partition: what may be committed to the consumer group (advisory; the state store is the
  // source of truth). With async_commit a commit counts once its write is known complete.
  [[nodiscard]] uint64_t CommitCount() const { return durable_commits_; }
  [[nodiscard]] const std::map<TopicPartition, Offset>& CommittedOffsets() const {
    return durable_offsets_;
  }

  // Switches to `rules` (a reloaded calendar or procedure catalog) and recomputes the
  // deadlines of the open dossiers (rules::RecomputeDeadline) of `partitions`, or of every
  // partition in the store when nullopt (file replays and offline use; a consumer-group run
  // passes its assignment: other partitions' dossiers belong to other instances). Changed
  // dossiers, their timers (moved, added, removed) and the aggregates they move are committed
  // as ONE state-store batch, with no offset; alerts are not raised here: a timer now due
  // fires on the next FireTimers / ProcessBatch as usual. The clock that decides whether a
  // moved threshold is still past is `wall_now` with the wall clock, else the partition's
  // watermark.
  //
  // Call between batches, on the thread that drives the Pipeline (the store's one writer).
  // `rules`' pointers must stay valid until the next Recompute or the Pipeline's end. Memory:
  // the changed dossiers are held until the commit. Errors: the store's (a failed read leaves
  // the Pipeline on its old rules; a failed commit is fatal, as in ProcessBatch).
  // Implemented in recompute.cc.
  [[nodiscard]] Result<RecomputeSummary> Recompute(
      const rules::RulesContext& rules, Instant wall_now,
      std::optional<std::span<const PartitionId>> partitions);

  // False once a commit failed: the Pipeline is unusable (its memory may be ahead of the
  // store) and the caller stops.
  [[nodiscard]] bool healthy() const { return static_cast<bool>(fatal_); }

  // The next offset stored with the state for `tp` (resume point), nullopt if none.
  [[nodiscard]] std::optional<Offset> StoredOffset(const TopicPartition& tp) const;

  // Where the log of `tp` starts (its low watermark, KafkaSource::LogStartOffsets), for a
  // partition with no stored offset: its first record is then expected there, and the offsets
  // before it (transaction markers, aborted transactions' records at the log's start) count as
  // offset gaps; without it, a first record anywhere is expected and they counted nowhere (a
  // helper's finding). Ignored once an offset is stored. Call on the Pipeline's thread.
  void ExpectFirstOffset(const TopicPartition& tp, Offset log_start);

  // The check stored with `tp`'s offset: the chained hash (ChainFingerprint) of the records
  // consumed from it, from its first, up to StoredOffset(tp); nullopt if there is none that
  // describes them (a store written before source checks, nothing consumed, or an offset
  // moved on by such a build). A file source checks it before resuming: a file changed under
  // its path, rather than appended to, no longer hashes to it.
  [[nodiscard]] std::optional<uint64_t> StoredSourceCheck(const TopicPartition& tp) const;

  // The chain of source checks: `previous` (kChainStart before a source's first record)
  // extended by a record's payload, XXH3-64 seeded with `previous`. Trailing spaces, tabs and
  // carriage returns are not hashed: a last line applied before its "\r\n" was written is the
  // same line once it is.
  static constexpr uint64_t kChainStart = 0;
  [[nodiscard]] static uint64_t ChainFingerprint(uint64_t previous, std::string_view payload);
  // `payload` without its trailing spaces, tabs and carriage returns: what ChainFingerprint
  // hashes, and what names a file source by its first line.
  [[nodiscard]] static std::string_view WithoutTrailingBlanks(std::string_view payload);

  // With a changelog (PipelineOptions::changelog): brings the store's state of `tp`, a
  // partition the group just assigned, to the changelog's (see app/changelog.h), before its
  // stored offset is read. Commits what is pending first. Call on the Pipeline's thread before
  // OnAssigned. Memory: restored dossiers go through the cache and commit in bounded chunks.
  // Errors: the changelog's or the store's (a failed commit is fatal, as in ProcessBatch);
  // kCorruption for records of another layout or of another partition.
  // Implemented in changelog_sync.cc.
  // `wall_now` as in OnAssigned.
  [[nodiscard]] Result<ChangelogSync> SyncWithChangelog(const TopicPartition& tp, Instant wall_now);
  // Sets PipelineOptions::locate_record; call before the first batch.
  void SetRecordLocator(std::function<std::string(const TopicPartition&, Offset)> locate) {
    options_.locate_record = std::move(locate);
  }
  // Sets PipelineOptions::keyed_partitions; call before the first batch.
  void SetKeyedPartitions(int32_t partitions) { options_.keyed_partitions = partitions; }
  // Sets PipelineOptions::changelog and changelog_source_topic; call before the first commit.
  void SetChangelog(StateChangelog* changelog, std::string source_topic) {
    options_.changelog = changelog;
    options_.changelog_source_topic = std::move(source_topic);
  }

  // Sets PipelineOptions::alert_sink (nullptr: the outbox again), once the write in flight,
  // which may be writing to the sink set before, is done (its failure makes the Pipeline
  // fatal, as Flush's would). Unset the sink before it goes away: a write in flight when a
  // replay failed used it while it was destroyed.
  void SetAlertSink(CommitAlertSink* sink) {
    (void)AwaitWrite();
    options_.alert_sink = sink;
  }

  // Commits what is pending, then forgets the in-memory state of revoked partitions
  // (aggregates, watermarks, offsets, cached dossiers). A failed commit makes the Pipeline
  // fatal (the next call returns the error). `lost` (the group took them without this member:
  // another may own them already): what is pending is dropped, not committed, so that neither
  // the store nor the changelog gets changes for partitions this instance no longer owns; a
  // write already in flight is awaited. The store then resumes them from its last commit.
  //
  // `hold` (with `lost`; `run` sets it when the partitions were lost because no broker
  // answered, a Kafka outage longer than the session timeout): the partitions' aggregates are
  // kept, as of their last commit, and the partitions listed by HeldPartitions, so that the
  // screens (metrics, KPIs, worklist) show the last known state through the outage instead of
  // nothing. Nothing of theirs is processed (no events, no timers) until the group assigns them
  // again; the next OnAssigned forgets the held partitions it does not assign.
  void OnRevoked(std::span<const TopicPartition> partitions, bool lost = false, bool hold = false);
  // The partitions held by OnRevoked's `hold`, none once the group assigns again.
  // Thread-safe (the HTTP API's threads ask it).
  [[nodiscard]] std::set<PartitionId> HeldPartitions() const;

  // Dossier cache: entries held and their estimated bytes.
  [[nodiscard]] size_t CachedDossiers() const { return entries_.size(); }
  [[nodiscard]] size_t CachedBytes() const { return cache_bytes_; }
  // Whether a dossier is in the cache (tests, diagnostics).
  [[nodiscard]] bool IsCached(std::string_view dossier_id) const {
    return FindCached(dossier_id) != nullptr;
  }
  // Estimated bytes of the changes pending a commit (see PipelineOptions::commit_max_bytes).
  [[nodiscard]] size_t PendingBytes() const;

  // The watermark of a partition (max event time - allowed lateness), nullopt before events.
  [[nodiscard]] std::optional<Instant> Watermark(PartitionId partition) const;

  // The state partition of a dossier for file sources (Kafka murmur2 partitioner).
  [[nodiscard]] static int32_t HashPartition(std::string_view dossier_id, int32_t partitions) {
    return PartitionOfMurmur2(Murmur2(dossier_id), partitions);
  }
  // Kafka's murmur2 hash of a key (the Java client's default partitioner; librdkafka's
  // "murmur2_random"), and the partition of `partitions` (> 0) it gives.
  [[nodiscard]] static uint32_t Murmur2(std::string_view key);
  [[nodiscard]] static int32_t PartitionOfMurmur2(uint32_t murmur2, int32_t partitions) {
    return static_cast<int32_t>((murmur2 & 0x7fffffffU) % static_cast<uint32_t>(partitions));
  }
  // The event_time_ahead rule (PipelineOptions::max_time_ahead, > 0): an event at `occurred_at`
  // more than `max_time_ahead` after both its partition's newest event (`partition_newest`;
  // Instant::min() before the first) and `wall_now`. Shared with `simulate`'s warning.
  [[nodiscard]] static bool DatedTooFarAhead(Instant occurred_at, Instant partition_newest,
                                             Instant wall_now, Millis max_time_ahead) {
    return occurred_at > std::max(partition_newest, wall_now) + max_time_ahead;
  }

 private:
  // `options` with its 0s replaced by their defaults (timer_horizon).
  static PipelineOptions WithDefaults(PipelineOptions options);
  // A dossier id held inline up to kInline bytes, as the dossier cache's key and in the timer
  // heads: finding an entry then compares the bytes in the map's own slot instead of
  // following a std::string's heap pointer (ids of 16 to 30 bytes, such as
  // "H44.246-260105-0001", are the usual ones, and that pointer was a cache miss on every
  // lookup), and a head's timer allocates no id apart. Longer ids are kept on the heap.
  class CacheKey {
   public:
    explicit CacheKey(std::string_view id);
    CacheKey(CacheKey&& other) noexcept;
    CacheKey& operator=(CacheKey&& other) noexcept;
    CacheKey(const CacheKey&) = delete;
    CacheKey& operator=(const CacheKey&) = delete;
    ~CacheKey();
    [[nodiscard]] std::string_view view() const noexcept;
    // Bytes a key of `id` keeps on the heap (0 for an inline id).
    [[nodiscard]] static size_t HeapBytesFor(std::string_view id) noexcept {
      return id.size() <= kInline ? 0 : id.size();
    }

   private:
    static constexpr size_t kInline = 31;
    static constexpr uint8_t kOnHeap = 0xFF;
    [[nodiscard]] bool IsInline() const noexcept { return size_ != kOnHeap; }
    [[nodiscard]] char* HeapData() const noexcept;
    [[nodiscard]] uint32_t HeapSize() const noexcept;
    // Inline: the id's bytes, size_ of them. On the heap: its pointer, then its uint32 size.
    char bytes_[kInline];
    uint8_t size_;
  };
  struct Entry {
    // What Evict reads comes first (32 bytes, usually one cache line): its scan of every
    // entry then does not touch the states.
    bool dirty = false;
    bool open = false;  // rules::IsOpen(*current), kept by Resize
    // The timer the store keeps for `current` (rules::StoredTimerSlots, at most one), as
    // EndChange last computed it, so that the next BeginChange does not compute it again
    // (twice per event was 3.5% of a replay's pipeline thread, callgrind). Unknown (false)
    // for a state read from the store: `current` changes only between BeginChange and
    // EndChange once cached.
    bool stored_timer_known = false;
    bool has_stored_timer = false;
    TimerKind stored_timer_kind = TimerKind::kBreach;
    // Who encodes `current` for the write in flight (EncodeState): the writer thread, unless
    // the pipeline changes the state first (SettleEncode). Idle outside a write in flight.
    mutable std::atomic<uint8_t> encode{0};
    bool in_finished_queue = false;  // listed in finished_ (Evict's first candidates)
    uint64_t last_used = 0;          // commit count when read from the store or last applied to
                                     // (eviction order)
    uint64_t written = 0;        // the commit that last wrote it (commit_count_ after it); 0: none
    uint32_t bytes = 0;          // estimated size counted in cache_bytes_
    uint32_t dirty_index = 0;    // its place in dirty_ while `dirty`
    Instant stored_timer_due{};  // with has_stored_timer
    uint64_t id_hash = 0;        // ShortHash of its dossier id, as the index holds it (Erase)
    std::optional<DossierState> current;
    // Sets the stored timer, known from now on, to `timers`' (rules::StoredTimerSlots: at
    // most one).
    void KnowStoredTimer(const rules::TimerSlots& timers) {
      assert(timers.size <= 1);
      stored_timer_known = true;
      has_stored_timer = timers.size > 0;
      if (has_stored_timer) {
        stored_timer_due = timers.slots[0].due;
        stored_timer_kind = timers.slots[0].kind;
      }
    }
  };
  // Within jemalloc's 384-byte size class, six cache lines. Not the 512-byte class: entries
  // every 512 bytes put their first lines in an eighth of the cache's sets, and a 1M-dossier
  // replay's pipeline thread ran 19% slower so (448 bytes, 1%; 320, no faster:
  // docs/performance-history.md, sessions 46 and 47).
  static_assert(sizeof(Entry) <= 384, "keep the dossier cache entry within 384 bytes");
  // A new entry for the dossier id hashed to `id_hash`, its other members set by their
  // initialisers only: the rest of its bytes (most of `current`'s) are written when a state is
  // put there. std::make_unique<Entry>() zeroed all 384 bytes first, six cache lines fetched
  // for writing on every new dossier.
  static std::unique_ptr<Entry> NewEntry(uint64_t id_hash) {
    auto entry = std::make_unique_for_overwrite<Entry>();
    entry->id_hash = id_hash;
    return entry;
  }
  // The head of each partition's timer queue: exactly the timers (stored or changed in this
  // batch) within its coverage (`covered`), so due timers are found without a store scan; the
  // store is read again only past the coverage (a page at a time).
  //
  // Coverage: every timer due at or before `until`, and, when `partial` is set, those due at
  // its instant (until + 1 ms) up to it in the store's key order (state::TimerKeyLess): a
  // page may end in the middle of an instant at which thousands of timers are due. Timers of
  // the head's own partition only.
  struct TimerCoverage {
    Instant until = Instant::min();
    std::optional<Timer> partial;
    [[nodiscard]] bool Covers(const Timer& t) const { return Covers(t.due, t.kind, t.dossier_id); }
    // The same for the timer of `dossier_id` due at `due` of `kind` (of the head's partition).
    [[nodiscard]] bool Covers(Instant due, TimerKind kind, std::string_view dossier_id) const {
      if (due <= until) return true;
      if (!partial || due != partial->due) return false;
      // Not after `partial` in the store's key order (state::TimerKeyLess): kind, then id.
      return std::pair(kind, dossier_id) <=
             std::pair(partial->kind, std::string_view(partial->dossier_id));
    }
  };
  // A timer in a head (HeadTimer, which owns its dossier id, inline up to 31 bytes) or the key
  // of one to look up (HeadKey, a view of an id), with the id's first 24 bytes beside it
  // (IdPrefix): the head's order (state::TimerKeyLess) then compares integers, and reads the
  // id's bytes and calls memcmp only when they tie. With the wall clock, a catch-up floors the
  // timers of a whole poll batch to one instant, so most comparisons reach the ids: memcmp and the
  // set were a fifth of `run`'s pipeline thread (perf).
  template <class Id>
  struct HeadEntry {
    PartitionId partition{0};
    Instant due{};
    TimerKind kind = TimerKind::kBreach;
    IdPrefix<3> prefix{};  // before dossier_id: initialised from `id` before it is moved
    Id dossier_id;
    HeadEntry(PartitionId p, Instant d, TimerKind k, Id id)
        : partition(p),
          due(d),
          kind(k),
          prefix(MakeIdPrefix<3>(IdView(id))),
          dossier_id(std::move(id)) {}
  };
  [[nodiscard]] static std::string_view IdView(std::string_view id) noexcept { return id; }
  [[nodiscard]] static std::string_view IdView(const CacheKey& id) noexcept { return id.view(); }
  using HeadTimer = HeadEntry<CacheKey>;
  using HeadKey = HeadEntry<std::string_view>;
  // state::TimerKeyLess's order on HeadTimers and HeadKeys.
  struct HeadTimerLess {
    using is_transparent = void;
    template <class A, class B>
    bool operator()(const A& a, const B& b) const noexcept {
      return state::TimerKeyBefore(a.partition, a.due, a.kind, b.partition, b.due, b.kind, [&] {
        return CompareIds(a.prefix, IdView(a.dossier_id), b.prefix, IdView(b.dossier_id));
      });
    }
  };
  // Timer puts that no head covered when they were made (some may have been cancelled since):
  // what ExtendHead adds to a head as its coverage grows over them, without scanning every
  // change (1,102 extensions scanned 89.6M changes in a 4.57M-event replay). `in_flight` holds
  // those of the write in flight. A head that drops its far end puts the pending puts it drops
  // back here.
  struct UncoveredPut {
    const Entry* entry;  // of a dossier with a state (a put comes from one), cached while listed
    Instant due;
    TimerKind kind;
  };
  struct UncoveredPuts {
    std::vector<UncoveredPut> current;
    std::vector<UncoveredPut> in_flight;
  };
  // ExpectFirstOffset's log starts, by partition.
  std::map<TopicPartition, Offset> log_starts_;
  // ExtendHead's puts that its new coverage may hold (their due times tell), reused.
  std::vector<UncoveredPut> may_cover_;
  struct TimerHead {
    std::set<HeadTimer, HeadTimerLess> timers;
    TimerCoverage covered;
    bool loaded = false;
    UncoveredPuts uncovered;  // the partition's puts beyond `covered`
  };

  // A partition's clock: its watermark and what its moves ask for. One entry per partition
  // (a handful), in a sorted vector searched once per record (the flags were two sets of
  // their own, searched and inserted into at every move).
  struct PartitionClock {
    Instant watermark = Instant::min();
    bool moved = false;  // since the last commit: stored at the next one
    // Timers due by the watermark may not have fired: set when the watermark moves, when a
    // change puts a timer at or behind it, and when the clock is loaded (a restart); cleared
    // once the partition's next event has fired them. Commits leave it alone, so neither where
    // a poll batch or a commit ends nor a restart changes when a timer fires.
    bool armed = false;
  };
  using Watermarks = boost::container::flat_map<PartitionId, PartitionClock>;

  // Entry::encode. With async_commit, a commit hands its dirty entries to the writer thread
  // to encode (their cache lines, each a miss, were a tenth of the pipeline thread's time);
  // an entry the pipeline is about to change before the writer reached it is encoded by the
  // pipeline instead (into claimed_), one the writer is encoding is waited for.
  enum EncodeState : uint8_t {
    kEncodeIdle = 0,
    kEncodePending = 1,
    kEncodeByWriter = 2,
    kEncodeByPipeline = 3
  };
  // Before any change of entry.current: its state as the write in flight must hold it is
  // encoded (by the pipeline now, or waited for from the writer).
  void SettleEncode(const Entry& entry);
  Entry* Lookup(const std::string& dossier_id);
  // Marks an entry written since the last commit: the commit writes its state and the change
  // of its timer since the last commit, and it is not evicted before. `committed`: the timer
  // the store keeps for it once the commits built so far are written (none for an entry with
  // no state), which the commit's timer change starts from.
  void MarkDirty(Entry& entry, const rules::TimerSlots& committed, PartitionId partition);
  // A change of an entry's state, made in place between BeginChange and EndChange: EndChange
  // applies it to the aggregates and the timers (what the state was is kept by BeginChange)
  // and marks the entry dirty. One change at a time.
  void BeginChange(const Entry& entry);
  void EndChange(Entry& entry);
  // BeginChange, replace the state by `next`, EndChange.
  void Update(Entry& entry, DossierState next);
  // Moves `alerts` into the outbox. `wall_now`: the wall clock of the call
  // (PipelineProbe::breaches_detected_live).
  void QueueAlerts(std::vector<AlertIntent>& alerts, Instant wall_now);
  // After a dossier's receipt without due_at, with a catalog: counts (and logs, at most every
  // 10 s per reason) a dossier left without a deadline because the catalog does not know its
  // procedure code (a typo such as 1.00045), has no duration for its channel, because it
  // has no procedure code, or because its catalog period ends past the calendar
  // (NoDeadlineReason), which the KPIs would otherwise count as on time without a word.
  void CheckReceiptDeadline(const DossierState& state);
  Status FireDue(PartitionId partition, Instant up_to, Instant wall_now);
  Status ExtendHead(PartitionId partition, TimerHead& head, Instant up_to);
  // A put or delete of the timer of `entry` (its dossier `dossier_id`) on `partition`, due at
  // `due`, of `kind`: kept in the partition's timer head (or its uncovered puts); the commit
  // writes the entry's difference from the last commit (DirtyEntry). The entry must stay
  // cached until then (a dirty entry, or one whose write is in flight, is never evicted).
  void ChangeTimer(Entry& entry, std::string_view dossier_id, PartitionId partition, Instant due,
                   TimerKind kind, bool put);
  // Whether the cached state of `entry` keeps (as its stored timer) the timer of `partition`
  // due at `due` of `kind`; nullopt when its timer is unknown (a state read from the store and
  // not changed since, whose stored timers the store itself tells).
  [[nodiscard]] static std::optional<bool> StateKeeps(const Entry& entry, PartitionId partition,
                                                      Instant due, TimerKind kind);
  // The same for a timer read from the store: nullopt also when its dossier is not cached (no
  // change of it is pending or in flight: the store is up to date for it).
  [[nodiscard]] std::optional<bool> StateKeeps(const Timer& t) const;
  // A timer read from the store that no state keeps (an orphan's, a stale one): deleted by
  // the next commit, unless the state keeps it again by then.
  void DeleteStrayTimer(const Timer& t);
  // The partition's entry in watermarks_, read from the store on first use (Instant::min():
  // none stored) and armed to fire the timers due at it.
  Watermarks::iterator LoadWatermark(PartitionId partition);
  // The error that dead-letters `event`, a record of `partition`, as published to another
  // partition than its key's (PipelineOptions::keyed_partitions), nullopt if it is not.
  // `murmur2`: Murmur2(event.dossier_id).
  [[nodiscard]] std::optional<DecodeError> WrongPartition(const DossierEvent& event,
                                                          uint32_t murmur2,
                                                          PartitionId partition) const;
  // The error that dead-letters `event` as too far ahead in time (PipelineOptions::
  // max_time_ahead), nullopt if it is not; `watermark` is that of its `partition`.
  [[nodiscard]] std::optional<DecodeError> TimeAhead(const DossierEvent& event,
                                                     PartitionId partition, Instant watermark,
                                                     Instant wall_now) const;
  // Counts an applied event that revealed `conflict` and logs it, naming the dossier and the
  // record: at most LogRateLimit::kDataBurst lines per kind every kLogInterval, the next of
  // which says how many more were counted since the last (a publisher resending a loop of them
  // must not flood the log).
  void ReportConflict(rules::EventConflict conflict, const DossierEvent& event,
                      const TopicPartition& tp, Offset offset);
  // StoredOffset, with a failed read an error rather than nullopt.
  [[nodiscard]] Result<std::optional<Offset>> ReadStoredOffset(const TopicPartition& tp) const;
  // The chain of the check stored for `tp` if it describes the records before `offset` (its
  // stored offset), else nullopt (none, a lagging one, or a failed read, logged).
  [[nodiscard]] std::optional<uint64_t> ChainBefore(const TopicPartition& tp, Offset offset) const;
  // Moves a partition's watermark (its LoadWatermark entry) to `event_time` minus the allowed
  // lateness, if that is later.
  void AdvanceWatermark(Watermarks::iterator watermark, Instant event_time);
  // kBatchEnd: between batches (evicts past the cache bound). kWithinBatch: in the middle of
  // one (a burst of due timers), where the batch holds pointers to cache entries.
  enum class CommitKind { kBatchEnd, kWithinBatch };
  Status Commit(CommitTrigger trigger, CommitKind kind = CommitKind::kBatchEnd);
  // The changes pending a commit reached options_.commit_max_bytes.
  [[nodiscard]] bool OverByteBound() const;

  // Waits for the write in flight, if any: its status becomes the Pipeline's (fatal on
  // failure) and its offsets durable.
  Status AwaitWrite();
  // Replaces the aggregates of `partitions` by the store's (as of the last commit).
  Status LoadAggregatesOf(std::span<const TopicPartition> partitions);
  // Evicts clean entries whose last write is in the store (not one in flight) down to 90% of
  // the cache bound, once it is exceeded.
  void Evict();
  Entry* Cache(const std::string& dossier_id, std::optional<DossierState> state);
  // Re-estimates an entry after its state changed (cache_bytes_, dirty_bytes_) and updates
  // its `open` flag.
  void Resize(Entry& entry, std::string_view dossier_id);

  state::StateStore& store_;
  aggregate::AggregateTable& aggregates_;
  rules::RulesContext rules_;
  PipelineOptions options_;
  PipelineProbe& probe_;
  EventDecoder decoder_;

  // OnRevoked's held partitions (written on the Pipeline's thread, read by any).
  mutable std::mutex held_mu_;
  std::set<PartitionId> held_;  // guarded by held_mu_

  // Durable view, kept in step with the store.
  Watermarks watermarks_;
  // Each partition's timer head, at the index of its partition id (a handful, numbered from
  // 0), null where none: found by index on every event (FireDue) and timer change, where a
  // std::map's search was. Heads are allocated apart, so that references stay valid while a
  // head of another partition is added.
  std::vector<std::unique_ptr<TimerHead>> heads_;
  // The head of `partition`, added (not loaded, covering nothing) if it has none. Inline: it
  // is asked on every event and every timer change.
  TimerHead& HeadOf(PartitionId partition) {
    assert(partition.value() >= 0);
    const auto index = static_cast<size_t>(partition.value());
    if (index < heads_.size() && heads_[index]) [[likely]] {
      return *heads_[index];
    }
    return AddHead(partition);
  }
  TimerHead& AddHead(PartitionId partition);  // HeadOf's first call for `partition`
  // Whether FireDue(up_to) would leave `head` as it is: loaded and covering `up_to`, no
  // timer due by then, and within its bound. Asked inline before FireDue's call for each
  // event, most of which find nothing due.
  [[nodiscard]] bool HeadIdle(const TimerHead& head, Instant up_to) const {
    return head.loaded && head.covered.until >= up_to &&
           (head.timers.empty() || head.timers.begin()->due > up_to) &&
           head.timers.size() <= 4 * options_.timer_scan_chunk;
  }
  // Drops the head of `partition` (and its uncovered puts), if any.
  void DropHead(PartitionId partition);
  // Calls f(TimerHead&) for each partition's head.
  template <class F>
  void ForEachHead(F&& f) {
    for (auto& head : heads_) {
      if (head) f(*head);
    }
  }
  std::map<TopicPartition, Offset> next_offsets_;                    // as of the last commit built
  std::map<TopicPartition, state::SourceCheck> next_source_checks_;  // as of the last commit built
  std::map<TopicPartition, Offset> durable_offsets_;  // as of the last commit written
  uint64_t durable_commits_ = 0;
  // durable_commits_ when Evict last scanned the cache and evicted every entry it could while
  // staying above its target (the rest dirty or in a write in flight), and the cache's bytes
  // then. Entries that were dirty become evictable only as writes become durable, so no scan
  // is worth doing again before the next one, unless the cache grew by a tenth of its bound
  // (entries read and left clean: a duplicate event's dossier): with commits of many records,
  // the cache can stay over its bound for dozens of poll batches, and a scan of every entry
  // at each batch's end was a fifth of the pipeline thread.
  std::optional<uint64_t> evict_exhausted_at_;
  size_t evict_exhausted_bytes_ = 0;
  // Finished dossiers (a state, not open) in the order their writes were built, each with the
  // commit that wrote it (durable once durable_commits_ reaches it): Evict's first candidates,
  // taken from the front without a scan of the cache. A scan read every entry's first line to
  // evict a tenth of them, finished ones almost all: 6% of a 1M-dossier replay's pipeline thread
  // (perf). An entry changed or reopened since it was listed leaves the queue when Evict meets
  // it (a later commit lists it again if it is finished then); the scan never evicts a listed
  // entry, whose pointer the queue holds. Bounded by the cache's entries (16 bytes each).
  struct FinishedEntry {
    Entry* entry;
    uint64_t written;
  };
  std::deque<FinishedEntry> finished_;
  // Evicts listed finished entries whose writes are durable, in the queue's order, until the
  // cache is down to `target` bytes or the queue's front is not durable yet.
  void EvictFinished(size_t target);
  // The writer of async commits (nullptr without async_commit), and what the write in flight
  // makes durable.
  std::unique_ptr<CommitWriter> writer_;
  std::map<TopicPartition, Offset> in_flight_offsets_;

  // Dossier cache: the batch being built (dirty entries) and clean entries kept across
  // commits up to options_.cache_bytes.
  //
  // The index of the cached entries by dossier id (ShortHash: XXH3, about twice as fast as
  // std::hash on 16-to-32-byte ids); entries are allocated apart so that their pointers
  // (dirty_, a batch's entry_of) survive its growth. A batch's lookups ask for their slots
  // ahead (IdIndex::Prefetch, with the hashes the decoding thread computed).
  IdIndex<CacheKey, Entry> entries_;
  // The entry of `dossier_id`, or nullptr.
  [[nodiscard]] Entry* FindCached(std::string_view dossier_id) const {
    return entries_.Find(dossier_id, ShortHash(dossier_id));
  }
  // What the index costs per entry, estimated: its two arrays' slot at two-thirds full (they
  // are between 3/8 and 3/4 full).
  static constexpr size_t kIndexBytesPerEntry = IdIndex<CacheKey, Entry>::kSlotBytes * 3 / 2;
  // Estimated memory of the cache entry of `dossier_id` holding `state`.
  static size_t EntryBytes(std::string_view dossier_id, const std::optional<DossierState>& state);
  size_t cache_bytes_ = 0;
  // An entry written since the last commit (node pointers are stable), with the timer the
  // store keeps for it once the commits built before are written: the commit writes the
  // difference between that timer and the one its state keeps now (delete and put).
  struct DirtyEntry {
    Entry* entry;
    Instant committed_due{};
    PartitionId committed_partition{0};
    TimerKind committed_kind = TimerKind::kBreach;
    bool has_committed = false;
    uint8_t timer_writes = 0;  // of the difference now: 0 (none), 1 or 2
    // Whether the store keeps (or will) this timer for the entry.
    [[nodiscard]] bool Committed(PartitionId partition, Instant due, TimerKind kind) const {
      return has_committed && committed_due == due && committed_kind == kind &&
             committed_partition == partition;
    }
  };
  std::vector<DirtyEntry> dirty_;
  size_t dirty_bytes_ = 0;  // their `bytes`, summed
  uint64_t commit_count_ = 0;
  size_t pending_records_ = 0;
  std::chrono::steady_clock::time_point last_commit_ = std::chrono::steady_clock::now();
  // A warning logged at most `burst` times per interval (kLogInterval in pipeline.cc),
  // counting the occurrences not logged since: for data problems a publisher may repeat in a
  // loop. A burst of lines names each of a few problems (a replay of a year's CSV files logged
  // one of its ten conflicting events, in the half second it took: a helper's finding); past
  // it, a flood still costs a few lines.
  struct LogRateLimit {
    static constexpr uint32_t kDataBurst = 20;  // lines per interval for problems in the data
    uint32_t burst = kDataBurst;
    std::optional<std::chrono::steady_clock::time_point> window_start;
    uint32_t logged_in_window = 0;
    uint64_t unlogged = 0;
    // Whether to log now; if so, `unlogged_before` is how many were not logged since the last
    // line (and the count starts again), else this one is counted.
    bool Admit(uint64_t& unlogged_before);
  };
  LogRateLimit unknown_procedure_log_;  // CheckReceiptDeadline's, for unknown procedure codes
  // Offset gaps' (ProcessDecoded): one line per interval, as a publisher writing in Kafka
  // transactions leaves a gap at each of its commits.
  LogRateLimit gap_log_{.burst = 1};
  std::array<LogRateLimit, kNoDeadlineReasonCount> no_deadline_logs_{};  // and per other reason

  // The batch being built.
  //
  // Timer writes: each dirty entry's difference (DirtyEntry), counted here as it changes
  // (the commit's memory estimate), and the stray timers found (DeleteStrayTimer).
  size_t timer_writes_ = 0;
  std::vector<Timer> stray_timers_;
  // The timer FireDue just fired, while the change it made runs (EndChange): ChangeTimer sets
  // `seen` when that change puts the same timer into the head again.
  struct RefireWatch {
    const Entry* entry = nullptr;
    PartitionId partition{0};
    Instant due{};
    TimerKind kind = TimerKind::kBreach;
    bool seen = false;
  };
  RefireWatch refire_watch_;
  Timer fired_;  // the timer FireDue fires (its id's buffer reused from timer to timer)
  // An outbox record of a commit: an encoded message (a dead letter), or an alert, encoded
  // where the batch is built (BuildBatch: the state-writer thread with async_commit, where the
  // encoding's reads of the alert's strings do not hold the pipeline thread up).
  using OutboxEntry = std::variant<std::string, AlertIntent>;
  // What one commit writes: gathered by Commit on the Pipeline's thread (the dossiers encoded,
  // as their states change again right after), then sorted and put into a StateBatch by
  // BuildBatch, on the writer thread with async_commit. Reused from commit to commit; with
  // async_commit it belongs to the writer from Submit until AwaitWrite.
  struct CommitJob {
    state::EncodedDossiers dossiers;
    // With async_commit, the entries whose states the writer encodes into `dossiers` first.
    std::vector<Entry*> to_encode;
    state::EncodedTimerChanges timers;  // puts and deletes
    std::vector<std::pair<AggregateKey, AggregateCounters>> aggregates;
    std::vector<std::pair<TopicPartition, Offset>> offsets;
    std::vector<std::pair<TopicPartition, state::SourceCheck>> source_checks;
    std::vector<std::pair<PartitionId, Instant>> watermarks;
    std::vector<OutboxEntry> outbox;
    // With an alert sink: the commit's alert lines, built by BuildBatch (the buffer reused).
    std::string alert_lines;
    // Changelog markers recorded in the store with this commit, and whether the commit's
    // dossiers and markers are written to the changelog first (not a restore's).
    std::vector<std::pair<PartitionId, std::string>> markers;
    bool to_changelog = false;
    GroupMetadata group;  // the generation the commit's events were consumed in (fencing)
  };
  // The markers of a commit to the changelog: one per partition the commit changes.
  void AddChangelogMarkers(CommitJob& job);
  // SyncWithChangelog's work.
  Result<ChangelogSync> SyncPartition(const TopicPartition& tp, Instant wall_now);
  bool restoring_ = false;  // commits of SyncWithChangelog: not written to the changelog
  std::vector<std::pair<PartitionId, std::string>> local_markers_;  // for the next commit
  uint64_t changelog_sequence_ = 0;
  // Errors: the alert sink's (nothing is written).
  static Result<state::StateBatch> BuildBatch(state::StateStore& store, CommitJob& job,
                                              CommitAlertSink* alert_sink);
  CommitJob job_;
  // The states of the write in flight that the pipeline encoded (SettleEncode), added to
  // job_.dossiers by the writer once it has been through job_.to_encode. Guarded by claim_mu_
  // while a write is in flight.
  std::mutex claim_mu_;
  state::EncodedDossiers claimed_;
  // On the writer thread, before BuildBatch: encodes job.to_encode's states not claimed by the
  // pipeline, then adds the pipeline's claimed_ ones.
  void EncodeOnWriter(CommitJob& job);
  std::vector<OutboxEntry> outbox_;
  size_t outbox_bytes_ = 0;  // estimated for the alerts (their encoded size less a few bytes)
  // The state before the change in progress (BeginChange), reused from change to change.
  struct ChangeBase {
    bool existed = false;
    PartitionId partition{0};
    aggregate::AggregateTable::Footprint footprint;
    rules::TimerSlots timers;
  };
  ChangeBase change_base_;
  std::vector<AlertIntent> alerts_;  // raised by the change in progress (reused)
  // Per source partition of the records applied since the last commit: the next offset, and
  // the chained hash of the records before it (nullopt: unknown, as its stored offset has no
  // check that describes it; then none is stored).
  struct BatchPosition {
    Offset next;
    std::optional<uint64_t> chain;
  };
  std::map<TopicPartition, BatchPosition> batch_offsets_;
  // Partitions of the poll batch's records (ProcessDecoded, over all of its parts): with the
  // wall clock, their due timers fire once the batch is applied.
  std::vector<PartitionId> touched_;
  // ProcessDecoded's hashes of the records when the caller gives none (HashDecoded).
  std::vector<EventHashes> own_hashes_;
  // Whether a partition's watermark moved since the last commit (PartitionClock::moved).
  [[nodiscard]] bool AnyWatermarkMoved() const;
  bool chains_refused_ = false;  // a source's chains differed from this Pipeline's (logged once)
  // ReportConflict's rate limits, per rules::EventConflict.
  std::array<LogRateLimit, rules::kEventConflictCount> conflict_logs_{};
  Status fatal_;
};

}  // namespace iocstream::app
