#include "iocstream/aggregate/aggregate_table.h"

#include <functional>
#include <string>

namespace iocstream::aggregate {

AggregateTable::RowKey AggregateTable::KeyOf(const AggregateKey& key) {
  return {key.partition, Code(key.agency_code), Code(key.commune_code), key.channel};
}

AggregateTable::RowKey AggregateTable::KeyOf(const DossierState& state) {
  return {state.partition, state.agency_code, state.commune_code, state.channel};
}

AggregateKey AggregateTable::ToAggregateKey(const RowKey& key) {
  return {key.partition, key.agency_code.str(), key.commune_code.str(), key.channel};
}

size_t AggregateTable::RowKeyHash::operator()(const RowKey& key) const noexcept {
  size_t h = std::hash<Code>{}(key.agency_code);
  h = h * 31 + std::hash<Code>{}(key.commune_code);
  h = h * 31 + static_cast<size_t>(key.channel);
  h = h * 31 + static_cast<size_t>(key.partition.value());
  return h ^ (h >> 29);  // pointers' low bits are alike: fold the high ones in
}

void AggregateTable::Load(Rows rows) {
  std::lock_guard lock(mu_);
  rows_.clear();
  dirty_.clear();
  for (auto& [key, counters] : rows) rows_.emplace(KeyOf(key), Row{counters});
}

AggregateTable::Row& AggregateTable::DirtyRow(const RowKey& key) {
  Row& row = rows_.try_emplace(key).first->second;
  if (!row.dirty) {
    row.dirty = true;
    dirty_.push_back(key);
  }
  return row;
}

void AggregateTable::TakeFootprint(const DossierState& state, Footprint& out) {
  out.key = KeyOf(state);
  out.contribution = ContributionBitsOf(state);
}

void AggregateTable::Apply(const Footprint* before, const DossierState& after) {
  const ContributionBits now = ContributionBitsOf(after);
  const RowKey key = KeyOf(after);
  // Most events move no counter of their row: decided before any row is looked up or the
  // lock taken (the keys compare as pointers).
  if (before != nullptr && before->key == key) {
    if (before->contribution == now) return;
    std::lock_guard lock(mu_);
    ContributionBits::AddDifference(before->contribution, now, DirtyRow(key).counters);
    return;
  }
  std::lock_guard lock(mu_);
  if (before != nullptr) {  // the dossier moved to another row
    before->contribution.AddTo(DirtyRow(before->key).counters, -1);
  }
  now.AddTo(DirtyRow(key).counters, 1);
}

std::vector<std::pair<AggregateKey, AggregateCounters>> AggregateTable::TakeDirty() {
  std::lock_guard lock(mu_);
  std::vector<std::pair<AggregateKey, AggregateCounters>> out;
  out.reserve(dirty_.size());
  for (const RowKey& key : dirty_) {
    const auto row = rows_.find(key);
    out.emplace_back(ToAggregateKey(key), row->second.counters);
    // Zero rows are written (the store deletes them) and forgotten.
    if (row->second.counters.IsZero()) {
      rows_.erase(row);
    } else {
      row->second.dirty = false;
    }
  }
  dirty_.clear();
  // In the order the rows were first changed: the caller sorts them if it wants (the commit
  // does, on the state writer thread).
  return out;
}

void AggregateTable::DropPartition(PartitionId partition) {
  std::lock_guard lock(mu_);
  std::erase_if(dirty_, [&](const RowKey& key) { return key.partition == partition; });
  boost::unordered::erase_if(rows_,
                             [&](const auto& row) { return row.first.partition == partition; });
}

void AggregateTable::LoadPartition(PartitionId partition, Rows rows) {
  std::lock_guard lock(mu_);
  std::erase_if(dirty_, [&](const RowKey& key) { return key.partition == partition; });
  boost::unordered::erase_if(rows_,
                             [&](const auto& row) { return row.first.partition == partition; });
  for (auto& [key, counters] : rows) {
    if (key.partition == partition) rows_[KeyOf(key)].counters = counters;
  }
}

AggregateTable::Rows AggregateTable::Snapshot() const {
  std::lock_guard lock(mu_);
  Rows out;
  for (const auto& [key, row] : rows_) out.emplace(ToAggregateKey(key), row.counters);
  return out;
}

AggregateTable::Rows AggregateTable::FoldPartitions(const Rows& rows) {
  Rows out;
  for (const auto& [key, counters] : rows) {
    AggregateKey folded = key;
    folded.partition = PartitionId(0);
    out[folded] += counters;
  }
  return out;
}

}  // namespace iocstream::aggregate
