// Reloading the working calendar and the procedure catalog while `run` runs, e.g. when the
// government announces a new day off (domain.md §1.4: the holiday calendar is data, loaded
// yearly). A reload is asked for by SIGHUP or POST /api/v1/admin/reload and carried out by
// the thread that drives the Pipeline, between two poll batches, because recomputing the
// deadlines writes the state store, whose one writer that thread is.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "app/pipeline.h"
#include "app/runtime.h"

namespace iocstream::app {

// Counters of the reloads of one process (the probe of this component); any thread may
// read them.
struct ReloadProbe {
  std::atomic<uint64_t> succeeded{0};
  std::atomic<uint64_t> failed{0};
  std::atomic<int64_t> last_success_ms{0};  // Unix ms of the last successful reload, 0: none
  std::atomic<int64_t> last_failure_ms{0};  // Unix ms of the last failed reload, 0: none
};

struct ReloadOutcome {
  // Why the reload failed: the files did not load (the rules in force stay) or the
  // recompute failed (`fatal` when its commit failed: the caller stops, as after a failed
  // batch commit). nullopt on success.
  std::optional<Error> error;
  bool fatal = false;
  // On success, what is now in force and what the recompute did.
  std::vector<int> calendar_years;  // the years the calendar files cover
  size_t procedures = 0;            // entries of the procedure catalog (0: none configured)
  RecomputeSummary recompute;
  // Sections of the config file changed since the start other than `calendar` and
  // `procedures`: a reload does not apply them, a restart does (sorted).
  std::vector<std::string> restart_needed;
  // What the log warned about the files now in force: the years the calendar leaves out
  // (WarnAboutCalendarCoverage), e.g. next year's file missing from 1 October.
  std::vector<std::string> warnings;
};

// {"status":"ok","calendar_years":[2025,2026],"procedures":N,"recompute":{...},
// "restart_needed":["http",...],"warnings":["calendar: no file loaded for 2027: ..."]} or
// {"status":"failed","error":"..."}; see RecomputeSummaryJson for "recompute".
[[nodiscard]] nlohmann::ordered_json ReloadOutcomeJson(const ReloadOutcome& outcome);

// Re-reads the config file at runtime.config.path for its calendar.files and
// procedures.catalog (so a year file newly listed there is picked up; other keys need a
// restart) and loads those files. If they are valid, switches `pipeline` to them and
// recomputes the deadlines of the open dossiers of `partitions` (Pipeline::Recompute; nullopt:
// every partition), then publishes them in runtime.rules. If not, nothing changes. Logs the
// result and counts it in `probe`. Call on the thread that drives `pipeline`, between batches.
[[nodiscard]] ReloadOutcome ReloadRules(Runtime& runtime, Pipeline& pipeline,
                                        std::optional<std::span<const PartitionId>> partitions,
                                        Instant wall_now, ReloadProbe& probe);

// Reload requests from any thread, carried out by the pipeline thread. Requests that arrive
// while a reload runs are served by the next one (they may name files changed meanwhile);
// requests waiting together are served by one reload. Thread-safe.
class ReloadRequests {
 public:
  // Asks for a reload without waiting (SIGHUP).
  void Request();
  // Asks for a reload and waits up to `timeout` for its outcome; nullopt when it did not
  // finish in time (it still happens). For HTTP handlers.
  [[nodiscard]] std::optional<ReloadOutcome> RequestAndWait(Millis timeout);

  // Pipeline thread: whether a reload was asked for and not yet started.
  [[nodiscard]] bool Pending() const;
  // Pipeline thread: takes the pending requests; pass the ticket to Complete().
  [[nodiscard]] uint64_t Begin();
  // Pipeline thread: answers the requests taken by Begin() with `outcome`.
  void Complete(uint64_t ticket, const ReloadOutcome& outcome);

 private:
  mutable std::mutex mu_;
  std::condition_variable done_;
  uint64_t requested_ = 0;  // number of the latest request
  uint64_t started_ = 0;    // latest request a reload has started for
  uint64_t completed_ = 0;  // latest request answered
  ReloadOutcome last_;
};

}  // namespace iocstream::app
