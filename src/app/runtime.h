// Runtime: what every subcommand opens from a Config — the business calendar, the procedure
// catalog and the state store — and the signal flag that asks long-running commands to stop.
#pragma once

#include <atomic>
#include <memory>

#include "app/config.h"
#include "iocstream/rules/business_calendar.h"
#include "iocstream/rules/dossier_state_machine.h"
#include "iocstream/rules/procedure_catalog.h"
#include "iocstream/state/state_store.h"

namespace iocstream::app {

struct Runtime {
  Config config;
  std::unique_ptr<rules::BusinessCalendar> calendar;
  std::unique_ptr<rules::ProcedureCatalog> catalog;  // null when none configured
  std::unique_ptr<state::StateStore> store;

  [[nodiscard]] rules::RulesContext Rules() const {
    return rules::RulesContext{calendar.get(), catalog.get(), config.sla};
  }
};

// Loads the calendar and catalog, and opens the state store at config.state.dir.
[[nodiscard]] Result<std::unique_ptr<Runtime>> OpenRuntime(Config config);

// Set by SIGINT/SIGTERM once InstallStopSignals() ran.
extern std::atomic<bool> g_stop_requested;
void InstallStopSignals();

[[nodiscard]] Instant WallClockNow();

}  // namespace iocstream::app
