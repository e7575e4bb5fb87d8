// Real data as the oracle: a committed sample of Houston's 311 pothole requests of 2016
// (tests/data/houston/pothole-2016.csv: 120 closed before their due date, 60 after, and 20 of
// the 205 rows whose due date precedes their creation by years), replayed through
// `iocstream replay --mapping config/mappings/houston.yaml` and read back with `export`:
// - a case closed after its due date (the city's OVERDUE, days from DUE DATE to DATE CLOSED,
//   above 0) has outcome late, one closed before it early or on time;
// - a case whose receipt was dead-lettered (due_before_event) ends as outcome no_receipt:
//   judged neither on time nor late, and out of the finished count and Decision 766's
//   indicator (a QA trial found these 205 counted on time);
// - the accounting holds: every row's received event applied or dead-lettered, none lost.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "integration/harness.h"

namespace iocstream::testing {
namespace {

// A config for the Houston replays: watermark timers, breach and completion alerts only.
std::string HoustonConfig(const TempDir& dir, const std::string& name) {
  return WriteConfig(
      dir, UniqueName(name),
      "timers:\n  clock: watermark\nsla:\n  warning_fraction: 0\n  warning_hours_left: 0\n"
      "  apology_alerts: false\n");
}

// The committed sample (one row per line) dealt into two files, each with the header.
void DealSampleInto(const std::string& first, const std::string& second) {
  std::istringstream sample(ReadFile(SourceDir() + "/tests/data/houston/pothole-2016.csv"));
  std::string header;
  std::getline(sample, header);
  std::ofstream a(first);
  std::ofstream b(second);
  a << header << "\n";
  b << header << "\n";
  int n = 0;
  for (std::string line; std::getline(sample, line); ++n) (n % 2 == 0 ? a : b) << line << "\n";
}

TEST(HoustonReplayTest, OutcomesMatchTheCityOverdueDaysAndUnreceivedCasesAreNotJudged) {
  TempDir dir;
  const std::string config = HoustonConfig(dir, "houston");
  const std::string mapping = SourceDir() + "/config/mappings/houston.yaml";
  const std::string sample = SourceDir() + "/tests/data/houston/pothole-2016.csv";
  auto replay = RunIocstream({"replay", "--config", config, "--mapping", mapping, sample});
  ASSERT_EQ(replay.exit_code, 0) << replay.err;
  // 200 rows: 200 received and 200 completed events; the 20 receipts due before they were
  // made are dead-lettered.
  EXPECT_NE(replay.out.find("consumed 400 = applied 380"), std::string::npos) << replay.out;
  EXPECT_NE(replay.out.find("dead-lettered 20"), std::string::npos) << replay.out;

  auto dossiers = RunIocstream({"export", "--config", config, "dossiers", "--format", "csv",
                                "--as-of", "2026-06-01T00:00:00Z"});
  ASSERT_EQ(dossiers.exit_code, 0) << dossiers.err;
  const std::string export_path = dir / "export.csv";
  std::ofstream(export_path) << dossiers.out;
  std::map<std::string, std::string> outcome_by_id;
  for (auto& row : ReadCsv(export_path)) outcome_by_id[row["dossier_id"]] = row["outcome"];

  int late = 0;
  int in_time = 0;
  int unreceived = 0;
  for (auto& row : ReadCsv(sample)) {
    const std::string id = "houston:" + row["CASE NUMBER"];
    auto it = outcome_by_id.find(id);
    ASSERT_NE(it, outcome_by_id.end()) << id << " missing from the export";
    const std::string& outcome = it->second;
    if (row["DUE DATE"] < row["SR CREATE DATE"]) {  // same format: text order is time order
      EXPECT_EQ(outcome, "no_receipt") << id;
      ++unreceived;
    } else if (std::stod(row["OVERDUE"]) > 0) {
      EXPECT_EQ(outcome, "late") << id << ": OVERDUE " << row["OVERDUE"];
      ++late;
    } else {
      EXPECT_TRUE(outcome == "early" || outcome == "on_time")
          << id << ": " << outcome << ", OVERDUE " << row["OVERDUE"];
      ++in_time;
    }
  }
  EXPECT_EQ(late, 60);
  EXPECT_EQ(in_time, 120);
  EXPECT_EQ(unreceived, 20);

  // The summary table: finished holds the 180 judged, no_receipt the 20, none on time by
  // default.
  std::string total;
  std::istringstream lines(replay.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("TOTAL", 0) == 0) total = line;
  }
  std::istringstream fields(total);
  std::vector<std::string> columns;
  for (std::string f; fields >> f;) columns.push_back(f);
  // TOTAL received finished on_time late no_due open overdue open_no_due cancelled no_receipt %
  ASSERT_EQ(columns.size(), 12u) << total;
  EXPECT_EQ(columns[1], "180") << total;  // received
  EXPECT_EQ(columns[2], "180") << total;  // finished
  EXPECT_EQ(columns[3], "120") << total;  // on time
  EXPECT_EQ(columns[4], "60") << total;   // late
  EXPECT_EQ(columns[5], "0") << total;    // no due
  EXPECT_EQ(columns[10], "20") << total;  // no receipt
  EXPECT_EQ(columns[11], "66.7") << total;
}

// Dead letters of a replay of several CSV files name the row each came from: their offset
// counts events in time order across all the files, which alone cannot find it (a helper's
// finding: the dead letter named the first file and an event index).
TEST(HoustonReplayTest, DeadLettersOfSeveralCsvFilesNameTheirFileAndLine) {
  TempDir dir;
  const std::string config = HoustonConfig(dir, "houston-rows");
  const std::string mapping = SourceDir() + "/config/mappings/houston.yaml";
  const std::string first = dir / "first.csv";
  const std::string second = dir / "second.csv";
  DealSampleInto(first, second);
  auto replay = RunIocstream({"replay", "--config", config, "--mapping", mapping, first, second});
  ASSERT_EQ(replay.exit_code, 0) << replay.err;
  EXPECT_NE(replay.out.find("dead-lettered 20"), std::string::npos) << replay.out;

  const std::map<std::string, std::string> files = {{first, ReadFile(first)},
                                                    {second, ReadFile(second)}};
  std::istringstream dead(ReadFile(dir / "state/dead-letters.ndjson"));
  int located = 0;
  std::set<std::string> in_files;
  for (std::string text; std::getline(dead, text);) {
    const auto line = nlohmann::json::parse(text);
    ASSERT_TRUE(line.contains("csv_row")) << text;
    const std::string row = line["csv_row"];
    const size_t colon = row.rfind(':');
    const std::string file = row.substr(0, colon);
    const int number = std::stoi(row.substr(colon + 1));
    ASSERT_TRUE(files.contains(file)) << row;
    std::istringstream content(files.at(file));
    std::string at;
    for (int k = 0; k < number; ++k) std::getline(content, at);
    // The dossier id is "houston:" and the row's CASE NUMBER.
    const auto payload = nlohmann::json::parse(line["payload"].get<std::string>());
    const std::string id = payload["dossier_id"];
    EXPECT_EQ(at.rfind(id.substr(id.find(':') + 1) + ",", 0), 0u) << row << ": " << at;
    in_files.insert(file);
    ++located;
  }
  EXPECT_EQ(located, 20);
  EXPECT_EQ(in_files.size(), 2u);  // the 20 rows are spread over both halves
}

// The same files given in another order are the same source: a second replay finds nothing
// new (they were a new source, all read again and their 20 dead letters written twice: a
// helper's finding).
TEST(HoustonReplayTest, TheSameCsvFilesInAnotherOrderAreTheSameSource) {
  TempDir dir;
  const std::string config = HoustonConfig(dir, "houston-order");
  const std::string mapping = SourceDir() + "/config/mappings/houston.yaml";
  const std::string a = dir / "a.csv";
  const std::string b = dir / "b.csv";
  DealSampleInto(a, b);
  auto forward = RunIocstream({"replay", "--config", config, "--mapping", mapping, a, b});
  ASSERT_EQ(forward.exit_code, 0) << forward.err;
  EXPECT_NE(forward.out.find("consumed 400 = applied 380"), std::string::npos) << forward.out;
  auto reverse = RunIocstream({"replay", "--config", config, "--mapping", mapping, b, a});
  ASSERT_EQ(reverse.exit_code, 0) << reverse.err;
  EXPECT_NE(reverse.err.find("all 400 events were applied by an earlier replay"), std::string::npos)
      << reverse.err;
  const std::string dead = ReadFile(dir / "state/dead-letters.ndjson");
  EXPECT_EQ(std::count(dead.begin(), dead.end(), '\n'), 20);
}

// Rows added before a replayed CSV's earliest make it a new source (its name holds the first
// event's hash), read again from the start: that was silent (a helper's finding). A warning
// names the source replayed before under the same first file.
TEST(HoustonReplayTest, ACsvGrownBeforeItsEarliestRowIsSaidToBeReadAgain) {
  TempDir dir;
  const std::string config = HoustonConfig(dir, "houston-grown");
  const std::string mapping = SourceDir() + "/config/mappings/houston.yaml";
  const std::string first = dir / "first.csv";
  const std::string second = dir / "second.csv";
  DealSampleInto(first, second);
  auto once = RunIocstream({"replay", "--config", config, "--mapping", mapping, first});
  ASSERT_EQ(once.exit_code, 0) << once.err;
  EXPECT_EQ(once.err.find("a new source"), std::string::npos) << once.err;
  // Another case a month before every other, appended.
  std::istringstream content(ReadFile(first));
  std::string header;
  std::string row;
  std::getline(content, header);
  std::getline(content, row);
  ASSERT_EQ(row.rfind("11968154-101002015646,", 0), 0u) << row;
  row.replace(0, 8, "99999999");
  for (size_t at = row.find("2016-01-"); at != std::string::npos; at = row.find("2016-01-", at)) {
    row.replace(at, 8, "2015-12-");
  }
  std::ofstream(first, std::ios::app) << row << "\n";
  auto grown = RunIocstream({"replay", "--config", config, "--mapping", mapping, first});
  ASSERT_EQ(grown.exit_code, 0) << grown.err;
  EXPECT_NE(grown.err.find("a new source, where csv:first.csv#"), std::string::npos) << grown.err;
  // Another file set is not warned about.
  auto other = RunIocstream({"replay", "--config", config, "--mapping", mapping, second});
  ASSERT_EQ(other.exit_code, 0) << other.err;
  EXPECT_EQ(other.err.find("a new source"), std::string::npos) << other.err;
}

// A conflicting event's log line names its row too (the same finding, for the warnings): here
// a case of the second file closed the day before it was created.
TEST(HoustonReplayTest, ConflictingEventsOfSeveralCsvFilesNameTheirFileAndLine) {
  TempDir dir;
  const std::string config = HoustonConfig(dir, "houston-conflict");
  const std::string mapping = SourceDir() + "/config/mappings/houston.yaml";
  std::istringstream sample(ReadFile(SourceDir() + "/tests/data/houston/pothole-2016.csv"));
  std::string header;
  std::string row1;
  std::string row2;
  std::getline(sample, header);
  std::getline(sample, row1);
  std::getline(sample, row2);
  // The second row's case, created 2016-01-01 15:48:50, closed 2015-12-31 10:00:00.
  const std::string closed = "2016-02-09 15:35:09";
  ASSERT_NE(row2.find(closed), std::string::npos) << row2;
  row2.replace(row2.find(closed), closed.size(), "2015-12-31 10:00:00");
  const std::string first = dir / "first.csv";
  const std::string second = dir / "second.csv";
  std::ofstream(first) << header << "\n" << row1 << "\n";
  std::ofstream(second) << header << "\n" << row2 << "\n";
  auto replay = RunIocstream({"replay", "--config", config, "--mapping", mapping, first, second});
  ASSERT_EQ(replay.exit_code, 0) << replay.err;
  EXPECT_NE(replay.out.find("consumed 4 = applied 4"), std::string::npos) << replay.out;
  const std::string all = replay.out + replay.err;
  const size_t warned = all.find("conflicting event (end_before_receipt)");
  ASSERT_NE(warned, std::string::npos) << all;
  const std::string line = all.substr(warned, all.find('\n', warned) - warned);
  EXPECT_NE(line.find("houston:11968159-101002015650"), std::string::npos) << line;
  EXPECT_NE(line.find("(row " + second + ":2)"), std::string::npos) << line;
}

}  // namespace
}  // namespace iocstream::testing
