// The HTTP endpoints of a running iocstream:
//   GET /metrics                    Prometheus text format
//   GET /healthz                    200 while the process serves
//   GET /readyz                     200 once state is restored and partitions are assigned
//   GET /api/v1/dossiers/{id}       one dossier, with how its deadline was derived
//   GET /api/v1/overdue             open dossiers past their due time (?department=&limit=)
//   GET /api/v1/kpis                Decision 766 indicator 2.1 and counts, per department
// Handlers read the state store (RocksDB reads are thread-safe) and the aggregate table's
// snapshot; they never take the pipeline's locks, so they never block ingest.
#pragma once

#include <atomic>
#include <functional>
#include <memory>

#include "iocstream/aggregate/aggregate_table.h"
#include "iocstream/http/server.h"
#include "iocstream/metrics/registry.h"
#include "iocstream/rules/business_calendar.h"
#include "iocstream/state/state_store.h"

namespace iocstream::app {

struct ApiContext {
  const state::StateStore* store = nullptr;
  const rules::BusinessCalendar* calendar = nullptr;  // explains the days off of a deadline
  const aggregate::AggregateTable* aggregates = nullptr;
  std::shared_ptr<MetricsRegistry> metrics;
  std::function<bool()> ready;  // readiness probe
};

void RegisterApi(HttpServer& server, ApiContext context);

}  // namespace iocstream::app
