#include "app/runtime.h"

#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <csignal>
#include <filesystem>

#include "app/rules_config.h"
#include "app/string_functions.h"

namespace iocstream::app {

std::atomic<bool> g_stop_requested{false};
std::atomic<int> g_stop_signal{0};
std::atomic<bool> g_reload_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free, "set from signal handlers");
static_assert(std::atomic<int>::is_always_lock_free, "set from signal handlers");

namespace {
void OnStopSignal(int signal) {
  g_stop_signal.store(signal);  // lock-free: async-signal-safe
  g_stop_requested.store(true);
}
void OnReloadSignal(int /*signal*/) { g_reload_requested.store(true); }

// Blocks (SIG_BLOCK) or unblocks (SIG_UNBLOCK) SIGHUP on the calling thread.
void MaskHangup(int how) {
  sigset_t hangup;
  sigemptyset(&hangup);
  sigaddset(&hangup, SIGHUP);
  pthread_sigmask(how, &hangup, nullptr);
}
}  // namespace

void HoldHangup() { MaskHangup(SIG_BLOCK); }

void ReleaseHangup() { MaskHangup(SIG_UNBLOCK); }

void InstallStopSignals(bool hangup_reloads) {
  std::signal(SIGINT, OnStopSignal);
  std::signal(SIGTERM, OnStopSignal);
  // A closed terminal: stop as asked, committing what was read (SIGHUP's default killed a
  // replay without its commit). `run` then takes SIGHUP for reloads (InstallReloadSignal).
  std::signal(SIGHUP, OnStopSignal);
  if (!hangup_reloads) ReleaseHangup();
}

void InstallReloadSignal() {
  std::signal(SIGHUP, OnReloadSignal);
  ReleaseHangup();
}

Result<std::shared_ptr<const LoadedRules>> LoadRules(const Config& config) {
  auto calendar = LoadBusinessCalendar(config.calendar_files);
  if (!calendar) return calendar.error();
  std::optional<rules::ProcedureCatalog> catalog;
  if (!config.procedure_catalog.empty()) {
    auto loaded = LoadProcedureCatalog(config.procedure_catalog);
    if (!loaded) return loaded.error();
    catalog = std::move(*loaded);
  } else {
    spdlog::warn(
        "{}: no procedures.catalog: a dossier gets a due time only from its events' due_at, "
        "none from its procedure's legal duration",
        config.path);
  }
  return std::make_shared<const LoadedRules>(LoadedRules{std::move(*calendar), std::move(catalog)});
}

std::vector<std::string> WarnAboutCalendarCoverage(const rules::BusinessCalendar& calendar,
                                                   Instant now) {
  const auto today = calendar.LocalDate(now);
  std::vector<std::string> warnings =
      CalendarCoverageWarnings(CalendarCoverageOf(calendar.spec().years, today), today);
  for (const std::string& warning : warnings) spdlog::warn("{}", warning);
  return warnings;
}

rules::RulesContext Runtime::Rules() const {
  const std::shared_ptr<const LoadedRules> current = rules.Get();
  return rules::RulesContext{&current->calendar, current->catalog ? &*current->catalog : nullptr,
                             config.sla};
}

const rules::BusinessCalendar& Runtime::calendar() const { return rules.Get()->calendar; }

Instant WallClockNow() {
  return std::chrono::time_point_cast<Millis>(std::chrono::system_clock::now());
}

void ApplyReplayStateDefaults(Config& config) {
  StateConfig& state = config.state;
  if (!state.disable_wal) state.disable_wal = true;
  if (!state.low_priority_background) state.low_priority_background = true;
  if (!state.dossier_cache_mb) state.dossier_cache_mb = kReplayDossierCacheMb;
  if (!state.commit_max_records) state.commit_max_records = kReplayCommitMaxRecords;
  if (!state.commit_max_mb) state.commit_max_mb = kReplayCommitMaxMb;
}

Result<std::unique_ptr<Runtime>> OpenRuntime(Config config) {
  auto rt = std::make_unique<Runtime>();
  rt->config = std::move(config);
  auto loaded = LoadRules(rt->config);
  if (!loaded) return loaded.error();
  rt->rules.Set(std::move(*loaded));
  WarnAboutCalendarCoverage(rt->calendar(), WallClockNow());
  state::StateStoreOptions options;
  options.path = rt->config.state.dir;
  options.block_cache_bytes = rt->config.state.block_cache_mb << 20;
  options.write_buffer_bytes = rt->config.state.write_buffer_mb << 20;
  options.disable_wal = rt->config.state.disable_wal.value_or(false);
  options.low_priority_background = rt->config.state.low_priority_background.value_or(false);
  options.compress = rt->config.state.compress;
  options.dossier_filter_bytes = rt->config.state.dossier_filter_mb << 20;
  if (const size_t memtables = state::MaxMemtableBytes(options);
      memtables > options.block_cache_bytes) {
    // Past the block cache's capacity, memtables (when flushes lag) add to the memory bound
    // instead of taking room from cached blocks.
    spdlog::warn(
        "state.write_buffer_mb {} lets memtables reach {} MiB, more than state.block_cache_mb "
        "{}: memory may exceed the block cache by the difference (lower write_buffer_mb or "
        "raise block_cache_mb)",
        rt->config.state.write_buffer_mb, memtables >> 20, rt->config.state.block_cache_mb);
  }
  // Files other than a store's and replay's own (and a volume's lost+found: a disk mounted
  // as the state directory), the first few of them by name.
  const auto other_files = [](const std::string& dir) {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      std::string name = entry.path().filename().string();
      if (!state::StateStore::IsStoreFile(name) && name != kReplayAlertsFile &&
          name != kReplayDeadLettersFile && name != "lost+found") {
        names.push_back(std::move(name));
      }
    }
    std::sort(names.begin(), names.end());
    return names;
  };
  if (std::error_code ec;
      std::filesystem::is_directory(options.path, ec) && !state::StateStore::Exists(options.path)) {
    // A typo'd or shared directory (`--state-dir /`, `~`, a project folder): the store's files
    // would go among whatever is there, and the next `rm -r` of a state directory with them.
    // It was a warning, and a helper's `--state-dir /` wrote 17 files into the root.
    if (const std::vector<std::string> others = other_files(options.path); !others.empty()) {
      std::string shown;
      for (size_t i = 0; i < std::min<size_t>(others.size(), 3); ++i) {
        shown += (i == 0 ? "" : ", ") + others[i];
      }
      if (others.size() > 3) shown += fmt::format(" and {} more", others.size() - 3);
      return InvalidArgument(fmt::format(
          "state directory {} holds other files ({}) and no state store: give a new or empty "
          "directory (state.dir or --state-dir), or the directory of an existing store",
          options.path, shown));
    }
  }
  auto store = state::StateStore::Open(options);
  if (!store) {
    Error e = store.error();
    if (e.message.find(state::StateStore::kHeldByAnother) != std::string::npos) {
      e.message += " (is another iocstream using " + options.path +
                   "? wait for it to end; a running `run` serves its state on its HTTP API)";
    }
    return e;
  }
  rt->store = std::move(*store);
  spdlog::info("state store {} on {}; {}", options.path, state::EngineDescription(),
               StringFunctionsDescription());
  return rt;
}

}  // namespace iocstream::app
