#include "iocstream/decode/rfc3339.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <utility>

namespace iocstream {
namespace {

struct ParseCase {
  const char* text;
  int64_t epoch_ms;  // expected UTC milliseconds (computed with Python's datetime)
};

TEST(ParseRfc3339Test, ConvertsToUtcMillis) {
  const ParseCase cases[] = {
      {"1970-01-01T00:00:00Z", 0},
      {"1969-12-31T23:59:59.999Z", -1},
      {"2026-02-10T08:30:00+07:00", 1770687000000},
      {"2026-02-10T01:30:00Z", 1770687000000},
      {"2026-02-09T20:30:00-05:00", 1770687000000},
      {"2026-02-09T20:30:00.123-05:00", 1770687000123},
      {"2026-02-10T08:30:00.1239+07:00", 1770687000123},
      {"2026-02-10T08:30:00.12+07:00", 1770687000120},
      {"2026-02-10t01:30:00z", 1770687000000},
      {"2026-02-10T01:30:00-00:00", 1770687000000},
      {"2024-02-29T23:59:59.999-05:00", 1709269199999},
      {"2016-12-31T23:59:60Z", 1483228800000},  // leap second → next second
      {"0000-01-01T00:00:00Z", -62167219200000},
      {"0001-01-01T00:00:00Z", -62135596800000},
      {"9999-12-31T23:59:59.999Z", 253402300799999},
  };
  for (const ParseCase& c : cases) {
    const std::optional<Instant> parsed = ParseRfc3339(c.text);
    ASSERT_TRUE(parsed.has_value()) << c.text;
    EXPECT_EQ(ToEpochMillis(*parsed), c.epoch_ms) << c.text;
  }
}

TEST(ParseRfc3339Test, RejectsMalformedAndOutOfRange) {
  const char* const rejected[] = {
      "",
      "2026-02-10",
      "2026-02-10T08:30",
      "2026-02-10T08:30:00",         // no offset
      "2026-02-10 08:30:00Z",        // space instead of T
      "2026-02-10T08:30:00+0700",    // offset without colon
      "2026-02-10T08:30:00+07",      // offset without minutes
      "2026-02-10T08:30:00+07:00 ",  // trailing space
      " 2026-02-10T08:30:00Z",
      "2026-02-10T08:30:00.Z",   // empty fraction
      "2026-02-10T08:30:00,5Z",  // comma fraction (ISO 8601, not RFC 3339)
      "2026-2-10T08:30:00Z",
      "26-02-10T08:30:00Z",
      "+2026-02-10T08:30:00Z",
      "2026-00-10T08:30:00Z",
      "2026-13-10T08:30:00Z",
      "2026-02-00T08:30:00Z",
      "2026-02-29T08:30:00Z",  // 2026 is not a leap year
      "1900-02-29T08:30:00Z",  // century rule
      "2026-04-31T08:30:00Z",
      "2026-02-10T24:00:00Z",
      "2026-02-10T08:60:00Z",
      "2026-02-10T08:30:61Z",
      "2026-02-10T08:30:00+14:01",
      "2026-02-10T08:30:00+15:00",
      "2026-02-10T08:30:00-14:30",
      "2026-02-10T08:30:00+07:60",
      "2026-02-10T08:30:00Q",
      "0000-01-01T00:00:00+00:01",  // before year 0000 in UTC
      "9999-12-31T23:59:59-00:01",  // after year 9999 in UTC
      "２０２６-02-10T08:30:00Z",   // full-width digits
      "2026-02-10T08:30:00\xC2\xA0Z",
  };
  for (const char* text : rejected) {
    EXPECT_FALSE(ParseRfc3339(text).has_value()) << text;
    EXPECT_FALSE(Rfc3339Problem(text).empty()) << text;  // every refusal says why
  }
}

// Day validity comes from std::chrono::year_month_day: count valid days per year.
TEST(ParseRfc3339Test, AcceptsExactlyTheDaysOfTheYear) {
  auto valid_days = [](int year) {
    int count = 0;
    for (int month = 0; month <= 13; ++month) {
      for (int day = 0; day <= 32; ++day) {
        char text[32];
        std::snprintf(text, sizeof(text), "%04d-%02d-%02dT12:00:00+07:00", year, month, day);
        if (ParseRfc3339(text)) ++count;
      }
    }
    return count;
  };
  EXPECT_EQ(valid_days(2026), 365);
  EXPECT_EQ(valid_days(2024), 366);
  EXPECT_EQ(valid_days(2000), 366);
  EXPECT_EQ(valid_days(1900), 365);
  EXPECT_EQ(valid_days(2100), 365);
}

// "YYYY-MM-DDThh:mm:ss.mmmZ" is read by a shortcut: it must agree with the general reading of
// the same instant written with "+00:00", valid or not, on every month and day of whole 400-year
// cycles and at the edges of the time of day.
TEST(ParseRfc3339Test, UsualShapeReadsAsTheGeneralForm) {
  auto check = [](int year, int month, int day, int hour, int minute, int second) {
    char usual[40];
    char general[40];
    std::snprintf(usual, sizeof(usual), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", year, month, day,
                  hour, minute, second, (day * 37) % 1000);
    std::snprintf(general, sizeof(general), "%04d-%02d-%02dT%02d:%02d:%02d.%03d+00:00", year, month,
                  day, hour, minute, second, (day * 37) % 1000);
    ASSERT_EQ(ParseRfc3339(usual), ParseRfc3339(general)) << usual;
  };
  for (const auto& [from, to] : {std::pair{0, 401}, std::pair{1899, 2101}, std::pair{9598, 9999}}) {
    for (int year = from; year <= to; ++year) {
      for (int month = 0; month <= 13; ++month) {
        for (int day = 0; day <= 32; ++day) check(year, month, day, 12, 34, 56);
      }
    }
  }
  for (const int hour : {0, 23, 24, 99}) {
    for (const int minute : {0, 59, 60}) {
      for (const int second : {0, 59, 60, 61}) {
        check(2026, 2, 10, hour, minute, second);
        check(9999, 12, 31, hour, minute, second);
      }
    }
  }
  // Not digits where digits go, or another separator: rejected (or read) as the general way.
  const std::string base = "2026-02-10T08:30:00.123Z";
  for (size_t i = 0; i < base.size(); ++i) {
    for (const char c :
         {'/', ':', '0', '9', 'A', 'T', 'Z', 'z', 't', '.', '-', ' ', '\x7f', '\xb0', '\xff'}) {
      std::string text = base;
      text[i] = c;
      const std::optional<Instant> parsed = ParseRfc3339(text);
      text.replace(text.size() - 1, 1, "+00:00");
      if (i + 1 < base.size()) {
        EXPECT_EQ(parsed, ParseRfc3339(text)) << text;
      }
    }
  }
  EXPECT_EQ(ToEpochMillis(*ParseRfc3339("2026-02-10T01:30:00.123Z")), 1770687000123);
  EXPECT_EQ(ToEpochMillis(*ParseRfc3339("0000-01-01T00:00:00.000Z")), -62167219200000);
  EXPECT_EQ(ToEpochMillis(*ParseRfc3339("9999-12-31T23:59:59.999Z")), 253402300799999);
}

TEST(FormatRfc3339UtcTest, FixedWidthWithMillis) {
  EXPECT_EQ(FormatRfc3339Utc(FromEpochMillis(0)), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatRfc3339Utc(FromEpochMillis(-1)), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(FormatRfc3339Utc(FromEpochMillis(1770687000000)), "2026-02-10T01:30:00.000Z");
  EXPECT_EQ(FormatRfc3339Utc(FromEpochMillis(1770687000123)), "2026-02-10T01:30:00.123Z");
  EXPECT_EQ(FormatRfc3339Utc(FromEpochMillis(1709269199999)), "2024-03-01T04:59:59.999Z");
  EXPECT_EQ(FormatRfc3339Utc(FromEpochMillis(-62167219200000)), "0000-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatRfc3339Utc(FromEpochMillis(253402300799999)), "9999-12-31T23:59:59.999Z");
}

TEST(FormatRfc3339UtcTest, OutsideYears0000To9999IsSignedAndDoesNotParse) {
  const std::string before = FormatRfc3339Utc(FromEpochMillis(-62167219200001));
  EXPECT_EQ(before, "-0001-12-31T23:59:59.999Z");
  EXPECT_FALSE(ParseRfc3339(before).has_value());
  const std::string after = FormatRfc3339Utc(FromEpochMillis(253402300800000));
  EXPECT_EQ(after, "10000-01-01T00:00:00.000Z");
  EXPECT_FALSE(ParseRfc3339(after).has_value());
}

TEST(AppendRfc3339UtcTest, AppendsWhatFormatRfc3339UtcReturns) {
  for (const int64_t millis : {int64_t{0}, int64_t{-1}, int64_t{1770687000123},
                               int64_t{-62167219200001}, int64_t{253402300800000}}) {
    std::string out = "due_at=";
    AppendRfc3339Utc(out, FromEpochMillis(millis));
    EXPECT_EQ(out, "due_at=" + FormatRfc3339Utc(FromEpochMillis(millis)));
  }
}

TEST(FormatRfc3339UtcTest, RoundTripsAcrossTheWholeRange) {
  std::mt19937_64 random(20260210);
  std::uniform_int_distribution<int64_t> millis(-62167219200000, 253402300799999);
  for (int i = 0; i < 100000; ++i) {
    const Instant instant = FromEpochMillis(millis(random));
    const std::string text = FormatRfc3339Utc(instant);
    ASSERT_EQ(text.size(), 24u) << text;
    const std::optional<Instant> parsed = ParseRfc3339(text);
    ASSERT_TRUE(parsed.has_value()) << text;
    ASSERT_EQ(*parsed, instant) << text;
  }
}

// Why a timestamp is refused, for the dead letter's detail and the CLI's errors (a helper's
// finding: "not RFC 3339" alone did not say what to fix).
TEST(Rfc3339ProblemTest, SaysWhatToFix) {
  EXPECT_EQ(Rfc3339Problem("2026-02-10T08:30:00+07:00"), "");
  EXPECT_EQ(Rfc3339Problem("2026-02-10T08:30:00"),
            "no offset: add Z for UTC or the local offset, +07:00 in Vietnam");
  EXPECT_EQ(Rfc3339Problem("2026-02-30T08:30:00Z"), "2026-02-30 is not a date");
  EXPECT_EQ(Rfc3339Problem("2025-02-29T08:30:00Z"), "2025-02-29 is not a date");
  EXPECT_EQ(Rfc3339Problem("2026-13-01T00:00:00Z"), "2026-13-01 is not a date");
  EXPECT_EQ(Rfc3339Problem("2026-02-10 08:30:00Z"),
            "a space between date and time where RFC 3339 has 'T'");
  EXPECT_EQ(Rfc3339Problem("2026-02-10"),
            "a date without a time: expected YYYY-MM-DDThh:mm:ss, then Z or an offset such as "
            "+07:00");
  EXPECT_EQ(Rfc3339Problem("2026-02-10T08:30Z"),
            "no seconds: expected YYYY-MM-DDThh:mm:ss, then Z or an offset such as +07:00");
  EXPECT_EQ(Rfc3339Problem("2026-02-10T24:00:00Z"), "hour 24 is out of range (00 to 23)");
  EXPECT_EQ(Rfc3339Problem("2026-02-10T08:30:00.Z"), "a '.' without fractional digits");
  EXPECT_EQ(Rfc3339Problem("2026-02-10T08:30:00+0700"),
            "the offset must be +hh:mm or -hh:mm (two digits each, a colon between)");
  EXPECT_EQ(Rfc3339Problem("2026-02-10T08:30:00+15:00"),
            "an offset beyond 14:00 (or minutes over 59)");
  EXPECT_EQ(Rfc3339Problem("2026-02-10T08:30:00Q"), "the offset must be Z, +hh:mm or -hh:mm");
  EXPECT_EQ(Rfc3339Problem("2026-02-10T08:30:00Z "), "text after the offset");
  EXPECT_EQ(Rfc3339Problem("9999-12-31T23:59:59-00:01"),
            "outside years 0000 to 9999 once converted to UTC");
  EXPECT_EQ(Rfc3339Problem("10/02/2026"),
            "expected YYYY-MM-DDThh:mm:ss, then Z or an offset such as +07:00");
}

}  // namespace
}  // namespace iocstream
