// Runtime: what every subcommand opens from a Config — the business calendar and procedure
// catalog (the rules data) and the state store — and the signal flags of long-running
// commands (stop, reload).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "app/config.h"
#include "iocstream/rules/business_calendar.h"
#include "iocstream/rules/dossier_state_machine.h"
#include "iocstream/rules/procedure_catalog.h"
#include "iocstream/state/state_store.h"

namespace iocstream::app {

// The calendar and procedure catalog loaded from the files a config names. Immutable once
// built; a reload builds a new one and swaps it in whole (CurrentRules).
struct LoadedRules {
  rules::BusinessCalendar calendar;
  std::optional<rules::ProcedureCatalog> catalog;  // none when the config names none
};

// Loads and validates config.calendar_files and config.procedure_catalog. Errors: those of
// LoadBusinessCalendar and LoadProcedureCatalog ("FILE: KEY: why", kInvalidArgument; kIo).
[[nodiscard]] Result<std::shared_ptr<const LoadedRules>> LoadRules(const Config& config);

// The rules data in force. Thread-safe: the pipeline thread replaces it on a reload while
// HTTP handlers read it; a reader keeps the version it got alive as long as it holds it.
class CurrentRules {
 public:
  [[nodiscard]] std::shared_ptr<const LoadedRules> Get() const {
    std::lock_guard lock(mu_);
    return rules_;
  }
  void Set(std::shared_ptr<const LoadedRules> rules) {
    std::lock_guard lock(mu_);
    rules_ = std::move(rules);
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const LoadedRules> rules_;
};

struct Runtime {
  Config config;
  CurrentRules rules;
  std::unique_ptr<state::StateStore> store;

  // The rules context of the data in force with config.sla. Its pointers stay valid until
  // the next rules.Set() (only a reload, on the pipeline thread, calls it).
  [[nodiscard]] rules::RulesContext Rules() const;
  // The calendar in force, under the same validity.
  [[nodiscard]] const rules::BusinessCalendar& calendar() const;
};

// The files `replay` writes its alerts and dead letters to, in the state directory.
inline constexpr std::string_view kReplayAlertsFile = "alerts.ndjson";
inline constexpr std::string_view kReplayDeadLettersFile = "dead-letters.ndjson";

// Loads the calendar and catalog, and opens the state store at config.state.dir. Logs the
// warnings of WarnAboutCalendarCoverage as of the wall clock.
[[nodiscard]] Result<std::unique_ptr<Runtime>> OpenRuntime(Config config);

// The dossier cache and commit bounds of a replay where the config is silent (MiB, records).
inline constexpr size_t kReplayDossierCacheMb = 128;
inline constexpr size_t kReplayCommitMaxRecords = 400000;
inline constexpr size_t kReplayCommitMaxMb = 96;

// The state settings a replay takes where the config is silent, before OpenRuntime:
// - no write-ahead log (state.disable_wal). Its input is a file, read again from the position
//   of the last flush after a crash (atomic_flush keeps the families and that position
//   together), and its file relay stores the files' lengths with each outbox delete, so a
//   crash costs the work since the flush and repeats no alert. The log's writes cost about 7%
//   of a replay's CPU (session 39). `run` keeps the log: what Kafka no longer holds would be
//   lost.
// - RocksDB's flushes and compactions at a lower CPU priority (nice 5)
//   (state.low_priority_background): the replay's own threads come first, about 2% faster
//   (session 58). `run` keeps them at its own priority: the broker and librdkafka compete
//   there too, and the flushes it starved stopped the state writer longer.
// - larger commits, and a dossier cache that holds their dirty dossiers without evicting the
//   clean ones sooner: 400,000 records or 96 MiB of pending changes per commit, 128 MiB of
//   dossiers, against run's 100,000, 64 and 64. A dossier's events then share a commit more
//   often, and it is written once for them: on the 1M-dossier replay, 31% fewer state bytes
//   written and about 12% less CPU (session 40). The memory bound stays under 512 MiB (about
//   100 + block cache 64 + 128 + 2 x 96 MiB: README, "Benchmarks"); `run` keeps the smaller
//   bounds, as its pre-fetch queue takes about 160 MiB more.
void ApplyReplayStateDefaults(Config& config);

// Logs a warning for each of CalendarCoverageWarnings (rules_config.h) of `calendar` seen
// from `now`, and returns them: the years it does not load that deadlines computed now can
// reach, whose holidays they skip. At start (OpenRuntime) and after each reload (ReloadRules).
std::vector<std::string> WarnAboutCalendarCoverage(const rules::BusinessCalendar& calendar,
                                                   Instant now);

// SIGHUP is held (blocked, pending) from main()'s start until the command installs its
// handler (InstallStopSignals, InstallReloadSignal) or, for a command without one, until it
// starts (ReleaseHangup): a SIGHUP in the first milliseconds killed `run` (exit 129) instead
// of reloading (a helper's trial). Call HoldHangup() on the main thread before any other
// thread starts (they inherit the mask); the mask and a pending SIGHUP survive the re-exec of
// PreferAvx2StringFunctions.
void HoldHangup();
void ReleaseHangup();

// Set by SIGINT, SIGTERM and SIGHUP once InstallStopSignals() ran (SIGHUP until
// InstallReloadSignal takes it over). Releases SIGHUP unless `hangup_reloads` (`run`, which
// calls InstallReloadSignal next, releasing it then: a held SIGHUP reloads, it does not stop).
extern std::atomic<bool> g_stop_requested;
// The signal that set g_stop_requested (its number; 0 before any), for the log.
extern std::atomic<int> g_stop_signal;
void InstallStopSignals(bool hangup_reloads = false);

// Set by SIGHUP once InstallReloadSignal() ran; the command that installed it clears it when
// it takes the request (`run`: reload the calendar and catalog). Releases SIGHUP.
extern std::atomic<bool> g_reload_requested;
void InstallReloadSignal();

[[nodiscard]] Instant WallClockNow();

}  // namespace iocstream::app
