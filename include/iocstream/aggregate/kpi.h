// KPI formulas over aggregate counters. Pure functions: thread-safe.
//
// Sources: Decision 766/QĐ-TTg (2022) indicator 2.1 "records processed early or on time",
// as transcribed in reference/domain.md §2.2: (finished on time + in-progress within the
// deadline) ÷ (records finished + in progress); on time ⇔ end ≤ due with supplement time
// subtracted (our due_at is already shifted by pauses). Withdrawn/refused/rejected records
// are outside both terms. A finished record without a due time cannot be late and counts as
// on time. Under the kpi766 pause policy a record still waiting on the applicant (a supplement
// requested, not yet received) counts as finished at the request time (domain.md §1.3
// interpretation 3): on time when the request (the clock stop) was not after the deadline,
// late after it or with more than one request; it is open again once the supplement arrives.
// Score: rate × max ÷ threshold, capped at max (domain.md §2.2).
#pragma once

#include <map>
#include <optional>
#include <string>

#include "iocstream/core/aggregate_types.h"

namespace iocstream::aggregate {

struct Kpis {
  int64_t received = 0;
  // Finished: early + on time + late + no deadline, and (kpi766) waiting on the applicant.
  int64_t completed = 0;
  // Early + on time + no deadline, and waiting on the applicant since a request made in time
  // (or without a deadline).
  int64_t completed_on_time = 0;
  int64_t completed_late = 0;  // late, and waiting on the applicant since a late request
  // Under the kpi766 policy: waiting on the applicant, counted in `completed` (Decision 766),
  // not in `open`; of which judged late (also counted in completed_late).
  int64_t waiting_applicant = 0;
  int64_t waiting_applicant_late = 0;
  int64_t open = 0;
  int64_t open_overdue = 0;
  int64_t open_due_soon = 0;
  int64_t cancelled = 0;
  // Finished without a receipt seen (its deadline unknown): in none of the counts above, nor
  // in the rates.
  int64_t finished_without_receipt = 0;
  // Decision 766 indicator 2.1, in [0, 1]; nullopt when there is nothing to judge.
  std::optional<double> on_time_rate;
  // Share of finished records counted on time, [0, 1]: early + on time + finished without a
  // due date (a procedure with no NgayHenTra cannot be late). The `replay`/`run` summary
  // table's on_time% instead judges only dossiers with a due date (the Boston ONTIME label's
  // population), so the two rates differ where no-deadline dossiers are many.
  std::optional<double> completed_on_time_rate;

  // Adds the counts of `other` (the rates are left as they were: ComputeKpiRates computes them
  // from the sums).
  Kpis& operator+=(const Kpis& other);
};

[[nodiscard]] Kpis ComputeKpis(const AggregateCounters& c);

// Sets k's two rates from its counts (ComputeKpis's last step): for counts summed over several
// sets of rows, e.g. the instances of a consumer group (the counts add up; the rates do not).
void ComputeKpiRates(Kpis& k);

// Indicator score: min(max_points, rate × max_points ÷ threshold).
[[nodiscard]] double ThresholdScore(double rate, double max_points, double threshold);

}  // namespace iocstream::aggregate
