#include "app/runtime.h"

#include <spdlog/spdlog.h>

#include <csignal>
#include <filesystem>

#include "app/rules_config.h"

namespace iocstream::app {

std::atomic<bool> g_stop_requested{false};

namespace {
void OnStopSignal(int /*signal*/) { g_stop_requested.store(true); }
}  // namespace

void InstallStopSignals() {
  std::signal(SIGINT, OnStopSignal);
  std::signal(SIGTERM, OnStopSignal);
}

Instant WallClockNow() {
  return std::chrono::time_point_cast<Millis>(std::chrono::system_clock::now());
}

Result<std::unique_ptr<Runtime>> OpenRuntime(Config config) {
  auto rt = std::make_unique<Runtime>();
  rt->config = std::move(config);
  auto calendar = LoadBusinessCalendar(rt->config.calendar_files);
  if (!calendar) return calendar.error();
  rt->calendar = std::make_unique<rules::BusinessCalendar>(std::move(*calendar));
  if (!rt->config.procedure_catalog.empty()) {
    auto catalog = LoadProcedureCatalog(rt->config.procedure_catalog);
    if (!catalog) return catalog.error();
    rt->catalog = std::make_unique<rules::ProcedureCatalog>(std::move(*catalog));
  }
  state::StateStoreOptions options;
  options.path = rt->config.state.dir;
  options.block_cache_bytes = rt->config.state.block_cache_mb << 20;
  options.write_buffer_bytes = rt->config.state.write_buffer_mb << 20;
  options.disable_wal = rt->config.state.disable_wal;
  auto store = state::StateStore::Open(options);
  if (!store) {
    Error e = store.error();
    if (e.message.find("lock") != std::string::npos) {
      e.message += " (is another iocstream running on " + options.path +
                   "? read its state through the HTTP API instead)";
    }
    return e;
  }
  rt->store = std::move(*store);
  return rt;
}

}  // namespace iocstream::app
