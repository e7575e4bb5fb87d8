#include "iocstream/aggregate/aggregate_table.h"

#include <algorithm>
#include <functional>
#include <string>

#include "iocstream/aggregate/contribution.h"

namespace iocstream::aggregate {

size_t AggregateTable::KeyHash::operator()(const AggregateKey& key) const noexcept {
  size_t h = std::hash<std::string>{}(key.agency_code);
  h = h * 31 + std::hash<std::string>{}(key.commune_code);
  h = h * 31 + static_cast<size_t>(key.channel);
  return h * 31 + static_cast<size_t>(key.partition.value());
}

void AggregateTable::Load(Rows rows) {
  std::lock_guard lock(mu_);
  rows_.clear();
  for (auto& [key, counters] : rows) rows_.emplace(key, counters);
  dirty_.clear();
}

void AggregateTable::Apply(const DossierState* before, const DossierState& after) {
  AggregateCounters delta = Contribution(after);
  // Most events move no counter of their row: decided before any key (and its strings) is
  // built or the lock taken.
  const bool same_row = before != nullptr && before->partition == after.partition &&
                        before->channel == after.channel &&
                        before->agency_code == after.agency_code &&
                        before->commune_code == after.commune_code;
  if (same_row) {
    delta -= Contribution(*before);
    if (delta.IsZero()) return;
  }
  AggregateKey key = KeyOf(after);
  std::lock_guard lock(mu_);
  if (same_row) {
    rows_[key] += delta;
    dirty_.insert(std::move(key));
    return;
  }
  if (before != nullptr) {  // the dossier moved to another row
    AggregateKey old_key = KeyOf(*before);
    rows_[old_key] -= Contribution(*before);
    dirty_.insert(std::move(old_key));
  }
  rows_[key] += delta;
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
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
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
  return Rows(rows_.begin(), rows_.end());
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
