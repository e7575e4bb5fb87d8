#include "app/simulator.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "app/rules_config.h"
#include "iocstream/decode/event_decoder.h"
#include "iocstream/decode/event_encoder.h"
#include "iocstream/decode/rfc3339.h"
#include "iocstream/rules/dossier_state_machine.h"

namespace iocstream::app {
namespace {

std::string SourcePath(const std::string& relative) {
  return std::string(IOCSTREAM_SOURCE_DIR) + "/" + relative;
}

// The shipped calendar, catalog and Phú Thọ calibration, loaded once.
class SimulatorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto calendar = LoadBusinessCalendar(
        {SourcePath("config/calendars/vn-2025.yaml"), SourcePath("config/calendars/vn-2026.yaml")});
    ASSERT_TRUE(calendar.has_value()) << calendar.error().message;
    calendar_ = new rules::BusinessCalendar(std::move(*calendar));
    auto catalog = LoadProcedureCatalog(SourcePath("config/procedures/catalog.yaml"));
    ASSERT_TRUE(catalog.has_value()) << catalog.error().message;
    catalog_ = new rules::ProcedureCatalog(std::move(*catalog));
    auto units = LoadSimulatorUnits(SourcePath("config/simulator/phu-tho-units.csv"));
    ASSERT_TRUE(units.has_value()) << units.error().message;
    units_ = new std::vector<SimulatorUnit>(std::move(*units));
    auto pools = LoadProcedurePools(SourcePath("config/simulator/procedure-pools.csv"));
    ASSERT_TRUE(pools.has_value()) << pools.error().message;
    pools_ = new std::vector<ProcedurePoolEntry>(std::move(*pools));
  }
  static void TearDownTestSuite() {
    delete calendar_;
    delete catalog_;
    delete units_;
    delete pools_;
    calendar_ = nullptr;
    catalog_ = nullptr;
    units_ = nullptr;
    pools_ = nullptr;
  }

  static SimulatorInputs Inputs(rules::PausePolicy policy = rules::PausePolicy::kPause) {
    SimulatorInputs in;
    in.calendar = calendar_;
    in.catalog = catalog_;
    in.units = *units_;
    in.pools = *pools_;
    in.default_pause_policy = policy;
    return in;
  }

  static std::unique_ptr<ProvinceSimulator> Make(const SimulatorOptions& options,
                                                 SimulatorInputs inputs = Inputs()) {
    auto sim = ProvinceSimulator::Create(std::move(inputs), options);
    EXPECT_TRUE(sim.has_value()) << sim.error().message;
    return sim.has_value() ? std::move(*sim) : nullptr;
  }

  static std::string Ndjson(const SimulatorOptions& options) {
    auto sim = Make(options);
    std::string out;
    SimulatedEvent e;
    while (sim->Next(e)) {
      out += EncodeEvent(e.event);
      out += '\n';
    }
    return out;
  }

  static inline rules::BusinessCalendar* calendar_ = nullptr;
  static inline rules::ProcedureCatalog* catalog_ = nullptr;
  static inline std::vector<SimulatorUnit>* units_ = nullptr;
  static inline std::vector<ProcedurePoolEntry>* pools_ = nullptr;
};

TEST_F(SimulatorTest, LoadsThePhuThoCalibration) {
  ASSERT_EQ(units_->size(), 163u);
  int64_t received = 0;
  int64_t overdue = 0;
  std::set<std::string> agencies;
  for (const auto& u : *units_) {
    received += u.received;
    overdue += u.overdue;
    EXPECT_LE(u.agency_code.size(), 64u);
    EXPECT_TRUE(agencies.insert(u.agency_code).second) << u.agency_code;
    EXPECT_EQ(u.commune_level, !u.commune_code.empty()) << u.agency_code;
  }
  // The province totals of the portal's report (shared/data/SOURCES.md, Vietnam §8).
  EXPECT_EQ(received, 597918);
  EXPECT_EQ(overdue, 597918 - 528684);
  EXPECT_FALSE(pools_->empty());
}

TEST_F(SimulatorTest, SameSeedSameBytesOtherSeedOtherBytes) {
  SimulatorOptions options;
  options.dossiers = 3000;
  options.days = 20;
  const std::string a = Ndjson(options);
  const std::string b = Ndjson(options);
  EXPECT_FALSE(a.empty());
  EXPECT_EQ(a, b);
  options.seed = 2;
  const std::string c = Ndjson(options);
  EXPECT_NE(a, c);
}

TEST_F(SimulatorTest, EveryEventDecodesAndStreamIsOrdered) {
  SimulatorOptions options;
  options.dossiers = 5000;
  options.days = 30;
  auto sim = Make(options);
  EventDecoder decoder;
  SimulatedEvent e;
  std::set<std::string> ids;
  std::set<std::string> dossiers;
  Instant previous_emit{};
  uint64_t events = 0;
  uint64_t late_deliveries = 0;
  while (sim->Next(e)) {
    ++events;
    const std::string payload = EncodeEvent(e.event);
    // The Kafka key is the dossier id.
    auto decoded = decoder.Decode(payload, e.event.dossier_id);
    ASSERT_TRUE(decoded.has_value()) << ToError(decoded.error()).message << "\n" << payload;
    EXPECT_EQ(EncodeEvent(*decoded), payload);
    if (e.duplicate) {
      EXPECT_EQ(ids.count(e.event.event_id), 1u) << "a duplicate repeats an earlier event";
    } else {
      EXPECT_TRUE(ids.insert(e.event.event_id).second) << "event ids are unique";
    }
    dossiers.insert(e.event.dossier_id);
    // Ordered by event time, except events delivered late on purpose.
    if (e.event.occurred_at < previous_emit) ++late_deliveries;
    if (!e.duplicate && !e.out_of_order)
      previous_emit = std::max(previous_emit, e.event.occurred_at);
  }
  EXPECT_EQ(events, sim->stats().events);
  EXPECT_EQ(dossiers.size(), 5000u);
  EXPECT_LE(late_deliveries, sim->stats().duplicates + sim->stats().out_of_order);
}

// Applies a simulated stream to the real dossier state machine, as iocstream would (one map of
// states; the rules are what the pipeline runs per partition).
struct Applied {
  std::unordered_map<std::string, DossierState> dossiers;
  uint64_t duplicates = 0;
};

Applied ApplyAll(ProvinceSimulator& sim, const rules::RulesContext& ctx) {
  Applied out;
  SimulatedEvent e;
  while (sim.Next(e)) {
    auto it = out.dossiers.find(e.event.dossier_id);
    rules::EventResult r = rules::ApplyEvent(it == out.dossiers.end() ? nullptr : &it->second,
                                             e.event, PartitionId(0), ctx);
    if (r.disposition == rules::Disposition::kDuplicate) ++out.duplicates;
    out.dossiers[e.event.dossier_id] = std::move(r.state);
  }
  return out;
}

struct Tally {
  uint64_t completed = 0;
  uint64_t late = 0;
};

// Completed and late dossiers per department, as iocstream classifies them.
std::map<std::string, Tally> OutcomesByAgency(const Applied& applied) {
  std::map<std::string, Tally> by_agency;
  for (const auto& [id, s] : applied.dossiers) {
    if (s.outcome == Outcome::kEarly || s.outcome == Outcome::kOnTime ||
        s.outcome == Outcome::kLate) {
      Tally& t = by_agency[s.agency_code.str()];
      ++t.completed;
      if (s.outcome == Outcome::kLate) ++t.late;
    }
  }
  return by_agency;
}

struct PolicyCase {
  rules::PausePolicy policy;
  bool payment_pauses;
};
void PrintTo(const PolicyCase& c, std::ostream* os) {
  *os << "pause policy " << rules::ToString(c.policy)
      << (c.payment_pauses ? ", payments pause" : ", payments do not pause");
}

class SimulatorPolicyTest : public SimulatorTest,
                            public ::testing::WithParamInterface<PolicyCase> {};

// Without delivery faults, iocstream finds exactly the late dossiers the simulator planned,
// whatever the pause policy: deadlines, pauses and restarts are computed the same way.
TEST_P(SimulatorPolicyTest, IocstreamFindsThePlannedOutcomes) {
  SimulatorInputs inputs = Inputs(GetParam().policy);
  inputs.payment_pauses = GetParam().payment_pauses;
  SimulatorOptions options;
  options.dossiers = 6000;
  options.days = 30;
  options.duplicate_share = 0;
  options.out_of_order_share = 0;
  options.supplement_share = 0.3;  // more pauses, to exercise the policy
  options.payment_share = 0.3;
  auto sim = Make(options, inputs);
  rules::RulesContext ctx{calendar_, catalog_, {}};
  ctx.policy.default_pause_policy = GetParam().policy;
  ctx.policy.payment_pauses = GetParam().payment_pauses;
  const Applied applied = ApplyAll(*sim, ctx);
  EXPECT_EQ(applied.duplicates, 0u);
  EXPECT_EQ(applied.dossiers.size(), 6000u);
  const auto found = OutcomesByAgency(applied);
  uint64_t planned_late = 0;
  for (size_t u = 0; u < units_->size(); ++u) {
    const SimulatorUnitTally& planned = sim->stats().units[u];
    planned_late += planned.late;
    const auto it = found.find((*units_)[u].agency_code);
    const Tally t = it == found.end() ? Tally{} : it->second;
    EXPECT_EQ(t.completed, planned.completed) << (*units_)[u].agency_code;
    EXPECT_EQ(t.late, planned.late) << (*units_)[u].agency_code;
  }
  EXPECT_GT(planned_late, 200u);
}

INSTANTIATE_TEST_SUITE_P(Policies, SimulatorPolicyTest,
                         ::testing::Values(PolicyCase{rules::PausePolicy::kPause, false},
                                           PolicyCase{rules::PausePolicy::kRestart, false},
                                           PolicyCase{rules::PausePolicy::kKpi766, false},
                                           PolicyCase{rules::PausePolicy::kPause, true},
                                           PolicyCase{rules::PausePolicy::kRestart, true}),
                         [](const ::testing::TestParamInfo<PolicyCase>& info) {
                           return std::string(rules::ToString(info.param.policy)) +
                                  (info.param.payment_pauses ? "_payments_pause" : "");
                         });

// With the default shares and delivery faults, the late share iocstream finds per department
// tracks the Phú Thọ report (generous bounds: 20,000 dossiers is a small sample per unit).
TEST_F(SimulatorTest, LateSharesTrackTheCalibration) {
  SimulatorOptions options;
  options.dossiers = 20000;
  auto sim = Make(options);
  rules::RulesContext ctx{calendar_, catalog_, {}};
  const Applied applied = ApplyAll(*sim, ctx);
  const auto found = OutcomesByAgency(applied);
  uint64_t completed = 0;
  uint64_t late = 0;
  for (const auto& unit : *units_) {
    const auto it = found.find(unit.agency_code);
    if (it == found.end()) continue;
    completed += it->second.completed;
    late += it->second.late;
    if (it->second.completed < 400) continue;  // too few for a per-unit check
    const double share = static_cast<double>(it->second.late) / it->second.completed;
    const double sigma = std::sqrt(unit.LateShare() * (1 - unit.LateShare()) /
                                   static_cast<double>(it->second.completed));
    EXPECT_NEAR(share, unit.LateShare(), 0.02 + 4 * sigma) << unit.agency_code;
  }
  // The province: 69,234 overdue of 597,918 (11.58 %).
  EXPECT_NEAR(static_cast<double>(late) / static_cast<double>(completed), 0.1158, 0.015);
  // The redeliveries are recognised as duplicates by event id.
  EXPECT_EQ(applied.duplicates, sim->stats().duplicates);
}

TEST_F(SimulatorTest, SharesAreRealistic) {
  SimulatorOptions options;
  options.dossiers = 20000;
  auto sim = Make(options);
  SimulatedEvent e;
  std::map<std::string, uint64_t> by_agency;
  std::map<Channel, uint64_t> channels;
  std::set<std::string> transferred;
  uint64_t in_person_outside_hours = 0;
  uint64_t online_outside_hours = 0;
  while (sim->Next(e)) {
    if (e.duplicate) continue;
    const DossierEvent& ev = e.event;
    if (ev.type == EventType::kReceived) {
      ++by_agency[ev.agency_code.str()];
      ++channels[ev.channel];
      if (ev.channel != Channel::kOnline && !calendar_->IsWorkingTime(ev.occurred_at)) {
        ++in_person_outside_hours;
      }
    }
    if (ev.type == EventType::kSubmitted && !calendar_->IsWorkingTime(ev.occurred_at)) {
      ++online_outside_hours;
    }
    if (ev.type == EventType::kTransferred) {
      transferred.insert(ev.dossier_id);
      EXPECT_TRUE(ev.step_due_at.has_value());
      EXPECT_NE(ev.to_agency_code, ev.agency_code);
    }
  }
  const SimulatorStats& st = sim->stats();
  const double dossiers = 20000;
  const auto type_share = [&](EventType t) {
    return static_cast<double>(st.events_by_type[static_cast<size_t>(t)]) / dossiers;
  };
  const double events_per_dossier = static_cast<double>(st.events) / dossiers;
  EXPECT_GT(events_per_dossier, 4.0);
  EXPECT_LT(events_per_dossier, 7.0);
  EXPECT_NEAR(static_cast<double>(st.duplicates) / static_cast<double>(st.events), 0.02, 0.004);
  EXPECT_NEAR(static_cast<double>(st.out_of_order) / static_cast<double>(st.events), 0.01, 0.003);
  EXPECT_NEAR(type_share(EventType::kSupplementRequested), 0.10, 0.015);
  EXPECT_NEAR(type_share(EventType::kWithdrawn), 0.01, 0.004);
  EXPECT_NEAR(static_cast<double>(transferred.size()) / dossiers, 0.30, 0.02);
  EXPECT_GT(type_share(EventType::kRescheduled), 0.02);

  uint64_t received = 0;
  for (const auto& [agency, n] : by_agency) received += n;
  // Channels: ~40 % online on working days, more with the online-only days off.
  EXPECT_NEAR(static_cast<double>(channels[Channel::kOnline]) / received, 0.42, 0.03);
  EXPECT_NEAR(static_cast<double>(channels[Channel::kPostal]) / received, 0.05, 0.01);
  // Offices receive in working hours; a good part of online submissions come after hours.
  EXPECT_EQ(in_person_outside_hours, 0u);
  EXPECT_GT(static_cast<double>(online_outside_hours) / channels[Channel::kOnline], 0.2);
  // Volumes follow the report: Sở Nông nghiệp và Môi trường has 83,675 of 597,918 (14 %).
  EXPECT_NEAR(static_cast<double>(by_agency["so-nong-nghiep-va-moi-truong"]) / received,
              83675.0 / 597918.0, 0.01);
  // Streaming: the queue of future events stays far below the whole stream.
  EXPECT_LT(st.max_pending, st.events / 4);
}

TEST_F(SimulatorTest, IdsFollowTheProductionFormat) {
  SimulatorOptions options;
  options.dossiers = 500;
  options.days = 5;
  auto sim = Make(options);
  SimulatedEvent e;
  while (sim->Next(e)) {
    // {unit code}-{yyMMdd}-{NNNN} (domain.md §3), UUID-shaped event ids (version 8).
    const std::string& id = e.event.dossier_id;
    ASSERT_EQ(id.rfind("H44.", 0), 0u) << id;
    const auto dash = id.find('-');
    ASSERT_NE(dash, std::string::npos);
    EXPECT_EQ(id.size() - dash, 12u) << id;
    EXPECT_EQ(id.substr(dash + 1, 2), "26");
    ASSERT_EQ(e.event.event_id.size(), 36u);
    EXPECT_EQ(e.event.event_id[14], '8');
  }
}

TEST_F(SimulatorTest, EmptyRunAndInvalidOptions) {
  SimulatorOptions options;
  options.dossiers = 0;
  auto sim = Make(options);
  SimulatedEvent e;
  EXPECT_FALSE(sim->Next(e));
  options.duplicate_share = 1.5;
  EXPECT_FALSE(ProvinceSimulator::Create(Inputs(), options).has_value());
  options.duplicate_share = 0;
  options.days = 0;
  EXPECT_FALSE(ProvinceSimulator::Create(Inputs(), options).has_value());
  options.days = 1;
  options.tail_days = -1;
  EXPECT_FALSE(ProvinceSimulator::Create(Inputs(), options).has_value());
  SimulatorInputs no_calendar = Inputs();
  no_calendar.calendar = nullptr;
  EXPECT_FALSE(ProvinceSimulator::Create(no_calendar, SimulatorOptions{}).has_value());
}

// The stream ends tail_days after the last day of submissions: nothing is emitted after it
// (a late 250-working-day procedure ran 18 months, months after the rest of the stream, and
// iocstream dead-lettered it as event_time_ahead), the dossiers cut short are counted as open,
// and the planned outcomes count only the completions emitted. With a long enough tail, every
// dossier finishes.
TEST_F(SimulatorTest, TheStreamEndsTailDaysAfterTheSubmissions) {
  // 2026-01-05 local (+07:00) + 30 + 20 days: 2026-02-24T00:00:00+07:00.
  const Instant end = *ParseRfc3339("2026-02-23T17:00:00Z");
  SimulatorOptions options;
  options.dossiers = 20000;
  options.days = 30;
  options.tail_days = 20;
  auto sim = Make(options);
  SimulatedEvent e;
  uint64_t events = 0;
  uint64_t completed = 0;
  Instant last = Instant::min();
  std::set<std::string> finished;
  while (sim->Next(e)) {
    ++events;
    last = std::max(last, e.event.occurred_at);
    if (e.duplicate) continue;
    if (e.event.type == EventType::kCompleted) ++completed;
    if (e.event.type == EventType::kCompleted || e.event.type == EventType::kWithdrawn ||
        e.event.type == EventType::kRejected || e.event.type == EventType::kRefused) {
      finished.insert(e.event.dossier_id);
    }
  }
  EXPECT_LE(last, end);
  EXPECT_GT(last, end - std::chrono::hours(24 * 7));  // the tail is cut, not missing
  const SimulatorStats& stats = sim->stats();
  EXPECT_EQ(stats.events, events);
  EXPECT_GT(stats.open_at_end, 0u);
  EXPECT_GE(stats.events_after_end, stats.open_at_end);
  // A dossier not finished in the stream was cut short (one may be cut after its completion:
  // its result's return, a redelivery).
  EXPECT_LT(finished.size(), 20000u);
  EXPECT_GE(finished.size() + stats.open_at_end, 20000u);
  uint64_t tallied = 0;
  for (const SimulatorUnitTally& t : stats.units) tallied += t.completed;
  EXPECT_EQ(tallied, completed);

  const uint64_t cut_events = stats.events;  // `stats` is the first simulator's
  options.tail_days = 36500;
  sim = Make(options);
  while (sim->Next(e)) {
  }
  EXPECT_EQ(sim->stats().open_at_end, 0u);
  EXPECT_EQ(sim->stats().events_after_end, 0u);
  EXPECT_GT(sim->stats().events, cut_events);
}

// One unit, or one of each level, with no procedure pools: every dossier still completes its
// life, transfers find a target (or stay home), and every event is valid.
TEST_F(SimulatorTest, TinyProvincesWithoutPools) {
  SimulatorUnit department;
  department.unit_code = "H99.1";
  department.agency_code = "so-a";
  department.received = 10;
  department.on_time = 8;
  department.overdue = 2;
  department.avg_processing_days = 5;
  SimulatorUnit commune = department;
  commune.unit_code = "H99.2";
  commune.agency_code = "ubnd-xa-b";
  commune.commune_code = "xa-b";
  commune.commune_level = true;
  for (const auto& units :
       {std::vector<SimulatorUnit>{department}, std::vector<SimulatorUnit>{commune},
        std::vector<SimulatorUnit>{department, commune}}) {
    SimulatorInputs inputs = Inputs();
    inputs.units = units;
    inputs.pools.clear();
    SimulatorOptions options;
    options.dossiers = 300;
    options.days = 3;
    options.transfer_share = 1.0;
    auto sim = Make(options, inputs);
    ASSERT_NE(sim, nullptr);
    EventDecoder decoder;
    SimulatedEvent e;
    uint64_t events = 0;
    while (sim->Next(e)) {
      ++events;
      const std::string payload = EncodeEvent(e.event);
      ASSERT_TRUE(decoder.Decode(payload).has_value()) << payload;
    }
    EXPECT_EQ(sim->stats().dossiers, 300u);
    EXPECT_GT(events, 900u);
  }
}

TEST(SimulatorUnitsTest, RejectsInconsistentRows) {
  const std::string path = ::testing::TempDir() + "/units.csv";
  auto write = [&](const std::string& text) {
    std::ofstream(path) << text;
    return LoadSimulatorUnits(path);
  };
  const std::string header =
      "unit_code,agency_code,commune_code,level,ministry,received,on_time,overdue,"
      "avg_processing_days,name\n";
  auto ok = write(header + "H44.01,so-a,,province,,10,9,1,2.5,\"Sở A, B\"\n");
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  EXPECT_EQ((*ok)[0].name, "Sở A, B");
  EXPECT_DOUBLE_EQ((*ok)[0].LateShare(), 0.1);

  auto sum = write(header + "H44.01,so-a,,province,,10,9,2,2.5,A\n");
  ASSERT_FALSE(sum.has_value());
  EXPECT_NE(sum.error().message.find("units.csv:2: on_time + overdue != received"),
            std::string::npos)
      << sum.error().message;
  EXPECT_FALSE(write(header + "H44.01,so-a,,district,,10,9,1,2.5,A\n").has_value());
  EXPECT_FALSE(write(header + "H44.01,sở-a,,province,,10,9,1,2.5,A\n").has_value());
  EXPECT_FALSE(
      write(header + "H44.01,so-a,,province,,1,1,0,1,A\nH44.02,so-a,,province,,1,1,0,1,B\n")
          .has_value());
  EXPECT_FALSE(write("unit_code,agency_code\nH44.01,so-a\n").has_value());
  EXPECT_FALSE(write(header + "H44.01,so-a,,province,,0,0,0,0,A\n").has_value());
}

}  // namespace
}  // namespace iocstream::app
