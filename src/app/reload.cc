#include "app/reload.h"

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <map>
#include <set>
#include <string>

#include "app/views.h"

namespace iocstream::app {
namespace {

int64_t UnixMillis(Instant t) { return ToEpochMillis(t); }

}  // namespace

nlohmann::ordered_json ReloadOutcomeJson(const ReloadOutcome& outcome) {
  nlohmann::ordered_json j;
  if (outcome.error) {
    j["status"] = "failed";
    j["error"] = outcome.error->message;
    return j;
  }
  j["status"] = "ok";
  j["calendar_years"] = outcome.calendar_years;
  j["procedures"] = outcome.procedures;
  j["recompute"] = RecomputeSummaryJson(outcome.recompute);
  j["restart_needed"] = outcome.restart_needed;
  j["warnings"] = outcome.warnings;
  return j;
}

ReloadOutcome ReloadRules(Runtime& runtime, Pipeline& pipeline,
                          std::optional<std::span<const PartitionId>> partitions, Instant wall_now,
                          ReloadProbe& probe) {
  ReloadOutcome outcome;
  auto fail = [&](Error e, bool fatal) {
    spdlog::error("reload of the calendar and procedure catalog failed{}: {}",
                  fatal ? "" : " (the rules in force stay)", e.message);
    probe.failed.fetch_add(1, std::memory_order_relaxed);
    probe.last_failure_ms.store(UnixMillis(wall_now), std::memory_order_relaxed);
    outcome.error = std::move(e);
    outcome.fatal = fatal;
    return outcome;
  };
  auto config = LoadConfig(runtime.config.path);
  if (!config) return fail(config.error(), false);
  auto loaded = LoadRules(*config);
  if (!loaded) return fail(loaded.error(), false);
  const std::shared_ptr<const LoadedRules> next = *loaded;
  const rules::RulesContext context{&next->calendar, next->catalog ? &*next->catalog : nullptr,
                                    runtime.config.sla};
  auto summary = pipeline.Recompute(context, wall_now, partitions);
  if (!summary) return fail(summary.error(), !pipeline.healthy());
  // The pipeline uses `next` now; publish it (the previous version lives on while an HTTP
  // handler still holds it).
  runtime.config.calendar_files = config->calendar_files;
  runtime.config.procedure_catalog = config->procedure_catalog;
  runtime.rules.Set(next);
  for (const auto y : next->calendar.spec().years) {
    outcome.calendar_years.push_back(static_cast<int>(y));
  }
  outcome.procedures = next->catalog ? next->catalog->size() : 0;
  outcome.recompute = *summary;
  // Edited along with the calendar, these would seem applied (a helper changed http.port and
  // got 200): named in the answer and the log.
  const std::map<std::string, std::string>& started = runtime.config.sections;
  std::set<std::string> changed;
  for (const auto& [name, text] : config->sections) {
    if (auto it = started.find(name); it == started.end() || it->second != text) {
      changed.insert(name);
    }
  }
  for (const auto& [name, text] : started) {
    if (!config->sections.contains(name)) changed.insert(name);  // removed
  }
  changed.erase("calendar");
  changed.erase("procedures");
  outcome.restart_needed.assign(changed.begin(), changed.end());
  if (!changed.empty()) {
    spdlog::warn("reload: {} changed in {} since the start: not applied (a restart applies them)",
                 fmt::join(changed, ", "), runtime.config.path);
  }
  probe.succeeded.fetch_add(1, std::memory_order_relaxed);
  probe.last_success_ms.store(UnixMillis(wall_now), std::memory_order_relaxed);
  spdlog::info(
      "reloaded the calendar ({} files) and the procedure catalog ({} procedures): {} open "
      "dossiers recomputed, {} due times changed, {} timers moved in {} ms",
      config->calendar_files.size(), outcome.procedures, summary->open_dossiers,
      summary->due_changed, summary->timers_moved, summary->duration.count());
  outcome.warnings = WarnAboutCalendarCoverage(next->calendar, wall_now);
  return outcome;
}

void ReloadRequests::Request() {
  std::lock_guard lock(mu_);
  ++requested_;
}

std::optional<ReloadOutcome> ReloadRequests::RequestAndWait(Millis timeout) {
  std::unique_lock lock(mu_);
  const uint64_t ticket = ++requested_;
  if (!done_.wait_for(lock, timeout, [&] { return completed_ >= ticket; })) return std::nullopt;
  return last_;
}

bool ReloadRequests::Pending() const {
  std::lock_guard lock(mu_);
  return requested_ > started_;
}

uint64_t ReloadRequests::Begin() {
  std::lock_guard lock(mu_);
  started_ = requested_;
  return started_;
}

void ReloadRequests::Complete(uint64_t ticket, const ReloadOutcome& outcome) {
  {
    std::lock_guard lock(mu_);
    completed_ = ticket;
    last_ = outcome;
  }
  done_.notify_all();
}

}  // namespace iocstream::app
