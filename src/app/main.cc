// iocstream: the event stream processor of a provincial monitoring center (IOC) for
// administrative-procedure dossiers. See README.md.
#include <fcntl.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <string>

#include "app/commands.h"
#include "app/log_format.h"
#include "app/runtime.h"
#include "app/string_functions.h"
#include "iocstream/state/state_store.h"

#ifndef IOCSTREAM_VERSION
#define IOCSTREAM_VERSION "0.0.0"
#endif

namespace {

// A decimal number in [lo, hi]: CLI11's own Range lets NaN through (no comparison fails)
// and reads "-1" into an unsigned option as 2^64 - 1.
CLI::Validator DecimalIn(double lo, double hi) {
  return CLI::Validator(
      [lo, hi](std::string& text) -> std::string {
        size_t pos = 0;
        double value = 0;
        try {
          value = std::stod(text, &pos);
        } catch (...) {
          return "not a number: " + text;
        }
        if (pos != text.size() || text.find_first_not_of("0123456789.eE+-") != std::string::npos ||
            !std::isfinite(value) || value < lo || value > hi) {
          return "not a number in [" + CLI::detail::to_string(lo) + " - " +
                 CLI::detail::to_string(hi) + "]: " + text;
        }
        return {};
      },
      "in [" + CLI::detail::to_string(lo) + " - " + CLI::detail::to_string(hi) + "]");
}

// A whole number in plain decimal digits within [lo, hi]. CLI::Range said "Value abc not in
// range" of text that was no number at all, and a double range printed 1e+08, which the
// integer option then failed to convert (a QA trial).
CLI::Validator WholeIn(uint64_t lo, uint64_t hi) {
  const std::string range = "[" + std::to_string(lo) + " - " + std::to_string(hi) + "]";
  return CLI::Validator(
      [lo, hi, range](std::string& text) -> std::string {
        uint64_t value = 0;
        const char* end = text.data() + text.size();
        const auto [at, ec] = std::from_chars(text.data(), end, value);
        if (text.empty() || ec != std::errc() || at != end || value < lo || value > hi) {
          return "not a whole number in " + range + ": " + text;
        }
        return {};
      },
      "in " + range);
}

// The soft limit of open files up to the hard one, as servers commonly do: RocksDB keeps its
// table files open, and HTTP clients, Kafka connections and the logs take descriptors from the
// same budget; systemd's default soft limit (1,024) is easy to reach. Best effort.
void RaiseOpenFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  limit.rlim_cur = limit.rlim_max;
  (void)setrlimit(RLIMIT_NOFILE, &limit);
}

// Descriptors 0-2 closed by the caller (`>&-`) would be taken by the next file opened: the state
// directory's lock file or RocksDB's LOG then received the export or the log lines, and the
// command said it succeeded (a helper's finding). They are reopened first: stdin and stderr on
// /dev/null, stdout on /dev/full, so that results written to a closed stdout still fail
// (ENOSPC) rather than vanish; a closed stdout is noted, so that the failure names its cause.
void ReopenClosedStandardDescriptors() {
  for (const int fd : {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO}) {
    if (fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    if (fd == STDOUT_FILENO) iocstream::app::NoteStandardOutputWasClosed();
    const int flags = fd == STDIN_FILENO ? O_RDONLY : O_WRONLY;
    int opened = fd == STDOUT_FILENO ? open("/dev/full", flags) : -1;
    if (opened < 0) opened = open("/dev/null", flags);  // no /dev/full (a minimal chroot)
    if (opened >= 0 && opened != fd) {
      (void)dup2(opened, fd);
      (void)close(opened);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  using namespace iocstream::app;
  // Before anything else, and before the re-exec below, which keeps the mask: a SIGHUP waits
  // for the command's handler (runtime.h).
  HoldHangup();
  // Then: it may execute the program again (before any descriptor is reopened or thread
  // started, so the new image sees the process as it was started).
  PreferAvx2StringFunctions(argv);
  ReopenClosedStandardDescriptors();
  RaiseOpenFileLimit();
  CLI::App app{"iocstream: dossier event stream processor (Kafka -> RocksDB -> metrics, alerts)"};
  app.set_version_flag("--version", std::string("iocstream ") + IOCSTREAM_VERSION + ", " +
                                        iocstream::state::EngineDescription() + ", " +
                                        StringFunctionsDescription());
  app.require_subcommand(1);
  app.fallthrough();  // --log-level also after the subcommand
  std::string log_level = "info";
  // "warning" too: the log writes the level so (a helper's trial was refused it).
  app.add_option("--log-level", log_level,
                 "trace, debug, info, warn (or warning), error, critical, off")
      ->check(
          CLI::IsMember({"trace", "debug", "info", "warn", "warning", "error", "critical", "off"}))
      ->capture_default_str();

  // `import` only publishes: it has no state directory to override.
  enum class StateDirOption { kYes, kNo };
  auto add_common = [](CLI::App* cmd, CommonOptions& c,
                       StateDirOption state_dir = StateDirOption::kYes) {
    cmd->add_option("--config", c.config_path, "YAML config file (see config/iocstream.yaml)")
        ->required()
        ->check(CLI::ExistingFile);
    if (state_dir == StateDirOption::kYes) {
      cmd->add_option("--state-dir", c.state_dir, "state directory (overrides state.dir)");
    } else {
      // Refused by name (hidden from --help): an unknown option's value could otherwise be
      // taken for a file, and the error name that instead. Thrown by the option's callback,
      // which CLI11 passes on as it is: a check's message would follow the empty name CLI11
      // gives a hidden option (": import publishes...").
      cmd->add_option_function<std::string>(
             "--state-dir",
             [name = cmd->get_name()](const std::string&) {
               throw CLI::ValidationError(
                   "--state-dir", name + " publishes to Kafka and keeps no state: it takes none");
             })
          ->expected(0, 1)  // given without a value, the same refusal (not a missing value)
          ->group("");
    }
  };

  RunOptions run;
  CLI::App* run_cmd =
      app.add_subcommand("run", "consume dossier events from Kafka (live, consumer group)");
  add_common(run_cmd, run.common);
  run_cmd->add_flag("--summary-when-caught-up", run.summary_when_caught_up,
                    "print the per-department summary once this instance owns every partition "
                    "and its consumer lag is 0");
  run_cmd->add_flag("--exit-when-caught-up", run.exit_when_caught_up,
                    "exit once caught up (as above) and the outbox is drained: for "
                    "single-instance backfills and tests");
  run_cmd
      ->add_option("--idle-exit", run.idle_exit_seconds,
                   "exit after this many seconds without records (0 = never)")
      ->check(DecimalIn(0, 1e9));

  ImportOptions import;
  CLI::App* import_cmd = app.add_subcommand(
      "import", "publish the rows of CSV exports to the events topic as dossier events");
  add_common(import_cmd, import.common, StateDirOption::kNo);
  import_cmd->add_option("--mapping", import.mapping_path, "CSV column mapping (YAML)")
      ->required()
      ->check(CLI::ExistingFile);
  import_cmd->add_option("files", import.files, "CSV files")->required()->check(CLI::ExistingFile);
  import_cmd->add_flag_callback(
      "--no-progress", [&import] { import.progress = false; }, "no progress bar");

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
  replay_cmd->add_flag_callback(
      "--no-summary", [&replay] { replay.summary = false; },
      "do not print the summary (the per-department table, the consumed = applied "
      "+ duplicates + dead-lettered accounting and the CPU by thread)");

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
  export_cmd->add_option(
      "--as-of", exp.as_of,
      "RFC 3339 instant for the dossiers' overdue_now column, and in NDJSON for whether their "
      "alerts.held_until still holds (default: now by timers.clock: the wall clock, or each "
      "dossier's partition's watermark); aggregates are counts as of the last commit, "
      "whatever it says");
  export_cmd->add_option("-o,--output", exp.output, "output file (default, and -: stdout)");

  ServeOptions serve;
  CLI::App* serve_cmd = app.add_subcommand(
      "serve",
      "serve the HTTP API and /metrics on a state store as its last commit left it (a "
      "replay's, a stopped run's), without a broker; nothing is consumed");
  add_common(serve_cmd, serve.common);

  RecomputeOptions recompute;
  CLI::App* recompute_cmd = app.add_subcommand(
      "recompute",
      "recompute the deadlines of open dossiers with the calendar and catalog files of the "
      "config (after a change of days off), without a broker; stop `run` first");
  add_common(recompute_cmd, recompute.common);
  recompute_cmd->add_option("--as-of", recompute.as_of,
                            "RFC 3339 clock deciding which moved deadlines are still past "
                            "(default: each partition's watermark)");

  SimulateOptions sim;
  CLI::App* sim_cmd = app.add_subcommand(
      "simulate",
      "generate a realistic, deterministic dossier event stream for one province (docs/"
      "simulator.md) and write it as NDJSON (--ndjson) or publish it to a topic (--topic)");
  sim_cmd->add_option("--config", sim.config_path, "YAML config file (see config/iocstream.yaml)")
      ->required()
      ->check(CLI::ExistingFile);
  sim_cmd->add_option("--units", sim.units_path,
                      "calibration units CSV (default: simulator/phu-tho-units.csv next to the "
                      "config, or in the folder above it)");
  sim_cmd->add_option("--procedure-pools", sim.pools_path,
                      "procedures per unit level CSV (default: simulator/procedure-pools.csv "
                      "next to the config, or in the folder above it)");
  sim_cmd->add_option("--dossiers", sim.dossiers, "number of dossiers")
      ->check(WholeIn(1, 100000000))
      ->capture_default_str();
  sim_cmd->add_option("--seed", sim.seed, "random seed (same seed, same events)")
      ->check(
          [](const std::string& text) -> std::string {
            uint64_t value = 0;
            const char* end = text.data() + text.size();
            const auto [at, ec] = std::from_chars(text.data(), end, value);
            if (text.empty() || ec != std::errc() || at != end) {
              return "not an integer in [0 - 18446744073709551615]: " + text;
            }
            return {};
          },
          "")
      ->capture_default_str();
  sim_cmd->add_option("--start", sim.start, "first day of submissions (RFC 3339, local date)")
      ->capture_default_str();
  sim_cmd->add_option("--days", sim.days, "days of submissions")
      ->check(WholeIn(1, 36500))
      ->capture_default_str();
  sim_cmd
      ->add_option("--tail-days", sim.tail_days,
                   "days the stream runs on after the last day of submissions; later events are "
                   "not emitted (their dossiers cut short), as in an export taken that day")
      ->check(WholeIn(0, 36500))
      ->capture_default_str();
  sim_cmd->add_option("--rate", sim.rate, "events per second (0 = as fast as possible)")
      ->check(DecimalIn(0, 1e9))
      ->capture_default_str();
  CLI::Option* sim_ndjson =
      sim_cmd->add_option("--ndjson", sim.ndjson, "write NDJSON to this file ('-' = stdout)");
  sim_cmd
      ->add_option("--topic", sim.topic,
                   "or publish to this topic on kafka.bootstrap_servers (created with "
                   "kafka.partitions if missing); never the config's events topic unless named")
      ->excludes(sim_ndjson);
  sim_cmd->add_option("--duplicates", sim.duplicates, "share of events re-emitted verbatim")
      ->check(DecimalIn(0, 1))
      ->capture_default_str();
  sim_cmd
      ->add_option("--out-of-order", sim.out_of_order,
                   "share of events emitted after their dossier's next event or delayed")
      ->check(DecimalIn(0, 1))
      ->capture_default_str();
  sim_cmd->add_flag_callback(
      "--no-progress", [&sim] { sim.progress = false; }, "no progress bar");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // No subcommand: CLI11 only says that one is required. Name the word that was taken for
    // one, if it came first, and list the subcommands.
    if (dynamic_cast<const CLI::RequiredError*>(&e) != nullptr && app.get_subcommands().empty()) {
      std::string names;
      for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
        names += (names.empty() ? "" : ", ") + sub->get_name();
      }
      const std::vector<std::string> left = app.remaining();
      const bool word_first = !left.empty() && !left.front().starts_with("-");
      std::cerr << "iocstream: "
                << (word_first ? "unknown subcommand '" + left.front() + "'"
                               : std::string("a subcommand is required"))
                << " (the subcommands: " << names << ")\nRun with --help for more information.\n";
      return kExitBadInput;
    }
    // CLI11's own codes (105, 106, 109...) would be restarted by the service unit, which
    // spares only 1: a missing --config file restarted every 5 s.
    // --help and --version are written to stdout: a closed one fails them as any output.
    if (app.exit(e) == 0) return FinishStandardOutput(0, "the help or version");
    return kExitBadInput;
  }
  // Logs go to stderr: stdout carries summaries and exports.
  spdlog::set_default_logger(spdlog::stderr_color_mt("iocstream"));
  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::set_formatter(MakeLogFormatter());  // one line per message (log_format.h)

  // Commands without a SIGHUP handler of their own end on it, as before.
  if (*import_cmd || *export_cmd || *recompute_cmd) ReleaseHangup();
  int code = kExitBadInput;
  if (*run_cmd) code = RunLive(run);
  if (*import_cmd) code = RunImport(import);
  if (*replay_cmd) code = RunReplay(replay);
  if (*export_cmd) {
    // `-o -` is standard output, as `simulate --ndjson -` is (it wrote a file named "-").
    if (exp.output == "-") exp.output.reset();
    code = RunExport(exp);
  }
  if (*serve_cmd) code = RunServe(serve);
  if (*recompute_cmd) code = RunRecompute(recompute);
  if (*sim_cmd) code = RunSimulate(sim);
  return FinishStandardOutput(code);
}
