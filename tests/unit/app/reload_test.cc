// ReloadRules: the calendar and catalog files re-read, validated, swapped in and the open
// deadlines recomputed, on a real state store in a temporary directory.
#include "app/reload.h"

#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "app/app_metrics.h"
#include "app/runtime.h"
#include "iocstream/decode/event_encoder.h"
#include "iocstream/decode/rfc3339.h"

namespace iocstream::app {
namespace {

namespace fs = std::filesystem;

std::string ReadText(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class ReloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("iocstream-reload-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    fs::copy_file(std::string(IOCSTREAM_SOURCE_DIR) + "/config/calendars/vn-2026.yaml",
                  dir_ / "vn-2026.yaml");
    WriteConfig({"vn-2026.yaml"});
    auto config = LoadConfig((dir_ / "iocstream.yaml").string());
    ASSERT_TRUE(config.has_value()) << config.error().message;
    auto rt = OpenRuntime(std::move(*config));
    ASSERT_TRUE(rt.has_value()) << rt.error().message;
    runtime_ = std::move(*rt);
    pipeline_ = std::make_unique<Pipeline>(*runtime_->store, aggregates_, runtime_->Rules(),
                                           PipelineOptions{}, probe_);
    DossierEvent e;
    e.event_id = "D1/r";
    e.dossier_id = "D1";
    e.type = EventType::kReceived;
    e.occurred_at = *ParseRfc3339("2026-03-02T09:00:00+07:00");
    e.due_at = *ParseRfc3339("2026-03-09T09:00:00+07:00");
    e.agency_code = "SO-TP";
    payload_ = EncodeEvent(e);
    const SourceRecord r{"events", PartitionId(0), Offset(0), Instant{}, {}, payload_};
    ASSERT_TRUE(pipeline_->ProcessBatch({&r, 1}, now_).ok());
    ASSERT_EQ(probe_.applied.load(), 1u);
  }
  void TearDown() override {
    pipeline_.reset();
    runtime_.reset();
    fs::remove_all(dir_);
  }

  void WriteConfig(const std::vector<std::string>& calendars) {
    std::ofstream out(dir_ / "iocstream.yaml");
    out << "state:\n  dir: state\ncalendar:\n  files:\n";
    for (const auto& c : calendars) out << "    - " << c << "\n";
  }

  void AddDayOff(const char* line) {
    std::string text = ReadText(dir_ / "vn-2026.yaml");
    text.insert(text.find("days_off:\n") + 10, line);
    std::ofstream(dir_ / "vn-2026.yaml") << text;
  }

  ReloadOutcome Reload() {
    const std::vector<PartitionId> partitions = {PartitionId(0)};
    return ReloadRules(*runtime_, *pipeline_, partitions, now_, probe_reload_);
  }

  Instant Due() {
    auto s = runtime_->store->GetDossier("D1");
    EXPECT_TRUE(s.has_value() && s->has_value());
    return *(*s)->due_at;
  }

  static bool Off(const rules::BusinessCalendar& c, unsigned day) {
    return !c.IsWorkingDay(std::chrono::year{2026} / 3 / day);
  }

  fs::path dir_;
  std::unique_ptr<Runtime> runtime_;
  aggregate::AggregateTable aggregates_;
  PipelineProbe probe_;
  ReloadProbe probe_reload_;
  std::unique_ptr<Pipeline> pipeline_;
  std::string payload_;
  const Instant now_ = *ParseRfc3339("2026-03-03T09:00:00+07:00");
};

TEST_F(ReloadTest, ValidFilesAreSwappedInAndDeadlinesRecomputed) {
  ReloadOutcome unchanged = Reload();
  ASSERT_FALSE(unchanged.error) << unchanged.error->message;
  EXPECT_EQ(unchanged.recompute.open_dossiers, 1u);
  EXPECT_EQ(unchanged.recompute.due_changed, 0u);

  AddDayOff("  - {date: 2026-03-04, kind: holiday, reason: \"announced late\"}\n");
  const auto before = runtime_->rules.Get();  // as an HTTP handler would hold it
  const ReloadOutcome outcome = Reload();
  ASSERT_FALSE(outcome.error) << outcome.error->message;
  EXPECT_EQ(outcome.recompute.due_changed, 1u);
  EXPECT_EQ(outcome.calendar_years, std::vector<int>{2026});
  EXPECT_EQ(Due(), *ParseRfc3339("2026-03-10T09:00:00+07:00"));
  EXPECT_TRUE(Off(runtime_->calendar(), 4));
  EXPECT_FALSE(Off(before->calendar, 4));  // the old version lives on while it is held
  EXPECT_EQ(probe_reload_.succeeded.load(), 2u);
  EXPECT_EQ(probe_reload_.last_success_ms.load(), ToEpochMillis(now_));
}

TEST_F(ReloadTest, InvalidFileKeepsTheRulesInForce) {
  AddDayOff("  - {date: 2026-03-04, kind: holiday}\n  - {date: 2026-02-30, kind: holiday}\n");
  const auto before = runtime_->rules.Get();
  const ReloadOutcome outcome = Reload();
  ASSERT_TRUE(outcome.error.has_value());
  EXPECT_FALSE(outcome.fatal);
  EXPECT_NE(outcome.error->message.find("2026-02-30"), std::string::npos);
  EXPECT_EQ(runtime_->rules.Get(), before);
  EXPECT_FALSE(Off(runtime_->calendar(), 4));
  EXPECT_EQ(Due(), *ParseRfc3339("2026-03-09T09:00:00+07:00"));
  EXPECT_EQ(probe_reload_.failed.load(), 1u);
  EXPECT_EQ(probe_reload_.succeeded.load(), 0u);
  EXPECT_TRUE(pipeline_->healthy());

  const auto families = ReloadMetrics(probe_reload_).Collect();
  ASSERT_EQ(families.size(), 2u);
  EXPECT_EQ(families[0].name, "iocstream_rules_reloads_total");
  EXPECT_EQ(families[0].metric[1].label[0].value, "failure");
  EXPECT_EQ(families[0].metric[1].counter.value, 1.0);
  EXPECT_EQ(families[1].name, "iocstream_rules_last_reload_timestamp_seconds");
  ASSERT_EQ(families[1].metric.size(), 1u);  // no success yet
  EXPECT_EQ(families[1].metric[0].gauge.value, static_cast<double>(ToEpochMillis(now_)) / 1000);
}

TEST_F(ReloadTest, CalendarFileNewlyListedInTheConfigIsLoaded) {
  // The gauge of the calendar's end follows the reload: in mid-2025, with 2026 loaded alone,
  // the current year is not covered and the calendar "ended" on 1 Jan 2025 (Vietnam time).
  const Instant mid_2025 = *ParseRfc3339("2025-06-02T09:00:00+07:00");
  const CalendarMetrics metrics(runtime_->rules, [&] { return mid_2025; });
  const auto loaded_until = [&] {
    const auto families = metrics.Collect();
    EXPECT_EQ(families.size(), 1u);
    EXPECT_EQ(families.at(0).name, "iocstream_calendar_loaded_until_timestamp_seconds");
    EXPECT_EQ(families.at(0).type, prometheus::MetricType::Gauge);
    EXPECT_EQ(families.at(0).metric.size(), 1u);
    return families.at(0).metric.at(0).gauge.value;
  };
  EXPECT_EQ(loaded_until(), 1735664400.0);  // 2025-01-01T00:00+07:00

  fs::copy_file(std::string(IOCSTREAM_SOURCE_DIR) + "/config/calendars/vn-2025.yaml",
                dir_ / "vn-2025.yaml");
  WriteConfig({"vn-2025.yaml", "vn-2026.yaml"});
  const ReloadOutcome outcome = Reload();
  ASSERT_FALSE(outcome.error) << outcome.error->message;
  EXPECT_EQ(outcome.calendar_years, (std::vector<int>{2025, 2026}));
  EXPECT_FALSE(runtime_->calendar().IsWorkingDay(std::chrono::year{2025} / 9 / 2));
  EXPECT_EQ(runtime_->config.calendar_files.size(), 2u);
  EXPECT_EQ(loaded_until(), 1798736400.0);  // 2027-01-01T00:00+07:00
}

// The QA trial of 2026-12-04: with no 2027 file, a reload in December says so, in the log
// and in its answer; in March nothing is due yet.
TEST_F(ReloadTest, ReloadWarnsWhenNextYearHasNoCalendarFile) {
  const ReloadOutcome march = Reload();
  ASSERT_FALSE(march.error) << march.error->message;
  EXPECT_TRUE(march.warnings.empty());
  EXPECT_EQ(ReloadOutcomeJson(march)["warnings"], nlohmann::ordered_json::array());

  const std::vector<PartitionId> partitions = {PartitionId(0)};
  const ReloadOutcome december = ReloadRules(
      *runtime_, *pipeline_, partitions, *ParseRfc3339("2026-12-04T09:00:00+07:00"), probe_reload_);
  ASSERT_FALSE(december.error) << december.error->message;
  ASSERT_EQ(december.warnings.size(), 1u);
  EXPECT_EQ(december.warnings[0],
            "calendar: no file loaded for 2027: the loaded years end on 2026-12-31, in 28 days "
            "(local date 2026-12-04); deadlines after 2026-12-31 skip no holiday: write the "
            "year's file (vn-2027.yaml, format in calendars/README.md) and list it under "
            "calendar.files once the government publishes the year's schedule");
  EXPECT_EQ(ReloadOutcomeJson(december)["warnings"][0], december.warnings[0]);
}

// A reload applies the calendar and the catalog only: other sections edited since the start
// are named as needing a restart (a helper changed http.port, reloaded and got 200 with no
// word that the change waited for a restart). Comments and layout are not changes.
TEST_F(ReloadTest, OtherSectionsChangedSinceTheStartAreNamedAsNeedingARestart) {
  const ReloadOutcome same = Reload();
  ASSERT_FALSE(same.error) << same.error->message;
  EXPECT_TRUE(same.restart_needed.empty());
  std::ofstream(dir_ / "iocstream.yaml")
      << "# edited\nstate:\n  dir:   state   # the same\ncalendar:\n  files:\n    - vn-2026.yaml\n"
      << "http:\n  port: 9999\nsla:\n  warning_fraction: 0.5\n";
  const ReloadOutcome outcome = Reload();
  ASSERT_FALSE(outcome.error) << outcome.error->message;
  EXPECT_EQ(outcome.restart_needed, (std::vector<std::string>{"http", "sla"}));
  const auto j = ReloadOutcomeJson(outcome);
  EXPECT_EQ(j["restart_needed"], nlohmann::ordered_json({"http", "sla"}));
  EXPECT_EQ(runtime_->config.sla.warning_fraction, 0.75);  // as started
}

// A SIGHUP in `run`'s first milliseconds, before its handler was installed, killed it (exit
// 129) instead of reloading (a helper's trial): main() holds SIGHUP until the command's
// handler is in place; a held one then reloads, not stops.
TEST(HangupTest, ASigHupBeforeTheHandlerWaitsForItAndThenReloads) {
  const auto previous_hup = std::signal(SIGHUP, SIG_IGN);
  const auto previous_int = std::signal(SIGINT, SIG_DFL);
  const auto previous_term = std::signal(SIGTERM, SIG_DFL);
  std::signal(SIGHUP, SIG_DFL);  // what a process starts with: SIGHUP would end it
  g_reload_requested = false;
  g_stop_requested = false;
  HoldHangup();
  ASSERT_EQ(std::raise(SIGHUP), 0);  // held: pending, the process goes on
  InstallStopSignals(/*hangup_reloads=*/true);
  EXPECT_FALSE(g_stop_requested.load());  // still held: not taken as a stop
  InstallReloadSignal();                  // released: delivered now, to the reload handler
  EXPECT_TRUE(g_reload_requested.load());
  EXPECT_FALSE(g_stop_requested.load());
  // Another command's: a held SIGHUP stops it once its handler is in place.
  g_reload_requested = false;
  HoldHangup();
  ASSERT_EQ(std::raise(SIGHUP), 0);
  InstallStopSignals();
  EXPECT_TRUE(g_stop_requested.load());
  EXPECT_EQ(g_stop_signal.load(), SIGHUP);
  EXPECT_FALSE(g_reload_requested.load());
  g_stop_requested = false;
  g_stop_signal = 0;
  std::signal(SIGHUP, previous_hup);
  std::signal(SIGINT, previous_int);
  std::signal(SIGTERM, previous_term);
}

}  // namespace
}  // namespace iocstream::app
