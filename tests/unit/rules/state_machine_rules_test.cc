// Dossier state machine rules found by the lifecycle scenarios (tests/data/scenarios): pauses
// whose events arrive out of order (the completion or the receipt first), the restart policy
// for calendar-day procedures, and overdue while paused. Shipped 2025 + 2026
// calendar; times are local.
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "iocstream/aggregate/contribution.h"
#include "iocstream/rules/dossier_state_machine.h"
#include "unit/rules/test_support.h"

namespace iocstream::rules {
namespace {

using testing::FormatLocal;
using testing::Local;
using testing::ShippedCalendar;

class StateMachineRulesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto catalog = ProcedureCatalog::Create({
        ProcedureRule{"1.000253", "7 calendar days", LegalDuration{7, DurationUnit::kCalendarDays},
                      std::nullopt, std::nullopt, std::nullopt},
        ProcedureRule{"1.002856", "2 working days", LegalDuration{2, DurationUnit::kWorkingDays},
                      std::nullopt, std::nullopt, std::nullopt},
        ProcedureRule{"1.009999", "6 months", LegalDuration{6, DurationUnit::kMonths}, std::nullopt,
                      std::nullopt, std::nullopt},
    });
    ASSERT_TRUE(catalog.has_value()) << catalog.error().message;
    catalog_ = std::move(*catalog);
    ctx_.calendar = &ShippedCalendar();
    ctx_.catalog = &catalog_;
  }

  static DossierEvent Event(const std::string& id, EventType type, const char* local) {
    DossierEvent e;
    e.event_id = id;
    e.dossier_id = "D1";
    e.type = type;
    e.occurred_at = Local(local);
    e.agency_code = "000.00.12.H56";
    if (type == EventType::kReceived) e.procedure_code = "1.002856.000.00.00.H56";
    return e;
  }
  // The transfer-step tests' dossier: received Mon 2 Mar 09:00, due Fri 20 Mar 17:00 (no other
  // timer within their span), and its transfer to 000.00.15.H56 on Tue 3 Mar 09:00 with the
  // step due at `step_due`.
  static DossierEvent StepReceipt() {
    DossierEvent e = Event("r", EventType::kReceived, "2026-03-02 09:00");
    e.due_at = Local("2026-03-20 17:00");
    return e;
  }
  static DossierEvent StepTransfer(const char* step_due) {
    DossierEvent e = Event("t", EventType::kTransferred, "2026-03-03 09:00");
    e.to_agency_code = "000.00.15.H56";
    e.step_due_at = Local(step_due);
    return e;
  }

  DossierState Apply(const std::vector<DossierEvent>& events) const {
    std::optional<DossierState> s;
    for (const auto& e : events) s = ApplyEvent(s ? &*s : nullptr, e, PartitionId(0), ctx_).state;
    return *s;
  }

  // Received Mon 2 Mar 2026 09:00 (due Wed 09:00), supplement requested Tue 09:00 and
  // received Wed 09:00 (8 working hours paused: due Thu 09:00), completed Thu 08:00.
  static std::vector<DossierEvent> PausedDossier() {
    return {Event("r", EventType::kReceived, "2026-03-02 09:00"),
            Event("q", EventType::kSupplementRequested, "2026-03-03 09:00"),
            Event("s", EventType::kSupplementReceived, "2026-03-04 09:00"),
            Event("c", EventType::kCompleted, "2026-03-05 08:00")};
  }

  // Calls check(state, order) with the state every arrival order of `events` gives; returns
  // how many orders there were.
  template <typename Check>
  size_t ForEveryArrivalOrder(const std::vector<DossierEvent>& events, Check check) const {
    return testing::ForEveryArrivalOrder(
        events, [this](const std::vector<DossierEvent>& e) { return Apply(e); }, check);
  }

  ProcedureCatalog catalog_;
  RulesContext ctx_;
};

// A request or receipt repeated at an instant held (a resend under a new id) adds no pause
// mark: it changes no pause, and a resend loop no longer grows the state. PauseMarksFull says
// when a full dossier would get one more (the pipeline dead-letters that event).
TEST_F(StateMachineRulesTest, RepeatedPauseMarksAreHeldOnceAndTheirNumberIsBounded) {
  std::vector<DossierEvent> events = PausedDossier();
  events.insert(events.begin() + 2,
                Event("q-again", EventType::kSupplementRequested, "2026-03-03 09:00"));
  const DossierState s = Apply(events);
  EXPECT_EQ(s.pause_marks.size(), 2u);
  EXPECT_EQ(s.supplement_requests, 2);  // the request counts (kpi766), its mark once
  EXPECT_EQ(s, [&] {
    DossierState expected = Apply(PausedDossier());
    expected.supplement_requests = 2;
    expected.applied_event_ids = s.applied_event_ids;
    return expected;
  }());

  DossierState full = Apply({Event("r", EventType::kReceived, "2026-03-02 09:00")});
  for (size_t k = 0; k < kMaxPauseMarks; ++k) {
    full.pause_marks.push_back(
        {Local("2026-03-02 10:00") + std::chrono::minutes(static_cast<int64_t>(k)), k % 2 == 0});
  }
  const DossierEvent another = Event("x", EventType::kSupplementRequested, "2026-03-10 09:00");
  EXPECT_TRUE(PauseMarksFull(full, another, ctx_));
  // One held already (a start at 10:00), a duplicate id, a payment event while payment pauses
  // are off, and any other event: none adds a mark.
  EXPECT_FALSE(
      PauseMarksFull(full, Event("y", EventType::kSupplementRequested, "2026-03-02 10:00"), ctx_));
  EXPECT_FALSE(
      PauseMarksFull(full, Event("r", EventType::kSupplementRequested, "2026-03-10 09:00"), ctx_));
  EXPECT_FALSE(
      PauseMarksFull(full, Event("z", EventType::kPaymentRequested, "2026-03-10 09:00"), ctx_));
  EXPECT_FALSE(PauseMarksFull(full, Event("c", EventType::kCompleted, "2026-03-10 09:00"), ctx_));
  RulesContext payments = ctx_;
  payments.policy.payment_pauses = true;
  EXPECT_TRUE(
      PauseMarksFull(full, Event("z", EventType::kPaymentRequested, "2026-03-10 09:00"), payments));
  full.pause_marks.pop_back();
  EXPECT_FALSE(PauseMarksFull(full, another, ctx_));
}

TEST_F(StateMachineRulesTest, InOrderPauseShiftsTheDeadline) {
  const DossierState s = Apply(PausedDossier());
  EXPECT_EQ(FormatLocal(*s.due_at), "2026-03-05 09:00");
  EXPECT_EQ(s.outcome, Outcome::kOnTime);
  EXPECT_EQ(s.paused_ms, 24 * 3600 * 1000);
}

// Every arrival order of the same four events gives the same deadline and outcome: the
// completion or the receipt arriving before the supplement events must not drop the pause.
TEST_F(StateMachineRulesTest, PauseEventsInAnyArrivalOrderGiveTheSameDeadline) {
  const size_t orders =
      ForEveryArrivalOrder(PausedDossier(), [](const DossierState& s, const std::string& order) {
        EXPECT_EQ(FormatLocal(*s.due_at), "2026-03-05 09:00") << order;
        EXPECT_EQ(s.outcome, Outcome::kOnTime) << order;
        EXPECT_EQ(s.paused_ms, 24 * 3600 * 1000) << order;
        EXPECT_EQ(s.status, DossierStatus::kCompleted) << order;
      });
  EXPECT_EQ(orders, 24u);
}

TEST_F(StateMachineRulesTest, RequestAfterTheCompletionDoesNotPause) {
  const DossierState s = Apply({Event("r", EventType::kReceived, "2026-03-02 09:00"),
                                Event("c", EventType::kCompleted, "2026-03-04 10:00"),
                                Event("q", EventType::kSupplementRequested, "2026-03-04 11:00"),
                                Event("s", EventType::kSupplementReceived, "2026-03-05 09:00")});
  EXPECT_EQ(FormatLocal(*s.due_at), "2026-03-04 09:00");
  EXPECT_EQ(s.outcome, Outcome::kLate);
}

// A supplement request after the end of processing is a conflict (EventConflict), found once
// in every arrival order: on the request when the end came first, else on the end. The events
// of a dossier without one reveal none, in any order.
TEST_F(StateMachineRulesTest, ASupplementRequestAfterTheEndIsOneConflictInEveryArrivalOrder) {
  auto conflicts = [this](const std::vector<DossierEvent>& events) {
    std::optional<DossierState> s;
    int found = 0;
    for (const DossierEvent& e : events) {
      if (const auto conflict = ConflictOf(s ? &*s : nullptr, e)) {
        EXPECT_EQ(*conflict, EventConflict::kSupplementAfterEnd);
        ++found;
      }
      s = ApplyEvent(s ? &*s : nullptr, e, PartitionId(0), ctx_).state;
    }
    return found;
  };
  const std::vector<DossierEvent> after = {
      Event("r", EventType::kReceived, "2026-03-02 09:00"),
      Event("c", EventType::kCompleted, "2026-03-04 10:00"),
      Event("t", EventType::kResultReturned, "2026-03-04 15:00"),
      Event("q", EventType::kSupplementRequested, "2026-03-04 11:00")};
  EXPECT_EQ(testing::ForEveryArrivalOrder(
                after, [&](const std::vector<DossierEvent>& e) { return conflicts(e); },
                [](int found, const std::string& order) { EXPECT_EQ(found, 1) << order; }),
            24u);
  // A withdrawal ends processing as well.
  EXPECT_EQ(conflicts({Event("r", EventType::kReceived, "2026-03-02 09:00"),
                       Event("w", EventType::kWithdrawn, "2026-03-03 09:00"),
                       Event("q", EventType::kSupplementRequested, "2026-03-03 10:00")}),
            1);
  testing::ForEveryArrivalOrder(
      PausedDossier(), [&](const std::vector<DossierEvent>& e) { return conflicts(e); },
      [](int found, const std::string& order) { EXPECT_EQ(found, 0) << order; });
  EXPECT_EQ(ToString(EventConflict::kSupplementAfterEnd), "supplement_after_end");
}

// An end of processing dated before the receipt is a conflict (end_before_receipt), found in
// both arrival orders: on the end when the receipt came first, else on the receipt. One such
// end is one conflict in every arrival order, whichever kind of end it is; an end at the
// receipt's instant or after it is none.
TEST_F(StateMachineRulesTest, AnEndBeforeTheReceiptIsOneConflictInEveryArrivalOrder) {
  auto conflicts = [this](const std::vector<DossierEvent>& events) {
    std::optional<DossierState> s;
    int found = 0;
    for (const DossierEvent& e : events) {
      if (const auto conflict = ConflictOf(s ? &*s : nullptr, e)) {
        EXPECT_EQ(*conflict, EventConflict::kEndBeforeReceipt) << e.event_id;
        ++found;
      }
      s = ApplyEvent(s ? &*s : nullptr, e, PartitionId(0), ctx_).state;
    }
    return found;
  };
  const auto expect_in_every_order = [&](const std::vector<DossierEvent>& events, int expected) {
    return testing::ForEveryArrivalOrder(
        events, [&](const std::vector<DossierEvent>& e) { return conflicts(e); },
        [expected](int found, const std::string& order) { EXPECT_EQ(found, expected) << order; });
  };
  // Completed the day before the receipt, the result returned after it.
  EXPECT_EQ(expect_in_every_order({Event("r", EventType::kReceived, "2026-03-03 09:00"),
                                   Event("c", EventType::kCompleted, "2026-03-02 09:00"),
                                   Event("t", EventType::kResultReturned, "2026-03-04 09:00")},
                                  1),
            6u);
  for (const EventType end : {EventType::kCompleted, EventType::kResultReturned,
                              EventType::kWithdrawn, EventType::kRefused, EventType::kRejected}) {
    expect_in_every_order(
        {Event("r", EventType::kReceived, "2026-03-03 09:00"), Event("e", end, "2026-03-03 08:59")},
        1);
    // At the receipt's instant, or after it: no conflict.
    expect_in_every_order(
        {Event("r", EventType::kReceived, "2026-03-03 09:00"), Event("e", end, "2026-03-03 09:00")},
        0);
  }
  // Receipt first: each end dated before it is found as it comes.
  EXPECT_EQ(conflicts({Event("r", EventType::kReceived, "2026-03-03 09:00"),
                       Event("c", EventType::kCompleted, "2026-03-02 09:00"),
                       Event("t", EventType::kResultReturned, "2026-03-02 10:00")}),
            2);
  // Ends first: the receipt reveals them once.
  EXPECT_EQ(conflicts({Event("c", EventType::kCompleted, "2026-03-02 09:00"),
                       Event("t", EventType::kResultReturned, "2026-03-02 10:00"),
                       Event("r", EventType::kReceived, "2026-03-03 09:00")}),
            1);
  // The state is the same either way: the earliest end is kept and the outcome judged on it.
  const DossierState before = Apply({Event("r", EventType::kReceived, "2026-03-03 09:00"),
                                     Event("c", EventType::kCompleted, "2026-03-02 09:00")});
  const DossierState after = Apply({Event("c", EventType::kCompleted, "2026-03-02 09:00"),
                                    Event("r", EventType::kReceived, "2026-03-03 09:00")});
  EXPECT_EQ(before.completed_at, after.completed_at);
  EXPECT_EQ(before.outcome, after.outcome);
  EXPECT_EQ(before.status, after.status);
  // Dossiers without one reveal none, in any order.
  expect_in_every_order(PausedDossier(), 0);
  EXPECT_EQ(ToString(EventConflict::kEndBeforeReceipt), "end_before_receipt");
}

// A second completion (or result return) at another instant is a conflict (repeated_end), and a
// result returned before the completion another (returned_before_completion): each counted
// once, on the second event to arrive, in every arrival order; the earliest completion is kept
// and judged (a QA trial found both applied silently, the verdict flipped from late to early).
TEST_F(StateMachineRulesTest, RepeatedEndsAndAReturnBeforeTheCompletionAreConflicts) {
  auto conflicts = [this](const std::vector<DossierEvent>& events) {
    std::optional<DossierState> s;
    std::vector<EventConflict> found;
    for (const DossierEvent& e : events) {
      if (const auto conflict = ConflictOf(s ? &*s : nullptr, e)) found.push_back(*conflict);
      s = ApplyEvent(s ? &*s : nullptr, e, PartitionId(0), ctx_).state;
    }
    return std::pair(found, *s);
  };
  const auto expect_in_every_order = [&](const std::vector<DossierEvent>& events,
                                         EventConflict kind) {
    const DossierState in_order = Apply(events);
    return testing::ForEveryArrivalOrder(
        events, [&](const std::vector<DossierEvent>& e) { return conflicts(e); },
        [&](const auto& found, const std::string& order) {
          EXPECT_EQ(found.first, std::vector<EventConflict>{kind}) << order;
          EXPECT_EQ(found.second.completed_at, in_order.completed_at) << order;
          EXPECT_EQ(found.second.outcome, in_order.outcome) << order;
        });
  };
  // Due Wed 09:00: completed Tue (early), then a second completion dated Thu (late).
  const DossierEvent received = Event("r", EventType::kReceived, "2026-03-02 09:00");
  const DossierEvent early = Event("c1", EventType::kCompleted, "2026-03-03 10:00");
  const DossierEvent late = Event("c2", EventType::kCompleted, "2026-03-05 10:00");
  EXPECT_EQ(expect_in_every_order({received, early, late}, EventConflict::kRepeatedEnd), 6u);
  EXPECT_EQ(Apply({received, late, early}).outcome, Outcome::kEarly);
  EXPECT_EQ(
      expect_in_every_order({received, Event("t1", EventType::kResultReturned, "2026-03-03 10:00"),
                             Event("t2", EventType::kResultReturned, "2026-03-04 10:00")},
                            EventConflict::kRepeatedEnd),
      6u);
  // Returned Tue, completed Thu: judged on the completion (late).
  const DossierEvent returned = Event("t", EventType::kResultReturned, "2026-03-03 10:00");
  EXPECT_EQ(
      expect_in_every_order({received, returned, late}, EventConflict::kReturnedBeforeCompletion),
      6u);
  EXPECT_EQ(Apply({received, returned, late}).outcome, Outcome::kLate);
  // The same completion resent under another id, a return after the completion, or at its
  // instant: none.
  DossierEvent resent = early;
  resent.event_id = "c1-again";
  EXPECT_TRUE(conflicts({received, early, resent}).first.empty());
  EXPECT_TRUE(
      conflicts({received, early, Event("t", EventType::kResultReturned, "2026-03-03 10:00")})
          .first.empty());
  EXPECT_TRUE(
      conflicts({received, Event("t", EventType::kResultReturned, "2026-03-03 11:00"), early})
          .first.empty());
  EXPECT_EQ(ToString(EventConflict::kRepeatedEnd), "repeated_end");
  EXPECT_EQ(ToString(EventConflict::kReturnedBeforeCompletion), "returned_before_completion");
}

// An event id the dossier holds, on an event whose fact the dossier does not hold, is another
// event under a used id (the QA trial: a completion under its receipt's id, skipped as a
// duplicate); every true redelivery of an applied event, in any arrival order and after later
// events, is not.
TEST_F(StateMachineRulesTest, AnEventIdUsedByAnotherEventIsToldFromARedelivery) {
  const auto Reused = [](const DossierState& state, const DossierEvent& e) {
    return EventIdReused(state, e, EventIdHash(e.event_id));
  };
  const DossierEvent received = Event("r", EventType::kReceived, "2026-03-02 09:00");
  DossierEvent completion_as_receipt = Event("r", EventType::kCompleted, "2026-03-05 10:00");
  DossierState s = Apply({received});
  EXPECT_TRUE(Reused(s, completion_as_receipt));
  for (const EventType end : {EventType::kResultReturned, EventType::kWithdrawn,
                              EventType::kRefused, EventType::kRejected}) {
    EXPECT_TRUE(Reused(s, Event("r", end, "2026-03-02 09:00"))) << ToString(end);
  }
  // A receipt at another instant than the dossier's (reusing a completion's id: a second
  // receipt at another instant is never applied).
  const DossierState completed =
      Apply({received, Event("c", EventType::kCompleted, "2026-03-05 10:00")});
  EXPECT_TRUE(Reused(completed, Event("c", EventType::kReceived, "2026-03-03 09:00")));
  // Before the dossier's first event.
  EXPECT_TRUE(Reused(s, Event("r", EventType::kReceived, "2026-03-01 09:00")));
  // A receipt at the same instant that says otherwise: another department or due time (two
  // CSV rows of one case id, a QA trial), but not a redelivery, even of a receipt whose
  // due time a store older than original_due_at does not hold.
  DossierEvent other_department = received;
  other_department.agency_code = "OTHER-DEPT";
  EXPECT_TRUE(Reused(s, other_department));
  EXPECT_FALSE(Reused(s, received));
  DossierEvent received_due = received;
  received_due.due_at = Local("2026-03-10 17:00");
  const DossierState with_due = Apply({received_due});
  DossierEvent other_due = received_due;
  other_due.due_at = Local("2026-03-20 17:00");
  EXPECT_TRUE(Reused(with_due, other_due));
  EXPECT_FALSE(Reused(with_due, received_due));
  DossierState without_original_due = with_due;
  without_original_due.original_due_at.reset();
  EXPECT_FALSE(Reused(without_original_due, other_due));
  // A new id is no reuse, whatever it says.
  EXPECT_FALSE(Reused(s, Event("c", EventType::kCompleted, "2026-03-05 10:00")));

  // Every event of a dossier, redelivered after all of them, in every arrival order.
  const std::vector<DossierEvent> events = {
      received,
      Event("q", EventType::kSupplementRequested, "2026-03-03 09:00"),
      Event("s", EventType::kSupplementReceived, "2026-03-04 09:00"),
      Event("c", EventType::kCompleted, "2026-03-05 08:00"),
      Event("t", EventType::kResultReturned, "2026-03-05 10:00"),
      Event("c2", EventType::kCompleted, "2026-03-05 09:00")};
  testing::ForEveryArrivalOrder(
      events, [&](const std::vector<DossierEvent>& e) { return Apply(e); },
      [&](const DossierState& state, const std::string& order) {
        for (const DossierEvent& e : events) EXPECT_FALSE(Reused(state, e)) << order;
      });
}

// The business calendar ends with 2199, and the decoder refuses an event's instant after it
// (kLatestEventTime). A catalog period ending past it (received 1 Oct 2199 + 6 months) gave a
// due time in 2200 all the same (a QA finding): it gives no deadline, as an unknown procedure
// does (the pipeline logs why). One ending within 2199 is computed as before.
TEST_F(StateMachineRulesTest, NoCatalogDeadlinePastTheCalendar) {
  auto received = [&](const char* at) {
    DossierEvent e = Event("r", EventType::kReceived, at);
    e.procedure_code = "1.009999";
    return Apply({e});
  };
  const DossierState late = received("2199-10-01 09:00");
  EXPECT_FALSE(late.due_at.has_value());
  EXPECT_FALSE(late.original_due_at.has_value());
  EXPECT_EQ(late.due_source, DueSource::kNone);
  EXPECT_TRUE(DesiredTimers(late).empty());
  const DossierState within = received("2199-06-01 09:00");
  ASSERT_TRUE(within.due_at.has_value());
  EXPECT_EQ(within.due_source, DueSource::kCatalog);
  // Sun 1 Dec 2199 is a day off: the period ends on the next working day (Art. 148).
  EXPECT_EQ(FormatLocal(*within.due_at), "2199-12-02 17:00");
}

// A second receipt contradicts the first only in what both say: another receipt time, due
// date, agency, commune, procedure (base code), channel or online level. A redelivery, a
// resend under another id, the localised form of the same procedure, or a field the second
// leaves out is none; nor is anything before the dossier was received, or another event type.
TEST_F(StateMachineRulesTest, ReceiptConflictComparesWhatBothReceiptsSay) {
  const DossierEvent first = Event("r", EventType::kReceived, "2026-03-02 09:00");
  const DossierState s = Apply({first});
  ASSERT_TRUE(s.original_due_at.has_value());  // from the catalog: 2 working days
  auto second = [&](auto change) {
    DossierEvent e = first;
    e.event_id = "r2";
    change(e);
    return ReceiptConflict(s, e);
  };
  EXPECT_EQ(ReceiptConflict(s, first), std::nullopt);
  EXPECT_EQ(second([](DossierEvent&) {}), std::nullopt);
  EXPECT_EQ(second([](DossierEvent& e) { e.procedure_code = "1.002856"; }), std::nullopt);
  EXPECT_EQ(second([](DossierEvent& e) { e.procedure_code = Code(); }), std::nullopt);
  EXPECT_EQ(second([](DossierEvent& e) { e.channel = Channel::kOnline; }), std::nullopt);
  EXPECT_EQ(second([&](DossierEvent& e) { e.due_at = *s.original_due_at; }), std::nullopt);

  EXPECT_EQ(second([](DossierEvent& e) { e.occurred_at = Local("2026-03-02 10:00"); }),
            ReceiptField::kOccurredAt);
  EXPECT_EQ(second([](DossierEvent& e) { e.due_at = Local("2026-03-06 17:00"); }),
            ReceiptField::kDueAt);
  EXPECT_EQ(second([](DossierEvent& e) { e.agency_code = "000.00.15.H56"; }),
            ReceiptField::kAgency);
  EXPECT_EQ(second([](DossierEvent& e) { e.procedure_code = "1.000253"; }),
            ReceiptField::kProcedure);
  EXPECT_EQ(second([](DossierEvent& e) { SetCodeText(e, CodeField::kProcedure, "not-a-base"); }),
            ReceiptField::kProcedure);
  EXPECT_EQ(ToString(ReceiptField::kProcedure), "procedure_code");

  // Not a second receipt: another type, or a dossier not received yet.
  DossierEvent transfer = first;
  transfer.event_id = "t";
  transfer.type = EventType::kTransferred;
  transfer.agency_code = "000.00.15.H56";
  EXPECT_EQ(ReceiptConflict(s, transfer), std::nullopt);
  const DossierState submitted = Apply({Event("o", EventType::kSubmitted, "2026-03-01 20:00")});
  DossierEvent other = first;
  other.agency_code = "000.00.15.H56";
  EXPECT_EQ(ReceiptConflict(submitted, other), std::nullopt);
}

// A wait still open at the completion counts up to the completion, as one whose end is sent
// after the completion does: the same deadline and verdict whether its end never comes, comes
// later, or the completion comes first (a QA trial found the first judged late and the second
// early). Decision 766 judges a dossier waiting on the applicant at the request, in time here.
TEST_F(StateMachineRulesTest, AWaitOpenAtTheCompletionCountsUpToTheCompletion) {
  const DossierState s = Apply({Event("r", EventType::kReceived, "2026-03-02 09:00"),
                                Event("q", EventType::kSupplementRequested, "2026-03-03 09:00"),
                                Event("c", EventType::kCompleted, "2026-03-04 10:00")});
  // Paused Tue 09:00 - Wed 10:00 = Tue 6 h + Wed 3 h: Wed 09:00 + 9 h = Thu 10:00.
  EXPECT_EQ(FormatLocal(*s.due_at), "2026-03-05 10:00");
  EXPECT_EQ(s.paused_ms, 25 * 3600 * 1000);
  EXPECT_FALSE(s.paused_since.has_value());
  EXPECT_NE(s.outcome, Outcome::kLate);
  EXPECT_NE(s.outcome, Outcome::kOpen);
  const DossierState ended_later =
      Apply({Event("r", EventType::kReceived, "2026-03-02 09:00"),
             Event("q", EventType::kSupplementRequested, "2026-03-03 09:00"),
             Event("c", EventType::kCompleted, "2026-03-04 10:00"),
             Event("s", EventType::kSupplementReceived, "2026-03-06 09:00")});
  EXPECT_EQ(ended_later.due_at, s.due_at);
  EXPECT_EQ(ended_later.pauses, s.pauses);
  EXPECT_EQ(ended_later.outcome, s.outcome);
  // The end moves (an earlier completion, a completion after a withdrawal): the wait counts up
  // to the end the dossier is judged on, in every arrival order (a QA trial: it kept the end
  // of the event that arrived first, early in some orders and late in others).
  for (const EventType other_end : {EventType::kCompleted, EventType::kWithdrawn}) {
    const std::vector<DossierEvent> events = {
        Event("r", EventType::kReceived, "2026-03-02 09:00"),
        Event("q", EventType::kSupplementRequested, "2026-03-03 09:00"),
        Event("c", EventType::kCompleted, "2026-03-10 10:00"),
        Event("e", other_end, "2026-03-04 10:00")};
    const DossierState in_order = Apply(events);
    // Completed Wed 4 (another completion) or Tue 10 (after the withdrawal on Wed 4).
    EXPECT_EQ(in_order.pauses.back().end,
              Local(other_end == EventType::kCompleted ? "2026-03-04 10:00" : "2026-03-10 10:00"))
        << ToString(other_end);
    ForEveryArrivalOrder(events, [&](const DossierState& state, const std::string& order) {
      EXPECT_EQ(state.due_at, in_order.due_at) << ToString(other_end) << " " << order;
      EXPECT_EQ(state.pauses, in_order.pauses) << ToString(other_end) << " " << order;
      EXPECT_EQ(state.outcome, in_order.outcome) << ToString(other_end) << " " << order;
    });
  }
  // Under kpi766 a dossier waiting on the applicant counts finished at the request, on time
  // here; its completion keeps it on time (it turned late before, a QA trial).
  ctx_.policy.default_pause_policy = PausePolicy::kKpi766;
  const DossierState waiting =
      Apply({Event("r", EventType::kReceived, "2026-03-02 09:00"),
             Event("q", EventType::kSupplementRequested, "2026-03-03 09:00")});
  EXPECT_TRUE(waiting.kpi766_finished_at_request);
  const DossierState kpi766 =
      Apply({Event("r", EventType::kReceived, "2026-03-02 09:00"),
             Event("q", EventType::kSupplementRequested, "2026-03-03 09:00"),
             Event("c", EventType::kCompleted, "2026-03-10 10:00")});
  EXPECT_FALSE(kpi766.kpi766_finished_at_request);
  EXPECT_NE(kpi766.outcome, Outcome::kLate);
  ctx_.policy.default_pause_policy = PausePolicy::kPause;
  // Requested after the completion: no wait of its processing.
  const DossierState after =
      Apply({Event("r", EventType::kReceived, "2026-03-02 09:00"),
             Event("c", EventType::kCompleted, "2026-03-04 10:00"),
             Event("q", EventType::kSupplementRequested, "2026-03-04 11:00")});
  EXPECT_EQ(FormatLocal(*after.due_at), "2026-03-04 09:00");
  EXPECT_EQ(after.paused_ms, 0);
  EXPECT_EQ(after.outcome, Outcome::kLate);
}

// A receipt that names no procedure has no deadline; the event that names it later (a second
// receipt at the same instant, or a transfer filling the blank) gives the catalog's deadline
// from the receipt, as when it came first: the same deadline in every arrival order (a QA trial
// found the procedure shown and no deadline, or the deadline, depending on the order).
TEST_F(StateMachineRulesTest, AProcedureNamedAfterTheReceiptGivesTheDeadlineInEveryOrder) {
  DossierEvent bare = Event("r1", EventType::kReceived, "2026-03-02 09:00");
  bare.procedure_code = Code();
  const DossierState without = Apply({bare});
  EXPECT_FALSE(without.due_at.has_value());
  EXPECT_EQ(without.due_source, DueSource::kNone);

  const DossierEvent named = Event("r2", EventType::kReceived, "2026-03-02 09:00");
  DossierEvent transfer = Event("t", EventType::kTransferred, "2026-03-02 10:00");
  transfer.to_agency_code = "000.00.15.H56";
  transfer.procedure_code = "1.002856";
  const DossierEvent completed = Event("c", EventType::kCompleted, "2026-03-05 10:00");
  for (const DossierEvent& naming : {named, transfer}) {
    const size_t orders = ForEveryArrivalOrder(
        {bare, naming, completed}, [&](const DossierState& s, const std::string& order) {
          ASSERT_TRUE(s.due_at.has_value()) << naming.event_id << " " << order;
          // 2 working days from Mon 09:00.
          EXPECT_EQ(FormatLocal(*s.due_at), "2026-03-04 09:00") << naming.event_id << " " << order;
          EXPECT_EQ(s.due_source, DueSource::kCatalog) << naming.event_id << " " << order;
          EXPECT_EQ(s.outcome, Outcome::kLate) << naming.event_id << " " << order;
        });
    EXPECT_EQ(orders, 6u);
  }
}

// The end of a pause that arrives after the completion counts up to the completion at most.
TEST_F(StateMachineRulesTest, PauseEndAfterTheCompletionCountsUpToTheCompletion) {
  const DossierState s = Apply({Event("r", EventType::kReceived, "2026-03-02 09:00"),
                                Event("q", EventType::kSupplementRequested, "2026-03-03 09:00"),
                                Event("c", EventType::kCompleted, "2026-03-04 10:00"),
                                Event("s", EventType::kSupplementReceived, "2026-03-06 09:00")});
  // Paused Tue 09:00 - Wed 10:00 = Tue 6 h + Wed 3 h: Wed 09:00 + 9 h = Thu 10:00.
  EXPECT_EQ(FormatLocal(*s.due_at), "2026-03-05 10:00");
  EXPECT_EQ(s.paused_ms, 25 * 3600 * 1000);
}

// Restart (domain.md §1.3, "tính lại hẹn trả từ đầu") recounts a calendar-day duration on the
// calendar from the complete dossier: 7 calendar days from Thu 12 Feb 2026 end on Thu 19 Feb,
// a Tết holiday, so Mon 23 Feb 17:00 (Art. 148). Counting instead the 45 working hours that
// the first period (Mon 2 - Mon 9 Feb) spanned would skip Tết and give Thu 26 Feb.
TEST_F(StateMachineRulesTest, RestartRecountsCalendarDaysFromTheSupplement) {
  ctx_.policy.default_pause_policy = PausePolicy::kRestart;
  DossierEvent received = Event("r", EventType::kReceived, "2026-02-02 10:00");
  received.procedure_code = "1.000253";
  received.channel = Channel::kInPerson;
  const DossierState s =
      Apply({received, Event("q", EventType::kSupplementRequested, "2026-02-03 10:00"),
             Event("s", EventType::kSupplementReceived, "2026-02-12 10:00")});
  EXPECT_EQ(FormatLocal(*s.original_due_at), "2026-02-09 17:00");
  EXPECT_EQ(FormatLocal(*s.due_at), "2026-02-23 17:00");
}

// Working-day durations restart as the same working time, whether from the catalog or, for a
// due time the event carried, as the working time from receipt to that due time.
TEST_F(StateMachineRulesTest, RestartRecountsWorkingTimeFromTheSupplement) {
  ctx_.policy.default_pause_policy = PausePolicy::kRestart;
  const DossierState catalog =
      Apply({Event("r", EventType::kReceived, "2026-03-02 09:00"),
             Event("q", EventType::kSupplementRequested, "2026-03-03 10:00"),
             Event("s", EventType::kSupplementReceived, "2026-03-05 14:00")});
  EXPECT_EQ(FormatLocal(*catalog.due_at), "2026-03-09 14:00");  // 16 h from Thu 14:00

  DossierEvent received = Event("r", EventType::kReceived, "2026-03-02 09:00");
  received.procedure_code = "1.002835.000.00.00.H56";  // not in the catalog
  received.due_at = Local("2026-03-04 17:00");         // 22 working hours after receipt
  const DossierState event =
      Apply({received, Event("q", EventType::kSupplementRequested, "2026-03-03 09:00"),
             Event("s", EventType::kSupplementReceived, "2026-03-05 09:00")});
  EXPECT_EQ(FormatLocal(*event.due_at), "2026-03-09 17:00");
}

// The clock stands still while the applicant supplements (§1.3): received Mon 09:00, due Wed
// 09:00, paused Tue 10:00 with 7 working hours left, the dossier is not overdue a week later.
TEST_F(StateMachineRulesTest, PausedBeforeTheDeadlineIsNotOverdue) {
  const DossierState s = Apply({Event("r", EventType::kReceived, "2026-03-02 09:00"),
                                Event("q", EventType::kSupplementRequested, "2026-03-03 10:00")});
  EXPECT_FALSE(IsOverdueAt(s, Local("2026-03-10 10:00")));
  const DossierState running = Apply({Event("r", EventType::kReceived, "2026-03-02 09:00")});
  EXPECT_FALSE(IsOverdueAt(running, Local("2026-03-04 09:00")));  // at the due: in deadline
  EXPECT_TRUE(IsOverdueAt(running, Local("2026-03-04 09:01")));
}

TEST_F(StateMachineRulesTest, PausedAfterTheDeadlineStaysOverdue) {
  const DossierState s = Apply({Event("r", EventType::kReceived, "2026-03-02 09:00"),
                                Event("q", EventType::kSupplementRequested, "2026-03-05 10:00")});
  EXPECT_TRUE(IsOverdueAt(s, Local("2026-03-06 10:00")));
  const DossierState done = Apply({Event("r", EventType::kReceived, "2026-03-02 09:00"),
                                   Event("c", EventType::kCompleted, "2026-03-05 10:00")});
  EXPECT_FALSE(IsOverdueAt(done, Local("2026-03-06 10:00")));  // finished: late, not overdue
}

// Two supplement rounds (domain.md §1.3) give one deadline whatever order their five events
// arrive in (the contract: iocstream orders a dossier's events by occurred_at). Received Mon
// 2 Mar 09:00 (due Wed 09:00); paused Mon 14:00 - Tue 09:00 (5 working hours, 19 h) and Tue
// 14:00 - Wed 10:00 (6 working hours, 20 h): Wed 09:00 + 11 working hours = Thu 14:00.
TEST_F(StateMachineRulesTest, TwoSupplementRoundsInAnyArrivalOrderGiveTheSameDeadline) {
  const std::vector<DossierEvent> events = {
      Event("r", EventType::kReceived, "2026-03-02 09:00"),
      Event("q1", EventType::kSupplementRequested, "2026-03-02 14:00"),
      Event("s1", EventType::kSupplementReceived, "2026-03-03 09:00"),
      Event("q2", EventType::kSupplementRequested, "2026-03-03 14:00"),
      Event("s2", EventType::kSupplementReceived, "2026-03-04 10:00")};
  const size_t orders =
      ForEveryArrivalOrder(events, [](const DossierState& s, const std::string& order) {
        ASSERT_TRUE(s.due_at.has_value()) << order;
        EXPECT_EQ(FormatLocal(*s.due_at), "2026-03-05 14:00") << order;
        EXPECT_EQ(s.paused_ms, 39 * 3600 * 1000) << order;
        EXPECT_FALSE(s.paused_since.has_value()) << order;
        EXPECT_EQ(s.pauses.size(), 2u) << order;
        EXPECT_EQ(s.supplement_requests, 2) << order;
      });
  EXPECT_EQ(orders, 120u);
}

// The clock starts at receipt (§1.1): a supplement round before it is intake guidance (Form 02)
// and moves nothing, and the receipt ends a request made before it, whose own end may never be
// sent (the dossier was accepted as complete).
TEST_F(StateMachineRulesTest, ARequestBeforeTheReceiptPausesNothing) {
  const auto q = Event("q", EventType::kSupplementRequested, "2026-03-02 08:00");
  const auto r = Event("r", EventType::kReceived, "2026-03-03 09:00");
  for (const auto& events :
       {std::vector<DossierEvent>{q, Event("s", EventType::kSupplementReceived, "2026-03-02 10:00"),
                                  r},
        std::vector<DossierEvent>{q, r,
                                  Event("s", EventType::kSupplementReceived, "2026-03-03 11:00")},
        std::vector<DossierEvent>{q, r}, std::vector<DossierEvent>{r, q}}) {
    const DossierState s = Apply(events);
    EXPECT_EQ(FormatLocal(*s.due_at), "2026-03-05 09:00");
    EXPECT_EQ(s.paused_ms, 0);
    EXPECT_FALSE(s.paused_since.has_value());
    EXPECT_TRUE(IsOverdueAt(s, Local("2026-03-05 09:01")));
  }
}

// A request supplemented at the counter within the same minute is a pause of no length, in
// either arrival order; a new request at the minute a pause ends opens the next one.
TEST_F(StateMachineRulesTest, PauseMarksAtOneInstant) {
  const auto r = Event("r", EventType::kReceived, "2026-03-02 09:00");
  const auto q = Event("q", EventType::kSupplementRequested, "2026-03-02 10:00");
  const auto s = Event("s", EventType::kSupplementReceived, "2026-03-02 10:00");
  for (const auto& events :
       {std::vector<DossierEvent>{r, q, s}, std::vector<DossierEvent>{r, s, q}}) {
    const DossierState d = Apply(events);
    EXPECT_FALSE(d.paused_since.has_value());
    EXPECT_EQ(FormatLocal(*d.due_at), "2026-03-04 09:00");
  }
  const auto q1 = Event("q1", EventType::kSupplementRequested, "2026-03-02 10:00");
  const auto s1 = Event("s1", EventType::kSupplementReceived, "2026-03-02 14:00");
  const auto q2 = Event("q2", EventType::kSupplementRequested, "2026-03-02 14:00");
  for (const auto& events :
       {std::vector<DossierEvent>{r, q1, s1, q2}, std::vector<DossierEvent>{r, q2, s1, q1},
        std::vector<DossierEvent>{q2, r, q1, s1}}) {
    const DossierState d = Apply(events);
    ASSERT_TRUE(d.paused_since.has_value());
    EXPECT_EQ(FormatLocal(*d.paused_since), "2026-03-02 14:00");
    EXPECT_EQ(d.paused_ms, 4 * 3600 * 1000);
  }
}

// Pauses count up to the end the outcome is judged on: the completion, also when the dossier
// was withdrawn before it (§1.5). Received Mon 09:00 (due Wed 09:00), paused Mon 14:00 - Tue
// 14:00 (8 working hours: due Thu 09:00), withdrawn Mon 15:00, completed Wed 12:00: on time.
TEST_F(StateMachineRulesTest, PausesCountUpToTheCompletionWhenAlsoWithdrawn) {
  const DossierState s = Apply({Event("r", EventType::kReceived, "2026-03-02 09:00"),
                                Event("q", EventType::kSupplementRequested, "2026-03-02 14:00"),
                                Event("x", EventType::kWithdrawn, "2026-03-02 15:00"),
                                Event("s", EventType::kSupplementReceived, "2026-03-03 14:00"),
                                Event("c", EventType::kCompleted, "2026-03-04 12:00")});
  EXPECT_EQ(FormatLocal(*s.due_at), "2026-03-05 09:00");
  EXPECT_NE(s.outcome, Outcome::kLate);
}

// A pause that arrives after the breach fired and moves the deadline past the clock puts the
// dossier back within its deadline (§1.5), and its breach timer is armed for the new due time
// (another alert id); past the clock still, the breach stays.
TEST_F(StateMachineRulesTest, ALatePauseMovingTheDeadlinePastTheClockReArmsTheBreach) {
  const DossierState received = Apply({Event("r", EventType::kReceived, "2026-03-02 09:00")});
  const Instant clock = Local("2026-03-04 10:00");
  const std::vector<Timer> timers = DesiredTimers(received);
  const auto breach = std::find_if(timers.begin(), timers.end(),
                                   [](const Timer& t) { return t.kind == TimerKind::kBreach; });
  ASSERT_NE(breach, timers.end());
  TimerResult fired = FireTimer(received, *breach, clock, ctx_);
  ASSERT_TRUE(fired.fired);
  ASSERT_TRUE(fired.state.breach_fired);
  // Paused Mon 14:00 - Tue 09:00 (5 working hours): due Wed 16:00, after the clock.
  DossierState s = fired.state;
  for (const DossierEvent& e : {Event("q", EventType::kSupplementRequested, "2026-03-02 14:00"),
                                Event("s", EventType::kSupplementReceived, "2026-03-03 09:00")}) {
    s = ApplyEvent(&s, e, PartitionId(0), ctx_, clock).state;
  }
  EXPECT_EQ(FormatLocal(*s.due_at), "2026-03-04 16:00");
  EXPECT_FALSE(s.breach_fired);
  EXPECT_FALSE(IsOverdueAt(s, clock));
  const std::vector<Timer> again = DesiredTimers(s);
  EXPECT_TRUE(std::any_of(again.begin(), again.end(), [&](const Timer& t) {
    return t.kind == TimerKind::kBreach && t.due == *s.due_at + Millis(1);
  }));
  // A request (still open) dated before the deadline, seen after the breach: the clock stopped
  // in time, so the dossier is not overdue.
  const DossierState open_pause =
      ApplyEvent(&fired.state, Event("q", EventType::kSupplementRequested, "2026-03-02 14:00"),
                 PartitionId(0), ctx_, clock)
          .state;
  EXPECT_FALSE(open_pause.breach_fired);
  EXPECT_FALSE(IsOverdueAt(open_pause, clock));
  // The same pause seen once the clock is past the new due time (its end first): still
  // overdue, no second page.
  DossierState late = fired.state;
  for (const DossierEvent& e : {Event("s", EventType::kSupplementReceived, "2026-03-03 09:00"),
                                Event("q", EventType::kSupplementRequested, "2026-03-02 14:00")}) {
    late = ApplyEvent(&late, e, PartitionId(0), ctx_, Local("2026-03-05 09:00")).state;
  }
  EXPECT_TRUE(late.breach_fired);
  // Its request first: paused before the deadline for a while, so re-armed, and due again at
  // once for the new deadline (Wed 16:00, another alert id).
  DossierState request_first = fired.state;
  for (const DossierEvent& e : {Event("q", EventType::kSupplementRequested, "2026-03-02 14:00"),
                                Event("s", EventType::kSupplementReceived, "2026-03-03 09:00")}) {
    request_first =
        ApplyEvent(&request_first, e, PartitionId(0), ctx_, Local("2026-03-05 09:00")).state;
  }
  EXPECT_FALSE(request_first.breach_fired);
  const std::vector<Timer> due = DesiredTimers(request_first);
  EXPECT_TRUE(std::any_of(due.begin(), due.end(), [&](const Timer& t) {
    return t.kind == TimerKind::kBreach && t.due <= Local("2026-03-05 09:00");
  }));
}

// The unit and step deadline are the latest transfer's by event time, not the last to arrive.
TEST_F(StateMachineRulesTest, ATransferArrivingLateDoesNotOverrideALaterOne) {
  auto transfer = [](const std::string& id, const char* at, const char* unit, const char* due) {
    DossierEvent e = Event(id, EventType::kTransferred, at);
    e.to_agency_code = unit;
    e.step_due_at = Local(due);
    return e;
  };
  const DossierEvent received = Event("r", EventType::kReceived, "2026-03-02 09:00");
  const DossierEvent t1 = transfer("t1", "2026-03-02 10:00", "000.00.13.H56", "2026-03-03 17:00");
  const DossierEvent t2 = transfer("t2", "2026-03-03 10:00", "000.00.14.H56", "2026-03-06 17:00");
  for (const auto& events :
       {std::vector<DossierEvent>{received, t1, t2}, std::vector<DossierEvent>{received, t2, t1},
        std::vector<DossierEvent>{t2, t1, received}}) {
    const DossierState s = Apply(events);
    EXPECT_EQ(s.current_unit, Code("000.00.14.H56"));
    EXPECT_EQ(FormatLocal(*s.step_due_at), "2026-03-06 17:00");
  }
}

// Applies `events` in the order given as the pipeline does on the watermark clock without
// allowed lateness, on a partition whose clock moves on between the dossier's events (other
// dossiers' traffic): the clock is the newest event time seen, and before each event the
// dossier's timers due by its time fire in turn (the store keeps the next one), each at its due
// time, or at the clock when it was put behind it. Returns the state and every alert raised.
std::pair<DossierState, std::vector<AlertIntent>> ApplyWithTimers(
    const std::vector<DossierEvent>& events, const RulesContext& ctx) {
  std::optional<DossierState> s;
  std::vector<AlertIntent> alerts;
  std::optional<Instant> clock;
  for (const DossierEvent& e : events) {
    const Instant next = clock ? std::max(*clock, e.occurred_at) : e.occurred_at;
    while (s) {
      const std::vector<Timer> stored = StoredTimers(*s);
      if (stored.empty() || stored[0].due > next) break;
      const Instant now = clock ? std::max(*clock, stored[0].due) : stored[0].due;
      if (!FireTimerInPlace(*s, stored[0], now, ctx, alerts)) {
        ADD_FAILURE() << "a stored timer did not fire";
        break;
      }
    }
    clock = next;
    EXPECT_EQ(ApplyEventInPlace(s, e, PartitionId(0), ctx, alerts, clock), Disposition::kApplied);
  }
  return {*s, alerts};
}

std::string Describe(const AlertIntent& a) {
  return std::string(ToString(a.kind)) + " " + std::string(a.alert_id) + " " +
         std::string(a.dossier_id) + " " + a.agency_code.str() + " due " + FormatLocal(a.due_at) +
         " detected " + FormatLocal(a.detected_at) +
         (a.completed_at ? " completed " + FormatLocal(*a.completed_at) : "");
}

std::vector<std::string> Describe(const std::vector<AlertIntent>& alerts) {
  std::vector<std::string> out;
  for (const AlertIntent& a : alerts) out.push_back(Describe(a));
  return out;
}

// A step whose deadline passed before the dossier finished is breached whatever order its
// events arrive in (a QA trial: received Mon 2 Mar, transferred Tue 3 Mar with the step due
// Thu 5 Mar, completed Tue 10 Mar, counted one step breach in time order and none when the
// completion arrived before the transfer; a stream shuffled per dossier lost most of them). A
// transfer or receipt applied to a finished dossier counts it as the step breach timer does in
// time order: the same state, the same aggregate contribution, the same step_breached alert,
// dated when the clock reached the step deadline (not before the transfer). A step due at the
// completion's instant is breached (its timer fires before the event at that instant), one
// due after it is not, and one already late at its transfer is breached from the transfer.
TEST_F(StateMachineRulesTest, AStepBreachIsCountedInEveryArrivalOrder) {
  const DossierEvent received = StepReceipt();
  const DossierEvent completed = Event("c", EventType::kCompleted, "2026-03-10 09:00");
  struct Case {
    const char* step_due;
    int step_breaches;
    const char* detected;  // the step_breached alert's, when breached
  };
  for (const Case& c :
       {Case{"2026-03-05 17:00", 1, "2026-03-05 17:00"},
        Case{"2026-03-10 09:00", 1, "2026-03-10 09:00"},
        Case{"2026-03-03 08:00", 1, "2026-03-03 09:00"}, Case{"2026-03-12 17:00", 0, ""}}) {
    const DossierEvent transfer = StepTransfer(c.step_due);
    const std::vector<DossierEvent> events = {received, transfer, completed};
    const auto in_order_result = ApplyWithTimers(events, ctx_);
    const DossierState& in_order = in_order_result.first;
    const std::vector<AlertIntent>& in_order_alerts = in_order_result.second;
    ASSERT_EQ(in_order.step_breaches, c.step_breaches) << c.step_due;
    EXPECT_EQ(in_order.step_breach_fired, c.step_breaches > 0) << c.step_due;
    EXPECT_EQ(in_order.outcome, Outcome::kEarly) << c.step_due;
    ASSERT_EQ(in_order_alerts.size(), static_cast<size_t>(c.step_breaches)) << c.step_due;
    if (c.step_breaches > 0) {
      const AlertIntent& a = in_order_alerts[0];
      EXPECT_EQ(a.kind, AlertKind::kStepBreached);
      EXPECT_EQ(a.alert_id, AlertId("D1", AlertKind::kStepBreached, Local(c.step_due)));
      EXPECT_EQ(a.agency_code, Code("000.00.15.H56"));
      EXPECT_EQ(FormatLocal(a.detected_at), c.detected) << c.step_due;
      EXPECT_FALSE(a.completed_at.has_value());
    }
    const aggregate::ContributionBits contribution = aggregate::ContributionBitsOf(in_order);
    EXPECT_EQ(contribution.step_breaches, c.step_breaches);
    const size_t orders = testing::ForEveryArrivalOrder(
        events, [this](const std::vector<DossierEvent>& e) { return ApplyWithTimers(e, ctx_); },
        [&](const auto& result, const std::string& order) {
          DossierState state = result.first;
          EXPECT_EQ(state.step_breaches, c.step_breaches) << c.step_due << " " << order;
          state.applied_event_ids = in_order.applied_event_ids;  // held in arrival order
          EXPECT_EQ(state, in_order) << c.step_due << " " << order;
          EXPECT_EQ(aggregate::ContributionBitsOf(result.first), contribution)
              << c.step_due << " " << order;
          EXPECT_EQ(Describe(result.second), Describe(in_order_alerts))
              << c.step_due << " " << order;
          EXPECT_TRUE(StoredTimers(result.first).empty()) << c.step_due << " " << order;
        });
    EXPECT_EQ(orders, 6u);
  }
}

// A result returned before the completion (a contradiction, applied) does not end the step
// before the completion: the step is settled on the end the outcome is judged on (domain.md
// §1.5: the completion first), as the outcome is. Here the return (Wed 4 Mar) precedes the step
// deadline (Thu 5 Mar) and the completion (Tue 10 Mar) follows it: one step breach, with the
// same alert, in every arrival order (the minimum of the ends counted none when the return
// arrived before the completion, and one otherwise).
TEST_F(StateMachineRulesTest, AReturnBeforeTheCompletionDoesNotEndTheStepBeforeIt) {
  const DossierEvent received = StepReceipt();
  const DossierEvent transfer = StepTransfer("2026-03-05 17:00");
  const DossierEvent returned = Event("ret", EventType::kResultReturned, "2026-03-04 09:00");
  const DossierEvent completed = Event("c", EventType::kCompleted, "2026-03-10 09:00");
  const std::vector<DossierEvent> events = {received, transfer, returned, completed};
  auto step_alerts = [](const std::vector<AlertIntent>& alerts) {
    std::vector<std::string> out;
    for (const AlertIntent& a : alerts) {
      if (a.kind == AlertKind::kStepBreached) out.push_back(Describe(a));
    }
    return out;
  };
  const auto in_order = ApplyWithTimers(events, ctx_);
  EXPECT_EQ(in_order.first.step_breaches, 1);
  EXPECT_TRUE(in_order.first.step_breach_fired);
  const std::vector<std::string> expected = step_alerts(in_order.second);
  ASSERT_EQ(expected.size(), 1u);
  EXPECT_NE(expected[0].find("detected 2026-03-05 17:00"), std::string::npos) << expected[0];
  const size_t orders = testing::ForEveryArrivalOrder(
      events, [this](const std::vector<DossierEvent>& e) { return ApplyWithTimers(e, ctx_); },
      [&](const auto& result, const std::string& order) {
        EXPECT_EQ(result.first.step_breaches, 1) << order;
        EXPECT_TRUE(result.first.step_breach_fired) << order;
        EXPECT_EQ(step_alerts(result.second), expected) << order;
      });
  EXPECT_EQ(orders, 24u);
}

// The step of a finished dossier is settled on the events' times, not on where the clock was
// when they arrived (the partition's clock runs on other dossiers' events, and the allowed
// lateness holds it back): a completion applied before the clock reached a step deadline it
// came after counts the breach, and one dated before the step deadline that arrives after the
// step breach fired takes the count back (its alert was raised). Both end as in time order.
TEST_F(StateMachineRulesTest, TheStepOfAFinishedDossierDoesNotDependOnTheClock) {
  const DossierEvent received = StepReceipt();
  const DossierEvent completed = Event("c", EventType::kCompleted, "2026-03-10 09:00");
  const auto transfer = &StepTransfer;
  // Due Thu 5 Mar, completed Tue 10 Mar, the clock still at Wed 4 Mar when it arrives.
  const DossierEvent breached = transfer("2026-03-05 17:00");
  DossierState s = ApplyEvent(nullptr, received, PartitionId(0), ctx_).state;
  s = ApplyEvent(&s, breached, PartitionId(0), ctx_).state;
  EventResult r = ApplyEvent(&s, completed, PartitionId(0), ctx_, Local("2026-03-04 09:00"));
  EXPECT_EQ(r.state.step_breaches, 1);
  EXPECT_TRUE(r.state.step_breach_fired);
  EXPECT_EQ(r.state, ApplyWithTimers({received, breached, completed}, ctx_).first);
  ASSERT_EQ(r.alerts.size(), 1u);
  EXPECT_EQ(Describe(r.alerts[0]),
            Describe(ApplyWithTimers({received, breached, completed}, ctx_).second.at(0)));
  EXPECT_TRUE(StoredTimers(r.state).empty());

  // Due Thu 12 Mar, after the completion (Tue 10 Mar), which arrives once the clock passed it.
  const DossierEvent in_time = transfer("2026-03-12 17:00");
  s = ApplyEvent(nullptr, received, PartitionId(0), ctx_).state;
  s = ApplyEvent(&s, in_time, PartitionId(0), ctx_).state;
  const std::vector<Timer> timers = StoredTimers(s);
  ASSERT_EQ(timers.size(), 1u);
  ASSERT_EQ(timers[0].kind, TimerKind::kStepBreach);
  TimerResult fired = FireTimer(s, timers[0], Local("2026-03-12 17:00"), ctx_);
  ASSERT_TRUE(fired.fired);
  ASSERT_EQ(fired.state.step_breaches, 1);
  r = ApplyEvent(&fired.state, completed, PartitionId(0), ctx_, Local("2026-03-12 18:00"));
  EXPECT_EQ(r.state.step_breaches, 0);
  EXPECT_FALSE(r.state.step_breach_fired);
  EXPECT_TRUE(r.alerts.empty());
  EXPECT_EQ(r.state, ApplyWithTimers({received, in_time, completed}, ctx_).first);
  EXPECT_EQ(aggregate::ContributionBitsOf(r.state).step_breaches, 0);
}

// A transfer sent again under another event id (the same instant and step deadline) is the
// step held, not a new one: its breach counts once, whether the dossier was open (its timer
// fired) or finished (counted as the transfer arrived late) when it came again.
TEST_F(StateMachineRulesTest, AStepSentAgainIsBreachedOnce) {
  const DossierEvent received = StepReceipt();
  const DossierEvent transfer = StepTransfer("2026-03-05 17:00");
  DossierEvent again = transfer;
  again.event_id = "t-again";
  const DossierEvent completed = Event("c", EventType::kCompleted, "2026-03-10 09:00");
  const DossierEvent later = Event("x", EventType::kPaymentReceived, "2026-03-06 09:00");
  for (const auto& events : {std::vector<DossierEvent>{received, transfer, later, again},
                             std::vector<DossierEvent>{received, completed, transfer, again},
                             std::vector<DossierEvent>{received, transfer, completed, again}}) {
    const auto [s, alerts] = ApplyWithTimers(events, ctx_);
    EXPECT_EQ(s.step_breaches, 1) << events[1].event_id << events.back().event_id;
    EXPECT_TRUE(s.step_breach_fired);
    EXPECT_EQ(alerts.size(), 1u);
  }
  // A later step is a new one: breached again when its own deadline passes.
  DossierEvent next = transfer;
  next.event_id = "t2";
  next.occurred_at = Local("2026-03-06 09:00");
  next.step_due_at = Local("2026-03-09 17:00");
  const auto [s, alerts] = ApplyWithTimers({received, transfer, next, completed}, ctx_);
  EXPECT_EQ(s.step_breaches, 2);
  EXPECT_EQ(alerts.size(), 2u);
}

// §1.5: the end of processing is the completion's first; a withdrawal, refusal or rejection
// seen as well (before or after it) does not take a late completion out of the KPI.
TEST_F(StateMachineRulesTest, ACompletedDossierWithdrawnAfterwardsKeepsItsOutcome) {
  const DossierEvent received = Event("r", EventType::kReceived, "2026-03-02 09:00");
  const DossierEvent completed = Event("c", EventType::kCompleted, "2026-03-05 09:00");  // late
  for (EventType cancel : {EventType::kWithdrawn, EventType::kRefused, EventType::kRejected}) {
    const DossierEvent after = Event("x", cancel, "2026-03-06 09:00");
    const DossierEvent before = Event("x", cancel, "2026-03-04 09:00");
    for (const auto& events : {std::vector<DossierEvent>{received, completed, after},
                               std::vector<DossierEvent>{received, after, completed},
                               std::vector<DossierEvent>{received, before, completed}}) {
      const DossierState s = Apply(events);
      EXPECT_EQ(s.outcome, Outcome::kLate) << ToString(cancel);
    }
  }
  const DossierState withdrawn =
      Apply({received, Event("x", EventType::kWithdrawn, "2026-03-03 09:00")});
  EXPECT_EQ(withdrawn.outcome, Outcome::kCancelled);
}

// Form 04 apologies (Circular 01/2018; domain.md §1.2: issued BEFORE the deadline) are judged
// against the deadline in force when the breach fires, not as they arrive. Received Mon 2 Mar
// 09:00 (due Wed 09:00), supplement requested Mon 10:00 and received Tue 10:00: 8 working hours
// paused (Mon 10:00 - 11:30 and 13:30 - 17:00, Tue 07:00 - 10:00), due Thu 5 Mar 09:00.
class ApologyTest : public StateMachineRulesTest {
 protected:
  static DossierEvent Apology(const std::string& id, const char* local) {
    DossierEvent e = Event(id, EventType::kRescheduled, local);
    e.new_due_at = Local("2026-03-06 17:00");
    return e;
  }
  static std::vector<DossierEvent> PausedReceipt() {
    return {Event("r", EventType::kReceived, "2026-03-02 09:00"),
            Event("q", EventType::kSupplementRequested, "2026-03-02 10:00"),
            Event("s", EventType::kSupplementReceived, "2026-03-03 10:00")};
  }
  // The alerts the breach timer of `s` raises when it fires at its due (1 ms after due_at).
  std::vector<AlertKind> BreachAlerts(const DossierState& s) const {
    const std::vector<Timer> timers = DesiredTimers(s);
    const auto breach = std::find_if(timers.begin(), timers.end(),
                                     [](const Timer& t) { return t.kind == TimerKind::kBreach; });
    std::vector<AlertKind> kinds;
    if (breach == timers.end()) return kinds;
    EXPECT_EQ(breach->due, *s.due_at + Millis(1));
    for (const AlertIntent& a : FireTimer(s, *breach, breach->due, ctx_).alerts) {
      kinds.push_back(a.kind);
    }
    return kinds;
  }
};

const std::vector<AlertKind> kBreachOnly = {AlertKind::kDeadlineBreached};
const std::vector<AlertKind> kBreachAndApologyMissing = {AlertKind::kDeadlineBreached,
                                                         AlertKind::kApologyMissing};

// An apology Wed 14:00, after the unshifted due (Wed 09:00) but before the one the pause gives
// (Thu 09:00), counts in every arrival order: no apology_missing at the breach. Also one at
// the due instant itself (in deadline while now <= due). Before the fix, the orders where it
// arrived after the receipt but before the supplement's end were judged against Wed 09:00 and
// paged apology_missing.
TEST_F(ApologyTest, AnApologyBeforeTheFinalDeadlineCountsInEveryArrivalOrder) {
  for (const char* at : {"2026-03-04 14:00", "2026-03-05 09:00"}) {
    std::vector<DossierEvent> events = PausedReceipt();
    events.push_back(Apology("a", at));
    const size_t orders =
        ForEveryArrivalOrder(events, [&](const DossierState& s, const std::string& order) {
          EXPECT_EQ(FormatLocal(*s.due_at), "2026-03-05 09:00") << order;
          EXPECT_EQ(s.apology_at, Local(at)) << order;
          EXPECT_EQ(FormatLocal(*s.rescheduled_due_at), "2026-03-06 17:00") << order;
          EXPECT_TRUE(ApologyIssuedInTime(s)) << order;
          EXPECT_EQ(BreachAlerts(s), kBreachOnly) << order;
        });
    EXPECT_EQ(orders, 24u);
  }
}

// An apology Thu 10:00, after the deadline Thu 09:00, is missing in every arrival order.
// Before the fix, the orders where it arrived before the receipt (no deadline known yet)
// counted it as issued.
TEST_F(ApologyTest, AnApologyAfterTheDeadlineIsMissingInEveryArrivalOrder) {
  std::vector<DossierEvent> events = PausedReceipt();
  events.push_back(Apology("a", "2026-03-05 10:00"));
  ForEveryArrivalOrder(events, [&](const DossierState& s, const std::string& order) {
    EXPECT_EQ(s.apology_at, Local("2026-03-05 10:00")) << order;
    EXPECT_FALSE(ApologyIssuedInTime(s)) << order;
    EXPECT_EQ(BreachAlerts(s), kBreachAndApologyMissing) << order;
  });
  // Without the pause the deadline is Wed 09:00: an apology Wed 14:00 is late too.
  ForEveryArrivalOrder({PausedReceipt()[0], Apology("a", "2026-03-04 14:00")},
                       [&](const DossierState& s, const std::string& order) {
                         EXPECT_EQ(FormatLocal(*s.due_at), "2026-03-04 09:00") << order;
                         EXPECT_EQ(BreachAlerts(s), kBreachAndApologyMissing) << order;
                       });
}

// Of two apologies the earliest is kept: one Fri 6 Mar 09:00 (late) and one Wed 14:00 (in
// time) count as issued in time, whichever arrives first.
TEST_F(ApologyTest, TheEarliestApologyIsKept) {
  std::vector<DossierEvent> events = PausedReceipt();
  events.push_back(Apology("a1", "2026-03-06 09:00"));
  events.push_back(Apology("a2", "2026-03-04 14:00"));
  ForEveryArrivalOrder(events, [&](const DossierState& s, const std::string& order) {
    EXPECT_EQ(s.apology_at, Local("2026-03-04 14:00")) << order;
    EXPECT_EQ(BreachAlerts(s), kBreachOnly) << order;
  });
}

// The breach fired at Wed 10:00 against the unshifted due (Wed 09:00), with no apology: it
// paged apology_missing then. An apology Wed 14:00 arrives, and then the pause Mon 10:00 - Tue
// 10:00 (clock Wed 15:00): the deadline moves to Thu 09:00, past the clock, the breach is
// re-armed, and when it fires again the apology is judged against Thu 09:00: in time.
TEST_F(ApologyTest, AReArmedBreachJudgesTheApologyAgainstTheNewDeadline) {
  const std::vector<DossierEvent> paused = PausedReceipt();
  const DossierState received = Apply({paused[0]});
  EXPECT_EQ(BreachAlerts(received), kBreachAndApologyMissing);
  const std::vector<Timer> timers = DesiredTimers(received);
  ASSERT_FALSE(timers.empty());
  TimerResult fired = FireTimer(received, timers.back(), Local("2026-03-04 10:00"), ctx_);
  ASSERT_TRUE(fired.state.breach_fired);
  DossierState s = fired.state;
  const Instant clock = Local("2026-03-04 15:00");
  for (const DossierEvent& e : {Apology("a", "2026-03-04 14:00"), paused[1], paused[2]}) {
    s = ApplyEvent(&s, e, PartitionId(0), ctx_, clock).state;
  }
  EXPECT_EQ(FormatLocal(*s.due_at), "2026-03-05 09:00");
  EXPECT_FALSE(s.breach_fired);
  EXPECT_EQ(BreachAlerts(s), kBreachOnly);
}

// A dossier stored before the apology's instant was kept (encoding version 4 and older) holds
// only whether its apology was judged in time as it arrived: judged so, it still counts (no
// apology_missing), and one never judged so (or never issued) stays missing.
TEST_F(ApologyTest, AnApologyStoredWithoutItsInstantKeepsItsJudgement) {
  DossierState stored = Apply(PausedReceipt());
  ASSERT_FALSE(stored.apology_at.has_value());
  EXPECT_EQ(BreachAlerts(stored), kBreachAndApologyMissing);
  stored.legacy_apology_issued = true;
  EXPECT_TRUE(ApologyIssuedInTime(stored));
  EXPECT_EQ(BreachAlerts(stored), kBreachOnly);
  // A later apology (after the deadline) does not undo it.
  const DossierState later =
      ApplyEvent(&stored, Apology("a", "2026-03-05 10:00"), PartitionId(0), ctx_).state;
  EXPECT_EQ(BreachAlerts(later), kBreachOnly);
}

}  // namespace
}  // namespace iocstream::rules
