#include "app/rules_config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

#include "unit/rules/test_support.h"

namespace iocstream::app {
namespace {

using rules::DurationUnit;
using rules::SpecialDayKind;
using std::chrono::year_month_day;

constexpr year_month_day Ymd(int y, unsigned m, unsigned d) {
  return year_month_day{std::chrono::year{y}, std::chrono::month{m}, std::chrono::day{d}};
}

std::string CalendarError(const std::string& yaml) {
  auto spec = ParseCalendarYaml(yaml, "cal.yaml");
  return spec.has_value() ? "ok" : spec.error().message;
}

std::string CatalogError(const std::string& yaml) {
  auto catalog = ParseProcedureCatalogYaml(yaml, "cat.yaml");
  return catalog.has_value() ? "ok" : catalog.error().message;
}

TEST(RulesConfigTest, ParsesACalendarYear) {
  auto spec = ParseCalendarYaml(R"(
year: 2030
working_sessions:
  - {start: "07:30", end: "11:30"}
  - {start: "13:00", end: "17:00"}
weekly_days_off: [Sun, saturday]
days_off:
  - {date: 2030-01-01, kind: holiday, reason: "New Year"}
  - {date: 2030-01-02, kind: swapped}
make_up_working_days:
  - {date: 2030-01-05, reason: "for 2 Jan"}
)",
                                "cal.yaml");
  ASSERT_TRUE(spec.has_value()) << spec.error().message;
  EXPECT_EQ(spec->time_zone, "Asia/Ho_Chi_Minh");
  ASSERT_EQ(spec->sessions.size(), 2u);
  EXPECT_EQ(spec->sessions[0].start, std::chrono::minutes(450));
  EXPECT_EQ(spec->weekly_days_off.size(), 2u);
  ASSERT_EQ(spec->special_days.size(), 3u);
  EXPECT_EQ(spec->special_days[1].kind, SpecialDayKind::kSwappedDayOff);
  EXPECT_EQ(spec->special_days[2].kind, SpecialDayKind::kMakeUpWorkingDay);
  EXPECT_EQ(spec->special_days[2].date, Ymd(2030, 1, 5));
  ASSERT_EQ(spec->years.size(), 1u);
}

TEST(RulesConfigTest, CalendarErrorsNameFileAndKey) {
  EXPECT_EQ(CalendarError("year: 2030\nholidays: []\n").rfind("cal.yaml: holidays: unknown key", 0),
            0u);
  EXPECT_EQ(CalendarError("days_off: []\n"), "cal.yaml: year: missing or not an integer");
  EXPECT_EQ(CalendarError("year: 2030\ndays_off:\n  - {date: 2030-02-30, kind: holiday}\n"),
            "cal.yaml: days_off[0].date: '2030-02-30' is not a valid YYYY-MM-DD date");
  EXPECT_EQ(CalendarError("year: 2030\ndays_off:\n  - {date: 2031-01-01, kind: holiday}\n"),
            "cal.yaml: days_off[0].date: not in the file's year 2030");
  EXPECT_EQ(CalendarError("year: 2030\ndays_off:\n  - {date: 2030-01-01, kind: party}\n"),
            "cal.yaml: days_off[0].kind: expected holiday, compensatory or swapped, got 'party'");
  EXPECT_EQ(CalendarError("year: 2030\nweekly_days_off: [Caturday]\n"),
            "cal.yaml: weekly_days_off[0]: not a weekday name");
  EXPECT_EQ(CalendarError("year: 2030\nworking_sessions:\n  - {start: \"7h\", end: \"11:30\"}\n"),
            "cal.yaml: working_sessions[0].start: missing or not HH:MM");
  // Errors found by BusinessCalendar::Create are prefixed with the file.
  EXPECT_EQ(CalendarError("year: 2030\ntime_zone: Mars/Olympus\n")
                .rfind("cal.yaml: time_zone: unknown time zone 'Mars/Olympus'", 0),
            0u);
  EXPECT_EQ(CalendarError("year: 2030\nmake_up_working_days:\n  - {date: 2030-01-07}\n"),
            "cal.yaml: 2030-01-07: make-up working day falls on a weekly working day");
  // yaml-cpp syntax errors are caught and carry the line.
  EXPECT_EQ(CalendarError("year: 2030\ndays_off: [\n").rfind("cal.yaml: line ", 0), 0u);
}

TEST(RulesConfigTest, LoadErrors) {
  auto missing = LoadBusinessCalendar({"/nonexistent/vn-2099.yaml"});
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);  // a configuration error: exit 1
  EXPECT_FALSE(LoadBusinessCalendar({}).has_value());
  const std::string y2026 = rules::testing::SourcePath("config/calendars/vn-2026.yaml");
  auto twice = LoadBusinessCalendar({y2026, y2026});
  ASSERT_FALSE(twice.has_value());
  EXPECT_NE(twice.error().message.find("loaded twice"), std::string::npos);
  EXPECT_EQ(LoadProcedureCatalog("/nonexistent/catalog.yaml").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(missing.error().message, "/nonexistent/vn-2099.yaml: no such calendar file");
  // A directory read as nothing: "(root): expected a map" (found by a helper).
  const std::string calendars = rules::testing::SourcePath("config/calendars");
  auto directory = LoadBusinessCalendar({calendars});
  ASSERT_FALSE(directory.has_value());
  EXPECT_EQ(directory.error().message, calendars + ": is a directory, not a file");
  EXPECT_EQ(directory.error().code, ErrorCode::kInvalidArgument);
}

// A FIFO as a calendar file blocked a running instance's reload until something was written
// into it (nothing consumed, SIGTERM unanswered), and /dev/zero grew the process by gigabytes
// (a helper's trial): only regular files are read, of at most 16 MiB. Refused before opening,
// so this test does not block.
TEST(RulesConfigTest, APipeADeviceOrAHugeFileIsRefusedUnread) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("iocstream-input-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string fifo = (dir / "vn-2030.yaml").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const std::string not_regular =
      ": not a regular file (a pipe, FIFO, socket or device): the calendar file must be a "
      "file, read whole";
  auto piped = LoadBusinessCalendar({fifo});
  ASSERT_FALSE(piped.has_value());
  EXPECT_EQ(piped.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(piped.error().message, fifo + not_regular);
  auto device = LoadProcedureCatalog("/dev/zero");
  ASSERT_FALSE(device.has_value());
  EXPECT_EQ(device.error().message,
            "/dev/zero: not a regular file (a pipe, FIFO, socket or device): the procedure "
            "catalog must be a file, read whole");
  // 16 MiB is read; one byte more is not (a sparse file: nothing written to the disk).
  const std::string huge = (dir / "catalog.yaml").string();
  { std::ofstream(huge).flush(); }
  std::filesystem::resize_file(huge, (std::uintmax_t{16} << 20) + 1);
  auto large = LoadProcedureCatalog(huge);
  ASSERT_FALSE(large.has_value());
  EXPECT_EQ(large.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(large.error().message, huge +
                                       ": 16777217 bytes, more than a procedure catalog may "
                                       "hold (16777216): is it the right file?");
  std::filesystem::resize_file(huge, std::uintmax_t{16} << 20);
  auto zeros = LoadProcedureCatalog(huge);  // read, and refused as YAML, not for its size
  ASSERT_FALSE(zeros.has_value());
  EXPECT_EQ(zeros.error().message.find("more than"), std::string::npos);
  std::filesystem::remove_all(dir);
}

// yaml-cpp reads the first of a repeated key and drops the second without a word: a second
// days_off block appended to a calendar took no day off, and a reload said "ok" (a QA trial).
TEST(RulesConfigTest, ARepeatedKeyIsRefusedWithItsLine) {
  EXPECT_EQ(CalendarError("year: 2030\n"
                          "days_off:\n  - {date: 2030-01-01, kind: holiday}\n"
                          "days_off:\n  - {date: 2030-03-03, kind: holiday, reason: dup}\n"),
            "cal.yaml: line 4: days_off given twice (only the first would be read: merge the two)");
  EXPECT_EQ(CalendarError("year: 2030\n"
                          "days_off:\n  - {date: 2030-01-01, kind: holiday, kind: swapped}\n"),
            "cal.yaml: line 3: days_off[0].kind given twice (only the first would be read: "
            "merge the two)");
  EXPECT_EQ(CatalogError("version: 1\nprocedures:\n  - {code: \"1.000045\", online: 2 "
                         "working_days}\nprocedures:\n  - {code: \"1.000045\", online: 30 "
                         "working_days}\n"),
            "cat.yaml: line 4: procedures given twice (only the first would be read: merge the "
            "two)");
}

TEST(RulesConfigTest, ParsesACatalog) {
  auto catalog = ParseProcedureCatalogYaml(R"(
version: 1
procedures:
  - {code: "1.002835", name: "A", in_person: {amount: 5, unit: working_days},
     online: {amount: 0.5, unit: working_days}, pause_policy: kpi766}
  - code: "2.000908.H56"
    postal: 24 working_hours
)",
                                           "cat.yaml");
  ASSERT_TRUE(catalog.has_value()) << catalog.error().message;
  const auto* a = catalog->Find("1.002835");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->name, "A");
  EXPECT_EQ(a->online, (rules::LegalDuration{0.5, DurationUnit::kWorkingDays}));
  EXPECT_EQ(a->pause_policy, rules::PausePolicy::kKpi766);
  const auto* b = catalog->Find("2.000908");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->code, "2.000908");
  EXPECT_EQ(b->postal, (rules::LegalDuration{24, DurationUnit::kWorkingHours}));
}

TEST(RulesConfigTest, CatalogErrorsNameFileAndKey) {
  EXPECT_EQ(CatalogError("version: 1\nprocedures: []\n---\nprocedures:\n  - {code: \"1.000001\", "
                         "online: 3 months}\n"),
            "cat.yaml: holds several YAML documents (separated by '---'): only the first would be "
            "read; merge them into one");
  EXPECT_EQ(CatalogError("procedures: []\n"), "cat.yaml: version: expected 1");
  EXPECT_EQ(CatalogError("version: 1\nprocedures:\n  - {code: \"1.00A\"}\n"),
            "cat.yaml: procedures[0].code: '1.00A' is not a procedure code");
  EXPECT_EQ(CatalogError("version: 1\nprocedures:\n  - {code: \"1.000001\", in_person: "
                         "{amount: x, unit: working_days}}\n"),
            "cat.yaml: procedures[0].in_person.amount: 'x' is not a number");
  EXPECT_EQ(CatalogError("version: 1\nprocedures:\n  - {code: \"1.000001\", in_person: "
                         "{amount: -2, unit: working_days}}\n"),
            "cat.yaml: procedures[0].in_person.amount: must be a finite number >= 0");
  // From a working minute to a hundred years (0 breached every dossier at its receipt; 2100
  // months was cut to 1200 without a word: a helper's findings).
  EXPECT_EQ(
      CatalogError("version: 1\nprocedures:\n  - {code: \"1.000001\", online: 0 working_days}\n"),
      "cat.yaml: procedures[0].online.amount: must be more than 0 (within the day: 8 "
      "working_hours; leave a channel without a legal time out)");
  EXPECT_EQ(CatalogError("version: 1\nprocedures:\n  - {code: \"1.000001\", online: 0.0000001 "
                         "working_hours}\n"),
            "cat.yaml: procedures[0].online.amount: 0.0000001 working_hours is less than one "
            "working minute");
  EXPECT_EQ(
      CatalogError("version: 1\nprocedures:\n  - {code: \"1.000001\", online: 1201 months}\n"),
      "cat.yaml: procedures[0].online.amount: 1201 months is more than a hundred years (at "
      "most 1200 months)");
  EXPECT_EQ(CatalogError("version: 1\nprocedures:\n  - {code: \"1.000001\", online: 100000 "
                         "calendar_days}\n"),
            "cat.yaml: procedures[0].online.amount: 100000 calendar_days is more than a hundred "
            "years (at most 36500 calendar_days)");
  EXPECT_EQ(CatalogError("version: 1\nprocedures:\n  - {code: \"1.000001\", online: 292001 "
                         "working_hours}\n"),
            "cat.yaml: procedures[0].online.amount: 292001 working_hours is more than a hundred "
            "years (at most 292000 working_hours)");
  EXPECT_TRUE(ParseProcedureCatalogYaml("version: 1\nprocedures:\n  - {code: \"1.000001\", online: "
                                        "1200 months, postal: 0.5 calendar_days, in_person: "
                                        "0.02 working_hours}\n",
                                        "cat.yaml")
                  .has_value());
  EXPECT_EQ(CatalogError("version: 1\nprocedures:\n  - {code: \"1.000001\", in_person: "
                         "{amount: 2, unit: fortnights}}\n"),
            "cat.yaml: procedures[0].in_person.unit: expected working_hours, working_days, "
            "calendar_days or months, got 'fortnights'");
  EXPECT_EQ(CatalogError("version: 1\nprocedures:\n  - {code: \"1.000001\", online: 3}\n"),
            "cat.yaml: procedures[0].online: expected \"<amount> <unit>\", got '3'");
  EXPECT_EQ(CatalogError("version: 1\nprocedures:\n  - {code: \"1.000001\", online: 3 days}\n"),
            "cat.yaml: procedures[0].online.unit: expected working_hours, working_days, "
            "calendar_days or months, got 'days'");
  EXPECT_EQ(CatalogError("version: 1\nprocedures:\n  - {name: x, online: 3 months}\n"),
            "cat.yaml: procedures[0].code: missing");
  EXPECT_EQ(CatalogError("version: 1\nprocedures:\n  - {code: \"1.000001\", pause_policy: "
                         "stop, in_person: {amount: 1, unit: months}}\n"),
            "cat.yaml: procedures[0].pause_policy: expected pause, restart or kpi766");
  EXPECT_EQ(CatalogError("version: 1\nprocedures:\n  - {code: \"1.000001\", fee: 3}\n")
                .rfind("cat.yaml: procedures[0].fee: unknown key", 0),
            0u);
  EXPECT_EQ(CatalogError("version: 1\nprocedures:\n  - {code: \"1.000001\"}\n"),
            "cat.yaml: procedure 1.000001: no duration for any channel");
  EXPECT_EQ(CatalogError("version: 1\nprocedures:\n  - {code: \"1.000001\", online: {amount: "
                         "1, unit: months}}\n  - {code: \"1.000001.H56\", online: {amount: 1, "
                         "unit: months}}\n"),
            "cat.yaml: procedure 1.000001: listed twice");
}

std::vector<std::chrono::year> Years(std::initializer_list<int> ys) {
  std::vector<std::chrono::year> out;
  for (const int y : ys) out.emplace_back(y);
  return out;
}

TEST(CalendarCoverageTest, FirstUnloadedYearFromToday) {
  const auto shipped = Years({2026, 2025});
  CalendarCoverage c = CalendarCoverageOf(shipped, Ymd(2026, 12, 4));
  EXPECT_EQ(c.first_unloaded, std::chrono::year{2027});
  EXPECT_EQ(c.first_loaded, std::chrono::year{2025});
  EXPECT_EQ(c.last_loaded, std::chrono::year{2026});
  EXPECT_TRUE(c.gaps.empty());
  EXPECT_EQ(c.days_left, std::chrono::days{28});  // 4 Dec → 1 Jan

  c = CalendarCoverageOf(shipped, Ymd(2025, 3, 1));
  EXPECT_EQ(c.first_unloaded, std::chrono::year{2027});
  EXPECT_EQ(c.days_left, std::chrono::days{671});

  // Today's year not loaded: it is the first unloaded one, already begun.
  c = CalendarCoverageOf(shipped, Ymd(2027, 1, 5));
  EXPECT_EQ(c.first_unloaded, std::chrono::year{2027});
  EXPECT_EQ(c.days_left, std::chrono::days{-4});
  c = CalendarCoverageOf(shipped, Ymd(2024, 12, 31));
  EXPECT_EQ(c.first_unloaded, std::chrono::year{2024});

  // A gap: the run of loaded years from today stops at it.
  c = CalendarCoverageOf(Years({2027, 2025, 2025}), Ymd(2025, 6, 1));
  EXPECT_EQ(c.first_unloaded, std::chrono::year{2026});
  EXPECT_EQ(c.gaps, Years({2026}));
  c = CalendarCoverageOf(Years({2025, 2028}), Ymd(2028, 6, 1));
  EXPECT_EQ(c.first_unloaded, std::chrono::year{2029});
  EXPECT_EQ(c.gaps, Years({2026, 2027}));

  c = CalendarCoverageOf({}, Ymd(2026, 6, 1));
  EXPECT_EQ(c.first_unloaded, std::chrono::year{2026});
  EXPECT_FALSE(c.last_loaded.has_value());
  EXPECT_TRUE(c.gaps.empty());
}

TEST(CalendarCoverageTest, WarningsFromOctoberOfTheLastLoadedYear) {
  const auto shipped = Years({2025, 2026});
  const auto warnings = [&](year_month_day today) {
    return CalendarCoverageWarnings(CalendarCoverageOf(shipped, today), today);
  };
  EXPECT_TRUE(warnings(Ymd(2026, 6, 1)).empty());
  EXPECT_TRUE(warnings(Ymd(2026, 9, 30)).empty());
  EXPECT_EQ(warnings(Ymd(2026, 10, 1)).size(), 1u);  // 92 days left
  EXPECT_EQ(warnings(Ymd(2026, 12, 4)),
            std::vector<std::string>{
                "calendar: no file loaded for 2027: the loaded years end on 2026-12-31, in 28 "
                "days (local date 2026-12-04); deadlines after 2026-12-31 skip no holiday: write "
                "the year's file (vn-2027.yaml, format in calendars/README.md) and list it under "
                "calendar.files once the government publishes the year's schedule"});
  EXPECT_EQ(warnings(Ymd(2027, 1, 5)),
            std::vector<std::string>{
                "calendar: no file loaded for the current year 2027 (local date 2027-01-05): "
                "deadlines after 2026-12-31 skip no holiday: write the year's file "
                "(vn-2027.yaml, format in calendars/README.md) and list it under calendar.files "
                "once the government publishes the year's schedule"});

  const auto gap = Years({2025, 2027});
  EXPECT_EQ(CalendarCoverageWarnings(CalendarCoverageOf(gap, Ymd(2025, 3, 1)), Ymd(2025, 3, 1)),
            std::vector<std::string>{
                "calendar: no file loaded for 2026 although 2025 and 2027 are: deadlines in that "
                "year skip no holiday: write the year's file (vn-2026.yaml, format in "
                "calendars/README.md) and list it under calendar.files"});
  const auto gaps = Years({2025, 2028});
  const auto both =
      CalendarCoverageWarnings(CalendarCoverageOf(gaps, Ymd(2025, 12, 1)), Ymd(2025, 12, 1));
  ASSERT_EQ(both.size(), 2u);
  EXPECT_NE(both[0].find("no file loaded for 2026: the loaded years end on 2025-12-31, in 31 "
                         "days"),
            std::string::npos)
      << both[0];
  EXPECT_NE(both[1].find("no file loaded for 2026, 2027 although 2025 and 2028 are: deadlines "
                         "in those years skip no holiday"),
            std::string::npos)
      << both[1];
}

TEST(CalendarCoverageTest, LoadedUntilIsMidnightInVietnamOfTheFirstUnloadedYear) {
  const auto& calendar = rules::testing::ShippedCalendar();
  // 2027-01-01T00:00+07:00 = 2026-12-31T17:00Z.
  const Instant until_2027 = FromEpochMillis(1798736400000);
  EXPECT_EQ(CalendarLoadedUntil(calendar, FromEpochMillis(1764806400000)),  // 2025-12-04
            until_2027);
  EXPECT_EQ(CalendarLoadedUntil(calendar, FromEpochMillis(1796256000000)),  // 2026-12-03
            until_2027);
  EXPECT_EQ(CalendarLoadedUntil(calendar, until_2027 - std::chrono::milliseconds(1)), until_2027);
  // Past it, 2027 is the current year and not loaded: the end stays, now in the past.
  EXPECT_EQ(CalendarLoadedUntil(calendar, until_2027 + std::chrono::days(40)), until_2027);
  // Before 2025: the current year, 2024, is not loaded.
  EXPECT_EQ(CalendarLoadedUntil(calendar, FromEpochMillis(1718000000000)),  // 2024-06-10
            FromEpochMillis(1704042000000));  // 2024-01-01T00:00+07:00
}

}  // namespace
}  // namespace iocstream::app
