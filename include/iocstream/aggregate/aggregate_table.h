// AggregateTable: the live counters per (partition, agency, commune, channel), kept in memory
// and persisted in the state store's aggregates column family with every batch.
//
// Thread-safety: one writer (the pipeline thread) calls Apply/Take*/Drop*; any thread may call
// Snapshot(), which copies under a mutex (the table holds at most departments × communes ×
// channels × partitions rows, a few thousand), so readers (metrics, HTTP) never block ingest
// for longer than that copy.
#pragma once

#include <boost/unordered/unordered_flat_map.hpp>
#include <map>
#include <mutex>
#include <string_view>
#include <vector>

#include "iocstream/aggregate/contribution.h"
#include "iocstream/core/aggregate_types.h"
#include "iocstream/core/dossier_state.h"

namespace iocstream::aggregate {

class AggregateTable {
 public:
  // Ordered rows, as views and the state store read them.
  using Rows = std::map<AggregateKey, AggregateCounters>;

  // Replaces the rows (restore from the state store).
  void Load(Rows rows);

  // A row's key with the state's interned codes: copied, hashed and compared as pointers
  // (rows are found on every counted change; AggregateKey, with strings, is what the table
  // takes and gives out).
  struct RowKey {
    PartitionId partition{0};
    Code agency_code;
    Code commune_code;
    Channel channel = Channel::kUnknown;
    bool operator==(const RowKey&) const = default;
  };

  // What a dossier counts for: its row's key and its contribution. Taken before its state is
  // changed (TakeFootprint), then given to Apply with the changed state.
  struct Footprint {
    RowKey key;
    ContributionBits contribution;
  };
  static void TakeFootprint(const DossierState& state, Footprint& out);

  // Applies the change of one dossier from `before` (its footprint; nullptr: new dossier) to
  // `after`: one hash lookup when the dossier stays under the same key (the usual case), none
  // when its contribution did not change (a 12-byte comparison), and then only the fields
  // that changed are added to.
  void Apply(const Footprint* before, const DossierState& after);

  // Keys changed since the last call, in no order, with their current values (zero rows included,
  // so the store deletes them). The caller writes them into the same batch as the dossiers.
  [[nodiscard]] std::vector<std::pair<AggregateKey, AggregateCounters>> TakeDirty();

  // Forgets the rows of a revoked partition (its counts move to the instance that gets it).
  void DropPartition(PartitionId partition);

  // Replaces the rows of one partition (restore of a newly assigned partition).
  void LoadPartition(PartitionId partition, Rows rows);

  [[nodiscard]] Rows Snapshot() const;

  // Sums the rows per key with the partition folded away (what metrics and the API show).
  [[nodiscard]] static Rows FoldPartitions(const Rows& rows);

 private:
  static RowKey KeyOf(const AggregateKey& key);
  static RowKey KeyOf(const DossierState& state);
  static AggregateKey ToAggregateKey(const RowKey& key);
  struct RowKeyHash {
    size_t operator()(const RowKey& key) const noexcept;
  };
  struct Row {
    AggregateCounters counters;
    bool dirty = false;  // listed in dirty_
  };
  using Table = boost::unordered_flat_map<RowKey, Row, RowKeyHash>;

  // The row of `key`, created when missing; listed as dirty.
  Row& DirtyRow(const RowKey& key);

  mutable std::mutex mu_;
  Table rows_;  // hashed: Apply runs once per state change, on the hot path
  // Keys of the rows changed since the last TakeDirty (keys, not pointers: an open-addressing
  // table moves its rows when it grows). Rows are erased only by TakeDirty, which empties
  // this, by DropPartition and LoadPartition, which remove their keys from it, and by Load,
  // which empties it.
  std::vector<RowKey> dirty_;
};

}  // namespace iocstream::aggregate
