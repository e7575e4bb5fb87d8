// PrepareReceiptDeadline: a receipt's deadline worked out ahead, on the thread that decodes the
// events, and taken by ApplyEvent in place of computing it only when its inputs are those it
// would compute from. The state must be the same whether the deadline was prepared or not.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "iocstream/rules/dossier_state_machine.h"
#include "unit/rules/test_support.h"

namespace iocstream::rules {
namespace {

using testing::Local;
using testing::ShippedCalendar;

class PreparedDeadlineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ProcedureRule five_days;
    five_days.code = "1.000001";
    five_days.in_person = LegalDuration{5, DurationUnit::kWorkingDays};
    five_days.online = LegalDuration{3, DurationUnit::kWorkingDays};
    auto catalog = ProcedureCatalog::Create({five_days});
    ASSERT_TRUE(catalog.has_value()) << catalog.error().message;
    catalog_ = std::move(*catalog);
    ctx_.calendar = &ShippedCalendar();
    ctx_.catalog = &catalog_;
    ctx_.generation = 7;
  }

  static DossierEvent Receipt(Channel channel, std::optional<Instant> due = std::nullopt) {
    DossierEvent e;
    e.event_id = "D1/r";
    e.dossier_id = "D1";
    e.type = EventType::kReceived;
    e.occurred_at = Local("2026-03-06 15:10");  // a Friday afternoon: the due spans a weekend
    e.agency_code = "SO-TP";
    e.procedure_code = "1.000001";
    e.channel = channel;
    e.due_at = due;
    return e;
  }

  DossierState Apply(const DossierEvent& e, const DossierState* prior = nullptr) const {
    return ApplyEvent(prior, e, PartitionId(0), ctx_).state;
  }

  ProcedureCatalog catalog_;
  RulesContext ctx_;
};

TEST_F(PreparedDeadlineTest, APreparedReceiptGivesTheStateComputedWithoutIt) {
  const std::optional<Instant> event_dues[] = {std::nullopt, Local("2026-03-20 10:00")};
  for (Channel channel : {Channel::kInPerson, Channel::kOnline}) {
    for (const std::optional<Instant>& due : event_dues) {
      const DossierEvent plain = Receipt(channel, due);
      DossierEvent prepared = plain;
      prepared.prepared_deadline = PrepareReceiptDeadline(prepared, ctx_);
      ASSERT_TRUE(prepared.prepared_deadline.has_value());
      const DossierState computed = Apply(plain);
      ASSERT_TRUE(computed.due_at.has_value());
      ASSERT_TRUE(computed.warning_at.has_value());
      EXPECT_EQ(Apply(prepared), computed)
          << "channel " << ToString(channel) << ", event due " << (due ? "given" : "none");
      EXPECT_EQ(prepared.prepared_deadline->due_at, *computed.due_at);
    }
  }
}

TEST_F(PreparedDeadlineTest, ItIsTakenOnlyWhenEveryInputMatches) {
  DossierEvent e = Receipt(Channel::kInPerson);
  e.prepared_deadline = PrepareReceiptDeadline(e, ctx_);
  ASSERT_TRUE(e.prepared_deadline.has_value());
  const DossierState computed = Apply(Receipt(Channel::kInPerson));
  // A prepared value marked so that taking it shows: a due time a year later.
  const Instant marked = computed.due_at.value() + std::chrono::hours(24 * 365);
  e.prepared_deadline->due_at = marked;
  EXPECT_EQ(Apply(e).due_at, marked) << "inputs match: taken";

  struct Case {
    std::string what;
    void (*change)(PreparedDeadline&, RulesContext&);
  };
  const Case cases[] = {
      {"other rules (a reload)", [](PreparedDeadline&, RulesContext& c) { ++c.generation; }},
      {"a context without a generation",
       [](PreparedDeadline&, RulesContext& c) { c.generation = 0; }},
      {"another warning share",
       [](PreparedDeadline&, RulesContext& c) { c.policy.warning_fraction = 0.5; }},
      {"another hours-left threshold",
       [](PreparedDeadline&, RulesContext& c) { c.policy.warning_hours_left = Millis(3'600'000); }},
      {"another channel", [](PreparedDeadline& p, RulesContext&) { p.channel = Channel::kOnline; }},
      {"another procedure", [](PreparedDeadline& p, RulesContext&) { p.procedure_code = Code(); }},
      {"another receipt instant",
       [](PreparedDeadline& p, RulesContext&) { p.received_at += std::chrono::minutes(1); }},
      {"another event due", [](PreparedDeadline& p, RulesContext&) { p.event_due = p.due_at; }},
  };
  for (const Case& c : cases) {
    DossierEvent changed = e;
    RulesContext ctx = ctx_;
    c.change(*changed.prepared_deadline, ctx);
    const DossierState applied = ApplyEvent(nullptr, changed, PartitionId(0), ctx).state;
    EXPECT_NE(applied.due_at, marked) << c.what << ": must be computed, not taken";
    DossierEvent plain = changed;
    plain.prepared_deadline.reset();
    EXPECT_EQ(applied, ApplyEvent(nullptr, plain, PartitionId(0), ctx).state) << c.what;
  }
}

TEST_F(PreparedDeadlineTest, AReceiptAfterAnEventThatNamedAnotherProcedureComputesItsOwn) {
  // The receipt carries no procedure: the dossier keeps the one an earlier event named, so the
  // deadline prepared from the receipt alone (none: no procedure) does not apply.
  DossierEvent submitted = Receipt(Channel::kInPerson);
  submitted.event_id = "D1/s";
  submitted.type = EventType::kSubmitted;
  submitted.occurred_at = Local("2026-03-05 09:00");
  const DossierState before = Apply(submitted);
  DossierEvent receipt = Receipt(Channel::kInPerson);
  receipt.procedure_code = Code();
  EXPECT_FALSE(PrepareReceiptDeadline(receipt, ctx_).has_value()) << "no procedure, no due time";
  DossierEvent with_due = receipt;
  with_due.due_at = Local("2026-03-30 10:00");
  with_due.prepared_deadline = PrepareReceiptDeadline(with_due, ctx_);
  ASSERT_TRUE(with_due.prepared_deadline.has_value());
  DossierEvent plain = with_due;
  plain.prepared_deadline.reset();
  EXPECT_EQ(Apply(with_due, &before), Apply(plain, &before));
}

TEST_F(PreparedDeadlineTest, NoneForOtherEventsOrWithoutAGeneration) {
  DossierEvent completed = Receipt(Channel::kInPerson);
  completed.type = EventType::kCompleted;
  EXPECT_FALSE(PrepareReceiptDeadline(completed, ctx_).has_value());
  RulesContext unnamed = ctx_;
  unnamed.generation = 0;
  EXPECT_FALSE(PrepareReceiptDeadline(Receipt(Channel::kInPerson), unnamed).has_value());
}

}  // namespace
}  // namespace iocstream::rules
