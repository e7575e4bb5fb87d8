#include "iocstream/decode/rfc3339.h"

#include <chrono>
#include <cstdint>

#include "decode/rfc3339_writer.h"

namespace iocstream {
namespace {

using std::chrono::days;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;
using std::chrono::sys_days;

// Years RFC 3339 can write with four digits; instants outside them are rejected on parse.
constexpr Instant kMinInstant = sys_days{std::chrono::year{0} / 1 / 1};
constexpr Instant kMaxInstant = sys_days{std::chrono::year{10000} / 1 / 1} - Millis{1};
constexpr int kMaxOffsetMinutes = 14 * 60;

constexpr bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Value of the two decimal digits at p[0..1], or -1 if either is not a digit.
constexpr int TwoDigits(const char* p) {
  const unsigned tens = static_cast<unsigned char>(p[0]) - unsigned{'0'};
  const unsigned ones = static_cast<unsigned char>(p[1]) - unsigned{'0'};
  return tens > 9 || ones > 9 ? -1 : static_cast<int>(tens * 10 + ones);
}

// Writes the two digits of 0 <= value <= 99.
char* PutTwoDigits(char* out, int value) {
  out[0] = static_cast<char>('0' + value / 10);
  out[1] = static_cast<char>('0' + value % 10);
  return out + 2;
}

// Writes a year as RFC 3339 does (four digits) when it is in 0000-9999, else signed and
// unpadded (FormatRfc3339Utc documents that this does not parse back).
char* PutYear(char* out, int year) {
  if (year >= 0 && year <= 9999) {
    out = PutTwoDigits(out, year / 100);
    return PutTwoDigits(out, year % 100);
  }
  if (year < 0) *out++ = '-';
  unsigned magnitude = year < 0 ? 0u - static_cast<unsigned>(year) : static_cast<unsigned>(year);
  char digits[12];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + magnitude % 10);
    magnitude /= 10;
  } while (magnitude != 0);
  for (int i = n; i < 4; ++i) *out++ = '0';
  while (n > 0) *out++ = digits[--n];
  return out;
}

}  // namespace

std::optional<Instant> ParseRfc3339(std::string_view text) {
  // Fixed part "YYYY-MM-DDThh:mm:ss" is 19 bytes; the shortest suffix is "Z".
  constexpr size_t kFixed = 19;
  if (text.size() < kFixed + 1) return std::nullopt;
  if (text[4] != '-' || text[7] != '-' || (text[10] != 'T' && text[10] != 't') || text[13] != ':' ||
      text[16] != ':') {
    return std::nullopt;
  }
  const char* p = text.data();
  const int century = TwoDigits(p);
  const int year_of_century = TwoDigits(p + 2);
  const int month = TwoDigits(p + 5);
  const int day = TwoDigits(p + 8);
  const int hour = TwoDigits(p + 11);
  const int minute = TwoDigits(p + 14);
  const int second = TwoDigits(p + 17);
  if ((century | year_of_century | month | day | hour | minute | second) < 0) return std::nullopt;
  const int year = century * 100 + year_of_century;
  if (hour > 23 || minute > 59 || second > 60) return std::nullopt;
  const std::chrono::year_month_day date{std::chrono::year{year},
                                         std::chrono::month{static_cast<unsigned>(month)},
                                         std::chrono::day{static_cast<unsigned>(day)}};
  if (!date.ok()) return std::nullopt;  // month 1-12, day within the month, leap years

  size_t pos = kFixed;
  int64_t millis = 0;
  if (text[pos] == '.') {
    ++pos;
    const size_t first_digit = pos;
    while (pos < text.size() && IsDigit(text[pos])) {
      if (pos - first_digit < 3) millis = millis * 10 + (text[pos] - '0');
      ++pos;
    }
    const size_t digit_count = pos - first_digit;
    if (digit_count == 0) return std::nullopt;
    for (size_t i = digit_count; i < 3; ++i) millis *= 10;
  }

  if (pos >= text.size()) return std::nullopt;  // the offset is required
  int offset_minutes = 0;
  if (text[pos] == 'Z' || text[pos] == 'z') {
    ++pos;
  } else if (text[pos] == '+' || text[pos] == '-') {
    if (text.size() - pos != 6 || text[pos + 3] != ':') return std::nullopt;
    const int offset_hour = TwoDigits(p + pos + 1);
    const int offset_minute = TwoDigits(p + pos + 4);
    if (offset_hour < 0 || offset_minute < 0 || offset_minute > 59) return std::nullopt;
    offset_minutes = offset_hour * 60 + offset_minute;
    if (offset_minutes > kMaxOffsetMinutes) return std::nullopt;
    if (text[pos] == '-') offset_minutes = -offset_minutes;
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != text.size()) return std::nullopt;

  // Local wall time minus the offset is UTC. A leap second (:60) simply adds up into the next
  // minute, which is what sys_time (POSIX time) does with it.
  const Instant utc = sys_days{date} + hours{hour} + minutes{minute} + seconds{second} +
                      Millis{millis} - minutes{offset_minutes};
  if (utc < kMinInstant || utc > kMaxInstant) return std::nullopt;
  return utc;
}

namespace decode_internal {

size_t WriteRfc3339Utc(Instant instant, char* out) {
  const sys_days day = std::chrono::floor<days>(instant);
  const std::chrono::year_month_day date{day};
  const std::chrono::hh_mm_ss<Millis> time{instant - day};
  char* p = PutYear(out, static_cast<int>(date.year()));
  *p++ = '-';
  p = PutTwoDigits(p, static_cast<int>(static_cast<unsigned>(date.month())));
  *p++ = '-';
  p = PutTwoDigits(p, static_cast<int>(static_cast<unsigned>(date.day())));
  *p++ = 'T';
  p = PutTwoDigits(p, static_cast<int>(time.hours().count()));
  *p++ = ':';
  p = PutTwoDigits(p, static_cast<int>(time.minutes().count()));
  *p++ = ':';
  p = PutTwoDigits(p, static_cast<int>(time.seconds().count()));
  *p++ = '.';
  const int millis = static_cast<int>(time.subseconds().count());
  *p++ = static_cast<char>('0' + millis / 100);
  p = PutTwoDigits(p, millis % 100);
  *p++ = 'Z';
  return static_cast<size_t>(p - out);
}

}  // namespace decode_internal

std::string FormatRfc3339Utc(Instant instant) {
  char buffer[decode_internal::kMaxRfc3339Chars];
  return std::string(buffer, decode_internal::WriteRfc3339Utc(instant, buffer));
}

void AppendRfc3339Utc(std::string& out, Instant instant) {
  char buffer[decode_internal::kMaxRfc3339Chars];
  out.append(buffer, decode_internal::WriteRfc3339Utc(instant, buffer));
}

}  // namespace iocstream
