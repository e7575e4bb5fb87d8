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
// The probe counters may be read from any thread.
#pragma once

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "iocstream/aggregate/aggregate_table.h"
#include "iocstream/core/result.h"
#include "iocstream/core/source_record.h"
#include "iocstream/decode/event_decoder.h"
#include "iocstream/rules/dossier_state_machine.h"
#include "iocstream/state/state_store.h"

namespace iocstream::app {

enum class TimerClock { kWallClock, kWatermark };

struct PipelineOptions {
  TimerClock clock = TimerClock::kWallClock;
  Millis allowed_lateness{std::chrono::hours(1)};
  // File sources: dossiers are spread over this many state partitions by the Kafka
  // producer's murmur2 hash of the dossier id, as `import` publishes them, so a file replay
  // and a Kafka replay of the same events build the same state. 0: use the record's partition.
  int32_t hash_partitions = 0;
  size_t timer_scan_chunk = 4096;
};

// Counters of what happened to every consumed record (the probe of this component).
// consumed == applied + duplicates + dead_lettered always holds after each batch;
// late_applied is a subset of applied.
struct PipelineProbe {
  std::atomic<uint64_t> consumed{0};
  std::atomic<uint64_t> applied{0};
  std::atomic<uint64_t> late_applied{0};
  std::atomic<uint64_t> duplicates{0};
  std::atomic<uint64_t> dead_lettered{0};
  std::array<std::atomic<uint64_t>, 16> dead_lettered_by_reason{};
  std::atomic<uint64_t> offset_gaps{0};  // offsets skipped within a partition (should be 0)
  std::atomic<uint64_t> timers_fired{0};
  std::array<std::atomic<uint64_t>, 8> alerts_by_kind{};
  std::atomic<uint64_t> batches{0};
  std::atomic<int64_t> max_event_time_ms{0};
};

// What one Pipeline::Recompute did.
struct RecomputeSummary {
  uint64_t dossiers_scanned = 0;  // dossiers read from the store
  uint64_t open_dossiers = 0;     // open dossiers of the partitions recomputed
  uint64_t dossiers_changed = 0;  // written back: deadline, warnings or fired flags changed
  uint64_t due_changed = 0;       // of which the due time moved
  uint64_t timers_moved = 0;      // timers put at another instant (same dossier and kind)
  uint64_t timers_added = 0;      // timers a dossier now needs and did not have
  uint64_t timers_removed = 0;    // timers a dossier no longer needs
  Millis duration{0};             // wall time of the scan, recompute and commit
};

class Pipeline {
 public:
  Pipeline(state::StateStore& store, aggregate::AggregateTable& aggregates,
           rules::RulesContext rules, PipelineOptions options, PipelineProbe& probe);

  // Loads the aggregates of every partition in the store (file replays, which own them all).
  // A consumer-group run loads partitions as they are assigned (OnAssigned) instead.
  [[nodiscard]] Status Restore();

  // Loads the aggregates of newly assigned partitions from the store, so that their counts
  // continue where this store left them (a rebalance never loses or doubles counts).
  [[nodiscard]] Status OnAssigned(std::span<const TopicPartition> partitions);

  // Processes `records` (in source order) and commits. `wall_now` drives wall-clock timers.
  // A failed commit is fatal for this Pipeline: its in-memory view may be ahead of the store;
  // the caller stops, and a restart resumes from the store.
  [[nodiscard]] Status ProcessBatch(std::span<const SourceRecord> records, Instant wall_now);

  // Fires the timers due at `now` on the given partitions and commits (wall-clock mode: call
  // periodically, also when no record arrives).
  [[nodiscard]] Status FireTimers(std::span<const PartitionId> partitions, Instant now);

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

  // Forgets in-memory state of revoked partitions (aggregates, watermarks, offsets).
  void OnRevoked(std::span<const TopicPartition> partitions);

  // The watermark of a partition (max event time - allowed lateness), nullopt before events.
  [[nodiscard]] std::optional<Instant> Watermark(PartitionId partition) const;

  // The state partition of a dossier for file sources (Kafka murmur2 partitioner).
  [[nodiscard]] static int32_t HashPartition(std::string_view dossier_id, int32_t partitions);

 private:
  struct Entry {
    std::optional<DossierState> current;
    bool dirty = false;
  };
  class BatchScope;

  Status Prefetch(std::span<const std::string_view> ids);
  Entry* Lookup(const std::string& dossier_id);
  void Update(Entry& entry, DossierState next);
  void QueueAlerts(const std::vector<AlertIntent>& alerts);
  Status FireDue(PartitionId partition, Instant up_to);
  void AdvanceWatermark(PartitionId partition, Instant event_time);
  Status Commit();

  state::StateStore& store_;
  aggregate::AggregateTable& aggregates_;
  rules::RulesContext rules_;
  PipelineOptions options_;
  PipelineProbe& probe_;
  EventDecoder decoder_;

  // Durable view, kept in step with the store.
  std::map<PartitionId, Instant> watermarks_;
  std::map<PartitionId, std::optional<Instant>> next_timer_due_;  // nullopt: no timers
  std::map<TopicPartition, Offset> next_offsets_;

  // The batch being built.
  std::unordered_map<std::string, Entry> entries_;
  std::map<Timer, bool> timer_changes_;  // true = put, false = delete
  std::vector<std::string> outbox_;
  std::map<TopicPartition, Offset> batch_offsets_;
  std::map<PartitionId, bool> watermark_moved_;
  Status fatal_;
};

}  // namespace iocstream::app
