// Real data as the oracle: the committed samples of the three City of Boston 311 export
// schemas, replayed through `iocstream replay` and read back with `iocstream export`.
// - every closed case with a due date gets outcome late exactly when the city labelled it
//   OVERDUE (and early/on time when ONTIME);
// - per-department counts equal the independent oracle's (tools/boston_oracle.py output,
//   tests/data/boston/*.expected.json).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "integration/harness.h"

namespace iocstream::testing {
namespace {

struct BostonCase {
  std::string name;          // mapping and sample base name
  std::string id_column;     // case id in the CSV
  std::string label_column;  // ONTIME / OVERDUE
};

class BostonReplayTest : public ::testing::TestWithParam<BostonCase> {};

std::map<std::string, std::map<std::string, std::string>> ExportById(const std::string& csv) {
  TempDir dir;
  const std::string path = dir / "export.csv";
  std::ofstream(path) << csv;
  std::map<std::string, std::map<std::string, std::string>> out;
  for (auto& row : ReadCsv(path)) out[row["dossier_id"]] = row;
  return out;
}

TEST_P(BostonReplayTest, OutcomesMatchTheCityLabelsAndCountsMatchTheOracle) {
  const BostonCase& c = GetParam();
  TempDir dir;
  const std::string config = WriteConfig(
      dir, UniqueName("boston"),
      "timers:\n  clock: watermark\nsla:\n  warning_fraction: 0\n  warning_hours_left: 0\n"
      "  apology_alerts: false\n");
  const std::string mapping = SourceDir() + "/config/mappings/" + c.name + ".yaml";
  const std::string sample = SourceDir() + "/tests/data/boston/" + c.name + ".csv";
  auto replay = RunIocstream({"replay", "--config", config, "--mapping", mapping, sample});
  ASSERT_EQ(replay.exit_code, 0) << replay.err;

  auto dossiers = RunIocstream({"export", "--config", config, "dossiers", "--format", "csv",
                                "--as-of", "2026-06-01T00:00:00Z"});
  ASSERT_EQ(dossiers.exit_code, 0) << dossiers.err;
  const auto by_id = ExportById(dossiers.out);

  const auto expected = nlohmann::json::parse(
      ReadFile(SourceDir() + "/tests/data/boston/" + c.name + ".expected.json"));
  int64_t checked = 0;
  for (auto& row : ReadCsv(sample)) {
    const std::string label = row[c.label_column];
    auto it = by_id.find("boston:" + row[c.id_column]);
    ASSERT_NE(it, by_id.end()) << "case " << row[c.id_column] << " missing from the export";
    const std::string outcome = it->second.at("outcome");
    if (outcome != "early" && outcome != "on_time" && outcome != "late") continue;
    if (label.empty()) continue;
    ++checked;
    EXPECT_EQ(outcome == "late", label == "OVERDUE")
        << "case " << row[c.id_column] << ": outcome " << outcome << ", label " << label;
  }
  const auto& totals = expected["totals"]["closed_with_due"];
  EXPECT_EQ(checked, totals["total"].get<int64_t>() - totals["unlabelled"].get<int64_t>());

  auto aggregates = RunIocstream({"export", "--config", config, "aggregates", "--format", "csv"});
  ASSERT_EQ(aggregates.exit_code, 0) << aggregates.err;
  const std::string agg_path = dir / "aggregates.csv";
  std::ofstream(agg_path) << aggregates.out;
  std::map<std::string, std::map<std::string, int64_t>> per_department;
  for (auto& row : ReadCsv(agg_path)) {
    auto& d = per_department[row["department"]];
    for (const char* f : {"received", "completed_early", "completed_on_time", "completed_late",
                          "completed_no_deadline", "open"}) {
      d[f] += std::stoll(row[f]);
    }
  }
  for (const auto& [department, e] : expected["departments"].items()) {
    SCOPED_TRACE(department);
    auto& d = per_department[department];
    EXPECT_EQ(d["received"], e["received"].get<int64_t>());
    const int64_t closed_with_due = e["closed_with_due"]["total"].get<int64_t>();
    const int64_t late = e["closed_with_due"]["late"].get<int64_t>();  // close > due
    EXPECT_EQ(d["completed_late"], late);
    EXPECT_EQ(d["completed_early"] + d["completed_on_time"], closed_with_due - late);
    EXPECT_EQ(d["completed_no_deadline"], e["closed_without_due"].get<int64_t>());
    EXPECT_EQ(d["open"], e["open_with_due"].get<int64_t>() + e["open_without_due"].get<int64_t>());
  }
}

INSTANTIATE_TEST_SUITE_P(
    Samples, BostonReplayTest,
    ::testing::Values(BostonCase{"boston-legacy", "case_enquiry_id", "on_time"},
                      BostonCase{"boston-new-crm", "case_id", "on_time"},
                      BostonCase{"boston-sample", "CASE_ENQUIRY_ID", "OnTime_Status"}),
    [](const auto& info) {
      std::string n = info.param.name;
      std::replace(n.begin(), n.end(), '-', '_');
      return n;
    });

}  // namespace
}  // namespace iocstream::testing
