#include "iocstream/aggregate/kpi.h"

#include <algorithm>

namespace iocstream::aggregate {

Kpis ComputeKpis(const AggregateCounters& c) {
  using F = AggregateField;
  Kpis k;
  k.received = c[F::kReceived];
  k.waiting_applicant_late = c[F::kWaitingApplicantLate];
  const int64_t waiting_on_time = c[F::kWaitingApplicantOnTime] + c[F::kWaitingApplicantNoDeadline];
  k.waiting_applicant = waiting_on_time + k.waiting_applicant_late;
  k.completed_on_time =
      c[F::kCompletedEarly] + c[F::kCompletedOnTime] + c[F::kCompletedNoDeadline] + waiting_on_time;
  k.completed_late = c[F::kCompletedLate] + k.waiting_applicant_late;
  k.completed = k.completed_on_time + k.completed_late;
  k.open = c[F::kOpen];
  k.open_overdue = c[F::kOpenOverdue];
  k.open_due_soon = c[F::kOpenDueSoon];
  k.cancelled = c[F::kCancelled];
  k.finished_without_receipt = c[F::kFinishedWithoutReceipt];
  ComputeKpiRates(k);
  return k;
}

Kpis& Kpis::operator+=(const Kpis& other) {
  received += other.received;
  completed += other.completed;
  completed_on_time += other.completed_on_time;
  completed_late += other.completed_late;
  waiting_applicant += other.waiting_applicant;
  waiting_applicant_late += other.waiting_applicant_late;
  open += other.open;
  open_overdue += other.open_overdue;
  open_due_soon += other.open_due_soon;
  cancelled += other.cancelled;
  finished_without_receipt += other.finished_without_receipt;
  return *this;
}

void ComputeKpiRates(Kpis& k) {
  k.on_time_rate.reset();
  k.completed_on_time_rate.reset();
  const int64_t judged = k.completed + k.open;
  if (judged > 0) {
    k.on_time_rate = static_cast<double>(k.completed_on_time + k.open - k.open_overdue) /
                     static_cast<double>(judged);
  }
  if (k.completed > 0) {
    k.completed_on_time_rate =
        static_cast<double>(k.completed_on_time) / static_cast<double>(k.completed);
  }
}

double ThresholdScore(double rate, double max_points, double threshold) {
  if (threshold <= 0) return max_points;
  return std::min(max_points, rate * max_points / threshold);
}

}  // namespace iocstream::aggregate
