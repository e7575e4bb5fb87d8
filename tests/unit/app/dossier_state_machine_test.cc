#include "iocstream/rules/dossier_state_machine.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "app/rules_config.h"
#include "iocstream/aggregate/contribution.h"
#include "iocstream/aggregate/kpi.h"
#include "iocstream/decode/rfc3339.h"

namespace iocstream::rules {
namespace {

Instant T(const char* rfc3339) { return *ParseRfc3339(rfc3339); }

class StateMachineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cal = app::LoadBusinessCalendar(
        {std::string(IOCSTREAM_SOURCE_DIR) + "/config/calendars/vn-2025.yaml",
         std::string(IOCSTREAM_SOURCE_DIR) + "/config/calendars/vn-2026.yaml"});
    ASSERT_TRUE(cal.has_value()) << cal.error().message;
    calendar_ = std::make_unique<BusinessCalendar>(std::move(*cal));
    ctx_.calendar = calendar_.get();
  }

  static DossierEvent Event(const std::string& id, EventType type, const char* at) {
    DossierEvent e;
    e.event_id = "D1/" + id;
    e.dossier_id = "D1";
    e.type = type;
    e.occurred_at = T(at);
    e.agency_code = "SO-TP";
    e.commune_code = "X01";
    e.channel = Channel::kOnline;
    return e;
  }

  // Received on 2 March, due 20 March, transferred on 3 March to UBND-X01 with a step due
  // on 4 March (kStepDue).
  static constexpr const char* kStepDue = "2026-03-04T17:00:00+07:00";
  DossierState ReceivedAndTransferred() {
    auto received = Event("r", EventType::kReceived, "2026-03-02T08:00:00+07:00");
    received.due_at = T("2026-03-20T17:00:00+07:00");
    auto transfer = Event("t", EventType::kTransferred, "2026-03-03T08:00:00+07:00");
    transfer.to_agency_code = "UBND-X01";
    transfer.step_due_at = T(kStepDue);
    return Apply({received, transfer});
  }

  DossierState Apply(const std::vector<DossierEvent>& events) {
    std::optional<DossierState> s;
    for (const auto& e : events) {
      EventResult r = ApplyEvent(s ? &*s : nullptr, e, PartitionId(0), ctx_);
      for (auto& a : r.alerts) alerts_.push_back(a);
      dispositions_.push_back(r.disposition);
      s = std::move(r.state);
    }
    return *s;
  }

  std::unique_ptr<BusinessCalendar> calendar_;
  RulesContext ctx_;
  std::vector<AlertIntent> alerts_;
  std::vector<Disposition> dispositions_;
};

TEST_F(StateMachineTest, CompletedOnDueDayIsOnTime) {
  auto received = Event("r", EventType::kReceived, "2026-03-02T08:00:00+07:00");
  received.due_at = T("2026-03-05T17:00:00+07:00");
  auto s = Apply({received, Event("c", EventType::kCompleted, "2026-03-05T16:00:00+07:00")});
  EXPECT_EQ(s.outcome, Outcome::kOnTime);
  EXPECT_EQ(s.status, DossierStatus::kCompleted);
  EXPECT_TRUE(alerts_.empty());
}

TEST_F(StateMachineTest, CompletedOnEarlierDayIsEarly) {
  auto received = Event("r", EventType::kReceived, "2026-03-02T08:00:00+07:00");
  received.due_at = T("2026-03-05T17:00:00+07:00");
  auto s = Apply({received, Event("c", EventType::kCompleted, "2026-03-04T10:00:00+07:00")});
  EXPECT_EQ(s.outcome, Outcome::kEarly);
}

TEST_F(StateMachineTest, CompletedAfterDueIsLateWithOneAlert) {
  auto received = Event("r", EventType::kReceived, "2026-03-02T08:00:00+07:00");
  received.due_at = T("2026-03-05T17:00:00+07:00");
  auto s = Apply({received, Event("c", EventType::kCompleted, "2026-03-05T17:00:01+07:00")});
  EXPECT_EQ(s.outcome, Outcome::kLate);
  ASSERT_EQ(alerts_.size(), 1u);
  EXPECT_EQ(alerts_[0].kind, AlertKind::kCompletedLate);
  EXPECT_EQ(alerts_[0].alert_id, AlertId("D1", AlertKind::kCompletedLate, *received.due_at));
}

TEST_F(StateMachineTest, OutOfOrderCompletionThenReceiptGivesSameOutcome) {
  auto received = Event("r", EventType::kReceived, "2026-03-02T08:00:00+07:00");
  received.due_at = T("2026-03-05T17:00:00+07:00");
  auto completed = Event("c", EventType::kCompleted, "2026-03-06T09:00:00+07:00");
  auto in_order = Apply({received, completed});
  auto reversed = Apply({completed, received});
  EXPECT_EQ(in_order.outcome, Outcome::kLate);
  EXPECT_EQ(reversed.outcome, Outcome::kLate);
  EXPECT_EQ(reversed.status, DossierStatus::kCompleted);
  EXPECT_EQ(reversed.received_at, in_order.received_at);
  EXPECT_EQ(reversed.completed_at, in_order.completed_at);
  EXPECT_EQ(aggregate::Contribution(reversed), aggregate::Contribution(in_order));
}

// A completion whose receipt was never seen (dead-lettered: a QA trial on Houston's data, due
// dates years before creation) has an unknown deadline, not none: it is counted apart, in
// neither the finished nor the open counts nor Decision 766's indicator, until the receipt
// arrives and it is judged like any other.
TEST_F(StateMachineTest, FinishedWithoutAReceiptIsNotJudgedUntilTheReceiptArrives) {
  using F = AggregateField;
  auto completed = Event("c", EventType::kCompleted, "2026-03-06T09:00:00+07:00");
  DossierState s = Apply({completed});
  EXPECT_EQ(s.outcome, Outcome::kNoReceipt);
  EXPECT_EQ(ToString(s.outcome), "no_receipt");
  AggregateCounters c = aggregate::Contribution(s);
  EXPECT_EQ(c[F::kFinishedWithoutReceipt], 1);
  EXPECT_EQ(c[F::kReceived], 0);
  EXPECT_EQ(c[F::kCompletedNoDeadline], 0);
  aggregate::Kpis k = aggregate::ComputeKpis(c);
  EXPECT_EQ(k.completed, 0);
  EXPECT_EQ(k.completed_on_time, 0);
  EXPECT_EQ(k.finished_without_receipt, 1);
  EXPECT_FALSE(k.on_time_rate.has_value());  // nothing judged
  // The result returned without a completion nor a receipt: the same.
  EXPECT_EQ(Apply({Event("t", EventType::kResultReturned, "2026-03-06T10:00:00+07:00")}).outcome,
            Outcome::kNoReceipt);

  // The receipt arrives: judged on its deadline, late here, with its alert.
  auto received = Event("r", EventType::kReceived, "2026-03-02T08:00:00+07:00");
  received.due_at = T("2026-03-05T17:00:00+07:00");
  alerts_.clear();
  s = Apply({completed, received});
  EXPECT_EQ(s.outcome, Outcome::kLate);
  c = aggregate::Contribution(s);
  EXPECT_EQ(c[F::kFinishedWithoutReceipt], 0);
  EXPECT_EQ(c[F::kCompletedLate], 1);
  EXPECT_EQ(c[F::kReceived], 1);
  ASSERT_EQ(alerts_.size(), 1u);
  EXPECT_EQ(alerts_[0].kind, AlertKind::kCompletedLate);
  // Detected by the receipt, but dated no earlier than the completion it is about: the
  // receipt's own time, days before, gave a negative detected_at - due (a QA trial).
  EXPECT_EQ(alerts_[0].detected_at, completed.occurred_at);
  EXPECT_EQ(alerts_[0].completed_at, completed.occurred_at);
}

TEST_F(StateMachineTest, DuplicateEventIdChangesNothing) {
  auto received = Event("r", EventType::kReceived, "2026-03-02T08:00:00+07:00");
  auto req = Event("s1", EventType::kSupplementRequested, "2026-03-03T08:00:00+07:00");
  auto s = Apply({received, req, req});
  EXPECT_EQ(dispositions_.back(), Disposition::kDuplicate);
  EXPECT_EQ(s.supplement_requests, 1);
}

TEST_F(StateMachineTest, LateStepEventDoesNotReopenFinishedDossier) {
  auto received = Event("r", EventType::kReceived, "2026-03-02T08:00:00+07:00");
  auto s = Apply({received, Event("c", EventType::kCompleted, "2026-03-04T08:00:00+07:00"),
                  Event("t", EventType::kTransferred, "2026-03-05T08:00:00+07:00")});
  EXPECT_EQ(s.status, DossierStatus::kCompleted);
  EXPECT_FALSE(IsOpen(s));
}

TEST_F(StateMachineTest, WithdrawnIsCancelled) {
  auto s = Apply({Event("r", EventType::kReceived, "2026-03-02T08:00:00+07:00"),
                  Event("w", EventType::kWithdrawn, "2026-03-03T08:00:00+07:00")});
  EXPECT_EQ(s.outcome, Outcome::kCancelled);
  EXPECT_TRUE(DesiredTimers(s).empty());
}

TEST_F(StateMachineTest, PauseShiftsDeadlineByWorkingTimePaused) {
  auto received = Event("r", EventType::kReceived, "2026-03-02T08:00:00+07:00");  // Monday
  received.due_at = T("2026-03-06T17:00:00+07:00");                               // Friday
  // Paused Tuesday 08:00 → Wednesday 08:00 = 8 working hours = one working day.
  auto s =
      Apply({received, Event("s1", EventType::kSupplementRequested, "2026-03-03T08:00:00+07:00"),
             Event("s2", EventType::kSupplementReceived, "2026-03-04T08:00:00+07:00")});
  EXPECT_EQ(s.due_at, T("2026-03-09T17:00:00+07:00"));  // next Monday (weekend skipped)
  EXPECT_EQ(s.original_due_at, received.due_at);
  EXPECT_EQ(s.status, DossierStatus::kInProgress);
}

TEST_F(StateMachineTest, PauseEndBeforeItsStartGivesTheSameDeadline) {
  auto received = Event("r", EventType::kReceived, "2026-03-02T08:00:00+07:00");
  received.due_at = T("2026-03-06T17:00:00+07:00");
  auto req = Event("s1", EventType::kSupplementRequested, "2026-03-03T08:00:00+07:00");
  auto got = Event("s2", EventType::kSupplementReceived, "2026-03-04T08:00:00+07:00");
  const auto in_order = Apply({received, req, got});
  const auto reversed = Apply({received, got, req});
  EXPECT_EQ(reversed.due_at, in_order.due_at);
  EXPECT_EQ(reversed.due_at, T("2026-03-09T17:00:00+07:00"));
  EXPECT_FALSE(reversed.paused_since.has_value());
  EXPECT_EQ(reversed.pauses, in_order.pauses);
}

TEST_F(StateMachineTest, WhilePausedNoBreachTimer) {
  auto received = Event("r", EventType::kReceived, "2026-03-02T08:00:00+07:00");
  received.due_at = T("2026-03-06T17:00:00+07:00");
  auto s =
      Apply({received, Event("s1", EventType::kSupplementRequested, "2026-03-03T08:00:00+07:00")});
  for (const Timer& t : DesiredTimers(s)) EXPECT_NE(t.kind, TimerKind::kBreach);
}

TEST_F(StateMachineTest, Kpi766SecondSupplementRequestIsLate) {
  ctx_.policy.default_pause_policy = PausePolicy::kKpi766;
  auto received = Event("r", EventType::kReceived, "2026-03-02T08:00:00+07:00");
  received.due_at = T("2026-03-20T17:00:00+07:00");
  auto s =
      Apply({received, Event("a1", EventType::kSupplementRequested, "2026-03-03T08:00:00+07:00"),
             Event("a2", EventType::kSupplementReceived, "2026-03-04T08:00:00+07:00"),
             Event("b1", EventType::kSupplementRequested, "2026-03-05T08:00:00+07:00"),
             Event("b2", EventType::kSupplementReceived, "2026-03-06T08:00:00+07:00"),
             Event("c", EventType::kCompleted, "2026-03-09T08:00:00+07:00")});
  EXPECT_EQ(s.outcome, Outcome::kLate);
}

// Decision 766 (domain.md §1.3, kpi766 policy): more than one supplement request counts an open
// dossier as overdue in the KPIs and the worklist, before its legal deadline and without an
// alert; the breach timer still fires at the deadline. Other policies do not count it.
TEST_F(StateMachineTest, Kpi766CountsAnOpenDossierWithTwoSupplementRequestsOverdue) {
  auto received = Event("r", EventType::kReceived, "2026-03-02T08:00:00+07:00");
  received.due_at = T("2026-03-13T17:00:00+07:00");
  const std::vector<DossierEvent> events = {
      received, Event("q1", EventType::kSupplementRequested, "2026-03-03T08:00:00+07:00"),
      Event("s1", EventType::kSupplementReceived, "2026-03-04T08:00:00+07:00"),
      Event("q2", EventType::kSupplementRequested, "2026-03-05T08:00:00+07:00"),
      Event("s2", EventType::kSupplementReceived, "2026-03-06T08:00:00+07:00")};
  ctx_.policy.default_pause_policy = PausePolicy::kKpi766;
  const DossierState once = Apply({events[0], events[1], events[2]});
  EXPECT_FALSE(once.overdue_by_supplements);
  EXPECT_EQ(aggregate::Contribution(once)[AggregateField::kOpenOverdue], 0);
  std::optional<DossierState> s;
  size_t alerts = 0;
  for (const auto& e : events) {
    EventResult r = ApplyEvent(s ? &*s : nullptr, e, PartitionId(0), ctx_);
    alerts += r.alerts.size();
    s = std::move(r.state);
  }
  EXPECT_TRUE(s->overdue_by_supplements);
  EXPECT_FALSE(s->breach_fired);
  EXPECT_EQ(alerts, 0u);
  EXPECT_EQ(aggregate::Contribution(*s)[AggregateField::kOpenOverdue], 1);
  const auto timers = DesiredTimers(*s);
  EXPECT_TRUE(std::any_of(timers.begin(), timers.end(),
                          [](const Timer& t) { return t.kind == TimerKind::kBreach; }));
  ctx_.policy.default_pause_policy = PausePolicy::kPause;
  const DossierState paused = Apply(events);
  EXPECT_FALSE(paused.overdue_by_supplements);
  EXPECT_EQ(aggregate::Contribution(paused)[AggregateField::kOpenOverdue], 0);
}

// Decision 766 (domain.md §1.3 interpretation 3, kpi766 policy): a record still waiting on the
// applicant counts as finished at the request time, and returns to open when the supplement
// arrives. The counts and the KPIs at each step of received -> supplement_requested ->
// supplement_received -> completed.
TEST_F(StateMachineTest, Kpi766CountsARecordWaitingOnTheApplicantFinishedAtTheRequest) {
  ctx_.policy.default_pause_policy = PausePolicy::kKpi766;
  auto received = Event("r", EventType::kReceived, "2026-03-02T09:00:00+07:00");  // Monday
  received.due_at = T("2026-03-09T09:00:00+07:00");                               // Monday
  using F = AggregateField;

  DossierState s = Apply({received});
  AggregateCounters c = aggregate::Contribution(s);
  EXPECT_EQ(c[F::kReceived], 1);
  EXPECT_EQ(c[F::kOpen], 1);
  aggregate::Kpis k = aggregate::ComputeKpis(c);
  EXPECT_EQ(k.open, 1);
  EXPECT_EQ(k.completed, 0);

  // Requested Tue 09:00, before the deadline: finished on time, for now, and not open.
  s = ApplyEvent(&s, Event("q", EventType::kSupplementRequested, "2026-03-03T09:00:00+07:00"),
                 PartitionId(0), ctx_)
          .state;
  EXPECT_EQ(s.status, DossierStatus::kWaitingSupplement);
  EXPECT_TRUE(s.kpi766_finished_at_request);
  EXPECT_TRUE(IsOpen(s));  // for its timers and alerts: an open dossier, paused
  EXPECT_EQ(s.paused_since, T("2026-03-03T09:00:00+07:00"));
  c = aggregate::Contribution(s);
  EXPECT_EQ(c[F::kReceived], 1);
  EXPECT_EQ(c[F::kOpen], 0);
  EXPECT_EQ(c[F::kWaitingApplicantOnTime], 1);
  k = aggregate::ComputeKpis(c);
  EXPECT_EQ(k.open, 0);
  EXPECT_EQ(k.completed, 1);
  EXPECT_EQ(k.completed_on_time, 1);
  EXPECT_EQ(k.waiting_applicant, 1);
  EXPECT_EQ(k.on_time_rate, 1.0);

  // The supplement arrives Wed 09:00: open again, its deadline moved by the 8 h waited.
  s = ApplyEvent(&s, Event("g", EventType::kSupplementReceived, "2026-03-04T09:00:00+07:00"),
                 PartitionId(0), ctx_)
          .state;
  EXPECT_FALSE(s.kpi766_finished_at_request);
  EXPECT_EQ(s.due_at, T("2026-03-10T09:00:00+07:00"));
  c = aggregate::Contribution(s);
  EXPECT_EQ(c[F::kOpen], 1);
  EXPECT_EQ(c[F::kWaitingApplicantOnTime], 0);
  k = aggregate::ComputeKpis(c);
  EXPECT_EQ(k.open, 1);
  EXPECT_EQ(k.completed, 0);
  EXPECT_EQ(k.waiting_applicant, 0);

  // Completed Thu: early (a working day before the due day).
  s = ApplyEvent(&s, Event("c", EventType::kCompleted, "2026-03-05T09:00:00+07:00"), PartitionId(0),
                 ctx_)
          .state;
  EXPECT_FALSE(s.kpi766_finished_at_request);
  c = aggregate::Contribution(s);
  EXPECT_EQ(c[F::kOpen], 0);
  EXPECT_EQ(c[F::kCompletedEarly], 1);
  k = aggregate::ComputeKpis(c);
  EXPECT_EQ(k.completed, 1);
  EXPECT_EQ(k.completed_on_time, 1);
  EXPECT_EQ(k.open, 0);

  // Under the pause policy the same wait keeps the dossier open.
  ctx_.policy.default_pause_policy = PausePolicy::kPause;
  const DossierState paused =
      Apply({received, Event("q", EventType::kSupplementRequested, "2026-03-03T09:00:00+07:00")});
  EXPECT_FALSE(paused.kpi766_finished_at_request);
  EXPECT_EQ(aggregate::Contribution(paused)[F::kOpen], 1);
  // A reload that names kpi766 (the catalog or the default) counts it finished from then on.
  ctx_.policy.default_pause_policy = PausePolicy::kKpi766;
  const DossierState reloaded = RecomputeDeadline(paused, ctx_, T("2026-03-03T10:00:00+07:00"));
  EXPECT_TRUE(reloaded.kpi766_finished_at_request);
  EXPECT_EQ(aggregate::Contribution(reloaded)[F::kWaitingApplicantOnTime], 1);

  // The same for a dossier without a deadline (no due_at, a procedure the catalog lacks): its
  // flag followed the policy only at its next event, not at the reload.
  ctx_.policy.default_pause_policy = PausePolicy::kPause;
  const DossierState no_due =
      Apply({Event("r", EventType::kReceived, "2026-03-02T09:00:00+07:00"),
             Event("q", EventType::kSupplementRequested, "2026-03-03T09:00:00+07:00")});
  ASSERT_FALSE(no_due.due_at.has_value());
  EXPECT_FALSE(no_due.kpi766_finished_at_request);
  EXPECT_EQ(aggregate::Contribution(no_due)[F::kOpenNoDeadline], 1);
  ctx_.policy.default_pause_policy = PausePolicy::kKpi766;
  const DossierState no_due_reloaded =
      RecomputeDeadline(no_due, ctx_, T("2026-03-03T10:00:00+07:00"));
  EXPECT_TRUE(no_due_reloaded.kpi766_finished_at_request);
  EXPECT_EQ(aggregate::Contribution(no_due_reloaded)[F::kWaitingApplicantNoDeadline], 1);
  ctx_.policy.default_pause_policy = PausePolicy::kPause;
  EXPECT_FALSE(RecomputeDeadline(no_due_reloaded, ctx_, T("2026-03-03T11:00:00+07:00"))
                   .kpi766_finished_at_request);
}

// A request made after the deadline passed (its breach fired): finished late at the request;
// open and overdue again once the supplement arrives; late at completion.
TEST_F(StateMachineTest, Kpi766RequestAfterTheDeadlineCountsLateWhileWaiting) {
  ctx_.policy.default_pause_policy = PausePolicy::kKpi766;
  auto received = Event("r", EventType::kReceived, "2026-03-02T09:00:00+07:00");
  received.due_at = T("2026-03-03T09:00:00+07:00");
  using F = AggregateField;
  DossierState s = Apply({received});
  const Timer breach{PartitionId(0), *s.due_at + Millis(1), "D1", TimerKind::kBreach};
  TimerResult fired = FireTimer(s, breach, T("2026-03-03T12:00:00+07:00"), ctx_);
  ASSERT_TRUE(fired.fired);
  s = fired.state;
  EXPECT_EQ(aggregate::Contribution(s)[F::kOpenOverdue], 1);

  s = ApplyEvent(&s, Event("q", EventType::kSupplementRequested, "2026-03-04T09:00:00+07:00"),
                 PartitionId(0), ctx_)
          .state;
  AggregateCounters c = aggregate::Contribution(s);
  EXPECT_EQ(c[F::kWaitingApplicantLate], 1);
  EXPECT_EQ(c[F::kOpen] + c[F::kOpenOverdue], 0);
  aggregate::Kpis k = aggregate::ComputeKpis(c);
  EXPECT_EQ(k.completed_late, 1);
  EXPECT_EQ(k.waiting_applicant_late, 1);
  EXPECT_EQ(k.on_time_rate, 0.0);

  s = ApplyEvent(&s, Event("g", EventType::kSupplementReceived, "2026-03-05T09:00:00+07:00"),
                 PartitionId(0), ctx_)
          .state;
  c = aggregate::Contribution(s);
  EXPECT_EQ(c[F::kOpen], 1);
  EXPECT_EQ(c[F::kOpenOverdue], 1);
  EXPECT_EQ(c[F::kWaitingApplicantLate], 0);

  s = ApplyEvent(&s, Event("c", EventType::kCompleted, "2026-03-06T09:00:00+07:00"), PartitionId(0),
                 ctx_)
          .state;
  c = aggregate::Contribution(s);
  EXPECT_EQ(c[F::kCompletedLate], 1);
  EXPECT_EQ(c[F::kOpen], 0);
}

TEST_F(StateMachineTest, BreachTimerFiresOnceThenCompletionIsLate) {
  auto received = Event("r", EventType::kReceived, "2026-03-02T08:00:00+07:00");
  received.due_at = T("2026-03-05T17:00:00+07:00");
  DossierState s = Apply({received});
  const auto timers = DesiredTimers(s);
  auto breach = std::find_if(timers.begin(), timers.end(),
                             [](const Timer& t) { return t.kind == TimerKind::kBreach; });
  ASSERT_NE(breach, timers.end());
  // In deadline while now <= due (domain.md §1.5): overdue from 1 ms after it.
  EXPECT_EQ(breach->due, *received.due_at + Millis(1));
  EXPECT_FALSE(IsOverdueAt(s, *received.due_at));
  EXPECT_TRUE(IsOverdueAt(s, breach->due));
  TimerResult fired = FireTimer(s, *breach, breach->due, ctx_);
  ASSERT_TRUE(fired.fired);
  ASSERT_EQ(fired.alerts.size(), 2u);  // breach + apology missing
  EXPECT_EQ(fired.alerts[0].kind, AlertKind::kDeadlineBreached);
  EXPECT_EQ(fired.alerts[1].kind, AlertKind::kApologyMissing);
  EXPECT_TRUE(fired.state.breach_fired);
  EXPECT_EQ(aggregate::Contribution(fired.state)[AggregateField::kOpenOverdue], 1);
  EXPECT_FALSE(FireTimer(fired.state, *breach, T("2026-03-06T00:00:00+07:00"), ctx_).fired);
  for (const Timer& t : DesiredTimers(fired.state)) EXPECT_NE(t.kind, TimerKind::kBreach);
  auto completed = Event("c", EventType::kCompleted, "2026-03-06T09:00:00+07:00");
  EventResult r = ApplyEvent(&fired.state, completed, PartitionId(0), ctx_);
  EXPECT_EQ(r.state.outcome, Outcome::kLate);
  EXPECT_EQ(aggregate::Contribution(r.state)[AggregateField::kOpenOverdue], 0);
  EXPECT_EQ(aggregate::Contribution(r.state)[AggregateField::kCompletedLate], 1);
}

TEST_F(StateMachineTest, ApologyBeforeDeadlineSuppressesApologyAlert) {
  auto received = Event("r", EventType::kReceived, "2026-03-02T08:00:00+07:00");
  received.due_at = T("2026-03-05T17:00:00+07:00");
  auto apology = Event("a", EventType::kRescheduled, "2026-03-05T09:00:00+07:00");
  apology.new_due_at = T("2026-03-10T17:00:00+07:00");
  DossierState s = Apply({received, apology});
  EXPECT_EQ(s.apology_at, apology.occurred_at);
  EXPECT_TRUE(ApologyIssuedInTime(s));
  EXPECT_EQ(s.due_at, received.due_at);  // the KPI keeps the legal deadline
  Timer t{PartitionId(0), *s.due_at, "D1", TimerKind::kBreach};
  TimerResult fired = FireTimer(s, t, *s.due_at, ctx_);
  ASSERT_EQ(fired.alerts.size(), 1u);
  EXPECT_EQ(fired.alerts[0].kind, AlertKind::kDeadlineBreached);
}

TEST_F(StateMachineTest, StepBreachCountsSeparately) {
  DossierState s = ReceivedAndTransferred();
  Timer step{PartitionId(0), T(kStepDue), "D1", TimerKind::kStepBreach};
  const auto timers = DesiredTimers(s);
  EXPECT_NE(std::find(timers.begin(), timers.end(), step), timers.end());
  TimerResult fired = FireTimer(s, step, T(kStepDue), ctx_);
  ASSERT_TRUE(fired.fired);
  EXPECT_EQ(fired.state.step_breaches, 1);
  EXPECT_FALSE(fired.state.breach_fired);
  EXPECT_EQ(fired.alerts[0].agency_code, "UBND-X01");
}

// The store keeps only a dossier's next timer; firing each one in turn walks its whole
// schedule in (due, kind) order, each with its alert, and a finished dossier keeps none.
TEST_F(StateMachineTest, StoredTimerIsTheNextOfTheScheduleAndFiringWalksIt) {
  DossierState s = ReceivedAndTransferred();
  const std::vector<Timer> schedule = DesiredTimers(s);
  ASSERT_GE(schedule.size(), 3u);  // step breach, warning(s), breach
  ASSERT_TRUE(std::is_sorted(schedule.begin(), schedule.end(), [](const Timer& a, const Timer& b) {
    return std::tie(a.due, a.kind) < std::tie(b.due, b.kind);
  }));
  std::vector<Timer> fired_in_order;
  for (size_t i = 0; i < schedule.size() + 1; ++i) {
    const std::vector<Timer> stored = StoredTimers(s);
    if (stored.empty()) break;
    ASSERT_EQ(stored.size(), 1u);
    const TimerSlots slots = StoredTimerSlots(s);
    ASSERT_EQ(slots.size, 1u);
    EXPECT_EQ(slots.slots[0].due, stored[0].due);
    EXPECT_EQ(stored[0], DesiredTimers(s).front());
    TimerResult fired = FireTimer(s, stored[0], stored[0].due, ctx_);
    ASSERT_TRUE(fired.fired) << static_cast<int>(stored[0].kind);
    EXPECT_FALSE(fired.alerts.empty());
    fired_in_order.push_back(stored[0]);
    s = fired.state;
  }
  EXPECT_EQ(fired_in_order, schedule);
  EXPECT_TRUE(s.breach_fired);
  EXPECT_EQ(s.step_breaches, 1);
  auto completed = Event("c", EventType::kCompleted, "2026-03-23T09:00:00+07:00");
  EventResult r = ApplyEvent(&s, completed, PartitionId(0), ctx_);
  EXPECT_TRUE(StoredTimers(r.state).empty());
  EXPECT_EQ(StoredTimerSlots(r.state).size, 0u);
}

TEST_F(StateMachineTest, OpenWithoutDeadlineHasNoTimers) {
  DossierState s = Apply({Event("r", EventType::kReceived, "2026-03-02T08:00:00+07:00")});
  auto c = aggregate::Contribution(s);
  EXPECT_EQ(c[AggregateField::kReceived], 1);
  EXPECT_EQ(c[AggregateField::kOpen], 1);
  EXPECT_EQ(c[AggregateField::kOpenNoDeadline], 1);
  EXPECT_TRUE(DesiredTimers(s).empty());
}

}  // namespace
}  // namespace iocstream::rules
