#include "iocstream/rules/business_calendar.h"

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <random>
#include <thread>
#include <vector>

#include "unit/rules/test_support.h"

namespace iocstream::rules {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::year_month_day;
using testing::FormatLocal;
using testing::Local;
using testing::ShippedCalendar;

constexpr year_month_day Ymd(int y, unsigned m, unsigned d) {
  return year_month_day{std::chrono::year{y}, std::chrono::month{m}, std::chrono::day{d}};
}

CalendarSpec SpecWith(std::vector<SpecialDay> days, std::vector<std::chrono::year> years) {
  CalendarSpec spec;
  spec.years = std::move(years);
  spec.special_days = std::move(days);
  return spec;
}

BusinessCalendar MustCreate(CalendarSpec spec) {
  auto cal = BusinessCalendar::Create(std::move(spec));
  EXPECT_TRUE(cal.has_value()) << cal.error().message;
  return std::move(cal).value();
}

TEST(BusinessCalendarTest, DurationUnitNamesRoundTrip) {
  for (int i = 0; i < 4; ++i) {
    const auto unit = static_cast<DurationUnit>(i);
    EXPECT_EQ(ParseDurationUnit(ToString(unit)), unit);
  }
  EXPECT_FALSE(ParseDurationUnit("days").has_value());
}

TEST(BusinessCalendarTest, WorkingTimeOfUnits) {
  EXPECT_EQ(WorkingTimeOf({1, DurationUnit::kWorkingDays}), hours(8));
  EXPECT_EQ(WorkingTimeOf({0.5, DurationUnit::kWorkingDays}), hours(4));
  EXPECT_EQ(WorkingTimeOf({1.5, DurationUnit::kWorkingHours}), minutes(90));
  EXPECT_EQ(WorkingTimeOf({-3, DurationUnit::kWorkingHours}), Millis(0));
  EXPECT_EQ(WorkingTimeOf({std::nan(""), DurationUnit::kWorkingHours}), Millis(0));
  EXPECT_EQ(WorkingTimeOf({1e300, DurationUnit::kWorkingDays}), kMaxWorkingTime);
  EXPECT_FALSE(WorkingTimeOf({3, DurationUnit::kCalendarDays}).has_value());
  EXPECT_FALSE(WorkingTimeOf({3, DurationUnit::kMonths}).has_value());
}

TEST(BusinessCalendarTest, SkipsTetHolidays) {
  const BusinessCalendar& cal = ShippedCalendar();
  for (unsigned d = 14; d <= 22; ++d) EXPECT_FALSE(cal.IsWorkingDay(Ymd(2026, 2, d))) << d;
  EXPECT_TRUE(cal.IsWorkingDay(Ymd(2026, 2, 13)));
  EXPECT_TRUE(cal.IsWorkingDay(Ymd(2026, 2, 23)));
  for (unsigned d = 25; d <= 31; ++d) EXPECT_FALSE(cal.IsWorkingDay(Ymd(2025, 1, d))) << d;
  EXPECT_FALSE(cal.IsWorkingDay(Ymd(2025, 2, 1)));
  EXPECT_FALSE(cal.IsWorkingDay(Ymd(2025, 2, 2)));
  EXPECT_TRUE(cal.IsWorkingDay(Ymd(2025, 2, 3)));
}

TEST(BusinessCalendarTest, CountsAndListsTheDaysOffOfAPeriod) {
  const BusinessCalendar& cal = ShippedCalendar();
  // Tết Bính Ngọ: Sat 14 - Sun 22 Feb 2026, of which Mon 16 - Fri 20 listed as holidays.
  EXPECT_EQ(cal.DaysOffIn(Ymd(2026, 2, 13), Ymd(2026, 2, 23)), 9);
  const auto tet = cal.SpecialDaysIn(Ymd(2026, 2, 13), Ymd(2026, 2, 23));
  ASSERT_EQ(tet.size(), 5u);
  EXPECT_EQ(tet.front().date, Ymd(2026, 2, 16));
  EXPECT_EQ(tet.back().date, Ymd(2026, 2, 20));
  // New Year 2026: holiday Thu 1, swapped Fri 2, weekend 3-4, Sat 10 worked (make-up), Sun 11.
  EXPECT_EQ(cal.DaysOffIn(Ymd(2026, 1, 1), Ymd(2026, 1, 11)), 5);
  const auto new_year = cal.SpecialDaysIn(Ymd(2026, 1, 1), Ymd(2026, 1, 11));
  ASSERT_EQ(new_year.size(), 3u);
  EXPECT_EQ(new_year[2].kind, SpecialDayKind::kMakeUpWorkingDay);
  // One day; empty and reversed periods.
  EXPECT_EQ(cal.DaysOffIn(Ymd(2026, 9, 2), Ymd(2026, 9, 2)), 1);
  EXPECT_EQ(cal.DaysOffIn(Ymd(2026, 9, 3), Ymd(2026, 9, 3)), 0);
  EXPECT_EQ(cal.DaysOffIn(Ymd(2026, 9, 3), Ymd(2026, 9, 2)), 0);
  EXPECT_TRUE(cal.SpecialDaysIn(Ymd(2026, 9, 3), Ymd(2026, 9, 2)).empty());
  // A year without a calendar file: weekends only (Fri 1 Jan 2027 is not known as a holiday).
  EXPECT_EQ(cal.DaysOffIn(Ymd(2027, 1, 1), Ymd(2027, 1, 7)), 2);
  EXPECT_TRUE(cal.SpecialDaysIn(Ymd(2027, 1, 1), Ymd(2027, 12, 31)).empty());
  // Agrees with IsWorkingDay day by day, across the loaded years and around them.
  const auto first = std::chrono::sys_days{Ymd(2024, 12, 1)};
  for (int start = 0; start < 800; start += 37) {
    for (int length : {0, 1, 6, 30, 200}) {
      const auto a = first + std::chrono::days(start);
      const auto b = a + std::chrono::days(length);
      int64_t off = 0;
      for (auto d = a; d <= b; d += std::chrono::days(1)) off += cal.IsWorkingDay(d) ? 0 : 1;
      EXPECT_EQ(cal.DaysOffIn(year_month_day{a}, year_month_day{b}), off) << start << "+" << length;
    }
  }
}

TEST(BusinessCalendarTest, ShippedDaysOffAndMakeUpDays) {
  const BusinessCalendar& cal = ShippedCalendar();
  const std::vector<year_month_day> off = {
      Ymd(2025, 1, 1), Ymd(2025, 4, 7),  Ymd(2025, 4, 30), Ymd(2025, 5, 1),
      Ymd(2025, 5, 2), Ymd(2025, 9, 1),  Ymd(2025, 9, 2),  Ymd(2026, 1, 1),
      Ymd(2026, 1, 2), Ymd(2026, 4, 26), Ymd(2026, 4, 27), Ymd(2026, 4, 30),
      Ymd(2026, 5, 1), Ymd(2026, 8, 31), Ymd(2026, 9, 1),  Ymd(2026, 9, 2)};
  for (const auto& d : off) EXPECT_FALSE(cal.IsWorkingDay(d)) << static_cast<int>(d.year());
  EXPECT_TRUE(cal.IsWorkingDay(Ymd(2025, 4, 26)));  // make-up Saturdays
  EXPECT_TRUE(cal.IsWorkingDay(Ymd(2026, 1, 10)));
  EXPECT_TRUE(cal.IsWorkingDay(Ymd(2026, 8, 22)));
  EXPECT_FALSE(cal.IsWorkingDay(Ymd(2026, 8, 29)));  // ordinary Saturday
  EXPECT_TRUE(cal.IsWorkingDay(Ymd(2026, 9, 3)));
}

TEST(BusinessCalendarTest, UnloadedYearsFollowTheWeeklyRuleOnly) {
  const BusinessCalendar& cal = ShippedCalendar();
  EXPECT_TRUE(cal.IsWorkingDay(Ymd(2027, 1, 1)));   // a Friday; 2027 has no file
  EXPECT_TRUE(cal.IsWorkingDay(Ymd(2024, 9, 2)));   // National Day 2024, not loaded
  EXPECT_FALSE(cal.IsWorkingDay(Ymd(2027, 1, 2)));  // Saturday
  EXPECT_FALSE(cal.IsWorkingDay(Ymd(1999, 12, 26)));
  EXPECT_TRUE(cal.IsWorkingDay(Ymd(2150, 6, 1)));    // a Monday
  EXPECT_FALSE(cal.IsWorkingDay(Ymd(2026, 2, 30)));  // invalid date
}

TEST(BusinessCalendarTest, LocalDateUsesTheTimeZone) {
  const BusinessCalendar& cal = ShippedCalendar();
  // 2026-03-02T17:30Z is 00:30 on 3 March in Hanoi / Ho Chi Minh City.
  const Instant t = FromEpochMillis(1772472600000);
  EXPECT_EQ(cal.LocalDate(t), Ymd(2026, 3, 3));
  EXPECT_EQ(cal.LocalDate(t - hours(1)), Ymd(2026, 3, 2));
  EXPECT_EQ(cal.LocalDay(t), std::chrono::local_days(Ymd(2026, 3, 3)));
  EXPECT_EQ(cal.LocalDay(t - hours(1)), std::chrono::local_days(Ymd(2026, 3, 2)));
  EXPECT_EQ(FormatLocal(t), "2026-03-03 00:30");
  EXPECT_EQ(cal.FromLocal(cal.ToLocal(t)), t);
}

TEST(BusinessCalendarTest, ReceiptOutsideWorkingHours) {
  const BusinessCalendar& cal = ShippedCalendar();
  EXPECT_EQ(FormatLocal(cal.AddWorkingTime(Local("2026-03-02 05:00"), minutes(1))),
            "2026-03-02 07:01");
  EXPECT_EQ(FormatLocal(cal.AddWorkingTime(Local("2026-03-02 12:00"), minutes(1))),
            "2026-03-02 13:31");
  EXPECT_EQ(FormatLocal(cal.AddWorkingTime(Local("2026-03-02 21:00"), minutes(1))),
            "2026-03-03 07:01");
  EXPECT_EQ(FormatLocal(cal.AddWorkingTime(Local("2026-03-02 21:00"), Millis(0))),
            "2026-03-02 21:00");
  EXPECT_EQ(FormatLocal(cal.AddWorkingTime(Local("2026-03-02 21:00"), Millis(-5))),
            "2026-03-02 21:00");
}

TEST(BusinessCalendarTest, NonPositiveAmountsCountAsZero) {
  const BusinessCalendar& cal = ShippedCalendar();
  const Instant sat = Local("2026-03-07 10:00");
  EXPECT_EQ(cal.DueAt(sat, {-2, DurationUnit::kWorkingDays}), sat);
  EXPECT_EQ(cal.DueAt(sat, {std::nan(""), DurationUnit::kWorkingHours}), sat);
  EXPECT_EQ(FormatLocal(cal.DueAt(sat, {-1, DurationUnit::kCalendarDays})), "2026-03-09 17:00");
  EXPECT_EQ(FormatLocal(cal.DueAt(sat, {0, DurationUnit::kMonths})), "2026-03-09 17:00");
}

TEST(BusinessCalendarTest, WorkingDayOnOrAfterAndEndOfHours) {
  const BusinessCalendar& cal = ShippedCalendar();
  EXPECT_EQ(cal.WorkingDayOnOrAfter(Ymd(2026, 2, 14)), Ymd(2026, 2, 23));
  EXPECT_EQ(cal.WorkingDayOnOrAfter(Ymd(2026, 2, 23)), Ymd(2026, 2, 23));
  EXPECT_EQ(cal.WorkingDayOnOrAfter(Ymd(2026, 12, 31)), Ymd(2026, 12, 31));
  EXPECT_EQ(cal.WorkingDayOnOrAfter(Ymd(2027, 1, 2)), Ymd(2027, 1, 4));
  EXPECT_EQ(FormatLocal(cal.EndOfWorkingHours(Ymd(2026, 3, 2))), "2026-03-02 17:00");
}

TEST(BusinessCalendarTest, IsWorkingTime) {
  const BusinessCalendar& cal = ShippedCalendar();
  EXPECT_TRUE(cal.IsWorkingTime(Local("2026-03-02 07:00")));
  EXPECT_FALSE(cal.IsWorkingTime(Local("2026-03-02 11:30")));
  EXPECT_FALSE(cal.IsWorkingTime(Local("2026-03-02 17:00")));
  EXPECT_TRUE(cal.IsWorkingTime(Local("2026-03-02 16:59")));
  EXPECT_FALSE(cal.IsWorkingTime(Local("2026-02-17 09:00")));  // Tết
  EXPECT_TRUE(cal.IsWorkingTime(Local("2026-08-22 09:00")));   // make-up Saturday
}

TEST(BusinessCalendarTest, CustomSessions) {
  CalendarSpec spec;
  spec.sessions = {{hours(13), hours(17)}, {hours(8), hours(12)}};  // unsorted on purpose
  const BusinessCalendar cal = MustCreate(spec);
  // Mon 2 Mar 2026 11:00 + 2 h: 1 h to 12:00, 1 h from 13:00.
  EXPECT_EQ(FormatLocal(cal.AddWorkingTime(Local("2026-03-02 11:00"), hours(2))),
            "2026-03-02 14:00");
  // A working day is 8 working hours whatever the sessions (R11).
  EXPECT_EQ(FormatLocal(cal.DueAt(Local("2026-03-02 08:00"), {1, DurationUnit::kWorkingDays})),
            "2026-03-02 17:00");
  // No years loaded: everything follows the weekly rule, Tết included.
  EXPECT_TRUE(cal.IsWorkingDay(Ymd(2026, 2, 17)));
}

TEST(BusinessCalendarTest, CustomWeeklyDaysOff) {
  CalendarSpec spec;
  spec.weekly_days_off = {std::chrono::Sunday};  // six-day week
  const BusinessCalendar cal = MustCreate(spec);
  EXPECT_TRUE(cal.IsWorkingDay(Ymd(2026, 3, 7)));
  EXPECT_FALSE(cal.IsWorkingDay(Ymd(2026, 3, 8)));
  EXPECT_EQ(FormatLocal(cal.DueAt(Local("2026-03-06 07:00"), {2, DurationUnit::kWorkingDays})),
            "2026-03-07 17:00");
}

TEST(BusinessCalendarTest, DaylightSavingZoneConvertsThroughTheTzDatabase) {
  CalendarSpec spec;
  spec.time_zone = "America/New_York";
  spec.sessions = {{hours(9), hours(17)}};
  const BusinessCalendar cal = MustCreate(spec);
  // Fri 7 Mar 2025 16:00 EST (21:00Z) + 2 working hours → Mon 10 Mar 10:00 EDT (14:00Z).
  const Instant start = FromEpochMillis(1741381200000);
  EXPECT_EQ(ToEpochMillis(cal.AddWorkingTime(start, hours(2))), 1741615200000);
  EXPECT_EQ(cal.WorkingTimeBetween(start, FromEpochMillis(1741615200000)), hours(2));
  // 02:30 on 9 Mar 2025 does not exist: maps to the transition, 07:00Z.
  using LocalMs = std::chrono::local_time<Millis>;
  const auto gap =
      LocalMs{std::chrono::local_days{Ymd(2025, 3, 9)}.time_since_epoch() + hours(2) + minutes(30)};
  EXPECT_EQ(ToEpochMillis(cal.FromLocal(gap)), 1741503600000);
  // 01:30 on 2 Nov 2025 happens twice: the earlier one (EDT, 05:30Z).
  const auto twice = LocalMs{std::chrono::local_days{Ymd(2025, 11, 2)}.time_since_epoch() +
                             hours(1) + minutes(30)};
  EXPECT_EQ(ToEpochMillis(cal.FromLocal(twice)), 1762061400000);
}

TEST(BusinessCalendarTest, ConvertsAroundTheZonesLastOffsetChange) {
  // Asia/Ho_Chi_Minh last changed its offset at 1975-06-12T16:00Z (+08:00 to +07:00): local
  // 23:00-24:00 on 12 June happened twice. From then on both conversions take a fast path;
  // the instants on either side of it must agree with the tz database's history.
  CalendarSpec spec;
  spec.time_zone = "Asia/Ho_Chi_Minh";
  spec.sessions = {{hours(7) + minutes(30), hours(11) + minutes(30)}};
  const BusinessCalendar cal = MustCreate(spec);
  using LocalMs = std::chrono::local_time<Millis>;
  const int64_t change = 171820800000;  // 1975-06-12T16:00:00Z
  EXPECT_EQ(cal.ToLocal(FromEpochMillis(change - 1)).time_since_epoch().count(),
            change - 1 + 8 * 3600000);
  EXPECT_EQ(cal.ToLocal(FromEpochMillis(change)).time_since_epoch().count(), change + 7 * 3600000);
  const auto day = std::chrono::local_days{Ymd(1975, 6, 12)}.time_since_epoch();
  // 23:30 on 12 June is ambiguous: the earlier one (+08:00, 15:30Z).
  EXPECT_EQ(ToEpochMillis(cal.FromLocal(LocalMs{day + hours(23) + minutes(30)})), change - 1800000);
  // Midnight of 13 June exists once, at +07:00 (17:00Z); so does every later local time.
  EXPECT_EQ(ToEpochMillis(cal.FromLocal(LocalMs{day + hours(24)})), change + 3600000);
  EXPECT_EQ(ToEpochMillis(cal.FromLocal(LocalMs{day + hours(24) - Millis(1)})), change - 1);
  // A working time across today's dates keeps +07:00: 2026-03-02T00:30Z is 07:30 local.
  EXPECT_EQ(
      ToEpochMillis(cal.FromLocal(LocalMs{
          std::chrono::local_days{Ymd(2026, 3, 2)}.time_since_epoch() + hours(7) + minutes(30)})),
      1772411400000);
}

TEST(BusinessCalendarTest, CreateRejectsBadSpecs) {
  auto error_of = [](CalendarSpec spec) {
    auto cal = BusinessCalendar::Create(std::move(spec));
    return cal.has_value() ? std::string("ok") : cal.error().message;
  };
  CalendarSpec tz;
  tz.time_zone = "Asia/Saigon_Typo";
  EXPECT_NE(error_of(tz).find("unknown time zone"), std::string::npos);

  CalendarSpec no_sessions;
  no_sessions.sessions.clear();
  EXPECT_NE(error_of(no_sessions).find("working_sessions"), std::string::npos);

  CalendarSpec overlap;
  overlap.sessions = {{hours(7), hours(12)}, {hours(11), hours(17)}};
  EXPECT_NE(error_of(overlap).find("overlaps"), std::string::npos);

  CalendarSpec inverted;
  inverted.sessions = {{hours(12), hours(7)}};
  EXPECT_NE(error_of(inverted).find("not a time range"), std::string::npos);

  CalendarSpec all_off;
  all_off.weekly_days_off = {std::chrono::Monday,   std::chrono::Tuesday, std::chrono::Wednesday,
                             std::chrono::Thursday, std::chrono::Friday,  std::chrono::Saturday,
                             std::chrono::Sunday};
  EXPECT_NE(error_of(all_off).find("every weekday"), std::string::npos);

  const auto y2026 = std::vector<std::chrono::year>{std::chrono::year{2026}};
  EXPECT_NE(error_of(SpecWith({{Ymd(2025, 9, 2), SpecialDayKind::kPublicHoliday, ""}}, y2026))
                .find("outside the calendar's years"),
            std::string::npos);
  EXPECT_NE(error_of(SpecWith({{Ymd(2026, 3, 3), SpecialDayKind::kMakeUpWorkingDay, ""}}, y2026))
                .find("weekly working day"),
            std::string::npos);
  EXPECT_NE(error_of(SpecWith({{Ymd(2026, 3, 7), SpecialDayKind::kSwappedDayOff, ""}}, y2026))
                .find("weekly day off"),
            std::string::npos);
  EXPECT_NE(error_of(SpecWith({{Ymd(2026, 3, 3), SpecialDayKind::kPublicHoliday, ""},
                               {Ymd(2026, 3, 3), SpecialDayKind::kSwappedDayOff, ""}},
                              y2026))
                .find("listed twice"),
            std::string::npos);
  EXPECT_NE(error_of(SpecWith({}, {std::chrono::year{1800}})).find("outside 1900-2199"),
            std::string::npos);
  // A holiday on a Sunday is allowed (it documents the year) and changes nothing.
  EXPECT_EQ(error_of(SpecWith({{Ymd(2026, 4, 26), SpecialDayKind::kPublicHoliday, ""}}, y2026)),
            "ok");
}

TEST(BusinessCalendarTest, MergeRejectsDisagreeingYears) {
  CalendarSpec a = SpecWith({}, {std::chrono::year{2025}});
  CalendarSpec b = SpecWith({}, {std::chrono::year{2026}});
  EXPECT_TRUE(MergeCalendarSpecs({a, b}).has_value());
  EXPECT_FALSE(MergeCalendarSpecs({a, a}).has_value());
  CalendarSpec tz = b;
  tz.time_zone = "Asia/Bangkok";
  EXPECT_FALSE(MergeCalendarSpecs({a, tz}).has_value());
  CalendarSpec sessions = b;
  sessions.sessions = {{hours(8), hours(16)}};
  EXPECT_FALSE(MergeCalendarSpecs({a, sessions}).has_value());
  EXPECT_FALSE(MergeCalendarSpecs({}).has_value());
}

TEST(BusinessCalendarTest, ExtremeInstantsAreClampedNotUndefined) {
  const BusinessCalendar& cal = ShippedCalendar();
  const Instant zero = FromEpochMillis(0);
  const Instant huge = FromEpochMillis(int64_t{1} << 62);
  const Instant tiny = FromEpochMillis(-(int64_t{1} << 62));
  EXPECT_GT(cal.DueAt(zero, {5, DurationUnit::kWorkingDays}), zero);
  EXPECT_EQ(cal.WorkingTimeBetween(huge, huge), Millis(0));
  EXPECT_GE(cal.WorkingTimeBetween(tiny, huge), Millis(0));
  EXPECT_GE(cal.DueAt(huge, {1e9, DurationUnit::kMonths}), Instant{});
  EXPECT_GE(cal.DueAt(tiny, {1e9, DurationUnit::kCalendarDays}), tiny);
  EXPECT_EQ(cal.LocalDate(tiny), Ymd(1900, 1, 1));
}

// Deterministic pseudo-random instants from mid-2024 to mid-2027 (crossing the loaded years'
// edges) and working durations up to 30 working days.
class PropertyTest : public ::testing::Test {
 protected:
  Instant RandomInstant() {
    const int64_t from = 1717200000000;  // 2024-06-01T00:00Z
    const int64_t span = 3LL * 365 * 86'400'000;
    return FromEpochMillis(from + static_cast<int64_t>(rng_() % static_cast<uint64_t>(span)));
  }
  Millis RandomDuration() {
    // Half the draws on whole minutes, half on raw milliseconds.
    const auto ms = static_cast<int64_t>(rng_() % (30ULL * 8 * 3'600'000));
    return Millis(rng_() % 2 == 0 ? ms - ms % 60'000 : ms);
  }
  std::mt19937_64 rng_{20260217};
  const BusinessCalendar& cal_ = ShippedCalendar();
};

TEST_F(PropertyTest, AddWorkingTimeIsMonotonicInDuration) {
  for (int i = 0; i < 20000; ++i) {
    const Instant t = RandomInstant();
    Millis a = RandomDuration();
    Millis b = RandomDuration();
    if (b < a) std::swap(a, b);
    const Instant ra = cal_.AddWorkingTime(t, a);
    const Instant rb = cal_.AddWorkingTime(t, b);
    ASSERT_LE(ra, rb) << FormatLocal(t) << " " << a.count() << " " << b.count();
    if (a < b) {
      ASSERT_LT(ra, rb);
    }
    ASSERT_GE(ra, t);
  }
}

TEST_F(PropertyTest, WorkingTimeBetweenInvertsAddWorkingTime) {
  int inside = 0;
  for (int i = 0; i < 20000; ++i) {
    const Instant t = RandomInstant();
    const Millis d = RandomDuration();
    inside += cal_.IsWorkingTime(t) ? 1 : 0;
    ASSERT_EQ(cal_.WorkingTimeBetween(t, cal_.AddWorkingTime(t, d)), d)
        << FormatLocal(t) << " + " << d.count() << " ms";
  }
  EXPECT_GT(inside, 3000);  // the property was exercised from inside working time too
}

TEST_F(PropertyTest, AddWorkingTimeComposes) {
  for (int i = 0; i < 20000; ++i) {
    const Instant t = RandomInstant();
    const Millis a = RandomDuration();
    const Millis b = RandomDuration();
    ASSERT_EQ(cal_.AddWorkingTime(cal_.AddWorkingTime(t, a), b), cal_.AddWorkingTime(t, a + b))
        << FormatLocal(t) << " + " << a.count() << " + " << b.count();
  }
}

TEST_F(PropertyTest, WorkingTimeBetweenIsAdditive) {
  for (int i = 0; i < 20000; ++i) {
    Instant a = RandomInstant();
    Instant b = RandomInstant();
    Instant c = RandomInstant();
    if (b < a) std::swap(a, b);
    if (c < b) std::swap(b, c);
    if (b < a) std::swap(a, b);
    ASSERT_EQ(cal_.WorkingTimeBetween(a, b) + cal_.WorkingTimeBetween(b, c),
              cal_.WorkingTimeBetween(a, c));
  }
}

TEST_F(PropertyTest, DueEndsInsideWorkingTime) {
  for (int i = 0; i < 20000; ++i) {
    const Instant t = RandomInstant();
    const Millis d = RandomDuration();
    if (d == Millis(0)) continue;
    // The last working millisecond before the due instant is working time.
    ASSERT_TRUE(cal_.IsWorkingTime(cal_.AddWorkingTime(t, d) - Millis(1))) << FormatLocal(t);
  }
}

// A minute-by-minute reference over the same day table: slow, obviously right.
TEST_F(PropertyTest, MatchesMinuteByMinuteReference) {
  for (int i = 0; i < 300; ++i) {
    Instant t = RandomInstant();
    t -= Millis(ToEpochMillis(t) % 60'000);
    const auto d = minutes(static_cast<int64_t>(rng_() % (3 * 8 * 60)) + 1);
    Instant ref = t;
    minutes left = d;
    while (left > minutes(0)) {
      if (cal_.IsWorkingTime(ref)) left -= minutes(1);
      ref += minutes(1);
    }
    ASSERT_EQ(cal_.AddWorkingTime(t, d), ref) << FormatLocal(t) << " + " << d.count() << " min";
  }
}

TEST_F(PropertyTest, CalendarDayDeadlinesEndAt17OnAWorkingDay) {
  for (int i = 0; i < 5000; ++i) {
    const Instant t = RandomInstant();
    const double n = static_cast<double>(rng_() % 90);
    const Instant due = cal_.DueAt(t, {n, DurationUnit::kCalendarDays});
    EXPECT_TRUE(cal_.IsWorkingDay(cal_.LocalDate(due)));
    EXPECT_EQ(FormatLocal(due).substr(11), "17:00");
    EXPECT_GE(cal_.LocalDate(due), cal_.LocalDate(t));
  }
}

// From(t) answers what the calendar's own methods answer for t, whatever the unit, the
// duration (zero, negative, past kMaxWorkingTime) and the other instant (before t, equal).
TEST_F(PropertyTest, WorkingTimeFromMatchesTheCalendarsMethods) {
  const std::array units = {DurationUnit::kWorkingHours, DurationUnit::kWorkingDays,
                            DurationUnit::kCalendarDays, DurationUnit::kMonths};
  for (int i = 0; i < 20000; ++i) {
    const Instant t = RandomInstant();
    const BusinessCalendar::WorkingTimeFrom from = cal_.From(t);
    ASSERT_EQ(from.start(), t);
    const LegalDuration d{static_cast<double>(rng_() % 400) / 4.0 - 2.0, units[i % 4]};
    ASSERT_EQ(from.DueAt(d), cal_.DueAt(t, d))
        << FormatLocal(t) << " + " << d.amount << " " << ToString(d.unit);
    const Millis w = RandomDuration() - Millis(i % 5 == 0 ? 3'600'000 : 0);
    ASSERT_EQ(from.Add(w), cal_.AddWorkingTime(t, w)) << FormatLocal(t) << " + " << w.count();
    const Instant other = i % 3 == 0 ? t : RandomInstant();
    ASSERT_EQ(from.To(other), cal_.WorkingTimeBetween(t, other))
        << FormatLocal(t) << " to " << FormatLocal(other);
  }
  const Instant t = FromEpochMillis(1767225600000);  // 2026-01-01T00:00Z
  EXPECT_EQ(cal_.From(t).Add(Millis::max()), cal_.AddWorkingTime(t, Millis::max()));
  EXPECT_EQ(cal_.From(t).DueAt({1e300, DurationUnit::kWorkingDays}),
            cal_.DueAt(t, {1e300, DurationUnit::kWorkingDays}));
  const Instant huge = FromEpochMillis(int64_t{1} << 62);
  EXPECT_EQ(cal_.From(huge).To(huge + Millis(1)), cal_.WorkingTimeBetween(huge, huge + Millis(1)));
  EXPECT_EQ(cal_.From(huge).DueAt({1e9, DurationUnit::kMonths}),
            cal_.DueAt(huge, {1e9, DurationUnit::kMonths}));
}

TEST(BusinessCalendarThreadTest, ConcurrentReadsAgree) {
  const BusinessCalendar& cal = ShippedCalendar();
  std::vector<Instant> expected;
  const Instant base = Local("2025-01-01 00:00");
  for (int i = 0; i < 2000; ++i) {
    expected.push_back(
        cal.DueAt(base + hours(13 * i), {static_cast<double>(i % 40), DurationUnit::kWorkingDays}));
  }
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&, k] {
      for (int i = 0; i < 2000; ++i) {
        const Instant got = cal.DueAt(base + hours(13 * i),
                                      {static_cast<double>(i % 40), DurationUnit::kWorkingDays});
        if (got != expected[static_cast<size_t>(i)]) ++mismatches[static_cast<size_t>(k)];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (const int m : mismatches) EXPECT_EQ(m, 0);
}

}  // namespace
}  // namespace iocstream::rules
