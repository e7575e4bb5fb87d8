// Supplement and payment pauses paired apart (domain.md §1.1 statuses 5 and 6, §1.3): each
// kind's request is ended by its own receipt only, the clock stands still while either waits
// (their union, time paused by both counted once), a closed pause keeps its whole credit when
// another is still open, only a completed supplement restarts the clock, a payment receipt
// still ends a payment wait once payments no longer pause, and a store written before the
// kinds were kept (its payment requests read back as a supplement's) is not left paused.
//
// Shipped 2025 + 2026 calendar (working hours 07:00-11:30, 13:30-17:00); times are local. The
// dossier is received Mon 2 Mar 2026 09:00 with 2 working days (16 h): due Wed 4 Mar 09:00.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "iocstream/rules/dossier_state_machine.h"
#include "unit/rules/test_support.h"

namespace iocstream::rules {
namespace {

using testing::FormatLocal;
using testing::Local;
using testing::ShippedCalendar;

constexpr int64_t kHourMs = 3600 * 1000;

class PauseKindsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto catalog = ProcedureCatalog::Create({
        ProcedureRule{"1.002856", "2 working days", LegalDuration{2, DurationUnit::kWorkingDays},
                      std::nullopt, std::nullopt, std::nullopt},
    });
    ASSERT_TRUE(catalog.has_value()) << catalog.error().message;
    catalog_ = std::move(*catalog);
    ctx_.calendar = &ShippedCalendar();
    ctx_.catalog = &catalog_;
    ctx_.policy.payment_pauses = true;
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
  static DossierEvent Received() { return Event("r", EventType::kReceived, "2026-03-02 09:00"); }
  static DossierEvent SupplementRequested(const char* at) {
    return Event("q", EventType::kSupplementRequested, at);
  }
  static DossierEvent SupplementReceived(const char* at) {
    return Event("s", EventType::kSupplementReceived, at);
  }
  static DossierEvent PaymentRequested(const char* at) {
    return Event("p", EventType::kPaymentRequested, at);
  }
  static DossierEvent PaymentReceived(const char* at) {
    return Event("f", EventType::kPaymentReceived, at);
  }

  static DossierState ApplyTo(std::optional<DossierState> s,
                              const std::vector<DossierEvent>& events, const RulesContext& ctx,
                              std::vector<AlertIntent>* alerts = nullptr) {
    for (const auto& e : events) {
      EventResult r = ApplyEvent(s ? &*s : nullptr, e, PartitionId(0), ctx);
      if (alerts) alerts->insert(alerts->end(), r.alerts.begin(), r.alerts.end());
      s = std::move(r.state);
    }
    return *s;
  }
  DossierState Apply(const std::vector<DossierEvent>& events) const {
    return ApplyTo(std::nullopt, events, ctx_);
  }
  // The state `events` give under `ctx` as a store written before kinds were kept holds it
  // (dossier encoding version 3): every pause mark read back as a legacy one (state_test
  // DossierCodecTest.Version3MarksReadBackAsLegacyMarks).
  static DossierState StoredBeforeKinds(const std::vector<DossierEvent>& events,
                                        const RulesContext& ctx) {
    DossierState s = ApplyTo(std::nullopt, events, ctx);
    for (PauseMark& m : s.pause_marks) m.kind = PauseKind::kLegacy;
    return s;
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

// Nested or overlapping waits of the two kinds stop the clock over their union, Mon 10:00 -
// Tue 14:00 (10 working hours, 28 h), counted once: due Wed 09:00 + 10 h = Thu 11:00, whichever
// wait is the outer one, whichever ends first, in every arrival order of the five events. The
// shared pairing ended the pause at the first receipt (defect 1: an early deadline).
TEST_F(PauseKindsTest, OverlappingWaitsOfBothKindsStopTheClockOverTheirUnion) {
  const std::vector<std::vector<DossierEvent>> cases = {
      // A payment inside the wait for a supplement, and the reverse.
      {Received(), SupplementRequested("2026-03-02 10:00"), PaymentRequested("2026-03-02 14:00"),
       PaymentReceived("2026-03-03 09:00"), SupplementReceived("2026-03-03 14:00")},
      {Received(), PaymentRequested("2026-03-02 10:00"), SupplementRequested("2026-03-02 14:00"),
       SupplementReceived("2026-03-03 09:00"), PaymentReceived("2026-03-03 14:00")},
      // Overlapping: the first wait ends inside the second.
      {Received(), SupplementRequested("2026-03-02 10:00"), PaymentRequested("2026-03-02 14:00"),
       SupplementReceived("2026-03-03 09:00"), PaymentReceived("2026-03-03 14:00")},
      {Received(), PaymentRequested("2026-03-02 10:00"), SupplementRequested("2026-03-02 14:00"),
       PaymentReceived("2026-03-03 09:00"), SupplementReceived("2026-03-03 14:00")},
  };
  const std::vector<PauseInterval> union_pause = {
      {Local("2026-03-02 10:00"), Local("2026-03-03 14:00")}};
  for (size_t c = 0; c < cases.size(); ++c) {
    const size_t orders =
        ForEveryArrivalOrder(cases[c], [&](const DossierState& s, const std::string& order) {
          ASSERT_TRUE(s.due_at.has_value()) << "case " << c << ", " << order;
          EXPECT_EQ(FormatLocal(*s.due_at), "2026-03-05 11:00") << "case " << c << ", " << order;
          EXPECT_EQ(s.pauses, union_pause) << "case " << c << ", " << order;
          EXPECT_EQ(s.paused_ms, 28 * kHourMs) << "case " << c << ", " << order;
          EXPECT_FALSE(s.paused_since.has_value()) << "case " << c << ", " << order;
        });
    EXPECT_EQ(orders, 120u);
  }
}

// Waits that only touch (a payment requested the minute the supplement arrives) are two
// pauses, as two rounds of one kind are: Mon 10:00 - 14:00 and Mon 14:00 - Tue 09:00.
TEST_F(PauseKindsTest, WaitsOfTwoKindsThatTouchStayTwoPauses) {
  const DossierState s = Apply(
      {Received(), SupplementRequested("2026-03-02 10:00"), SupplementReceived("2026-03-02 14:00"),
       PaymentRequested("2026-03-02 14:00"), PaymentReceived("2026-03-03 09:00")});
  ASSERT_EQ(s.pauses.size(), 2u);
  EXPECT_EQ(FormatLocal(s.pauses[0].end), "2026-03-02 14:00");
  EXPECT_EQ(FormatLocal(s.pauses[1].start), "2026-03-02 14:00");
  EXPECT_EQ(s.paused_ms, 23 * kHourMs);
  EXPECT_EQ(FormatLocal(*s.due_at), "2026-03-05 08:00");  // + 2 + 5 working hours
}

// A wait still open holds the clock whatever the other kind does (defect 1): a payment made
// while the supplement is awaited, or a supplement round while the payment is, ends nothing.
// The closed wait (Mon 14:00 - Tue 09:00, 5 working hours) keeps its whole credit (due Wed
// 16:00), and the open one's effective start moves by as much (Mon 10:00 + 5 h = Mon 17:00),
// so the dossier, stopped with 7 working hours left, is never overdue while it waits.
TEST_F(PauseKindsTest, AnOpenWaitOfOneKindIsNotEndedByTheOther) {
  const std::vector<std::vector<DossierEvent>> cases = {
      {Received(), SupplementRequested("2026-03-02 10:00"), PaymentRequested("2026-03-02 14:00"),
       PaymentReceived("2026-03-03 09:00")},
      {Received(), PaymentRequested("2026-03-02 10:00"), SupplementRequested("2026-03-02 14:00"),
       SupplementReceived("2026-03-03 09:00")},
  };
  for (size_t c = 0; c < cases.size(); ++c) {
    const size_t orders =
        ForEveryArrivalOrder(cases[c], [&](const DossierState& s, const std::string& order) {
          ASSERT_TRUE(s.paused_since.has_value()) << "case " << c << ", " << order;
          EXPECT_EQ(FormatLocal(*s.paused_since), "2026-03-02 17:00") << c << order;
          ASSERT_EQ(s.pauses.size(), 1u) << c << order;
          EXPECT_EQ(FormatLocal(s.pauses[0].start), "2026-03-02 14:00") << c << order;
          EXPECT_EQ(s.paused_ms, 19 * kHourMs) << c << order;
          EXPECT_EQ(FormatLocal(*s.due_at), "2026-03-04 16:00") << c << order;
          EXPECT_FALSE(IsOverdueAt(s, Local("2026-03-20 09:00"))) << c << order;
          EXPECT_TRUE(DesiredTimers(s).empty()) << c << order;  // no breach timer while paused
        });
    EXPECT_EQ(orders, 24u);
  }
}

// The overdue check of a dossier still waiting agrees with the union: it is overdue when the
// running clock passed the deadline before the first wait stopped it, whatever the credit of
// the closed wait. Payment Wed 10:00 - Thu 10:00 (8 working hours: due Thu 09:00), supplement
// requested Wed 14:00 and awaited: the clock stopped at Wed 10:00, an hour after the due time
// (overdue); with the payment requested Wed 08:00 instead (due Thu 11:00), an hour before it.
TEST_F(PauseKindsTest, AWaitingDossierIsOverdueOnlyIfTheClockPassedTheDueTimeBeforeItStopped) {
  const DossierState late =
      Apply({Received(), PaymentRequested("2026-03-04 10:00"), PaymentReceived("2026-03-05 10:00"),
             SupplementRequested("2026-03-04 14:00")});
  EXPECT_EQ(FormatLocal(*late.due_at), "2026-03-05 09:00");
  EXPECT_EQ(FormatLocal(*late.paused_since), "2026-03-05 10:00");
  EXPECT_TRUE(IsOverdueAt(late, Local("2026-03-20 09:00")));
  const DossierState in_time =
      Apply({Received(), PaymentRequested("2026-03-04 08:00"), PaymentReceived("2026-03-05 10:00"),
             SupplementRequested("2026-03-04 14:00")});
  EXPECT_EQ(FormatLocal(*in_time.due_at), "2026-03-05 11:00");
  EXPECT_EQ(FormatLocal(*in_time.paused_since), "2026-03-05 10:00");
  EXPECT_FALSE(IsOverdueAt(in_time, Local("2026-03-20 09:00")));
}

// The attack on the first attempt (a): a closed payment wait (Mon 14:00 - Tue 14:00, 8 working
// hours: due Thu 09:00) overlapping a supplement request still open at the completion (Tue
// 10:00) keeps its credit. Folding the payment into the open pause lost its credit (due Wed
// 09:00) and made it late: paused longer, yet due earlier. The open wait counts up to the
// completion (Wed 16:00), united with the payment's: one pause Mon 14:00 - Wed 16:00, as when
// the supplement's end is sent after the completion, in every arrival order; early.
TEST_F(PauseKindsTest, AClosedWaitOverlappingOneOpenAtTheCompletionKeepsItsCredit) {
  const DossierState payment_only =
      Apply({Received(), PaymentRequested("2026-03-02 14:00"), PaymentReceived("2026-03-03 14:00"),
             Event("c", EventType::kCompleted, "2026-03-04 16:00")});
  ASSERT_EQ(FormatLocal(*payment_only.due_at), "2026-03-05 09:00");
  ASSERT_EQ(payment_only.outcome, Outcome::kEarly);

  // Before the completion: stopped at Mon 14:00 with 3 working hours left, not overdue; the
  // open request's effective start is Tue 10:00 + the 2 working hours of the payment wait
  // after it (Tue 14:00), before the due time, as the clock stopped before it.
  const DossierState waiting =
      Apply({Received(), PaymentRequested("2026-03-02 14:00"), PaymentReceived("2026-03-03 14:00"),
             SupplementRequested("2026-03-03 10:00")});
  EXPECT_EQ(FormatLocal(*waiting.due_at), "2026-03-05 09:00");
  EXPECT_EQ(FormatLocal(*waiting.paused_since), "2026-03-03 14:00");
  EXPECT_FALSE(IsOverdueAt(waiting, Local("2026-03-20 09:00")));

  const std::vector<DossierEvent> events = {Received(), PaymentRequested("2026-03-02 14:00"),
                                            PaymentReceived("2026-03-03 14:00"),
                                            SupplementRequested("2026-03-03 10:00"),
                                            Event("c", EventType::kCompleted, "2026-03-04 16:00")};
  std::vector<DossierEvent> ended_later_events = events;
  ended_later_events.push_back(SupplementReceived("2026-03-06 09:00"));
  const DossierState ended_later = Apply(ended_later_events);
  ASSERT_EQ(ended_later.pauses.size(), 1u);
  EXPECT_EQ(FormatLocal(ended_later.pauses[0].start), "2026-03-02 14:00");
  EXPECT_EQ(FormatLocal(ended_later.pauses[0].end), "2026-03-04 16:00");
  EXPECT_GT(*ended_later.due_at, *payment_only.due_at);
  const size_t orders =
      ForEveryArrivalOrder(events, [&](const DossierState& s, const std::string& order) {
        ASSERT_TRUE(s.due_at.has_value()) << order;
        EXPECT_EQ(*s.due_at, *ended_later.due_at) << order << " " << FormatLocal(*s.due_at);
        EXPECT_EQ(s.outcome, Outcome::kEarly) << order;
        EXPECT_EQ(s.pauses, ended_later.pauses) << order;
        EXPECT_FALSE(s.paused_since.has_value()) << order;
      });
  EXPECT_EQ(orders, 120u);

  // In order, no event raises completed_late.
  std::optional<DossierState> s;
  for (const DossierEvent& e : events) {
    EventResult r = ApplyEvent(s ? &*s : nullptr, e, PartitionId(0), ctx_);
    for (const AlertIntent& a : r.alerts)
      EXPECT_NE(a.kind, AlertKind::kCompletedLate) << e.event_id;
    s = std::move(r.state);
  }
}

// Restart (domain.md §1.3): only a completed supplement restarts the legal duration; a payment
// wait shifts the deadline by its working time (defect 2: it restarted too). A supplement
// completed inside a payment wait restarts the duration when the clock runs again, at the end
// of their union.
TEST_F(PauseKindsTest, UnderTheRestartPolicyOnlyACompletedSupplementRestarts) {
  ctx_.policy.default_pause_policy = PausePolicy::kRestart;
  // Payment Mon 14:00 - Tue 14:00 (8 working hours): Thu 09:00, not 16 h from Tue 14:00.
  const DossierState payment = Apply(
      {Received(), PaymentRequested("2026-03-02 14:00"), PaymentReceived("2026-03-03 14:00")});
  EXPECT_EQ(FormatLocal(*payment.due_at), "2026-03-05 09:00");
  // Supplement Mon 10:00 - Tue 09:00 (restart: Thu 09:00), then payment Tue 14:00 - Wed 09:00
  // (5 working hours): Thu 16:00.
  const DossierState both = Apply(
      {Received(), SupplementRequested("2026-03-02 10:00"), SupplementReceived("2026-03-03 09:00"),
       PaymentRequested("2026-03-03 14:00"), PaymentReceived("2026-03-04 09:00")});
  EXPECT_EQ(FormatLocal(*both.due_at), "2026-03-05 16:00");
  // A recompute with unchanged rules knows which pause restarts: the state is unchanged.
  EXPECT_EQ(RecomputeDeadline(both, ctx_, Local("2026-03-04 10:00")), both);
  // Nested either way, in every arrival order: 16 working hours from Tue 14:00, Thu 14:00.
  for (const auto& events :
       {std::vector<DossierEvent>{Received(), PaymentRequested("2026-03-02 10:00"),
                                  SupplementRequested("2026-03-02 14:00"),
                                  SupplementReceived("2026-03-03 09:00"),
                                  PaymentReceived("2026-03-03 14:00")},
        std::vector<DossierEvent>{Received(), SupplementRequested("2026-03-02 10:00"),
                                  PaymentRequested("2026-03-02 14:00"),
                                  PaymentReceived("2026-03-03 09:00"),
                                  SupplementReceived("2026-03-03 14:00")}}) {
    ForEveryArrivalOrder(events, [&](const DossierState& s, const std::string& order) {
      ASSERT_TRUE(s.due_at.has_value()) << order;
      EXPECT_EQ(FormatLocal(*s.due_at), "2026-03-05 14:00") << order;
      EXPECT_EQ(RecomputeDeadline(s, ctx_, Local("2026-03-04 10:00")), s) << order;
    });
  }
  // A supplement completed while the payment is still awaited: restarted at Tue 09:00, the
  // clock still stopped there (never overdue while waiting).
  const DossierState waiting =
      Apply({Received(), PaymentRequested("2026-03-02 10:00"),
             SupplementRequested("2026-03-02 14:00"), SupplementReceived("2026-03-03 09:00")});
  EXPECT_EQ(FormatLocal(*waiting.due_at), "2026-03-05 09:00");
  EXPECT_EQ(FormatLocal(*waiting.paused_since), "2026-03-03 09:00");
  EXPECT_FALSE(IsOverdueAt(waiting, Local("2026-03-20 09:00")));
}

// Defect 3: payments stop pausing (sla.payment_pauses turned off) while a dossier waits for
// one. Its receipt still ends the payment wait opened before; a supplement wait is untouched.
TEST_F(PauseKindsTest, APaymentReceivedEndsItsWaitAfterPaymentsStopPausing) {
  RulesContext off = ctx_;
  off.policy.payment_pauses = false;
  const DossierState waiting = Apply({Received(), PaymentRequested("2026-03-02 14:00")});
  ASSERT_TRUE(waiting.paused_since.has_value());
  const DossierState paid = ApplyTo(waiting, {PaymentReceived("2026-03-03 14:00")}, off);
  EXPECT_FALSE(paid.paused_since.has_value());
  EXPECT_EQ(paid.pauses,
            (std::vector<PauseInterval>{{Local("2026-03-02 14:00"), Local("2026-03-03 14:00")}}));
  EXPECT_EQ(FormatLocal(*paid.due_at), "2026-03-05 09:00");

  // Payments off from the start: a payment received adds no mark and ends no supplement wait.
  const DossierState supplement =
      ApplyTo(std::nullopt,
              {Received(), SupplementRequested("2026-03-02 10:00"),
               PaymentRequested("2026-03-02 14:00"), PaymentReceived("2026-03-03 14:00")},
              off);
  EXPECT_EQ(supplement.pause_marks.size(), 1u);
  ASSERT_TRUE(supplement.paused_since.has_value());
  EXPECT_EQ(FormatLocal(*supplement.paused_since), "2026-03-02 10:00");
  // A payment wait opened while payments paused, a supplement requested, then the payment
  // received with payments off: the payment wait ends (Mon 14:00 - Tue 14:00), the supplement
  // wait (from Mon 15:00, effectively Tue 14:00) does not.
  const DossierState both = ApplyTo(Apply({Received(), PaymentRequested("2026-03-02 14:00"),
                                           SupplementRequested("2026-03-02 15:00")}),
                                    {PaymentReceived("2026-03-03 14:00")}, off);
  ASSERT_TRUE(both.paused_since.has_value());
  EXPECT_EQ(FormatLocal(*both.paused_since), "2026-03-03 14:00");
  ASSERT_EQ(both.pauses.size(), 1u);
  EXPECT_EQ(FormatLocal(both.pauses[0].end), "2026-03-03 14:00");
  // A payment received before any payment request held, with payments off: no mark.
  const DossierState early = ApplyTo(Apply({Received(), PaymentRequested("2026-03-03 14:00")}),
                                     {PaymentReceived("2026-03-02 14:00")}, off);
  EXPECT_EQ(early.pause_marks.size(), 1u);
}

// The attack on the first attempt (b): a store written before the kinds were kept, with
// payments pausing, holds a payment request as a legacy start (dossier encoding version 3,
// PauseKind::kLegacy). Its receipt ends that wait as the shared pairing did, instead of leaving
// the dossier paused for good. A payment receipt in a new store ends only the payment wait.
TEST_F(PauseKindsTest, AReceiptEndsALegacyWaitButOnlyThePaymentWaitOfANewStore) {
  // As read from version 3: the payment request Mon 14:00 is a legacy start.
  DossierState stored =
      StoredBeforeKinds({Received(), SupplementRequested("2026-03-02 14:00")}, ctx_);
  stored.supplement_requests = 0;
  stored.status = stored.event_status = DossierStatus::kWaitingPayment;
  ASSERT_TRUE(stored.paused_since.has_value());
  const DossierState paid = ApplyTo(stored, {PaymentReceived("2026-03-03 14:00")}, ctx_);
  EXPECT_FALSE(paid.paused_since.has_value());
  EXPECT_EQ(paid.pauses,
            (std::vector<PauseInterval>{{Local("2026-03-02 14:00"), Local("2026-03-03 14:00")}}));
  EXPECT_EQ(FormatLocal(*paid.due_at), "2026-03-05 09:00");
  EXPECT_EQ(paid.status, DossierStatus::kInProgress);

  // With its payment request seen (in any arrival order), the receipt ends the payment wait
  // only: the supplement requested Mon 10:00 is still awaited, effectively from Mon 10:00 + the
  // 8 working hours of the payment wait = Tue 10:00.
  const std::vector<DossierEvent> events = {Received(), SupplementRequested("2026-03-02 10:00"),
                                            PaymentRequested("2026-03-02 14:00"),
                                            PaymentReceived("2026-03-03 14:00")};
  ForEveryArrivalOrder(events, [&](const DossierState& s, const std::string& order) {
    ASSERT_TRUE(s.paused_since.has_value()) << order;
    EXPECT_EQ(FormatLocal(*s.paused_since), "2026-03-03 10:00") << order;
    EXPECT_EQ(FormatLocal(*s.due_at), "2026-03-05 09:00") << order;
    EXPECT_EQ(s.status, DossierStatus::kWaitingSupplement) << order;
  });
}

// The mark bound (kMaxPauseMarks) counts a payment receipt with payments off only when it adds
// a mark: when a payment wait opened before it is held.
TEST_F(PauseKindsTest, TheMarkBoundCountsAPaymentReceiptThatEndsAWait) {
  RulesContext off = ctx_;
  off.policy.payment_pauses = false;
  DossierState full = Apply({Received()});
  for (size_t k = 0; k < kMaxPauseMarks; ++k) {
    full.pause_marks.push_back(
        {Local("2026-03-02 10:00") + std::chrono::minutes(static_cast<int64_t>(k)), k % 2 == 0});
  }
  const DossierEvent paid = PaymentReceived("2026-03-10 09:00");
  EXPECT_FALSE(PauseMarksFull(full, paid, off));
  EXPECT_TRUE(PauseMarksFull(full, paid, ctx_));
  full.pause_marks.back() = {Local("2026-03-09 09:00"), true, PauseKind::kPayment};
  EXPECT_TRUE(PauseMarksFull(full, paid, off));
}

// Random waits of both kinds, nested, overlapping, apart or still open (a fixed seed), under
// the pause and restart policies, against the union of their intervals worked out here. The
// clock starts at the receipt and, under restart, again at the end of each part of the union
// that holds a supplement's wait; the deadline is 16 working hours of running clock after its
// last start, plus the working time of the union's later parts. A dossier still waiting is
// overdue exactly when its running clock passed those 16 hours before the union stopped it for
// good. A shuffled arrival order gives the same pauses, deadline and paused_since.
TEST_F(PauseKindsTest, RandomWaitsMatchTheUnionOfTheirIntervals) {
  const BusinessCalendar& calendar = ShippedCalendar();
  // Instants at :15 and :45 within the working sessions of Mon 2 - Tue 10 Mar 2026.
  std::vector<Instant> grid;
  for (const char* day : {"2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05", "2026-03-06",
                          "2026-03-09", "2026-03-10"}) {
    for (int minutes = 7 * 60 + 15; minutes < 17 * 60; minutes += 30) {
      if (minutes > 11 * 60 + 30 && minutes < 13 * 60 + 30) continue;
      char text[32];
      std::snprintf(text, sizeof text, "%s %02d:%02d", day, minutes / 60, minutes % 60);
      if (Local(text) > Local("2026-03-02 09:00")) grid.push_back(Local(text));
    }
  }
  const Instant received = Local("2026-03-02 09:00");
  const Millis legal = std::chrono::hours(16);
  struct Part {
    PauseInterval interval;
    bool supplement = false;  // holds a supplement's wait
  };
  std::mt19937 rng(20261204);
  for (const PausePolicy policy : {PausePolicy::kPause, PausePolicy::kRestart}) {
    ctx_.policy.default_pause_policy = policy;
    const bool restarts = policy == PausePolicy::kRestart;
    size_t overdue_cases = 0;
    size_t waiting_cases = 0;
    for (int round = 0; round < 3000; ++round) {
      std::vector<DossierEvent> events = {Received()};
      std::vector<Part> closed;
      std::vector<Instant> open;
      for (const PauseKind kind : {PauseKind::kSupplement, PauseKind::kPayment}) {
        const bool payment = kind == PauseKind::kPayment;
        const int waits = static_cast<int>(rng() % 3);
        std::vector<size_t> at;
        while (at.size() < static_cast<size_t>(2 * waits)) {
          const size_t i = rng() % grid.size();
          if (std::find(at.begin(), at.end(), i) == at.end()) at.push_back(i);
        }
        std::sort(at.begin(), at.end());
        const bool last_open = waits > 0 && rng() % 3 == 0;
        for (int w = 0; w < waits; ++w) {
          const std::string id = (payment ? "p" : "q") + std::to_string(w);
          DossierEvent request = payment ? PaymentRequested("2026-03-02 09:00")
                                         : SupplementRequested("2026-03-02 09:00");
          request.event_id = id;
          request.occurred_at = grid[at[2 * w]];
          events.push_back(request);
          if (w == waits - 1 && last_open) {
            open.push_back(request.occurred_at);
            continue;
          }
          DossierEvent receipt = payment ? PaymentReceived("2026-03-02 09:00")
                                         : SupplementReceived("2026-03-02 09:00");
          receipt.event_id = id + "r";
          receipt.occurred_at = grid[at[2 * w + 1]];
          events.push_back(receipt);
          closed.push_back({{request.occurred_at, receipt.occurred_at}, !payment});
        }
      }
      std::sort(closed.begin(), closed.end(),
                [](const Part& a, const Part& b) { return a.interval.start < b.interval.start; });
      std::vector<Part> united;
      for (const Part& p : closed) {
        if (!united.empty() && p.interval.start < united.back().interval.end) {
          united.back().interval.end = std::max(united.back().interval.end, p.interval.end);
          united.back().supplement = united.back().supplement || p.supplement;
        } else {
          united.push_back(p);
        }
      }
      // The clock's last start, and the working time of the union after it.
      Instant clock_start = received;
      Millis later(0);
      for (const Part& p : united) {
        if (restarts && p.supplement) {
          clock_start = p.interval.end;
          later = Millis(0);
        } else {
          later += calendar.WorkingTimeBetween(p.interval.start, p.interval.end);
        }
      }

      const DossierState s = Apply(events);
      const std::string what = std::string(ToString(policy)) + " round " + std::to_string(round);
      std::vector<PauseInterval> intervals;
      for (const Part& p : united) intervals.push_back(p.interval);
      ASSERT_EQ(s.pauses, intervals) << what;
      ASSERT_TRUE(s.due_at.has_value()) << what;
      EXPECT_EQ(calendar.WorkingTimeBetween(clock_start, *s.due_at), legal + later) << what;
      EXPECT_EQ(s.paused_since.has_value(), !open.empty()) << what;
      if (!open.empty()) {
        ++waiting_cases;
        Instant stop = *std::min_element(open.begin(), open.end());
        for (auto p = united.rbegin(); p != united.rend(); ++p) {
          // In reverse: through chains of touching parts too.
          if (p->interval.start < stop && stop <= p->interval.end) stop = p->interval.start;
        }
        // The running clock when it stopped: from its last start before, less the union's
        // time; none when a supplement completed in the union after the stop restarted it.
        Instant start = received;
        bool restarted_after = false;
        for (const Part& p : united) {
          if (!restarts || !p.supplement) continue;
          if (p.interval.end <= stop) start = p.interval.end;
          if (p.interval.end > stop) restarted_after = true;
        }
        Millis running = restarted_after ? Millis(0) : calendar.WorkingTimeBetween(start, stop);
        for (const Part& p : united) {
          if (restarted_after || p.interval.end <= start || p.interval.start >= stop) continue;
          running -= calendar.WorkingTimeBetween(std::max(p.interval.start, start),
                                                 std::min(p.interval.end, stop));
        }
        const bool overdue = IsOverdueAt(s, Local("2026-04-30 09:00"));
        if (running != legal) {
          EXPECT_EQ(overdue, running > legal) << what;
        }
        overdue_cases += overdue ? 1 : 0;
      }
      std::vector<DossierEvent> shuffled = events;
      std::shuffle(shuffled.begin(), shuffled.end(), rng);
      const DossierState again = Apply(shuffled);
      EXPECT_EQ(again.pauses, s.pauses) << what;
      EXPECT_EQ(again.due_at, s.due_at) << what;
      EXPECT_EQ(again.paused_since, s.paused_since) << what;
    }
    // Both answers were exercised.
    EXPECT_GT(overdue_cases, 30u) << ToString(policy);
    EXPECT_GT(waiting_cases - overdue_cases, 30u) << ToString(policy);
  }
}

// Regression tests from the QA attack on pause kinds (session 33: each of these failed before
// the legacy kind), with payment pauses on (on_) and off (off_). Each states the expected
// answer worked out by hand on the same calendar and dossier as above.
class PauseKindsQaTest : public PauseKindsTest {
 protected:
  void SetUp() override {
    PauseKindsTest::SetUp();  // ctx_ with payment pauses on
    on_ = ctx_;
    off_ = ctx_;
    off_.policy.payment_pauses = false;
  }

  // A dossier as a store written before kinds were kept (dossier encoding version 3, shared
  // pairing) holds it after a payment_requested Mon 14:00 applied with sla.payment_pauses on:
  // one start mark, a legacy one once read back (state_test
  // DossierCodecTest.Version3MarksReadBackAsLegacyMarks). Status waiting for payment, no
  // supplement request counted.
  DossierState StoredByMainWaitingForPayment() const {
    DossierState s = StoredBeforeKinds(
        {Received(), Event("p", EventType::kSupplementRequested, "2026-03-02 14:00")}, on_);
    s.supplement_requests = 0;
    // The status was the latest event's.
    s.status = s.event_status = DossierStatus::kWaitingPayment;
    return s;
  }

  RulesContext on_;
  RulesContext off_;
};

// QA defect A. A store written before kinds were kept with payment pauses on, a dossier
// waiting for a payment at the upgrade, and sla.payment_pauses turned off with the upgrade (or
// any time after). The payment received ends the legacy wait: it holds more legacy requests
// than supplement requests were counted, so one was a payment's. The wait Mon 14:00 - Tue
// 14:00 (Mon 3 h + Tue 4.5 h + 0.5 h = 8 h) ends, due Wed 09:00 + 8 h = Thu 5 Mar 09:00,
// running (breach timer armed). Before the fix: paused for good.
TEST_F(PauseKindsQaTest, LegacyPaymentWaitEndsOnItsReceiptWithPaymentsTurnedOff) {
  const DossierState stored = StoredByMainWaitingForPayment();
  ASSERT_TRUE(stored.paused_since.has_value());
  const DossierState paid =
      ApplyTo(stored, {Event("f", EventType::kPaymentReceived, "2026-03-03 14:00")}, off_);
  EXPECT_FALSE(paid.paused_since.has_value())
      << "still paused since " << FormatLocal(*paid.paused_since);
  EXPECT_EQ(paid.pauses,
            (std::vector<PauseInterval>{{Local("2026-03-02 14:00"), Local("2026-03-03 14:00")}}));
  ASSERT_TRUE(paid.due_at.has_value());
  EXPECT_EQ(FormatLocal(*paid.due_at), "2026-03-05 09:00");
  EXPECT_TRUE(IsOverdueAt(paid, Local("2026-03-20 09:00")));
  EXPECT_FALSE(DesiredTimers(paid).empty());
  // The same with payments still on.
  const DossierState paid_on =
      ApplyTo(stored, {Event("f", EventType::kPaymentReceived, "2026-03-03 14:00")}, on_);
  EXPECT_FALSE(paid_on.paused_since.has_value());
}

// QA defect B. A store written before kinds were kept with payment pauses on, a dossier
// waiting for a payment at the upgrade (its request Mon 14:00 read back as a legacy start).
// After the upgrade the publisher sends the payment request again (a reminder, or the same
// status-6 row re-published under another event id; at the same instant or later), then the
// payment: its receipt ends the payment wait and the legacy one. One wait Mon 14:00 - Tue
// 14:00, 8 h: due Thu 5 Mar 09:00, running. Before the fix: paused for good.
TEST_F(PauseKindsQaTest, LegacyPaymentWaitEndsOnItsReceiptAfterAResentRequest) {
  for (const char* resent_at : {"2026-03-02 14:00", "2026-03-03 10:00"}) {
    const DossierState stored = StoredByMainWaitingForPayment();
    const DossierState paid = ApplyTo(stored,
                                      {Event("p-resent", EventType::kPaymentRequested, resent_at),
                                       Event("f", EventType::kPaymentReceived, "2026-03-03 14:00")},
                                      on_);
    EXPECT_FALSE(paid.paused_since.has_value())
        << "resent " << resent_at << ": still paused since " << FormatLocal(*paid.paused_since);
    ASSERT_TRUE(paid.due_at.has_value());
    EXPECT_EQ(FormatLocal(*paid.due_at), "2026-03-05 09:00") << resent_at;
    EXPECT_TRUE(IsOverdueAt(paid, Local("2026-03-20 09:00"))) << resent_at;
  }
}

// QA defect C. sla.payment_pauses turned on while a dossier waits for a payment requested
// while it was off (no mark), and the applicant is also asked for a supplement. Off: received,
// payment requested Mon 10:00, supplement requested Mon 14:00. On: payment received Tue
// 09:00. It does not end the supplement wait: still waiting since Mon 14:00, due Wed 09:00
// unchanged, not overdue, no timers. Before the fix: pause Mon 14:00 - Tue 09:00, due Wed
// 16:00, breach alert while the applicant still owed documents.
TEST_F(PauseKindsQaTest, PaymentsTurnedOnThenAReceiptLeavesTheSupplementWaitOpen) {
  const DossierState before =
      ApplyTo(std::nullopt,
              {Received(), Event("p", EventType::kPaymentRequested, "2026-03-02 10:00"),
               Event("q", EventType::kSupplementRequested, "2026-03-02 14:00")},
              off_);
  ASSERT_TRUE(before.paused_since.has_value());
  const DossierState after =
      ApplyTo(before, {Event("f", EventType::kPaymentReceived, "2026-03-03 09:00")}, on_);
  ASSERT_TRUE(after.paused_since.has_value()) << "the supplement wait was ended by the payment";
  EXPECT_EQ(FormatLocal(*after.paused_since), "2026-03-02 14:00");
  EXPECT_TRUE(after.pauses.empty());
  EXPECT_EQ(FormatLocal(*after.due_at), "2026-03-04 09:00");
  EXPECT_TRUE(DesiredTimers(after).empty());
}

// QA defect C'. Payments on throughout; the publisher sends a payment_received without a
// payment_requested (a fee paid online during processing, status 6 never set). It does not
// end the supplement wait, nor, under the restart policy, restart the duration. Supplement
// requested Mon 10:00, fee paid Tue 09:00, supplement received Wed 09:00. Pause: Mon 10:00 -
// Wed 09:00 = Mon 5 h + Tue 8 h + Wed 2 h = 15 h, due Wed 09:00 + 15 h = Fri 6 Mar 08:00.
// Restart: 16 h from Wed 09:00 = Fri 09:00. The same in every arrival order. Before the fix:
// Thu 08:00 and Thu 09:00.
TEST_F(PauseKindsQaTest, AReceiptWithoutItsRequestLeavesTheSupplementWaitOpen) {
  std::vector<DossierEvent> events = {
      Received(), Event("q", EventType::kSupplementRequested, "2026-03-02 10:00"),
      Event("f", EventType::kPaymentReceived, "2026-03-03 09:00"),
      Event("s", EventType::kSupplementReceived, "2026-03-04 09:00")};
  RulesContext restart = on_;
  restart.policy.default_pause_policy = PausePolicy::kRestart;
  auto by_id = [](const DossierEvent& a, const DossierEvent& b) { return a.event_id < b.event_id; };
  std::sort(events.begin(), events.end(), by_id);
  do {
    const DossierState pause = ApplyTo(std::nullopt, events, on_);
    EXPECT_EQ(FormatLocal(*pause.due_at), "2026-03-06 08:00");
    const DossierState restarted = ApplyTo(std::nullopt, events, restart);
    EXPECT_EQ(FormatLocal(*restarted.due_at), "2026-03-06 09:00");
  } while (std::next_permutation(events.begin(), events.end(), by_id));
}

// QA defect C', out of order: the payment received Tue 09:00 arrives before its request Mon
// 14:00, while a supplement requested Mon 10:00 is still awaited. At every step the dossier
// stays paused since Mon 10:00 (no breach timer, so no false breach or apology alert in
// between); once the request arrives, the payment wait Mon 14:00 - Tue 09:00 (5 h) inside the
// supplement wait keeps its credit: due Wed 16:00, effective stop Mon 10:00 + 5 h = Mon 17:00.
TEST_F(PauseKindsQaTest, AReceiptBeforeItsRequestNeverRunsTheClockOfASupplementWait) {
  const std::vector<DossierEvent> events = {
      Received(), Event("q", EventType::kSupplementRequested, "2026-03-02 10:00"),
      Event("f", EventType::kPaymentReceived, "2026-03-03 09:00"),
      Event("p", EventType::kPaymentRequested, "2026-03-02 14:00")};
  for (size_t n = 2; n <= events.size(); ++n) {
    const DossierState s =
        ApplyTo(std::nullopt, std::vector<DossierEvent>(events.begin(), events.begin() + n), on_);
    const std::string& id = events[n - 1].event_id;
    ASSERT_TRUE(s.paused_since.has_value()) << id;
    const bool paired = n == events.size();
    EXPECT_EQ(FormatLocal(*s.paused_since), paired ? "2026-03-02 17:00" : "2026-03-02 10:00") << id;
    EXPECT_EQ(FormatLocal(*s.due_at), paired ? "2026-03-04 16:00" : "2026-03-04 09:00") << id;
    EXPECT_TRUE(DesiredTimers(s).empty()) << id;
    EXPECT_FALSE(IsOverdueAt(s, Local("2026-03-20 09:00"))) << id;
  }
}

// QA defect D. The status agrees with the open waits: supplement requested Mon 10:00 (still
// awaited), payment requested Mon 14:00 and received Tue 09:00. The latest event (the payment
// received) says in_progress, but the clock still stands for the supplement: waiting_supplement,
// in every arrival order. Payments on: the paid wait (Mon 14:00 - 17:00 + Tue 07:00 - 09:00 =
// 5 h) moves the due Wed 09:00 to Wed 16:00 and the effective stop to Mon 17:00; payments off
// (the default): the payment events pause nothing, stopped since Mon 10:00, due Wed 09:00.
// Before the fix: in_progress.
TEST_F(PauseKindsQaTest, StatusShowsASupplementStillAwaitedAfterAPayment) {
  const std::vector<DossierEvent> events = {
      Received(), Event("q", EventType::kSupplementRequested, "2026-03-02 10:00"),
      Event("p", EventType::kPaymentRequested, "2026-03-02 14:00"),
      Event("f", EventType::kPaymentReceived, "2026-03-03 09:00")};
  struct Case {
    const RulesContext& ctx;
    const char* paused_since;
    const char* due;
  };
  for (const Case& c : {Case{on_, "2026-03-02 17:00", "2026-03-04 16:00"},
                        Case{off_, "2026-03-02 10:00", "2026-03-04 09:00"}}) {
    const size_t orders = testing::ForEveryArrivalOrder(
        events, [&](const std::vector<DossierEvent>& e) { return ApplyTo(std::nullopt, e, c.ctx); },
        [&](const DossierState& s, const std::string& order) {
          ASSERT_TRUE(s.paused_since.has_value()) << order;
          EXPECT_EQ(FormatLocal(*s.paused_since), c.paused_since) << order;
          EXPECT_EQ(FormatLocal(*s.due_at), c.due) << order;
          EXPECT_EQ(s.status, DossierStatus::kWaitingSupplement) << ToString(s.status) << order;
          EXPECT_EQ(s.event_status, DossierStatus::kInProgress) << order;  // the payment's
          EXPECT_EQ(s.status_at, Local("2026-03-03 09:00")) << order;
          EXPECT_TRUE(IsOpen(s)) << order;
          EXPECT_EQ(s.outcome, Outcome::kOpen) << order;
          EXPECT_TRUE(DesiredTimers(s).empty()) << order;
        });
    EXPECT_EQ(orders, 24u);
  }
}

// Once the supplement arrives the dossier shows the latest event's status again, also when the
// supplement (Mon 10:30) is older than the payment received (Tue 09:00) and arrives after it:
// in_progress, running, the two waits closed (Mon 10:00 - 10:30 = 0.5 h and the paid 5 h: due
// Wed 09:00 + 5.5 h = Wed 16:30 with payments on; Wed 09:30 with them off). A supplement
// received after the payment (Tue 14:00) gives in_progress too.
TEST_F(PauseKindsQaTest, StatusFollowsTheLatestEventOnceTheSupplementArrives) {
  for (const char* supplemented : {"2026-03-02 10:30", "2026-03-03 14:00"}) {
    const std::vector<DossierEvent> events = {
        Received(), Event("q", EventType::kSupplementRequested, "2026-03-02 10:00"),
        Event("p", EventType::kPaymentRequested, "2026-03-02 14:00"),
        Event("f", EventType::kPaymentReceived, "2026-03-03 09:00"),
        Event("s", EventType::kSupplementReceived, supplemented)};
    const bool early = std::string(supplemented) == "2026-03-02 10:30";
    for (const RulesContext* ctx : {&on_, &off_}) {
      testing::ForEveryArrivalOrder(
          events,
          [&](const std::vector<DossierEvent>& e) { return ApplyTo(std::nullopt, e, *ctx); },
          [&](const DossierState& s, const std::string& order) {
            EXPECT_FALSE(s.paused_since.has_value()) << order;
            EXPECT_EQ(s.status, DossierStatus::kInProgress) << ToString(s.status) << order;
            EXPECT_EQ(s.status, s.event_status) << order;
            if (early) {
              EXPECT_EQ(FormatLocal(*s.due_at),
                        ctx == &on_ ? "2026-03-04 16:30" : "2026-03-04 09:30")
                  << order;
            }
          });
    }
  }
}

// An open payment wait (payments on) shows waiting_payment after a later transfer; with
// payments off the payment pauses nothing and the status is the latest event's, in_progress,
// as before. Payment requested Mon 14:00, transferred Tue 09:00. A supplement requested at
// Tue 10:00 as well: waiting_supplement, whatever the payment.
TEST_F(PauseKindsQaTest, StatusShowsAPaymentWaitThatStopsTheClock) {
  DossierEvent transferred = Event("t", EventType::kTransferred, "2026-03-03 09:00");
  transferred.to_agency_code = "000.00.13.H56";
  const std::vector<DossierEvent> events = {
      Received(), Event("p", EventType::kPaymentRequested, "2026-03-02 14:00"), transferred};
  for (const RulesContext* ctx : {&on_, &off_}) {
    testing::ForEveryArrivalOrder(
        events, [&](const std::vector<DossierEvent>& e) { return ApplyTo(std::nullopt, e, *ctx); },
        [&](const DossierState& s, const std::string& order) {
          EXPECT_EQ(s.status,
                    ctx == &on_ ? DossierStatus::kWaitingPayment : DossierStatus::kInProgress)
              << ToString(s.status) << order;
          EXPECT_EQ(s.event_status, DossierStatus::kInProgress) << order;
        });
  }
  std::vector<DossierEvent> both = events;
  both.push_back(Event("q", EventType::kSupplementRequested, "2026-03-03 10:00"));
  both.push_back(Event("x", EventType::kTransferred, "2026-03-03 11:00"));
  both.back().to_agency_code = "000.00.14.H56";
  for (const RulesContext* ctx : {&on_, &off_}) {
    testing::ForEveryArrivalOrder(
        both, [&](const std::vector<DossierEvent>& e) { return ApplyTo(std::nullopt, e, *ctx); },
        [&](const DossierState& s, const std::string& order) {
          EXPECT_EQ(s.status, DossierStatus::kWaitingSupplement) << ToString(s.status) << order;
        });
  }
}

// A finished dossier is never reopened by an open wait: supplement requested Mon 10:00, never
// received, payment requested Mon 14:00 and received Tue 09:00, completed Tue 10:00 and the
// result returned Wed 09:00: completed, then returned, in every arrival order.
TEST_F(PauseKindsQaTest, AnOpenWaitDoesNotReopenAFinishedDossier) {
  std::vector<DossierEvent> events = {
      Received(), Event("q", EventType::kSupplementRequested, "2026-03-02 10:00"),
      Event("p", EventType::kPaymentRequested, "2026-03-02 14:00"),
      Event("f", EventType::kPaymentReceived, "2026-03-03 09:00"),
      Event("c", EventType::kCompleted, "2026-03-03 10:00")};
  ForEveryArrivalOrder(events, [&](const DossierState& s, const std::string& order) {
    EXPECT_EQ(s.status, DossierStatus::kCompleted) << ToString(s.status) << order;
    EXPECT_FALSE(IsOpen(s)) << order;
  });
  events.push_back(Event("o", EventType::kResultReturned, "2026-03-04 09:00"));
  ForEveryArrivalOrder(events, [&](const DossierState& s, const std::string& order) {
    EXPECT_EQ(s.status, DossierStatus::kReturned) << ToString(s.status) << order;
  });
}

// QA defect E. The effective stop is moved on the business calendar (AddWorkingTime), which
// maps an after-hours stop to the next working instant. Due Wed 4 Mar 17:00 (sent with the
// receipt), supplement requested Wed 18:45 (after the due: overdue, 17:00 < 18:45), then a
// payment wait Thu 09:00 - 10:00 entirely after the clock stopped: due Thu 08:00, and the
// effective stop stays after it by as much as the stop was after the due (1 h 45 min): Thu
// 09:45. Still overdue, breach flag kept. Before the fix: both Thu 08:00, not overdue, and
// Rearm cleared breach_fired.
TEST_F(PauseKindsQaTest, AnAfterHoursStopPastTheDueStaysOverdueThroughALaterWait) {
  DossierEvent received = Received();
  received.due_at = Local("2026-03-04 17:00");
  const DossierState stopped =
      ApplyTo(std::nullopt,
              {received, Event("q", EventType::kSupplementRequested, "2026-03-04 18:45")}, on_);
  ASSERT_TRUE(IsOverdueAt(stopped, Local("2026-03-05 12:00")));  // single kind: overdue
  DossierState fired = stopped;
  fired.breach_fired = true;
  EventResult r = ApplyEvent(&fired, Event("p", EventType::kPaymentRequested, "2026-03-05 09:00"),
                             PartitionId(0), on_, Local("2026-03-05 09:00"));
  r = ApplyEvent(&r.state, Event("f", EventType::kPaymentReceived, "2026-03-05 10:00"),
                 PartitionId(0), on_, Local("2026-03-05 10:00"));
  const DossierState& s = r.state;
  ASSERT_TRUE(s.paused_since.has_value());
  EXPECT_TRUE(IsOverdueAt(s, Local("2026-03-05 12:00")))
      << "due " << FormatLocal(*s.due_at) << ", effective stop " << FormatLocal(*s.paused_since);
  EXPECT_TRUE(s.breach_fired);
  EXPECT_EQ(FormatLocal(*s.due_at), "2026-03-05 08:00");
  EXPECT_EQ(FormatLocal(*s.paused_since), "2026-03-05 09:45");
  EXPECT_EQ(RecomputeDeadline(s, on_, Local("2026-03-05 10:00")), s);
  // Stopped at 16:45, before the due: not overdue, the effective stop before the due.
  const DossierState in_time =
      ApplyTo(std::nullopt,
              {received, Event("q", EventType::kSupplementRequested, "2026-03-04 16:45"),
               Event("p", EventType::kPaymentRequested, "2026-03-05 09:00"),
               Event("f", EventType::kPaymentReceived, "2026-03-05 10:00")},
              on_);
  EXPECT_FALSE(IsOverdueAt(in_time, Local("2026-03-05 12:00")));
}

// A store written before kinds were kept with payment pauses off (the default) holds
// supplement requests only, as legacy marks: a payment received, with payments still off,
// does not end that wait (as before the upgrade). Supplement requested Mon 14:00, paid Tue
// 14:00: still waiting since Mon 14:00, due Wed 09:00.
TEST_F(PauseKindsQaTest, LegacySupplementWaitOutlivesAPaymentWithPaymentsOff) {
  DossierState stored =
      StoredBeforeKinds({Received(), SupplementRequested("2026-03-02 14:00")}, off_);
  const DossierState paid =
      ApplyTo(stored, {Event("f", EventType::kPaymentReceived, "2026-03-03 14:00")}, off_);
  ASSERT_TRUE(paid.paused_since.has_value());
  EXPECT_EQ(FormatLocal(*paid.paused_since), "2026-03-02 14:00");
  EXPECT_EQ(paid.pause_marks.size(), 1u);
  EXPECT_EQ(FormatLocal(*paid.due_at), "2026-03-04 09:00");
}

// Legacy waits keep the shared pairing they were written under: a legacy end stored before its
// request arrived (a payment received Tue 14:00, out of order) ends the payment wait whose
// request arrives after the upgrade (Mon 14:00); under the restart policy a closed legacy wait
// restarts the duration (16 h from Tue 14:00 = Thu 14:00), as any end did; the recompute gives
// the same deadline.
TEST_F(PauseKindsQaTest, LegacyMarksKeepTheSharedPairing) {
  DossierState stored = StoredBeforeKinds(
      {Received(), Event("f", EventType::kSupplementReceived, "2026-03-03 14:00")}, on_);
  const DossierState s =
      ApplyTo(stored, {Event("p", EventType::kPaymentRequested, "2026-03-02 14:00")}, on_);
  EXPECT_FALSE(s.paused_since.has_value());
  EXPECT_EQ(FormatLocal(*s.due_at), "2026-03-05 09:00");

  RulesContext restart = on_;
  restart.policy.default_pause_policy = PausePolicy::kRestart;
  DossierState waiting = StoredByMainWaitingForPayment();
  const DossierState restarted =
      ApplyTo(waiting, {Event("f", EventType::kPaymentReceived, "2026-03-03 14:00")}, restart);
  EXPECT_FALSE(restarted.paused_since.has_value());
  EXPECT_EQ(FormatLocal(*restarted.due_at), "2026-03-05 14:00");
  EXPECT_EQ(RecomputeDeadline(restarted, restart, Local("2026-03-04 10:00")), restarted);
}

// The mark bound counts a payment receipt with payments off that ends a legacy payment wait.
TEST_F(PauseKindsQaTest, TheMarkBoundCountsAReceiptEndingALegacyWait) {
  DossierState full = StoredByMainWaitingForPayment();
  full.pause_marks.clear();
  for (size_t k = 0; k < kMaxPauseMarks; ++k) {
    full.pause_marks.push_back({Local("2026-03-02 10:00") + std::chrono::minutes(int64_t(k) * 2),
                                true, PauseKind::kLegacy});
  }
  const DossierEvent paid = Event("f", EventType::kPaymentReceived, "2026-03-10 09:00");
  EXPECT_TRUE(PauseMarksFull(full, paid, off_));
  full.supplement_requests = static_cast<int32_t>(kMaxPauseMarks);  // all supplements'
  EXPECT_FALSE(PauseMarksFull(full, paid, off_));
}

// HELD. Same-instant events of both kinds, every arrival order: supplement requested and
// payment requested both Mon 10:00, payment received Mon 14:00, supplement received Tue 09:00:
// one pause Mon 10:00 - Tue 09:00 (Mon 5 h + Tue 2 h = 7 h), due Wed 09:00 + 7 h = Thu 08:00.
TEST_F(PauseKindsQaTest, SameInstantRequestsOfBothKinds) {
  std::vector<DossierEvent> events = {
      Received(), Event("q", EventType::kSupplementRequested, "2026-03-02 10:00"),
      Event("p", EventType::kPaymentRequested, "2026-03-02 10:00"),
      Event("f", EventType::kPaymentReceived, "2026-03-02 14:00"),
      Event("s", EventType::kSupplementReceived, "2026-03-03 09:00")};
  std::sort(events.begin(), events.end(),
            [](const DossierEvent& a, const DossierEvent& b) { return a.event_id < b.event_id; });
  do {
    const DossierState s = ApplyTo(std::nullopt, events, on_);
    ASSERT_TRUE(s.due_at.has_value());
    EXPECT_EQ(FormatLocal(*s.due_at), "2026-03-05 08:00");
    EXPECT_EQ(s.paused_ms, 23 * kHourMs);
    EXPECT_FALSE(s.paused_since.has_value());
  } while (std::next_permutation(
      events.begin(), events.end(),
      [](const DossierEvent& a, const DossierEvent& b) { return a.event_id < b.event_id; }));
}

// HELD. Duplicates (same id, and another id at the same instant) change nothing: supplement
// Mon 10:00 - Tue 09:00 and payment Mon 14:00 - Tue 14:00 (union Mon 10:00 - Tue 14:00, 10 h):
// due Thu 11:00.
TEST_F(PauseKindsQaTest, DuplicatesOfBothKinds) {
  const DossierState s =
      ApplyTo(std::nullopt,
              {Received(), Event("q", EventType::kSupplementRequested, "2026-03-02 10:00"),
               Event("p", EventType::kPaymentRequested, "2026-03-02 14:00"),
               Event("p", EventType::kPaymentRequested, "2026-03-02 14:00"),
               Event("p2", EventType::kPaymentRequested, "2026-03-02 14:00"),
               Event("s", EventType::kSupplementReceived, "2026-03-03 09:00"),
               Event("f", EventType::kPaymentReceived, "2026-03-03 14:00"),
               Event("f2", EventType::kPaymentReceived, "2026-03-03 14:00")},
              on_);
  EXPECT_EQ(FormatLocal(*s.due_at), "2026-03-05 11:00");
  EXPECT_EQ(s.pause_marks.size(), 4u);
}

// HELD. A recompute (calendar reload with the same calendar) of a dossier waiting for a
// supplement with a closed payment wait inside gives the same state, also under restart.
TEST_F(PauseKindsQaTest, RecomputeKeepsEffectiveStop) {
  for (PausePolicy policy : {PausePolicy::kPause, PausePolicy::kRestart}) {
    RulesContext ctx = on_;
    ctx.policy.default_pause_policy = policy;
    const DossierState s =
        ApplyTo(std::nullopt,
                {Received(), Event("q", EventType::kSupplementRequested, "2026-03-02 10:00"),
                 Event("p", EventType::kPaymentRequested, "2026-03-02 14:00"),
                 Event("f", EventType::kPaymentReceived, "2026-03-03 09:00")},
                ctx);
    EXPECT_EQ(RecomputeDeadline(s, ctx, Local("2026-03-04 10:00")), s) << ToString(policy);
  }
}

// HELD. A wait open at the withdrawal: the payment wait closed inside keeps nothing that
// matters (cancelled), and the supplement received after the withdrawal adds nothing past it.
TEST_F(PauseKindsQaTest, WithdrawnWhileWaiting) {
  const DossierState s =
      ApplyTo(std::nullopt,
              {Received(), Event("q", EventType::kSupplementRequested, "2026-03-02 10:00"),
               Event("p", EventType::kPaymentRequested, "2026-03-02 14:00"),
               Event("w", EventType::kWithdrawn, "2026-03-03 10:00"),
               Event("f", EventType::kPaymentReceived, "2026-03-03 14:00"),
               Event("s", EventType::kSupplementReceived, "2026-03-04 09:00")},
              on_);
  EXPECT_EQ(s.outcome, Outcome::kCancelled);
  EXPECT_EQ(s.pauses,
            (std::vector<PauseInterval>{{Local("2026-03-02 10:00"), Local("2026-03-03 10:00")}}));
}

}  // namespace
}  // namespace iocstream::rules
