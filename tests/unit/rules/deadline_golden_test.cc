// Golden deadline cases (tests/data/deadlines/*.csv) on the shipped 2025 + 2026 calendars:
// one parameterised test per table, one row per test instance.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "iocstream/rules/business_calendar.h"
#include "unit/rules/test_support.h"

namespace iocstream::rules {
namespace {

using testing::FormatLocal;
using testing::Local;
using testing::ShippedCalendar;
using testing::SourcePath;

// Reads a CSV whose last column is free text (may contain commas); skips '#' comments and
// the header row.
std::vector<std::vector<std::string>> ReadTable(const std::string& relative, size_t columns) {
  std::ifstream in(SourcePath(relative));
  if (!in) {
    ADD_FAILURE() << "cannot open " << relative;
    return {};
  }
  std::vector<std::vector<std::string>> rows;
  std::string line;
  bool header = true;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (header) {
      header = false;
      continue;
    }
    std::vector<std::string> fields;
    std::stringstream ss(line);
    std::string field;
    while (fields.size() + 1 < columns && std::getline(ss, field, ',')) fields.push_back(field);
    std::getline(ss, field);
    fields.push_back(field);
    if (fields.size() != columns) {
      ADD_FAILURE() << relative << ": malformed row: " << line;
      continue;
    }
    rows.push_back(std::move(fields));
  }
  return rows;
}

struct DueCase {
  std::string id;
  std::string received_local;
  double amount = 0;
  DurationUnit unit = DurationUnit::kWorkingDays;
  std::string expected_due_local;
  std::string rule_source;
};
// What ctest lists next to each case (instead of its bytes).
void PrintTo(const DueCase& c, std::ostream* os) {
  *os << c.id << ": " << c.received_local << " + " << c.amount << " " << ToString(c.unit);
}

std::vector<DueCase> LoadDueCases() {
  std::vector<DueCase> cases;
  for (const auto& f : ReadTable("tests/data/deadlines/cases.csv", 6)) {
    const auto unit = ParseDurationUnit(f[3]);
    if (!unit) {
      ADD_FAILURE() << f[0] << ": unknown unit " << f[3];
      continue;
    }
    cases.push_back({f[0], f[1], std::stod(f[2]), *unit, f[4], f[5]});
  }
  return cases;
}

class DeadlineGoldenTest : public ::testing::TestWithParam<DueCase> {};

TEST_P(DeadlineGoldenTest, DueAt) {
  const DueCase& c = GetParam();
  const BusinessCalendar& calendar = ShippedCalendar();
  const Instant due = calendar.DueAt(Local(c.received_local), LegalDuration{c.amount, c.unit});
  EXPECT_EQ(FormatLocal(due), c.expected_due_local)
      << c.id << ": received " << c.received_local << " + " << c.amount << " " << ToString(c.unit)
      << " — " << c.rule_source;
}

INSTANTIATE_TEST_SUITE_P(Cases, DeadlineGoldenTest, ::testing::ValuesIn(LoadDueCases()),
                         [](const ::testing::TestParamInfo<DueCase>& info) {
                           return info.param.id;
                         });

TEST(DeadlineGoldenTableTest, HasEnoughCases) { EXPECT_GE(LoadDueCases().size(), 80u); }

struct BetweenCase {
  std::string id;
  std::string from_local;
  std::string to_local;
  int64_t expected_minutes = 0;
  std::string rule_source;
};
void PrintTo(const BetweenCase& c, std::ostream* os) {
  *os << c.id << ": " << c.from_local << " -> " << c.to_local;
}

std::vector<BetweenCase> LoadBetweenCases() {
  std::vector<BetweenCase> cases;
  for (const auto& f : ReadTable("tests/data/deadlines/working_time_between.csv", 5)) {
    cases.push_back({f[0], f[1], f[2], std::stoll(f[3]), f[4]});
  }
  return cases;
}

class WorkingTimeBetweenGoldenTest : public ::testing::TestWithParam<BetweenCase> {};

TEST_P(WorkingTimeBetweenGoldenTest, Minutes) {
  const BetweenCase& c = GetParam();
  const Millis got = ShippedCalendar().WorkingTimeBetween(Local(c.from_local), Local(c.to_local));
  EXPECT_EQ(got, std::chrono::minutes(c.expected_minutes))
      << c.id << ": " << c.from_local << " → " << c.to_local << " — " << c.rule_source << " (got "
      << got.count() / 60'000.0 << " min)";
}

INSTANTIATE_TEST_SUITE_P(Cases, WorkingTimeBetweenGoldenTest,
                         ::testing::ValuesIn(LoadBetweenCases()),
                         [](const ::testing::TestParamInfo<BetweenCase>& info) {
                           return info.param.id;
                         });

}  // namespace
}  // namespace iocstream::rules
