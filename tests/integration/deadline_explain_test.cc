// "Explain a deadline" in `iocstream export`: the days off between receipt and due time, as
// the last columns of the CSV and in the NDJSON view, from a replay into a real RocksDB
// directory (no broker).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "integration/harness.h"
#include "iocstream/decode/event_encoder.h"
#include "iocstream/decode/rfc3339.h"

namespace iocstream::testing {
namespace {

std::string Received(const std::string& id, const char* at, const char* due) {
  DossierEvent e;
  e.event_id = id + "/received";
  e.dossier_id = id;
  e.type = EventType::kReceived;
  e.occurred_at = *ParseRfc3339(at);
  e.due_at = *ParseRfc3339(due);
  e.agency_code = "SO-TP";
  return EncodeEvent(e);
}

TEST(DeadlineExplainTest, ExportListsTheDaysOffSkippedAsItsLastColumns) {
  TempDir dir;
  const std::string config = dir / "iocstream.yaml";
  std::ofstream(config) << "state:\n  dir: " << (dir / "state") << "\n"
                        << "calendar:\n  files:\n    - " << SourceDir()
                        << "/config/calendars/vn-2026.yaml\n";
  const std::string events = dir / "events.ndjson";
  std::ofstream(events)
      << Received("D-TET", "2026-02-09T09:00:00+07:00", "2026-02-23T09:00:00+07:00") << "\n"
      << Received("D-MAR", "2026-03-02T09:00:00+07:00", "2026-03-09T09:00:00+07:00") << "\n";
  auto replay = RunIocstream({"replay", "--config", config, "--no-summary", events});
  ASSERT_EQ(replay.exit_code, 0) << replay.err;

  auto csv = RunIocstream({"export", "--config", config, "dossiers", "--as-of",
                           "2026-03-03T00:00:00Z", "-o", dir / "dossiers.csv"});
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  const std::string text = ReadFile(dir / "dossiers.csv");
  const std::string header = text.substr(0, text.find('\n'));
  // The columns existing scripts read stay where they were; the new ones come last.
  EXPECT_EQ(header,
            "dossier_id,department,commune,channel,procedure_code,status,received_at,due_at,"
            "completed_at,outcome,overdue_now,due_source,original_due_at,paused_ms,"
            "supplement_requests,rescheduled_due_at,days_off_skipped,days_off_named");
  std::map<std::string, std::map<std::string, std::string>> rows;
  for (auto& row : ReadCsv(dir / "dossiers.csv")) rows[row["dossier_id"]] = row;
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows["D-TET"]["days_off_skipped"], "9");
  EXPECT_EQ(rows["D-TET"]["days_off_named"], "Tết Âm lịch Bính Ngọ 2026-02-16..2026-02-20");
  EXPECT_EQ(rows["D-MAR"]["days_off_skipped"], "2");
  EXPECT_EQ(rows["D-MAR"]["days_off_named"], "");

  auto ndjson = RunIocstream({"export", "--config", config, "dossiers", "--format", "ndjson",
                              "--as-of", "2026-03-03T00:00:00Z"});
  ASSERT_EQ(ndjson.exit_code, 0) << ndjson.err;
  std::istringstream lines(ndjson.out);
  std::string line;
  int seen = 0;
  while (std::getline(lines, line)) {
    const auto j = nlohmann::json::parse(line);
    if (j["dossier_id"] != "D-TET") continue;
    ++seen;
    EXPECT_EQ(j["deadline"]["days_off_skipped"], 9);
    ASSERT_EQ(j["deadline"]["days_off_named"].size(), 1u);
    EXPECT_EQ(j["deadline"]["days_off_named"][0]["name"], "Tết Âm lịch Bính Ngọ");
  }
  EXPECT_EQ(seen, 1);
}

}  // namespace
}  // namespace iocstream::testing
