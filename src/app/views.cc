#include "app/views.h"

#include <array>
#include <cstdio>
#include <utility>
#include <vector>

#include "app/rules_config.h"
#include "iocstream/core/utf8.h"
#include "iocstream/decode/rfc3339.h"
#include "iocstream/rules/dossier_state_machine.h"

namespace iocstream::app {
namespace {

nlohmann::ordered_json Time(const std::optional<Instant>& t) {
  return t ? nlohmann::ordered_json(FormatRfc3339Utc(*t)) : nlohmann::ordered_json(nullptr);
}

// The name of a listed day off: its reason up to the first ',' or '(', trimmed.
std::string DayOffName(const rules::SpecialDay& day) {
  std::string_view reason = day.reason;
  reason = reason.substr(0, reason.find_first_of(",("));
  while (!reason.empty() && reason.back() == ' ') reason.remove_suffix(1);
  while (!reason.empty() && reason.front() == ' ') reason.remove_prefix(1);
  return reason.empty() ? std::string(rules::ToString(day.kind)) : std::string(reason);
}

}  // namespace

std::optional<DaysOffSkipped> DaysOffSkippedOf(const DossierState& s,
                                               const rules::BusinessCalendar& calendar) {
  if (!s.received_at || !s.due_at) return std::nullopt;
  const auto first = calendar.LocalDate(*s.received_at);
  const auto last = calendar.LocalDate(*s.due_at);
  DaysOffSkipped out;
  out.count = calendar.DaysOffIn(first, last);
  for (const rules::SpecialDay& day : calendar.SpecialDaysIn(first, last)) {
    if (day.kind == rules::SpecialDayKind::kMakeUpWorkingDay) continue;
    std::string name = DayOffName(day);
    if (!out.named.empty()) {
      DaysOffSkipped::Named& run = out.named.back();
      const auto next = std::chrono::sys_days{run.last} + std::chrono::days(1);
      if (run.name == name && run.kind == day.kind && std::chrono::sys_days{day.date} == next) {
        run.last = day.date;
        continue;
      }
    }
    out.named.push_back({std::move(name), day.kind, day.date, day.date});
  }
  return out;
}

std::string FormatNamedDaysOff(const std::vector<DaysOffSkipped::Named>& named) {
  std::string out;
  for (const auto& run : named) {
    if (!out.empty()) out += "; ";
    out += run.name + " " + rules::FormatDate(run.first);
    if (run.last != run.first) out += ".." + rules::FormatDate(run.last);
  }
  return out;
}

Instant DossierClocks::For(const DossierState& d) {
  if (!watermark_clock_) return now_;
  auto [it, inserted] = watermarks_.try_emplace(d.partition, Instant::min());
  if (inserted) {
    auto stored = store_.GetWatermark(d.partition);
    if (stored && *stored) it->second = **stored;
  }
  return it->second;
}

nlohmann::ordered_json DossierJson(const DossierState& s, Instant as_of,
                                   const rules::BusinessCalendar* calendar) {
  nlohmann::ordered_json j;
  j["dossier_id"] = s.dossier_id;
  j["department"] = s.agency_code;
  j["commune"] = s.commune_code;
  j["procedure_code"] = s.procedure_code;
  j["channel"] = ToString(s.channel);
  j["current_unit"] = s.current_unit.empty() ? s.agency_code : s.current_unit;
  j["status"] = ToString(s.status);
  j["outcome"] = ToString(s.outcome);
  j["overdue_now"] = rules::IsOverdueAt(s, as_of);
  j["submitted_at"] = Time(s.submitted_at);
  j["received_at"] = Time(s.received_at);
  j["due_at"] = Time(s.due_at);
  j["completed_at"] = Time(s.completed_at);
  j["returned_at"] = Time(s.returned_at);
  j["closed_at"] = Time(s.closed_at);
  j["step_due_at"] = Time(s.step_due_at);
  j["rescheduled_due_at"] = Time(s.rescheduled_due_at);
  nlohmann::ordered_json explain;
  explain["due_source"] = ToString(s.due_source);
  explain["original_due_at"] = Time(s.original_due_at);
  explain["paused_ms"] = s.paused_ms;
  explain["paused_since"] = Time(s.paused_since);
  explain["supplement_requests"] = s.supplement_requests;
  // kpi766: waiting on the applicant, counted finished at the request (Decision 766, §1.3).
  explain["kpi766_finished_at_request"] = s.kpi766_finished_at_request;
  explain["warning_at"] = Time(s.warning_at);
  explain["hours_left_warning_at"] = Time(s.hours_left_warning_at);
  // Judged against the deadline in force (due_at), not as the apology arrived.
  explain["apology_issued"] = rules::ApologyIssuedInTime(s);
  explain["apology_at"] = Time(s.apology_at);
  if (calendar != nullptr) {
    const auto skipped = DaysOffSkippedOf(s, *calendar);
    nlohmann::ordered_json named = nlohmann::ordered_json::array();
    if (skipped) {
      for (const auto& run : skipped->named) {
        named.push_back({{"name", run.name},
                         {"kind", rules::ToString(run.kind)},
                         {"first", rules::FormatDate(run.first)},
                         {"last", rules::FormatDate(run.last)}});
      }
    }
    explain["days_off_skipped"] =
        skipped ? nlohmann::ordered_json(skipped->count) : nlohmann::ordered_json(nullptr);
    explain["days_off_named"] = std::move(named);
    // Years from the receipt date to the due date without a calendar file: their holidays
    // are in neither the due time nor days_off_skipped (config/calendars/README.md).
    nlohmann::ordered_json not_loaded = nlohmann::ordered_json::array();
    if (s.received_at && s.due_at) {
      for (const std::chrono::year y :
           UnloadedYears(calendar->spec().years, calendar->LocalDate(*s.received_at).year(),
                         calendar->LocalDate(*s.due_at).year())) {
        not_loaded.push_back(static_cast<int>(y));
      }
    }
    explain["years_not_loaded"] = std::move(not_loaded);
  }
  j["deadline"] = std::move(explain);
  // The alerts raised for the deadline in force (a deadline moved past the clock re-arms its
  // alerts): the rules set a warning's flag only with its alert (a warning due after the
  // deadline raises the breach instead).
  // Late data: the timers due when it arrived (one at least: the floor is set only then) do
  // not fire before the floor, on the clock its timers run on (`as_of`: the wall clock or its
  // partition's watermark); shown while it still holds them back, i.e. the dossier is open
  // (only open dossiers have timers) and the clock before it.
  const bool held = rules::IsOpen(s) && s.timer_floor && as_of < *s.timer_floor;
  j["alerts"] = {{"warning", s.warning_fired},
                 {"hours_left_warning", s.hours_left_warning_fired},
                 {"breach", s.breach_fired},
                 {"step_breaches", s.step_breaches},
                 {"held_until", held ? Time(s.timer_floor) : nlohmann::ordered_json(nullptr)}};
  j["first_event_at"] = FormatRfc3339Utc(s.first_event_at);
  j["last_event_at"] = FormatRfc3339Utc(s.last_event_at);
  j["partition"] = s.partition.value();
  return j;
}

std::map<std::string, AggregateCounters> PerDepartment(
    const aggregate::AggregateTable::Rows& rows) {
  std::map<std::string, AggregateCounters> out;
  for (const auto& [key, counters] : rows) out[key.agency_code] += counters;
  return out;
}

std::string JoinPartitions(const std::set<PartitionId>& partitions, std::string_view separator) {
  std::string out;
  for (const PartitionId p : partitions) {
    if (!out.empty()) out += separator;
    out += std::to_string(p.value());
  }
  return out;
}

namespace {
// The counts of KpisJson, by name: what it writes and KpisFromJson reads.
constexpr std::array<std::pair<const char*, int64_t aggregate::Kpis::*>, 11> kKpiCounts = {{
    {"received", &aggregate::Kpis::received},
    {"completed", &aggregate::Kpis::completed},
    {"completed_on_time", &aggregate::Kpis::completed_on_time},
    {"completed_late", &aggregate::Kpis::completed_late},
    {"waiting_applicant", &aggregate::Kpis::waiting_applicant},
    {"waiting_applicant_late", &aggregate::Kpis::waiting_applicant_late},
    {"open", &aggregate::Kpis::open},
    {"open_overdue", &aggregate::Kpis::open_overdue},
    {"open_due_soon", &aggregate::Kpis::open_due_soon},
    {"cancelled", &aggregate::Kpis::cancelled},
    {"finished_without_receipt", &aggregate::Kpis::finished_without_receipt},
}};
}  // namespace

nlohmann::ordered_json KpisJson(const aggregate::Kpis& k) {
  nlohmann::ordered_json j;
  for (const auto& [name, count] : kKpiCounts) j[name] = k.*count;
  j["on_time_rate_766_2_1"] =
      k.on_time_rate ? nlohmann::ordered_json(*k.on_time_rate) : nlohmann::ordered_json(nullptr);
  j["completed_on_time_rate"] = k.completed_on_time_rate
                                    ? nlohmann::ordered_json(*k.completed_on_time_rate)
                                    : nlohmann::ordered_json(nullptr);
  return j;
}

std::optional<aggregate::Kpis> KpisFromJson(const nlohmann::ordered_json& j) {
  if (!j.is_object()) return std::nullopt;
  aggregate::Kpis k;
  for (const auto& [name, count] : kKpiCounts) {
    // A count past kMaxKpiCount (no province has that many dossiers) is not a count: read as
    // int64 it turned negative above 2^63, and a group's sum of them could overflow.
    if (!j.contains(name) || !j[name].is_number_unsigned() ||
        j[name].get<uint64_t>() > kMaxKpiCount) {
      return std::nullopt;
    }
    k.*count = j[name].get<int64_t>();
  }
  return k;
}

nlohmann::ordered_json RecomputeSummaryJson(const RecomputeSummary& summary) {
  nlohmann::ordered_json j;
  j["dossiers_scanned"] = summary.dossiers_scanned;
  j["open_dossiers"] = summary.open_dossiers;
  j["dossiers_changed"] = summary.dossiers_changed;
  j["due_changed"] = summary.due_changed;
  j["timers_moved"] = summary.timers_moved;
  j["timers_added"] = summary.timers_added;
  j["timers_removed"] = summary.timers_removed;
  j["duration_ms"] = summary.duration.count();
  return j;
}

std::string FitColumn(std::string_view text, size_t width) {
  std::string out;
  size_t chars = 0;
  size_t i = 0;
  while (i < text.size() && chars < width) {
    // A UTF-8 sequence: its lead byte says how long it is (continuation bytes 10xxxxxx).
    size_t n = 1;
    while (i + n < text.size() && (static_cast<unsigned char>(text[i + n]) & 0xC0) == 0x80) ++n;
    out.append(text.substr(i, n));
    i += n;
    ++chars;
  }
  if (i < text.size() && chars > 0) {
    // Cut: the last character becomes an ellipsis, so a cut name does not pass for a whole one.
    size_t last = out.size() - 1;
    while (last > 0 && (static_cast<unsigned char>(out[last]) & 0xC0) == 0x80) --last;
    out.resize(last);
    out += "\u2026";
  }
  out.append(width - chars, ' ');
  return out;
}

std::string SummaryTable(const aggregate::AggregateTable::Rows& rows) {
  const auto per_department = PerDepartment(aggregate::AggregateTable::FoldPartitions(rows));
  std::string out;
  size_t width = kDepartmentColumn;
  for (const auto& [department, c] : per_department) {
    width = std::max(width, std::min(CodePoints(department), kMaxDepartmentColumn));
  }
  char line[512];  // 64 characters of up to 4 bytes, and the numbers
  std::snprintf(line, sizeof line, "%s %9s %9s %9s %9s %9s %9s %9s %11s %9s %10s %8s\n",
                FitColumn("department", width).c_str(), "received", "finished", "on_time", "late",
                "no_due", "open", "overdue", "open_no_due", "cancelled", "no_receipt", "on_time%");
  out += line;
  AggregateCounters total;
  auto row = [&](const std::string& name, const AggregateCounters& c) {
    using F = AggregateField;
    // Finished, each dossier once, as the KPIs count them (under kpi766 those waiting on the
    // applicant among them, Decision 766): with a due time on time (early included) or late,
    // or without one, which the KPIs count on time and the table apart.
    const aggregate::Kpis k = aggregate::ComputeKpis(c);
    const int64_t no_due = c[F::kCompletedNoDeadline] + c[F::kWaitingApplicantNoDeadline];
    const int64_t on_time = k.completed_on_time - no_due;
    const int64_t late = k.completed_late;
    // Share of finished dossiers with a due time that finished on time (the columns beside).
    char rate[16] = "-";
    if (on_time + late > 0) {
      std::snprintf(rate, sizeof rate, "%.1f",
                    100.0 * static_cast<double>(on_time) / static_cast<double>(on_time + late));
    }
    std::snprintf(
        line, sizeof line, "%s %9lld %9lld %9lld %9lld %9lld %9lld %9lld %11lld %9lld %10lld %8s\n",
        FitColumn(name.empty() ? "(none)" : name, width).c_str(),
        static_cast<long long>(k.received), static_cast<long long>(k.completed),
        static_cast<long long>(on_time), static_cast<long long>(late),
        static_cast<long long>(no_due), static_cast<long long>(k.open),
        static_cast<long long>(k.open_overdue), static_cast<long long>(c[F::kOpenNoDeadline]),
        static_cast<long long>(k.cancelled), static_cast<long long>(k.finished_without_receipt),
        rate);
    out += line;
  };
  for (const auto& [department, c] : per_department) {
    row(department, c);
    total += c;
  }
  row("TOTAL", total);
  return out;
}

}  // namespace iocstream::app
