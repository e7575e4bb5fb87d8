// AggregateTable::Apply against the counters computed afresh: after any sequence of state
// changes, each row holds the sum of Contribution() over the dossiers' current states.
#include "iocstream/aggregate/aggregate_table.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "iocstream/aggregate/contribution.h"

namespace iocstream::aggregate {
namespace {

using F = AggregateField;

Instant At(int64_t ms) { return FromEpochMillis(ms); }

// A state drawn over every input of Contribution and KeyOf.
DossierState RandomState(std::mt19937& rng, int id) {
  auto pick = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); };
  DossierState s;
  s.dossier_id = "d" + std::to_string(id);
  s.partition = PartitionId(pick(2));
  s.agency_code = pick(2) != 0 ? Code("agency-a") : Code("agency-b");
  s.commune_code = pick(3) == 0 ? Code() : Code("commune-" + std::to_string(pick(2)));
  s.channel = pick(2) != 0 ? Channel::kOnline : Channel::kInPerson;
  if (pick(4) != 0) s.received_at = At(1'000);
  if (pick(3) != 0) s.due_at = At(5'000);
  s.outcome = static_cast<Outcome>(pick(static_cast<int>(Outcome::kCancelled) + 1));
  s.breach_fired = pick(3) == 0;
  s.overdue_by_supplements = pick(5) == 0;
  s.warning_fired = pick(3) == 0;
  s.hours_left_warning_fired = pick(4) == 0;
  s.supplement_requests = pick(4);
  s.step_breaches = pick(3);
  return s;
}

TEST(AggregateTableTest, ApplyKeepsEveryRowTheSumOfItsDossiersContributions) {
  std::mt19937 rng(766);
  AggregateTable table;
  std::map<int, DossierState> current;
  for (int step = 0; step < 20'000; ++step) {
    const int id = std::uniform_int_distribution<int>(0, 299)(rng);
    DossierState next = RandomState(rng, id);
    const auto it = current.find(id);
    // Often the same row and contribution (most events change neither), sometimes one field.
    if (it != current.end() && step % 3 == 0) {
      next = it->second;
      if (step % 2 == 0) next.supplement_requests += 1;
    }
    if (it == current.end()) {
      table.Apply(nullptr, next);
    } else {
      AggregateTable::Footprint before;
      AggregateTable::TakeFootprint(it->second, before);
      table.Apply(&before, next);
    }
    current[id] = next;
    if (step % 1'000 == 999) (void)table.TakeDirty();  // commits in between
  }
  AggregateTable::Rows expected;
  for (const auto& [id, s] : current) expected[KeyOf(s)] += Contribution(s);
  std::erase_if(expected, [](const auto& row) { return row.second.IsZero(); });
  EXPECT_EQ(table.Snapshot(), expected);
}

TEST(AggregateTableTest, ContributionBitsAreTheCounters) {
  DossierState s;
  s.received_at = At(1'000);
  s.due_at = At(5'000);
  s.breach_fired = true;
  s.supplement_requests = 2;
  s.step_breaches = 1;
  const AggregateCounters c = Contribution(s);
  AggregateCounters want;
  want[F::kReceived] = 1;
  want[F::kOpen] = 1;
  want[F::kOpenOverdue] = 1;
  want[F::kSupplementRequests] = 2;
  want[F::kStepBreaches] = 1;
  EXPECT_EQ(c, want);

  DossierState done = s;
  done.outcome = Outcome::kLate;
  done.supplement_requests = 1;
  AggregateCounters diff;
  ContributionBits::AddDifference(ContributionBitsOf(s), ContributionBitsOf(done), diff);
  AggregateCounters want_diff;
  want_diff[F::kOpen] = -1;
  want_diff[F::kOpenOverdue] = -1;
  want_diff[F::kCompletedLate] = 1;
  want_diff[F::kSupplementRequests] = -1;
  EXPECT_EQ(diff, want_diff);
}

}  // namespace
}  // namespace iocstream::aggregate
