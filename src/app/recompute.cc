// Pipeline::Recompute: a calendar or procedure-catalog reload applied to the stored open
// dossiers. Kept apart from pipeline.cc; it goes through the Pipeline's batch (Update,
// Commit) so that timers (and each partition's timer head), aggregates and the dossier cache
// stay in step: what is pending is committed first, so the cache holds only clean copies
// equal to the store that the scan reads; changed dossiers then go through the cached entry.
#include <algorithm>
#include <chrono>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "app/pipeline.h"

namespace iocstream::app {
namespace {

// Counts the timer changes of one dossier into `summary`: a removed timer and an added one
// of the same kind are one moved timer.
void CountTimerChanges(const std::vector<Timer>& before, const std::vector<Timer>& after,
                       RecomputeSummary& summary) {
  std::vector<Timer> removed;
  std::vector<Timer> added;
  std::set_difference(before.begin(), before.end(), after.begin(), after.end(),
                      std::back_inserter(removed));
  std::set_difference(after.begin(), after.end(), before.begin(), before.end(),
                      std::back_inserter(added));
  for (const Timer& r : removed) {
    auto same_kind =
        std::find_if(added.begin(), added.end(), [&](const Timer& a) { return a.kind == r.kind; });
    if (same_kind != added.end()) {
      ++summary.timers_moved;
      added.erase(same_kind);
    } else {
      ++summary.timers_removed;
    }
  }
  summary.timers_added += added.size();
}

}  // namespace

Result<RecomputeSummary> Pipeline::Recompute(
    const rules::RulesContext& rules, Instant wall_now,
    std::optional<std::span<const PartitionId>> partitions) {
  if (!fatal_) return fatal_.error();
  // The scan reads the store: commit what is pending so the store is exact and every cached
  // dossier is a clean copy of it.
  if (HasPending()) {
    if (Status s = Flush(); !s) return s.error();
  }
  const auto started = std::chrono::steady_clock::now();
  std::set<PartitionId> only;
  if (partitions) only.insert(partitions->begin(), partitions->end());

  // The clock of a partition: the wall clock, or its watermark (memory, else the store).
  std::map<PartitionId, Instant> clocks;
  std::optional<Error> error;
  auto clock_of = [&](PartitionId p) -> std::optional<Instant> {
    if (options_.clock == TimerClock::kWallClock) return wall_now;
    if (auto it = clocks.find(p); it != clocks.end()) return it->second;
    std::optional<Instant> watermark = Watermark(p);
    if (!watermark) {
      auto stored = store_.GetWatermark(p);
      if (!stored) {
        error = stored.error();
        return std::nullopt;
      }
      watermark = *stored;
    }
    return clocks.emplace(p, watermark.value_or(Instant::min())).first->second;
  };

  // First the scan, which touches nothing: a failed read leaves the Pipeline as it was.
  RecomputeSummary summary;
  std::vector<std::pair<DossierState, DossierState>> changed;  // (stored, recomputed)
  Status scan = store_.ForEachDossier([&](const DossierState& d) {
    ++summary.dossiers_scanned;
    if (partitions && only.count(d.partition) == 0) return true;
    if (!rules::IsOpen(d)) return true;
    ++summary.open_dossiers;
    const std::optional<Instant> clock = clock_of(d.partition);
    if (!clock) return false;
    DossierState next = rules::RecomputeDeadline(d, rules, *clock);
    if (next == d) return true;
    if (next.due_at != d.due_at) ++summary.due_changed;
    CountTimerChanges(rules::DesiredTimers(d), rules::DesiredTimers(next), summary);
    changed.emplace_back(d, std::move(next));
    return true;
  });
  if (error) return *error;
  if (!scan) return scan.error();

  // Then one batch, through the same path as events: timers, aggregates, next due times.
  summary.dossiers_changed = changed.size();
  for (auto& [stored, next] : changed) {
    const std::string id = stored.dossier_id;
    Entry* entry = Cache(id, std::move(stored));  // the cached copy when there is one
    Update(*entry, std::move(next));
  }
  changed.clear();
  if (Status s = Flush(); !s) return s.error();
  rules_ = rules;
  summary.duration = std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - started);
  return summary;
}

}  // namespace iocstream::app
