// Micro benchmarks of the deadline engine: DueAt per unit, AddWorkingTime,
// WorkingTimeBetween, LocalDate and catalog lookups, on the shipped 2025 + 2026 calendars.
// Instants are spread over 2024-2027 so that table lookups, the weekly fallback outside the
// loaded years and the time-zone offset cache are all exercised. Run a Release build:
//   build/<dir>/benchmarks/rules_bench
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "app/rules_config.h"
#include "iocstream/rules/business_calendar.h"
#include "iocstream/rules/procedure_catalog.h"

namespace iocstream::rules {
namespace {

std::string SourcePath(const std::string& relative) {
  return std::string(IOCSTREAM_SOURCE_DIR) + "/" + relative;
}

const BusinessCalendar& Calendar() {
  static const BusinessCalendar* calendar = [] {
    auto loaded = app::LoadBusinessCalendar(
        {SourcePath("config/calendars/vn-2025.yaml"), SourcePath("config/calendars/vn-2026.yaml")});
    if (!loaded) {
      std::fprintf(stderr, "%s\n", loaded.error().message.c_str());
      std::abort();
    }
    return new BusinessCalendar(std::move(*loaded));
  }();
  return *calendar;
}

constexpr size_t kInputs = 4096;  // power of two: index with & (kInputs - 1)

const std::vector<Instant>& Instants() {
  static const std::vector<Instant> instants = [] {
    std::mt19937_64 rng(42);
    std::vector<Instant> out;
    const int64_t from = 1717200000000;  // 2024-06-01T00:00Z
    const auto span = static_cast<uint64_t>(3LL * 365 * 86'400'000);
    for (size_t i = 0; i < kInputs; ++i) {
      out.push_back(FromEpochMillis(from + static_cast<int64_t>(rng() % span)));
    }
    return out;
  }();
  return instants;
}

void BM_DueAt(benchmark::State& state, DurationUnit unit, double max_amount) {
  const BusinessCalendar& cal = Calendar();
  const auto& instants = Instants();
  std::vector<LegalDuration> durations;
  std::mt19937_64 rng(7);
  for (size_t i = 0; i < kInputs; ++i) {
    durations.push_back({1 + static_cast<double>(rng() % static_cast<uint64_t>(max_amount)), unit});
  }
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(cal.DueAt(instants[i], durations[i]));
    i = (i + 1) & (kInputs - 1);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_DueAt, working_hours, DurationUnit::kWorkingHours, 72);
BENCHMARK_CAPTURE(BM_DueAt, working_days, DurationUnit::kWorkingDays, 60);
BENCHMARK_CAPTURE(BM_DueAt, calendar_days, DurationUnit::kCalendarDays, 90);
BENCHMARK_CAPTURE(BM_DueAt, months, DurationUnit::kMonths, 12);

void BM_AddWorkingTime(benchmark::State& state) {
  const BusinessCalendar& cal = Calendar();
  const auto& instants = Instants();
  const Millis working = std::chrono::hours(state.range(0));
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(cal.AddWorkingTime(instants[i], working));
    i = (i + 1) & (kInputs - 1);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AddWorkingTime)->Arg(4)->Arg(8 * 15)->Arg(8 * 250);

void BM_WorkingTimeBetween(benchmark::State& state) {
  const BusinessCalendar& cal = Calendar();
  const auto& instants = Instants();
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        cal.WorkingTimeBetween(instants[i], instants[(i + 1) & (kInputs - 1)]));
    i = (i + 1) & (kInputs - 1);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_WorkingTimeBetween);

void BM_LocalDate(benchmark::State& state) {
  const BusinessCalendar& cal = Calendar();
  const auto& instants = Instants();
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(cal.LocalDate(instants[i]));
    i = (i + 1) & (kInputs - 1);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LocalDate);

void BM_CreateCalendar(benchmark::State& state) {
  const CalendarSpec spec = Calendar().spec();
  for (auto _ : state) {
    auto cal = BusinessCalendar::Create(spec);
    benchmark::DoNotOptimize(cal.has_value());
  }
}
BENCHMARK(BM_CreateCalendar)->Unit(benchmark::kMicrosecond);

void BM_LoadShippedCatalog(benchmark::State& state) {
  size_t size = 0;
  for (auto _ : state) {
    auto catalog = app::LoadProcedureCatalog(SourcePath("config/procedures/catalog.yaml"));
    if (!catalog) {
      state.SkipWithError(catalog.error().message.c_str());
      return;
    }
    size = catalog->size();
  }
  state.counters["procedures"] = static_cast<double>(size);
}
BENCHMARK(BM_LoadShippedCatalog)->Unit(benchmark::kMillisecond)->Iterations(5);

void BM_CatalogFind(benchmark::State& state) {
  static const ProcedureCatalog catalog = [] {
    auto loaded = app::LoadProcedureCatalog(SourcePath("config/procedures/catalog.yaml"));
    if (!loaded) std::abort();
    return std::move(*loaded);
  }();
  std::vector<std::string> codes;
  for (const ProcedureRule& r : catalog.rules()) codes.push_back(r.code + ".000.00.00.H56");
  codes.push_back("9.999999.H56");  // a miss
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(catalog.Find(codes[i]));
    i = i + 1 == codes.size() ? 0 : i + 1;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CatalogFind);

}  // namespace
}  // namespace iocstream::rules
