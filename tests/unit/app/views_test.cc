// "Explain a deadline": the days off that a dossier's counted period skips, on the shipped
// 2025 + 2026 calendar.
#include "app/views.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "app/rules_config.h"
#include "iocstream/decode/rfc3339.h"

namespace iocstream::app {
namespace {

class ViewsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto cal = LoadBusinessCalendar(
        {std::string(IOCSTREAM_SOURCE_DIR) + "/config/calendars/vn-2025.yaml",
         std::string(IOCSTREAM_SOURCE_DIR) + "/config/calendars/vn-2026.yaml"});
    ASSERT_TRUE(cal.has_value()) << cal.error().message;
    calendar_ = new rules::BusinessCalendar(std::move(*cal));
  }
  static void TearDownTestSuite() { delete calendar_; }

  static DossierState Dossier(const char* received, const char* due) {
    DossierState s;
    s.dossier_id = "D1";
    s.received_at = *ParseRfc3339(received);
    s.due_at = *ParseRfc3339(due);
    s.original_due_at = s.due_at;
    s.due_source = DueSource::kCatalog;
    s.status = DossierStatus::kInProgress;
    return s;
  }

  static rules::BusinessCalendar* calendar_;
};

rules::BusinessCalendar* ViewsTest::calendar_ = nullptr;

TEST_F(ViewsTest, TetIsOneNamedRunOfFiveHolidaysInNineDaysOff) {
  const auto s = Dossier("2026-02-09T09:00:00+07:00", "2026-02-23T09:00:00+07:00");
  const auto skipped = DaysOffSkippedOf(s, *calendar_);
  ASSERT_TRUE(skipped.has_value());
  EXPECT_EQ(skipped->count, 9);  // Sat 14 - Sun 22 Feb
  ASSERT_EQ(skipped->named.size(), 1u);
  EXPECT_EQ(skipped->named[0].name, "Tết Âm lịch Bính Ngọ");
  EXPECT_EQ(skipped->named[0].kind, rules::SpecialDayKind::kPublicHoliday);
  EXPECT_EQ(FormatNamedDaysOff(skipped->named), "Tết Âm lịch Bính Ngọ 2026-02-16..2026-02-20");
}

TEST_F(ViewsTest, NationalDayWithItsSwappedMonday) {
  // Thu 27 Aug to Fri 4 Sep 2026: weekend 29-30, Mon 31 swapped, Tue 1 and Wed 2 holidays.
  const auto s = Dossier("2026-08-27T10:00:00+07:00", "2026-09-04T17:00:00+07:00");
  const auto skipped = DaysOffSkippedOf(s, *calendar_);
  ASSERT_TRUE(skipped.has_value());
  EXPECT_EQ(skipped->count, 5);
  EXPECT_EQ(FormatNamedDaysOff(skipped->named),
            "Mon 31 Aug worked on Sat 22 Aug 2026-08-31; Quốc khánh 2026-09-01..2026-09-02");
  EXPECT_EQ(skipped->named[0].kind, rules::SpecialDayKind::kSwappedDayOff);
}

TEST_F(ViewsTest, OrdinaryWeekHasOnlyTheWeekend) {
  const auto s = Dossier("2026-03-02T09:00:00+07:00", "2026-03-09T09:00:00+07:00");
  const auto skipped = DaysOffSkippedOf(s, *calendar_);
  ASSERT_TRUE(skipped.has_value());
  EXPECT_EQ(skipped->count, 2);
  EXPECT_TRUE(skipped->named.empty());
  EXPECT_EQ(FormatNamedDaysOff(skipped->named), "");
}

// alerts.held_until (the late-data floor) is shown while it holds the dossier's timers back:
// open, and its clock (`as_of`: the wall clock or the partition's watermark) before it.
TEST_F(ViewsTest, HeldUntilShownOnlyWhileItHoldsTheTimersBack) {
  auto s = Dossier("2026-03-02T09:00:00+07:00", "2026-03-09T09:00:00+07:00");
  s.timer_floor = *ParseRfc3339("2026-03-10T10:00:00+07:00");
  EXPECT_EQ(
      DossierJson(s, *ParseRfc3339("2026-03-10T09:59:59+07:00"), nullptr)["alerts"]["held_until"],
      "2026-03-10T03:00:00.000Z");
  EXPECT_TRUE(
      DossierJson(s, *ParseRfc3339("2026-03-10T10:00:00+07:00"), nullptr)["alerts"]["held_until"]
          .is_null());
  s.status = DossierStatus::kCompleted;  // finished: no timers to hold
  s.completed_at = *ParseRfc3339("2026-03-10T08:00:00+07:00");
  EXPECT_TRUE(
      DossierJson(s, *ParseRfc3339("2026-03-10T09:00:00+07:00"), nullptr)["alerts"]["held_until"]
          .is_null());
}

TEST_F(ViewsTest, NoDueTimeNoExplanation) {
  auto s = Dossier("2026-03-02T09:00:00+07:00", "2026-03-09T09:00:00+07:00");
  s.due_at.reset();
  EXPECT_FALSE(DaysOffSkippedOf(s, *calendar_).has_value());
  const auto j = DossierJson(s, *ParseRfc3339("2026-03-03T00:00:00Z"), calendar_);
  EXPECT_TRUE(j["deadline"]["days_off_skipped"].is_null());
  EXPECT_TRUE(j["deadline"]["days_off_named"].empty());
}

TEST_F(ViewsTest, DossierJsonExplainsTheDaysOff) {
  const auto s = Dossier("2026-02-09T09:00:00+07:00", "2026-02-23T09:00:00+07:00");
  const auto j = DossierJson(s, *ParseRfc3339("2026-02-10T00:00:00Z"), calendar_);
  const auto& deadline = j["deadline"];
  EXPECT_EQ(deadline["due_source"], "catalog");
  EXPECT_EQ(deadline["days_off_skipped"], 9);
  ASSERT_EQ(deadline["days_off_named"].size(), 1u);
  EXPECT_EQ(deadline["days_off_named"][0]["name"], "Tết Âm lịch Bính Ngọ");
  EXPECT_EQ(deadline["days_off_named"][0]["kind"], "holiday");
  EXPECT_EQ(deadline["days_off_named"][0]["first"], "2026-02-16");
  EXPECT_EQ(deadline["days_off_named"][0]["last"], "2026-02-20");
  EXPECT_EQ(deadline["years_not_loaded"], nlohmann::ordered_json::array());
  // Without a calendar the view says nothing about days off.
  const auto plain = DossierJson(s, *ParseRfc3339("2026-02-10T00:00:00Z"), nullptr);
  EXPECT_FALSE(plain["deadline"].contains("days_off_skipped"));
}

// A deadline that runs past the loaded years says which it skipped the holidays of (the QA
// trial of 2026-12-04: 20 working days from 4 Dec 2026 fell due on 1 Jan 2027, a holiday).
TEST_F(ViewsTest, DossierJsonNamesTheYearsItsPeriodSpansWithoutACalendarFile) {
  const auto s = Dossier("2026-12-04T09:00:00+07:00", "2027-01-01T09:00:00+07:00");
  const auto j = DossierJson(s, *ParseRfc3339("2026-12-04T03:00:00Z"), calendar_);
  EXPECT_EQ(j["deadline"]["years_not_loaded"], nlohmann::ordered_json::array({2027}));
  auto open = s;
  open.due_at.reset();
  EXPECT_EQ(DossierJson(open, *ParseRfc3339("2026-12-04T03:00:00Z"),
                        calendar_)["deadline"]["years_not_loaded"],
            nlohmann::ordered_json::array());
}

// The summary table's department column counts characters, not bytes: a Vietnamese name is
// padded to the column and cut between characters (the old "%-36.36s" cut bytes, which could
// split a UTF-8 sequence and misaligned the columns).
TEST(JoinPartitionsTest, NumbersInOrderWithTheSeparator) {
  EXPECT_EQ(JoinPartitions({}, ","), "");
  EXPECT_EQ(JoinPartitions({PartitionId(3)}, ","), "3");
  EXPECT_EQ(JoinPartitions({PartitionId(3), PartitionId(0), PartitionId(12)}, ","), "0,3,12");
  EXPECT_EQ(JoinPartitions({PartitionId(1), PartitionId(2)}, ", "), "1, 2");
}

// Another instance's KPI counts: whole numbers from 0 to kMaxKpiCount, each one there. A count
// over 2^63 was read as a negative int64, and the group's sum of large ones could overflow.
TEST(KpisFromJsonTest, ReadsWhatKpisJsonWritesAndRefusesCountsOutOfRange) {
  aggregate::Kpis k;
  k.received = 10;
  k.completed = 7;
  k.completed_on_time = 6;
  k.completed_late = 1;
  k.open = 3;
  k.open_overdue = 1;
  // As a peer sends it: text, in which counts >= 0 read as unsigned numbers.
  const auto j = nlohmann::ordered_json::parse(KpisJson(k).dump());
  const auto back = KpisFromJson(j);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->received, 10);
  EXPECT_EQ(back->completed_on_time, 6);
  EXPECT_EQ(back->open_overdue, 1);

  nlohmann::ordered_json at_bound = j;
  at_bound["received"] = kMaxKpiCount;
  ASSERT_TRUE(KpisFromJson(at_bound).has_value());
  EXPECT_EQ(KpisFromJson(at_bound)->received, static_cast<int64_t>(kMaxKpiCount));
  for (const nlohmann::ordered_json& bad :
       {nlohmann::ordered_json(kMaxKpiCount + 1), nlohmann::ordered_json(uint64_t{1} << 63),
        nlohmann::ordered_json(~uint64_t{0}), nlohmann::ordered_json(-1),
        nlohmann::ordered_json(1.5), nlohmann::ordered_json("3"), nlohmann::ordered_json()}) {
    nlohmann::ordered_json changed = j;
    changed["open"] = bad;
    EXPECT_FALSE(KpisFromJson(changed).has_value()) << bad.dump();
  }
  nlohmann::ordered_json missing = j;
  missing.erase("cancelled");
  EXPECT_FALSE(KpisFromJson(missing).has_value());
  EXPECT_FALSE(KpisFromJson(nlohmann::ordered_json::array()).has_value());
}

TEST(SummaryTableTest, DepartmentNamesFitTheColumnByCharacter) {
  EXPECT_EQ(FitColumn("SO-TP", 8), "SO-TP   ");
  EXPECT_EQ(FitColumn("Sở Tư pháp", 12), "Sở Tư pháp  ");  // 10 characters, 13 bytes
  EXPECT_EQ(FitColumn("Boston Transportation Department (BTD)", 20), "Boston Transportati…");
  const std::string cut = FitColumn("Sở Tài nguyên và Môi trường tỉnh Phú Thọ", 16);
  EXPECT_EQ(cut, "Sở Tài nguyên v…");
  EXPECT_EQ(FitColumn("", 3), "   ");
  EXPECT_EQ(FitColumn("abc", 3), "abc");

  aggregate::AggregateTable::Rows rows;
  AggregateCounters c;
  c[AggregateField::kReceived] = 7;
  rows[AggregateKey{PartitionId(0), "Sở Tài nguyên và Môi trường tỉnh Phú Thọ (Sở TNMT)", "",
                    Channel::kOnline}] = c;
  rows[AggregateKey{PartitionId(1), "SO-TP", "", Channel::kOnline}] = c;
  const std::string table = SummaryTable(rows);
  // Every line has the "received" column at the same character offset, after the longest
  // name (50 characters), shown whole.
  std::istringstream lines(table);
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) {
    size_t chars = 0;
    for (unsigned char ch : line) chars += (ch & 0xC0) != 0x80;
    EXPECT_EQ(chars, 50 + 8 * 10 + 12 + 11 + 9) << line;
    ++count;
  }
  EXPECT_EQ(count, 4);  // header, two departments, total
  EXPECT_NE(table.find("Sở Tài nguyên và Môi trường tỉnh Phú Thọ (Sở TNMT) "), std::string::npos)
      << table;
  // Two long names that differ only at their end stay apart (both were cut to the same 39
  // characters and an ellipsis: a helper's finding); a name is cut only past 64 characters.
  rows[AggregateKey{PartitionId(0), "Sở Tài nguyên và Môi trường tỉnh Phú Thọ (Sở TNMT) - cơ sở 2",
                    "", Channel::kOnline}] = c;
  const std::string wider = SummaryTable(rows);
  EXPECT_NE(wider.find("(Sở TNMT) - cơ sở 2 "), std::string::npos) << wider;
  EXPECT_NE(wider.find("(Sở TNMT)           "), std::string::npos) << wider;
  rows[AggregateKey{PartitionId(0), std::string(70, 'x'), "", Channel::kOnline}] = c;
  EXPECT_NE(SummaryTable(rows).find(std::string(63, 'x') + "\u2026 "), std::string::npos);
}

// The table's columns say what they count and add up: finished = on_time + late + no_due (the
// finished without a due date apart from the open ones without one), open holds its overdue and
// open_no_due parts, and finished + open + cancelled are the dossiers counted. Under kpi766 the
// dossiers waiting on the applicant count as finished (Decision 766, domain.md §1.3).
TEST(SummaryTableTest, ColumnsSplitFinishedFromOpenAndAddUp) {
  using F = AggregateField;
  AggregateCounters c;
  c[F::kReceived] = 20;
  c[F::kCompletedEarly] = 3;
  c[F::kCompletedOnTime] = 2;
  c[F::kCompletedLate] = 1;
  c[F::kCompletedNoDeadline] = 4;
  c[F::kWaitingApplicantOnTime] = 1;
  c[F::kWaitingApplicantLate] = 1;
  c[F::kWaitingApplicantNoDeadline] = 1;
  c[F::kOpen] = 6;
  c[F::kOpenOverdue] = 2;
  c[F::kOpenNoDeadline] = 3;
  c[F::kCancelled] = 2;               // one of them refused at intake: never received
  c[F::kFinishedWithoutReceipt] = 1;  // its receipt dead-lettered: not judged
  aggregate::AggregateTable::Rows rows;
  rows[AggregateKey{PartitionId(0), "SO-TP", "", Channel::kOnline}] = c;
  std::istringstream lines(SummaryTable(rows));
  std::string header;
  std::string row;
  ASSERT_TRUE(std::getline(lines, header));
  ASSERT_TRUE(std::getline(lines, row));
  auto fields = [](const std::string& line) {
    std::istringstream in(line.substr(kDepartmentColumn));
    std::vector<std::string> out;
    for (std::string f; in >> f;) out.push_back(f);
    return out;
  };
  EXPECT_EQ(fields(header), (std::vector<std::string>{"received", "finished", "on_time", "late",
                                                      "no_due", "open", "overdue", "open_no_due",
                                                      "cancelled", "no_receipt", "on_time%"}));
  // on_time 3 + 2 + 1, late 1 + 1, no_due 4 + 1: finished 13; 13 + 6 + 2 + 1 = 22 counted, 20
  // received.
  EXPECT_EQ(fields(row),
            (std::vector<std::string>{"20", "13", "6", "2", "5", "6", "2", "3", "2", "1", "75.0"}));
}

}  // namespace
}  // namespace iocstream::app
