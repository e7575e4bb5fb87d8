// JSON and table views of the state, shared by the HTTP API, `export` and the summaries.
// Pure functions over values: thread-safe.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "iocstream/aggregate/aggregate_table.h"
#include "iocstream/aggregate/kpi.h"
#include "iocstream/core/dossier_state.h"

namespace iocstream::app {

// Open with a due time that is before `as_of` (UTC).
[[nodiscard]] bool OverdueAt(const DossierState& s, Instant as_of);

// One dossier, with how its due time was derived (source, original due, pauses, restarts).
[[nodiscard]] nlohmann::ordered_json DossierJson(const DossierState& s, Instant as_of);

// Counters folded per department (agency), summed over communes and channels.
[[nodiscard]] std::map<std::string, AggregateCounters> PerDepartment(
    const aggregate::AggregateTable::Rows& rows);

[[nodiscard]] nlohmann::ordered_json KpisJson(const aggregate::Kpis& k);

// A fixed-width per-department table: received, on time, late, open, overdue, rate.
[[nodiscard]] std::string SummaryTable(const aggregate::AggregateTable::Rows& rows);

}  // namespace iocstream::app
