// What one dossier contributes to the aggregate counters, and that it counts in exactly one
// class (finished, cancelled, open, or under kpi766 waiting on the applicant).
#include "iocstream/aggregate/contribution.h"

#include <gtest/gtest.h>

#include "iocstream/decode/rfc3339.h"

namespace iocstream::aggregate {
namespace {

using F = AggregateField;

Instant T(const char* rfc3339) { return *ParseRfc3339(rfc3339); }

// The classes a dossier counts in: exactly one of them is 1 for a received or finished one.
int64_t Classes(const AggregateCounters& c) {
  return c[F::kCompletedEarly] + c[F::kCompletedOnTime] + c[F::kCompletedLate] +
         c[F::kCompletedNoDeadline] + c[F::kCancelled] + c[F::kOpen] +
         c[F::kWaitingApplicantOnTime] + c[F::kWaitingApplicantLate] +
         c[F::kWaitingApplicantNoDeadline];
}

// Received Mon 2 Mar 2026 09:00, due Mon 9 Mar 09:00; a supplement requested at `requested`
// and not received yet, under the kpi766 policy (the flag the rules set).
DossierState WaitingOnTheApplicant(const char* requested) {
  DossierState s;
  s.dossier_id = "D1";
  s.received_at = T("2026-03-02T09:00:00+07:00");
  s.due_at = T("2026-03-09T09:00:00+07:00");
  s.original_due_at = s.due_at;
  s.status = DossierStatus::kWaitingSupplement;
  s.event_status = DossierStatus::kWaitingSupplement;
  s.paused_since = T(requested);
  s.supplement_requests = 1;
  s.kpi766_finished_at_request = true;
  return s;
}

// Decision 766 (domain.md §1.3 interpretation 3): a record still waiting on the applicant
// counts as finished at the request time, on time when the request was not after the deadline.
TEST(ContributionTest, Kpi766WaitingOnTheApplicantCountsFinishedOnTimeAtTheRequest) {
  const AggregateCounters c = Contribution(WaitingOnTheApplicant("2026-03-04T10:00:00+07:00"));
  EXPECT_EQ(c[F::kReceived], 1);
  EXPECT_EQ(c[F::kWaitingApplicantOnTime], 1);
  EXPECT_EQ(c[F::kOpen], 0);
  EXPECT_EQ(c[F::kOpenOverdue] + c[F::kOpenDueSoon] + c[F::kOpenNoDeadline], 0);
  EXPECT_EQ(c[F::kSupplementRequests], 1);
  EXPECT_EQ(Classes(c), 1);
  // At the due instant itself the request is still in time (§1.5: in deadline while now <= due).
  EXPECT_EQ(
      Contribution(WaitingOnTheApplicant("2026-03-09T09:00:00+07:00"))[F::kWaitingApplicantOnTime],
      1);
}

TEST(ContributionTest, Kpi766RequestAfterTheDeadlineCountsLate) {
  DossierState s = WaitingOnTheApplicant("2026-03-09T09:00:00.001+07:00");
  s.breach_fired = true;  // its breach fired before the request
  const AggregateCounters c = Contribution(s);
  EXPECT_EQ(c[F::kWaitingApplicantLate], 1);
  EXPECT_EQ(c[F::kOpenOverdue], 0);  // not open: counted finished, once
  EXPECT_EQ(Classes(c), 1);
}

// §1.3: more than one supplement request counts as overdue, also while waiting on the second.
TEST(ContributionTest, Kpi766SecondRequestCountsLateWhileWaiting) {
  DossierState s = WaitingOnTheApplicant("2026-03-05T09:00:00+07:00");
  s.supplement_requests = 2;
  s.overdue_by_supplements = true;
  const AggregateCounters c = Contribution(s);
  EXPECT_EQ(c[F::kWaitingApplicantLate], 1);
  EXPECT_EQ(c[F::kSupplementRequests], 2);
  EXPECT_EQ(Classes(c), 1);
}

TEST(ContributionTest, Kpi766WaitingWithoutADeadlineCountsFinishedWithoutOne) {
  DossierState s = WaitingOnTheApplicant("2026-03-04T10:00:00+07:00");
  s.due_at.reset();
  s.original_due_at.reset();
  const AggregateCounters c = Contribution(s);
  EXPECT_EQ(c[F::kWaitingApplicantNoDeadline], 1);
  EXPECT_EQ(Classes(c), 1);
}

// The same wait under the pause or restart policy (the flag unset): open, its clock paused.
TEST(ContributionTest, WaitingUnderOtherPoliciesStaysOpen) {
  DossierState s = WaitingOnTheApplicant("2026-03-04T10:00:00+07:00");
  s.kpi766_finished_at_request = false;
  const AggregateCounters c = Contribution(s);
  EXPECT_EQ(c[F::kOpen], 1);
  EXPECT_EQ(c[F::kWaitingApplicantOnTime] + c[F::kWaitingApplicantLate] +
                c[F::kWaitingApplicantNoDeadline],
            0);
  EXPECT_EQ(Classes(c), 1);
}

}  // namespace
}  // namespace iocstream::aggregate
