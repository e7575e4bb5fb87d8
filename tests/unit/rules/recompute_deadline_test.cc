// RecomputeDeadline: the deadlines of open dossiers after a calendar or catalog reload. The
// "new" calendar is the shipped one with one more day off, Wednesday 4 March 2026 (8 working
// hours); expected instants are worked by hand (sessions 07:00-11:30, 13:30-17:00).
#include <gtest/gtest.h>

#include <optional>

#include "iocstream/rules/dossier_state_machine.h"
#include "unit/rules/test_support.h"

namespace iocstream::rules {
namespace {

using testing::FormatLocal;
using testing::Local;
using testing::ShippedCalendar;

std::string Show(const std::optional<Instant>& t) { return t ? FormatLocal(*t) : "none"; }

const BusinessCalendar& CalendarWithAddedDayOff() {
  static const BusinessCalendar* calendar = [] {
    CalendarSpec spec = ShippedCalendar().spec();
    spec.special_days.push_back({std::chrono::year{2026} / 3 / 4, SpecialDayKind::kPublicHoliday,
                                 "Day off announced late"});
    auto created = BusinessCalendar::Create(std::move(spec));
    if (!created) std::abort();
    return new BusinessCalendar(std::move(*created));
  }();
  return *calendar;
}

class RecomputeDeadlineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ProcedureRule five_days;
    five_days.code = "1.000001";
    five_days.in_person = LegalDuration{5, DurationUnit::kWorkingDays};
    ProcedureRule restart = five_days;
    restart.code = "1.000002";
    restart.pause_policy = PausePolicy::kRestart;
    auto catalog = ProcedureCatalog::Create({five_days, restart});
    ASSERT_TRUE(catalog.has_value()) << catalog.error().message;
    catalog_ = std::move(*catalog);
    old_.calendar = &ShippedCalendar();
    old_.catalog = &catalog_;
    new_ = old_;
    new_.calendar = &CalendarWithAddedDayOff();
  }

  DossierEvent Event(const std::string& id, EventType type, const char* at) const {
    DossierEvent e;
    e.event_id = "D1/" + id;
    e.dossier_id = "D1";
    e.type = type;
    e.occurred_at = Local(at);
    e.agency_code = "SO-TP";
    e.channel = Channel::kInPerson;
    return e;
  }

  DossierState Apply(const std::vector<DossierEvent>& events) const {
    std::optional<DossierState> s;
    for (const auto& e : events) s = ApplyEvent(s ? &*s : nullptr, e, PartitionId(0), old_).state;
    return *s;
  }

  DossierEvent ReceivedFromCatalog(const char* at, const char* code = "1.000001") const {
    DossierEvent e = Event("r", EventType::kReceived, at);
    e.procedure_code = code;
    return e;
  }

  DossierEvent ReceivedWithDue(const char* at, const char* due) const {
    DossierEvent e = Event("r", EventType::kReceived, at);
    e.due_at = Local(due);
    return e;
  }

  static bool HasTimer(const DossierState& s, TimerKind kind) {
    for (const Timer& t : DesiredTimers(s)) {
      if (t.kind == kind) return true;
    }
    return false;
  }

  ProcedureCatalog catalog_;
  RulesContext old_;
  RulesContext new_;
  const Instant clock_ = Local("2026-03-02 10:00");
};

TEST_F(RecomputeDeadlineTest, CatalogDeadlineMovesByTheAddedDayOff) {
  const DossierState s = Apply({ReceivedFromCatalog("2026-03-02 09:00")});
  // 5 working days from Mon 09:00: 6 h Monday, 8 h Tue-Fri, 2 h the next Monday.
  EXPECT_EQ(Show(s.due_at), "2026-03-09 09:00");
  const DossierState r = RecomputeDeadline(s, new_, clock_);
  // Wednesday off: one working day later.
  EXPECT_EQ(Show(r.due_at), "2026-03-10 09:00");
  EXPECT_EQ(Show(r.original_due_at), "2026-03-10 09:00");
  EXPECT_EQ(r.legal_working_time, std::chrono::hours(40));
  // 75% (30 h): Mon 6, Tue 8, Thu 8, Fri 8 → Friday 17:00. 8 h left: Monday 09:00.
  EXPECT_EQ(Show(r.warning_at), "2026-03-06 17:00");
  EXPECT_EQ(Show(r.hours_left_warning_at), "2026-03-09 09:00");
  EXPECT_TRUE(r.applied_event_ids == s.applied_event_ids);
}

TEST_F(RecomputeDeadlineTest, EventDeadlineKeepsItsWorkingDuration) {
  DossierState s = Apply({ReceivedWithDue("2026-03-02 09:00", "2026-03-09 09:00")});
  EXPECT_EQ(s.legal_working_time, std::chrono::hours(40));
  EXPECT_EQ(Show(RecomputeDeadline(s, new_, clock_).due_at), "2026-03-10 09:00");
  EXPECT_EQ(RecomputeDeadline(s, new_, clock_).due_source, DueSource::kEvent);
  // A due time outside working hours (Saturday 10:00) stays as sent while the calendar does
  // not change its period...
  s = Apply({ReceivedWithDue("2026-03-02 09:00", "2026-03-07 10:00")});
  EXPECT_EQ(Show(RecomputeDeadline(s, old_, clock_).due_at), "2026-03-07 10:00");
  // ...and moves by the 8 working hours lost otherwise: from Monday 07:00 to Monday 17:00.
  EXPECT_EQ(Show(RecomputeDeadline(s, new_, clock_).due_at), "2026-03-09 17:00");
}

// A reload that is undone gives back the deadline the department sent, even one outside
// working hours (found by a user trial: the round trip used to leave it at Monday 17:00).
TEST_F(RecomputeDeadlineTest, UndoneChangeGivesBackTheSentDeadline) {
  const DossierState sent = Apply({ReceivedWithDue("2026-03-02 09:00", "2026-03-07 10:00")});
  const DossierState moved = RecomputeDeadline(sent, new_, clock_);
  EXPECT_EQ(Show(moved.due_at), "2026-03-09 17:00");
  EXPECT_EQ(Show(moved.original_due_at), "2026-03-07 10:00");  // as sent
  const DossierState back = RecomputeDeadline(moved, old_, clock_);
  EXPECT_EQ(Show(back.due_at), "2026-03-07 10:00");
  EXPECT_EQ(back, RecomputeDeadline(back, old_, clock_));
}

TEST_F(RecomputeDeadlineTest, RemovedDayOffBringsTheDeadlineForward) {
  // Received under the calendar with Wednesday off, recomputed on the shipped one.
  DossierEvent e = ReceivedWithDue("2026-03-02 09:00", "2026-03-10 09:00");
  const DossierState s = ApplyEvent(nullptr, e, PartitionId(0), new_).state;
  EXPECT_EQ(Show(RecomputeDeadline(s, old_, clock_).due_at), "2026-03-09 09:00");
}

TEST_F(RecomputeDeadlineTest, DayOffDuringAPauseDoesNotMoveTheDeadline) {
  // Due Fri 6 Mar 17:00; paused Tue 08:00 - Thu 08:00 (16 working hours) → Tue 10 Mar 17:00.
  const DossierState s = Apply({ReceivedWithDue("2026-03-02 08:00", "2026-03-06 17:00"),
                                Event("s1", EventType::kSupplementRequested, "2026-03-03 08:00"),
                                Event("s2", EventType::kSupplementReceived, "2026-03-05 08:00")});
  EXPECT_EQ(Show(s.due_at), "2026-03-10 17:00");
  ASSERT_EQ(s.pauses.size(), 1u);
  // The clock was stopped on the new day off anyway: the deadline before the pause moves a
  // day later (Mon 9 Mar 17:00), the pause counts 8 h less, the due time stays; the due time
  // the event sent is kept as sent.
  const DossierState r = RecomputeDeadline(s, new_, clock_);
  EXPECT_EQ(Show(r.original_due_at), "2026-03-06 17:00");
  EXPECT_EQ(Show(r.due_at), "2026-03-10 17:00");
}

TEST_F(RecomputeDeadlineTest, RestartPolicyRestartsFromTheSameResumption) {
  // Restart: 40 h again from Wed 08:00 → Wed 11 Mar 08:00; with Thu 5 Mar off → Thu 12 Mar.
  const DossierState s = Apply({ReceivedFromCatalog("2026-03-02 08:00", "1.000002"),
                                Event("s1", EventType::kSupplementRequested, "2026-03-03 08:00"),
                                Event("s2", EventType::kSupplementReceived, "2026-03-04 08:00")});
  EXPECT_EQ(Show(s.due_at), "2026-03-11 08:00");
  CalendarSpec spec = ShippedCalendar().spec();
  spec.special_days.push_back(
      {std::chrono::year{2026} / 3 / 5, SpecialDayKind::kPublicHoliday, "Thursday off"});
  auto thursday_off = BusinessCalendar::Create(std::move(spec));
  ASSERT_TRUE(thursday_off.has_value());
  RulesContext ctx = old_;
  ctx.calendar = &*thursday_off;
  EXPECT_EQ(Show(RecomputeDeadline(s, ctx, clock_).due_at), "2026-03-12 08:00");
}

TEST_F(RecomputeDeadlineTest, UnchangedRulesChangeNothing) {
  for (const PausePolicy policy :
       {PausePolicy::kPause, PausePolicy::kRestart, PausePolicy::kKpi766}) {
    old_.policy.default_pause_policy = policy;
    for (const auto& received : {ReceivedFromCatalog("2026-02-10 15:20"),
                                 ReceivedWithDue("2026-02-10 15:20", "2026-02-28 10:00")}) {
      const DossierState s =
          Apply({received, Event("s1", EventType::kSupplementRequested, "2026-02-12 09:10"),
                 Event("s2", EventType::kSupplementReceived, "2026-02-24 16:40"),
                 Event("p1", EventType::kSupplementRequested, "2026-02-25 12:00")});
      const DossierState r = RecomputeDeadline(s, old_, clock_);
      EXPECT_EQ(r.due_at, s.due_at) << ToString(policy);
      EXPECT_EQ(r.original_due_at, s.original_due_at);
      EXPECT_EQ(r.warning_at, s.warning_at);
      EXPECT_EQ(r.hours_left_warning_at, s.hours_left_warning_at);
      EXPECT_EQ(r.legal_working_time, s.legal_working_time);
      EXPECT_EQ(r.paused_since, s.paused_since);
    }
  }
}

TEST_F(RecomputeDeadlineTest, RaisedBreachStaysUnlessTheNewDueIsAhead) {
  DossierState s = Apply({ReceivedFromCatalog("2026-03-02 09:00")});
  const Timer breach{PartitionId(0), *s.due_at, "D1", TimerKind::kBreach};
  s = FireTimer(s, breach, *s.due_at, old_).state;
  ASSERT_TRUE(s.breach_fired);
  // At Mon 9 Mar 12:00 the new due (Tue 09:00) is ahead again: no longer overdue, and the
  // breach timer waits for the new due time.
  DossierState r = RecomputeDeadline(s, new_, Local("2026-03-09 12:00"));
  EXPECT_FALSE(r.breach_fired);
  EXPECT_TRUE(HasTimer(r, TimerKind::kBreach));
  // At Tue 10 Mar 12:00 it has passed too: still overdue, not raised again.
  r = RecomputeDeadline(s, new_, Local("2026-03-10 12:00"));
  EXPECT_TRUE(r.breach_fired);
  EXPECT_FALSE(HasTimer(r, TimerKind::kBreach));
}

TEST_F(RecomputeDeadlineTest, NewDueAlreadyPastFiresThroughTheTimer) {
  // Received on the calendar with Wednesday off (due Tue 10 Mar 09:00), recomputed on the
  // shipped one at Mon 9 Mar 12:00: the new due (Mon 09:00) is past and not yet raised.
  DossierEvent e = ReceivedFromCatalog("2026-03-02 09:00");
  const DossierState s = ApplyEvent(nullptr, e, PartitionId(0), new_).state;
  const DossierState r = RecomputeDeadline(s, old_, Local("2026-03-09 12:00"));
  EXPECT_EQ(Show(r.due_at), "2026-03-09 09:00");
  EXPECT_FALSE(r.breach_fired);
  const Timer breach{PartitionId(0), *r.due_at, "D1", TimerKind::kBreach};
  EXPECT_TRUE(HasTimer(r, TimerKind::kBreach));
  const TimerResult fired = FireTimer(r, breach, Local("2026-03-09 12:00"), old_);
  ASSERT_TRUE(fired.fired);
  EXPECT_EQ(fired.alerts[0].kind, AlertKind::kDeadlineBreached);
  EXPECT_EQ(fired.alerts[0].alert_id, AlertId("D1", AlertKind::kDeadlineBreached, *r.due_at));
}

TEST_F(RecomputeDeadlineTest, ClosedAndUndatedDossiersAreUnchanged) {
  const DossierState done = Apply({ReceivedFromCatalog("2026-03-02 09:00"),
                                   Event("c", EventType::kCompleted, "2026-03-09 16:00")});
  ASSERT_EQ(done.outcome, Outcome::kLate);
  const DossierState r = RecomputeDeadline(done, new_, clock_);
  EXPECT_EQ(r.due_at, done.due_at);
  EXPECT_EQ(r.outcome, Outcome::kLate);
  const DossierState undated = Apply({Event("r", EventType::kReceived, "2026-03-02 09:00")});
  EXPECT_FALSE(RecomputeDeadline(undated, new_, clock_).due_at.has_value());
}

TEST_F(RecomputeDeadlineTest, ProcedureDroppedFromTheCatalogKeepsItsDeadline) {
  const DossierState s = Apply({ReceivedFromCatalog("2026-03-02 09:00")});
  RulesContext no_catalog = new_;
  auto empty = ProcedureCatalog::Create({});
  ASSERT_TRUE(empty.has_value());
  no_catalog.catalog = &*empty;
  EXPECT_EQ(RecomputeDeadline(s, no_catalog, clock_).due_at, s.due_at);
}

TEST_F(RecomputeDeadlineTest, DossierStoredWithoutItsPausesKeepsThePausedWorkingTime) {
  // As stored by a build that did not record pauses: shifted by one working day.
  DossierState s = Apply({ReceivedWithDue("2026-03-02 09:00", "2026-03-09 09:00"),
                          Event("s1", EventType::kSupplementRequested, "2026-03-10 09:00"),
                          Event("s2", EventType::kSupplementReceived, "2026-03-11 09:00")});
  EXPECT_EQ(Show(s.due_at), "2026-03-10 09:00");
  s.pauses.clear();
  EXPECT_EQ(Show(RecomputeDeadline(s, old_, clock_).due_at), "2026-03-10 09:00");
  EXPECT_EQ(Show(RecomputeDeadline(s, new_, clock_).due_at), "2026-03-11 09:00");
}

}  // namespace
}  // namespace iocstream::rules
