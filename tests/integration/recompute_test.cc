// A day off announced after dossiers were received: `iocstream recompute` on a real RocksDB
// state directory built by `iocstream replay` (no broker). The calendar file gains Wednesday
// 4 March 2026 as a holiday; open dossiers whose counted period spans it are due exactly
// its working time (8 h) later, the others and every closed dossier keep what they had.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "app/rules_config.h"
#include "integration/harness.h"
#include "iocstream/decode/event_encoder.h"
#include "iocstream/decode/rfc3339.h"

namespace iocstream::testing {
namespace {

namespace fs = std::filesystem;
constexpr const char* kAsOf = "2026-03-06T00:00:00Z";

std::string Event(const std::string& id, EventType type, const char* at, const char* due = nullptr,
                  const char* procedure = nullptr) {
  DossierEvent e;
  e.event_id = id + "/" + std::string(ToString(type)) + "/" + at;
  e.dossier_id = id;
  e.type = type;
  e.occurred_at = *ParseRfc3339(at);
  if (due != nullptr) e.due_at = *ParseRfc3339(due);
  if (procedure != nullptr) e.procedure_code = procedure;
  e.agency_code = "SO-TP";
  e.channel = Channel::kInPerson;
  return EncodeEvent(e);
}

using Rows = std::map<std::string, std::map<std::string, std::string>>;

class RecomputeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::copy_file(SourceDir() + "/config/calendars/vn-2026.yaml", calendar_);
    std::ofstream(dir_ / "catalog.yaml")
        << "version: 1\nprocedures:\n"
        << "  - {code: \"1.000001\", name: \"Test procedure\", in_person: \"5 working_days\"}\n";
    std::ofstream(config_) << "state:\n  dir: " << (dir_ / "state") << "\n"
                           << "timers:\n  clock: watermark\n  allowed_lateness: 2d\n"
                           << "calendar:\n  files:\n    - " << calendar_ << "\n"
                           << "procedures:\n  catalog: " << (dir_ / "catalog.yaml") << "\n";
    // In event-time order; the last event (Thu 5 Mar 09:00) and the allowed lateness keep the
    // watermark before every due time, so nothing is overdue yet.
    std::ofstream(dir_ / "events.ndjson")
        << Event("A-CATALOG", EventType::kReceived, "2026-03-02T09:00:00+07:00", nullptr,
                 "1.000001")
        << "\n"
        << Event("E-DONE", EventType::kReceived, "2026-03-02T09:00:00+07:00",
                 "2026-03-09T09:00:00+07:00")
        << "\n"
        << Event("C-PAUSED", EventType::kReceived, "2026-03-02T08:00:00+07:00",
                 "2026-03-06T17:00:00+07:00")
        << "\n"
        << Event("B-EVENT", EventType::kReceived, "2026-03-03T10:00:00+07:00",
                 "2026-03-10T10:00:00+07:00")
        << "\n"
        << Event("C-PAUSED", EventType::kSupplementRequested, "2026-03-03T08:00:00+07:00") << "\n"
        << Event("E-DONE", EventType::kCompleted, "2026-03-04T10:00:00+07:00") << "\n"
        << Event("C-PAUSED", EventType::kSupplementReceived, "2026-03-05T08:00:00+07:00") << "\n"
        << Event("F-AFTER", EventType::kReceived, "2026-03-05T09:00:00+07:00",
                 "2026-03-12T09:00:00+07:00")
        << "\n";
    auto replay =
        RunIocstream({"replay", "--config", config_, "--no-summary", dir_ / "events.ndjson"});
    ASSERT_EQ(replay.exit_code, 0) << replay.err;
  }

  Rows Export() {
    const std::string path = dir_ / ("export-" + std::to_string(exports_++) + ".csv");
    auto r =
        RunIocstream({"export", "--config", config_, "dossiers", "--as-of", kAsOf, "-o", path});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    Rows rows;
    for (auto& row : ReadCsv(path)) rows[row["dossier_id"]] = row;
    return rows;
  }

  nlohmann::json Recompute() {
    auto r = RunIocstream({"recompute", "--config", config_});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.exit_code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json();
  }

  // Adds Wednesday 4 March 2026 to the calendar file's days off.
  void AddDayOff() {
    std::string text = ReadFile(calendar_);
    const std::string anchor = "days_off:\n";
    const size_t at = text.find(anchor);
    ASSERT_NE(at, std::string::npos);
    text.insert(at + anchor.size(),
                "  - {date: 2026-03-04, kind: holiday, reason: \"Ngày nghỉ bổ sung (test)\"}\n");
    std::ofstream(calendar_) << text;
  }

  static rules::BusinessCalendar Calendar(const std::string& path) {
    auto cal = app::LoadBusinessCalendar({path});
    EXPECT_TRUE(cal.has_value()) << cal.error().message;
    return std::move(*cal);
  }

  static Instant At(const std::string& rfc3339) { return *ParseRfc3339(rfc3339); }

  TempDir dir_;
  const std::string calendar_ = dir_ / "vn-2026.yaml";
  const std::string config_ = dir_ / "iocstream.yaml";
  int exports_ = 0;
};

TEST_F(RecomputeTest, AddedDayOffMovesOpenDeadlinesByItsWorkingTime) {
  const rules::BusinessCalendar old_calendar = Calendar(calendar_);
  const Rows before = Export();
  ASSERT_EQ(before.size(), 5u);
  // Nothing to do while the calendar is unchanged.
  EXPECT_EQ(Recompute()["dossiers_changed"], 0);
  EXPECT_EQ(Export(), before);

  AddDayOff();
  const rules::BusinessCalendar new_calendar = Calendar(calendar_);
  const nlohmann::json summary = Recompute();
  EXPECT_EQ(summary["dossiers_scanned"], 5);
  EXPECT_EQ(summary["open_dossiers"], 4);
  EXPECT_EQ(summary["due_changed"], 2);       // A-CATALOG, B-EVENT
  EXPECT_EQ(summary["dossiers_changed"], 2);  // C-PAUSED: its sent due time and due time stay
  EXPECT_EQ(summary["timers_moved"], 6);      // warning, hours-left warning, breach of A and B
  const Rows after = Export();

  // Hand-worked: 5 working days from Mon 2 Mar 09:00 end Mon 9 Mar 09:00, with Wednesday off
  // Tue 10 Mar 09:00 (+07:00).
  EXPECT_EQ(before.at("A-CATALOG").at("due_at"), "2026-03-09T02:00:00.000Z");
  EXPECT_EQ(after.at("A-CATALOG").at("due_at"), "2026-03-10T02:00:00.000Z");
  EXPECT_EQ(after.at("B-EVENT").at("due_at"), "2026-03-11T03:00:00.000Z");
  for (const char* id : {"A-CATALOG", "B-EVENT"}) {
    const Instant was = At(before.at(id).at("due_at"));
    const Instant is = At(after.at(id).at("due_at"));
    // Exactly the holiday's working time, counted on either calendar.
    EXPECT_EQ(old_calendar.WorkingTimeBetween(was, is), std::chrono::hours(8)) << id;
    EXPECT_EQ(new_calendar.WorkingTimeBetween(was, is), std::chrono::hours(8)) << id;
    // A catalog deadline is derived again; an event's stays as the department sent it.
    EXPECT_EQ(after.at(id).at("original_due_at"), std::string(id) == "A-CATALOG"
                                                      ? after.at(id).at("due_at")
                                                      : before.at(id).at("original_due_at"))
        << id;
    EXPECT_EQ(after.at(id).at("days_off_named"), "Ngày nghỉ bổ sung 2026-03-04") << id;
  }
  EXPECT_EQ(after.at("A-CATALOG").at("days_off_skipped"), "3");  // the weekend and Wednesday
  // Paused over the new day off: the clock was stopped anyway, its due time stays.
  EXPECT_EQ(after.at("C-PAUSED").at("due_at"), before.at("C-PAUSED").at("due_at"));
  EXPECT_EQ(after.at("C-PAUSED").at("original_due_at"),
            before.at("C-PAUSED").at("original_due_at"));
  // Received after the new day off: unchanged.
  EXPECT_EQ(after.at("F-AFTER"), before.at("F-AFTER"));
  // Closed: the outcome and every deadline field as they were; only the view of the days off
  // (derived from today's calendar) differs.
  auto without_days_off = [](std::map<std::string, std::string> row) {
    row.erase("days_off_skipped");
    row.erase("days_off_named");
    return row;
  };
  EXPECT_EQ(before.at("E-DONE").at("outcome"), "early");
  EXPECT_EQ(without_days_off(after.at("E-DONE")), without_days_off(before.at("E-DONE")));

  // Idempotent: a second run finds nothing to change.
  EXPECT_EQ(Recompute()["dossiers_changed"], 0);
  EXPECT_EQ(Export(), after);
}

// With a state changelog the recomputed states must reach it too: only a running instance's
// reload does that, so the offline command refuses and changes nothing.
TEST_F(RecomputeTest, WithAStateChangelogTheOfflineCommandRefusesAndChangesNothing) {
  const Rows before = Export();
  const std::string calendar = ReadFile(calendar_);
  AddDayOff();
  const std::string with_changelog = dir_ / "with-changelog.yaml";
  std::ofstream(with_changelog) << ReadFile(config_)
                                << "kafka:\n  changelog_topic: iocstream-state-changelog\n";
  auto r = RunIocstream({"recompute", "--config", with_changelog});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("kafka.changelog_topic is set (iocstream-state-changelog)"),
            std::string::npos)
      << r.err;
  std::ofstream(calendar_) << calendar;  // the export reads the calendar too
  EXPECT_EQ(Export(), before);
}

TEST_F(RecomputeTest, InvalidCalendarChangesNothing) {
  const Rows before = Export();
  const std::string good = ReadFile(calendar_);
  std::string bad = good;
  bad.insert(bad.find("days_off:\n") + 10,
             "  - {date: 2026-03-04, kind: holiday}\n"
             "  - {date: 2026-02-30, kind: holiday}\n");
  std::ofstream(calendar_) << bad;
  auto r = RunIocstream({"recompute", "--config", config_});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("days_off[1].date: '2026-02-30'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("vn-2026.yaml"), std::string::npos) << r.err;
  std::ofstream(calendar_) << good;
  EXPECT_EQ(Export(), before);
}

}  // namespace
}  // namespace iocstream::testing
