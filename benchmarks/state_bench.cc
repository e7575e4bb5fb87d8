// State store benchmarks: the commit path of the replay throughput case, and dossier reads.
//
// BM_CommitBatch: each iteration builds and commits one poll batch of 500 dossier puts, each
// with its two deadline timers (warning, breach) and, for a dossier seen before, the deletion
// of its previous two; plus the aggregates of the batch's 20 dimensions, a few outbox alerts
// and the partition offset. Dossiers cycle through a pool of 200,000 ids, so the store grows
// at first and then mostly updates. Arg: 1 = WAL disabled (replay), 0 = WAL on (live).
// Reports dossiers/s and bytes per dossier: logical (the write batches), WAL, and SST bytes
// written by flushes and compactions (write amplification; compactions lag, so short runs
// undercount them), and the microseconds per dossier spent inside Commit itself.
//
// BM_MultiGet500 / BM_GetDossier: reads of a populated store, hot in the block cache.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "iocstream/state/state_store.h"

namespace iocstream::state {
namespace {

constexpr int kBatchDossiers = 500;
constexpr int kDossierPool = 200'000;
constexpr int kAggregateKeys = 20;
constexpr int64_t kT0 = 1'751'328'000'000;  // 2025-07-01T00:00:00Z
constexpr int64_t kDay = 86'400'000;

class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "iocstream-state-bench-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) std::abort();
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& Path() const { return path_; }

 private:
  std::string path_;
};

std::string DossierId(int n) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "000.00.11.H57-250701-%06d", n);
  return buf;
}

DossierState MakeDossier(int n, int version) {
  DossierState s;
  const std::string id = DossierId(n);
  s.dossier_id.assign(id.data(), id.size());
  s.partition = PartitionId(0);
  s.agency_code = "000.00." + std::to_string(10 + n % 4) + ".H57";
  s.commune_code = std::to_string(24800 + n % 5);
  s.procedure_code = "1.00" + std::to_string(1000 + n % 300) + ".000.00.00.H57";
  s.current_unit = s.agency_code;
  s.channel = static_cast<Channel>(1 + n % 3);
  s.online_level = OnlineLevel::kPartial;
  s.status = DossierStatus::kInProgress;
  s.due_source = DueSource::kEvent;
  const int64_t received = kT0 + static_cast<int64_t>(n) * 1000;
  s.submitted_at = FromEpochMillis(received - 3'600'000);
  s.received_at = FromEpochMillis(received);
  s.due_at = FromEpochMillis(received + 10 * kDay + version);
  s.original_due_at = s.due_at;
  s.warning_at = *s.due_at - Millis(2 * kDay);
  s.first_event_at = FromEpochMillis(received - 3'600'000);
  s.last_event_at = FromEpochMillis(received + version * 3'600'000LL);
  s.status_at = s.last_event_at;
  for (int i = 0; i <= version % 6; ++i) {
    s.applied_event_ids.push_back(0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(n * 8 + i + 1));
  }
  return s;
}

Timer WarningTimer(const DossierState& s) {
  return Timer{s.partition, *s.due_at - Millis(2 * kDay), s.dossier_id, TimerKind::kWarning};
}
Timer BreachTimer(const DossierState& s) {
  return Timer{s.partition, *s.due_at, s.dossier_id, TimerKind::kBreach};
}

std::unique_ptr<StateStore> OpenOrDie(const std::string& path, bool disable_wal,
                                      size_t dossier_filter_bytes = size_t{16} << 20) {
  StateStoreOptions options;
  options.path = path;
  options.disable_wal = disable_wal;
  options.dossier_filter_bytes = dossier_filter_bytes;
  auto store = StateStore::Open(options);
  if (!store) {
    std::fprintf(stderr, "open: %s\n", store.error().message.c_str());
    std::abort();
  }
  return std::move(*store);
}

void CommitOrDie(StateStore& store, StateBatch batch) {
  if (auto s = store.Commit(std::move(batch)); !s.ok()) {
    std::fprintf(stderr, "commit: %s\n", s.error().message.c_str());
    std::abort();
  }
}

void BM_CommitBatch(benchmark::State& bench) {
  const bool disable_wal = bench.range(0) != 0;
  ScratchDir dir;
  auto store = OpenOrDie(dir.Path(), disable_wal);
  const StoreStats before = store->Stats();

  std::vector<int> versions(kDossierPool, -1);
  int next = 0;
  int64_t offset = 0;
  uint64_t logical_bytes = 0;
  int64_t dossiers = 0;
  std::chrono::steady_clock::duration commit_time{};
  for (auto _ : bench) {
    StateBatch batch = store->NewBatch();
    for (int i = 0; i < kBatchDossiers; ++i) {
      const int n = next;
      next = (next + 1) % kDossierPool;
      if (versions[n] >= 0) {
        const DossierState old = MakeDossier(n, versions[n]);
        batch.DeleteTimer(WarningTimer(old));
        batch.DeleteTimer(BreachTimer(old));
      }
      const DossierState dossier = MakeDossier(n, ++versions[n]);
      batch.PutDossier(dossier);
      batch.PutTimer(WarningTimer(dossier));
      batch.PutTimer(BreachTimer(dossier));
    }
    for (int k = 0; k < kAggregateKeys; ++k) {
      AggregateCounters counters;
      counters[AggregateField::kReceived] = offset + k;
      counters[AggregateField::kOpen] = offset / 2 + k;
      batch.PutAggregate(
          AggregateKey{PartitionId(0), "000.00." + std::to_string(10 + k % 4) + ".H57",
                       std::to_string(24800 + k % 5), Channel::kOnline},
          counters);
    }
    for (int a = 0; a < 5; ++a) {
      batch.AppendOutbox(R"({"alert_id":"breach:)" + DossierId(next) + R"(","kind":"breach"})");
    }
    offset += kBatchDossiers;
    batch.PutOffset(TopicPartition{"dossier-events", PartitionId(0)}, Offset(offset));
    batch.PutWatermark(PartitionId(0), FromEpochMillis(kT0 + offset));
    logical_bytes += batch.ByteSize();
    const auto commit_start = std::chrono::steady_clock::now();
    CommitOrDie(*store, std::move(batch));
    commit_time += std::chrono::steady_clock::now() - commit_start;
    dossiers += kBatchDossiers;
  }

  const StoreStats after = store->Stats();
  bench.SetItemsProcessed(dossiers);
  const double per = dossiers > 0 ? static_cast<double>(dossiers) : 1.0;
  bench.counters["batch_B/dossier"] = static_cast<double>(logical_bytes) / per;
  bench.counters["wal_B/dossier"] =
      static_cast<double>(after.wal_bytes_written - before.wal_bytes_written) / per;
  bench.counters["flush_B/dossier"] =
      static_cast<double>(after.flush_bytes_written - before.flush_bytes_written) / per;
  bench.counters["compact_B/dossier"] =
      static_cast<double>(after.compaction_bytes_written - before.compaction_bytes_written) / per;
  // Share of the wall time spent inside Commit (the rest builds the batch: encoding and the
  // benchmark's own dossier generation).
  bench.counters["commit_us/dossier"] =
      std::chrono::duration<double, std::micro>(commit_time).count() / per;
  bench.counters["cache_MiB"] = static_cast<double>(after.block_cache_usage) / (1 << 20);
}

// BM_PutDossiersCold: StateBatch::PutDossiers alone (the commit's sort, the dossier filter's
// inserts, the copies into the WriteBatch; not the write) of 200,000 dossiers encoded in a
// shuffled order, as a catch-up's commits hold them, with the processor's caches evicted
// before each iteration: the case where its prefetching matters. Dossiers/s.
void BM_PutDossiersCold(benchmark::State& bench) {
  ScratchDir dir;
  auto store = OpenOrDie(dir.Path(), /*disable_wal=*/true);
  std::vector<int> order(kDossierPool);
  for (int i = 0; i < kDossierPool; ++i) order[i] = i;
  std::mt19937 rng(3);
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<DossierState> states;
  states.reserve(order.size());
  for (int n : order) states.push_back(MakeDossier(n, n % 7));
  std::vector<char> evict(size_t{96} << 20, 1);  // 3 times this machine's 32 MiB L3
  for (auto _ : bench) {
    bench.PauseTiming();
    EncodedDossiers encoded;
    for (const DossierState& s : states) encoded.Add(s);
    for (size_t i = 0; i < evict.size(); i += 64) evict[i] = static_cast<char>(evict[i] + 1);
    auto batch = store->NewBatch();
    bench.ResumeTiming();
    batch.PutDossiers(encoded);
    benchmark::DoNotOptimize(batch.Count());
  }
  bench.SetItemsProcessed(bench.iterations() * kDossierPool);
}
BENCHMARK(BM_PutDossiersCold)->Unit(benchmark::kMillisecond)->Iterations(10);

BENCHMARK(BM_CommitBatch)->Arg(0)->Arg(1)->ArgNames({"no_wal"})->UseRealTime()->MinTime(3.0);

// A store with the whole pool written and flushed, shared by the read benchmarks.
StateStore& PopulatedStore() {
  static ScratchDir dir;  // constructed first, so destroyed after the store closes
  static std::unique_ptr<StateStore> store = [] {
    auto s = OpenOrDie(dir.Path(), /*disable_wal=*/true);
    for (int base = 0; base < kDossierPool; base += kBatchDossiers) {
      StateBatch batch = s->NewBatch();
      for (int n = base; n < base + kBatchDossiers; ++n) batch.PutDossier(MakeDossier(n, 3));
      CommitOrDie(*s, std::move(batch));
    }
    if (!s->Flush().ok()) std::abort();
    return s;
  }();
  return *store;
}

void BM_MultiGet500(benchmark::State& bench) {
  StateStore& store = PopulatedStore();
  std::mt19937 rng(1);
  std::vector<std::string> ids(kBatchDossiers);
  std::vector<std::string_view> views(kBatchDossiers);
  for (auto _ : bench) {
    for (int i = 0; i < kBatchDossiers; ++i) {
      ids[i] = DossierId(static_cast<int>(rng() % kDossierPool));
      views[i] = ids[i];
    }
    auto found = store.GetDossiers(views);
    if (!found) std::abort();
    benchmark::DoNotOptimize(found);
  }
  bench.SetItemsProcessed(bench.iterations() * kBatchDossiers);
}
BENCHMARK(BM_MultiGet500)->UseRealTime();

void BM_GetDossier(benchmark::State& bench) {
  StateStore& store = PopulatedStore();
  std::mt19937 rng(2);
  for (auto _ : bench) {
    auto found = store.GetDossier(DossierId(static_cast<int>(rng() % kDossierPool)));
    if (!found) std::abort();
    benchmark::DoNotOptimize(found);
  }
  bench.SetItemsProcessed(bench.iterations());
}
BENCHMARK(BM_GetDossier)->UseRealTime();

// Reads of dossiers the store does not hold (a catch-up's new dossiers), without and with the
// in-memory dossier filter (state.dossier_filter_mb). The store here is one flushed file; a
// replay's has up to 8 L0 files and a level or two, each a probe RocksDB pays per new id.
void BM_MultiGetNew500(benchmark::State& bench) {
  static ScratchDir dir;
  static std::unique_ptr<StateStore> stores[2];
  const bool filtered = bench.range(0) != 0;
  std::unique_ptr<StateStore>& store = stores[filtered ? 1 : 0];
  if (!store) {
    const std::string path = dir.Path() + (filtered ? "/filtered" : "/plain");
    {
      auto writer = OpenOrDie(path, /*disable_wal=*/true, 0);
      for (int base = 0; base < kDossierPool; base += kBatchDossiers) {
        StateBatch batch = writer->NewBatch();
        for (int n = base; n < base + kBatchDossiers; ++n) batch.PutDossier(MakeDossier(n, 3));
        CommitOrDie(*writer, std::move(batch));
      }
    }
    store = OpenOrDie(path, /*disable_wal=*/true, filtered ? size_t{16} << 20 : 0);
    while (filtered && !store->Stats().dossier_filter_ready) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  std::mt19937 rng(3);
  std::vector<std::string> ids(kBatchDossiers);
  std::vector<std::string_view> views(kBatchDossiers);
  for (auto _ : bench) {
    for (int i = 0; i < kBatchDossiers; ++i) {
      ids[i] = DossierId(kDossierPool + static_cast<int>(rng() % 1'000'000));
      views[i] = ids[i];
    }
    auto found = store->GetDossiers(views);
    if (!found) std::abort();
    benchmark::DoNotOptimize(found);
  }
  bench.SetItemsProcessed(bench.iterations() * kBatchDossiers);
}
BENCHMARK(BM_MultiGetNew500)->Arg(0)->Arg(1)->ArgNames({"filter"})->UseRealTime();

}  // namespace
}  // namespace iocstream::state
