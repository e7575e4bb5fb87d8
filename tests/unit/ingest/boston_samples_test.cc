// The committed Boston 311 samples (tests/data/boston/, made by make_samples.py) read through
// the shipped mappings, checked against the oracle's output (tools/boston_oracle.py, computed
// in Python straight from the CSV) and against the city's own ONTIME/OVERDUE label.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "app/mapping_config.h"
#include "iocstream/ingest/csv_source.h"
#include "unit/ingest/csv_testing.h"

namespace iocstream::ingest {
namespace {

struct Sample {
  const char* name;          // mapping and sample file name
  const char* label_column;  // the city's ONTIME/OVERDUE label
};

void PrintTo(const Sample& s, std::ostream* os) { *os << s.name; }

std::string DataPath(const std::string& file) {
  return IOCSTREAM_SOURCE_DIR "/tests/data/boston/" + file;
}

CsvMapping LoadMapping(const std::string& name) {
  auto m = app::LoadCsvMapping(IOCSTREAM_SOURCE_DIR "/config/mappings/" + name + ".yaml");
  EXPECT_TRUE(m.has_value()) << (m ? "" : m.error().message);
  return m ? *m : CsvMapping{};
}

nlohmann::json LoadExpected(const std::string& name) {
  std::ifstream in(DataPath(name + ".expected.json"));
  return nlohmann::json::parse(in);
}

// What the events say about one dossier.
struct Dossier {
  std::string agency;
  std::optional<Instant> due;
  std::optional<Instant> completed;
  std::string label;  // only with the label-reading mapping
};

struct Counts {
  int64_t received = 0;
  int64_t closed_with_due = 0;
  int64_t late = 0;
  int64_t closed_without_due = 0;
  int64_t open_with_due = 0;
  int64_t open_without_due = 0;
};

class BostonSampleTest : public ::testing::TestWithParam<Sample> {};

TEST_P(BostonSampleTest, MatchesOracle) {
  const Sample& s = GetParam();
  const nlohmann::json expected = LoadExpected(s.name);
  auto reader = CsvEventReader::Open(DataPath(std::string(s.name) + ".csv"), LoadMapping(s.name));
  ASSERT_TRUE(reader.has_value()) << reader.error().message;
  auto r = testing::ReadAll(**reader);

  EXPECT_EQ((*reader)->rows_read(), expected["rows"].get<int64_t>());
  EXPECT_EQ(static_cast<int64_t>(r.errors.size()), expected["row_errors"]["count"].get<int64_t>());
  const int64_t received = expected["events"]["received"].get<int64_t>();
  const int64_t completed = expected["events"]["completed"].get<int64_t>();
  EXPECT_EQ((*reader)->stats().received_events, received);
  EXPECT_EQ((*reader)->stats().completed_events, completed);
  EXPECT_EQ(static_cast<int64_t>(r.events.size()), received + completed);

  std::map<std::string, Dossier> dossiers;
  for (const DossierEvent& e : r.events) {
    Dossier& d = dossiers[e.dossier_id];
    d.agency = CodeText(e, CodeField::kAgency);
    if (e.type == EventType::kReceived) d.due = e.due_at;
    if (e.type == EventType::kCompleted) d.completed = e.occurred_at;
  }
  EXPECT_EQ(static_cast<int64_t>(dossiers.size()), received) << "dossier ids are unique";

  std::map<std::string, Counts> by_agency;
  for (const auto& [id, d] : dossiers) {
    Counts& c = by_agency[d.agency];
    ++c.received;
    if (d.completed && d.due) {
      ++c.closed_with_due;
      if (*d.completed > *d.due) ++c.late;
    } else if (d.completed) {
      ++c.closed_without_due;
    } else if (d.due) {
      ++c.open_with_due;
    } else {
      ++c.open_without_due;
    }
  }
  for (const auto& [agency, want] : expected["departments"].items()) {
    SCOPED_TRACE(agency);
    const Counts& got = by_agency[agency];
    EXPECT_EQ(got.received, want["received"].get<int64_t>());
    EXPECT_EQ(got.closed_with_due, want["closed_with_due"]["total"].get<int64_t>());
    EXPECT_EQ(got.late, want["closed_with_due"]["late"].get<int64_t>());
    EXPECT_EQ(got.closed_without_due, want["closed_without_due"].get<int64_t>());
    EXPECT_EQ(got.open_with_due, want["open_with_due"].get<int64_t>());
    EXPECT_EQ(got.open_without_due, want["open_without_due"].get<int64_t>());
  }
  EXPECT_EQ(by_agency.size(), expected["departments"].size());
}

// The ground truth: on every closed row with a due time, the completed instant is after the
// due instant exactly when the city labelled the case OVERDUE. The label is read through the
// same reader with the procedure column pointed at the label column, so the events carry it.
TEST_P(BostonSampleTest, CompletedAfterDueIffLabelOverdue) {
  const Sample& s = GetParam();
  CsvMapping mapping = LoadMapping(s.name);
  mapping.columns.procedure = s.label_column;
  auto reader = CsvEventReader::Open(DataPath(std::string(s.name) + ".csv"), mapping);
  ASSERT_TRUE(reader.has_value()) << reader.error().message;
  auto r = testing::ReadAll(**reader);
  ASSERT_TRUE(r.errors.empty());

  std::map<std::string, Dossier> dossiers;
  for (const DossierEvent& e : r.events) {
    Dossier& d = dossiers[e.dossier_id];
    d.label = CodeText(e, CodeField::kProcedure);
    if (e.type == EventType::kReceived) d.due = e.due_at;
    if (e.type == EventType::kCompleted) d.completed = e.occurred_at;
  }
  int64_t checked = 0;
  int64_t overdue = 0;
  int64_t unlabelled = 0;
  for (const auto& [id, d] : dossiers) {
    if (!d.completed || !d.due) continue;
    if (d.label != "ONTIME" && d.label != "OVERDUE") {
      ++unlabelled;
      continue;
    }
    ++checked;
    overdue += d.label == "OVERDUE" ? 1 : 0;
    EXPECT_EQ(*d.completed > *d.due, d.label == "OVERDUE")
        << id << " completed " << ToEpochMillis(*d.completed) << " due " << ToEpochMillis(*d.due)
        << " label " << d.label;
  }
  const nlohmann::json expected = LoadExpected(s.name);
  EXPECT_EQ(checked, expected["label_check"]["labelled"].get<int64_t>());
  EXPECT_EQ(unlabelled, expected["label_check"]["unlabelled"].get<int64_t>());
  EXPECT_EQ(overdue, expected["totals"]["closed_with_due"]["overdue"].get<int64_t>());
  EXPECT_GT(checked, 100);
  EXPECT_GT(overdue, 0);
}

// The same ground-truth check on the full exports (not committed): read from
// $BOSTON_DATA_DIR, else ../shared/data/raw/boston next to the checkout; skipped if absent.
struct FullExport {
  const char* mapping;
  const char* label_column;
  std::vector<std::string> files;  // relative to the data directory
};
void PrintTo(const FullExport& e, std::ostream* os) {
  *os << e.mapping << " (" << e.files.size() << " file(s))";
}

class BostonFullExportTest : public ::testing::TestWithParam<FullExport> {};

TEST_P(BostonFullExportTest, CompletedAfterDueIffLabelOverdue) {
  const FullExport& x = GetParam();
  const char* env = std::getenv("BOSTON_DATA_DIR");
  const std::string dir = env != nullptr ? env : IOCSTREAM_SOURCE_DIR "/../shared/data/raw/boston";
  if (!std::filesystem::exists(dir + "/" + x.files.front())) {
    GTEST_SKIP() << "no Boston data at " << dir;
  }
  CsvMapping mapping = LoadMapping(x.mapping);
  mapping.columns.procedure = x.label_column;
  int64_t rows = 0, errors = 0, closed_with_due = 0, labelled = 0, agree = 0, overdue = 0;
  for (const std::string& file : x.files) {
    auto reader = CsvEventReader::Open(dir + "/" + file, mapping);
    ASSERT_TRUE(reader.has_value()) << reader.error().message;
    while (auto row = (*reader)->NextRow()) {
      ++rows;
      const auto* events = std::get_if<std::vector<DossierEvent>>(&*row);
      if (events == nullptr) {
        ++errors;
        ADD_FAILURE() << std::get<RowError>(*row).reason;
        continue;
      }
      if (events->size() < 2 || !(*events)[0].due_at) continue;
      ++closed_with_due;
      const std::string_view label = CodeText((*events)[0], CodeField::kProcedure);
      if (label != "ONTIME" && label != "OVERDUE") continue;
      ++labelled;
      overdue += label == "OVERDUE" ? 1 : 0;
      const bool late = (*events)[1].occurred_at > *(*events)[0].due_at;
      if (late == (label == "OVERDUE")) {
        ++agree;
      } else {
        ADD_FAILURE() << (*events)[0].dossier_id << ": completed after due " << late << ", label "
                      << label;
      }
    }
  }
  std::cout << "[ figures  ] " << x.mapping << ": rows " << rows << ", row errors " << errors
            << ", closed with due " << closed_with_due << " (labelled " << labelled << ", OVERDUE "
            << overdue << "), completed > due agrees with the label on " << agree << " / "
            << labelled << "\n";
  EXPECT_EQ(agree, labelled);
  EXPECT_EQ(errors, 0);
}

INSTANTIATE_TEST_SUITE_P(
    Boston, BostonFullExportTest,
    ::testing::Values(FullExport{"boston-legacy",
                                 "on_time",
                                 {"BU-Spark__ds-boston-311-animal-reports/filtered_2013.csv",
                                  "BU-Spark__ds-boston-311-animal-reports/filtered_2014.csv",
                                  "BU-Spark__ds-boston-311-animal-reports/filtered_2015.csv",
                                  "BU-Spark__ds-boston-311-animal-reports/filtered_2016.csv",
                                  "BU-Spark__ds-boston-311-animal-reports/filtered_2017.csv",
                                  "BU-Spark__ds-boston-311-animal-reports/filtered_2018.csv",
                                  "BU-Spark__ds-boston-311-animal-reports/filtered_2019.csv"}},
                      FullExport{"boston-new-crm",
                                 "on_time",
                                 {"soham-bhagwat__boston_311_requests/boston_311_requests.csv"}},
                      FullExport{
                          "boston-sample",
                          "OnTime_Status",
                          {"yashchavan11__boston-311-resolution-time-prediction/raw_sample.csv"}}),
    [](const ::testing::TestParamInfo<FullExport>& info) {
      std::string n = info.param.mapping;
      for (char& c : n) {
        if (c == '-') c = '_';
      }
      return n;
    });

INSTANTIATE_TEST_SUITE_P(Boston, BostonSampleTest,
                         ::testing::Values(Sample{"boston-legacy", "on_time"},
                                           Sample{"boston-new-crm", "on_time"},
                                           Sample{"boston-sample", "OnTime_Status"}),
                         [](const ::testing::TestParamInfo<Sample>& info) {
                           std::string n = info.param.name;
                           for (char& c : n) {
                             if (c == '-') c = '_';
                           }
                           return n;
                         });

}  // namespace
}  // namespace iocstream::ingest
