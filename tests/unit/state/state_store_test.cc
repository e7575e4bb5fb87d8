#include "iocstream/state/state_store.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/version.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "state/keys.h"
#include "unit/state/temp_dir.h"

namespace iocstream::state {
namespace {

using testing::TempDir;

Instant At(int64_t ms) { return FromEpochMillis(ms); }

DossierState Dossier(std::string id, int32_t partition = 0) {
  DossierState s;
  s.dossier_id = std::move(id);
  s.partition = PartitionId(partition);
  s.agency_code = "000.00.11.H57";
  s.commune_code = "24841";
  s.procedure_code = "1.001234";
  s.current_unit = s.agency_code;
  s.status = DossierStatus::kInProgress;
  s.received_at = At(1'751'328'000'000);
  s.due_at = At(1'752'192'000'000);
  s.first_event_at = At(1'751'328'000'000);
  s.last_event_at = At(1'751'328'000'000);
  s.applied_event_ids = {42};
  return s;
}

AggregateCounters Counters(int64_t received, int64_t open) {
  AggregateCounters c;
  c[AggregateField::kReceived] = received;
  c[AggregateField::kOpen] = open;
  return c;
}

TopicPartition Events(int32_t partition) { return {"dossier-events", PartitionId(partition)}; }
AggregateKey OnlineAggregate() {
  return {PartitionId(0), "000.00.11.H57", "24841", Channel::kOnline};
}

class StateStoreTest : public ::testing::Test {
 protected:
  StateStoreOptions Options() const {
    StateStoreOptions options;
    options.path = dir_.Sub("store");
    options.block_cache_bytes = 8 << 20;
    options.write_buffer_bytes = 4 << 20;
    return options;
  }

  std::unique_ptr<StateStore> OpenStore(const StateStoreOptions& options) {
    auto store = StateStore::Open(options);
    EXPECT_TRUE(store.has_value()) << store.error().message;
    return store.has_value() ? std::move(*store) : nullptr;
  }
  std::unique_ptr<StateStore> OpenStore() { return OpenStore(Options()); }

  // The ids of the stored dossiers, in the order ForEachDossier visits them.
  static std::vector<std::string> StoredIds(StateStore& store) {
    std::vector<std::string> ids;
    auto s = store.ForEachDossier([&](const DossierState& d) {
      ids.push_back(d.dossier_id);
      return true;
    });
    EXPECT_TRUE(s.ok()) << s.error().message;
    return ids;
  }

  static void Commit(StateStore& store, StateBatch batch) {
    auto s = store.Commit(std::move(batch));
    ASSERT_TRUE(s.ok()) << s.error().message;
  }

  // Commits dossiers prefix0 .. prefix<n-1> in one batch (PutDossiers).
  static void CommitDossiers(StateStore& store, const std::string& prefix, int n) {
    EncodedDossiers encoded;
    for (int i = 0; i < n; ++i) encoded.Add(Dossier(prefix + std::to_string(i)));
    auto batch = store.NewBatch();
    batch.PutDossiers(encoded);
    Commit(store, std::move(batch));
  }

  // Opens the store's RocksDB directly with all its column families, to tamper with bytes.
  void WithRawDb(
      const std::function<void(rocksdb::DB*, const std::vector<rocksdb::ColumnFamilyHandle*>&,
                               const std::vector<std::string>&)>& f) {
    std::vector<std::string> names;
    ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), Options().path, &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    descriptors.reserve(names.size());
    for (const auto& name : names) descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(
        rocksdb::DB::Open(rocksdb::DBOptions(), Options().path, descriptors, &handles, &db).ok());
    f(db, handles, names);
    for (auto* h : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
    delete db;
  }

  // The store's format version as stored (the store closed), nullopt when absent or malformed.
  std::optional<uint32_t> StoredFormatVersion() {
    std::string version;
    WithRawDb([&](rocksdb::DB* db, const auto& handles, const auto& names) {
      ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), Handle(handles, names, keys::kMetaFamily),
                          std::string(keys::kFormatVersionKey), &version)
                      .ok());
    });
    return keys::DecodeFixed32Value(version);
  }

  static rocksdb::ColumnFamilyHandle* Handle(const std::vector<rocksdb::ColumnFamilyHandle*>& hs,
                                             const std::vector<std::string>& names,
                                             std::string_view name) {
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i] == name) return hs[i];
    }
    return nullptr;
  }

  TempDir dir_;
};

TEST_F(StateStoreTest, OpenCreatesMissingDirectoriesAndAnEmptyStore) {
  auto options = Options();
  options.path = dir_.Sub("a/b/c");
  auto store = OpenStore(options);
  ASSERT_TRUE(store);
  EXPECT_TRUE(std::filesystem::is_directory(options.path));
  auto dossier = store->GetDossier("none");
  ASSERT_TRUE(dossier.has_value());
  EXPECT_FALSE(dossier->has_value());
  EXPECT_TRUE(store->LoadOffsets()->empty());
  EXPECT_TRUE(store->LoadAggregates()->empty());
  EXPECT_FALSE(store->GetOffset(Events(0))->has_value());
  EXPECT_FALSE(store->GetWatermark(PartitionId(0))->has_value());
  EXPECT_FALSE(store->NextTimerDue(PartitionId(0))->has_value());
  EXPECT_TRUE(store->ReadOutbox(10)->empty());
}

TEST(EngineDescription, NamesTheLinkedRocksDBVersionAndBuild) {
  const std::string description = EngineDescription();
  // The version comes from the library linked, the build from the configuration; the headers
  // compiled against are the same version (scripts/build-rocksdb.sh checks it).
  const std::string version = std::to_string(ROCKSDB_MAJOR) + "." + std::to_string(ROCKSDB_MINOR) +
                              "." + std::to_string(ROCKSDB_PATCH);
  EXPECT_EQ(description.rfind("RocksDB " + version + " (", 0), 0u) << description;
  EXPECT_TRUE(description.find("system package") != std::string::npos ||
              description.find("release build") != std::string::npos)
      << description;
}

// Exists tells a store's directory from any other without writing to it (export and
// recompute refuse the others rather than let RocksDB create a store there).
TEST_F(StateStoreTest, ExistsOnlyWhereAStoreIsAndWritesNothing) {
  const std::string other = Options().path + "-other";
  std::filesystem::create_directories(other);
  EXPECT_FALSE(StateStore::Exists(other));
  EXPECT_TRUE(std::filesystem::is_empty(other));
  EXPECT_FALSE(StateStore::Exists(other + "/missing"));
  std::filesystem::remove_all(other);
  EXPECT_FALSE(StateStore::Exists(Options().path));
  auto store = OpenStore();
  EXPECT_TRUE(StateStore::Exists(Options().path));
}

TEST_F(StateStoreTest, RejectsInvalidOptions) {
  auto options = Options();
  options.path = "";
  EXPECT_EQ(StateStore::Open(options).error().code, ErrorCode::kInvalidArgument);
  options = Options();
  options.disable_wal = true;
  options.sync_writes = true;
  EXPECT_EQ(StateStore::Open(options).error().code, ErrorCode::kInvalidArgument);
  options = Options();
  options.write_buffer_bytes = options.block_cache_bytes + 1;
  EXPECT_EQ(StateStore::Open(options).error().code, ErrorCode::kInvalidArgument);
}

TEST_F(StateStoreTest, CommittedStateSurvivesReopen) {
  {
    auto store = OpenStore();
    auto batch = store->NewBatch();
    batch.PutDossier(Dossier("D1"));
    batch.PutDossier(Dossier("D2", 1));
    batch.PutTimer(Timer{PartitionId(0), At(5000), "D1", TimerKind::kBreach});
    batch.PutTimer(Timer{PartitionId(1), At(4000), "D2", TimerKind::kWarning});
    batch.PutAggregate(OnlineAggregate(), Counters(2, 2));
    batch.PutOffset(Events(0), Offset(101));
    batch.PutOffset(Events(1), Offset(7));
    batch.PutWatermark(PartitionId(0), At(1'751'328'000'000));
    batch.AppendOutbox("alert-1");
    EXPECT_EQ(batch.Count(), 9u);
    EXPECT_GT(batch.ByteSize(), 100u);
    Commit(*store, std::move(batch));
    auto closed = store->Close();
    ASSERT_TRUE(closed.ok()) << closed.error().message;
  }
  auto store = OpenStore();
  ASSERT_TRUE(store);
  auto d1 = store->GetDossier("D1");
  ASSERT_TRUE(d1.has_value() && d1->has_value());
  EXPECT_EQ((*d1)->agency_code, "000.00.11.H57");
  EXPECT_EQ((*d1)->due_at, At(1'752'192'000'000));
  EXPECT_EQ(std::vector<uint64_t>((*d1)->applied_event_ids.begin(), (*d1)->applied_event_ids.end()),
            std::vector<uint64_t>{42});
  EXPECT_EQ((*store->GetDossier("D2"))->partition, PartitionId(1));

  EXPECT_EQ(*store->NextTimerDue(PartitionId(0)), At(5000));
  EXPECT_EQ(*store->NextTimerDue(PartitionId(1)), At(4000));

  auto aggregates = store->LoadAggregates();
  ASSERT_TRUE(aggregates.has_value());
  ASSERT_EQ(aggregates->size(), 1u);
  EXPECT_EQ((*aggregates)[0].first, OnlineAggregate());
  EXPECT_EQ((*aggregates)[0].second, Counters(2, 2));

  EXPECT_EQ(*store->GetOffset(Events(0)), Offset(101));
  auto offsets = store->LoadOffsets();
  ASSERT_TRUE(offsets.has_value());
  ASSERT_EQ(offsets->size(), 2u);
  EXPECT_EQ((*offsets)[0], std::make_pair(Events(0), Offset(101)));
  EXPECT_EQ((*offsets)[1], std::make_pair(Events(1), Offset(7)));
  EXPECT_EQ(*store->GetWatermark(PartitionId(0)), At(1'751'328'000'000));

  auto outbox = store->ReadOutbox(10);
  ASSERT_TRUE(outbox.has_value());
  ASSERT_EQ(outbox->size(), 1u);
  EXPECT_EQ((*outbox)[0].sequence, 1u);
  EXPECT_EQ((*outbox)[0].payload, "alert-1");
}

TEST_F(StateStoreTest, LaterWritesReplaceEarlierOnes) {
  auto store = OpenStore();
  auto batch = store->NewBatch();
  batch.PutOffset(Events(0), Offset(1));
  batch.PutOffset(Events(0), Offset(2));  // same batch: the later one wins
  Commit(*store, std::move(batch));
  EXPECT_EQ(*store->GetOffset(Events(0)), Offset(2));
  batch = store->NewBatch();
  batch.PutOffset(Events(0), Offset(3));
  DossierState d = Dossier("D1");
  batch.PutDossier(d);
  d.status = DossierStatus::kCompleted;
  batch.PutDossier(d);
  Commit(*store, std::move(batch));
  EXPECT_EQ(*store->GetOffset(Events(0)), Offset(3));
  EXPECT_EQ((*store->GetDossier("D1"))->status, DossierStatus::kCompleted);
}

// NewBatch reuses the buffer of the batch committed last: the new batch starts empty and
// commits only its own operations.
TEST_F(StateStoreTest, ABatchAfterACommitHoldsNoneOfTheLastOnesOperations) {
  auto store = OpenStore();
  auto batch = store->NewBatch();
  batch.PutDossier(Dossier("D1"));
  batch.PutOffset(Events(0), Offset(7));
  batch.AppendOutbox(std::string(4096, 'x'));
  Commit(*store, std::move(batch));
  for (int round = 0; round < 3; ++round) {
    batch = store->NewBatch();
    EXPECT_EQ(batch.Count(), 0u);
    const std::string id = "D" + std::to_string(round + 2);
    batch.PutDossier(Dossier(id));
    batch.AppendOutbox("alert-" + id);
    EXPECT_EQ(batch.Count(), 2u);
    Commit(*store, std::move(batch));
  }
  EXPECT_EQ(StoredIds(*store), (std::vector<std::string>{"D1", "D2", "D3", "D4"}));
  EXPECT_EQ(*store->GetOffset(Events(0)), Offset(7));
  auto outbox = store->ReadOutbox(10);
  ASSERT_TRUE(outbox.has_value());
  ASSERT_EQ(outbox->size(), 4u);
  for (size_t i = 0; i < outbox->size(); ++i) EXPECT_EQ((*outbox)[i].sequence, i + 1);
  EXPECT_EQ((*outbox)[0].payload, std::string(4096, 'x'));
  EXPECT_EQ((*outbox)[3].payload, "alert-D4");
}

// A crashed process loses at most the batches that were not yet durable, and each batch is
// there entirely or not at all in every column family (exactly-once: the offset rewinds
// together with the state, the outbox and the watermark).
TEST_F(StateStoreTest, CrashWithoutWalKeepsFlushedBatchAndDropsTheRestEntirely) {
  const std::string command = std::string(STATE_CRASH_HELPER) + " '" + Options().path + "' no_wal";
  ASSERT_EQ(std::system(command.c_str()), 0);

  auto store = OpenStore();
  ASSERT_TRUE(store);
  EXPECT_TRUE(store->GetDossier("A")->has_value());
  EXPECT_FALSE(store->GetDossier("B")->has_value());
  auto timers = store->DueTimers(PartitionId(0), Instant::max(), 10);
  ASSERT_EQ(timers->size(), 1u);
  EXPECT_EQ((*timers)[0].dossier_id, "A");
  EXPECT_EQ((*store->LoadAggregates())[0].second[AggregateField::kReceived], 1);
  EXPECT_EQ(*store->GetOffset(TopicPartition{"dossier-events", PartitionId(0)}), Offset(100));
  EXPECT_EQ(*store->GetWatermark(PartitionId(0)), At(1000));
  auto outbox = store->ReadOutbox(10);
  ASSERT_EQ(outbox->size(), 1u);
  EXPECT_EQ((*outbox)[0].payload, "alert-A");

  // Replaying batch B takes the sequence number that the lost batch had taken.
  auto batch = store->NewBatch();
  batch.AppendOutbox("alert-B");
  Commit(*store, std::move(batch));
  EXPECT_EQ((*store->ReadOutbox(10))[1].sequence, 2u);
}

// A page of the outbox is bounded in bytes as well as entries (a relay read 5,000 dead
// letters of 64 KiB each at once); the entry that reaches the bound is in the page.
TEST_F(StateStoreTest, ReadOutboxStopsAtItsByteBound) {
  auto store = OpenStore();
  auto batch = store->NewBatch();
  for (int i = 0; i < 10; ++i) batch.AppendOutbox(std::string(1000, static_cast<char>('a' + i)));
  Commit(*store, std::move(batch));
  EXPECT_EQ(store->ReadOutbox(100)->size(), 10u);
  EXPECT_EQ(store->ReadOutbox(100, 2500)->size(), 3u);
  EXPECT_EQ(store->ReadOutbox(100, 3000)->size(), 3u);
  EXPECT_EQ(store->ReadOutbox(100, 1)->size(), 1u);
  EXPECT_EQ(store->ReadOutbox(2, 5000)->size(), 2u);
}

TEST_F(StateStoreTest, CrashWithWalKeepsEveryCommittedBatch) {
  const std::string command = std::string(STATE_CRASH_HELPER) + " '" + Options().path + "' wal";
  ASSERT_EQ(std::system(command.c_str()), 0);

  auto store = OpenStore();
  ASSERT_TRUE(store);
  EXPECT_TRUE(store->GetDossier("A")->has_value());
  EXPECT_TRUE(store->GetDossier("B")->has_value());
  EXPECT_EQ(store->DueTimers(PartitionId(0), Instant::max(), 10)->size(), 2u);
  EXPECT_EQ((*store->LoadAggregates())[0].second[AggregateField::kReceived], 2);
  EXPECT_EQ(*store->GetOffset(TopicPartition{"dossier-events", PartitionId(0)}), Offset(200));
  EXPECT_EQ(*store->GetWatermark(PartitionId(0)), At(2000));
  EXPECT_EQ(store->ReadOutbox(10)->size(), 2u);
}

// The option is process-wide and one-way (RocksDB's background threads serve every store of
// the process), so only the lowered priority is asserted: a store opened without it in the
// same process may already find the threads lowered. A test process started at a nice above
// 5 keeps its flush thread there (never raised).
TEST_F(StateStoreTest, LowPriorityBackgroundRunsTheFlushThreadAtNiceFive) {
  errno = 0;
  const int own_nice = getpriority(PRIO_PROCESS, 0);  // this thread's, as the pool's inherit
  ASSERT_EQ(errno, 0);
  auto options = Options();
  options.low_priority_background = true;
  auto store = OpenStore(options);
  ASSERT_TRUE(store);
  auto batch = store->NewBatch();
  batch.PutDossier(Dossier("D1"));
  Commit(*store, std::move(batch));
  // The flush thread lowers itself as the flush begins.
  ASSERT_TRUE(store->Flush().ok());
  // /proc/self/task/TID/stat: "TID (comm) state ..." and nice the 19th field, the 17th after
  // the comm's closing parenthesis.
  std::vector<int> flush_thread_nice;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm_file(task.path() / "comm");
    std::string comm;
    std::getline(comm_file, comm);
    if (comm != "rocksdb:high") continue;
    std::ifstream stat_file(task.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
    std::istringstream fields(stat.substr(stat.rfind(')') + 2));
    std::string field;
    for (int i = 0; i < 17 && fields >> field; ++i) {
    }
    flush_thread_nice.push_back(std::stoi(field));
  }
  EXPECT_EQ(flush_thread_nice, std::vector<int>{std::max(5, own_nice)});
}

TEST_F(StateStoreTest, DisabledWalFlushAndReopenKeepsData) {
  auto options = Options();
  options.disable_wal = true;
  {
    auto store = OpenStore(options);
    auto batch = store->NewBatch();
    batch.PutDossier(Dossier("D1"));
    batch.PutOffset(Events(0), Offset(10));
    Commit(*store, std::move(batch));
    ASSERT_TRUE(store->Flush().ok());
    batch = store->NewBatch();
    batch.PutDossier(Dossier("D2"));
    batch.PutOffset(Events(0), Offset(20));
    Commit(*store, std::move(batch));
    // No Flush: a clean close (the destructor) flushes what the WAL would have protected.
  }
  auto store = OpenStore(options);
  EXPECT_TRUE(store->GetDossier("D1")->has_value());
  EXPECT_TRUE(store->GetDossier("D2")->has_value());
  EXPECT_EQ(*store->GetOffset(Events(0)), Offset(20));
}

// A sink written outside the store (`replay`'s alerts file) stores its position with the
// commits that wrote to it, and the flush hook runs before a flush writes anything (no new
// table file yet), so the sink can be made durable before its position is.
TEST_F(StateStoreTest, ASinkPositionCommitsWithItsBatchAndTheHookRunsBeforeEachFlush) {
  auto options = Options();
  options.disable_wal = true;
  auto table_files = [&] {
    int n = 0;
    for (const auto& e : std::filesystem::directory_iterator(options.path)) {
      n += e.path().extension() == ".sst" ? 1 : 0;
    }
    return n;
  };
  {
    auto store = OpenStore(options);
    ASSERT_TRUE(store);
    EXPECT_FALSE(store->GetSinkPosition()->has_value());
    EXPECT_TRUE(store->wal_disabled());
    std::atomic<int> hooks{0};
    std::atomic<int> files_at_hook{-1};
    store->SetBeforeFlush([&] {
      files_at_hook = table_files();
      ++hooks;
    });
    auto batch = store->NewBatch();
    batch.PutDossier(Dossier("D1"));
    batch.PutSinkPosition("position-1");
    Commit(*store, std::move(batch));
    EXPECT_EQ(*store->GetSinkPosition(), std::optional<std::string>("position-1"));
    const int files_before = table_files();
    ASSERT_TRUE(store->Flush().ok());
    EXPECT_EQ(hooks.load(), 1);
    EXPECT_EQ(files_at_hook.load(), files_before);
    EXPECT_GT(table_files(), files_before);

    // The relay's writes store it too; removed, the hook no longer runs.
    ASSERT_TRUE(store->PutRelayPosition("relay-1", "position-2").ok());
    EXPECT_EQ(hooks.load(), 2);  // PutRelayPosition flushes (no WAL)
    store->SetBeforeFlush({});
    batch = store->NewBatch();
    batch.AppendOutbox("dead letter");
    Commit(*store, std::move(batch));
    ASSERT_TRUE(store->DeleteOutbox(1, "relay-2", "position-3").ok());
    ASSERT_TRUE(store->Flush().ok());
    EXPECT_EQ(hooks.load(), 2);
  }
  {
    auto store = OpenStore(options);
    ASSERT_TRUE(store);
    EXPECT_EQ(*store->GetSinkPosition(), std::optional<std::string>("position-3"));
    EXPECT_EQ(*store->GetRelayPosition(), std::optional<std::string>("relay-2"));
  }
  // The first sink position moved the store to format version 2, which builds before sink
  // positions refuse (this one reads both).
  EXPECT_EQ(StoredFormatVersion(), std::optional<uint32_t>(2));
}

// A store without a sink position (what `run` writes) stays at format version 1, readable by
// builds before sink positions.
TEST_F(StateStoreTest, AStoreWithoutASinkPositionKeepsFormatVersion1) {
  {
    auto store = OpenStore();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->PutRelayPosition("relay-1").ok());
    CommitDossiers(*store, "D", 3);
  }
  EXPECT_EQ(StoredFormatVersion(), std::optional<uint32_t>(1));
}

TEST_F(StateStoreTest, DueTimersAreOrderedPerPartitionAndLimited) {
  auto store = OpenStore();
  auto batch = store->NewBatch();
  const std::vector<int64_t> dues = {-86'400'000, -1, 0, 1, 1000, 1'751'328'000'000};
  for (int32_t p : {0, 1, 2}) {
    for (int64_t due : dues) {
      batch.PutTimer(Timer{PartitionId(p), At(due), "d" + std::to_string(due), TimerKind::kBreach});
    }
  }
  batch.PutTimer(Timer{PartitionId(1), At(0), "d0", TimerKind::kWarning});
  batch.PutTimer(Timer{PartitionId(1), At(0), "a", TimerKind::kBreach});
  Commit(*store, std::move(batch));

  auto due = store->DueTimers(PartitionId(1), At(0), 100);
  ASSERT_TRUE(due.has_value()) << due.error().message;
  std::vector<Timer> expected = {
      {PartitionId(1), At(-86'400'000), "d-86400000", TimerKind::kBreach},
      {PartitionId(1), At(-1), "d-1", TimerKind::kBreach},
      {PartitionId(1), At(0), "d0", TimerKind::kWarning},  // kind before dossier id
      {PartitionId(1), At(0), "a", TimerKind::kBreach},
      {PartitionId(1), At(0), "d0", TimerKind::kBreach},
  };
  EXPECT_EQ(*due, expected);

  auto limited = store->DueTimers(PartitionId(1), At(0), 2);
  ASSERT_EQ(limited->size(), 2u);
  EXPECT_EQ((*limited)[1].due, At(-1));
  EXPECT_TRUE(store->DueTimers(PartitionId(1), At(0), 0)->empty());
  EXPECT_TRUE(store->DueTimers(PartitionId(1), At(-86'400'001), 10)->empty());
  EXPECT_EQ(store->DueTimers(PartitionId(2), Instant::max(), 100)->size(), dues.size());
  EXPECT_TRUE(store->DueTimers(PartitionId(3), Instant::max(), 100)->empty());
  EXPECT_EQ(*store->NextTimerDue(PartitionId(2)), At(-86'400'000));

  batch = store->NewBatch();
  batch.DeleteTimer(Timer{PartitionId(2), At(-86'400'000), "d-86400000", TimerKind::kBreach});
  Commit(*store, std::move(batch));
  EXPECT_EQ(*store->NextTimerDue(PartitionId(2)), At(-1));
}

TEST_F(StateStoreTest, DueTimersAtTheExtremesOfPartitionAndTime) {
  auto store = OpenStore();
  constexpr int32_t kMaxPartition = std::numeric_limits<int32_t>::max();
  const Timer last{PartitionId(kMaxPartition), Instant::max(), "z", TimerKind::kStepBreach};
  const Timer first{PartitionId(kMaxPartition), Instant::min(), "a", TimerKind::kWarning};
  auto batch = store->NewBatch();
  batch.PutTimer(last);
  batch.PutTimer(first);
  Commit(*store, std::move(batch));
  EXPECT_EQ(*store->DueTimers(PartitionId(kMaxPartition), Instant::max(), 10),
            (std::vector<Timer>{first, last}));
  EXPECT_EQ(*store->DueTimers(PartitionId(kMaxPartition), Instant::min(), 10),
            (std::vector<Timer>{first}));
}

TEST_F(StateStoreTest, AggregatesWithZeroCountersAreDeleted) {
  auto store = OpenStore();
  const AggregateKey other{PartitionId(0), "000.00.11.H57", "24841", Channel::kInPerson};
  auto batch = store->NewBatch();
  batch.PutAggregate(OnlineAggregate(), Counters(1, 1));
  batch.PutAggregate(other, Counters(1, 0));
  Commit(*store, std::move(batch));
  ASSERT_EQ(store->LoadAggregates()->size(), 2u);
  batch = store->NewBatch();
  batch.PutAggregate(OnlineAggregate(), AggregateCounters{});
  Commit(*store, std::move(batch));
  auto aggregates = store->LoadAggregates();
  ASSERT_EQ(aggregates->size(), 1u);
  EXPECT_EQ((*aggregates)[0].first, other);
}

TEST_F(StateStoreTest, OutboxSequenceIsMonotonicAcrossDeletesAndReopen) {
  {
    auto store = OpenStore();
    auto batch = store->NewBatch();
    batch.AppendOutbox("a1");
    batch.AppendOutbox("a2");
    batch.AppendOutbox("a3");
    Commit(*store, std::move(batch));
    auto entries = store->ReadOutbox(10);
    ASSERT_EQ(entries->size(), 3u);
    EXPECT_EQ((*entries)[0].sequence, 1u);
    EXPECT_EQ((*entries)[2].sequence, 3u);
    EXPECT_EQ(store->ReadOutbox(2)->size(), 2u);

    ASSERT_TRUE(store->DeleteOutbox(2).ok());
    entries = store->ReadOutbox(10);
    ASSERT_EQ(entries->size(), 1u);
    EXPECT_EQ((*entries)[0].sequence, 3u);
    EXPECT_EQ((*entries)[0].payload, "a3");
    ASSERT_TRUE(store->DeleteOutbox(1).ok());  // already deleted: no-op
    ASSERT_TRUE(store->DeleteOutbox(3).ok());
    EXPECT_TRUE(store->ReadOutbox(10)->empty());
  }
  // Drained completely, then reopened: numbering continues.
  auto store = OpenStore();
  auto batch = store->NewBatch();
  batch.AppendOutbox("a4");
  Commit(*store, std::move(batch));
  auto entries = store->ReadOutbox(10);
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].sequence, 4u);

  // Deleting past the end only deletes what exists; later entries are still read.
  ASSERT_TRUE(store->DeleteOutbox(std::numeric_limits<uint64_t>::max()).ok());
  batch = store->NewBatch();
  batch.AppendOutbox("a5");
  Commit(*store, std::move(batch));
  entries = store->ReadOutbox(10);
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].sequence, 5u);
}

TEST_F(StateStoreTest, PartiallyDrainedOutboxIsReadFromItsOldestEntryAfterReopen) {
  {
    auto store = OpenStore();
    auto batch = store->NewBatch();
    for (int i = 0; i < 5; ++i) batch.AppendOutbox("a" + std::to_string(i));
    Commit(*store, std::move(batch));
    ASSERT_TRUE(store->DeleteOutbox(3).ok());
  }
  auto store = OpenStore();
  auto entries = store->ReadOutbox(10);
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[0].sequence, 4u);
  // The outbox's size, from its first entry's sequence (what `serve` and a stop report).
  auto size = store->OutboxSize();
  ASSERT_TRUE(size.has_value()) << size.error().message;
  EXPECT_EQ(*size, 2u);
  ASSERT_TRUE(store->DeleteOutbox(5).ok());
  EXPECT_EQ(*store->OutboxSize(), 0u);
}

TEST_F(StateStoreTest, UnknownFormatVersionIsRefused) {
  { ASSERT_TRUE(OpenStore()); }
  WithRawDb([&](rocksdb::DB* db, const auto& handles, const auto& names) {
    auto* meta = Handle(handles, names, keys::kMetaFamily);
    ASSERT_NE(meta, nullptr);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), meta, std::string(keys::kFormatVersionKey),
                        keys::Fixed32Value(3))
                    .ok());
  });
  auto store = StateStore::Open(Options());
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(store.error().message.find("format version 3"), std::string::npos)
      << store.error().message;
}

TEST_F(StateStoreTest, MalformedFormatVersionIsCorruption) {
  { ASSERT_TRUE(OpenStore()); }
  WithRawDb([&](rocksdb::DB* db, const auto& handles, const auto& names) {
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), Handle(handles, names, keys::kMetaFamily),
                        std::string(keys::kFormatVersionKey), "x")
                    .ok());
  });
  auto store = StateStore::Open(Options());
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code, ErrorCode::kCorruption);
}

TEST_F(StateStoreTest, ForeignRocksDbIsRefusedAndLeftUntouched) {
  {
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, Options().path, &db).ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "k", "v").ok());
    delete db;
  }
  auto store = StateStore::Open(Options());
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code, ErrorCode::kInvalidArgument);
  std::vector<std::string> names;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), Options().path, &names).ok());
  EXPECT_EQ(names, std::vector<std::string>{"default"});
}

TEST_F(StateStoreTest, CorruptDossierValueIsReportedNotCrashed) {
  {
    auto store = OpenStore();
    auto batch = store->NewBatch();
    batch.PutDossier(Dossier("D1"));
    Commit(*store, std::move(batch));
  }
  WithRawDb([&](rocksdb::DB* db, const auto& handles, const auto& names) {
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), Handle(handles, names, keys::kDossiersFamily),
                        "D2", "\x01\x02")
                    .ok());
  });
  auto store = OpenStore();
  EXPECT_TRUE(store->GetDossier("D1").has_value());
  auto d2 = store->GetDossier("D2");
  ASSERT_FALSE(d2.has_value());
  EXPECT_EQ(d2.error().code, ErrorCode::kCorruption);
  EXPECT_NE(d2.error().message.find("D2"), std::string::npos);
  std::vector<std::string_view> ids = {"D1", "D2"};
  EXPECT_EQ(store->GetDossiers(ids).error().code, ErrorCode::kCorruption);
  auto scan = store->ForEachDossier([](const DossierState&) { return true; });
  ASSERT_FALSE(scan.ok());
  EXPECT_EQ(scan.error().code, ErrorCode::kCorruption);
}

TEST_F(StateStoreTest, GetDossiersAnswersInRequestOrder) {
  auto store = OpenStore();
  auto batch = store->NewBatch();
  batch.PutDossier(Dossier("D1", 1));
  batch.PutDossier(Dossier("D3", 3));
  Commit(*store, std::move(batch));
  std::vector<std::string_view> ids = {"D3", "D2", "D1", "D3"};
  auto found = store->GetDossiers(ids);
  ASSERT_TRUE(found.has_value()) << found.error().message;
  ASSERT_EQ(found->size(), 4u);
  EXPECT_EQ((*found)[0]->partition, PartitionId(3));
  EXPECT_FALSE((*found)[1].has_value());
  EXPECT_EQ((*found)[2]->dossier_id, "D1");
  EXPECT_EQ((*found)[3]->dossier_id, "D3");
  EXPECT_TRUE(store->GetDossiers({})->empty());
}

TEST_F(StateStoreTest, ForEachDossierVisitsInKeyOrderAndStopsEarly) {
  auto store = OpenStore();
  auto batch = store->NewBatch();
  for (const char* id : {"c", "a", "b", "d"}) batch.PutDossier(Dossier(id));
  Commit(*store, std::move(batch));
  std::vector<std::string> seen = StoredIds(*store);
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b", "c", "d"}));
  seen.clear();
  ASSERT_TRUE(store
                  ->ForEachDossier([&](const DossierState& s) {
                    seen.push_back(s.dossier_id);
                    return seen.size() < 2;
                  })
                  .ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b"}));
}

TEST_F(StateStoreTest, EncodedDossiersArePutInKeyOrderAndReadBackWhole) {
  auto store = OpenStore();
  // Ids that share their first 16 bytes, ids longer than the 32-byte sort prefix that share
  // it (the whole ids break the tie), one shorter than 16 bytes, one equal to another but
  // for a trailing NUL (equal zero-padded prefixes), and a state with its optional parts set.
  DossierState full = Dossier("H35.001-260105-000010", 4);
  full.current_unit = "other-unit";
  full.applied_event_ids = {1, 2, 3};
  full.due_at = FromEpochMillis(1'767'600'000'000);
  full.pauses.push_back({FromEpochMillis(1'767'500'000'000), FromEpochMillis(1'767'510'000'000)});
  EncodedDossiers encoded;
  encoded.Add(Dossier("H35.001-260105-000002", 2));
  encoded.Add(full);
  encoded.Add(Dossier("H35.001-260105-0000011", 3));
  encoded.Add(Dossier("A1", 1));
  // Bytes that order differently as signed chars, and a NUL inside the prefix.
  encoded.Add(Dossier(std::string("A\0B", 3), 5));
  encoded.Add(Dossier("\xff-last", 6));
  const std::string shared_32(32, 'S');
  encoded.Add(Dossier(shared_32 + "-2", 7));
  encoded.Add(Dossier(shared_32 + "-10", 8));
  encoded.Add(Dossier(std::string("A1\0", 3), 9));
  EXPECT_EQ(encoded.size(), 9u);
  EXPECT_GT(encoded.ByteSize(), 0u);
  auto batch = store->NewBatch();
  batch.PutDossiers(encoded);
  Commit(*store, std::move(batch));

  std::vector<std::string> seen = StoredIds(*store);
  EXPECT_EQ(seen, (std::vector<std::string>{std::string("A\0B", 3), "A1", std::string("A1\0", 3),
                                            "H35.001-260105-0000011", "H35.001-260105-000002",
                                            "H35.001-260105-000010", shared_32 + "-10",
                                            shared_32 + "-2", "\xff-last"}));
  EXPECT_EQ((*store->GetDossier(shared_32 + "-2"))->partition, PartitionId(7));
  EXPECT_EQ((*store->GetDossier(std::string_view("A1\0", 3)))->partition, PartitionId(9));
  EXPECT_EQ((*store->GetDossier(std::string_view("A\0B", 3)))->partition, PartitionId(5));
  auto read = store->GetDossier("H35.001-260105-000010");
  ASSERT_TRUE(read.has_value() && read->has_value());
  EXPECT_EQ(**read, full);
  EXPECT_EQ((*store->GetDossier("A1"))->partition, PartitionId(1));

  // GetDossiers sorts these ids for MultiGet as PutDossiers does, and answers in request
  // order, missing ids included. Read from a table file, where a MultiGet given keys out of
  // order would miss some (and RocksDB's debug builds assert the order it is told).
  ASSERT_TRUE(store->Flush().ok());
  const std::vector<std::string_view> ids = {"\xff-last",
                                             "missing-1",
                                             std::string_view("A1\0", 3),
                                             "H35.001-260105-000010",
                                             "A1",
                                             std::string_view("A\0B", 3),
                                             "H35.001-260105-000002",
                                             "missing-0",
                                             "H35.001-260105-0000011"};
  const std::vector<std::optional<int>> partitions = {6, std::nullopt, 9, 4, 1, 5,
                                                      2, std::nullopt, 3};
  const std::vector<std::string> long_ids = {shared_32 + "-2", shared_32 + "-10", shared_32 + "-1"};
  std::vector<std::string_view> all = ids;
  all.insert(all.end(), long_ids.begin(), long_ids.end());
  auto found = store->GetDossiers(all);
  ASSERT_TRUE(found.has_value()) << found.error().message;
  ASSERT_EQ(found->size(), all.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    SCOPED_TRACE(i);
    ASSERT_EQ((*found)[i].has_value(), partitions[i].has_value());
    if (partitions[i]) {
      EXPECT_EQ((*found)[i]->partition, PartitionId(*partitions[i]));
    }
  }
  EXPECT_EQ((*found)[ids.size()]->partition, PartitionId(7));
  EXPECT_EQ((*found)[ids.size() + 1]->partition, PartitionId(8));
  EXPECT_FALSE((*found)[ids.size() + 2].has_value());

  // Cleared, the same instance encodes the next commit's states.
  encoded.Clear();
  EXPECT_TRUE(encoded.empty());
  EXPECT_EQ(encoded.ByteSize(), 0u);
  full.current_unit = full.agency_code;
  encoded.Add(full);
  batch = store->NewBatch();
  batch.PutDossiers(encoded);
  Commit(*store, std::move(batch));
  EXPECT_EQ(**store->GetDossier("H35.001-260105-000010"), full);
}

TEST_F(StateStoreTest, StatePartitionsAreRecordedOnce) {
  {
    auto store = OpenStore();
    auto none = store->GetStatePartitions();
    ASSERT_TRUE(none.has_value()) << none.error().message;
    EXPECT_FALSE(none->has_value());
    auto batch = store->NewBatch();
    batch.PutStatePartitions(6);
    Commit(*store, std::move(batch));
  }
  auto store = OpenStore();  // survives a reopen
  auto recorded = store->GetStatePartitions();
  ASSERT_TRUE(recorded.has_value()) << recorded.error().message;
  EXPECT_EQ(*recorded, std::optional<int32_t>(6));
}

TEST_F(StateStoreTest, TimerChangesArePutAndDeletedInAnyOrder) {
  auto store = OpenStore();
  const Instant t0 = FromEpochMillis(1'767'600'000'000);
  const Timer old{PartitionId(1), t0, "H35.001-260105-000001", TimerKind::kBreach};
  auto batch = store->NewBatch();
  batch.PutTimer(old);
  Commit(*store, std::move(batch));

  const Timer later{PartitionId(1), t0 + Millis(1), "A", TimerKind::kWarning};
  const Timer same_due{PartitionId(1), t0, "H35.001-260105-0000002", TimerKind::kWarning};
  const Timer other{PartitionId(0), t0 + Millis(5), "Z", TimerKind::kStepBreach};
  EncodedTimerChanges changes;
  for (const auto& [timer, put] : {std::pair{&later, true}, std::pair{&old, false},
                                   std::pair{&other, true}, std::pair{&same_due, true}}) {
    changes.Add(timer->partition, timer->due, timer->kind, timer->dossier_id, put);
  }
  batch = store->NewBatch();
  batch.PutTimerChanges(changes);
  Commit(*store, std::move(batch));
  EXPECT_EQ(*store->DueTimers(PartitionId(1), Instant::max(), 10),
            (std::vector<Timer>{same_due, later}));
  EXPECT_EQ(*store->DueTimers(PartitionId(0), Instant::max(), 10), (std::vector<Timer>{other}));
}

TEST_F(StateStoreTest, BatchesAreBoundToTheirStore) {
  auto store = OpenStore();
  auto options = Options();
  options.path = dir_.Sub("other");
  auto other = OpenStore(options);
  auto batch = other->NewBatch();
  batch.PutOffset(Events(0), Offset(1));
  auto s = store->Commit(std::move(batch));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);

  auto moved_from = store->NewBatch();
  StateBatch taken = std::move(moved_from);
  EXPECT_EQ(store->Commit(std::move(moved_from)).error().code,  // NOLINT(bugprone-use-after-move)
            ErrorCode::kInvalidArgument);
  EXPECT_TRUE(store->Commit(std::move(taken)).ok());  // empty batch: nothing to write
}

TEST_F(StateStoreTest, SecondOpenOfTheSamePathFailsWhileLocked) {
  auto store = OpenStore();
  // What is in the directory before the refused open: RocksDB's own open would rotate the
  // holder's info LOG to LOG.old.* before finding its LOCK taken.
  auto listing = [&] {
    std::set<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(Options().path)) {
      names.insert(entry.path().filename().string());
    }
    return names;
  };
  const auto before = listing();
  ASSERT_TRUE(before.contains("LOG"));
  const auto log_size = std::filesystem::file_size(std::filesystem::path(Options().path) / "LOG");

  auto second = StateStore::Open(Options());
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code, ErrorCode::kIo) << second.error().message;
  EXPECT_NE(second.error().message.find("lock file"), std::string::npos) << second.error().message;
  EXPECT_EQ(listing(), before);
  EXPECT_GE(std::filesystem::file_size(std::filesystem::path(Options().path) / "LOG"), log_size);

  // Closed, the directory is free again.
  ASSERT_TRUE(store->Close().ok());
  auto third = StateStore::Open(Options());
  ASSERT_TRUE(third.has_value()) << third.error().message;
}

// Every open left a new empty WAL file, never deleted (RocksDB 7.8, facebook/rocksdb#11313;
// found by a helper): twenty exports, twenty files. What is committed survives the removal.
TEST_F(StateStoreTest, EmptyWalFilesDoNotPileUpAcrossOpens) {
  {
    auto store = OpenStore();
    auto batch = store->NewBatch();
    batch.PutDossier(Dossier("kept"));
    Commit(*store, std::move(batch));
  }
  auto wal_files = [&] {
    size_t n = 0;
    for (const auto& entry : std::filesystem::directory_iterator(Options().path)) {
      if (entry.path().extension() == ".log") ++n;
    }
    return n;
  };
  for (int i = 0; i < 10; ++i) {
    auto store = OpenStore();
    ASSERT_TRUE(store->GetDossier("kept")->has_value());
  }
  EXPECT_LE(wal_files(), 2u);
  // A WAL that holds writes (no clean close: the process died) is replayed, not removed.
  {
    auto store = OpenStore();
    auto batch = store->NewBatch();
    batch.PutDossier(Dossier("unflushed"));
    Commit(*store, std::move(batch));
    EXPECT_GE(wal_files(), 1u);
    std::filesystem::path copy = Options().path + "-crashed";
    std::filesystem::copy(Options().path, copy);  // the files as a crash would leave them
    ASSERT_TRUE(store->Close().ok());
    std::filesystem::remove_all(Options().path);
    std::filesystem::rename(copy, Options().path);
  }
  std::filesystem::remove(std::filesystem::path(Options().path) / "iocstream.lock");
  auto reopened = OpenStore();
  EXPECT_TRUE(reopened->GetDossier("unflushed")->has_value());
  EXPECT_TRUE(reopened->GetDossier("kept")->has_value());
  ASSERT_TRUE(reopened->Close().ok());

  // A process of an earlier iocstream holds only RocksDB's LOCK: its current WAL, empty, is
  // left alone (the open is refused by that lock).
  rocksdb::Options raw_options;
  rocksdb::DB* raw = nullptr;
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  std::vector<std::string> names;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(raw_options, Options().path, &names).ok());
  for (const auto& name : names) families.emplace_back(name, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  ASSERT_TRUE(rocksdb::DB::Open(raw_options, Options().path, families, &handles, &raw).ok());
  const size_t held = wal_files();
  EXPECT_GE(held, 1u);
  auto refused = StateStore::Open(Options());
  EXPECT_FALSE(refused.has_value());
  EXPECT_EQ(wal_files(), held);
  for (auto* h : handles) ASSERT_TRUE(raw->DestroyColumnFamilyHandle(h).ok());
  delete raw;
}

// A process killed while DB::Open created a new store left CURRENT with the default family
// and some of iocstream's, no meta family: every later open refused the directory as "not an
// iocstream state store" for good (found by a helper, kill -9 at ~150 ms). Such a store, all
// of its families iocstream's and empty, is finished; another program's database is still
// refused untouched.
TEST_F(StateStoreTest, AStoreWhoseCreationWasCutShortIsFinishedAndAForeignOneRefused) {
  auto make = [](const std::string& path, const std::vector<std::string>& families,
                 bool with_data) {
    rocksdb::Options raw_options;
    raw_options.create_if_missing = true;
    raw_options.create_missing_column_families = true;
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions());
    for (const auto& f : families) descriptors.emplace_back(f, rocksdb::ColumnFamilyOptions());
    rocksdb::DB* raw = nullptr;
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    ASSERT_TRUE(rocksdb::DB::Open(raw_options, path, descriptors, &handles, &raw).ok());
    if (with_data) {
      ASSERT_TRUE(raw->Put(rocksdb::WriteOptions(), handles[0], "k", "v").ok());
    }
    for (auto* h : handles) ASSERT_TRUE(raw->DestroyColumnFamilyHandle(h).ok());
    delete raw;
  };
  // Cut short: the default family and the dossiers one, empty.
  make(Options().path, {std::string(keys::kDossiersFamily)}, false);
  {
    auto store = OpenStore();
    auto batch = store->NewBatch();
    batch.PutDossier(Dossier("after"));
    Commit(*store, std::move(batch));
  }
  EXPECT_TRUE(OpenStore()->GetDossier("after")->has_value());

  // Another program's: a family of another name, or data in the default family.
  const std::string foreign = Options().path + "-foreign";
  for (const bool named : {true, false}) {
    std::filesystem::remove_all(foreign);
    make(foreign, named ? std::vector<std::string>{"theirs"} : std::vector<std::string>{}, !named);
    StateStoreOptions options = Options();
    options.path = foreign;
    auto refused = StateStore::Open(options);
    ASSERT_FALSE(refused.has_value());
    EXPECT_NE(refused.error().message.find("not an iocstream state store"), std::string::npos)
        << refused.error().message;
    std::vector<std::string> families;
    ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), foreign, &families).ok());
    EXPECT_EQ(families.size(), named ? 2u : 1u);  // none of ours added
  }
  std::filesystem::remove_all(foreign);
}

// A store whose CURRENT file was lost was created anew over its own files, which RocksDB then
// deleted: every dossier gone, every alert raised again (found by a helper). It is refused,
// its files kept, and opens again once CURRENT is back.
TEST_F(StateStoreTest, AStoreWithoutItsCurrentFileIsRefusedAndKept) {
  {
    auto store = OpenStore();
    auto batch = store->NewBatch();
    batch.PutDossier(Dossier("kept"));
    Commit(*store, std::move(batch));
  }
  const std::filesystem::path current = std::filesystem::path(Options().path) / "CURRENT";
  std::string current_text;
  std::getline(std::ifstream(current), current_text);
  // Files with contents: Open may remove empty write-ahead logs, as it always does.
  auto count_files = [&] {
    return std::count_if(std::filesystem::directory_iterator(Options().path),
                         std::filesystem::directory_iterator(),
                         [](const auto& entry) { return entry.file_size() > 0; });
  };
  std::filesystem::remove(current);
  const auto files = count_files();
  ASSERT_TRUE(StateStore::Damaged(Options().path).has_value());
  EXPECT_FALSE(StateStore::Exists(Options().path));
  auto refused = StateStore::Open(Options());
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kCorruption);
  EXPECT_NE(refused.error().message.find("but no CURRENT file: a damaged store, not opened"),
            std::string::npos)
      << refused.error().message;
  EXPECT_EQ(count_files(), files);
  EXPECT_FALSE(std::filesystem::exists(current));

  std::ofstream(current) << current_text << "\n";
  EXPECT_FALSE(StateStore::Damaged(Options().path).has_value());
  EXPECT_TRUE(OpenStore()->GetDossier("kept")->has_value());

  // Another program's files with the same endings are not a store's.
  const std::string shared = Options().path + "-shared";
  std::filesystem::create_directory(shared);
  std::ofstream(shared + "/app.log") << "a line\n";
  std::ofstream(shared + "/export.sst") << "x";
  EXPECT_FALSE(StateStore::Damaged(shared).has_value());
}

// A file given as the state directory was an I/O error (exit 2, retried by the service unit).
TEST_F(StateStoreTest, AFileGivenAsTheDirectoryIsInvalidArgument) {
  StateStoreOptions options = Options();
  options.path = Options().path + "-file";
  std::ofstream(options.path) << "not a directory\n";
  auto store = StateStore::Open(options);
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(store.error().message, "state store: " + options.path + " is not a directory");
}

// So was a path through a file (exit 2 where the file itself gave 1: a helper's finding).
TEST_F(StateStoreTest, APathThroughAFileIsInvalidArgument) {
  const std::string file = Options().path + "-file";
  std::ofstream(file) << "not a directory\n";
  StateStoreOptions options = Options();
  options.path = file + "/state";
  auto store = StateStore::Open(options);
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(store.error().message, "state store: cannot create " + options.path + ": " +
                                       std::make_error_code(std::errc::not_a_directory).message());
}

// A state directory given as a symbolic link to a missing directory said "cannot create ...:
// File exists" (found by a helper), then exited 2 as if the machine had failed (a helper's nit).
TEST_F(StateStoreTest, ADanglingSymbolicLinkIsNamedAsSuch) {
  StateStoreOptions options = Options();
  options.path = Options().path + "-link";
  std::filesystem::create_directory_symlink(Options().path + "-missing", options.path);
  auto store = StateStore::Open(options);
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code, ErrorCode::kInvalidArgument);  // exit status 1, bad input
  EXPECT_NE(store.error().message.find("is a symbolic link to " + Options().path +
                                       "-missing, which does not exist"),
            std::string::npos)
      << store.error().message;
}

// The assignment `run` records for `serve` (app/commands.cc): absent until written, then the
// last set written, the empty one included.
TEST_F(StateStoreTest, AssignmentRoundTrips) {
  auto store = StateStore::Open(Options());
  ASSERT_TRUE(store.has_value()) << store.error().message;
  auto none = (*store)->GetAssignment();
  ASSERT_TRUE(none.has_value());
  EXPECT_FALSE(none->has_value());
  for (const std::set<PartitionId>& set :
       {std::set<PartitionId>{PartitionId(0), PartitionId(5), PartitionId(11)},
        std::set<PartitionId>{}}) {
    StateBatch batch = (*store)->NewBatch();
    batch.PutAssignment(set);
    ASSERT_TRUE((*store)->Commit(std::move(batch)).ok());
    auto read = (*store)->GetAssignment();
    ASSERT_TRUE(read.has_value() && read->has_value());
    EXPECT_EQ(**read, set);
  }
  // Deleted (a replay into the directory): none again, not an empty set.
  StateBatch batch = (*store)->NewBatch();
  batch.DeleteAssignment();
  ASSERT_TRUE((*store)->Commit(std::move(batch)).ok());
  auto deleted = (*store)->GetAssignment();
  ASSERT_TRUE(deleted.has_value());
  EXPECT_FALSE(deleted->has_value());
}

TEST_F(StateStoreTest, CallsAfterCloseFail) {
  auto store = OpenStore();
  ASSERT_TRUE(store->Close().ok());
  ASSERT_TRUE(store->Close().ok());
  EXPECT_EQ(store->GetDossier("x").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(store->Commit(store->NewBatch()).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(store->Stats().block_cache_capacity, 0u);
}

TEST_F(StateStoreTest, StatsAreSane) {
  auto store = OpenStore();
  auto before = store->Stats();
  EXPECT_EQ(before.block_cache_capacity, 8u << 20);
  auto batch = store->NewBatch();
  for (int i = 0; i < 1000; ++i) batch.PutDossier(Dossier("D" + std::to_string(i)));
  const size_t batch_bytes = batch.ByteSize();
  Commit(*store, std::move(batch));
  auto after_commit = store->Stats();
  EXPECT_GE(after_commit.bytes_written - before.bytes_written, batch_bytes);
  EXPECT_GT(after_commit.wal_bytes_written, before.wal_bytes_written);
  EXPECT_GT(after_commit.memtable_bytes, 0u);
  ASSERT_TRUE(store->Flush().ok());
  auto after_flush = store->Stats();
  EXPECT_GT(after_flush.flush_bytes_written, 0u);
  EXPECT_GT(after_flush.sst_bytes, 0u);
  EXPECT_GE(after_flush.estimated_dossiers, 900u);
  EXPECT_LE(after_flush.estimated_dossiers, 1100u);
  // The memtable budget is charged to the cache, so usage stays near the configured bound.
  EXPECT_LE(after_flush.block_cache_usage, after_flush.block_cache_capacity + (1u << 20));
  ASSERT_TRUE(store->GetDossier("D1")->has_value());
}

// Waits (bounded) for the scan of the stored dossier ids that Open starts.
bool FilterReady(StateStore& store) {
  for (int i = 0; i < 3000 && !store.Stats().dossier_filter_ready; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return store.Stats().dossier_filter_ready;
}

TEST_F(StateStoreTest, TheDossierFilterAnswersNewIdsAndNeverHidesAStoredOne) {
  // Stored before the open (found by the filter's scan): in SST files and in the WAL.
  {
    auto store = OpenStore();
    CommitDossiers(*store, "S", 20'000);
    ASSERT_TRUE(store->Flush().ok());
    auto more = store->NewBatch();
    more.PutDossier(Dossier("W1"));
    Commit(*store, std::move(more));
  }
  auto store = OpenStore();
  // Stored while the scan may still run, by both put paths.
  for (int b = 0; b < 20; ++b) {
    EncodedDossiers encoded;
    for (int i = 0; i < 500; ++i) encoded.Add(Dossier("N" + std::to_string(b * 500 + i)));
    auto batch = store->NewBatch();
    batch.PutDossiers(encoded);
    batch.PutDossier(Dossier("P" + std::to_string(b)));
    Commit(*store, std::move(batch));
  }
  ASSERT_TRUE(FilterReady(*store));
  // And after it ended: only the put paths can tell the filter of these.
  {
    EncodedDossiers encoded;
    for (int i = 0; i < 100; ++i) encoded.Add(Dossier("L" + std::to_string(i)));
    auto batch = store->NewBatch();
    batch.PutDossiers(encoded);
    batch.PutDossier(Dossier("L-single"));
    Commit(*store, std::move(batch));
  }
  std::vector<std::string> stored = {"W1", "L-single"};
  for (int i = 0; i < 100; ++i) stored.push_back("L" + std::to_string(i));
  for (int i = 0; i < 20'000; ++i) stored.push_back("S" + std::to_string(i));
  for (int i = 0; i < 10'000; ++i) stored.push_back("N" + std::to_string(i));
  for (int b = 0; b < 20; ++b) stored.push_back("P" + std::to_string(b));
  std::vector<std::string_view> ids(stored.begin(), stored.end());
  std::vector<std::string> absent;
  for (int i = 0; i < 10'000; ++i) absent.push_back("X" + std::to_string(i));
  ids.insert(ids.end(), absent.begin(), absent.end());
  const uint64_t filtered_before = store->Stats().dossier_reads_filtered;
  auto found = store->GetDossiers(ids);
  ASSERT_TRUE(found.has_value()) << found.error().message;
  for (size_t i = 0; i < stored.size(); ++i) {
    ASSERT_TRUE((*found)[i].has_value()) << stored[i];
    ASSERT_EQ((*found)[i]->dossier_id, stored[i]);
  }
  for (size_t i = stored.size(); i < ids.size(); ++i) ASSERT_FALSE((*found)[i].has_value());
  // 16 MiB for 30k ids: next to no false positives, so nearly every absent id is answered
  // without RocksDB.
  const uint64_t filtered = store->Stats().dossier_reads_filtered - filtered_before;
  EXPECT_GE(filtered, absent.size() * 99 / 100);
  EXPECT_LE(filtered, absent.size());
  ASSERT_TRUE(store->GetDossier("S123")->has_value());
  EXPECT_FALSE(store->GetDossier("X1")->has_value());
  EXPECT_EQ(store->Stats().dossier_reads_filtered - filtered_before, filtered + 1);
}

TEST_F(StateStoreTest, WithoutADossierFilterEveryReadGoesToTheStore) {
  StateStoreOptions options = Options();
  options.dossier_filter_bytes = 0;
  auto store = OpenStore(options);
  auto batch = store->NewBatch();
  batch.PutDossier(Dossier("D1"));
  Commit(*store, std::move(batch));
  std::vector<std::string_view> ids = {"D1", "D2"};
  auto found = store->GetDossiers(ids);
  ASSERT_TRUE(found.has_value());
  EXPECT_TRUE((*found)[0].has_value());
  EXPECT_FALSE((*found)[1].has_value());
  EXPECT_FALSE(store->Stats().dossier_filter_ready);
  EXPECT_EQ(store->Stats().dossier_reads_filtered, 0u);
}

TEST_F(StateStoreTest, ClosingDuringTheDossierFilterScanStopsIt) {
  CommitDossiers(*OpenStore(), "S", 100'000);
  for (int i = 0; i < 5; ++i) {
    auto store = OpenStore();
    ASSERT_TRUE(store->Close().ok());  // joins the scan, wherever it is
    EXPECT_FALSE(store->GetDossier("S1").has_value());
  }
  auto store = OpenStore();
  ASSERT_TRUE(FilterReady(*store));
  EXPECT_TRUE(store->GetDossier("S99999")->has_value());
}

TEST_F(StateStoreTest, ReadsRunConcurrentlyWithCommits) {
  auto store = OpenStore();
  std::atomic<bool> done{false};
  std::atomic<int> read_errors{0};
  std::atomic<int> regressions{0};
  std::thread reader([&] {
    int64_t last_seen = -1;
    while (!done.load()) {
      auto offset = store->GetOffset(Events(0));
      auto dossier = store->GetDossier("D");
      auto timers = store->DueTimers(PartitionId(0), Instant::max(), 1000);
      if (!offset || !dossier || !timers) {
        ++read_errors;
        continue;
      }
      if (offset->has_value()) {
        if ((*offset)->value() < last_seen) ++regressions;
        last_seen = (*offset)->value();
      }
    }
  });
  for (int i = 0; i < 300; ++i) {
    auto batch = store->NewBatch();
    DossierState d = Dossier("D");
    d.paused_ms = i;
    batch.PutDossier(d);
    batch.PutTimer(Timer{PartitionId(0), At(i), "D", TimerKind::kBreach});
    if (i > 0) batch.DeleteTimer(Timer{PartitionId(0), At(i - 1), "D", TimerKind::kBreach});
    batch.PutOffset(Events(0), Offset(i));
    Commit(*store, std::move(batch));
  }
  done = true;
  reader.join();
  EXPECT_EQ(read_errors.load(), 0);
  EXPECT_EQ(regressions.load(), 0);
  EXPECT_EQ((*store->GetDossier("D"))->paused_ms, 299);
  EXPECT_EQ(store->DueTimers(PartitionId(0), Instant::max(), 10)->size(), 1u);
}

}  // namespace
}  // namespace iocstream::state
