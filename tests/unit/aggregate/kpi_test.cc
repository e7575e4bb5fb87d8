// Decision 766 indicator 2.1 over aggregate counters (include/iocstream/aggregate/kpi.h).
#include "iocstream/aggregate/kpi.h"

#include <gtest/gtest.h>

namespace iocstream::aggregate {
namespace {

using F = AggregateField;

TEST(KpiTest, IndicatorCountsFinishedAndOpenRecords) {
  AggregateCounters c;
  c[F::kReceived] = 10;
  c[F::kCompletedEarly] = 2;
  c[F::kCompletedOnTime] = 3;
  c[F::kCompletedLate] = 1;
  c[F::kCompletedNoDeadline] = 1;
  c[F::kOpen] = 3;
  c[F::kOpenOverdue] = 1;
  c[F::kCancelled] = 2;
  const Kpis k = ComputeKpis(c);
  EXPECT_EQ(k.completed, 7);
  EXPECT_EQ(k.completed_on_time, 6);
  EXPECT_EQ(k.completed_late, 1);
  EXPECT_EQ(k.waiting_applicant, 0);
  EXPECT_EQ(k.open, 3);
  ASSERT_TRUE(k.on_time_rate.has_value());
  EXPECT_DOUBLE_EQ(*k.on_time_rate, (6.0 + 3 - 1) / (7 + 3));
  ASSERT_TRUE(k.completed_on_time_rate.has_value());
  EXPECT_DOUBLE_EQ(*k.completed_on_time_rate, 6.0 / 7);
}

// kpi766 (domain.md §1.3 interpretation 3): records waiting on the applicant count as finished
// at the request, on time or late, and not as open.
TEST(KpiTest, Kpi766WaitingOnTheApplicantCountsAsFinished) {
  AggregateCounters c;
  c[F::kReceived] = 8;
  c[F::kCompletedOnTime] = 2;
  c[F::kCompletedLate] = 1;
  c[F::kOpen] = 1;
  c[F::kWaitingApplicantOnTime] = 2;
  c[F::kWaitingApplicantLate] = 1;
  c[F::kWaitingApplicantNoDeadline] = 1;
  const Kpis k = ComputeKpis(c);
  EXPECT_EQ(k.waiting_applicant, 4);
  EXPECT_EQ(k.waiting_applicant_late, 1);
  EXPECT_EQ(k.completed, 3 + 4);
  EXPECT_EQ(k.completed_on_time, 2 + 2 + 1);  // the one without a deadline cannot be late
  EXPECT_EQ(k.completed_late, 1 + 1);
  EXPECT_EQ(k.open, 1);
  EXPECT_EQ(k.completed + k.open, c[F::kReceived]);  // each record once
  ASSERT_TRUE(k.on_time_rate.has_value());
  EXPECT_DOUBLE_EQ(*k.on_time_rate, (5.0 + 1) / 8);
  ASSERT_TRUE(k.completed_on_time_rate.has_value());
  EXPECT_DOUBLE_EQ(*k.completed_on_time_rate, 5.0 / 7);
}

TEST(KpiTest, NothingToJudgeHasNoRate) {
  const Kpis k = ComputeKpis(AggregateCounters{});
  EXPECT_FALSE(k.on_time_rate.has_value());
  EXPECT_FALSE(k.completed_on_time_rate.has_value());
}

}  // namespace
}  // namespace iocstream::aggregate
