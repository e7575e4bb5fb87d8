// Test helper for state_store_test: commits two batches to a store and then dies without
// closing it (std::_Exit: no destructors, no flush), as a crashed process would.
//   state_crash_helper PATH wal|no_wal
// Batch A is committed (and, without the WAL, flushed); batch B is only committed. The test
// then reopens the store and checks that each batch is there entirely or not at all.
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "iocstream/state/state_store.h"

using namespace iocstream;

namespace {

void CommitBatch(state::StateStore& store, const char* id, int64_t offset, int64_t counter) {
  auto batch = store.NewBatch();
  DossierState dossier;
  dossier.dossier_id = id;
  dossier.agency_code = "H57";
  batch.PutDossier(dossier);
  batch.PutTimer(Timer{PartitionId(0), FromEpochMillis(offset), id, TimerKind::kBreach});
  AggregateCounters counters;
  counters[AggregateField::kReceived] = counter;
  batch.PutAggregate(AggregateKey{PartitionId(0), "H57", "24841", Channel::kOnline}, counters);
  batch.PutOffset(TopicPartition{"dossier-events", PartitionId(0)}, Offset(offset));
  batch.PutWatermark(PartitionId(0), FromEpochMillis(offset * 10));
  batch.AppendOutbox(std::string("alert-") + id);
  if (auto s = store.Commit(std::move(batch)); !s.ok()) {
    std::cerr << s.error().message << "\n";
    std::_Exit(3);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  state::StateStoreOptions options;
  options.path = argv[1];
  options.disable_wal = std::strcmp(argv[2], "no_wal") == 0;
  options.block_cache_bytes = 8 << 20;
  options.write_buffer_bytes = 4 << 20;
  auto store = state::StateStore::Open(options);
  if (!store) {
    std::cerr << store.error().message << "\n";
    return 4;
  }
  CommitBatch(**store, "A", 100, 1);
  if (options.disable_wal) {
    if (auto s = (*store)->Flush(); !s.ok()) return 5;
  }
  CommitBatch(**store, "B", 200, 2);
  std::_Exit(0);
}
