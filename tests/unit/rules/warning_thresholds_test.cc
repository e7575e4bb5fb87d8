// The two "due soon" thresholds (SlaPolicy): the share of the legal working time elapsed and
// "less than N working hours left", on the shipped 2025 + 2026 calendar. Expected instants are
// worked by hand (sessions 07:00-11:30 and 13:30-17:00, 8 working hours a day).
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>

#include "iocstream/aggregate/contribution.h"
#include "iocstream/rules/dossier_state_machine.h"
#include "unit/rules/test_support.h"

namespace iocstream::rules {
namespace {

using testing::FormatLocal;
using testing::Local;
using testing::ShippedCalendar;

class WarningThresholdsTest : public ::testing::Test {
 protected:
  void SetUp() override { ctx_.calendar = &ShippedCalendar(); }

  // A dossier received at `received` with the event's due time `due` (local times).
  DossierState Received(const char* received, const char* due) const {
    DossierEvent e;
    e.event_id = "D1/r";
    e.dossier_id = "D1";
    e.type = EventType::kReceived;
    e.occurred_at = Local(received);
    e.due_at = Local(due);
    e.agency_code = "SO-TP";
    return ApplyEvent(nullptr, e, PartitionId(0), ctx_).state;
  }

  static std::optional<Timer> TimerOf(const DossierState& s, TimerKind kind) {
    for (const Timer& t : DesiredTimers(s)) {
      if (t.kind == kind) return t;
    }
    return std::nullopt;
  }

  RulesContext ctx_;
};

std::string Show(const std::optional<Instant>& t) { return t ? FormatLocal(*t) : "none"; }

TEST_F(WarningThresholdsTest, EightHoursLeftBeforeAMondayDueIsTheFridayBefore) {
  // Mon 2 Mar 09:00 + 5 working days: 6 h on Monday, 8 h Tue-Fri, 2 h on Mon 9 Mar.
  ctx_.policy.warning_hours_left = std::chrono::hours(8);
  const DossierState s = Received("2026-03-02 09:00", "2026-03-09 09:00");
  // 8 working hours before Mon 09:00: 2 h of Monday morning, then 6 h back from Friday 17:00
  // (3.5 h of the afternoon, 2.5 h of the morning) → Friday 09:00.
  EXPECT_EQ(Show(s.hours_left_warning_at), "2026-03-06 09:00");
  // 75% of 40 h = 30 h after receipt: 6 + 8 + 8 + 8 → the end of Thursday.
  EXPECT_EQ(Show(s.warning_at), "2026-03-05 17:00");
  const auto timer = TimerOf(s, TimerKind::kHoursLeftWarning);
  ASSERT_TRUE(timer.has_value());
  EXPECT_EQ(timer->due, Local("2026-03-06 09:00"));
  EXPECT_TRUE(TimerOf(s, TimerKind::kWarning).has_value());
}

// Working durations were clamped at 100 years of working days: a due time more than ~140
// years after receipt got its warnings at receipt + that clamp (every due from 2166-02-10 on:
// the hours-left warning at 2166-02-03 09:00 for a 2026 receipt, a QA finding). Any due time
// the calendar supports gets both warnings before it, as far from it as for a near one.
TEST_F(WarningThresholdsTest, WarningsOfADueCenturiesAheadAreBeforeIt) {
  ctx_.policy.warning_hours_left = std::chrono::hours(8);
  const BusinessCalendar& calendar = ShippedCalendar();
  for (const char* due : {"2166-02-10 09:00", "2170-06-15 09:00", "2199-12-31 09:00"}) {
    SCOPED_TRACE(due);
    const DossierState s = Received("2026-03-02 09:00", due);
    ASSERT_TRUE(s.hours_left_warning_at.has_value());
    ASSERT_TRUE(s.warning_at.has_value());
    EXPECT_LT(*s.hours_left_warning_at, Local(due));
    EXPECT_EQ(calendar.WorkingTimeBetween(*s.hours_left_warning_at, Local(due)),
              std::chrono::hours(8));
    // 75% of the legal working time after receipt: a quarter of it left.
    const Millis legal = calendar.WorkingTimeBetween(Local("2026-03-02 09:00"), Local(due));
    const Millis left = calendar.WorkingTimeBetween(*s.warning_at, Local(due));
    EXPECT_LE(std::chrono::abs(left - legal / 4), Millis(1));
  }
}

TEST_F(WarningThresholdsTest, HoursLeftSkipsTet) {
  // Due Mon 23 Feb 2026 09:00, right after Tết (off Sat 14 - Sun 22 Feb): the working day
  // before it is Fri 13 Feb, ten calendar days earlier.
  ctx_.policy.warning_hours_left = std::chrono::hours(8);
  const DossierState s = Received("2026-02-09 09:00", "2026-02-23 09:00");
  EXPECT_EQ(Show(s.hours_left_warning_at), "2026-02-13 09:00");
  // Half a day left (4 h) before Mon 09:00: 2 h on Monday, 2 h back from Fri 13 Feb 17:00.
  ctx_.policy.warning_hours_left = std::chrono::hours(4);
  EXPECT_EQ(Show(Received("2026-02-09 09:00", "2026-02-23 09:00").hours_left_warning_at),
            "2026-02-13 15:00");
}

TEST_F(WarningThresholdsTest, HoursLeftAcrossTheNewYearSwap) {
  // Due Mon 5 Jan 2026 11:00. Thu 1 Jan (holiday) and Fri 2 Jan (swapped) are off; Sat 10 Jan
  // is a make-up working day but lies after the due time. 8 h before Mon 11:00: 4 h of Monday
  // morning, then 4 h back from Wed 31 Dec 17:00: 3.5 h of the afternoon and 30 min of the
  // morning → Wed 31 Dec 11:00.
  ctx_.policy.warning_hours_left = std::chrono::hours(8);
  const DossierState s = Received("2025-12-22 07:00", "2026-01-05 11:00");
  EXPECT_EQ(Show(s.hours_left_warning_at), "2025-12-31 11:00");
}

TEST_F(WarningThresholdsTest, ProcedureNotLongerThanTheThresholdGetsNoHoursLeftWarning) {
  ctx_.policy.warning_hours_left = std::chrono::hours(8);
  // 4 working hours (07:30-11:30): less than 8 h left from receipt on.
  DossierState s = Received("2026-03-02 07:30", "2026-03-02 13:30");
  EXPECT_FALSE(s.hours_left_warning_at.has_value());
  EXPECT_FALSE(TimerOf(s, TimerKind::kHoursLeftWarning).has_value());
  // Exactly 8 h: the threshold holds from receipt too.
  s = Received("2026-03-02 07:00", "2026-03-02 17:00");
  EXPECT_FALSE(s.hours_left_warning_at.has_value());
  // 8 h 30 min: warned 30 working minutes after receipt.
  s = Received("2026-03-02 07:00", "2026-03-03 07:30");
  EXPECT_EQ(Show(s.hours_left_warning_at), "2026-03-02 07:30");
}

TEST_F(WarningThresholdsTest, ZeroDisablesEachThreshold) {
  ctx_.policy.warning_hours_left = Millis(0);
  DossierState s = Received("2026-03-02 09:00", "2026-03-09 09:00");
  EXPECT_FALSE(s.hours_left_warning_at.has_value());
  EXPECT_TRUE(s.warning_at.has_value());
  ctx_.policy.warning_hours_left = std::chrono::hours(8);
  ctx_.policy.warning_fraction = 0;
  s = Received("2026-03-02 09:00", "2026-03-09 09:00");
  EXPECT_TRUE(s.hours_left_warning_at.has_value());
  EXPECT_FALSE(s.warning_at.has_value());
}

// Alert ids are published and recognised downstream: pinned to XXH3-64 of (id, kind byte,
// due epoch ms), the value the first release wrote (streamed; now hashed in one shot).
TEST(AlertIdTest, PinnedValue) {
  EXPECT_EQ(
      AlertId("H44.246-260105-0001", AlertKind::kDeadlineBreached, FromEpochMillis(1767225600000)),
      "a19e13002b7b5574");
}

TEST_F(WarningThresholdsTest, EachThresholdAlertsOnceWithItsOwnId) {
  ctx_.policy.warning_hours_left = std::chrono::hours(8);
  DossierState s = Received("2026-03-02 09:00", "2026-03-09 09:00");
  const Instant due = *s.due_at;

  const Timer fraction = *TimerOf(s, TimerKind::kWarning);
  TimerResult r = FireTimer(s, fraction, fraction.due, ctx_);
  ASSERT_TRUE(r.fired);
  ASSERT_EQ(r.alerts.size(), 1u);
  EXPECT_EQ(r.alerts[0].kind, AlertKind::kDeadlineWarning);
  EXPECT_EQ(r.alerts[0].alert_id, AlertId("D1", AlertKind::kDeadlineWarning, due));
  s = r.state;
  EXPECT_EQ(aggregate::Contribution(s)[AggregateField::kOpenDueSoon], 1);

  const Timer hours_left = *TimerOf(s, TimerKind::kHoursLeftWarning);
  r = FireTimer(s, hours_left, hours_left.due, ctx_);
  ASSERT_TRUE(r.fired);
  ASSERT_EQ(r.alerts.size(), 1u);
  EXPECT_EQ(r.alerts[0].kind, AlertKind::kDeadlineWarningHoursLeft);
  EXPECT_EQ(r.alerts[0].alert_id, AlertId("D1", AlertKind::kDeadlineWarningHoursLeft, due));
  EXPECT_NE(r.alerts[0].alert_id, AlertId("D1", AlertKind::kDeadlineWarning, due));
  EXPECT_EQ(r.alerts[0].due_at, due);
  s = r.state;
  EXPECT_TRUE(s.hours_left_warning_fired);
  EXPECT_EQ(aggregate::Contribution(s)[AggregateField::kOpenDueSoon], 1);

  // Once each: the timers are gone and a redelivered timer fires nothing.
  EXPECT_FALSE(TimerOf(s, TimerKind::kHoursLeftWarning).has_value());
  EXPECT_FALSE(TimerOf(s, TimerKind::kWarning).has_value());
  EXPECT_FALSE(FireTimer(s, hours_left, hours_left.due, ctx_).fired);
  EXPECT_TRUE(TimerOf(s, TimerKind::kBreach).has_value());
}

TEST_F(WarningThresholdsTest, HoursLeftAloneMakesTheDossierDueSoon) {
  ctx_.policy.warning_fraction = 0;
  ctx_.policy.warning_hours_left = std::chrono::hours(8);
  DossierState s = Received("2026-03-02 09:00", "2026-03-09 09:00");
  EXPECT_EQ(aggregate::Contribution(s)[AggregateField::kOpenDueSoon], 0);
  const Timer t = *TimerOf(s, TimerKind::kHoursLeftWarning);
  s = FireTimer(s, t, t.due, ctx_).state;
  EXPECT_EQ(aggregate::Contribution(s)[AggregateField::kOpenDueSoon], 1);
  // The breach still counts it overdue, not due soon.
  const Timer breach = *TimerOf(s, TimerKind::kBreach);
  s = FireTimer(s, breach, breach.due, ctx_).state;
  EXPECT_EQ(aggregate::Contribution(s)[AggregateField::kOpenDueSoon], 0);
  EXPECT_EQ(aggregate::Contribution(s)[AggregateField::kOpenOverdue], 1);
}

TEST_F(WarningThresholdsTest, FiredAfterTheDueTimeRaisesTheBreachInstead) {
  // A timer held back (late data), or a clock that jumped past both instants: after the due
  // time the breach alert says it all. The warning's flag stays unset (the dossier view shows
  // the flags as the alerts raised), and the breach, raised now, does not fire again.
  ctx_.policy.warning_hours_left = std::chrono::hours(8);
  for (const TimerKind kind : {TimerKind::kWarning, TimerKind::kHoursLeftWarning}) {
    const DossierState s = Received("2026-03-02 09:00", "2026-03-09 09:00");
    const Timer t = *TimerOf(s, kind);
    const TimerResult r = FireTimer(s, t, Local("2026-03-09 10:00"), ctx_);
    EXPECT_TRUE(r.fired);
    ASSERT_EQ(r.alerts.size(), 2u);
    EXPECT_EQ(r.alerts[0].kind, AlertKind::kDeadlineBreached);
    EXPECT_EQ(r.alerts[0].alert_id, AlertId("D1", AlertKind::kDeadlineBreached, *s.due_at));
    EXPECT_EQ(r.alerts[0].detected_at, Local("2026-03-09 10:00"));
    EXPECT_EQ(r.alerts[1].kind, AlertKind::kApologyMissing);
    EXPECT_TRUE(r.state.breach_fired);
    EXPECT_FALSE(r.state.warning_fired);
    EXPECT_FALSE(r.state.hours_left_warning_fired);
    EXPECT_EQ(aggregate::Contribution(r.state)[AggregateField::kOpenOverdue], 1);
    EXPECT_TRUE(DesiredTimers(r.state).empty());  // no warning, no second breach
    const Timer breach{PartitionId(0), *s.due_at + Millis(1), "D1", TimerKind::kBreach};
    EXPECT_FALSE(FireTimer(r.state, breach, Local("2026-03-09 10:00"), ctx_).fired);
  }
}

TEST_F(WarningThresholdsTest, FiredAtTheDueInstantStillWarns) {
  // At the due instant the dossier is still in deadline (domain.md §1.5): the warning is raised,
  // and the breach follows 1 ms later.
  ctx_.policy.warning_hours_left = std::chrono::hours(8);
  const DossierState s = Received("2026-03-02 09:00", "2026-03-09 09:00");
  const Timer t = *TimerOf(s, TimerKind::kHoursLeftWarning);
  const TimerResult r = FireTimer(s, t, *s.due_at, ctx_);
  ASSERT_EQ(r.alerts.size(), 1u);
  EXPECT_EQ(r.alerts[0].kind, AlertKind::kDeadlineWarningHoursLeft);
  EXPECT_TRUE(r.state.hours_left_warning_fired);
  EXPECT_FALSE(r.state.breach_fired);
  EXPECT_TRUE(TimerOf(r.state, TimerKind::kBreach).has_value());
}

TEST_F(WarningThresholdsTest, PauseMovesTheHoursLeftWarningWithTheDeadline) {
  ctx_.policy.warning_hours_left = std::chrono::hours(8);
  DossierState s = Received("2026-03-02 08:00", "2026-03-06 17:00");
  EXPECT_EQ(Show(s.hours_left_warning_at), "2026-03-05 17:00");
  DossierEvent req;
  req.event_id = "D1/s1";
  req.dossier_id = "D1";
  req.type = EventType::kSupplementRequested;
  req.occurred_at = Local("2026-03-03 08:00");
  s = ApplyEvent(&s, req, PartitionId(0), ctx_).state;
  EXPECT_FALSE(TimerOf(s, TimerKind::kHoursLeftWarning).has_value());  // paused: no timers
  DossierEvent got = req;
  got.event_id = "D1/s2";
  got.type = EventType::kSupplementReceived;
  got.occurred_at = Local("2026-03-04 08:00");
  s = ApplyEvent(&s, got, PartitionId(0), ctx_).state;
  // Paused one working day: due Mon 9 Mar 17:00; 8 h before it is the end of Friday.
  EXPECT_EQ(Show(s.due_at), "2026-03-09 17:00");
  EXPECT_EQ(Show(s.hours_left_warning_at), "2026-03-06 17:00");
}

}  // namespace
}  // namespace iocstream::rules
