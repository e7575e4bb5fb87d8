// The iocstream subcommands. Each returns the process exit code: 0 success, 1 bad input or
// configuration (with a message on stderr), 2 a runtime failure (broker, state store).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace iocstream::app {

// Bad input: the configuration, the command line or an input file (the service unit does not
// restart on it: RestartPreventExitStatus=1).
inline constexpr int kExitBadInput = 1;

struct CommonOptions {
  std::string config_path;
  std::optional<std::string> state_dir;  // --state-dir overrides state.dir
};

struct RunOptions {
  CommonOptions common;
  bool summary_when_caught_up = false;  // print the per-department table once lag is 0
  bool exit_when_caught_up = false;     // ...and exit (tests, demos)
  double idle_exit_seconds = 0;         // exit after this long with nothing consumed (0: never)
};
int RunLive(const RunOptions& options);

struct ImportOptions {
  CommonOptions common;
  std::string mapping_path;
  std::vector<std::string> files;
  bool progress = true;
};
int RunImport(const ImportOptions& options);

struct ReplayOptions {
  CommonOptions common;
  std::optional<std::string> mapping_path;  // CSV through a mapping; else NDJSON events
  std::vector<std::string> files;
  bool summary = true;
};
int RunReplay(const ReplayOptions& options);

struct ExportOptions {
  CommonOptions common;
  std::string what;                   // dossiers | aggregates
  std::string format;                 // csv | ndjson
  std::optional<std::string> as_of;   // RFC 3339; default: now
  std::optional<std::string> output;  // file; default: stdout
};
int RunExport(const ExportOptions& options);

struct ServeOptions {
  CommonOptions common;
};
// `iocstream serve`: the HTTP API (/api/v1, /healthz, /readyz) and /metrics on an existing
// state store, as its last commit left it: a replay's, or a stopped run's. No broker and no
// pipeline: nothing is consumed, no timer fires, the state does not change (the counters of
// events start at 0; the dossier gauges and the views are the store's). Holds the store's
// lock (a run or replay of the same directory waits for it to end) until SIGINT or SIGTERM,
// then exits 0. Errors: exit 1 for a directory that holds no store or http.enabled false.
int RunServe(const ServeOptions& options);

struct RecomputeOptions {
  CommonOptions common;
  std::optional<std::string> as_of;  // RFC 3339 clock; default: each partition's watermark
};
// `iocstream recompute`: the calendar and catalog files named by the config are loaded and
// the deadlines of every open dossier in the state store recomputed with them
// (Pipeline::Recompute), without a broker; `run` does the same on SIGHUP or POST
// /api/v1/admin/reload. Prints the summary as one JSON object on stdout. Timers now due
// fire when the store's next consumer (run or replay) advances its clock.
int RunRecompute(const RecomputeOptions& options);

struct SimulateOptions {
  std::string config_path;
  std::optional<std::string> units_path;  // default: simulator/phu-tho-units.csv by the config
  std::optional<std::string> pools_path;  // default: simulator/procedure-pools.csv by the config
  uint64_t dossiers = 100000;
  uint64_t seed = 1;
  std::string start = "2026-01-05T00:00:00+07:00";  // RFC 3339
  int days = 90;
  int tail_days = 90;                 // SimulatorOptions::tail_days
  double rate = 0;                    // events per second; 0: as fast as possible
  std::optional<std::string> ndjson;  // write NDJSON here ("-": stdout)
  // Or publish to this topic on kafka.bootstrap_servers. One of the two is required: nothing
  // goes to the config's events topic unless named, as simulated dossiers published there
  // would enter its state and KPIs for good.
  std::optional<std::string> topic;
  double duplicates = 0.02;
  double out_of_order = 0.01;
  bool progress = true;
};
// `iocstream simulate`: a deterministic province event stream (src/app/simulator.h) to a
// topic named by --topic (key = dossier id, murmur2 partitioner, record timestamp = event
// time; created with kafka.partitions if missing) or to an NDJSON file. Progress on stderr; a
// closing line with counts per event type on stdout.
int RunSimulate(const SimulateOptions& options);

// Standard output. main() reopens a descriptor 1 closed by the caller (`>&-`) on /dev/full, so
// that no file the command opens takes it; it says so here, and a failed write to standard
// output is then reported as the closed descriptor it is ("Bad file descriptor"), not as the
// ENOSPC of /dev/full.
void NoteStandardOutputWasClosed();

// The exit code of a command whose reader of standard output went away (EPIPE: `| head -1`):
// what the shell shows for a process killed by SIGPIPE, the default that cat, grep and git
// keep. iocstream keeps that default too; a process that inherits SIGPIPE ignored sees EPIPE
// instead and ends the same way, quietly, with this code. 128 + SIGPIPE.
inline constexpr int kExitBrokenPipe = 141;

// Flushes standard output once a command returned `code` (GNU's close_stdout): a summary that
// could not be written fails a command that succeeded (message on stderr, exit 2), or ends it
// with kExitBrokenPipe when the reader went away. Returns the process's exit code. `what`
// names the output in the message ("the summary", "the help").
int FinishStandardOutput(int code, const std::string& what = "the summary");

}  // namespace iocstream::app
