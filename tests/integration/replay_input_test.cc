// `iocstream replay` on NDJSON files as people save them: a UTF-8 byte-order mark, CRLF line
// endings and blank lines must not lose an event.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "app/pipeline.h"
#include "integration/harness.h"
#include "iocstream/state/state_store.h"

namespace iocstream::testing {
namespace {

// A "received" event line of dossier `id` (event id "<id>/r"), with its line feed.
std::string Received(const std::string& id) {
  return R"({"schema_version":1,"event_id":")" + id + R"(/r","dossier_id":")" + id +
         R"(","type":"received","occurred_at":"2026-03-02T09:00:00+07:00","agency_code":"A",)" +
         R"("due_at":"2026-03-04T17:00:00+07:00"})" + "\n";
}

TEST(ReplayInputTest, ByteOrderMarkCrlfAndBlankLinesLoseNoEvent) {
  TempDir dir;
  const std::string config = WriteConfig(dir, UniqueName("replay-input"));
  const std::string events = dir / "events.ndjson";
  std::ofstream(events, std::ios::binary)
      << "\xEF\xBB\xBF"
      << R"({"schema_version":1,"event_id":"e1","dossier_id":"D1","type":"received",)"
      << R"("occurred_at":"2026-03-02T09:00:00+07:00","agency_code":"A",)"
      << R"("due_at":"2026-03-04T17:00:00+07:00"})"
      << "\r\n\r\n"
      << R"({"schema_version":1,"event_id":"e2","dossier_id":"D1","type":"completed",)"
      << R"("occurred_at":"2026-03-03T02:00:00.5Z","agency_code":"A"})"
      << "\r\n";
  const CommandResult replay = RunIocstream({"replay", "--config", config, events});
  ASSERT_EQ(replay.exit_code, 0) << replay.err;

  // The blank line is skipped and accounted for; nothing is dead-lettered.
  EXPECT_NE(replay.out.find("consumed 3 = applied 2 (late 0) + duplicates 0 + dead-lettered 0 + "
                            "blank lines skipped 1;"),
            std::string::npos)
      << replay.out;
  EXPECT_EQ(ReadFile(dir / "state/dead-letters.ndjson"), "");
  const CommandResult exported =
      RunIocstream({"export", "--config", config, "dossiers", "--format", "ndjson"});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  const auto row = nlohmann::json::parse(exported.out);
  EXPECT_EQ(row["received_at"], "2026-03-02T02:00:00.000Z");
  EXPECT_EQ(row["completed_at"], "2026-03-03T02:00:00.500Z");
  EXPECT_EQ(row["outcome"], "early");
}

// A blank line (empty, spaces and tabs, a lone CR) in an NDJSON file is layout, not an event:
// it was dead-lettered as `empty`, which counted toward the dead-letter alert. It is skipped
// and accounted for in the summary, not dead-lettered; its position is committed and hashed
// with the other lines, so a replay of the grown file resumes (the file verifies), and a
// blank line replaced by an event is seen as a changed file, not skipped.
TEST(ReplayInputTest, BlankLinesAreSkippedAndCountedAndAResumedReplayStillVerifies) {
  TempDir dir;
  const std::string config = WriteConfig(dir, UniqueName("replay-blank-lines"));
  const std::string events = dir / "events.ndjson";
  std::ofstream(events, std::ios::binary) << Received("D1") << "\n"
                                          << "  \t\n"
                                          << Received("D2") << "\r\n"
                                          << "\n";
  const CommandResult first = RunIocstream({"replay", "--config", config, events});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.out.find("consumed 6 = applied 2 (late 0) + duplicates 0 + dead-lettered 0 + "
                           "blank lines skipped 4;"),
            std::string::npos)
      << first.out;

  std::ofstream(events, std::ios::app | std::ios::binary) << Received("D3") << " \n";
  const CommandResult grown = RunIocstream({"replay", "--config", config, events});
  ASSERT_EQ(grown.exit_code, 0) << grown.err;
  EXPECT_NE(grown.err.find("resuming at line 7"), std::string::npos) << grown.err;
  EXPECT_NE(grown.out.find("consumed 2 = applied 1 (late 0) + duplicates 0 + dead-lettered 0 + "
                           "blank lines skipped 1;"),
            std::string::npos)
      << grown.out;
  EXPECT_EQ(ReadFile(dir / "state/dead-letters.ndjson"), "");
  const CommandResult exported = RunIocstream({"export", "--config", config, "dossiers"});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  for (const char* id : {"D1", "D2", "D3"}) {
    EXPECT_NE(exported.out.find(std::string("\n") + id + ","), std::string::npos) << id;
  }

  // The blank third line replaced by an event (same first line, same length or not): the
  // lines before the resume position are not those applied.
  std::ofstream(events, std::ios::binary) << Received("D1") << "\n"
                                          << Received("D9") << Received("D2") << "\r\n"
                                          << "\n"
                                          << Received("D3") << " \n";
  const CommandResult changed = RunIocstream({"replay", "--config", config, events});
  EXPECT_NE(changed.exit_code, 0) << changed.out;
  EXPECT_NE(changed.err.find("the file was changed"), std::string::npos) << changed.err;
}

// Ids and codes come from the publishers: one that starts with = + - @ is a formula to the
// spreadsheet that opens the CSV export (found by a helper). It gets a leading ', as OWASP
// advises; the NDJSON export keeps the text as it was.
TEST(ReplayInputTest, CsvExportCellsAreNotSpreadsheetFormulas) {
  TempDir dir;
  const std::string config = WriteConfig(dir, UniqueName("replay-csv-formula"));
  const std::string events = dir / "events.ndjson";
  std::ofstream(events)
      << R"j({"schema_version":1,"event_id":"e1","dossier_id":"=HYPERLINK(\"http://x\")",)j"
      << R"j("type":"received","occurred_at":"2026-03-02T09:00:00+07:00","agency_code":"@SUM(A1)",)j"
      << R"("commune_code":"-2+3","procedure_code":"+1","due_at":"2026-03-04T17:00:00+07:00"})"
      << "\n";
  const CommandResult replay = RunIocstream({"replay", "--config", config, "--no-summary", events});
  ASSERT_EQ(replay.exit_code, 0) << replay.err;
  const CommandResult csv =
      RunIocstream({"export", "--config", config, "dossiers", "--format", "csv"});
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  EXPECT_NE(csv.out.find("\n\"'=HYPERLINK(\"\"http://x\"\")\",'@SUM(A1),'-2+3,"), std::string::npos)
      << csv.out;
  EXPECT_NE(csv.out.find(",'+1,"), std::string::npos) << csv.out;
  const CommandResult aggregates =
      RunIocstream({"export", "--config", config, "aggregates", "--format", "csv"});
  ASSERT_EQ(aggregates.exit_code, 0) << aggregates.err;
  EXPECT_NE(aggregates.out.find("\n'@SUM(A1),'-2+3,"), std::string::npos) << aggregates.out;
  const CommandResult ndjson =
      RunIocstream({"export", "--config", config, "dossiers", "--format", "ndjson"});
  ASSERT_EQ(ndjson.exit_code, 0) << ndjson.err;
  EXPECT_EQ(nlohmann::json::parse(ndjson.out)["dossier_id"], "=HYPERLINK(\"http://x\")");
}

// A file saved again under the same path with other events is replayed from its first line
// (found by a user trial: its first lines were skipped as "already applied"); a file that
// grew resumes after the lines already applied.
TEST(ReplayInputTest, RewrittenFileIsReplayedFromTheStartAndAGrownOneResumes) {
  TempDir dir;
  const std::string config = WriteConfig(dir, UniqueName("replay-rewrite"));
  const std::string events = dir / "events.ndjson";
  auto replay = [&] {
    const CommandResult r = RunIocstream({"replay", "--config", config, events});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  };
  std::ofstream(events) << Received("D1");
  EXPECT_NE(replay().find("consumed 1 = applied 1"), std::string::npos);
  std::ofstream(events) << Received("D2") << Received("D3");  // rewritten
  EXPECT_NE(replay().find("consumed 2 = applied 2"), std::string::npos);
  std::ofstream(events, std::ios::app) << Received("D4");  // grown
  EXPECT_NE(replay().find("consumed 1 = applied 1"), std::string::npos);
  const CommandResult exported = RunIocstream({"export", "--config", config, "dossiers"});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  for (const char* id : {"D1", "D2", "D3", "D4"}) {
    EXPECT_NE(exported.out.find(std::string("\n") + id + ","), std::string::npos) << id;
  }
}

// With timers.clock: watermark, `export` judges "now" (overdue_now, the late-data hold) by
// each dossier's partition's watermark, as the timers and the HTTP API do: it used the wall
// clock, and showed held_until beside breach true for a dossier whose breach the watermark had
// already fired (a QA finding). --as-of still judges every dossier at the instant given.
TEST(ReplayInputTest, ExportJudgesNowByTheClockTheTimersRunOn) {
  TempDir dir;
  const std::string config = WriteConfig(
      dir, UniqueName("replay-export-clock"),
      "timers:\n  clock: watermark\n  allowed_lateness: 1h\nreplay:\n  partitions: 1\n");
  const auto now =
      std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  auto at = [&](std::chrono::hours offset) {
    const std::time_t t = std::chrono::system_clock::to_time_t(now + offset);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return std::string(text);
  };
  auto received = [&](const std::string& id, std::chrono::hours offset, const std::string& due) {
    return R"({"schema_version":1,"event_id":")" + id + R"(/r","dossier_id":")" + id +
           R"(","type":"received","occurred_at":")" + at(offset) + R"(","agency_code":"A")" +
           (due.empty() ? std::string() : R"(,"due_at":")" + due + "\"") + "}\n";
  };
  const auto day = std::chrono::hours(24);
  const std::string events = dir / "events.ndjson";
  // The watermark passes the wall clock; LATE, due 20 days ago, arrives behind it and is held
  // until 2 days from now; the watermark then passes the hold, and its breach fires.
  std::ofstream(events) << received("CLOCK1", 2 * day, "")
                        << received("LATE", -30 * day, at(-20 * day))
                        << received("CLOCK2", 20 * day, "");
  const CommandResult replay = RunIocstream({"replay", "--config", config, "--no-summary", events});
  ASSERT_EQ(replay.exit_code, 0) << replay.err;
  auto late_row = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"export",   "--config", config,
                                     "dossiers", "--format", "ndjson"};
    args.insert(args.end(), extra.begin(), extra.end());
    const CommandResult exported = RunIocstream(args);
    EXPECT_EQ(exported.exit_code, 0) << exported.err;
    std::istringstream rows(exported.out);
    for (std::string line; std::getline(rows, line);) {
      auto row = nlohmann::json::parse(line);
      if (row["dossier_id"] == "LATE") return row;
    }
    ADD_FAILURE() << "no LATE row in " << exported.out;
    return nlohmann::json();
  };
  const auto row = late_row({});
  EXPECT_EQ(row["alerts"]["breach"], true) << row.dump();
  EXPECT_EQ(row["alerts"]["held_until"], nullptr) << row.dump();
  EXPECT_EQ(row["overdue_now"], true) << row.dump();
  const auto as_of_now = late_row({"--as-of", at(std::chrono::hours(0))});
  EXPECT_EQ(as_of_now["alerts"]["held_until"], at(2 * day).substr(0, 19) + ".000Z")
      << as_of_now.dump();
}

// A file listed twice in one command (a shell glob and a name, say) is read once: the second
// listing would re-read every line only to skip it.
TEST(ReplayInputTest, AFileListedTwiceIsReadOnce) {
  TempDir dir;
  const std::string config = WriteConfig(dir, UniqueName("replay-twice"));
  const std::string events = dir / "events.ndjson";
  std::ofstream(events) << Received("D1") << Received("D2");
  const CommandResult r = RunIocstream({"replay", "--config", config, events, events});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("consumed 2 = applied 2 (late 0) + duplicates 0"), std::string::npos)
      << r.out;
  EXPECT_NE(r.err.find("listed again: replayed once"), std::string::npos) << r.err;
}

// A file's dossiers are spread over replay.partitions by hash, each with its own watermark:
// at the end of the input, a partition whose dossiers got no recent event catches up with the
// newest one, so dossiers long past due are overdue whichever partition they fell in (found by
// a helper: 1 of 6 was, the one sharing a partition with the last event).
TEST(ReplayInputTest, AtTheEndOfTheInputQuietPartitionsReachTheFilesClock) {
  TempDir dir;
  const std::string config = WriteConfig(dir, UniqueName("replay-quiet-partitions"));
  const std::string events = dir / "events.ndjson";
  {
    std::ofstream out(events);
    for (int i = 0; i < 12; ++i) out << Received("Q" + std::to_string(i));  // due 4 Mar 17:00
    out << R"({"schema_version":1,"event_id":"clock/r","dossier_id":"CLOCK","type":"received",)"
        << R"("occurred_at":"2026-04-30T09:00:00+07:00","agency_code":"A"})"
        << "\n";
  }
  const CommandResult r = RunIocstream({"replay", "--config", config, events});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::set<int64_t> partitions;
  const CommandResult exported =
      RunIocstream({"export", "--config", config, "dossiers", "--format", "ndjson"});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  std::istringstream rows(exported.out);
  for (std::string line; std::getline(rows, line);) {
    const auto row = nlohmann::json::parse(line);
    if (row["dossier_id"] != "CLOCK") partitions.insert(row["partition"].get<int64_t>());
  }
  EXPECT_GE(partitions.size(), 4u);  // the twelve are spread over several partitions
  std::set<std::string> breached;
  std::istringstream alerts(ReadFile(dir / "state/alerts.ndjson"));
  for (std::string line; std::getline(alerts, line);) {
    const auto alert = nlohmann::json::parse(line);
    if (alert["kind"] == "deadline_breached") breached.insert(alert["dossier_id"]);
  }
  EXPECT_EQ(breached.size(), 12u) << ReadFile(dir / "state/alerts.ndjson");
}

// Where poll batches and commits end must not change which timers fire. A late event of a
// dossier that had its late-data grace already puts a timer behind a watermark that another
// dossier moved months ahead: it is due at once, and fired at the partition's next event only
// if no commit came between, which disarmed the partition (a QA trial: 5 alerts with the
// defaults, 4 with a commit after each record; two `run`s of one topic disagreed).
TEST(ReplayInputTest, ATimerPutBehindTheWatermarkFiresWhereverCommitsEnd) {
  TempDir dir;
  const std::string batched =
      WriteConfig(dir, UniqueName("replay-behind-watermark"), "replay:\n  partitions: 1\n");
  std::string text = ReadFile(batched);
  const std::string batch_line = "  max_batch: 500\n";
  ASSERT_NE(text.find(batch_line), std::string::npos);
  text.replace(text.find(batch_line), batch_line.size(), "  max_batch: 1\n");
  text.replace(text.find("state:\n"), 7, "state:\n  commit_interval_ms: 0\n");
  const std::string per_record = dir / "per-record.yaml";
  std::ofstream(per_record) << text;
  const std::string events = dir / "events.ndjson";
  {
    auto line = [](const std::string& id, const std::string& dossier, const std::string& type,
                   const std::string& at, const std::string& rest) {
      return R"({"schema_version":1,"event_id":")" + id + R"(","dossier_id":")" + dossier +
             R"(","type":")" + type + R"(","occurred_at":")" + at +
             R"(","agency_code":"so-xay-dung","channel":"online")" + rest + "}\n";
    };
    std::ofstream out(events);
    out << line("r1", "D1", "received", "2026-03-02T02:00:00Z",
                R"(,"due_at":"2026-03-05T02:00:00Z")")
        << line("j1", "JUMP", "received", "2026-06-01T02:00:00Z",
                R"(,"due_at":"2026-09-12T02:00:00Z")")
        << line("t1", "D1", "transferred", "2026-03-03T02:00:00Z",
                R"(,"to_agency_code":"so-b","step_due_at":"2026-03-04T02:00:00Z")")
        << line("j2", "JUMP2", "received", "2026-06-01T04:00:00Z",
                R"(,"due_at":"2026-09-12T02:00:00Z")")
        << line("t2", "D1", "transferred", "2026-03-04T12:00:00Z",
                R"(,"to_agency_code":"so-c","step_due_at":"2026-03-06T02:00:00Z")")
        << line("r2", "D2", "received", "2026-03-10T02:00:00Z",
                R"(,"due_at":"2026-09-12T02:00:00Z")")
        << line("c1", "D1", "completed", "2026-03-20T02:00:00Z", "");
  }
  std::map<std::string, std::string> alerts;
  std::map<std::string, std::string> exports;
  for (const auto& [name, config] : {std::pair{"batched", batched}, {"per-record", per_record}}) {
    const std::string state = dir / name;
    const CommandResult r =
        RunIocstream({"replay", "--config", config, "--state-dir", state, events});
    ASSERT_EQ(r.exit_code, 0) << name << ": " << r.err;
    alerts[name] = ReadFile(state + "/alerts.ndjson");
    const CommandResult exported = RunIocstream(
        {"export", "--config", config, "--state-dir", state, "dossiers", "--format", "ndjson"});
    ASSERT_EQ(exported.exit_code, 0) << exported.err;
    exports[name] = exported.out;
  }
  EXPECT_EQ(alerts["batched"], alerts["per-record"]);
  EXPECT_EQ(exports["batched"], exports["per-record"]);
  // The second step's breach (so-c, due 6 Mar) is among them: its timer was put behind the
  // watermark by the late transfer t2.
  EXPECT_NE(
      alerts["per-record"].find(R"("kind":"step_breached","dossier_id":"D1","agency_code":"so-c")"),
      std::string::npos)
      << alerts["per-record"];
}

// A replay reads its files twice (the first line names the source, then the events): a pipe
// was drained by the first read and replayed as empty, exit 0, and a FIFO blocked the second
// open for good, deaf to SIGTERM. Both are refused before anything is read (found by a
// helper).
TEST(ReplayInputTest, PipesAndFifosAreRefusedNotReadAsEmpty) {
  TempDir dir;
  const std::string config = WriteConfig(dir, UniqueName("replay-fifo"));
  const std::string fifo = dir / "events.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const CommandResult refused = RunIocstream({"replay", "--config", config, fifo});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find(fifo + ": not a regular file"), std::string::npos) << refused.err;
  // The state dir was not touched: a later replay of a file starts from its first line.
  const std::string events = dir / "events.ndjson";
  std::ofstream(events) << Received("D1");
  const CommandResult file = RunIocstream({"replay", "--config", config, events});
  ASSERT_EQ(file.exit_code, 0) << file.err;
  EXPECT_NE(file.out.find("consumed 1 = applied 1"), std::string::npos) << file.out;
}

// A file rewritten with the same first line looks like the same file grown, but the lines
// before the stored position are not those applied: the replay refuses instead of skipping
// lines never applied (found by a helper), even when only an earlier line changed, and a
// replay under another path applies every new event (those already applied are duplicates by
// event id).
TEST(ReplayInputTest, RewrittenFileWithTheSameFirstLineIsRefusedNotSkipped) {
  TempDir dir;
  const std::string config = WriteConfig(dir, UniqueName("replay-same-first"));
  const std::string events = dir / "events.ndjson";
  std::ofstream(events) << Received("D1") << Received("D2") << Received("D3");
  const CommandResult first = RunIocstream({"replay", "--config", config, events});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  // Line 2 changed, line 3 (the last applied) as it was, one line appended. A file listed
  // before it is applied and committed before the refusal.
  std::ofstream(events) << Received("D1") << Received("D5") << Received("D3") << Received("D7");
  const std::string before = dir / "before.ndjson";
  std::ofstream(before) << Received("D8");
  const CommandResult rewritten = RunIocstream({"replay", "--config", config, before, events});
  EXPECT_NE(rewritten.exit_code, 0);
  const CommandResult before_again = RunIocstream({"replay", "--config", config, before});
  EXPECT_EQ(before_again.exit_code, 0) << before_again.err;
  EXPECT_NE(before_again.out.find("consumed 0 = "), std::string::npos) << before_again.out;
  // Nothing reached the pipeline: no rate is given.
  EXPECT_EQ(before_again.out.find("first record to end"), std::string::npos) << before_again.out;
  // ... and the file is said to be applied, not "resuming at line 2" of a one-line file.
  EXPECT_NE(before_again.err.find("all of its 1 line was applied by an earlier replay"),
            std::string::npos)
      << before_again.err;
  EXPECT_EQ(before_again.err.find("resuming at line"), std::string::npos) << before_again.err;
  EXPECT_NE(rewritten.err.find("lines 1 to 3 are not those an earlier replay"), std::string::npos)
      << rewritten.err;
  // (No "resuming at line 4" before the refusal: it is said once the lines are found unchanged.)
  EXPECT_EQ(rewritten.err.find("resuming at line"), std::string::npos) << rewritten.err;
  std::ofstream(events) << Received("D1");  // shorter than the stored position
  const CommandResult shorter = RunIocstream({"replay", "--config", config, events});
  EXPECT_NE(shorter.exit_code, 0);
  EXPECT_NE(shorter.err.find("it has 1 line, fewer than the 3"), std::string::npos) << shorter.err;

  const std::string moved = dir / "events-2.ndjson";
  std::ofstream(moved) << Received("D1") << Received("D5") << Received("D3") << Received("D7");
  const CommandResult again = RunIocstream({"replay", "--config", config, moved});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("consumed 4 = applied 2 (late 0) + duplicates 2"), std::string::npos)
      << again.out;
  // A new process: D1 and D3 are read from the store, D5 and D7 are in neither (the dossier
  // filter may answer for them, or not yet have ended its scan of the store).
  EXPECT_NE(again.out.find("dossier reads: 0 cache hits, 2 misses read from the store (0.0% "
                           "hit), 2 new dossiers (in neither; "),
            std::string::npos)
      << again.out;
  EXPECT_NE(again.out.find("first record to end: "), std::string::npos) << again.out;
  const CommandResult exported = RunIocstream({"export", "--config", config, "dossiers"});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  for (const char* id : {"D1", "D2", "D3", "D5", "D7", "D8"}) {
    EXPECT_NE(exported.out.find(std::string("\n") + id + ","), std::string::npos) << id;
  }
}

// The same for a mapped CSV export: changed in its latest row (same first event, same count),
// it is refused rather than taken as fully applied.
TEST(ReplayInputTest, MappedCsvChangedWithTheSameFirstEventIsRefused) {
  TempDir dir;
  const std::string config = WriteConfig(dir, UniqueName("replay-csv-changed"));
  const std::string mapping = SourceDir() + "/config/mappings/boston-sample.yaml";
  const std::string csv = dir / "cases.csv";
  std::string text = ReadFile(SourceDir() + "/tests/data/boston/boston-sample.csv");
  std::ofstream(csv, std::ios::binary) << text;
  const CommandResult first =
      RunIocstream({"replay", "--config", config, "--mapping", mapping, csv});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  // The latest closing date of the sample, a year later: the last event changes.
  const std::regex closed(R"(2024-12-27 03:29:13)");
  ASSERT_TRUE(std::regex_search(text, closed));
  std::ofstream(csv, std::ios::binary) << std::regex_replace(text, closed, "2025-12-27 03:29:13");
  const CommandResult changed =
      RunIocstream({"replay", "--config", config, "--mapping", mapping, csv});
  EXPECT_NE(changed.exit_code, 0);
  EXPECT_NE(changed.err.find("are not those an earlier replay"), std::string::npos) << changed.err;
}

// A UTF-16 file (PowerShell's `>` writes one) had every line dead-lettered as malformed JSON
// and the replay exit 0 (a QA trial): refused by its byte-order mark, before any state.
TEST(ReplayInputTest, AUtf16FileIsRefusedWithHowToConvertIt) {
  TempDir dir;
  const std::string config = WriteConfig(dir, UniqueName("replay-utf16"));
  const std::string events = dir / "events.ndjson";
  const std::string line = R"({"schema_version":1})";
  {
    std::ofstream f(events, std::ios::binary);
    f << '\xFF' << '\xFE';
    for (char c : line + "\n") f << c << '\0';
  }
  const CommandResult r = RunIocstream({"replay", "--config", config, events});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("UTF-16 text"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("iconv -f UTF-16 -t UTF-8"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "state"));
}

// Rows a mapping cannot read are logged and counted in the closing line: a helper's replay of
// 6 rows said "consumed 2 = applied 2" and nothing else about the 4 others.
TEST(ReplayInputTest, MappedCsvRowsNotImportedAreCounted) {
  TempDir dir;
  const std::string config = WriteConfig(dir, UniqueName("replay-csv-rows"));
  const std::string mapping = SourceDir() + "/config/mappings/boston-sample.yaml";
  const std::string csv = dir / "cases.csv";
  std::ofstream(csv, std::ios::binary)
      << "CASE_ENQUIRY_ID,OPEN_DT,TARGET_DT,CLOSED_DT,CASE_STATUS,Department,neighborhood,TYPE,"
         "Source\n"
      << "1,2025-11-01 10:00:00,2025-11-05 10:00:00,,Open,D,N,T,Twitter\n"
      << "2,notadate,2025-11-05 10:00:00,,Open,D,N,T,Twitter\n"
      << "3,2025-02-30 10:00:00,,,Open,D,N,T,Twitter\n";
  const CommandResult r = RunIocstream({"replay", "--config", config, "--mapping", mapping, csv});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("consumed 1 = applied 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("replayed 1 event from 1 of 3 CSV rows (2 rows not imported)"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.err.find("cases.csv:3:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("cases.csv:4:"), std::string::npos) << r.err;
  // Again into the same state: the line says what this run read, none of it (it said
  // "replayed 1 events" again, a QA trial).
  const CommandResult again =
      RunIocstream({"replay", "--config", config, "--mapping", mapping, csv});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("replayed 0 of the 1 event from 1 of 3 CSV rows"), std::string::npos)
      << again.out;
}

// A quote opened on the last line of a CSV: its row is one row not imported, counted once
// ("1 of 3 CSV rows" for a file of two before, its note at line 4 of a 3-line file: a helper's
// finding); one opened earlier counts the lines it took.
TEST(ReplayInputTest, AQuoteLeftOpenAtTheEndOfACsvIsCountedByTheLinesItTook) {
  TempDir dir;
  const std::string config = WriteConfig(dir, UniqueName("replay-csv-quote"));
  const std::string mapping = SourceDir() + "/config/mappings/boston-sample.yaml";
  const std::string header =
      "CASE_ENQUIRY_ID,OPEN_DT,TARGET_DT,CLOSED_DT,CASE_STATUS,Department,neighborhood,TYPE,"
      "Source\n";
  const std::string csv = dir / "last.csv";
  std::ofstream(csv, std::ios::binary)
      << header << "1,2025-11-01 10:00:00,2025-11-05 10:00:00,,Open,D,N,T,Twitter\n"
      << "\"unterminated,quote\n";
  const CommandResult r = RunIocstream({"replay", "--config", config, "--mapping", mapping, csv});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("from 1 of 2 CSV rows (1 row not imported)"), std::string::npos) << r.out;
  EXPECT_EQ(r.err.find("last.csv:4:"), std::string::npos) << r.err;

  const std::string earlier = dir / "earlier.csv";
  std::ofstream(earlier, std::ios::binary)
      << header << "2,2025-11-01 10:00:00,2025-11-05 10:00:00,,Open,D,N,T,\"Twitter\n"
      << "3,2025-11-01 10:00:00,2025-11-05 10:00:00,,Open,D,N,T,Twitter\n"
      << "4,2025-11-01 10:00:00,2025-11-05 10:00:00,,Open,D,N,T,Twitter\n";
  const CommandResult e =
      RunIocstream({"replay", "--config", config, "--mapping", mapping, earlier});
  ASSERT_EQ(e.exit_code, 0) << e.err;
  // Row 2 imported as read (its last value, the channel, holds the two lines after it: an
  // unknown channel), rows 3 and 4 lost in it, and said so.
  EXPECT_NE(e.out.find("from 1 of 3 CSV rows (2 rows not imported)"), std::string::npos)
      << e.out << e.err;
  EXPECT_NE(e.err.find("earlier.csv:3: a quoted value of the row on line 2 is still open at the "
                       "end of the file: the 2 line(s) after it, lines 3 to 4,"),
            std::string::npos)
      << e.err;
}

// The state directory's own dead letters, replayed into it, were appended to the file being
// read on every run (a helper's finding): refused, the file unchanged.
TEST(ReplayInputTest, TheStateDirectorysOwnDeadLettersAreNotReplayedIntoIt) {
  TempDir dir;
  const std::string config = WriteConfig(dir, UniqueName("replay-own-dlq"));
  const std::string events = dir / "events.ndjson";
  std::ofstream(events) << Received("D1") << "{not json\n";
  const CommandResult first = RunIocstream({"replay", "--config", config, events});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const std::string own = dir / "state/dead-letters.ndjson";
  const std::string before = ReadFile(own);
  ASSERT_NE(before.find("malformed_json"), std::string::npos) << before;
  const CommandResult again = RunIocstream({"replay", "--config", config, own});
  EXPECT_EQ(again.exit_code, 1) << again.err;
  EXPECT_NE(again.err.find("the dead letters this state directory writes"), std::string::npos)
      << again.err;
  EXPECT_EQ(ReadFile(own), before);
}

// A CSV with rows of which none could be imported (a time format the mapping does not
// read) exited 0, "replayed 0 events from 0 of 8061 CSV rows", which a batch job could not
// tell from success (a QA finding): it is refused as bad input (exit 1), naming the first row
// errors and the mapping, before the state store is opened.
TEST(ReplayInputTest, AMappedCsvOfWhichNoRowIsImportedIsRefused) {
  TempDir dir;
  const std::string config = WriteConfig(dir, UniqueName("replay-csv-none"));
  const std::string mapping = SourceDir() + "/config/mappings/boston-sample.yaml";
  const std::string csv = dir / "cases.csv";
  std::ofstream(csv, std::ios::binary)
      << "CASE_ENQUIRY_ID,OPEN_DT,TARGET_DT,CLOSED_DT,CASE_STATUS,Department,neighborhood,TYPE,"
         "Source\n"
      << "1,01/11/2025 10:00,,,Open,D,N,T,Twitter\n"
      << "2,02/11/2025 10:00,,,Open,D,N,T,Twitter\n";
  const CommandResult r = RunIocstream({"replay", "--config", config, "--mapping", mapping, csv});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("none of the 2 CSV rows could be imported"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("cases.csv:2: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("check the mapping " + mapping), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "state"));
}

// A CSV the mapping cannot read (a wrong header) or a mapping that is not there is refused
// before the state store is opened: a QA trial found an empty state directory left behind.
TEST(ReplayInputTest, AMappedCsvRefusedLeavesNoStateDirectory) {
  TempDir dir;
  const std::string config = WriteConfig(dir, UniqueName("replay-csv-header"));
  const std::string mapping = SourceDir() + "/config/mappings/boston-sample.yaml";
  const std::string csv = dir / "x.csv";
  std::ofstream(csv, std::ios::binary) << "id,opened\n1,2025-11-01 10:00:00\n";
  const CommandResult header =
      RunIocstream({"replay", "--config", config, "--mapping", mapping, csv});
  EXPECT_NE(header.exit_code, 0);
  EXPECT_NE(header.err.find("(columns: id, opened)"), std::string::npos) << header.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "state"));
  const CommandResult no_mapping =
      RunIocstream({"replay", "--config", config, "--mapping", dir / "missing.yaml", csv});
  EXPECT_NE(no_mapping.exit_code, 0);
  EXPECT_FALSE(std::filesystem::exists(dir / "state"));
}

// Each replay partition keeps its own timers: a state dir replayed with another
// replay.partitions would put a dossier's later events where its timers are not, and those
// timers would never fire (found by a helper: 696 alerts instead of 919). Refused, with the
// value the store was replayed with; the same value goes on.
TEST(ReplayInputTest, AnotherReplayPartitionCountOnTheSameStateDirIsRefused) {
  TempDir dir;
  const std::string name = UniqueName("replay-partitions");
  const std::string events = WriteOneReceipt(dir);
  const std::string six = WriteConfig(dir, name);  // replay.partitions: the default, 6
  ASSERT_EQ(RunIocstream({"replay", "--config", six, "--no-summary", events}).exit_code, 0);

  const std::string three = WriteConfig(dir, name, "replay:\n  partitions: 3\n");
  const CommandResult refused = RunIocstream({"replay", "--config", three, "--no-summary", events});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("spread over 6 state partitions"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("replay.partitions = 3"), std::string::npos) << refused.err;

  const std::string again = WriteConfig(dir, name, "replay:\n  partitions: 6\n");
  const CommandResult same = RunIocstream({"replay", "--config", again, "--no-summary", events});
  EXPECT_EQ(same.exit_code, 0) << same.err;
}

// A replay stopped by SIGTERM commits what it read, says so and exits 130; the same command
// then resumes after those records, and the two runs together apply every event once
// (found untested in a review: the interrupted replay used to exit 130 without a word).
// SIGHUP (a closed terminal) does the same: its default action killed the replay without a
// commit (found by a helper).
class ReplayStopSignalTest : public ::testing::TestWithParam<int> {};

TEST_P(ReplayStopSignalTest, AReplayStoppedByASignalSaysSoAndTheSameCommandResumes) {
  TempDir dir;
  const std::string config = WriteConfig(dir, UniqueName("replay-sigterm"));
  const std::string events = dir / "events.ndjson";
  constexpr int kDossiers = 300000;  // seconds of replay, so the signal comes in the middle
  {
    std::ofstream out(events);
    for (int i = 0; i < kDossiers; ++i) {
      out << R"({"schema_version":1,"event_id":"e)" << i << R"(","dossier_id":"D)" << i
          << R"(","type":"received","occurred_at":"2026-03-02T09:00:00+07:00","agency_code":"A",)"
          << R"("due_at":"2026-03-04T17:00:00+07:00"})"
          << "\n";
    }
  }
  Child first({"replay", "--config", config, events}, dir.path());
  // Signals are handled once the state store is open (the handlers are installed before).
  for (int i = 0; i < 600 && first.Stderr().find("state store") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  first.Kill(GetParam());
  const std::optional<int> code = first.Wait(std::chrono::seconds(120));
  ASSERT_TRUE(code.has_value());
  if (*code == 0) GTEST_SKIP() << "the replay ended before the signal: nothing to resume";
  EXPECT_EQ(*code, 130) << first.Stderr();
  const std::regex stopped_re(R"(replay stopped by a signal after (\d+) records)");
  std::smatch m;
  const std::string log = first.Stderr();
  ASSERT_TRUE(std::regex_search(log, m, stopped_re)) << log;
  const long long before = std::stoll(m[1]);
  EXPECT_GT(before, 0);
  EXPECT_LT(before, kDossiers);
  EXPECT_NE(first.Stdout().find("consumed " + std::to_string(before) + " = applied"),
            std::string::npos)
      << first.Stdout();

  const CommandResult rest = RunIocstream({"replay", "--config", config, events});
  ASSERT_EQ(rest.exit_code, 0) << rest.err;
  const std::string applied = "consumed " + std::to_string(kDossiers - before) + " = applied " +
                              std::to_string(kDossiers - before) + " ";
  EXPECT_NE(rest.out.find(applied), std::string::npos) << rest.out;
  const CommandResult exported = RunIocstream({"export", "--config", config, "dossiers"});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  EXPECT_EQ(std::count(exported.out.begin(), exported.out.end(), '\n'), kDossiers + 1);  // header
}

INSTANTIATE_TEST_SUITE_P(Signals, ReplayStopSignalTest, ::testing::Values(SIGTERM, SIGHUP),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return std::string(info.param == SIGTERM ? "Sigterm" : "Sighup");
                         });

// Writes a config with the procedure catalog (topics named after `name`) to `config`, and a
// simulated province stream of 60,000 dossiers (about 275,000 events) to `events`, in `dir`.
void SimulateProvince(const TempDir& dir, const std::string& name, std::string& config,
                      std::string& events) {
  config =
      WriteConfig(dir, UniqueName(name),
                  "procedures:\n  catalog: " + SourceDir() + "/config/procedures/catalog.yaml\n");
  events = dir / "events.ndjson";
  const CommandResult simulated =
      RunIocstream({"simulate", "--config", config, "--units",
                    SourceDir() + "/config/simulator/phu-tho-units.csv", "--procedure-pools",
                    SourceDir() + "/config/simulator/procedure-pools.csv", "--dossiers", "60000",
                    "--seed", "39", "--ndjson", events, "--no-progress"});
  ASSERT_EQ(simulated.exit_code, 0) << simulated.err;
}

// Waits, up to a minute, until the file at `path` holds bytes (a replay's relay wrote a page).
void WaitUntilNotEmpty(const std::string& path) {
  std::error_code ec;
  for (int i = 0; i < 30000; ++i) {
    const auto size = std::filesystem::file_size(path, ec);
    if (!ec && size > 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

// A replay killed with SIGKILL (no commit, no flush: since session 39 replays write without
// RocksDB's write-ahead log) and run again ends with the state and the output files of a
// replay that was never stopped, byte for byte: the store comes back to its last flush (state,
// input position and outbox together), the alerts file is cut back to the length its last
// commit before that flush recorded, and the rest is replayed. Killed twice: once after
// the first alerts reached the file, once early in the resumed run.
TEST(ReplayInputTest, AReplayKilledTwiceEndsWithTheStateAndAlertsOfOneNeverStopped) {
  TempDir dir;
  std::string config;
  std::string events;
  ASSERT_NO_FATAL_FAILURE(SimulateProvince(dir, "replay-sigkill", config, events));

  const std::string reference = dir / "reference";
  const CommandResult whole = RunIocstream(
      {"replay", "--config", config, "--state-dir", reference, "--no-summary", events});
  ASSERT_EQ(whole.exit_code, 0) << whole.err;

  const std::string crashed = dir / "crashed";
  const std::string alerts = crashed + "/alerts.ndjson";
  {
    Child first({"replay", "--config", config, "--state-dir", crashed, "--no-summary", events},
                dir.path());
    WaitUntilNotEmpty(alerts);
    first.Kill(SIGKILL);
    const std::optional<int> code = first.Wait(std::chrono::seconds(60));
    ASSERT_EQ(code, std::optional<int>(-SIGKILL)) << "not killed mid-way: " << first.Stderr();
  }
  {
    Child second({"replay", "--config", config, "--state-dir", crashed, "--no-summary", events},
                 dir.path());
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    second.Kill(SIGKILL);
    ASSERT_TRUE(second.Wait(std::chrono::seconds(60)).has_value());
  }
  const CommandResult rest =
      RunIocstream({"replay", "--config", config, "--state-dir", crashed, "--no-summary", events});
  ASSERT_EQ(rest.exit_code, 0) << rest.err;

  const std::string expected_alerts = ReadFile(reference + "/alerts.ndjson");
  EXPECT_GT(std::count(expected_alerts.begin(), expected_alerts.end(), '\n'), 10000);
  EXPECT_TRUE(ReadFile(alerts) == expected_alerts) << "the alerts differ from the reference";
  EXPECT_EQ(ReadFile(crashed + "/dead-letters.ndjson"),
            ReadFile(reference + "/dead-letters.ndjson"));
  for (const std::string what : {"dossiers", "aggregates"}) {
    const CommandResult want = RunIocstream(
        {"export", "--config", config, "--state-dir", reference, what, "--format", "csv"});
    const CommandResult got = RunIocstream(
        {"export", "--config", config, "--state-dir", crashed, what, "--format", "csv"});
    ASSERT_EQ(want.exit_code, 0) << want.err;
    ASSERT_EQ(got.exit_code, 0) << got.err;
    EXPECT_GT(std::count(want.out.begin(), want.out.end(), '\n'), 100) << what;
    EXPECT_TRUE(got.out == want.out) << what << " differ from the reference";
  }
}

// The dead-letters file cannot be written (a full disk: /dev/full): the relay's error stops
// the replay while its commits write alerts, with the error and no crash (the pipeline's last
// write is done with the alerts file before that goes), and once the file can be written the
// replay resumes and ends with the alerts and dead letters of one never stopped.
TEST(ReplayInputTest, ADeadLetterFileThatCannotBeWrittenStopsTheReplayAndItResumes) {
  TempDir dir;
  std::string config;
  std::string events;
  ASSERT_NO_FATAL_FAILURE(SimulateProvince(dir, "replay-dead-letters-full", config, events));
  // A line that is not an event every 2,000 lines.
  const std::string all = ReadFile(events);
  std::string mixed;
  size_t lines = 0;
  for (size_t pos = 0; pos < all.size();) {
    size_t end = all.find('\n', pos);
    end = end == std::string::npos ? all.size() : end + 1;
    mixed.append(all, pos, end - pos);
    pos = end;
    if (++lines % 2000 == 0) mixed += "{\"not\": \"an event\"\n";
  }
  const std::string input = dir / "mixed.ndjson";
  std::ofstream(input, std::ios::binary) << mixed;

  const std::string reference = dir / "reference";
  const CommandResult whole =
      RunIocstream({"replay", "--config", config, "--state-dir", reference, "--no-summary", input});
  ASSERT_EQ(whole.exit_code, 0) << whole.err;

  const std::string state = dir / "state";
  std::filesystem::create_directories(state);
  std::filesystem::create_symlink("/dev/full", state + "/dead-letters.ndjson");
  const CommandResult failed =
      RunIocstream({"replay", "--config", config, "--state-dir", state, "--no-summary", input});
  EXPECT_GT(failed.exit_code, 0) << failed.err;  // an error, not a signal
  EXPECT_NE(failed.err.find("No space left on device"), std::string::npos) << failed.err;
  std::filesystem::remove(state + "/dead-letters.ndjson");
  const CommandResult rest =
      RunIocstream({"replay", "--config", config, "--state-dir", state, "--no-summary", input});
  ASSERT_EQ(rest.exit_code, 0) << rest.err;

  const std::string expected_alerts = ReadFile(reference + "/alerts.ndjson");
  const std::string expected_dead_letters = ReadFile(reference + "/dead-letters.ndjson");
  EXPECT_GT(std::count(expected_alerts.begin(), expected_alerts.end(), '\n'), 10000);
  EXPECT_GT(std::count(expected_dead_letters.begin(), expected_dead_letters.end(), '\n'), 100);
  EXPECT_TRUE(ReadFile(state + "/alerts.ndjson") == expected_alerts)
      << "the alerts differ from the reference";
  EXPECT_EQ(ReadFile(state + "/dead-letters.ndjson"), expected_dead_letters);
}

// A consumer empties the alerts file between two replays of a growing file, and the second is
// killed before its first flush: the store comes back to the length it recorded before the
// file was emptied. The relay stores the emptied file's length before it appends, so the
// next replay cuts off only what the killed one wrote (a QA trial: 1,486 lines written twice
// and one spliced into another, when the old, longer length came back).
TEST(ReplayInputTest, AnAlertsFileEmptiedBetweenReplaysStaysExactlyOnceAcrossAKill) {
  TempDir dir;
  std::string config;
  std::string events;
  ASSERT_NO_FATAL_FAILURE(SimulateProvince(dir, "replay-emptied", config, events));
  const std::string all = ReadFile(events);
  size_t cut = 0;  // after the first 30,000 lines
  for (int i = 0; i < 30000; ++i) cut = all.find('\n', cut) + 1;

  // Replays the first part into a state dir, empties its files as a consumer that took the
  // lines would, then replays the grown file, killed `kills` times (each once the alerts file
  // has lines again), then to the end. Returns the alerts file.
  auto scenario = [&](const std::string& name, int kills) {
    const std::string input = dir / (name + ".ndjson");
    const std::string state = dir / name;
    std::ofstream(input, std::ios::binary) << all.substr(0, cut);
    const CommandResult first =
        RunIocstream({"replay", "--config", config, "--state-dir", state, "--no-summary", input});
    EXPECT_EQ(first.exit_code, 0) << first.err;
    EXPECT_FALSE(ReadFile(state + "/alerts.ndjson").empty());
    std::ofstream(state + "/alerts.ndjson", std::ios::trunc).flush();
    std::ofstream(state + "/dead-letters.ndjson", std::ios::trunc).flush();
    std::ofstream(input, std::ios::binary | std::ios::app) << all.substr(cut);
    for (int k = 0; k < kills; ++k) {
      Child child({"replay", "--config", config, "--state-dir", state, "--no-summary", input},
                  dir.path());
      WaitUntilNotEmpty(state + "/alerts.ndjson");
      child.Kill(SIGKILL);
      EXPECT_TRUE(child.Wait(std::chrono::seconds(60)).has_value());
    }
    const CommandResult rest =
        RunIocstream({"replay", "--config", config, "--state-dir", state, "--no-summary", input});
    EXPECT_EQ(rest.exit_code, 0) << rest.err;
    return ReadFile(state + "/alerts.ndjson");
  };
  const std::string uninterrupted = scenario("uninterrupted", 0);
  EXPECT_GT(std::count(uninterrupted.begin(), uninterrupted.end(), '\n'), 10000);
  const std::string killed = scenario("killed", 2);
  EXPECT_EQ(std::count(killed.begin(), killed.end(), '\n'),
            std::count(uninterrupted.begin(), uninterrupted.end(), '\n'));
  EXPECT_TRUE(killed == uninterrupted) << "the alerts differ from the uninterrupted replay's";
}

// A state directory that holds other files and no store (a typo, a shared folder, `/`) got
// the store's files among them, first without a word, then with a warning (a helper's
// `--state-dir /` wrote 17 files into the root): it is refused as bad input, and nothing is
// written into it. An empty or new directory, one that holds a store, or a mounted volume's
// root with only lost+found, is used.
TEST(ReplayInputTest, AStateDirectoryWithOtherFilesIsRefused) {
  TempDir dir;
  const std::string config = WriteConfig(dir, UniqueName("replay-nonempty-dir"));
  std::filesystem::create_directories(dir / "state");
  std::ofstream(dir / "state/notes.txt") << "someone's notes\n";
  const std::string events = dir / "events.ndjson";
  std::ofstream(events) << Received("D1");
  const CommandResult refused = RunIocstream({"replay", "--config", config, events});
  EXPECT_EQ(refused.exit_code, 1) << refused.err;
  EXPECT_NE(refused.err.find("holds other files (notes.txt) and no state store"), std::string::npos)
      << refused.err;
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir / "state")) {
    ++entries;
  }
  EXPECT_EQ(entries, 1u);  // notes.txt alone

  std::filesystem::remove(dir / "state/notes.txt");
  std::filesystem::create_directory(dir / "state/lost+found");
  const CommandResult volume = RunIocstream({"replay", "--config", config, events});
  ASSERT_EQ(volume.exit_code, 0) << volume.err;
  const CommandResult again = RunIocstream({"replay", "--config", config, events});
  ASSERT_EQ(again.exit_code, 0) << again.err;
}

// `serve` answers the HTTP API and /metrics on a replayed state, without a broker (a helper
// found no way to query a replay's state but `export`), and stops on SIGTERM with exit 0. A
// directory with no store is refused.
TEST(ReplayInputTest, ServeAnswersTheApiOnAReplayedState) {
  TempDir dir;
  const std::string config = WriteConfig(dir, UniqueName("replay-serve"));
  const std::string events = dir / "events.ndjson";
  std::ofstream(events) << Received("S1") << Received("S2");
  const CommandResult replay = RunIocstream({"replay", "--config", config, events});
  ASSERT_EQ(replay.exit_code, 0) << replay.err;
  {
    // Two alerts a stopped run left undelivered: serve shows them pending (it said 0, as if
    // delivered: a helper's finding), and sends nothing.
    state::StateStoreOptions options;
    options.path = dir / "state";
    auto store = state::StateStore::Open(options);
    ASSERT_TRUE(store.has_value()) << store.error().message;
    state::StateBatch batch = (*store)->NewBatch();
    batch.AppendOutbox("alert one");
    batch.AppendOutbox("alert two");
    ASSERT_TRUE((*store)->Commit(std::move(batch)).ok());
  }

  Child serve({"serve", "--config", config}, dir.path());
  const int port = WaitForHttpPort(serve);
  ASSERT_GT(port, 0) << serve.Stderr();
  EXPECT_NE(HttpGet(port, "/readyz").find("\"ready\":true"), std::string::npos);
  const std::string dossier = HttpGet(port, "/api/v1/dossiers/S1");
  EXPECT_NE(dossier.find("\"dossier_id\":\"S1\""), std::string::npos) << dossier;
  const auto kpis = nlohmann::json::parse(HttpGet(port, "/api/v1/kpis"));
  EXPECT_EQ(kpis["total"]["received"], 2) << kpis.dump();
  const std::string metrics = HttpGet(port, "/metrics");
  EXPECT_NE(metrics.find("iocstream_dossiers_received{department=\"A\""), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("\niocstream_outbox_pending 2\n"), std::string::npos) << metrics;
  serve.Kill(SIGTERM);
  EXPECT_EQ(serve.Wait(std::chrono::seconds(30)), 0) << serve.Stderr();
  EXPECT_NE(serve.Stderr().find("stopping on SIGTERM"), std::string::npos) << serve.Stderr();

  std::filesystem::create_directories(dir / "empty");
  const CommandResult none =
      RunIocstream({"serve", "--config", config, "--state-dir", dir / "empty"});
  EXPECT_EQ(none.exit_code, 1) << none.err;
  EXPECT_NE(none.err.find("holds no state store"), std::string::npos) << none.err;
}

// `serve` on the state of a consumer group's member showed every partition the store held,
// those handed to other instances since included, as current (a helper's finding): a store
// with an assignment (`run` records it at each rebalance) shows only those partitions, and
// `export` writes only those.
TEST(ReplayInputTest, ServeAndExportShowOnlyThePartitionsOfTheLastAssignment) {
  TempDir dir;
  const std::string config = WriteConfig(dir, UniqueName("replay-serve-assigned"));
  const std::string events = dir / "events.ndjson";
  std::ofstream out(events);
  for (int i = 0; i < 12; ++i) out << Received("P" + std::to_string(i));
  out.close();
  const CommandResult replay = RunIocstream({"replay", "--config", config, events});
  ASSERT_EQ(replay.exit_code, 0) << replay.err;
  int32_t partitions = 0;
  std::set<PartitionId> assigned;
  int kept = 0;  // dossiers of the assigned partitions
  {
    state::StateStoreOptions options;
    options.path = dir / "state";
    auto store = state::StateStore::Open(options);
    ASSERT_TRUE(store.has_value()) << store.error().message;
    auto count = (*store)->GetStatePartitions();
    ASSERT_TRUE(count && *count) << "a replay records its partition count";
    partitions = **count;
    assigned.insert(PartitionId(app::Pipeline::HashPartition("P0", partitions)));
    for (int i = 0; i < 12; ++i) {
      kept += assigned.contains(
          PartitionId(app::Pipeline::HashPartition("P" + std::to_string(i), partitions)));
    }
    state::StateBatch batch = (*store)->NewBatch();
    batch.PutAssignment(assigned);
    ASSERT_TRUE((*store)->Commit(std::move(batch)).ok());
    auto read = (*store)->GetAssignment();
    ASSERT_TRUE(read && *read);
    EXPECT_EQ(**read, assigned);
  }
  ASSERT_LT(kept, 12) << "the ids must spread over more than one partition";

  Child serve({"serve", "--config", config}, dir.path());
  const int port = WaitForHttpPort(serve);
  ASSERT_GT(port, 0) << serve.Stderr();
  const auto kpis = nlohmann::json::parse(HttpGet(port, "/api/v1/kpis"));
  EXPECT_EQ(kpis["total"]["received"], kept) << kpis.dump();
  EXPECT_NE(HttpGet(port, "/api/v1/dossiers/P0").find("\"dossier_id\":\"P0\""), std::string::npos);
  for (int i = 0; i < 12; ++i) {
    const std::string id = "P" + std::to_string(i);
    const PartitionId home(app::Pipeline::HashPartition(id, partitions));
    if (assigned.contains(home)) continue;
    const std::string answer = HttpGet(port, "/api/v1/dossiers/" + id);
    EXPECT_NE(answer.find("which this instance does not handle now"), std::string::npos)
        << id << ": " << answer;
    break;
  }
  serve.Kill(SIGTERM);
  EXPECT_EQ(serve.Wait(std::chrono::seconds(30)), 0) << serve.Stderr();
  EXPECT_NE(serve.Stderr().find("showing the partitions it had at its last rebalance"),
            std::string::npos)
      << serve.Stderr();

  const CommandResult dossiers = RunIocstream(
      {"export", "--config", config, "--state-dir", dir / "state", "dossiers", "--format", "csv"});
  ASSERT_EQ(dossiers.exit_code, 0) << dossiers.err;
  EXPECT_EQ(std::count(dossiers.out.begin(), dossiers.out.end(), '\n'), kept + 1)
      << dossiers.out;  // the header and the assigned partitions' dossiers
  EXPECT_NE(dossiers.out.find("\nP0,"), std::string::npos) << dossiers.out;
  EXPECT_NE(dossiers.err.find("exporting the partitions it had at its last rebalance"),
            std::string::npos)
      << dossiers.err;
  const CommandResult aggregates =
      RunIocstream({"export", "--config", config, "--state-dir", dir / "state", "aggregates",
                    "--format", "ndjson"});
  ASSERT_EQ(aggregates.exit_code, 0) << aggregates.err;
  int received = 0;
  std::istringstream lines(aggregates.out);
  for (std::string line; std::getline(lines, line);) {
    received += nlohmann::json::parse(line)["received"].get<int>();
  }
  EXPECT_EQ(received, kept) << aggregates.out;

  // A replay into it applies events to every partition: the recorded assignment is forgotten
  // (said), and `export` writes every partition again, the replayed dossiers included (they
  // were left out of the other partitions: a helper's finding).
  const std::string more = dir / "more.ndjson";
  std::ofstream(more) << Received("Q0") << Received("Q1") << Received("Q2") << Received("Q3");
  const CommandResult again = RunIocstream({"replay", "--config", config, more});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.err.find("show every partition of this store from now on"), std::string::npos)
      << again.err;
  const CommandResult all = RunIocstream(
      {"export", "--config", config, "--state-dir", dir / "state", "dossiers", "--format", "csv"});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_EQ(std::count(all.out.begin(), all.out.end(), '\n'), 12 + 4 + 1) << all.out;
  EXPECT_EQ(all.err.find("at its last rebalance"), std::string::npos) << all.err;
}

// A first line consumed before its line end was written (complete JSON, no line feed), then
// ended with "\r\n" or " \n": the file was taken for a new one and replayed again from its
// first line (found by a helper). Trailing spaces and CRs do not change its identity.
TEST(ReplayInputTest, AFirstLineEndedLaterIsTheSameFile) {
  for (const std::string ending : {"\r\n", " \n", "\t\r\n"}) {
    TempDir dir;
    const std::string config = WriteConfig(dir, UniqueName("replay-first-line-end"));
    const std::string events = dir / "events.ndjson";
    std::string first = Received("D1");
    first.pop_back();  // no line feed yet
    std::ofstream(events, std::ios::binary) << first;
    const CommandResult before = RunIocstream({"replay", "--config", config, events});
    ASSERT_EQ(before.exit_code, 0) << before.err;
    EXPECT_NE(before.out.find("consumed 1 = applied 1"), std::string::npos) << before.out;
    std::ofstream(events, std::ios::binary | std::ios::app) << ending << Received("D2");
    const CommandResult after = RunIocstream({"replay", "--config", config, events});
    ASSERT_EQ(after.exit_code, 0) << after.err;
    EXPECT_NE(after.out.find("consumed 1 = applied 1 (late 0) + duplicates 0"), std::string::npos)
        << after.out;
    EXPECT_NE(after.err.find("resuming at line 2"), std::string::npos) << after.err;
  }
}

// A file is known by its real path: under another spelling (`dir/./f`, a symbolic link) it
// was a new source, replayed again with its dead letters written again (found by a helper).
TEST(ReplayInputTest, AFileUnderAnotherSpellingOfItsPathIsTheSameSource) {
  TempDir dir;
  const std::string config = WriteConfig(dir, UniqueName("replay-path-spelling"));
  const std::string events = dir / "events.ndjson";
  std::ofstream(events) << Received("D1") << "not json\n";
  const std::string link = dir / "link.ndjson";
  std::filesystem::create_symlink(events, link);
  const std::string dotted = dir.path() + "/./events.ndjson";
  const CommandResult once = RunIocstream({"replay", "--config", config, events, dotted, link});
  ASSERT_EQ(once.exit_code, 0) << once.err;
  EXPECT_NE(once.out.find("consumed 2 = applied 1 (late 0) + duplicates 0 + dead-lettered 1"),
            std::string::npos)
      << once.out;
  EXPECT_NE(once.err.find(dotted + ": listed again"), std::string::npos) << once.err;
  EXPECT_NE(once.err.find(link + ": listed again"), std::string::npos) << once.err;
  std::ofstream(events, std::ios::app) << Received("D2");
  const CommandResult grown = RunIocstream({"replay", "--config", config, link});
  ASSERT_EQ(grown.exit_code, 0) << grown.err;
  EXPECT_NE(grown.out.find("consumed 1 = applied 1 (late 0) + duplicates 0 + dead-lettered 0"),
            std::string::npos)
      << grown.out;
  std::istringstream dead(ReadFile(dir / "state/dead-letters.ndjson"));
  size_t dead_letters = 0;
  for (std::string line; std::getline(dead, line);) ++dead_letters;
  EXPECT_EQ(dead_letters, 1u);
}

// A .csv file replayed without --mapping was read as NDJSON: every row dead-lettered and the
// replay exit 0 with a warning (found by helpers). Refused now, before any state, when its
// first line is not a JSON object.
TEST(ReplayInputTest, ACsvFileWithoutMappingIsRefused) {
  TempDir dir;
  const std::string config = WriteConfig(dir, UniqueName("replay-csv-no-mapping"));
  const std::string csv = dir / "cases.csv";
  std::ofstream(csv) << "\xEF\xBB\xBF\r\n case_id,opened\n1,2026-03-02\n";
  const CommandResult r = RunIocstream({"replay", "--config", config, csv});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("cases.csv: a CSV file (its first line 'case_id,opened' is not a JSON "
                       "object): replay CSV exports with --mapping FILE"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "state"));
}

// An NDJSON file that happens to be named .csv is read as NDJSON.
TEST(ReplayInputTest, NdjsonNamedCsvIsReadAsNdjson) {
  TempDir dir;
  const std::string config = WriteConfig(dir, UniqueName("replay-ndjson-named-csv"));
  const std::string file = dir / "events.CSV";
  std::ofstream(file) << Received("D-1") << Received("D-2");
  const CommandResult r = RunIocstream({"replay", "--config", config, file});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("consumed 2 = applied 2 (late 0) + duplicates 0 + dead-lettered 0"),
            std::string::npos)
      << r.out;
}

}  // namespace
}  // namespace iocstream::testing
