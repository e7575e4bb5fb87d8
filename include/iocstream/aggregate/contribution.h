// What one dossier adds to the aggregate counters, as a pure function of its state.
//
// Updating a dossier applies Contribution(new) - Contribution(old) to the counters, so
// counts stay exact whatever the event order, and a replay of the same events reproduces
// the same counters. Thread-safe (pure function).
#pragma once

#include <utility>

#include "iocstream/core/aggregate_types.h"
#include "iocstream/core/dossier_state.h"

namespace iocstream::aggregate {

// The dimension key a dossier counts under: (partition, agency, commune, channel). The
// agency is the receiving department (not the current step's unit), so a dossier stays in
// one row for its whole life.
[[nodiscard]] AggregateKey KeyOf(const DossierState& state);

// The counters this dossier contributes (each field 0 or 1, except the supplement and step
// breach counts). A dossier counts in exactly one class: finished (early, on time, late, no
// deadline), cancelled, open (received, not finished), or, under the kpi766 policy, waiting on
// the applicant (DossierState::kpi766_finished_at_request: finished at the request time for
// Decision 766, domain.md §1.3). A dossier never received contributes only to its
// finished/cancelled class.
[[nodiscard]] AggregateCounters Contribution(const DossierState& state);

}  // namespace iocstream::aggregate
