// BusinessCalendar: the working-time calendar that legal deadlines are counted on, and the
// deadline arithmetic itself (NgayHenTra = NgayTiepNhan + the procedure's legal duration).
//
// What it is. A calendar is built from a CalendarSpec, a plain value that the app loads from
// one YAML file per year (config/calendars/vn-YYYY.yaml, see src/app/rules_config.h) and merges.
// It knows the local time zone (Asia/Ho_Chi_Minh, converted through the date-tz library's IANA
// database, never a hard-coded +7), the daily working sessions (default 07:00-11:30 and
// 13:30-17:00), the weekly days off (Saturday, Sunday), and for each loaded year the public
// holidays, compensatory and swapped days off and make-up working days ("làm bù").
//
// Rules and their sources (shared/reference/domain.md §1.4):
// - Public holidays: Labour Code 2019 Art. 112 (1 Jan; Tết, 5 days; Hùng Kings 10/3 lunar;
//   30 Apr; 1 May; 2 Sep + an adjacent day). A holiday on a weekly day off gives a
//   compensatory day off on the next working day (Art. 111(3)). Exact dates, swaps and make-up
//   Saturdays come from each year's government notice, so they are data, not code.
// - Working-time units: 1 working day = 8 working hours, half a day = 4 (domain.md R11, the
//   Thanh Hóa production system). Counting starts at the receipt instant; a receipt outside
//   working hours counts from the next working session (before 07:00 → 07:00, lunch → 13:30,
//   after 17:00 → 07:00 on the next working day).
// - Calendar days: the period starts on the day after receipt (Civil Code 2015 Art. 147) and
//   ends at the end of its last day, taken as the end of the last working session (17:00): the
//   office closes then, and a result due "on day D" must be handed over by the end of D's
//   working hours. A last day that is a day off moves to the next working day (Art. 148).
// - Months: the same day number N months later, clamped to the end of a shorter month (31 Jan
//   + 1 month → 28 or 29 Feb), with the same end-of-day and day-off rules (Art. 147/148).
//
// Years that are not loaded. Days in years that no loaded spec covers follow the weekly rule
// only (Monday-Friday work, no holidays): a deadline that runs past the last loaded year is
// still computed, but ignores that year's holidays until its calendar file is added.
//
// Cost. The constructor precomputes, for every day of the loaded years, whether it is a
// working day and a prefix count of working days, plus the time zone's UTC-offset history.
// Days outside the table use a closed weekly formula. DueAt, AddWorkingTime and
// WorkingTimeBetween are O(log z) where z is the number of UTC-offset changes of the zone
// (about ten for Asia/Ho_Chi_Minh), with no loop over days or minutes.
//
// Instants are UTC (core/types.h); local dates and times appear only in this module.
// Supported instants: 1900-01-01 to 2199-12-31 UTC; instants outside are clamped to that
// range, as are working durations above kMaxWorkingTime.
//
// Thread-safety: immutable after Create(); any number of threads may call the const methods
// concurrently. No method reads a clock, throws, or allocates.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "iocstream/core/result.h"
#include "iocstream/core/types.h"

namespace date {
class time_zone;
}  // namespace date

namespace iocstream::rules {

// Unit of a legal processing time (DonViTinh, domain.md §1.4).
enum class DurationUnit : uint8_t {
  kWorkingHours = 0,  // giờ: working hours on the business calendar
  kWorkingDays = 1,   // ngày làm việc: 8 working hours each (R11)
  kCalendarDays = 2,  // ngày: calendar days, Civil Code 2015 Art. 147/148
  kMonths = 3,        // tháng: calendar months, Civil Code 2015 Art. 147/148
};

// Wire and config names: "working_hours", "working_days", "calendar_days", "months".
std::string_view ToString(DurationUnit unit);
std::optional<DurationUnit> ParseDurationUnit(std::string_view name);

// A legal processing time, e.g. {0.5, kWorkingDays} (half a day = 4 working hours) or
// {15, kCalendarDays}. Calendar days and months are rounded up to whole units.
struct LegalDuration {
  double amount = 0;
  DurationUnit unit = DurationUnit::kWorkingDays;
  bool operator==(const LegalDuration&) const = default;
};

inline constexpr Millis kWorkingHour = std::chrono::hours(1);
inline constexpr Millis kWorkingDay = std::chrono::hours(8);  // R11: 1 working day = 8 h
// Longest working duration honoured: 110,000 working days, more than the working time between
// any two supported instants (1900-2199: 109,573 days), so that an instant that far from
// another is reached exactly. Longer ones are clamped. (At 36,500 working days, about 140
// years, the warnings of a due time further from its receipt were clamped to receipt + 140
// years, a QA finding.)
inline constexpr Millis kMaxWorkingTime = kWorkingDay * 110'000;

// The working time of a duration in a working-time unit (hours or working days), rounded to
// the millisecond; nullopt for calendar days and months, whose length depends on the start.
// Negative or non-finite amounts count as zero.
std::optional<Millis> WorkingTimeOf(LegalDuration duration);

// One daily working session, in local time of day: [start, end).
struct WorkingSession {
  std::chrono::minutes start{0};
  std::chrono::minutes end{0};
  bool operator==(const WorkingSession&) const = default;
};

// Why a listed day differs from the weekly rule.
enum class SpecialDayKind : uint8_t {
  kPublicHoliday = 0,       // Labour Code 2019 Art. 112 holiday (Tết days included)
  kCompensatoryDayOff = 1,  // holiday fell on a weekly day off (Art. 111(3))
  kSwappedDayOff = 2,       // working day moved to a make-up Saturday by government notice
  kMakeUpWorkingDay = 3,    // "làm bù": a weekly day off that is worked
};

// Config names: "holiday", "compensatory", "swapped", "make_up".
std::string_view ToString(SpecialDayKind kind);
std::optional<SpecialDayKind> ParseSpecialDayKind(std::string_view name);

struct SpecialDay {
  std::chrono::year_month_day date;  // local date
  SpecialDayKind kind = SpecialDayKind::kPublicHoliday;
  std::string reason;  // human text with the notice that decided it
};

// The default sessions: 07:00-11:30 and 13:30-17:00 (R11; public-office hours).
std::vector<WorkingSession> DefaultWorkingSessions();

// Plain description of a calendar; no validation until BusinessCalendar::Create.
struct CalendarSpec {
  std::string time_zone = "Asia/Ho_Chi_Minh";  // IANA name
  std::vector<WorkingSession> sessions = DefaultWorkingSessions();
  std::vector<std::chrono::weekday> weekly_days_off = {std::chrono::Saturday, std::chrono::Sunday};
  // Years whose special days are listed here (and complete). Other years: weekly rule only.
  std::vector<std::chrono::year> years;
  std::vector<SpecialDay> special_days;  // every date must lie in one of `years`
};

// Merges one-year specs into one. Errors (kInvalidArgument) when they disagree on the time
// zone, sessions or weekly days off, or when a year appears twice.
[[nodiscard]] Result<CalendarSpec> MergeCalendarSpecs(const std::vector<CalendarSpec>& specs);

class BusinessCalendar {
 public:
  // Validates `spec` and precomputes the day tables. Errors (kInvalidArgument): unknown time
  // zone; no session, a session outside [00:00, 24:00] or with end <= start, overlapping
  // sessions; every weekday off; a year outside [1900, 2199]; a special day that is not a
  // valid date, lies outside `years`, is listed twice with different kinds, is a make-up day
  // that is already a working day, or a day off that is already a weekly day off but not a
  // public holiday.
  [[nodiscard]] static Result<BusinessCalendar> Create(CalendarSpec spec);

  // The due instant (UTC) of a dossier received at `received` (UTC) with legal duration `d`:
  // - working hours / working days: AddWorkingTime(received, amount × 1 h / × 8 h) (R11);
  // - calendar days: last day = local receipt date + ceil(amount) days, whatever the time of
  //   receipt (Art. 147); months: the same day number ceil(amount) months later, clamped to
  //   the month's end. Due at the end of the last session (17:00) of that day, or of the next
  //   working day when it is a day off (Art. 148); a make-up Saturday is a working day.
  // Negative or non-finite amounts count as zero (due at receipt for working units, at 17:00
  // on the receipt day, or the next working day, for calendar units).
  [[nodiscard]] Instant DueAt(Instant received, LegalDuration d) const;

  // The earliest instant at which `working` of working time has elapsed since `start`, both
  // UTC. Time outside working sessions and on days off does not count, so a start outside
  // working hours counts from the next session. A result that lands on a session end is that
  // end (8 h from 07:00 → 17:00 the same day, not 07:00 the next). `working` <= 0 → `start`.
  [[nodiscard]] Instant AddWorkingTime(Instant start, Millis working) const;

  // Working time in [a, b) (UTC instants); zero if b <= a. Inverse of AddWorkingTime:
  // WorkingTimeBetween(t, AddWorkingTime(t, w)) == w for every t and w >= 0.
  [[nodiscard]] Millis WorkingTimeBetween(Instant a, Instant b) const;

  // The deadline arithmetic of one start instant (a receipt), with the start's place on the
  // calendar computed once: a receipt asks for its due time, the working time to it and two
  // "due soon" instants, each of which computed that place again (about half of the
  // receipt's calendar work). Each method returns exactly what the calendar's method of the
  // same meaning returns for `start` (those methods are this class's, with a start of their
  // own). A plain value, valid as long as its calendar; as thread-safe as it.
  class WorkingTimeFrom {
   public:
    [[nodiscard]] Instant start() const { return start_; }
    // DueAt(start, d).
    [[nodiscard]] Instant DueAt(LegalDuration d) const;
    // AddWorkingTime(start, working).
    [[nodiscard]] Instant Add(Millis working) const;
    // WorkingTimeBetween(start, b).
    [[nodiscard]] Millis To(Instant b) const;

   private:
    friend class BusinessCalendar;
    WorkingTimeFrom(const BusinessCalendar& calendar, Instant start);
    const BusinessCalendar* calendar_;
    Instant start_;
    int64_t local_ms_;  // start's local time (clamped to the supported range)
    int64_t position_;  // its working position (WorkingPosition)
  };
  [[nodiscard]] WorkingTimeFrom From(Instant start) const { return {*this, start}; }

  // Whether a local date is a working day: not a weekly day off (unless a make-up working
  // day) and not a holiday, compensatory or swapped day off. Invalid dates → false.
  [[nodiscard]] bool IsWorkingDay(std::chrono::year_month_day local) const;

  // How many local dates in [first, last] (both included) are not working days: weekly days
  // off that are not make-up days, holidays, compensatory and swapped days off. 0 when last <
  // first or a date is invalid. O(1) per call, like the working-day counts.
  [[nodiscard]] int64_t DaysOffIn(std::chrono::year_month_day first,
                                  std::chrono::year_month_day last) const;

  // The listed special days (make-up working days included) dated in [first, last], in date
  // order: a view into spec().special_days, valid as long as this calendar. O(log n).
  [[nodiscard]] std::span<const SpecialDay> SpecialDaysIn(std::chrono::year_month_day first,
                                                          std::chrono::year_month_day last) const;

  // Whether `t` lies inside a working session of a working day.
  [[nodiscard]] bool IsWorkingTime(Instant t) const;

  // The local (calendar time zone) date of a UTC instant.
  [[nodiscard]] std::chrono::year_month_day LocalDate(Instant t) const;
  // The same day as a day count (orders as LocalDate does, without building the date).
  [[nodiscard]] std::chrono::local_days LocalDay(Instant t) const;

  // The first working day on or after `local` (Civil Code 2015 Art. 148).
  [[nodiscard]] std::chrono::year_month_day WorkingDayOnOrAfter(
      std::chrono::year_month_day local) const;

  // End of working hours (end of the last session, 17:00 by default) of a local date, UTC.
  [[nodiscard]] Instant EndOfWorkingHours(std::chrono::year_month_day local) const;

  // Local wall-clock time of a UTC instant, and back. A local time that does not exist (a
  // daylight-saving gap) maps to the transition; an ambiguous one to the earlier instant.
  [[nodiscard]] std::chrono::local_time<Millis> ToLocal(Instant t) const;
  [[nodiscard]] Instant FromLocal(std::chrono::local_time<Millis> local) const;

  const CalendarSpec& spec() const { return spec_; }

 private:
  struct OffsetSegment {
    int64_t utc_begin_ms;  // first UTC millisecond of the segment
    int64_t offset_ms;     // local - UTC
  };

  BusinessCalendar() = default;

  // Day numbers are local days since 1970-01-01.
  int64_t WorkingDaysBefore(int64_t day) const;      // signed count of working days before `day`
  int64_t WorkingDayWithIndex(int64_t index) const;  // inverse: the working day numbered index
  int64_t WeeklyWorkingDaysBefore(int64_t day) const;
  int64_t WeeklyWorkingDayWithIndex(int64_t index) const;
  bool IsWorkingDayNumber(int64_t day) const;
  int64_t WorkingPosition(int64_t local_ms) const;  // working ms since the day-0 origin
  int64_t WorkedInDayUntil(int64_t time_of_day_ms) const;
  int64_t TimeOfDayAfterWorking(int64_t worked_ms) const;  // worked_ms in (0, day_work_ms_]
  int64_t ToLocalMs(int64_t utc_ms) const;
  int64_t FromLocalMs(int64_t local_ms) const;
  Instant EndOfPeriod(int64_t last_day) const;
  // The instant at working position `target` (> the position of some instant: a working day's
  // work then holds it): the end of a session when it lands on one.
  Instant AtWorkingPosition(int64_t target) const;
  // DueAt of a receipt whose local time is `local_ms`, for calendar units (days, months).
  Instant CalendarDueAt(int64_t local_ms, LegalDuration d) const;

  CalendarSpec spec_;
  const date::time_zone* zone_ = nullptr;  // owned by the date-tz database (process lifetime)
  std::vector<OffsetSegment> offsets_;     // UTC-offset history over the supported range
  // Local ms from which only offsets_.back() applies (no earlier segment holds them): the fast
  // path of FromLocalMs, as offsets_.back().utc_begin_ms is ToLocalMs's.
  int64_t last_local_unambiguous_ms_ = 0;

  // Sessions in local ms of day, sorted.
  std::vector<int64_t> session_begin_ms_;
  std::vector<int64_t> session_end_ms_;
  std::vector<int64_t> worked_before_session_ms_;
  int64_t day_work_ms_ = 0;  // working ms of one working day (sum of sessions)

  // Weekly rule, indexed by days since Monday.
  std::array<bool, 7> weekly_working_{};
  std::array<int64_t, 8> weekly_prefix_{};  // working weekdays among the first r of a week
  std::array<int64_t, 7> weekly_nth_{};     // position of the n-th working weekday
  int64_t weekly_count_ = 0;

  // Day table over the loaded years: [table_first_day_, table_first_day_ + size).
  int64_t table_first_day_ = 0;
  std::vector<uint8_t> table_working_;
  std::vector<int32_t> table_prefix_;        // working days before table day i (size + 1)
  std::vector<int32_t> table_working_days_;  // table day offsets of working days, in order
  int64_t table_base_ = 0;                   // WeeklyWorkingDaysBefore(table_first_day_)
  int64_t after_table_shift_ = 0;            // count correction for days after the table
};

// `d` as "YYYY-MM-DD" (the calendar files' dates; ISO 8601).
[[nodiscard]] std::string FormatDate(std::chrono::year_month_day d);

}  // namespace iocstream::rules
