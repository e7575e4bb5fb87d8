#include "iocstream/aggregate/aggregate_table.h"

#include "iocstream/aggregate/contribution.h"

namespace iocstream::aggregate {

void AggregateTable::Load(Rows rows) {
  std::lock_guard lock(mu_);
  rows_ = std::move(rows);
  dirty_.clear();
}

void AggregateTable::Apply(const DossierState* before, const DossierState& after) {
  std::lock_guard lock(mu_);
  if (before != nullptr) {
    AggregateKey key = KeyOf(*before);
    rows_[key] -= Contribution(*before);
    dirty_.insert(std::move(key));
  }
  AggregateKey key = KeyOf(after);
  rows_[key] += Contribution(after);
  dirty_.insert(std::move(key));
}

std::vector<std::pair<AggregateKey, AggregateCounters>> AggregateTable::TakeDirty() {
  std::lock_guard lock(mu_);
  std::vector<std::pair<AggregateKey, AggregateCounters>> out;
  out.reserve(dirty_.size());
  for (const auto& key : dirty_) {
    auto it = rows_.find(key);
    out.emplace_back(key, it->second);
    if (it->second.IsZero()) rows_.erase(it);
  }
  dirty_.clear();
  return out;
}

void AggregateTable::DropPartition(PartitionId partition) {
  std::lock_guard lock(mu_);
  std::erase_if(rows_, [&](const auto& row) { return row.first.partition == partition; });
  std::erase_if(dirty_, [&](const auto& key) { return key.partition == partition; });
}

void AggregateTable::LoadPartition(PartitionId partition, Rows rows) {
  std::lock_guard lock(mu_);
  std::erase_if(rows_, [&](const auto& row) { return row.first.partition == partition; });
  for (auto& [key, counters] : rows) {
    if (key.partition == partition) rows_[key] = counters;
  }
}

AggregateTable::Rows AggregateTable::Snapshot() const {
  std::lock_guard lock(mu_);
  return rows_;
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
