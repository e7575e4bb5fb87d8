// iocstream: the event stream processor of a provincial monitoring center (IOC) for
// administrative-procedure dossiers. See README.md.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "app/commands.h"

#ifndef IOCSTREAM_VERSION
#define IOCSTREAM_VERSION "0.0.0"
#endif

int main(int argc, char** argv) {
  using namespace iocstream::app;
  CLI::App app{"iocstream: dossier event stream processor (Kafka -> RocksDB -> metrics, alerts)"};
  app.set_version_flag("--version", std::string("iocstream ") + IOCSTREAM_VERSION);
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->capture_default_str();

  auto add_common = [](CLI::App* cmd, CommonOptions& c) {
    cmd->add_option("--config", c.config_path, "YAML config file (see config/iocstream.yaml)")
        ->required()
        ->check(CLI::ExistingFile);
    cmd->add_option("--state-dir", c.state_dir, "state directory (overrides state.dir)");
  };

  RunOptions run;
  CLI::App* run_cmd =
      app.add_subcommand("run", "consume dossier events from Kafka (live, consumer group)");
  add_common(run_cmd, run.common);
  run_cmd->add_flag("--summary-when-caught-up", run.summary_when_caught_up,
                    "print the per-department summary once the consumer lag reaches 0");
  run_cmd->add_flag("--exit-when-caught-up", run.exit_when_caught_up,
                    "exit once the lag reaches 0 and the outbox is drained");
  run_cmd->add_option("--idle-exit", run.idle_exit_seconds,
                      "exit after this many seconds without records (0 = never)");

  ImportOptions import;
  CLI::App* import_cmd = app.add_subcommand(
      "import", "publish the rows of CSV exports to the events topic as dossier events");
  add_common(import_cmd, import.common);
  import_cmd->add_option("--mapping", import.mapping_path, "CSV column mapping (YAML)")
      ->required()
      ->check(CLI::ExistingFile);
  import_cmd->add_option("files", import.files, "CSV files")->required()->check(CLI::ExistingFile);
  import_cmd->add_flag("!--no-progress", import.progress, "no progress bar");

  ReplayOptions replay;
  CLI::App* replay_cmd = app.add_subcommand(
      "replay", "run the pipeline on NDJSON event files (or mapped CSV), without a broker");
  add_common(replay_cmd, replay.common);
  replay_cmd
      ->add_option("--mapping", replay.mapping_path,
                   "read CSV files through this column mapping instead of NDJSON events")
      ->check(CLI::ExistingFile);
  replay_cmd->add_option("files", replay.files, "NDJSON or CSV files")
      ->required()
      ->check(CLI::ExistingFile);
  replay_cmd->add_flag("!--no-summary", replay.summary, "do not print the summary table");

  ExportOptions exp;
  CLI::App* export_cmd = app.add_subcommand("export", "write the state store as CSV or NDJSON");
  add_common(export_cmd, exp.common);
  export_cmd->add_option("what", exp.what, "dossiers or aggregates")
      ->required()
      ->check(CLI::IsMember({"dossiers", "aggregates"}));
  exp.format = "csv";
  export_cmd->add_option("--format", exp.format, "csv or ndjson")
      ->check(CLI::IsMember({"csv", "ndjson"}))
      ->capture_default_str();
  export_cmd->add_option("--as-of", exp.as_of, "RFC 3339 instant for overdue_now (default: now)");
  export_cmd->add_option("-o,--output", exp.output, "output file (default: stdout)");

  CLI11_PARSE(app, argc, argv);
  // Logs go to stderr: stdout carries summaries and exports.
  spdlog::set_default_logger(spdlog::stderr_color_mt("iocstream"));
  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");

  if (*run_cmd) return RunLive(run);
  if (*import_cmd) return RunImport(import);
  if (*replay_cmd) return RunReplay(replay);
  if (*export_cmd) return RunExport(exp);
  return 1;
}
