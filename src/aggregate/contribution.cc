#include "iocstream/aggregate/contribution.h"

#include <bit>

namespace iocstream::aggregate {

AggregateKey KeyOf(const DossierState& s) {
  return AggregateKey{s.partition, s.agency_code.str(), s.commune_code.str(), s.channel};
}

ContributionBits ContributionBitsOf(const DossierState& s) {
  ContributionBits c;
  using F = AggregateField;
  const bool received = s.received_at.has_value();
  if (received) c.Set(F::kReceived);
  switch (s.outcome) {
    case Outcome::kOpen:
      if (received && s.kpi766_finished_at_request) {
        // Decision 766: finished at the request time, judged there (domain.md §1.3); more than
        // one request counts as overdue, as it does once the dossier finishes.
        if (!s.due_at) {
          c.Set(F::kWaitingApplicantNoDeadline);
        } else if (s.overdue_by_supplements || (s.paused_since && *s.paused_since > *s.due_at)) {
          c.Set(F::kWaitingApplicantLate);
        } else {
          c.Set(F::kWaitingApplicantOnTime);
        }
      } else if (received) {
        c.Set(F::kOpen);
        if (!s.due_at) {
          c.Set(F::kOpenNoDeadline);
        } else if (s.breach_fired || s.overdue_by_supplements) {
          c.Set(F::kOpenOverdue);
        } else if (s.warning_fired || s.hours_left_warning_fired) {
          c.Set(F::kOpenDueSoon);
        }
      }
      break;
    case Outcome::kEarly:
      c.Set(F::kCompletedEarly);
      break;
    case Outcome::kOnTime:
      c.Set(F::kCompletedOnTime);
      break;
    case Outcome::kLate:
      c.Set(F::kCompletedLate);
      break;
    case Outcome::kNoDeadline:
      c.Set(F::kCompletedNoDeadline);
      break;
    case Outcome::kCancelled:
      c.Set(F::kCancelled);
      break;
    case Outcome::kNoReceipt:
      c.Set(F::kFinishedWithoutReceipt);
      break;
  }
  c.supplement_requests = s.supplement_requests;
  c.step_breaches = s.step_breaches;
  return c;
}

void ContributionBits::AddTo(AggregateCounters& counters, int64_t sign) const {
  for (uint32_t bits = ones; bits != 0; bits &= bits - 1) {
    counters.values[static_cast<size_t>(std::countr_zero(bits))] += sign;
  }
  counters[AggregateField::kSupplementRequests] += sign * supplement_requests;
  counters[AggregateField::kStepBreaches] += sign * step_breaches;
}

void ContributionBits::AddDifference(const ContributionBits& before, const ContributionBits& after,
                                     AggregateCounters& counters) {
  for (uint32_t bits = before.ones ^ after.ones; bits != 0; bits &= bits - 1) {
    const int i = std::countr_zero(bits);
    counters.values[static_cast<size_t>(i)] += (after.ones >> i & 1U) != 0 ? 1 : -1;
  }
  counters[AggregateField::kSupplementRequests] +=
      int64_t{after.supplement_requests} - before.supplement_requests;
  counters[AggregateField::kStepBreaches] += int64_t{after.step_breaches} - before.step_breaches;
}

}  // namespace iocstream::aggregate
