#include "app/rules_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <optional>
#include <sstream>

#include "app/input_file.h"
#include "app/yaml_keys.h"

namespace iocstream::app {
namespace {

using rules::CalendarSpec;
using rules::LegalDuration;
using rules::ProcedureRule;
using rules::SpecialDay;
using rules::SpecialDayKind;

// Builds "<source>: <key>: <why>" errors.
class Where {
 public:
  explicit Where(std::string_view source) : source_(source) {}
  Error operator()(std::string_view key, std::string_view why) const {
    return InvalidArgument(source_ + ": " + std::string(key) + ": " + std::string(why));
  }
  const std::string& source() const { return source_; }

 private:
  std::string source_;
};

std::string Indexed(std::string_view key, size_t i) {
  return std::string(key) + "[" + std::to_string(i) + "]";
}

std::string Join(std::string_view a, std::string_view b) {
  return std::string(a) + "." + std::string(b);
}

std::optional<std::string> Scalar(const YAML::Node& node) {
  if (!node.IsDefined() || !node.IsScalar()) return std::nullopt;
  return node.Scalar();
}

// Rejects keys of `map` that are not in `allowed`.
std::optional<Error> CheckKeys(const YAML::Node& map, std::string_view key,
                               std::initializer_list<std::string_view> allowed,
                               const Where& where) {
  for (const auto& kv : map) {
    const std::string name = kv.first.IsScalar() ? kv.first.Scalar() : std::string("?");
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      std::string list;
      for (const auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      return where(key.empty() ? name : Join(key, name),
                   "unknown key (expected one of " + list + ")");
    }
  }
  return std::nullopt;
}

std::optional<int> ParseInt(std::string_view text) {
  int value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

// "YYYY-MM-DD" → a valid date.
std::optional<std::chrono::year_month_day> ParseDate(std::string_view text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  const auto y = ParseInt(text.substr(0, 4));
  const auto m = ParseInt(text.substr(5, 2));
  const auto d = ParseInt(text.substr(8, 2));
  if (!y || !m || !d) return std::nullopt;
  const std::chrono::year_month_day ymd{std::chrono::year{*y},
                                        std::chrono::month{static_cast<unsigned>(*m)},
                                        std::chrono::day{static_cast<unsigned>(*d)}};
  if (*m < 1 || *d < 1 || !ymd.ok()) return std::nullopt;
  return ymd;
}

// "HH:MM" (00:00 to 24:00) → minutes since midnight.
std::optional<std::chrono::minutes> ParseClock(std::string_view text) {
  if (text.size() != 5 || text[2] != ':') return std::nullopt;
  const auto h = ParseInt(text.substr(0, 2));
  const auto m = ParseInt(text.substr(3, 2));
  if (!h || !m || *h < 0 || *m < 0 || *m > 59 || *h > 24 || (*h == 24 && *m != 0)) {
    return std::nullopt;
  }
  return std::chrono::minutes(*h * 60 + *m);
}

std::optional<std::chrono::weekday> ParseWeekday(std::string_view text) {
  static constexpr std::array<std::string_view, 7> kNames = {
      "sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"};
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (unsigned i = 0; i < kNames.size(); ++i) {
    if (lower == kNames[i] || (lower.size() == 3 && kNames[i].substr(0, 3) == lower)) {
      return std::chrono::weekday{i};
    }
  }
  return std::nullopt;
}

Result<std::string> ReadFile(const std::string& path, std::string_view what) {
  // Regular files only, of a bounded size (input_file.h): a directory read as an empty file's
  // content, a FIFO blocked a reload. All are the configuration's mistakes (exit 1, not
  // retried by the service unit).
  if (Status s = CheckInputFile(path, what); !s) return s.error();
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    return Error{err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                 path + ": cannot open: " + std::strerror(err)};
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return IoError(path + ": read failed");
  return text.str();
}

// One entry of days_off or make_up_working_days.
Result<SpecialDay> ParseSpecialDay(const YAML::Node& node, const std::string& key, bool make_up,
                                   const Where& where) {
  if (!node.IsMap()) return where(key, "expected a map {date, kind, reason}");
  if (make_up) {
    if (auto e = CheckKeys(node, key, {"date", "reason"}, where)) return *e;
  } else {
    if (auto e = CheckKeys(node, key, {"date", "kind", "reason"}, where)) return *e;
  }
  SpecialDay day;
  const auto date_text = Scalar(node["date"]);
  if (!date_text) return where(Join(key, "date"), "missing (expected YYYY-MM-DD)");
  const auto date = ParseDate(*date_text);
  if (!date) return where(Join(key, "date"), "'" + *date_text + "' is not a valid YYYY-MM-DD date");
  day.date = *date;
  if (make_up) {
    day.kind = SpecialDayKind::kMakeUpWorkingDay;
  } else {
    const auto kind_text = Scalar(node["kind"]);
    if (!kind_text) return where(Join(key, "kind"), "missing (holiday, compensatory or swapped)");
    const auto kind = rules::ParseSpecialDayKind(*kind_text);
    if (!kind || *kind == SpecialDayKind::kMakeUpWorkingDay) {
      return where(Join(key, "kind"),
                   "expected holiday, compensatory or swapped, got '" + *kind_text + "'");
    }
    day.kind = *kind;
  }
  if (const auto reason = Scalar(node["reason"])) day.reason = *reason;
  return day;
}

Result<CalendarSpec> ParseCalendarNode(const YAML::Node& root, const Where& where) {
  if (!root.IsMap()) return where("(root)", "expected a map");
  if (auto e = CheckKeys(root, "",
                         {"year", "time_zone", "working_sessions", "weekly_days_off", "days_off",
                          "make_up_working_days"},
                         where)) {
    return *e;
  }
  CalendarSpec spec;
  const auto year_text = Scalar(root["year"]);
  const auto year = year_text ? ParseInt(*year_text) : std::nullopt;
  if (!year) return where("year", "missing or not an integer");
  spec.years.push_back(std::chrono::year{*year});

  if (root["time_zone"]) {
    const auto tz = Scalar(root["time_zone"]);
    if (!tz || tz->empty()) return where("time_zone", "expected an IANA name");
    spec.time_zone = *tz;
  }
  if (const YAML::Node sessions = root["working_sessions"]) {
    if (!sessions.IsSequence() || sessions.size() == 0) {
      return where("working_sessions", "expected a non-empty list of {start, end}");
    }
    spec.sessions.clear();
    for (size_t i = 0; i < sessions.size(); ++i) {
      const std::string key = Indexed("working_sessions", i);
      const YAML::Node s = sessions[i];
      if (!s.IsMap()) return where(key, "expected {start: \"HH:MM\", end: \"HH:MM\"}");
      if (auto e = CheckKeys(s, key, {"start", "end"}, where)) return *e;
      const auto start_text = Scalar(s["start"]);
      const auto end_text = Scalar(s["end"]);
      const auto start = start_text ? ParseClock(*start_text) : std::nullopt;
      const auto end = end_text ? ParseClock(*end_text) : std::nullopt;
      if (!start) return where(Join(key, "start"), "missing or not HH:MM");
      if (!end) return where(Join(key, "end"), "missing or not HH:MM");
      spec.sessions.push_back({*start, *end});
    }
  }
  if (const YAML::Node off = root["weekly_days_off"]) {
    if (!off.IsSequence()) return where("weekly_days_off", "expected a list of weekday names");
    spec.weekly_days_off.clear();
    for (size_t i = 0; i < off.size(); ++i) {
      const auto name = Scalar(off[i]);
      const auto wd = name ? ParseWeekday(*name) : std::nullopt;
      if (!wd) return where(Indexed("weekly_days_off", i), "not a weekday name");
      spec.weekly_days_off.push_back(*wd);
    }
  }
  for (const bool make_up : {false, true}) {
    const char* list_key = make_up ? "make_up_working_days" : "days_off";
    const YAML::Node list = root[list_key];
    if (!list) continue;
    if (!list.IsSequence()) return where(list_key, "expected a list");
    for (size_t i = 0; i < list.size(); ++i) {
      auto day = ParseSpecialDay(list[i], Indexed(list_key, i), make_up, where);
      if (!day) return day.error();
      if (static_cast<int>(day->date.year()) != *year) {
        return where(Join(Indexed(list_key, i), "date"),
                     "not in the file's year " + std::to_string(*year));
      }
      spec.special_days.push_back(std::move(*day));
    }
  }
  // Validate the year on its own, so that errors name the file that holds the mistake.
  auto check = rules::BusinessCalendar::Create(spec);
  if (!check) return InvalidArgument(where.source() + ": " + check.error().message);
  return spec;
}

// A duration: "<amount> <unit>" (the generated catalog's compact form) or {amount, unit}.
Result<LegalDuration> ParseDuration(const YAML::Node& node, const std::string& key,
                                    const Where& where) {
  std::string amount_text;
  std::string unit_text;
  if (node.IsScalar()) {
    const std::string& text = node.Scalar();
    const size_t space = text.find(' ');
    if (space == std::string::npos) {
      return where(key, "expected \"<amount> <unit>\", got '" + text + "'");
    }
    amount_text = text.substr(0, space);
    unit_text = text.substr(space + 1);
  } else if (node.IsMap()) {
    if (auto e = CheckKeys(node, key, {"amount", "unit"}, where)) return *e;
    const auto amount = Scalar(node["amount"]);
    if (!amount) return where(Join(key, "amount"), "missing");
    amount_text = *amount;
    unit_text = Scalar(node["unit"]).value_or("");
  } else {
    return where(key, "expected \"<amount> <unit>\" or {amount, unit}");
  }
  double amount = 0;
  const auto [ptr, ec] =
      std::from_chars(amount_text.data(), amount_text.data() + amount_text.size(), amount);
  if (ec != std::errc() || ptr != amount_text.data() + amount_text.size()) {
    return where(Join(key, "amount"), "'" + amount_text + "' is not a number");
  }
  if (!std::isfinite(amount) || amount < 0) {
    return where(Join(key, "amount"), "must be a finite number >= 0");
  }
  const auto unit = rules::ParseDurationUnit(unit_text);
  if (!unit) {
    return where(
        Join(key, "unit"),
        "expected working_hours, working_days, calendar_days or months, got '" + unit_text + "'");
  }
  // From a working minute to a hundred years: 0 (or a fraction of a minute) made every
  // dossier of the procedure breach at its receipt, and calendar amounts past a hundred years
  // were cut to it without a word (a helper's findings). Calendar amounts round up to whole
  // days or months.
  double low = 0;  // exclusive for calendar units
  double high = 36'500;
  switch (*unit) {
    case rules::DurationUnit::kWorkingHours:
      low = 1.0 / 60;
      high = 8.0 * 36'500;
      break;
    case rules::DurationUnit::kWorkingDays:
      low = 1.0 / 480;
      break;
    case rules::DurationUnit::kCalendarDays:
      break;
    case rules::DurationUnit::kMonths:
      high = 1'200;
      break;
  }
  if (amount == 0) {
    return where(Join(key, "amount"),
                 "must be more than 0 (within the day: 8 working_hours; leave a channel without "
                 "a legal time out)");
  }
  if (amount < low) {
    return where(Join(key, "amount"),
                 amount_text + " " + unit_text + " is less than one working minute");
  }
  if (amount > high) {
    return where(Join(key, "amount"),
                 amount_text + " " + unit_text + " is more than a hundred years (at most " +
                     std::to_string(static_cast<int64_t>(high)) + " " + unit_text + ")");
  }
  return LegalDuration{amount, *unit};
}

// One entry of `procedures`. Walks the map once (the catalog has thousands of entries and
// yaml-cpp's keyed lookups are linear scans).
Result<ProcedureRule> ParseProcedure(const YAML::Node& p, const std::string& key,
                                     const Where& where) {
  if (!p.IsMap()) return where(key, "expected a map");
  ProcedureRule rule;
  bool has_code = false;
  for (const auto& kv : p) {
    const std::string name = kv.first.IsScalar() ? kv.first.Scalar() : std::string("?");
    const YAML::Node& value = kv.second;
    const std::string field = Join(key, name);
    std::optional<LegalDuration>* slot = nullptr;
    if (name == "code") {
      const auto code = Scalar(value);
      const std::string_view base = code ? rules::NormaliseProcedureCode(*code) : "";
      if (base.empty()) return where(field, "'" + code.value_or("") + "' is not a procedure code");
      rule.code = std::string(base);
      has_code = true;
    } else if (name == "name") {
      rule.name = Scalar(value).value_or("");
    } else if (name == "in_person") {
      slot = &rule.in_person;
    } else if (name == "online") {
      slot = &rule.online;
    } else if (name == "postal") {
      slot = &rule.postal;
    } else if (name == "pause_policy") {
      const auto text = Scalar(value);
      const auto policy = text ? rules::ParsePausePolicy(*text) : std::nullopt;
      if (!policy) return where(field, "expected pause, restart or kpi766");
      rule.pause_policy = *policy;
    } else {
      return where(field,
                   "unknown key (expected one of code, name, in_person, online, postal, "
                   "pause_policy)");
    }
    if (slot != nullptr) {
      auto duration = ParseDuration(value, field, where);
      if (!duration) return duration.error();
      *slot = *duration;
    }
  }
  if (!has_code) return where(Join(key, "code"), "missing");
  return rule;
}

Result<rules::ProcedureCatalog> ParseCatalogNode(const YAML::Node& root, const Where& where) {
  if (!root.IsMap()) return where("(root)", "expected a map");
  if (auto e = CheckKeys(root, "", {"version", "source", "procedures"}, where)) return *e;
  const auto version = Scalar(root["version"]);
  if (!version || *version != "1") return where("version", "expected 1");
  const YAML::Node list = root["procedures"];
  if (!list || !list.IsSequence()) return where("procedures", "expected a list");
  std::vector<ProcedureRule> rules;
  rules.reserve(list.size());
  size_t i = 0;
  for (const auto& p : list) {
    auto rule = ParseProcedure(p, Indexed("procedures", i++), where);
    if (!rule) return rule.error();
    rules.push_back(std::move(*rule));
  }
  auto catalog = rules::ProcedureCatalog::Create(std::move(rules));
  if (!catalog) return InvalidArgument(where.source() + ": " + catalog.error().message);
  return catalog;
}

// Runs a parser over YAML text, turning yaml-cpp exceptions into errors.
template <typename Parse>
auto ParseYaml(std::string_view yaml, std::string_view source, Parse parse)
    -> decltype(parse(YAML::Node{}, Where{source})) {
  const Where where(source);
  try {
    const std::optional<YAML::Node> single = SingleDocument(YAML::LoadAll(std::string(yaml)));
    if (!single) return InvalidArgument(where.source() + ": " + kSeveralDocuments);
    const YAML::Node root = *single;
    if (const auto repeated = FindRepeatedKey(root)) {
      return InvalidArgument(where.source() + ": line " + std::to_string(repeated->line) + ": " +
                             repeated->path +
                             " given twice (only the first would be read: merge the two)");
    }
    return parse(root, where);
  } catch (const YAML::Exception& e) {
    return InvalidArgument(where.source() + ": line " + std::to_string(e.mark.line + 1) + ": " +
                           e.msg);
  } catch (const std::exception& e) {
    return InvalidArgument(where.source() + ": " + e.what());
  }
}

}  // namespace

Result<CalendarSpec> ParseCalendarYaml(std::string_view yaml, std::string_view source) {
  return ParseYaml(yaml, source, ParseCalendarNode);
}

Result<CalendarSpec> LoadCalendarFile(const std::string& path) {
  auto text = ReadFile(path, "calendar file");
  if (!text) return text.error();
  return ParseCalendarYaml(*text, path);
}

Result<rules::BusinessCalendar> LoadBusinessCalendar(const std::vector<std::string>& paths) {
  if (paths.empty()) return InvalidArgument("calendar: no calendar file given");
  std::vector<CalendarSpec> specs;
  for (const std::string& path : paths) {
    auto spec = LoadCalendarFile(path);
    if (!spec) return spec.error();
    specs.push_back(std::move(*spec));
    auto merged = rules::MergeCalendarSpecs(specs);
    if (!merged) return InvalidArgument(path + ": " + merged.error().message);
  }
  auto merged = rules::MergeCalendarSpecs(specs);
  if (!merged) return merged.error();
  auto calendar = rules::BusinessCalendar::Create(std::move(*merged));
  if (!calendar) return InvalidArgument("calendar: " + calendar.error().message);
  return calendar;
}

std::vector<std::chrono::year> UnloadedYears(std::span<const std::chrono::year> loaded,
                                             std::chrono::year from, std::chrono::year to) {
  std::vector<std::chrono::year> out;
  for (std::chrono::year y = from; y <= to; ++y) {
    if (std::find(loaded.begin(), loaded.end(), y) == loaded.end()) out.push_back(y);
  }
  return out;
}

CalendarCoverage CalendarCoverageOf(std::span<const std::chrono::year> loaded,
                                    std::chrono::year_month_day today) {
  using std::chrono::year;
  std::vector<year> years(loaded.begin(), loaded.end());
  std::sort(years.begin(), years.end());
  years.erase(std::unique(years.begin(), years.end()), years.end());
  CalendarCoverage c;
  c.first_unloaded = today.year();
  while (std::binary_search(years.begin(), years.end(), c.first_unloaded)) ++c.first_unloaded;
  if (!years.empty()) {
    c.first_loaded = years.front();
    c.last_loaded = years.back();
    c.gaps = UnloadedYears(years, years.front(), years.back());
  }
  c.days_left = std::chrono::sys_days{c.first_unloaded / std::chrono::January / 1} -
                std::chrono::sys_days{today};
  return c;
}

namespace {

std::string YearText(std::chrono::year y) { return std::to_string(static_cast<int>(y)); }

}  // namespace

std::vector<std::string> CalendarCoverageWarnings(const CalendarCoverage& coverage,
                                                  std::chrono::year_month_day today) {
  using std::chrono::December;
  std::vector<std::string> out;
  const std::string next = YearText(coverage.first_unloaded);
  const std::string end =
      rules::FormatDate((coverage.first_unloaded - std::chrono::years{1}) / December / 31);
  // No path: the files may be in the source tree, an install's share/iocstream/calendars or
  // the operator's own directory (an operator's trial was sent to a source-tree path).
  const std::string fix = "write the year's file (vn-" + next +
                          ".yaml, format in calendars/README.md) and list it under "
                          "calendar.files once the government publishes the year's schedule";
  if (coverage.days_left <= std::chrono::days{0}) {
    out.push_back("calendar: no file loaded for the current year " + next + " (local date " +
                  rules::FormatDate(today) + "): deadlines after " + end +
                  " skip no holiday: " + fix);
  } else if (coverage.days_left <= kCalendarCoverageWarningDays) {
    out.push_back("calendar: no file loaded for " + next + ": the loaded years end on " + end +
                  ", in " + std::to_string(coverage.days_left.count()) + " days (local date " +
                  rules::FormatDate(today) + "); deadlines after " + end +
                  " skip no holiday: " + fix);
  }
  if (!coverage.gaps.empty()) {
    std::string years;
    for (const auto y : coverage.gaps) years += (years.empty() ? "" : ", ") + YearText(y);
    out.push_back(
        "calendar: no file loaded for " + years + " although " + YearText(*coverage.first_loaded) +
        " and " + YearText(*coverage.last_loaded) + " are: deadlines in " +
        (coverage.gaps.size() == 1 ? "that year" : "those years") + " skip no holiday: write " +
        (coverage.gaps.size() == 1 ? "the year's file" : "each year's file") + " (vn-" +
        YearText(coverage.gaps.front()) + ".yaml" + (coverage.gaps.size() == 1 ? "" : " etc.") +
        ", format in calendars/README.md) and list it under calendar.files");
  }
  return out;
}

Instant CalendarLoadedUntil(const rules::BusinessCalendar& calendar, Instant now) {
  const CalendarCoverage c = CalendarCoverageOf(calendar.spec().years, calendar.LocalDate(now));
  return calendar.FromLocal(std::chrono::local_days{c.first_unloaded / std::chrono::January / 1});
}

Result<rules::ProcedureCatalog> ParseProcedureCatalogYaml(std::string_view yaml,
                                                          std::string_view source) {
  return ParseYaml(yaml, source, ParseCatalogNode);
}

Result<rules::ProcedureCatalog> LoadProcedureCatalog(const std::string& path) {
  auto text = ReadFile(path, "procedure catalog");
  if (!text) return text.error();
  return ParseProcedureCatalogYaml(*text, path);
}

}  // namespace iocstream::app
