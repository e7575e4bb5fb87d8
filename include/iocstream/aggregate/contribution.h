// What one dossier adds to the aggregate counters, as a pure function of its state.
//
// Updating a dossier applies Contribution(new) - Contribution(old) to the counters, so
// counts stay exact whatever the event order, and a replay of the same events reproduces
// the same counters. Thread-safe (pure functions, plain values).
#pragma once

#include <cstdint>
#include <utility>

#include "iocstream/core/aggregate_types.h"
#include "iocstream/core/dossier_state.h"

namespace iocstream::aggregate {

// The dimension key a dossier counts under: (partition, agency, commune, channel). The
// agency is the receiving department (not the current step's unit), so a dossier stays in
// one row for its whole life.
[[nodiscard]] AggregateKey KeyOf(const DossierState& state);

// A contribution in compact form: a bit for each field that counts 0 or 1, and the two
// counts. Every state change compares the dossier's contribution before and after it
// (AggregateTable::Apply), and most change nothing: 12 bytes compared instead of the
// counters' 96, and a changed one adds only its changed fields.
struct ContributionBits {
  uint32_t ones = 0;  // bit i set: field i counts 1 (never the two count fields)
  int32_t supplement_requests = 0;
  int32_t step_breaches = 0;

  void Set(AggregateField f) { ones |= uint32_t{1} << static_cast<unsigned>(f); }
  // Adds `sign` (1 or -1) times this contribution to `counters`.
  void AddTo(AggregateCounters& counters, int64_t sign) const;
  // Adds `after` minus `before` to `counters`.
  static void AddDifference(const ContributionBits& before, const ContributionBits& after,
                            AggregateCounters& counters);
  [[nodiscard]] AggregateCounters ToCounters() const {
    AggregateCounters c;
    AddTo(c, 1);
    return c;
  }
  bool operator==(const ContributionBits&) const = default;
};
static_assert(kAggregateFieldCount <= 32, "ContributionBits holds a bit per field");

// The counters this dossier contributes (each field 0 or 1, except the supplement and step
// breach counts). A dossier counts in exactly one class: finished (early, on time, late, no
// deadline), cancelled, open (received, not finished), or, under the kpi766 policy, waiting on
// the applicant (DossierState::kpi766_finished_at_request: finished at the request time for
// Decision 766, domain.md §1.3). A dossier never received contributes only to its
// finished/cancelled class.
[[nodiscard]] ContributionBits ContributionBitsOf(const DossierState& state);
[[nodiscard]] inline AggregateCounters Contribution(const DossierState& state) {
  return ContributionBitsOf(state).ToCounters();
}

}  // namespace iocstream::aggregate
