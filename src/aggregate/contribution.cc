#include "iocstream/aggregate/contribution.h"

namespace iocstream::aggregate {

AggregateKey KeyOf(const DossierState& s) {
  return AggregateKey{s.partition, s.agency_code.str(), s.commune_code.str(), s.channel};
}

AggregateCounters Contribution(const DossierState& s) {
  AggregateCounters c;
  using F = AggregateField;
  const bool received = s.received_at.has_value();
  if (received) c[F::kReceived] = 1;
  switch (s.outcome) {
    case Outcome::kOpen:
      if (received && s.kpi766_finished_at_request) {
        // Decision 766: finished at the request time, judged there (domain.md §1.3); more than
        // one request counts as overdue, as it does once the dossier finishes.
        if (!s.due_at) {
          c[F::kWaitingApplicantNoDeadline] = 1;
        } else if (s.overdue_by_supplements || (s.paused_since && *s.paused_since > *s.due_at)) {
          c[F::kWaitingApplicantLate] = 1;
        } else {
          c[F::kWaitingApplicantOnTime] = 1;
        }
      } else if (received) {
        c[F::kOpen] = 1;
        if (!s.due_at) {
          c[F::kOpenNoDeadline] = 1;
        } else if (s.breach_fired || s.overdue_by_supplements) {
          c[F::kOpenOverdue] = 1;
        } else if (s.warning_fired || s.hours_left_warning_fired) {
          c[F::kOpenDueSoon] = 1;
        }
      }
      break;
    case Outcome::kEarly:
      c[F::kCompletedEarly] = 1;
      break;
    case Outcome::kOnTime:
      c[F::kCompletedOnTime] = 1;
      break;
    case Outcome::kLate:
      c[F::kCompletedLate] = 1;
      break;
    case Outcome::kNoDeadline:
      c[F::kCompletedNoDeadline] = 1;
      break;
    case Outcome::kCancelled:
      c[F::kCancelled] = 1;
      break;
  }
  c[F::kSupplementRequests] = s.supplement_requests;
  c[F::kStepBreaches] = s.step_breaches;
  return c;
}

}  // namespace iocstream::aggregate
