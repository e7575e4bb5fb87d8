// Regression tests from the QA attack on "pause kinds" (supplement and payment waits paired
// apart; QA branch pause-qa f92936d, whose Defect* tests failed before the legacy kind). Each
// test states the expected answer worked out by hand on the shipped calendar
// (config/calendars, working hours 07:00-11:30 and 13:30-17:00, times local) and the catalog
// rule used by pause_kinds_test.cc: received Mon 2 Mar 2026 09:00, 2 working days (16 h): due
// Wed 4 Mar 09:00.
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
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

class PauseKindsQaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto catalog = ProcedureCatalog::Create({
        ProcedureRule{"1.002856", "2 working days", LegalDuration{2, DurationUnit::kWorkingDays},
                      std::nullopt, std::nullopt, std::nullopt},
    });
    ASSERT_TRUE(catalog.has_value()) << catalog.error().message;
    catalog_ = std::move(*catalog);
    on_.calendar = &ShippedCalendar();
    on_.catalog = &catalog_;
    on_.policy.payment_pauses = true;
    off_ = on_;
    off_.policy.payment_pauses = false;
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

  // A dossier as a store written before kinds were kept (dossier encoding version 3, shared
  // pairing) holds it after a payment_requested Mon 14:00 applied with sla.payment_pauses on:
  // one start mark, a legacy one once read back (state_test
  // DossierCodecTest.Version3MarksReadBackAsLegacyMarks). Status waiting for payment, no
  // supplement request counted.
  DossierState StoredByMainWaitingForPayment() const {
    DossierState s =
        ApplyTo(std::nullopt,
                {Received(), Event("p", EventType::kSupplementRequested, "2026-03-02 14:00")}, on_);
    for (PauseMark& m : s.pause_marks) m.kind = PauseKind::kLegacy;
    s.supplement_requests = 0;
    s.status = DossierStatus::kWaitingPayment;
    return s;
  }

  ProcedureCatalog catalog_;
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

// QA defect D (documented, not changed). The status follows the latest event
// (docs/event-contract.md), so it reads in_progress after a payment receipt while the clock
// still stands for a supplement requested before: supplement requested Mon 10:00 (awaited),
// payment requested Mon 14:00 and received Tue 09:00. paused_since says the dossier waits.
TEST_F(PauseKindsQaTest, StatusFollowsTheLatestEventWhileASupplementIsAwaited) {
  const DossierState s =
      ApplyTo(std::nullopt,
              {Received(), Event("q", EventType::kSupplementRequested, "2026-03-02 10:00"),
               Event("p", EventType::kPaymentRequested, "2026-03-02 14:00"),
               Event("f", EventType::kPaymentReceived, "2026-03-03 09:00")},
              on_);
  ASSERT_TRUE(s.paused_since.has_value());
  EXPECT_EQ(FormatLocal(*s.paused_since), "2026-03-02 17:00");  // Mon 10:00 + the 5 h paid wait
  EXPECT_EQ(s.status, DossierStatus::kInProgress) << ToString(s.status);
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
      ApplyTo(std::nullopt,
              {Received(), Event("q", EventType::kSupplementRequested, "2026-03-02 14:00")}, off_);
  for (PauseMark& m : stored.pause_marks) m.kind = PauseKind::kLegacy;
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
  DossierState stored =
      ApplyTo(std::nullopt,
              {Received(), Event("f", EventType::kSupplementReceived, "2026-03-03 14:00")}, on_);
  for (PauseMark& m : stored.pause_marks) m.kind = PauseKind::kLegacy;
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
