// Dossier state machine rules found by the lifecycle scenarios (tests/data/scenarios): pauses
// whose events arrive out of order (the completion or the receipt first), the restart policy
// for calendar-day procedures, and overdue while paused. Shipped 2025 + 2026
// calendar; times are local.
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

class StateMachineRulesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto catalog = ProcedureCatalog::Create({
        ProcedureRule{"1.000253", "7 calendar days", LegalDuration{7, DurationUnit::kCalendarDays},
                      std::nullopt, std::nullopt, std::nullopt},
        ProcedureRule{"1.002856", "2 working days", LegalDuration{2, DurationUnit::kWorkingDays},
                      std::nullopt, std::nullopt, std::nullopt},
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

  ProcedureCatalog catalog_;
  RulesContext ctx_;
};

TEST_F(StateMachineRulesTest, InOrderPauseShiftsTheDeadline) {
  const DossierState s = Apply(PausedDossier());
  EXPECT_EQ(FormatLocal(*s.due_at), "2026-03-05 09:00");
  EXPECT_EQ(s.outcome, Outcome::kOnTime);
  EXPECT_EQ(s.paused_ms, 24 * 3600 * 1000);
}

// Every arrival order of the same four events gives the same deadline and outcome: the
// completion or the receipt arriving before the supplement events must not drop the pause.
TEST_F(StateMachineRulesTest, PauseEventsInAnyArrivalOrderGiveTheSameDeadline) {
  std::vector<DossierEvent> events = PausedDossier();
  std::vector<size_t> order = {0, 1, 2, 3};
  do {
    std::vector<DossierEvent> shuffled;
    std::string names;
    for (size_t i : order) {
      shuffled.push_back(events[i]);
      names += events[i].event_id;
    }
    const DossierState s = Apply(shuffled);
    EXPECT_EQ(FormatLocal(*s.due_at), "2026-03-05 09:00") << "arrival order " << names;
    EXPECT_EQ(s.outcome, Outcome::kOnTime) << "arrival order " << names;
    EXPECT_EQ(s.paused_ms, 24 * 3600 * 1000) << "arrival order " << names;
    EXPECT_EQ(s.status, DossierStatus::kCompleted) << "arrival order " << names;
  } while (std::next_permutation(order.begin(), order.end()));
}

TEST_F(StateMachineRulesTest, RequestAfterTheCompletionDoesNotPause) {
  const DossierState s = Apply({Event("r", EventType::kReceived, "2026-03-02 09:00"),
                                Event("c", EventType::kCompleted, "2026-03-04 10:00"),
                                Event("q", EventType::kSupplementRequested, "2026-03-04 11:00"),
                                Event("s", EventType::kSupplementReceived, "2026-03-05 09:00")});
  EXPECT_EQ(FormatLocal(*s.due_at), "2026-03-04 09:00");
  EXPECT_EQ(s.outcome, Outcome::kLate);
}

TEST_F(StateMachineRulesTest, CompletionWhilePausedWithoutItsEndKeepsTheDeadline) {
  const DossierState s = Apply({Event("r", EventType::kReceived, "2026-03-02 09:00"),
                                Event("q", EventType::kSupplementRequested, "2026-03-03 09:00"),
                                Event("c", EventType::kCompleted, "2026-03-04 10:00")});
  EXPECT_EQ(FormatLocal(*s.due_at), "2026-03-04 09:00");
  EXPECT_EQ(s.outcome, Outcome::kLate);
  EXPECT_EQ(s.paused_ms, 0);
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

}  // namespace
}  // namespace iocstream::rules
