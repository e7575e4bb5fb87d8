// Memory benchmark: puts N dossiers (default 10 million) into a fresh RocksDB state store
// through the same Pipeline `iocstream replay` runs (watermark clock, the configured commit
// policy, dossier cache, block cache and write-buffer budget), and prints, every million
// dossiers and at the end: events/s, resident memory, the RocksDB block cache and memtable
// use, and the dossier cache; then peak RSS. --json writes the final figures.
//
// The stream: dossier i is received at T0 + i * 3 s with a due time 10 days later (from the
// event, so no catalog lookup decides the load), spread over 120 agencies, 102 communes and 3
// channels; 60% of the dossiers complete 150,000 dossiers later (about 5 days), so the state
// holds open and finished dossiers, timers that fire (warnings and breaches) and outbox
// alerts, as in a province's history.
//
//   memory_bench [--dossiers 10000000] [--config config/iocstream.yaml] [--state-dir DIR]
//                [--json out.json] [--keep]
#include <jemalloc/jemalloc.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "app/config.h"
#include "app/outbox_relay.h"
#include "app/pipeline.h"
#include "app/runtime.h"
#include "bench_util.h"
#include "iocstream/decode/event_encoder.h"
#include "iocstream/decode/rfc3339.h"

namespace {

namespace fs = std::filesystem;
using iocstream::app::Pipeline;
using iocstream::bench::CpuSeconds;
using iocstream::bench::EngineJson;
using iocstream::bench::PeakRssKb;
using iocstream::bench::ResidentKb;
using Clock = std::chrono::steady_clock;

double MiB(double bytes) { return bytes / (1024.0 * 1024.0); }

// jemalloc's view: bytes the program holds (allocated) and pages the allocator keeps resident
// (allocated + its metadata + freed pages not yet returned to the system).
struct HeapStats {
  size_t allocated = 0;
  size_t resident = 0;
};
HeapStats ReadHeapStats() {
  uint64_t epoch = 1;
  size_t size = sizeof epoch;
  mallctl("epoch", &epoch, &size, &epoch, size);  // refresh the cached statistics
  HeapStats h;
  size = sizeof(size_t);
  mallctl("stats.allocated", &h.allocated, &size, nullptr, 0);
  mallctl("stats.resident", &h.resident, &size, nullptr, 0);
  return h;
}

iocstream::DossierEvent Event(uint64_t i, iocstream::EventType type, iocstream::Instant t0) {
  using namespace std::chrono;
  iocstream::DossierEvent e;
  char id[32];
  std::snprintf(id, sizeof id, "MEM-%010llu", static_cast<unsigned long long>(i));
  e.dossier_id = id;
  e.event_id = e.dossier_id + (type == iocstream::EventType::kReceived ? "/r" : "/c");
  e.type = type;
  const auto received = t0 + seconds(3 * i);
  e.occurred_at =
      type == iocstream::EventType::kReceived ? received : t0 + seconds(3 * (i + 150000));
  e.agency_code = "SO-" + std::to_string(i % 120);
  e.commune_code = "XA-" + std::to_string(i % 102);
  e.procedure_code = "1.004227";
  e.channel = static_cast<iocstream::Channel>(1 + i % 3);
  if (type == iocstream::EventType::kReceived) e.due_at = received + hours(24 * 10);
  return e;
}

}  // namespace

int main(int argc, char** argv) {
  iocstream::app::PreferAvx2StringFunctions(argv);  // as iocstream (bench_util.h)
  using namespace iocstream;
  using namespace iocstream::app;
  uint64_t dossiers = 10'000'000;
  std::string config_path = std::string(IOCSTREAM_SOURCE_DIR) + "/config/iocstream.yaml";
  std::string state_dir;
  std::string json_path;
  bool keep = false;
  std::optional<bool> async_commit;  // default: what the product does
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    const std::string v = i + 1 < argc ? argv[i + 1] : "";
    if (k == "--dossiers") {
      dossiers = std::stoull(v), ++i;
    } else if (k == "--config") {
      config_path = v, ++i;
    } else if (k == "--state-dir") {
      state_dir = v, ++i;
    } else if (k == "--json") {
      json_path = v, ++i;
    } else if (k == "--keep") {
      keep = true;
    } else if (k == "--async-commit" && (v == "on" || v == "off")) {
      async_commit = v == "on", ++i;
    } else {
      std::fprintf(stderr,
                   "usage: memory_bench [--dossiers N] [--config FILE] [--state-dir DIR] "
                   "[--async-commit on|off] "
                   "[--json OUT] [--keep]\n");
      return 2;
    }
  }
  auto config = LoadConfig(config_path);
  if (!config) {
    std::fprintf(stderr, "%s\n", config.error().message.c_str());
    return 1;
  }
  if (state_dir.empty()) {
    state_dir = (fs::temp_directory_path() / ("memory-bench-" + std::to_string(getpid()))).string();
  }
  fs::remove_all(state_dir);
  config->state.dir = state_dir;
  ApplyReplayStateDefaults(*config);  // as `replay` opens its store
  const StateConfig budget = config->state;
  auto rt = OpenRuntime(*config);
  if (!rt) {
    std::fprintf(stderr, "%s\n", rt.error().message.c_str());
    return 1;
  }
  Runtime& runtime = **rt;
  PipelineProbe probe;
  RelayProbe relay_probe;
  aggregate::AggregateTable aggregates;
  PipelineOptions options = PipelineOptionsFor(runtime.config, PipelineMode::kReplay);
  if (async_commit) options.async_commit = *async_commit;
  Pipeline pipeline(*runtime.store, aggregates, runtime.Rules(), options, probe);
  auto relay = FileOutboxRelay::Open(*runtime.store, state_dir + "/alerts.ndjson",
                                     state_dir + "/dead-letters.ndjson", relay_probe);
  if (!relay) {
    std::fprintf(stderr, "%s\n", relay.error().message.c_str());
    return 1;
  }
  std::printf(
      "memory_bench: %llu dossiers into %s (block cache %zu MiB incl. write buffers %zu MiB, "
      "dossier cache %zu MiB, commit every %zu ms / %zu records / %zu MiB)\n",
      static_cast<unsigned long long>(dossiers), state_dir.c_str(), budget.block_cache_mb,
      budget.write_buffer_mb, budget.DossierCacheMb(), budget.commit_interval_ms,
      budget.CommitMaxRecords(), budget.CommitMaxMb());
  std::printf("%12s %10s %10s %12s %14s %12s %14s\n", "dossiers", "events", "events/s", "RSS MiB",
              "block cache MiB", "memtable MiB", "dossier cache");

  const Instant t0 = *ParseRfc3339("2025-01-02T01:00:00Z");
  const uint64_t kCompleteLag = 150000;
  const size_t batch = runtime.config.kafka.max_batch;
  std::vector<std::string> payloads;
  std::vector<SourceRecord> records;
  payloads.reserve(batch);
  records.reserve(batch);
  int64_t offset = 0;
  uint64_t events = 0;
  double peak_block_cache = 0;
  double peak_memtable = 0;
  double peak_dossier_cache = 0;
  // RSS sampled every 20 ms on a thread, with the events processed when it peaked: a peak
  // between the per-million reports is located, not just seen in ru_maxrss.
  std::atomic<uint64_t> events_seen{0};
  std::atomic<bool> sampling{true};
  long sampled_peak_kb = 0;
  uint64_t sampled_peak_at = 0;
  HeapStats heap_at_peak;  // jemalloc's figures when RSS peaked
  size_t peak_heap_allocated = 0;
  std::thread sampler([&] {
    while (sampling.load()) {
      const long kb = ResidentKb();
      const HeapStats heap = ReadHeapStats();
      peak_heap_allocated = std::max(peak_heap_allocated, heap.allocated);
      if (kb > sampled_peak_kb) {
        sampled_peak_kb = kb;
        sampled_peak_at = events_seen.load();
        heap_at_peak = heap;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  const auto start = Clock::now();
  const double cpu_start = CpuSeconds();
  auto update_peaks = [&] {
    const auto stats = runtime.store->Stats();
    peak_block_cache = std::max(peak_block_cache, static_cast<double>(stats.block_cache_usage));
    peak_memtable = std::max(peak_memtable, static_cast<double>(stats.memtable_bytes));
    peak_dossier_cache = std::max(peak_dossier_cache, static_cast<double>(pipeline.CachedBytes()));
    return stats;
  };
  auto flush = [&]() -> bool {
    records.clear();
    for (const std::string& p : payloads) {
      records.push_back(
          SourceRecord{"memory-bench", PartitionId(0), Offset(offset++), Instant{}, {}, p});
    }
    // The wall clock, as `replay` passes it (it bounds how far ahead an event may be).
    if (Status s = pipeline.ProcessBatch(records, WallClockNow()); !s) {
      std::fprintf(stderr, "%s\n", s.error().message.c_str());
      return false;
    }
    if (Status s = (*relay)->Drain(); !s) {
      std::fprintf(stderr, "%s\n", s.error().message.c_str());
      return false;
    }
    update_peaks();  // after every batch, not only at the reports
    events += payloads.size();
    events_seen.store(events);
    payloads.clear();
    return true;
  };
  auto report = [&](uint64_t done) {
    const auto stats = update_peaks();
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    std::printf("%12llu %10llu %10.0f %12.1f %14.1f %12.1f %10.1f MiB\n",
                static_cast<unsigned long long>(done), static_cast<unsigned long long>(events),
                events / seconds, ResidentKb() / 1024.0, MiB(stats.block_cache_usage),
                MiB(stats.memtable_bytes), MiB(pipeline.CachedBytes()));
    std::fflush(stdout);
  };
  for (uint64_t i = 0; i < dossiers + kCompleteLag; ++i) {
    if (i < dossiers) payloads.push_back(EncodeEvent(Event(i, EventType::kReceived, t0)));
    if (i >= kCompleteLag && (i - kCompleteLag) % 10 < 6 && i - kCompleteLag < dossiers) {
      payloads.push_back(EncodeEvent(Event(i - kCompleteLag, EventType::kCompleted, t0)));
    }
    if (payloads.size() >= batch && !flush()) return 1;
    if ((i + 1) % 1'000'000 == 0 && i < dossiers) report(i + 1);
  }
  if (!payloads.empty() && !flush()) return 1;
  if (Status s = pipeline.Flush(); !s) {
    std::fprintf(stderr, "%s\n", s.error().message.c_str());
    return 1;
  }
  if (Status s = (*relay)->Drain(); !s) return 1;
  report(dossiers);
  sampling.store(false);
  sampler.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const double cpu = CpuSeconds() - cpu_start;
  const auto stats = runtime.store->Stats();
  std::printf(
      "\n%llu dossiers, %llu events in %.1f s (%.0f events/s, %.2f CPU s per million events)\n"
      "peak RSS %.1f MiB (sampled every 20 ms: %.1f MiB after %llu events); peak block cache %.1f "
      "MiB (capacity %.1f MiB, memtables charged to "
      "it); peak memtables %.1f MiB; peak dossier cache %.1f MiB; state on disk %.1f MiB; "
      "alerts %llu\n"
      "heap (jemalloc): peak allocated %.1f MiB; at the RSS peak %.1f MiB allocated, %.1f MiB "
      "resident in the allocator\n",
      static_cast<unsigned long long>(dossiers), static_cast<unsigned long long>(events), seconds,
      events / seconds, cpu * 1e6 / static_cast<double>(events), PeakRssKb() / 1024.0,
      sampled_peak_kb / 1024.0, static_cast<unsigned long long>(sampled_peak_at),
      MiB(peak_block_cache), MiB(stats.block_cache_capacity), MiB(peak_memtable),
      MiB(peak_dossier_cache), MiB(stats.sst_bytes),
      static_cast<unsigned long long>(relay_probe.alerts_published.load()),
      MiB(static_cast<double>(peak_heap_allocated)),
      MiB(static_cast<double>(heap_at_peak.allocated)),
      MiB(static_cast<double>(heap_at_peak.resident)));
  std::printf("commits by trigger:");
  for (size_t k = 0; k < kCommitTriggerCount; ++k) {
    std::printf(" %s %llu", std::string(ToString(static_cast<CommitTrigger>(k))).c_str(),
                static_cast<unsigned long long>(probe.commits_by_trigger[k].load()));
  }
  std::printf("\n");
  if (!json_path.empty()) {
    std::ofstream out(json_path);
    out << "{\"engine\":" << EngineJson()
        << ",\"string_functions\":" << iocstream::bench::StringFunctionsJson()
        << ",\"dossiers\":" << dossiers << ",\"events\":" << events << ",\"seconds\":" << seconds
        << ",\"events_per_second\":" << events / seconds
        << ",\"cpu_seconds_per_million_events\":" << cpu * 1e6 / static_cast<double>(events)
        << ",\"peak_rss_bytes\":" << PeakRssKb() * 1024
        << ",\"sampled_peak_rss_bytes\":" << sampled_peak_kb * 1024
        << ",\"sampled_peak_rss_after_events\":" << sampled_peak_at
        << ",\"peak_block_cache_bytes\":" << static_cast<int64_t>(peak_block_cache)
        << ",\"block_cache_capacity_bytes\":" << stats.block_cache_capacity
        << ",\"peak_memtable_bytes\":" << static_cast<int64_t>(peak_memtable)
        << ",\"peak_dossier_cache_bytes\":" << static_cast<int64_t>(peak_dossier_cache)
        << ",\"peak_heap_allocated_bytes\":" << peak_heap_allocated
        << ",\"heap_allocated_at_rss_peak_bytes\":" << heap_at_peak.allocated
        << ",\"heap_resident_at_rss_peak_bytes\":" << heap_at_peak.resident
        << ",\"sst_bytes\":" << stats.sst_bytes << "}\n";
  }
  relay->reset();
  rt->reset();  // closes the store (its background jobs) before the directory goes
  if (!keep) fs::remove_all(state_dir);
  if (const uint64_t dead = probe.dead_lettered.load(); dead > 0) {
    // Every generated event is valid: dead letters mean the figures are not of the work
    // meant (a run whose events were all refused reported 0 alerts).
    std::fprintf(stderr, "memory_bench: %llu of %llu events were dead-lettered\n",
                 static_cast<unsigned long long>(dead), static_cast<unsigned long long>(events));
    return 1;
  }
  return 0;
}
