// Helpers shared by the rules tests: the shipped calendar and local-time conversions that go
// through the date-tz library directly (not through the code under test).
#pragma once

#include <date/tz.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "app/rules_config.h"
#include "iocstream/core/dossier_event.h"
#include "iocstream/core/types.h"
#include "iocstream/rules/business_calendar.h"

namespace iocstream::rules::testing {

inline std::string SourcePath(const std::string& relative) {
  return std::string(IOCSTREAM_SOURCE_DIR) + "/" + relative;
}

// The shipped 2025 + 2026 calendar, loaded once.
inline const BusinessCalendar& ShippedCalendar() {
  static const BusinessCalendar* calendar = [] {
    auto loaded = app::LoadBusinessCalendar(
        {SourcePath("config/calendars/vn-2025.yaml"), SourcePath("config/calendars/vn-2026.yaml")});
    if (!loaded) {
      std::fprintf(stderr, "cannot load the shipped calendar: %s\n",
                   loaded.error().message.c_str());
      std::abort();
    }
    return new BusinessCalendar(std::move(*loaded));
  }();
  return *calendar;
}

inline const date::time_zone* VietnamZone() {
  static const date::time_zone* zone = date::locate_zone("Asia/Ho_Chi_Minh");
  return zone;
}

// "YYYY-MM-DD HH:MM" local Asia/Ho_Chi_Minh → UTC instant (through date-tz).
inline Instant Local(const std::string& text) {
  int y = 0;
  unsigned mo = 0, d = 0, h = 0, mi = 0;
  if (std::sscanf(text.c_str(), "%d-%u-%u %u:%u", &y, &mo, &d, &h, &mi) != 5) std::abort();
  const auto local = date::local_days{date::year{y} / date::month{mo} / date::day{d}} +
                     std::chrono::hours(h) + std::chrono::minutes(mi);
  return std::chrono::time_point_cast<Millis>(
      VietnamZone()->to_sys(date::local_time<Millis>{local}, date::choose::earliest));
}

// UTC instant → "YYYY-MM-DD HH:MM" local (seconds shown only when not zero).
inline std::string FormatLocal(Instant t) {
  const auto local = VietnamZone()->to_local(t);
  const auto day = std::chrono::floor<std::chrono::days>(local);
  const std::chrono::year_month_day ymd{std::chrono::sys_days{day.time_since_epoch()}};
  const auto ms = (local - day).count();
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u %02lld:%02lld", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<long long>(ms / 3'600'000), static_cast<long long>(ms / 60'000 % 60));
  std::string out = buf;
  if (ms % 60'000 != 0) out += ":" + std::to_string(ms % 60'000 / 1000.0);
  return out;
}

// Calls check(apply(events in that order), "arrival order <event ids>") for every arrival
// order of `events`; returns how many orders there were (n! for n events).
template <typename Apply, typename Check>
size_t ForEveryArrivalOrder(const std::vector<DossierEvent>& events, Apply apply, Check check) {
  std::vector<size_t> order(events.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  size_t orders = 0;
  do {
    std::vector<DossierEvent> shuffled;
    std::string names;
    for (size_t i : order) {
      shuffled.push_back(events[i]);
      names += events[i].event_id + " ";
    }
    check(apply(shuffled), "arrival order " + names);
    ++orders;
  } while (std::next_permutation(order.begin(), order.end()));
  return orders;
}

}  // namespace iocstream::rules::testing
