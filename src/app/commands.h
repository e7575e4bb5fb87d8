// The iocstream subcommands. Each returns the process exit code: 0 success, 1 bad input or
// configuration (with a message on stderr), 2 a runtime failure (broker, state store).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace iocstream::app {

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

}  // namespace iocstream::app
