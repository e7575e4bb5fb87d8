#include "iocstream/rules/business_calendar.h"

#include <date/tz.h>

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <map>
#include <set>
#include <utility>

#include "iocstream/core/dossier_event.h"

namespace iocstream::rules {
namespace {

using std::chrono::days;
using std::chrono::local_days;
using std::chrono::sys_days;
using std::chrono::year_month_day;

constexpr int64_t kMsPerDay = 86'400'000;
constexpr int64_t kMsPerMinute = 60'000;
constexpr int kMinYear = 1900;
constexpr int kMaxYear = 2199;
// Supported UTC range [kMinUtcMs, kMaxUtcMs]: 1900-01-01T00:00Z to 2199-12-31T23:59:59.999Z.
constexpr int64_t kMinUtcMs =
    std::chrono::sys_days{std::chrono::year{kMinYear} / 1 / 1}.time_since_epoch().count() *
    kMsPerDay;
constexpr int64_t kMaxUtcMs =
    std::chrono::sys_days{std::chrono::year{kMaxYear + 1} / 1 / 1}.time_since_epoch().count() *
        kMsPerDay -
    1;
// The event contract admits instants up to the end of this range (core/dossier_event.h).
static_assert(kMaxUtcMs + 1 == ToEpochMillis(kLatestEventTime));
constexpr int64_t kMaxCalendarDays = 36'500;
constexpr int64_t kMaxMonths = 1'200;
// 1970-01-01 was a Thursday: day 0 is weekday index 3 counted from Monday.
constexpr int64_t kEpochDaysSinceMonday = 3;

constexpr int64_t FloorDiv(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
constexpr int64_t CeilDiv(int64_t a, int64_t b) { return -FloorDiv(-a, b); }
constexpr int64_t FloorMod(int64_t a, int64_t b) { return a - FloorDiv(a, b) * b; }

int64_t ClampUtc(Instant t) { return std::clamp(ToEpochMillis(t), kMinUtcMs, kMaxUtcMs); }

// Non-negative whole units of a calendar amount (rounded up), capped at `cap`.
int64_t WholeUnits(double amount, int64_t cap) {
  if (!std::isfinite(amount) || amount <= 0) return 0;
  const double up = std::ceil(amount);
  return up >= static_cast<double>(cap) ? cap : static_cast<int64_t>(up);
}

// Local day number of a date; an invalid day is clamped to the month's last day, an invalid
// year or month gives day 0 (1970-01-01), so callers never see unspecified values.
int64_t DayNumber(year_month_day ymd) {
  if (!ymd.year().ok() || !ymd.month().ok()) return 0;
  if (!ymd.ok()) ymd = ymd.year() / ymd.month() / std::chrono::last;
  return sys_days{ymd}.time_since_epoch().count();
}

year_month_day DateOfDayNumber(int64_t day) {
  return year_month_day{sys_days{days{static_cast<days::rep>(day)}}};
}

int WeekdayIndex(std::chrono::weekday wd) { return static_cast<int>(wd.iso_encoding()) - 1; }

std::string FormatMinutes(std::chrono::minutes m) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02lld:%02lld", static_cast<long long>(m.count() / 60),
                static_cast<long long>(m.count() % 60));
  return buf;
}

constexpr std::array<std::string_view, 4> kUnitNames = {"working_hours", "working_days",
                                                        "calendar_days", "months"};
constexpr std::array<std::string_view, 4> kSpecialDayNames = {"holiday", "compensatory", "swapped",
                                                              "make_up"};

}  // namespace

std::string_view ToString(DurationUnit unit) { return kUnitNames[static_cast<size_t>(unit)]; }

std::optional<DurationUnit> ParseDurationUnit(std::string_view name) {
  for (size_t i = 0; i < kUnitNames.size(); ++i) {
    if (kUnitNames[i] == name) return static_cast<DurationUnit>(i);
  }
  return std::nullopt;
}

std::string_view ToString(SpecialDayKind kind) {
  return kSpecialDayNames[static_cast<size_t>(kind)];
}

std::optional<SpecialDayKind> ParseSpecialDayKind(std::string_view name) {
  for (size_t i = 0; i < kSpecialDayNames.size(); ++i) {
    if (kSpecialDayNames[i] == name) return static_cast<SpecialDayKind>(i);
  }
  return std::nullopt;
}

std::optional<Millis> WorkingTimeOf(LegalDuration duration) {
  Millis unit{0};
  switch (duration.unit) {
    case DurationUnit::kWorkingHours:
      unit = kWorkingHour;
      break;
    case DurationUnit::kWorkingDays:
      unit = kWorkingDay;
      break;
    case DurationUnit::kCalendarDays:
    case DurationUnit::kMonths:
      return std::nullopt;
  }
  const double amount = duration.amount;
  if (!std::isfinite(amount) || amount <= 0) return Millis{0};
  const double ms = amount * static_cast<double>(unit.count());
  if (ms >= static_cast<double>(kMaxWorkingTime.count())) return kMaxWorkingTime;
  return Millis{std::llround(ms)};
}

std::vector<WorkingSession> DefaultWorkingSessions() {
  using std::chrono::hours;
  using std::chrono::minutes;
  return {{hours(7), hours(11) + minutes(30)}, {hours(13) + minutes(30), hours(17)}};
}

Result<CalendarSpec> MergeCalendarSpecs(const std::vector<CalendarSpec>& specs) {
  if (specs.empty()) return InvalidArgument("no calendar to merge");
  CalendarSpec merged = specs.front();
  std::set<int> years;
  for (const auto y : merged.years) years.insert(static_cast<int>(y));
  for (size_t i = 1; i < specs.size(); ++i) {
    const CalendarSpec& s = specs[i];
    if (s.time_zone != merged.time_zone) {
      return InvalidArgument("time_zone: '" + s.time_zone + "' differs from '" + merged.time_zone +
                             "' of the other calendars");
    }
    if (s.sessions != merged.sessions) {
      return InvalidArgument("working_sessions: differ from the other calendars");
    }
    std::vector<std::chrono::weekday> a = s.weekly_days_off;
    std::vector<std::chrono::weekday> b = merged.weekly_days_off;
    auto by_index = [](std::chrono::weekday x, std::chrono::weekday y) {
      return x.c_encoding() < y.c_encoding();
    };
    std::sort(a.begin(), a.end(), by_index);
    std::sort(b.begin(), b.end(), by_index);
    if (a != b) return InvalidArgument("weekly_days_off: differ from the other calendars");
    for (const auto y : s.years) {
      if (!years.insert(static_cast<int>(y)).second) {
        return InvalidArgument("year: " + std::to_string(static_cast<int>(y)) + " is loaded twice");
      }
      merged.years.push_back(y);
    }
    merged.special_days.insert(merged.special_days.end(), s.special_days.begin(),
                               s.special_days.end());
  }
  std::sort(merged.years.begin(), merged.years.end());
  std::stable_sort(merged.special_days.begin(), merged.special_days.end(),
                   [](const SpecialDay& x, const SpecialDay& y) { return x.date < y.date; });
  return merged;
}

Result<BusinessCalendar> BusinessCalendar::Create(CalendarSpec spec) {
  BusinessCalendar cal;

  // Time zone and its UTC-offset history over the supported range.
  try {
    cal.zone_ = date::locate_zone(spec.time_zone);
    int64_t t = kMinUtcMs;
    while (true) {
      const auto info = cal.zone_->get_info(date::sys_time<Millis>{Millis{t}});
      const int64_t offset = std::chrono::duration_cast<Millis>(info.offset).count();
      if (cal.offsets_.empty() || cal.offsets_.back().offset_ms != offset) {
        cal.offsets_.push_back({cal.offsets_.empty() ? kMinUtcMs : t, offset});
      }
      const int64_t end = std::chrono::duration_cast<Millis>(info.end.time_since_epoch()).count();
      if (end > kMaxUtcMs || end <= t) break;
      t = end;
    }
    const size_t n = cal.offsets_.size();
    cal.last_local_unambiguous_ms_ =
        n == 1 ? INT64_MIN  // one offset: every local time is its
               : cal.offsets_[n - 1].utc_begin_ms +
                     std::max(cal.offsets_[n - 1].offset_ms, cal.offsets_[n - 2].offset_ms);
  } catch (const std::exception& e) {
    return InvalidArgument("time_zone: unknown time zone '" + spec.time_zone + "' (" + e.what() +
                           ")");
  }

  // Sessions.
  if (spec.sessions.empty()) return InvalidArgument("working_sessions: none given");
  std::sort(spec.sessions.begin(), spec.sessions.end(),
            [](const WorkingSession& a, const WorkingSession& b) { return a.start < b.start; });
  for (size_t i = 0; i < spec.sessions.size(); ++i) {
    const WorkingSession& s = spec.sessions[i];
    if (s.start < std::chrono::minutes(0) || s.end > std::chrono::hours(24) || s.end <= s.start) {
      return InvalidArgument("working_sessions: " + FormatMinutes(s.start) + "-" +
                             FormatMinutes(s.end) + " is not a time range within one day");
    }
    if (i > 0 && s.start < spec.sessions[i - 1].end) {
      return InvalidArgument("working_sessions: " + FormatMinutes(s.start) + "-" +
                             FormatMinutes(s.end) + " overlaps the previous session");
    }
    cal.session_begin_ms_.push_back(s.start.count() * kMsPerMinute);
    cal.session_end_ms_.push_back(s.end.count() * kMsPerMinute);
    cal.worked_before_session_ms_.push_back(cal.day_work_ms_);
    cal.day_work_ms_ += (s.end - s.start).count() * kMsPerMinute;
  }

  // Weekly rule.
  cal.weekly_working_.fill(true);
  for (const auto wd : spec.weekly_days_off) {
    if (!wd.ok()) return InvalidArgument("weekly_days_off: invalid weekday");
    cal.weekly_working_[static_cast<size_t>(WeekdayIndex(wd))] = false;
  }
  for (size_t r = 0; r < 7; ++r) {
    if (cal.weekly_working_[r]) {
      cal.weekly_nth_[static_cast<size_t>(cal.weekly_count_)] = static_cast<int64_t>(r);
      ++cal.weekly_count_;
    }
    cal.weekly_prefix_[r + 1] = cal.weekly_count_;
  }
  if (cal.weekly_count_ == 0) return InvalidArgument("weekly_days_off: every weekday is off");

  // Years and special days.
  std::set<int> years;
  for (const auto y : spec.years) {
    const int yi = static_cast<int>(y);
    if (yi < kMinYear || yi > kMaxYear) {
      return InvalidArgument("year: " + std::to_string(yi) + " is outside 1900-2199");
    }
    years.insert(yi);
  }
  std::map<int64_t, SpecialDayKind> kinds;
  for (const SpecialDay& d : spec.special_days) {
    if (!d.date.ok()) return InvalidArgument("special day: invalid date");
    const std::string when = FormatDate(d.date);
    if (years.count(static_cast<int>(d.date.year())) == 0) {
      return InvalidArgument(when + ": outside the calendar's years");
    }
    const int64_t day = DayNumber(d.date);
    const bool weekly_working =
        cal.weekly_working_[static_cast<size_t>(FloorMod(day + kEpochDaysSinceMonday, 7))];
    if (d.kind == SpecialDayKind::kMakeUpWorkingDay && weekly_working) {
      return InvalidArgument(when + ": make-up working day falls on a weekly working day");
    }
    if ((d.kind == SpecialDayKind::kCompensatoryDayOff ||
         d.kind == SpecialDayKind::kSwappedDayOff) &&
        !weekly_working) {
      return InvalidArgument(when + ": " + std::string(ToString(d.kind)) +
                             " day off falls on a weekly day off");
    }
    const auto [it, inserted] = kinds.emplace(day, d.kind);
    if (!inserted && it->second != d.kind) {
      return InvalidArgument(when + ": listed twice, as " + std::string(ToString(it->second)) +
                             " and " + std::string(ToString(d.kind)));
    }
  }

  // Day table over the loaded years, then the count corrections around it.
  if (!years.empty()) {
    const int64_t first = DayNumber(std::chrono::year{*years.begin()} / 1 / 1);
    const int64_t end = DayNumber(std::chrono::year{*years.rbegin() + 1} / 1 / 1);
    cal.table_first_day_ = first;
    const auto size = static_cast<size_t>(end - first);
    cal.table_working_.resize(size);
    for (size_t i = 0; i < size; ++i) {
      const auto day = first + static_cast<int64_t>(i);
      cal.table_working_[i] =
          cal.weekly_working_[static_cast<size_t>(FloorMod(day + kEpochDaysSinceMonday, 7))];
    }
    for (const auto& [day, kind] : kinds) {
      cal.table_working_[static_cast<size_t>(day - first)] =
          kind == SpecialDayKind::kMakeUpWorkingDay ? 1 : 0;
    }
    cal.table_prefix_.resize(size + 1);
    for (size_t i = 0; i < size; ++i) {
      cal.table_prefix_[i + 1] = cal.table_prefix_[i] + cal.table_working_[i];
      if (cal.table_working_[i] != 0) cal.table_working_days_.push_back(static_cast<int32_t>(i));
    }
    cal.table_base_ = cal.WeeklyWorkingDaysBefore(first);
    cal.after_table_shift_ =
        cal.table_base_ + cal.table_prefix_[size] - cal.WeeklyWorkingDaysBefore(end);
  }

  std::sort(spec.years.begin(), spec.years.end());
  std::stable_sort(spec.special_days.begin(), spec.special_days.end(),
                   [](const SpecialDay& x, const SpecialDay& y) { return x.date < y.date; });
  cal.spec_ = std::move(spec);
  return cal;
}

int64_t BusinessCalendar::WeeklyWorkingDaysBefore(int64_t day) const {
  const int64_t m = day + kEpochDaysSinceMonday;
  const int64_t week = FloorDiv(m, 7);
  return week * weekly_count_ + weekly_prefix_[static_cast<size_t>(m - week * 7)];
}

int64_t BusinessCalendar::WeeklyWorkingDayWithIndex(int64_t index) const {
  const int64_t week = FloorDiv(index, weekly_count_);
  const int64_t nth = index - week * weekly_count_;
  return week * 7 + weekly_nth_[static_cast<size_t>(nth)] - kEpochDaysSinceMonday;
}

int64_t BusinessCalendar::WorkingDaysBefore(int64_t day) const {
  const auto size = static_cast<int64_t>(table_working_.size());
  if (size == 0 || day < table_first_day_) return WeeklyWorkingDaysBefore(day);
  if (day <= table_first_day_ + size) {
    return table_base_ + table_prefix_[static_cast<size_t>(day - table_first_day_)];
  }
  return WeeklyWorkingDaysBefore(day) + after_table_shift_;
}

int64_t BusinessCalendar::WorkingDayWithIndex(int64_t index) const {
  const auto in_table = static_cast<int64_t>(table_working_days_.size());
  if (table_working_.empty() || index < table_base_) return WeeklyWorkingDayWithIndex(index);
  if (index < table_base_ + in_table) {
    return table_first_day_ + table_working_days_[static_cast<size_t>(index - table_base_)];
  }
  return WeeklyWorkingDayWithIndex(index - after_table_shift_);
}

bool BusinessCalendar::IsWorkingDayNumber(int64_t day) const {
  const int64_t i = day - table_first_day_;
  if (i >= 0 && i < static_cast<int64_t>(table_working_.size())) {
    return table_working_[static_cast<size_t>(i)] != 0;
  }
  return weekly_working_[static_cast<size_t>(FloorMod(day + kEpochDaysSinceMonday, 7))];
}

int64_t BusinessCalendar::WorkedInDayUntil(int64_t time_of_day_ms) const {
  int64_t worked = 0;
  for (size_t k = 0; k < session_begin_ms_.size(); ++k) {
    worked += std::clamp(time_of_day_ms - session_begin_ms_[k], int64_t{0},
                         session_end_ms_[k] - session_begin_ms_[k]);
  }
  return worked;
}

int64_t BusinessCalendar::TimeOfDayAfterWorking(int64_t worked_ms) const {
  for (size_t k = 0; k < session_begin_ms_.size(); ++k) {
    const int64_t into = worked_ms - worked_before_session_ms_[k];
    if (into <= session_end_ms_[k] - session_begin_ms_[k]) return session_begin_ms_[k] + into;
  }
  return session_end_ms_.back();  // worked_ms == day_work_ms_ is caught above; defensive
}

int64_t BusinessCalendar::WorkingPosition(int64_t local_ms) const {
  const int64_t day = FloorDiv(local_ms, kMsPerDay);
  int64_t position = WorkingDaysBefore(day) * day_work_ms_;
  if (IsWorkingDayNumber(day)) position += WorkedInDayUntil(local_ms - day * kMsPerDay);
  return position;
}

int64_t BusinessCalendar::ToLocalMs(int64_t utc_ms) const {
  // Every instant after the zone's last offset change (1975 for Asia/Ho_Chi_Minh) skips the search.
  if (utc_ms >= offsets_.back().utc_begin_ms) return utc_ms + offsets_.back().offset_ms;
  // Last segment starting at or before utc_ms; the first one also covers earlier instants.
  auto it = std::upper_bound(offsets_.begin() + 1, offsets_.end(), utc_ms,
                             [](int64_t t, const OffsetSegment& s) { return t < s.utc_begin_ms; });
  return utc_ms + std::prev(it)->offset_ms;
}

int64_t BusinessCalendar::FromLocalMs(int64_t local_ms) const {
  // Candidate segments are those whose UTC range contains local_ms - offset; pick the
  // earliest (ambiguous local time), or the next transition when none does (a gap).
  // After the last change by more than either offset around it, only the last segment holds
  // local_ms, and no earlier one makes it ambiguous: the search below would return this.
  if (local_ms >= last_local_unambiguous_ms_) return local_ms - offsets_.back().offset_ms;
  const size_t n = offsets_.size();
  auto contains = [&](size_t i, int64_t utc) {
    const bool after_begin = i == 0 || utc >= offsets_[i].utc_begin_ms;
    const bool before_end = i + 1 == n || utc < offsets_[i + 1].utc_begin_ms;
    return after_begin && before_end;
  };
  // Last segment whose local begin is at or before local_ms.
  auto it = std::upper_bound(
      offsets_.begin() + 1, offsets_.end(), local_ms,
      [](int64_t l, const OffsetSegment& s) { return l < s.utc_begin_ms + s.offset_ms; });
  const auto guess = static_cast<size_t>(std::distance(offsets_.begin(), it) - 1);
  const size_t lo = guess == 0 ? 0 : guess - 1;
  const size_t hi = std::min(n - 1, guess + 1);
  for (size_t i = lo; i <= hi; ++i) {
    const int64_t utc = local_ms - offsets_[i].offset_ms;
    if (contains(i, utc)) return utc;
  }
  for (size_t i = lo; i <= hi; ++i) {
    if (offsets_[i].utc_begin_ms + offsets_[i].offset_ms > local_ms) {
      return offsets_[i].utc_begin_ms;
    }
  }
  return local_ms - offsets_[guess].offset_ms;
}

Instant BusinessCalendar::EndOfPeriod(int64_t last_day) const {
  const int64_t due_day = WorkingDayWithIndex(WorkingDaysBefore(last_day));
  return FromEpochMillis(FromLocalMs(due_day * kMsPerDay + session_end_ms_.back()));
}

Instant BusinessCalendar::CalendarDueAt(int64_t local_ms, LegalDuration d) const {
  const int64_t receipt_day = FloorDiv(local_ms, kMsPerDay);
  if (d.unit == DurationUnit::kCalendarDays) {
    // Art. 147: counting starts on the day after receipt, so day N is receipt day + N.
    return EndOfPeriod(receipt_day + WholeUnits(d.amount, kMaxCalendarDays));
  }
  assert(d.unit == DurationUnit::kMonths);
  const year_month_day start = DateOfDayNumber(receipt_day);
  const auto ym =
      start.year() / start.month() + std::chrono::months(WholeUnits(d.amount, kMaxMonths));
  const auto last = (ym / std::chrono::last).day();
  return EndOfPeriod(DayNumber(ym / std::min(start.day(), last)));
}

Instant BusinessCalendar::DueAt(Instant received, LegalDuration d) const {
  return From(received).DueAt(d);
}

Instant BusinessCalendar::AtWorkingPosition(int64_t target) const {
  // The target lies in working day number j, after r ms of that day's work, r in (0, day].
  const int64_t j = CeilDiv(target, day_work_ms_) - 1;
  const int64_t r = target - j * day_work_ms_;
  const int64_t day = WorkingDayWithIndex(j);
  return FromEpochMillis(FromLocalMs(day * kMsPerDay + TimeOfDayAfterWorking(r)));
}

// The two below return before the start's place is computed when there is nothing to count.
Instant BusinessCalendar::AddWorkingTime(Instant start, Millis working) const {
  if (working <= Millis{0}) return start;
  return From(start).Add(working);
}

Millis BusinessCalendar::WorkingTimeBetween(Instant a, Instant b) const {
  if (b <= a) return Millis{0};
  return From(a).To(b);
}

BusinessCalendar::WorkingTimeFrom::WorkingTimeFrom(const BusinessCalendar& calendar, Instant start)
    : calendar_(&calendar),
      start_(start),
      local_ms_(calendar.ToLocalMs(ClampUtc(start))),
      position_(calendar.WorkingPosition(local_ms_)) {}

Instant BusinessCalendar::WorkingTimeFrom::DueAt(LegalDuration d) const {
  switch (d.unit) {
    case DurationUnit::kWorkingHours:
    case DurationUnit::kWorkingDays:
      return Add(*WorkingTimeOf(d));
    case DurationUnit::kCalendarDays:
    case DurationUnit::kMonths:
      return calendar_->CalendarDueAt(local_ms_, d);
  }
  return start_;
}

Instant BusinessCalendar::WorkingTimeFrom::Add(Millis working) const {
  if (working <= Millis{0}) return start_;
  return calendar_->AtWorkingPosition(position_ + std::min(working, kMaxWorkingTime).count());
}

Millis BusinessCalendar::WorkingTimeFrom::To(Instant b) const {
  if (b <= start_) return Millis{0};
  return Millis{calendar_->WorkingPosition(calendar_->ToLocalMs(ClampUtc(b))) - position_};
}

bool BusinessCalendar::IsWorkingDay(year_month_day local) const {
  if (!local.ok()) return false;
  return IsWorkingDayNumber(DayNumber(local));
}

int64_t BusinessCalendar::DaysOffIn(year_month_day first, year_month_day last) const {
  if (!first.ok() || !last.ok() || last < first) return 0;
  const int64_t a = DayNumber(first);
  const int64_t b = DayNumber(last) + 1;
  return (b - a) - (WorkingDaysBefore(b) - WorkingDaysBefore(a));
}

std::span<const SpecialDay> BusinessCalendar::SpecialDaysIn(year_month_day first,
                                                            year_month_day last) const {
  const auto& days = spec_.special_days;  // sorted by date in Create()
  if (last < first) return {};
  const auto begin =
      std::lower_bound(days.begin(), days.end(), first,
                       [](const SpecialDay& d, year_month_day x) { return d.date < x; });
  const auto end = std::upper_bound(
      begin, days.end(), last, [](year_month_day x, const SpecialDay& d) { return x < d.date; });
  return {begin, end};
}

bool BusinessCalendar::IsWorkingTime(Instant t) const {
  const int64_t local = ToLocalMs(ClampUtc(t));
  const int64_t day = FloorDiv(local, kMsPerDay);
  if (!IsWorkingDayNumber(day)) return false;
  const int64_t tod = local - day * kMsPerDay;
  for (size_t k = 0; k < session_begin_ms_.size(); ++k) {
    if (tod >= session_begin_ms_[k] && tod < session_end_ms_[k]) return true;
  }
  return false;
}

year_month_day BusinessCalendar::LocalDate(Instant t) const {
  return DateOfDayNumber(FloorDiv(ToLocalMs(ClampUtc(t)), kMsPerDay));
}

std::chrono::local_days BusinessCalendar::LocalDay(Instant t) const {
  return std::chrono::local_days(std::chrono::days(FloorDiv(ToLocalMs(ClampUtc(t)), kMsPerDay)));
}

year_month_day BusinessCalendar::WorkingDayOnOrAfter(year_month_day local) const {
  return DateOfDayNumber(WorkingDayWithIndex(WorkingDaysBefore(DayNumber(local))));
}

Instant BusinessCalendar::EndOfWorkingHours(year_month_day local) const {
  return FromEpochMillis(FromLocalMs(DayNumber(local) * kMsPerDay + session_end_ms_.back()));
}

std::chrono::local_time<Millis> BusinessCalendar::ToLocal(Instant t) const {
  return std::chrono::local_time<Millis>{Millis{ToLocalMs(ClampUtc(t))}};
}

Instant BusinessCalendar::FromLocal(std::chrono::local_time<Millis> local) const {
  return FromEpochMillis(FromLocalMs(local.time_since_epoch().count()));
}

std::string FormatDate(year_month_day d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(d.year()),
                static_cast<unsigned>(d.month()), static_cast<unsigned>(d.day()));
  return buf;
}

}  // namespace iocstream::rules
