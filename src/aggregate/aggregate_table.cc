#include "iocstream/aggregate/aggregate_table.h"

#include <algorithm>
#include <functional>
#include <string>

#include "iocstream/aggregate/contribution.h"

namespace iocstream::aggregate {

AggregateTable::KeyView AggregateTable::ViewOf(const AggregateKey& key) {
  return {key.partition, key.agency_code, key.commune_code, key.channel};
}

AggregateTable::KeyView AggregateTable::ViewOf(const DossierState& state) {
  return {state.partition, state.agency_code, state.commune_code, state.channel};
}

size_t AggregateTable::KeyHash::operator()(const KeyView& key) const noexcept {
  size_t h = std::hash<std::string_view>{}(key.agency_code);
  h = h * 31 + std::hash<std::string_view>{}(key.commune_code);
  h = h * 31 + static_cast<size_t>(key.channel);
  return h * 31 + static_cast<size_t>(key.partition.value());
}

void AggregateTable::Load(Rows rows) {
  std::lock_guard lock(mu_);
  rows_.clear();
  dirty_.clear();
  for (auto& [key, counters] : rows) rows_.emplace(key, Row{counters});
}

AggregateTable::Row& AggregateTable::DirtyRow(const KeyView& key) {
  auto it = rows_.find(key);
  if (it == rows_.end()) {
    AggregateKey owned{key.partition, std::string(key.agency_code), std::string(key.commune_code),
                       key.channel};
    it = rows_.emplace(std::move(owned), Row{}).first;
  }
  if (!it->second.dirty) {
    it->second.dirty = true;
    dirty_.push_back(&*it);
  }
  return it->second;
}

AggregateTable::KeyView AggregateTable::ViewOf(const Footprint& footprint) {
  return {footprint.partition, footprint.agency_code, footprint.commune_code, footprint.channel};
}

void AggregateTable::TakeFootprint(const DossierState& state, Footprint& out) {
  out.partition = state.partition;
  out.agency_code = state.agency_code;
  out.commune_code = state.commune_code;
  out.channel = state.channel;
  out.contribution = Contribution(state);
}

void AggregateTable::Apply(const Footprint* before, const DossierState& after) {
  AggregateCounters delta = Contribution(after);
  // Most events move no counter of their row: decided before any row is looked up or the
  // lock taken.
  // Codes are interned: the same row is the same codes (pointers), partition and channel.
  const bool same_row = before != nullptr && before->partition == after.partition &&
                        before->channel == after.channel &&
                        before->agency_code == after.agency_code &&
                        before->commune_code == after.commune_code;
  if (same_row) {
    delta -= before->contribution;
    if (delta.IsZero()) return;
  }
  std::lock_guard lock(mu_);
  if (!same_row && before != nullptr) {  // the dossier moved to another row
    DirtyRow(ViewOf(*before)).counters -= before->contribution;
  }
  DirtyRow(ViewOf(after)).counters += delta;
}

std::vector<std::pair<AggregateKey, AggregateCounters>> AggregateTable::TakeDirty() {
  std::lock_guard lock(mu_);
  std::vector<std::pair<AggregateKey, AggregateCounters>> out;
  out.reserve(dirty_.size());
  for (Table::value_type* row : dirty_) {
    out.emplace_back(row->first, row->second.counters);
    row->second.dirty = false;
  }
  // Zero rows are written (the store deletes them) and forgotten.
  for (Table::value_type* row : dirty_) {
    if (row->second.counters.IsZero()) rows_.erase(rows_.find(row->first));
  }
  dirty_.clear();
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

void AggregateTable::DropPartition(PartitionId partition) {
  std::lock_guard lock(mu_);
  std::erase_if(dirty_,
                [&](const Table::value_type* row) { return row->first.partition == partition; });
  std::erase_if(rows_, [&](const auto& row) { return row.first.partition == partition; });
}

void AggregateTable::LoadPartition(PartitionId partition, Rows rows) {
  std::lock_guard lock(mu_);
  std::erase_if(dirty_,
                [&](const Table::value_type* row) { return row->first.partition == partition; });
  std::erase_if(rows_, [&](const auto& row) { return row.first.partition == partition; });
  for (auto& [key, counters] : rows) {
    if (key.partition == partition) rows_[key].counters = counters;
  }
}

AggregateTable::Rows AggregateTable::Snapshot() const {
  std::lock_guard lock(mu_);
  Rows out;
  for (const auto& [key, row] : rows_) out.emplace(key, row.counters);
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
