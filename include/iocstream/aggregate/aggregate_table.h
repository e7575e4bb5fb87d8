// AggregateTable: the live counters per (partition, agency, commune, channel), kept in memory
// and persisted in the state store's aggregates column family with every batch.
//
// Thread-safety: one writer (the pipeline thread) calls Apply/Take*/Drop*; any thread may call
// Snapshot(), which copies under a mutex (the table holds at most departments × communes ×
// channels × partitions rows, a few thousand), so readers (metrics, HTTP) never block ingest
// for longer than that copy.
#pragma once

#include <map>
#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "iocstream/core/aggregate_types.h"
#include "iocstream/core/dossier_state.h"

namespace iocstream::aggregate {

class AggregateTable {
 public:
  // Ordered rows, as views and the state store read them.
  using Rows = std::map<AggregateKey, AggregateCounters>;

  // Replaces the rows (restore from the state store).
  void Load(Rows rows);

  // Applies the change of one dossier from `before` (nullptr: new dossier) to `after`: one
  // hash lookup when the dossier stays under the same key (the usual case), none when its
  // contribution did not change.
  void Apply(const DossierState* before, const DossierState& after);

  // Keys changed since the last call, with their current values (zero rows included, so the
  // store deletes them). The caller writes them into the same batch as the dossiers.
  [[nodiscard]] std::vector<std::pair<AggregateKey, AggregateCounters>> TakeDirty();

  // Forgets the rows of a revoked partition (its counts move to the instance that gets it).
  void DropPartition(PartitionId partition);

  // Replaces the rows of one partition (restore of a newly assigned partition).
  void LoadPartition(PartitionId partition, Rows rows);

  [[nodiscard]] Rows Snapshot() const;

  // Sums the rows per key with the partition folded away (what metrics and the API show).
  [[nodiscard]] static Rows FoldPartitions(const Rows& rows);

 private:
  struct KeyHash {
    size_t operator()(const AggregateKey& key) const noexcept;
  };
  using Table = std::unordered_map<AggregateKey, AggregateCounters, KeyHash>;

  mutable std::mutex mu_;
  Table rows_;  // hashed: Apply runs once per state change, on the hot path
  std::unordered_set<AggregateKey, KeyHash> dirty_;
};

}  // namespace iocstream::aggregate
