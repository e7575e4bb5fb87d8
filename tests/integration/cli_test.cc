// The command line's own errors: what a user who mistypes a subcommand is told.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "integration/harness.h"
#include "iocstream/state/state_store.h"

namespace iocstream::testing {
namespace {

TEST(CliTest, AnUnknownSubcommandIsNamedWithTheSubcommands) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"frob"}, std::vector<std::string>{"--log-level", "debug", "frob"},
        std::vector<std::string>{"frob", "--config", "x.yaml"}}) {
    const CommandResult r = RunIocstream(args);
    EXPECT_EQ(r.exit_code, 1) << args.back();
    EXPECT_NE(r.err.find("unknown subcommand 'frob' (the subcommands: run, import, replay, "),
              std::string::npos)
        << r.err;
  }
}

// The log writes "warning" for the level: --log-level takes it too (a helper's trial was
// refused it), and it keeps info lines out as warn does.
TEST(CliTest, LogLevelWarningIsWarn) {
  TempDir dir;
  for (const char* level : {"warn", "warning"}) {
    SCOPED_TRACE(level);
    const std::string events = dir / (std::string(level) + ".ndjson");
    std::ofstream(events) << "not json\n";
    const CommandResult r =
        RunIocstream({"--log-level", level, "replay", "--config", WriteConfig(dir, "log"),
                      "--state-dir", dir / (std::string("state-") + level), events});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err.find(" info "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(" warning "), std::string::npos) << r.err;  // the dead letter
  }
}

TEST(CliTest, NoSubcommandListsThem) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{}, std::vector<std::string>{"--config", "x.yaml", "rplay"}}) {
    const CommandResult r = RunIocstream(args);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("a subcommand is required (the subcommands: run, import, replay, "),
              std::string::npos)
        << r.err;
  }
}

// `import` publishes and touches no state: --state-dir was accepted there and did nothing
// (found by a helper). The commands with a state directory still take it.
TEST(CliTest, ImportHasNoStateDirOption) {
  TempDir dir;
  const std::string csv = dir / "cases.csv";
  std::ofstream(csv) << "case_id\n1\n";
  const CommandResult r =
      RunIocstream({"import", "--config", SourceDir() + "/config/iocstream.yaml", "--state-dir",
                    dir / "state", csv});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(
      r.err.starts_with("--state-dir: import publishes to Kafka and keeps no state: it takes none"))
      << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "state"));
  // Without a value (last on the line, or before another option): the same refusal, not
  // CLI11's missing-value message under the hidden option's empty name.
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"import", "--config", SourceDir() + "/config/iocstream.yaml", csv,
                                 "--state-dir"},
        std::vector<std::string>{"import", "--state-dir", "--config",
                                 SourceDir() + "/config/iocstream.yaml", csv}}) {
    const CommandResult bare = RunIocstream(args);
    EXPECT_NE(bare.exit_code, 0);
    EXPECT_TRUE(bare.err.starts_with(
        "--state-dir: import publishes to Kafka and keeps no state: it takes none"))
        << bare.err;
  }
  const CommandResult import_help = RunIocstream({"import", "--help"});
  EXPECT_EQ(import_help.out.find("--state-dir"), std::string::npos) << import_help.out;
  const CommandResult help = RunIocstream({"replay", "--help"});
  EXPECT_NE(help.out.find("--state-dir"), std::string::npos) << help.out;
}

// Numbers out of range are refused by name: "-1" was read into --dossiers as 2^64 - 1 (the
// generator then ran out of memory), NaN passed the range checks (found by a helper).
TEST(CliTest, SimulateRefusesNumbersOutOfRange) {
  TempDir dir;
  const std::string out = dir / "events.ndjson";
  for (const std::vector<std::string>& bad :
       {std::vector<std::string>{"--dossiers", "-1"},
        std::vector<std::string>{"--dossiers", "18446744073709551616"},
        std::vector<std::string>{"--dossiers", "0"},
        std::vector<std::string>{"--dossiers", "100000001"},
        std::vector<std::string>{"--seed", "-1"},
        std::vector<std::string>{"--seed", "18446744073709551616"},
        std::vector<std::string>{"--rate", "nan"}, std::vector<std::string>{"--rate", "-5"},
        std::vector<std::string>{"--duplicates", "nan"},
        std::vector<std::string>{"--out-of-order", "1.5"},
        std::vector<std::string>{"--start", "9999-01-01T00:00:00+07:00"}}) {
    std::vector<std::string> args = {"simulate", "--config", SourceDir() + "/config/iocstream.yaml",
                                     "--ndjson", out};
    args.insert(args.end(), bad.begin(), bad.end());
    const CommandResult r = RunIocstream(args, std::chrono::seconds(60));
    EXPECT_NE(r.exit_code, 0) << bad[0] << " " << bad[1];
    EXPECT_NE(r.err.find(bad[0]), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(out)) << bad[0] << " " << bad[1];
  }
}

// A thin stream (200 dossiers over ten years) has events more than timers.max_time_ahead
// after both their partition's newest earlier event and today: simulate counts them and warns,
// and replay dead-letters exactly those (a QA trial found long tails dead-lettered silently).
TEST(CliTest, SimulateWarnsOfTheEventsReplayWouldDeadLetter) {
  TempDir dir;
  const std::string config = SourceDir() + "/config/iocstream.yaml";
  const std::string file = dir / "thin.ndjson";
  const CommandResult sim = RunIocstream({"simulate", "--config", config, "--ndjson", file,
                                          "--dossiers", "200", "--days", "3650", "--no-progress"},
                                         std::chrono::seconds(60));
  ASSERT_EQ(sim.exit_code, 0) << sim.err;
  const std::regex warned(R"((\d+) events are dated more than timers\.max_time_ahead)");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(sim.err, m, warned)) << sim.err;
  const std::string ahead = m[1];
  EXPECT_NE(ahead, "0");
  const CommandResult replay = RunIocstream(
      {"replay", "--config", config, "--state-dir", dir / "state", file}, std::chrono::seconds(60));
  ASSERT_EQ(replay.exit_code, 0) << replay.err;
  EXPECT_NE(replay.out.find("+ dead-lettered " + ahead + ";"), std::string::npos) << ahead << "\n"
                                                                                  << replay.out;
}

// A missing --units or --procedure-pools file is bad input (exit 1), as a missing replay file
// is; it exited 2, a runtime failure, which a supervisor retries (a QA trial).
TEST(CliTest, SimulateTakesAMissingTableAsBadInput) {
  TempDir dir;
  const std::string config = SourceDir() + "/config/iocstream.yaml";
  for (const char* flag : {"--units", "--procedure-pools"}) {
    const CommandResult r = RunIocstream(
        {"simulate", "--config", config, "--ndjson", dir / "events.ndjson", flag, dir / "nope.csv"},
        std::chrono::seconds(60));
    EXPECT_EQ(r.exit_code, 1) << flag << ": " << r.err;
    EXPECT_NE(r.err.find("nope.csv: no such simulator table"), std::string::npos) << r.err;
  }
}

// Simulated dossiers published to a live events topic would enter its state and KPIs for
// good: without --ndjson or --topic, simulate refuses (it published to kafka.events_topic),
// before any broker is asked; and it takes one destination, not both.
TEST(CliTest, SimulateWritesNowhereUnlessTold) {
  TempDir dir;
  const std::string config = SourceDir() + "/config/iocstream.yaml";
  const CommandResult none =
      RunIocstream({"simulate", "--config", config, "--dossiers", "3"}, std::chrono::seconds(60));
  EXPECT_EQ(none.exit_code, 1) << none.err;  // bad input
  EXPECT_NE(none.err.find("simulate: say where the events go: --ndjson FILE, or --topic NAME"),
            std::string::npos)
      << none.err;
  EXPECT_NE(none.err.find("the config's events topic is 'dossier-events'"), std::string::npos)
      << none.err;
  const CommandResult both = RunIocstream(
      {"simulate", "--config", config, "--ndjson", dir / "events.ndjson", "--topic", "t"},
      std::chrono::seconds(60));
  EXPECT_NE(both.exit_code, 0);
  EXPECT_NE(both.err.find("excludes"), std::string::npos) << both.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "events.ndjson"));
  // A topic name Kafka refuses is a command-line error, said before any broker is asked (it
  // exited 2, as a broker failure, a QA trial).
  const CommandResult bad =
      RunIocstream({"simulate", "--config", config, "--topic", "bad topic!", "--dossiers", "3"},
                   std::chrono::seconds(60));
  EXPECT_EQ(bad.exit_code, 1) << bad.err;
  EXPECT_NE(bad.err.find("--topic: 'bad topic!': a topic name has only ASCII letters"),
            std::string::npos)
      << bad.err;  // The config's alerts or dead-letter topic is not one of dossier events (a
                   // helper's trial
  // published there without a word).
  for (const auto& [topic, key] : {std::pair{"dossier-alerts", "kafka.alerts_topic"},
                                   std::pair{"dossier-events-dlq", "kafka.dead_letter_topic"}}) {
    const CommandResult taken =
        RunIocstream({"simulate", "--config", config, "--topic", topic, "--dossiers", "3"},
                     std::chrono::seconds(60));
    EXPECT_EQ(taken.exit_code, 1) << taken.err;
    EXPECT_NE(taken.err.find("--topic: '" + std::string(topic) + "' is the config's " + key),
              std::string::npos)
        << taken.err;
  }
}

// A simulate stopped by SIGINT exits 130 and says on the log, as replay does, how many events
// it wrote and where (a QA finding: the exit code alone); the file holds that many lines.
TEST(CliTest, ASimulateStoppedBySigintSaysWhatItWrote) {
  TempDir dir;
  const std::string out = dir / "events.ndjson";
  Child sim({"simulate", "--config", SourceDir() + "/config/iocstream.yaml", "--ndjson", out,
             "--rate", "2000", "--no-progress"},
            dir.path());
  for (int i = 0; i < 600 && !std::filesystem::exists(out); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  sim.Kill(SIGINT);
  const std::optional<int> code = sim.Wait(std::chrono::seconds(60));
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 130) << sim.Stderr();
  const std::regex stopped_re(
      R"(simulate stopped by a signal after (\d+) events of \d+ dossiers: written to (\S+))");
  std::smatch m;
  const std::string log = sim.Stderr();
  ASSERT_TRUE(std::regex_search(log, m, stopped_re)) << log;
  EXPECT_EQ(m[2].str(), out);
  std::ifstream written(out);
  const auto lines =
      std::count(std::istreambuf_iterator<char>(written), std::istreambuf_iterator<char>(), '\n');
  EXPECT_GT(lines, 0);
  EXPECT_EQ(std::to_string(lines), m[1].str());
}

// The whole range of --seed is taken (the largest seed was refused as out of range).
TEST(CliTest, SimulateTakesTheLargestSeed) {
  TempDir dir;
  const CommandResult r = RunIocstream(
      {"simulate", "--config", SourceDir() + "/config/iocstream.yaml", "--dossiers", "3", "--seed",
       "18446744073709551615", "--ndjson", dir / "events.ndjson", "--no-progress"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::filesystem::exists(dir / "events.ndjson"));
}

// `run --idle-exit` took a negative, NaN or infinite count of seconds and then never exited
// (a helper's finding): refused by name, before any broker is asked.
TEST(CliTest, RunRefusesAnIdleExitOutOfRange) {
  for (const std::string bad : {"-5", "nan", "inf", "1e400"}) {
    const CommandResult r = RunIocstream(
        {"run", "--config", SourceDir() + "/config/iocstream.yaml", "--idle-exit", bad},
        std::chrono::seconds(60));
    EXPECT_NE(r.exit_code, 0) << bad;
    EXPECT_NE(r.err.find("--idle-exit: not a number"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(bad), std::string::npos) << r.err;
  }
}

// At a low --rate, SIGTERM waited for the end of the current pause (1/rate seconds); the
// summary counted an event made but not written.
TEST(CliTest, SimulateAtALowRateStopsOnSigtermAndCountsWhatItWrote) {
  TempDir dir;
  const std::string out = dir / "events.ndjson";
  Child child({"simulate", "--config", SourceDir() + "/config/iocstream.yaml", "--rate", "0.001",
               "--no-progress", "--ndjson", out},
              dir.path());
  std::this_thread::sleep_for(std::chrono::seconds(2));
  child.Kill(SIGTERM);
  const std::optional<int> code = child.Wait(std::chrono::seconds(10));
  ASSERT_TRUE(code.has_value()) << "still running 10 s after SIGTERM";
  EXPECT_EQ(*code, 130);
  std::ifstream in(out);
  size_t lines = 0;
  for (std::string line; std::getline(in, line);) ++lines;
  EXPECT_EQ(lines, 1u);  // the first token is there at once, the next after 1000 s
  EXPECT_NE(child.Stdout().find("as 1 events"), std::string::npos) << child.Stdout();
  EXPECT_NE(child.Stdout().find("(stopped early)"), std::string::npos) << child.Stdout();
}

// Pointed at a directory that holds no store (a typo), export and recompute created a
// RocksDB store in it and reported it empty (found by a helper). They refuse it untouched.
TEST(CliTest, ExportAndRecomputeRefuseADirectoryWithoutAStore) {
  TempDir dir;
  const std::string config = WriteConfig(dir, UniqueName("cli-no-store"));
  const std::string data = dir / "data";
  std::filesystem::create_directories(data);
  std::ofstream(data + "/notes.txt") << "not a store\n";
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"export", "--config", config, "--state-dir", data, "dossiers"},
        std::vector<std::string>{"recompute", "--config", config, "--state-dir", data}}) {
    const CommandResult r = RunIocstream(args, std::chrono::seconds(120));
    EXPECT_NE(r.exit_code, 0) << args[0];
    EXPECT_NE(r.err.find(data + " holds no state store"), std::string::npos) << r.err;
  }
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(data)) ++entries;
  EXPECT_EQ(entries, 1u);
}

// A replay into a state directory that `run` wrote (its topic's positions stored) goes on from
// that state, the partitions' watermarks included, and says so; a replay into its own directory
// does not (a QA trial's `run` on a replay's directory applied every event as late data and
// fired no timer, silently).
TEST(CliTest, AReplayIntoTheStateDirectoryOfARunSaysSo) {
  TempDir dir;
  const std::string config = WriteConfig(dir, UniqueName("cli-other-source"));
  const std::string file = dir / "events.ndjson";
  std::ofstream(file) << R"({"schema_version":1,"event_id":"E1","dossier_id":"D1",)"
                      << R"("type":"received","occurred_at":"2026-03-02T08:00:00+07:00",)"
                      << R"("agency_code":"AG"})"
                      << "\n";
  const std::string run_state = dir / "run-state";
  {
    state::StateStoreOptions options;
    options.path = run_state;
    auto store = state::StateStore::Open(options);
    ASSERT_TRUE(store.has_value()) << store.error().message;
    state::StateBatch batch = (*store)->NewBatch();
    batch.PutOffset(TopicPartition{"dossier-events", PartitionId(0)}, Offset(42));
    ASSERT_TRUE((*store)->Commit(std::move(batch)).ok());
  }
  const std::string said = "holds the state of `run` on 1 topic(s) (dossier-events)";
  const CommandResult onto_run = RunIocstream(
      {"replay", "--config", config, "--state-dir", run_state, file}, std::chrono::seconds(120));
  EXPECT_EQ(onto_run.exit_code, 0) << onto_run.err;
  EXPECT_NE(onto_run.err.find(said), std::string::npos) << onto_run.err;
  const std::string own_state = dir / "own-state";
  const CommandResult own = RunIocstream(
      {"replay", "--config", config, "--state-dir", own_state, file}, std::chrono::seconds(120));
  EXPECT_EQ(own.exit_code, 0) << own.err;
  EXPECT_EQ(own.err.find("holds the state of"), std::string::npos) << own.err;
}

// A command-line error exits 1 like a configuration error, so the service unit
// (RestartPreventExitStatus=1) does not restart it: a missing --config file exited 105 and was
// restarted every 5 s (found by a helper). --help and --version still exit 0.
TEST(CliTest, CommandLineErrorsExitOne) {
  TempDir dir;
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"run", "--config", dir / "missing.yaml"},
        std::vector<std::string>{"replay", "--config"},
        std::vector<std::string>{"run", "--config", dir / "missing.yaml", "--no-such-option"}}) {
    const CommandResult r = RunIocstream(args);
    EXPECT_EQ(r.exit_code, 1) << args.back() << ": " << r.err;
    EXPECT_FALSE(r.err.empty());
  }
  EXPECT_EQ(RunIocstream({"--help"}).exit_code, 0);
  EXPECT_EQ(RunIocstream({"run", "--help"}).exit_code, 0);
  EXPECT_EQ(RunIocstream({"--version"}).exit_code, 0);
}

// glibc's string functions (app/string_functions.h): on a CPU with AVX-512, iocstream executes
// itself again at its start with glibc's AVX2 variants chosen (its replay ran a quarter faster
// so), in the same process, keeping the operator's other tunables; a GLIBC_TUNABLES that
// chooses, or IOCSTREAM_STRING_FUNCTIONS, keeps glibc's own choice.
TEST(CliTest, ChoosesGlibcsStringFunctionsOnceAtTheStart) {
  const bool avx512 = __builtin_cpu_supports("avx512f") != 0;
  auto version = [](std::vector<std::string> env) {
    std::vector<std::string> args = {"-u", "GLIBC_TUNABLES", "-u", "IOCSTREAM_STRING_FUNCTIONS"};
    args.insert(args.end(), env.begin(), env.end());
    args.insert(args.end(), {IOCSTREAM_BINARY, "--version"});
    const CommandResult r = RunProgram("/usr/bin/env", args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  };
  const std::string chosen = version({});
  if (!avx512) {
    EXPECT_NE(chosen.find("glibc string functions: glibc's choice (the CPU has no AVX-512)"),
              std::string::npos)
        << chosen;
    GTEST_SKIP() << "the CPU has no AVX-512: nothing to choose";
  }
  EXPECT_NE(chosen.find("glibc string functions: AVX2 variants (GLIBC_TUNABLES=glibc.cpu.hwcaps="
                        "-AVX512F,-AVX512VL,-AVX512BW,-AVX512DQ,-AVX512CD)"),
            std::string::npos)
      << chosen;
  const std::string kept = version({"GLIBC_TUNABLES=glibc.malloc.check=0"});
  EXPECT_NE(kept.find("AVX2 variants (GLIBC_TUNABLES=glibc.malloc.check=0:glibc.cpu.hwcaps="),
            std::string::npos)
      << kept;
  const std::string operators = version({"GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX512VL"});
  EXPECT_NE(operators.find("as GLIBC_TUNABLES sets (glibc.cpu.hwcaps=-AVX512VL)"),
            std::string::npos)
      << operators;
  // Started through the dynamic loader, the program is not executed again (the loader would
  // be: it then ran with iocstream's arguments, a helper's trial).
  const std::string loader = version({"/lib64/ld-linux-x86-64.so.2"});
  EXPECT_NE(loader.find("glibc's choice (started through the dynamic loader)"), std::string::npos)
      << loader;
  const std::string glibcs = version({"IOCSTREAM_STRING_FUNCTIONS=glibc"});
  EXPECT_NE(glibcs.find("glibc's choice (IOCSTREAM_STRING_FUNCTIONS=glibc)"), std::string::npos)
      << glibcs;

  // The running process is the one started (a service manager follows its pid), executed
  // again: its environment is the new image's.
  // The serve below inherits this process's environment: as a default start's.
  struct Unset {
    std::optional<std::string> tunables, chosen;
    Unset() {
      if (const char* v = std::getenv("GLIBC_TUNABLES")) tunables = v;
      if (const char* v = std::getenv("IOCSTREAM_STRING_FUNCTIONS")) chosen = v;
      unsetenv("GLIBC_TUNABLES");
      unsetenv("IOCSTREAM_STRING_FUNCTIONS");
    }
    ~Unset() {
      if (tunables) setenv("GLIBC_TUNABLES", tunables->c_str(), 1);
      if (chosen) setenv("IOCSTREAM_STRING_FUNCTIONS", chosen->c_str(), 1);
    }
  } unset;
  TempDir dir;
  const std::string config = WriteConfig(dir, UniqueName("cli-string-functions"));
  const std::string events = dir / "events.ndjson";
  std::ofstream{events};
  ASSERT_EQ(
      RunIocstream({"replay", "--config", config, "--state-dir", dir / "state", events}).exit_code,
      0);
  // Started through a symbolic link (an alternatives-style install), it keeps the link's name:
  // executing the link's target named it after the target, so `pgrep -x` missed it.
  const std::string link = dir / "ioc-link";
  std::filesystem::create_symlink(IOCSTREAM_BINARY, link);
  Child serve(link, {"serve", "--config", config, "--state-dir", dir / "state"}, dir.path());
  ASSERT_GT(WaitForHttpPort(serve), 0) << serve.Stderr();
  std::ifstream environ_file("/proc/" + std::to_string(serve.pid()) + "/environ");
  const std::string environ((std::istreambuf_iterator<char>(environ_file)),
                            std::istreambuf_iterator<char>());
  std::string name;
  std::getline(std::ifstream("/proc/" + std::to_string(serve.pid()) + "/comm"), name);
  serve.Kill(SIGTERM);
  EXPECT_EQ(serve.Wait(std::chrono::seconds(30)), 0) << serve.Stderr();
  EXPECT_EQ(name, "ioc-link");  // not "exe" (/proc/self/exe) nor "iocstream" (the target)
  EXPECT_NE(environ.find(std::string("IOCSTREAM_STRING_FUNCTIONS=avx2") + '\0'), std::string::npos);
  EXPECT_NE(serve.Stderr().find("glibc string functions: AVX2 variants"), std::string::npos)
      << serve.Stderr();
}

// With stdout closed (`>&-`), the next file opened took descriptor 1: the export went into the
// state directory's lock file and the command exited 0 (found by a helper). Now the write
// fails and the store's files are untouched.
TEST(CliTest, AClosedStdoutFailsTheExportAndWritesNothingIntoTheStore) {
  TempDir dir;
  const std::string config = WriteConfig(dir, UniqueName("cli-closed-stdout"));
  const std::string events = dir / "events.ndjson";
  std::ofstream{events};  // an empty store: its export is the CSV header
  const std::string state = dir / "state";
  ASSERT_EQ(RunIocstream({"replay", "--config", config, "--state-dir", state, events}).exit_code,
            0);
  const CommandResult r =
      RunProgram("/bin/sh", {"-c",
                             "exec \"$0\" export --config \"$1\" --state-dir \"$2\" "
                             "dossiers >&-",
                             IOCSTREAM_BINARY, config, state});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  // It said "No space left on device", the errno of /dev/full, which stands in for the closed
  // descriptor (a user trial).
  EXPECT_NE(r.err.find("cannot write the export to standard output: Bad file descriptor"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("No space"), std::string::npos) << r.err;
  EXPECT_EQ(std::filesystem::file_size(state + "/iocstream.lock"), 0u);
  // The replay's summary goes to stdout too: lost, it fails the command, with the same cause.
  const CommandResult replay = RunProgram(
      "/bin/sh", {"-c", "exec \"$0\" replay --config \"$1\" --state-dir \"$2\" \"$3\" >&-",
                  IOCSTREAM_BINARY, config, state, events});
  EXPECT_EQ(replay.exit_code, 2) << replay.err;
  EXPECT_NE(replay.err.find("cannot write the summary to standard output: Bad file descriptor"),
            std::string::npos)
      << replay.err;
  // So do --version and --help, which exited 0 with nothing written (a QA trial).
  for (const char* flag : {"--version", "--help"}) {
    const CommandResult shown = RunProgram(
        "/bin/sh", {"-c", std::string("exec \"$0\" ") + flag + " >&-", IOCSTREAM_BINARY});
    EXPECT_EQ(shown.exit_code, 2) << flag << ": " << shown.err;
    EXPECT_NE(shown.err.find("cannot write the help or version to standard output: Bad file "
                             "descriptor"),
              std::string::npos)
        << shown.err;
  }
}

// Runs `iocstream args...` with stdout on a pipe whose reader has gone (`| head -1` once head
// exits), SIGPIPE ignored or not; returns the wait status and what it wrote on stderr.
std::pair<int, std::string> RunWithReaderGone(const std::vector<std::string>& args,
                                              bool ignore_sigpipe, const std::string& err_path) {
  int fds[2];
  if (::pipe(fds) != 0) return {-1, ""};
  ::close(fds[0]);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(err, STDERR_FILENO);
    ::signal(SIGPIPE, ignore_sigpipe ? SIG_IGN : SIG_DFL);
    std::vector<char*> argv{const_cast<char*>(IOCSTREAM_BINARY)};
    for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    ::execv(IOCSTREAM_BINARY, argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  int status = -1;
  ::waitpid(pid, &status, 0);
  std::ifstream in(err_path);
  return {status, std::string(std::istreambuf_iterator<char>(in), {})};
}

// `iocstream export ... | head -1`: the reader went away. As cat and grep do, the export ends
// quietly: killed by SIGPIPE (its default), or, when SIGPIPE was inherited ignored, with the
// status a shell shows for that (141) instead of "writing the export to stdout failed: Broken
// pipe".
TEST(CliTest, AReaderThatGoesAwayEndsTheExportQuietly) {
  TempDir dir;
  const std::string config = WriteConfig(dir, UniqueName("cli-broken-pipe"));
  const std::string events = WriteOneReceipt(dir);
  const std::string state = dir / "state";
  ASSERT_EQ(RunIocstream({"replay", "--config", config, "--state-dir", state, events}).exit_code,
            0);
  const std::vector<std::string> args = {"export",      "--config", config,
                                         "--state-dir", state,      "dossiers"};
  const auto [killed, killed_err] = RunWithReaderGone(args, false, dir / "killed.err");
  EXPECT_TRUE(WIFSIGNALED(killed) && WTERMSIG(killed) == SIGPIPE) << killed << killed_err;
  const auto [ended, ended_err] = RunWithReaderGone(args, true, dir / "ended.err");
  ASSERT_TRUE(WIFEXITED(ended)) << ended;
  EXPECT_EQ(WEXITSTATUS(ended), 141) << ended_err;
  EXPECT_EQ(ended_err.find("iocstream:"), std::string::npos) << ended_err;
}

// `export -o STATE/CURRENT` truncated the store's own file (found by a helper): an output path
// inside the state directory, however spelt, is refused before anything is opened.
TEST(CliTest, ExportRefusesAnOutputInsideTheStateDirectory) {
  TempDir dir;
  const std::string config = WriteConfig(dir, UniqueName("cli-export-inside"));
  const std::string events = dir / "events.ndjson";
  std::ofstream{events};
  const std::string state = dir / "state";
  ASSERT_EQ(RunIocstream({"replay", "--config", config, "--state-dir", state, events}).exit_code,
            0);
  const std::string current = ReadFile(state + "/CURRENT");
  // A link to a file not there yet, inside the store (a name RocksDB would take for a log).
  const std::string link = dir / "link.csv";
  std::filesystem::create_symlink(state + "/000999.log", link);
  for (const std::string& output :
       {state + "/CURRENT", state, dir / "state/../state/x.csv", state + "/sub/x.csv", link}) {
    const CommandResult r = RunIocstream(
        {"export", "--config", config, "--state-dir", state + "/", "dossiers", "-o", output});
    EXPECT_EQ(r.exit_code, 1) << output;
    EXPECT_NE(r.err.find("lies in the state directory"), std::string::npos) << r.err;
  }
  EXPECT_EQ(ReadFile(state + "/CURRENT"), current);
  EXPECT_FALSE(std::filesystem::exists(state + "/000999.log"));
  const CommandResult beside = RunIocstream(
      {"export", "--config", config, "--state-dir", state, "dossiers", "-o", dir / "state.csv"});
  EXPECT_EQ(beside.exit_code, 0) << beside.err;
}

// `export -o -` wrote a file named "-" (a helper's finding): `-` is standard output, as for
// `simulate --ndjson -`.
TEST(CliTest, ExportToDashWritesStandardOutput) {
  TempDir dir;
  const std::string config = WriteConfig(dir, UniqueName("cli-export-dash"));
  const std::string events = dir / "events.ndjson";
  std::ofstream{events};
  const std::string state = dir / "state";
  ASSERT_EQ(RunIocstream({"replay", "--config", config, "--state-dir", state, events}).exit_code,
            0);
  const CommandResult to_stdout =
      RunIocstream({"export", "--config", config, "--state-dir", state, "aggregates"});
  const CommandResult dash =
      RunIocstream({"export", "--config", config, "--state-dir", state, "aggregates", "-o", "-"});
  ASSERT_EQ(dash.exit_code, 0) << dash.err;
  EXPECT_EQ(dash.out, to_stdout.out);
  EXPECT_EQ(dash.out.rfind("department,commune,channel,received", 0), 0u) << dash.out;
  EXPECT_FALSE(std::filesystem::exists("-"));
}

// `--as-of 1900-...` and `9999-...` were taken by export and recompute (a helper's finding),
// though no event or deadline can be there: refused as bad input, naming the range.
TEST(CliTest, AsOfOutsideTheInstantsEventsMayHaveIsRefused) {
  TempDir dir;
  const std::string config = WriteConfig(dir, UniqueName("cli-as-of"));
  const std::string events = dir / "events.ndjson";
  std::ofstream{events};
  const std::string state = dir / "state";
  ASSERT_EQ(RunIocstream({"replay", "--config", config, "--state-dir", state, events}).exit_code,
            0);
  for (const std::string as_of : {"1900-01-01T00:00:00Z", "1969-12-31T23:59:59Z",
                                  "2200-01-01T00:00:00Z", "9999-12-31T00:00:00Z"}) {
    for (const std::vector<std::string>& command :
         {std::vector<std::string>{"export", "--config", config, "--state-dir", state, "dossiers",
                                   "--as-of", as_of},
          std::vector<std::string>{"recompute", "--config", config, "--state-dir", state, "--as-of",
                                   as_of}}) {
      const CommandResult r = RunIocstream(command);
      EXPECT_EQ(r.exit_code, 1) << command[0] << " " << as_of << ": " << r.err;
      EXPECT_NE(r.err.find("--as-of: '" + as_of + "' is outside 1970-01-01 to 2199-12-31 (UTC)"),
                std::string::npos)
          << r.err;
    }
  }
  EXPECT_EQ(RunIocstream({"export", "--config", config, "--state-dir", state, "dossiers", "--as-of",
                          "2199-12-31T23:59:59Z"})
                .exit_code,
            0);
}

}  // namespace
}  // namespace iocstream::testing
