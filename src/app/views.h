// JSON and table views of the state, shared by the HTTP API, `export` and the summaries.
// Pure functions over values: thread-safe.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "app/pipeline.h"
#include "iocstream/aggregate/aggregate_table.h"
#include "iocstream/aggregate/kpi.h"
#include "iocstream/core/dossier_state.h"
#include "iocstream/rules/business_calendar.h"

namespace iocstream::app {

// The days off that a dossier's counted period skips, for "explain a deadline": the local
// dates from the receipt's to the (effective) due time's, both included, on the calendar in
// force now (derived at view time, not stored).
struct DaysOffSkipped {
  // A run of consecutive listed days off with the same name and kind, e.g. "Tết Âm lịch Bính
  // Ngọ" 2026-02-16..2026-02-20. The name is the calendar entry's reason up to its first ','
  // or '(' (the kind's name when that is empty).
  struct Named {
    std::string name;
    rules::SpecialDayKind kind = rules::SpecialDayKind::kPublicHoliday;
    std::chrono::year_month_day first;
    std::chrono::year_month_day last;
  };
  int64_t count = 0;         // weekly days off, holidays, compensatory and swapped days off
  std::vector<Named> named;  // the listed ones among them (holidays on a weekend included)
};

// nullopt when the dossier has no receipt or no due time.
[[nodiscard]] std::optional<DaysOffSkipped> DaysOffSkippedOf(
    const DossierState& s, const rules::BusinessCalendar& calendar);

// "Tết Âm lịch Bính Ngọ 2026-02-16..2026-02-20; Quốc khánh 2026-09-02" (single days without
// the range), "" for none.
[[nodiscard]] std::string FormatNamedDaysOff(const std::vector<DaysOffSkipped::Named>& named);

// The instants dossiers' open state is judged at, as their timers are (timers.clock): the
// `now` given (the wall clock, or `export --as-of`), or with the watermark clock each
// partition's stored watermark (Instant::min() before it has one; read once per partition).
// Used by the HTTP API (one per request) and `export`, so that "overdue now" and "held until"
// agree with the breach the timers fired. Not thread-safe; `store` must outlive it.
class DossierClocks {
 public:
  DossierClocks(const state::StateStore& store, bool watermark_clock, Instant now)
      : store_(store), watermark_clock_(watermark_clock), now_(now) {}

  [[nodiscard]] Instant now() const { return now_; }

  [[nodiscard]] Instant For(const DossierState& d);

 private:
  const state::StateStore& store_;
  bool watermark_clock_;
  Instant now_;
  std::map<PartitionId, Instant> watermarks_;
};

// One dossier, with how its due time was derived (source, original due, pauses, restarts)
// and, given the calendar, the days off its period skips.
[[nodiscard]] nlohmann::ordered_json DossierJson(const DossierState& s, Instant as_of,
                                                 const rules::BusinessCalendar* calendar);

// The partitions' numbers in increasing order, `separator` between them ("" for none): "0,3"
// for a peer request's query, "0, 1, 2" for the log.
[[nodiscard]] std::string JoinPartitions(const std::set<PartitionId>& partitions,
                                         std::string_view separator);

// Counters folded per department (agency), summed over communes and channels.
[[nodiscard]] std::map<std::string, AggregateCounters> PerDepartment(
    const aggregate::AggregateTable::Rows& rows);

[[nodiscard]] nlohmann::ordered_json KpisJson(const aggregate::Kpis& k);
// The counts of a KpisJson (its rates are not read: ComputeKpiRates computes them again);
// nullopt unless every count is there as a whole number from 0 to kMaxKpiCount (another
// instance's answer: the sum of 9,000 such counts still fits an int64).
inline constexpr uint64_t kMaxKpiCount = 1'000'000'000'000'000;  // 10^15
[[nodiscard]] std::optional<aggregate::Kpis> KpisFromJson(const nlohmann::ordered_json& j);

// {"dossiers_scanned":..,"open_dossiers":..,"dossiers_changed":..,"due_changed":..,
//  "timers_moved":..,"timers_added":..,"timers_removed":..,"duration_ms":..}
[[nodiscard]] nlohmann::ordered_json RecomputeSummaryJson(const RecomputeSummary& summary);

// A fixed-width per-department table. Each counted dossier is in exactly one of finished,
// open, cancelled and no_receipt, so their sum is the dossiers counted (those received, and
// ended ones whose receipt never came; received: the clock started):
//   finished = on_time + late + no_due: finished with a due time on time (early included) or
//     late, or without a due time; under the kpi766 policy those waiting on the applicant
//     count here, judged at the request (Decision 766, domain.md §1.3);
//   open: received, not finished; of which overdue (past due, or kpi766's second supplement
//     request) and open_no_due (no due time) are parts, not further dossiers;
//   cancelled: withdrawn, refused or rejected without a completion;
//   no_receipt: finished without their receipt seen (Outcome::kNoReceipt), judged neither on
//     time nor late;
//   on_time%: on_time ÷ (on_time + late), finished dossiers with a due time only.
// The department column is as wide as the longest name, at least kDepartmentColumn and at most
// kMaxDepartmentColumn characters (UTF-8 code points). The event contract's codes are at most
// 64 bytes, so no name is cut: two long names with the same start were shown alike (a
// helper's finding); a longer one would end in an ellipsis.
[[nodiscard]] std::string SummaryTable(const aggregate::AggregateTable::Rows& rows);
inline constexpr size_t kDepartmentColumn = 40;
inline constexpr size_t kMaxDepartmentColumn = 64;

// `text` cut or padded with spaces to `width` UTF-8 characters (code points, never a byte of
// one); a cut text ends with an ellipsis (U+2026). Display widths are not measured (one
// column per code point, as for precomposed Vietnamese).
[[nodiscard]] std::string FitColumn(std::string_view text, size_t width);

}  // namespace iocstream::app
