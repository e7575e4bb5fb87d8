#include "iocstream/state/state_store.h"

#include <rocksdb/cache.h>
#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/statistics.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/table_properties_collectors.h>
#include <rocksdb/version.h>
#include <rocksdb/write_batch.h>
#include <rocksdb/write_buffer_manager.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/sort/pdqsort/pdqsort.hpp>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <limits>
#include <mutex>
#include <optional>
#include <stop_token>
#include <thread>
#include <tuple>

#include "iocstream/core/id_prefix.h"
#include "iocstream/core/prefetch.h"
#include "state/dossier_codec.h"
#include "state/dossier_filter.h"
#include "state/flush_hook.h"
#include "state/keys.h"

namespace iocstream::state {
namespace {

// The file in a store's directory that one process at a time locks (see Impl::process_lock).
constexpr std::string_view kProcessLockFile = "iocstream.lock";

enum Family : size_t {
  kDossiers = 0,
  kTimers,
  kAggregates,
  kOffsets,
  kOutbox,
  kMeta,
  kFamilyCount
};
constexpr std::array<std::string_view, kFamilyCount> kFamilyNames = {
    keys::kDossiersFamily, keys::kTimersFamily, keys::kAggregatesFamily,
    keys::kOffsetsFamily,  keys::kOutboxFamily, keys::kMetaFamily};

// Version of the store layout (families, keys, value encodings). Bump it on an incompatible
// change; Open refuses any other version, so an older build never misreads a newer store.
constexpr uint32_t kFormatVersion = 1;
// A store that holds a sink position (StateBatch::PutSinkPosition). Builds before it read
// version 1 only, so they refuse it: they would cut `replay`'s alerts file back to the relay
// position's length of it, which commits no longer move (a helper's trial: a replay of an
// earlier build on such a store lost 28,334 alerts, and the next one of this build the
// earlier build's). Written with the first sink position; a store that never had one (`run`)
// stays at version 1.
constexpr uint32_t kSinkFormatVersion = 2;
constexpr uint64_t kFirstOutboxSequence = 1;

rocksdb::Slice ToSlice(std::string_view s) { return {s.data(), s.size()}; }
std::string_view ToView(const rocksdb::Slice& s) { return {s.data(), s.size()}; }

Error FromRocks(const rocksdb::Status& s, std::string_view operation) {
  ErrorCode code = ErrorCode::kIo;
  if (s.IsCorruption()) {
    code = ErrorCode::kCorruption;
  } else if (s.IsNotFound()) {
    code = ErrorCode::kNotFound;
  } else if (s.IsInvalidArgument() || s.IsNotSupported()) {
    code = ErrorCode::kInvalidArgument;
  } else if (s.IsBusy() || s.IsTimedOut() || s.IsTryAgain()) {
    code = ErrorCode::kUnavailable;
  }
  std::string message = "state store: ";
  message.append(operation);
  message.append(": rocksdb: ");
  message.append(s.ToString());
  return Error{code, std::move(message)};
}

Error Closed() { return InvalidArgument("state store: used after Close()"); }

Error CorruptKey(std::string_view family) {
  return Error{ErrorCode::kCorruption,
               "state store: malformed key in column family '" + std::string(family) + "'"};
}

rocksdb::CompressionType ChooseCompression() {
  auto supported = rocksdb::GetSupportedCompressions();
  auto has = [&](rocksdb::CompressionType t) {
    return std::find(supported.begin(), supported.end(), t) != supported.end();
  };
  if (has(rocksdb::kLZ4Compression)) return rocksdb::kLZ4Compression;
  if (has(rocksdb::kSnappyCompression)) return rocksdb::kSnappyCompression;
  return rocksdb::kNoCompression;
}

// Memtables per column family: the active one and one being flushed (see FamilyOptions).
constexpr size_t kMemtablesPerFamily = 2;

// The size of one memtable of `family` (nullopt: the default family): its share of the
// write-buffer budget (see FamilyOptions).
size_t MemtableSize(std::optional<Family> family, size_t budget) {
  size_t share = budget / 32;
  if (family == kDossiers) share = budget / 32 * 11;
  if (family == kTimers || family == kOutbox) share = budget / 32 * 7;
  return std::max<size_t>(share, size_t{64} << 10);
}

// Column family options. Every family's tables use the ONE shared block cache, with index and
// filter blocks stored in it (cache_index_and_filter_blocks) rather than on the heap per open
// file: otherwise their memory grows with the data set, outside any budget. L0 index/filter
// blocks are pinned (they are hit on every read) and get the cache's high-priority pool.
rocksdb::ColumnFamilyOptions FamilyOptions(std::optional<Family> family,
                                           const StateStoreOptions& options,
                                           const std::shared_ptr<rocksdb::Cache>& cache,
                                           rocksdb::CompressionType compression) {
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  table.cache_index_and_filter_blocks = true;
  table.cache_index_and_filter_blocks_with_high_priority = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  table.format_version = 5;
  // Partitioned index and filters: a point lookup reads one small (4 KiB) partition of a
  // file's filter and index instead of the whole block, which for a file of a few hundred
  // thousand dossiers is hundreds of KiB. Without this, once the state outgrows the block
  // cache every miss re-reads (and checksums) whole filter blocks: with 10 million dossiers
  // and a 64 MiB cache that was most of the CPU. Only the small top-level blocks stay pinned.
  table.index_type = rocksdb::BlockBasedTableOptions::kTwoLevelIndexSearch;
  table.partition_filters = true;
  table.metadata_block_size = 4096;
  table.pin_top_level_index_and_filter = true;
  if (family == kDossiers) {
    // Point lookups by dossier id, many of them misses (a new dossier): a bloom filter avoids
    // reading a data block per level for each miss.
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    table.optimize_filters_for_memory = true;
  }

  rocksdb::ColumnFamilyOptions cf;
  cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  cf.compression = compression;
  cf.level_compaction_dynamic_level_bytes = true;
  // L0 files are written uncompressed (flushes skip LZ4, and the compactions that read them
  // skip decompression); they live a few flushes, until the compaction into the base level
  // compresses what is still there. Dossier values are compact binary records (LZ4 saves only
  // about a third of their blocks, and was the largest single cost of flushes and
  // compactions); most timers and outbox entries are deleted before that compaction. With
  // level_compaction_dynamic_level_bytes, element 0 is L0 and the others count from the base
  // level. The block cache holds uncompressed blocks either way.
  cf.compression_per_level.assign(static_cast<size_t>(cf.num_levels), compression);
  cf.compression_per_level[0] = rocksdb::kNoCompression;
  if (family == kDossiers) {
    // Every L0 compaction rewrites the base level (all the dossiers, while they fit in one
    // level): waiting for 16 L0 files instead of RocksDB's 4 does it a quarter as often
    // (8 until session 39: 16 took 0.2-0.4 of the 2.2 CPU s of flushes and compactions of a
    // 1M-dossier replay). Point reads pay a pinned filter probe per L0 file; they are few
    // (the dossier cache and the filter of stored ids answer most).
    cf.level0_file_num_compaction_trigger = 16;
    // A replay meets most dossiers for the first time: their lookups find nothing, after a
    // full search of each memtable's skiplist. A bloom filter over the memtable's keys (2% of
    // its size: tens of bits per entry) answers most of them without the search.
    cf.memtable_prefix_bloom_size_ratio = 0.02;
    cf.memtable_whole_key_filtering = true;
  }

  // Per-family memtable size (MemtableSize) as a share of the budget, in 32nds: dossiers 11, timers
  // 7, outbox 7, aggregates, offsets and meta 1 each; 28/32 = 7/8 in all, which is also where
  // the WriteBufferManager starts a flush. With atomic_flush every flush covers all families,
  // so the small ones never hold old memtables, and the first family to fill its share
  // flushes them all: the shares follow what each family receives per event. (The outbox
  // had 1/32, 1 MiB of a 32 MiB budget, less than the alerts of one commit on the simulated
  // stream: every commit flushed every family with a third of the budget used, and the
  // small L0 files doubled the compaction work.) max_write_buffer_number = 2 lets writes go
  // on into a new memtable while one flushes; if that one fills before the flush ends,
  // RocksDB stops writes until it does, so memtables never exceed twice the shares
  // (MaxMemtableBytes: 2 x 29/32 of the budget with the default family's share).
  // (With 3, memtables reached 87 MiB of a 32 MiB budget whenever flushes lagged: a 10M
  // dossier run peaked 100 MiB higher. The WriteBufferManager's own stall is not used: see
  // Open.)
  cf.write_buffer_size = MemtableSize(family, options.write_buffer_bytes);
  cf.max_write_buffer_number = static_cast<int>(kMemtablesPerFamily);
  // Batches carry each family's keys in key order (see StateBatch), spread over the whole
  // key space of the family. The memtable skiplist reuses the position of the
  // previous insert, but by default it does so only when the new key lands right next to
  // it; any node in between sends the insert back to the top of the skiplist, so that every
  // insert paid a full O(log n) search. With a hint (one per prefix; the empty prefix gives
  // one per memtable) it climbs only as many levels as the gap needs: O(log d) for d nodes
  // between consecutive keys of a batch.
  //
  // Not the outbox: its keys only grow, which the skiplist's own reuse of the previous insert
  // handles, and it takes range deletions (DeleteOutbox), which RocksDB 7.8 inserts into the
  // memtable's range-deletion skiplist with the same per-prefix hint as the point keys: a
  // hint into the other list (an assertion in RocksDB's debug build, memory corruption in
  // a release one).
  if (family != kOutbox) {
    cf.memtable_insert_with_hint_prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(0));
  }
  // Memtables allocate in arena blocks, and the WriteBufferManager charges whole blocks: the
  // default (1/8 of write_buffer_size, at most 1 MiB) would charge up to 1 MiB to each of the
  // families that hold a few keys (offsets, meta) per generation.
  const bool busy = family == kDossiers || family == kTimers || family == kOutbox;
  cf.arena_block_size =
      std::min<size_t>(cf.write_buffer_size / 8, busy ? size_t{1} << 20 : size_t{64} << 10);

  if (family == kOutbox) {
    // Queue-like family: keys are deleted in key order (delivered alerts), so scans from the
    // front would wade through tombstones. Files with many deletions in a window of entries
    // are compacted early to drop them.
    //
    // Not the timers: nearly every flushed timers file holds that many deletions (timers that
    // fired or were cancelled), so each flush was followed by a compaction that rewrote all
    // the family's files (a 4.57M-event replay: 62 such compactions, 7.7 of the 26 CPU
    // seconds of compaction). Their reads do not need it: but for the first read of a
    // partition, the pipeline reads timers a window at a time from past the ones that fired,
    // and the ordinary L0 compactions (every few flushes) take the tombstones down like any
    // other entry.
    cf.table_properties_collector_factories.emplace_back(
        rocksdb::NewCompactOnDeletionCollectorFactory(/*sliding_window_size=*/128,
                                                      /*deletion_trigger=*/64));
  }
  return cf;
}

// The nice value of RocksDB's flush and compaction threads with
// StateStoreOptions::low_priority_background. RocksDB's own Env::LowerThreadPoolCPUPriority
// offers nice 19 (CpuPriority::kLow) or SCHED_IDLE: at 19 a replay's flushes fell behind its
// writes (memtables at their two-per-family bound, +26 MiB of peak RSS in the memory bench);
// 5 kept most of the gain (a replay 1.7 to 2.8% faster, against 3 to 5% at 19) with the
// memtables as before (session 58).
constexpr int kBackgroundNice = 5;

}  // namespace

size_t MaxMemtableBytes(const StateStoreOptions& options) {
  size_t bytes = kMemtablesPerFamily * MemtableSize(std::nullopt, options.write_buffer_bytes);
  for (size_t f = 0; f < kFamilyCount; ++f) {
    bytes += kMemtablesPerFamily * MemtableSize(static_cast<Family>(f), options.write_buffer_bytes);
  }
  return bytes;
}

std::string EngineDescription() {
#ifndef IOCSTREAM_ROCKSDB_BUILD
#define IOCSTREAM_ROCKSDB_BUILD "unknown build"
#endif
  return "RocksDB " + rocksdb::GetRocksVersionAsString() + " (" + IOCSTREAM_ROCKSDB_BUILD + ")";
}

// ---------------------------------------------------------------------------------------------
// StateBatch

struct StateBatch::Rep {
  const void* owner = nullptr;
  std::array<rocksdb::ColumnFamilyHandle*, kFamilyCount> families{};
  rocksdb::WriteBatch batch;
  rocksdb::Status status;  // first failure while building; Commit returns it
  std::vector<std::string> outbox;
  size_t outbox_bytes = 0;
  std::string key;  // scratch buffers, reused across operations
  std::string value;
  DossierFilter* filter = nullptr;  // the store's, null when it keeps none

  void Record(const rocksdb::Status& s) {
    if (status.ok() && !s.ok()) status = s;
  }
};

StateBatch::StateBatch(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
StateBatch::StateBatch(StateBatch&& other) noexcept = default;
StateBatch& StateBatch::operator=(StateBatch&& other) noexcept = default;
StateBatch::~StateBatch() = default;

void StateBatch::PutDossier(const DossierState& dossier) {
  assert(rep_);
  if (rep_->filter != nullptr) rep_->filter->Insert(dossier.dossier_id);
  EncodeDossier(dossier, &rep_->value);
  rep_->Record(
      rep_->batch.Put(rep_->families[kDossiers], ToSlice(dossier.dossier_id), rep_->value));
}

void EncodedDossiers::Add(const DossierState& state) {
  const std::string_view id = state.dossier_id;
  Ref ref{MakeIdPrefix<4>(id), bytes_.size(), static_cast<uint32_t>(id.size()), 0,
          state.partition.value()};
  bytes_.append(id);
  const size_t value_start = bytes_.size();
  AppendDossier(state, &bytes_);
  ref.value_size = static_cast<uint32_t>(bytes_.size() - value_start);
  refs_.push_back(ref);
}

void EncodedDossiers::Append(const EncodedDossiers& other) {
  const size_t base = bytes_.size();
  bytes_.append(other.bytes_);
  for (Ref ref : other.refs_) {
    ref.offset += base;
    refs_.push_back(ref);
  }
}

namespace {
// Empties an encoded commit's buffers for the next one, keeping them, unless a rare huge
// commit (a recompute, a flush after a long pause) grew them far beyond what they last held:
// then they are released, not pinned for the process's life.
template <class Ref>
void ClearEncoded(std::string& bytes, std::vector<Ref>& refs) {
  constexpr size_t kKeepBytes = size_t{64} << 20;
  if (bytes.capacity() > kKeepBytes && bytes.capacity() / 4 > bytes.size()) {
    std::string().swap(bytes);
    std::vector<Ref>().swap(refs);
    return;
  }
  bytes.clear();
  refs.clear();
}
}  // namespace

void EncodedDossiers::Clear() { ClearEncoded(bytes_, refs_); }

void StateBatch::PutDossiers(EncodedDossiers& dossiers) {
  assert(rep_);
  // In key order: the memtable skiplist then inserts each key next to the previous one
  // (splice reuse) instead of searching from the top. Compared on the ids' first 32 bytes held
  // in the refs (no pointer chase per comparison), then, for longer ids, on the whole ids
  // (IdLess).
  const char* const bytes = dossiers.bytes_.data();
  auto id = [bytes](const EncodedDossiers::Ref& r) {
    return std::string_view(bytes + r.offset, r.id_size);
  };
  boost::sort::pdqsort_branchless(
      dossiers.refs_.begin(), dossiers.refs_.end(),
      [&](const EncodedDossiers::Ref& a, const EncodedDossiers::Ref& b) {
        return IdLess(a.prefix, id(a), b.prefix, id(b));
      });
  // Each id goes into the dossier filter, its block asked for a few ids ahead.
  constexpr size_t kPrefetchAhead = 8;
  DossierFilter* const filter = rep_->filter;
  const auto& refs = dossiers.refs_;
  auto id_at = [&](size_t i) { return id(refs[i]); };
  std::optional<DossierFilter::HashesAhead<kPrefetchAhead, decltype(id_at)>> filter_hashes;
  if (filter != nullptr) filter_hashes.emplace(*filter, refs.size(), id_at);
  for (size_t i = 0; i < refs.size(); ++i) {
    const EncodedDossiers::Ref& r = refs[i];
    if (i + 2 * kPrefetchAhead < refs.size()) {
      // In key order the encoded dossiers are read at random in the buffer the pipeline
      // thread wrote: a few hundred bytes each, asked for ahead (the copy into the batch was
      // a sixth of this thread's time), twice as far ahead as the filter's hash reads the id
      // (asked for at the same distance, the hash waited for the id's line: 8% of this
      // thread's perf samples).
      const EncodedDossiers::Ref& ahead = refs[i + 2 * kPrefetchAhead];
      prefetch::Bytes(bytes + ahead.offset, size_t{ahead.id_size} + ahead.value_size);
    }
    if (filter_hashes) filter->InsertHashed(filter_hashes->Take(i));
    rep_->Record(rep_->batch.Put(rep_->families[kDossiers],
                                 rocksdb::Slice(bytes + r.offset, r.id_size),
                                 rocksdb::Slice(bytes + r.offset + r.id_size, r.value_size)));
  }
}

void EncodedTimerChanges::Add(PartitionId partition, Instant due, TimerKind kind,
                              std::string_view dossier_id, bool put) {
  const size_t offset = bytes_.size();
  keys::AppendTimerKey(partition, due, kind, dossier_id, &bytes_);
  refs_.push_back({offset, static_cast<uint32_t>(bytes_.size() - offset), put});
}

void EncodedTimerChanges::Clear() { ClearEncoded(bytes_, refs_); }

void StateBatch::PutTimerChanges(EncodedTimerChanges& changes) {
  assert(rep_);
  // In key order, as for the dossiers. The keys' byte order is the family's (keys.h): they
  // are compared on their first 32 bytes held in the vector (partition, due, kind and the
  // first 19 bytes of the id, the whole of a standard id), then on the whole keys.
  struct ByKey {
    std::array<uint64_t, 4> prefix;
    EncodedTimerChanges::Ref ref;
  };
  const char* const bytes = changes.bytes_.data();
  auto key = [bytes](const EncodedTimerChanges::Ref& r) {
    return std::string_view(bytes + r.offset, r.size);
  };
  std::vector<ByKey> keys;
  keys.reserve(changes.refs_.size());
  for (const EncodedTimerChanges::Ref& r : changes.refs_) {
    keys.push_back({MakeIdPrefix<4>(key(r)), r});
  }
  boost::sort::pdqsort_branchless(keys.begin(), keys.end(), [&](const ByKey& a, const ByKey& b) {
    return IdLess(a.prefix, key(a.ref), b.prefix, key(b.ref));
  });
  rocksdb::ColumnFamilyHandle* const family = rep_->families[kTimers];
  // In key order the keys are read at random in the buffer: asked for a few ahead.
  constexpr size_t kAhead = 8;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (i + kAhead < keys.size()) {
      prefetch::Bytes(bytes + keys[i + kAhead].ref.offset, keys[i + kAhead].ref.size);
    }
    const EncodedTimerChanges::Ref& r = keys[i].ref;
    const rocksdb::Slice slice(bytes + r.offset, r.size);
    rep_->Record(r.put ? rep_->batch.Put(family, slice, rocksdb::Slice())
                       : rep_->batch.Delete(family, slice));
  }
}

void StateBatch::PutTimer(const Timer& timer) {
  assert(rep_);
  keys::EncodeTimerKey(timer, &rep_->key);
  rep_->Record(rep_->batch.Put(rep_->families[kTimers], rep_->key, rocksdb::Slice()));
}

void StateBatch::DeleteTimer(const Timer& timer) {
  assert(rep_);
  keys::EncodeTimerKey(timer, &rep_->key);
  rep_->Record(rep_->batch.Delete(rep_->families[kTimers], rep_->key));
}

void StateBatch::PutAggregate(const AggregateKey& key, const AggregateCounters& counters) {
  assert(rep_);
  rep_->key = keys::AggregateKeyBytes(key);
  if (counters.IsZero()) {
    rep_->Record(rep_->batch.Delete(rep_->families[kAggregates], rep_->key));
    return;
  }
  EncodeAggregate(counters, &rep_->value);
  rep_->Record(rep_->batch.Put(rep_->families[kAggregates], rep_->key, rep_->value));
}

void StateBatch::PutOffset(const TopicPartition& tp, Offset next_offset) {
  assert(rep_);
  rep_->Record(rep_->batch.Put(rep_->families[kOffsets], keys::OffsetKey(tp),
                               keys::Fixed64Value(static_cast<uint64_t>(next_offset.value()))));
}

void StateBatch::PutSourceCheck(const TopicPartition& tp, const SourceCheck& check) {
  assert(rep_);
  std::string value = keys::Fixed64Value(static_cast<uint64_t>(check.next_offset.value()));
  value += keys::Fixed64Value(check.chain);
  rep_->Record(rep_->batch.Put(rep_->families[kMeta], keys::SourceCheckKey(tp), value));
}

void StateBatch::PutWatermark(PartitionId partition, Instant watermark) {
  assert(rep_);
  rep_->Record(
      rep_->batch.Put(rep_->families[kMeta], keys::WatermarkKey(partition),
                      keys::Fixed64Value(static_cast<uint64_t>(ToEpochMillis(watermark)))));
}

void StateBatch::PutChangelogMarker(PartitionId partition, std::string_view marker) {
  assert(rep_);
  rep_->Record(
      rep_->batch.Put(rep_->families[kMeta], keys::ChangelogMarkerKey(partition), ToSlice(marker)));
}

void StateBatch::PutChangelogWriter(uint64_t writer) {
  assert(rep_);
  rep_->Record(rep_->batch.Put(rep_->families[kMeta], ToSlice(keys::kChangelogWriterKey),
                               keys::Fixed64Value(writer)));
}

void StateBatch::PutAssignment(const std::set<PartitionId>& partitions) {
  assert(rep_);
  std::string value;  // decimal partition numbers, comma-separated ("" for none)
  for (const PartitionId p : partitions) {
    if (!value.empty()) value.push_back(',');
    value += std::to_string(p.value());
  }
  rep_->Record(rep_->batch.Put(rep_->families[kMeta], ToSlice(keys::kAssignmentKey), value));
}

void StateBatch::DeleteAssignment() {
  assert(rep_);
  rep_->Record(rep_->batch.Delete(rep_->families[kMeta], ToSlice(keys::kAssignmentKey)));
}

void StateBatch::PutStatePartitions(int32_t partitions) {
  assert(rep_);
  rep_->Record(rep_->batch.Put(rep_->families[kMeta], ToSlice(keys::kStatePartitionsKey),
                               keys::Fixed64Value(static_cast<uint64_t>(partitions))));
}

void StateBatch::PutSinkPosition(std::string_view position) {
  assert(rep_);
  rep_->Record(
      rep_->batch.Put(rep_->families[kMeta], ToSlice(keys::kSinkPositionKey), ToSlice(position)));
}

void StateBatch::AppendOutbox(std::string payload) {
  assert(rep_);
  rep_->outbox_bytes += payload.size();
  rep_->outbox.push_back(std::move(payload));
}

size_t StateBatch::Count() const {
  if (!rep_) return 0;
  return rep_->batch.Count() + rep_->outbox.size();
}

size_t StateBatch::ByteSize() const {
  if (!rep_) return 0;
  // Per outbox record: type, family id, two length varints and the 8-byte key.
  constexpr size_t kOutboxRecordOverhead = 12;
  return rep_->batch.GetDataSize() + rep_->outbox_bytes +
         rep_->outbox.size() * kOutboxRecordOverhead;
}

// ---------------------------------------------------------------------------------------------
// StateStore

struct StateStore::Impl {
  StateStoreOptions options;
  // Declared before `db` so that they outlive it.
  std::shared_ptr<rocksdb::Cache> cache;
  std::shared_ptr<rocksdb::WriteBufferManager> write_buffer_manager;
  std::shared_ptr<rocksdb::Statistics> statistics;
  FlushHook flush_hook;  // StateStore::SetBeforeFlush; outlives `db`, whose listener runs it
  uint32_t format_version = kFormatVersion;  // as stored; guarded by outbox_delete_mu once open
  rocksdb::WriteOptions write_options;

  // Our lock on the directory (kProcessLockFile), taken before RocksDB touches anything in
  // it and released after the database is closed. RocksDB's own LOCK is taken only after
  // DB::Open has rotated the info LOG, so a second process refused by it had already moved
  // the running one's LOG aside.
  rocksdb::FileLock* process_lock = nullptr;

  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;  // every opened family, for Flush/Close
  std::array<rocksdb::ColumnFamilyHandle*, kFamilyCount> families{};

  std::mutex commit_mu;
  uint64_t next_outbox_sequence = kFirstOutboxSequence;  // guarded by commit_mu
  // Its value once the commit that moved it is written, for readers on other threads.
  std::atomic<uint64_t> next_outbox_sequence_written{kFirstOutboxSequence};
  // Bytes of the last batch committed: the next batch reserves about as much, so that a large
  // batch is not built by doubling (and copying) its buffer a dozen times.
  std::atomic<size_t> last_batch_bytes{0};
  // The last committed batch, for NewBatch to empty and fill again: a catch-up's batches are
  // tens of MiB, and a new buffer for each was a page fault every 4 KiB as it filled (two
  // thirds of a 4.57M-event replay's page faults, on the writer thread).
  std::mutex spare_mu;
  std::unique_ptr<StateBatch::Rep> spare;  // guarded by spare_mu

  void Recycle(std::unique_ptr<StateBatch::Rep> rep) {
    // A buffer much larger than the batch it last held (one left by a burst) is freed
    // rather than kept resident.
    if (rep->batch.Data().capacity() > 2 * rep->batch.GetDataSize() + (size_t{1} << 20)) return;
    std::lock_guard lock(spare_mu);
    spare = std::move(rep);
  }

  // The dossier ids stored (null when options.dossier_filter_bytes is 0): filled by a scan
  // of the dossiers family at open (on its own thread, stopped by Close) and by every batch
  // that puts a dossier, from before its write. Reads consult it once the scan is done.
  std::unique_ptr<DossierFilter> dossier_filter;
  std::atomic<bool> dossier_filter_ready{false};
  std::atomic<uint64_t> dossier_reads_filtered{0};
  std::jthread dossier_filter_loader;

  // The scan of the stored dossier ids into the filter. On a read error the filter stays
  // unready and reads go to RocksDB, as without one.
  void LoadDossierFilter(const std::stop_token& stop) {
    rocksdb::ReadOptions read_options;
    read_options.fill_cache = false;  // one pass over every block: not worth caching
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(read_options, families[kDossiers]));
    size_t n = 0;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (++n % 4096 == 0 && stop.stop_requested()) return;
      dossier_filter->Insert(ToView(it->key()));
    }
    if (it->status().ok()) dossier_filter_ready.store(true, std::memory_order_release);
  }

  // Whether the store may hold `dossier_id` (true when it keeps no filter or the scan is on).
  bool MayHoldDossier(std::string_view dossier_id) const {
    if (!dossier_filter_ready.load(std::memory_order_acquire)) return true;
    return dossier_filter->MayContain(dossier_id);
  }

  std::mutex outbox_delete_mu;
  // Lowest sequence that may still be in the outbox: reads seek here, past the tombstones of
  // delivered entries.
  std::atomic<uint64_t> outbox_floor{kFirstOutboxSequence};

  rocksdb::Status FlushAll() const {
    rocksdb::FlushOptions flush_options;
    flush_options.wait = true;
    // Now, even if the flush makes writes stall: by default a manual flush first waits until
    // it would not, and with the disk full that is never (level 0 is at its stop trigger and
    // compactions wait for free space, a soft error that does not stop the wait). A replay
    // that stopped on "No space left on device" hung at its closing flush (a helper's trial
    // on a 31 MiB tmpfs); now the flush runs, and fails or succeeds, and the store closes.
    flush_options.allow_write_stall = true;
    return db->Flush(flush_options, handles);
  }

  Result<std::optional<std::string>> GetRaw(Family family, std::string_view key) const {
    rocksdb::PinnableSlice value;
    auto s = db->Get(rocksdb::ReadOptions(), families[family], ToSlice(key), &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    if (!s.ok()) return FromRocks(s, "get");
    return std::optional<std::string>(value.ToString());
  }

  // A fixed64 value of the meta family; nullopt if the key is absent.
  Result<std::optional<uint64_t>> GetMetaFixed64(std::string_view key) const {
    auto raw = GetRaw(kMeta, key);
    if (!raw) return raw.error();
    if (!raw->has_value()) return std::optional<uint64_t>();
    auto v = keys::DecodeFixed64Value(**raw);
    if (!v) return CorruptKey(keys::kMetaFamily);
    return std::optional<uint64_t>(*v);
  }

  Result<bool> AllFamiliesEmpty() const {
    for (auto* handle : handles) {
      std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), handle));
      it->SeekToFirst();
      if (!it->status().ok()) return FromRocks(it->status(), "scan");
      if (it->Valid()) return false;
    }
    return true;
  }

  Status CheckFormatVersion() {
    auto stored = GetRaw(kMeta, keys::kFormatVersionKey);
    if (!stored) return stored.error();
    if (stored->has_value()) {
      auto version = keys::DecodeFixed32Value(**stored);
      if (!version) {
        return Error{ErrorCode::kCorruption,
                     "state store at " + options.path + ": malformed format version"};
      }
      if (*version != kFormatVersion && *version != kSinkFormatVersion) {
        return InvalidArgument(
            "state store at " + options.path + " has format version " + std::to_string(*version) +
            "; this build reads versions " + std::to_string(kFormatVersion) + " and " +
            std::to_string(kSinkFormatVersion) + " (written by a different iocstream release?)");
      }
      format_version = *version;
      return {};
    }
    // No version: a store whose creation was interrupted (empty) or foreign data.
    auto empty = AllFamiliesEmpty();
    if (!empty) return empty.error();
    if (!*empty) {
      // A store of iocstream's whose MANIFEST lost its metadata family (truncated, a QA
      // trial) looks the same: both are said.
      return InvalidArgument(
          "state store at " + options.path +
          ": data without a format version; not an iocstream state store, or a damaged one (its "
          "MANIFEST cut short): restore it from a backup, or build the state again in a new "
          "state dir");
    }
    auto s = PutMetaDurably(keys::kFormatVersionKey, keys::Fixed32Value(kFormatVersion));
    if (!s.ok()) return FromRocks(s, "write format version");
    return {};
  }

  // Writes one meta key and makes it durable at once: a synced WAL write, or with the WAL
  // disabled a flush (of every family: atomic_flush).
  rocksdb::Status PutMetaDurably(std::string_view key, std::string_view value) const {
    rocksdb::WriteBatch batch;
    auto s = batch.Put(families[kMeta], ToSlice(key), ToSlice(value));
    return s.ok() ? WriteDurably(batch) : s;
  }

  // Writes `batch` and makes it durable at once (as PutMetaDurably).
  rocksdb::Status WriteDurably(rocksdb::WriteBatch& batch) const {
    rocksdb::WriteOptions durable = write_options;
    durable.sync = !write_options.disableWAL;
    auto s = db->Write(durable, &batch);
    if (s.ok() && write_options.disableWAL) s = FlushAll();
    return s;
  }

  Status LoadOutboxPosition() {
    auto stored = GetRaw(kMeta, keys::kOutboxNextSequenceKey);
    if (!stored) return stored.error();
    uint64_t next = kFirstOutboxSequence;
    if (stored->has_value()) {
      auto v = keys::DecodeFixed64Value(**stored);
      if (!v) return CorruptKey(keys::kMetaFamily);
      next = *v;
    }
    std::unique_ptr<rocksdb::Iterator> it(
        db->NewIterator(rocksdb::ReadOptions(), families[kOutbox]));
    it->SeekToLast();
    if (it->Valid()) {
      auto last = keys::DecodeOutboxKey(ToView(it->key()));
      if (!last) return CorruptKey(keys::kOutboxFamily);
      next = std::max(next, *last + 1);
    }
    it->SeekToFirst();
    uint64_t floor = next;
    if (it->Valid()) {
      auto first = keys::DecodeOutboxKey(ToView(it->key()));
      if (!first) return CorruptKey(keys::kOutboxFamily);
      floor = *first;
    }
    if (!it->status().ok()) return FromRocks(it->status(), "scan outbox");
    next_outbox_sequence = next;
    next_outbox_sequence_written.store(next);
    outbox_floor.store(floor);
    return {};
  }

  ~Impl() { ReleaseProcessLock(); }

  void ReleaseProcessLock() {
    if (process_lock == nullptr) return;
    (void)rocksdb::Env::Default()->UnlockFile(process_lock);
    process_lock = nullptr;
  }

  Status Close() {
    if (!db) {
      ReleaseProcessLock();
      return {};
    }
    if (dossier_filter_loader.joinable()) {
      dossier_filter_loader.request_stop();
      dossier_filter_loader.join();
    }
    rocksdb::Status first_error;
    // Flush the memtables on a clean close: WAL-less writes would be lost otherwise, and
    // with the WAL the next open would replay it (up to the whole write buffer budget),
    // which slows start-up. Explicit, so that the caller sees a failure.
    first_error = FlushAll();
    for (auto* handle : handles) {
      auto s = db->DestroyColumnFamilyHandle(handle);
      if (first_error.ok()) first_error = s;
    }
    handles.clear();
    families.fill(nullptr);
    auto s = db->Close();
    if (first_error.ok()) first_error = s;
    db.reset();
    ReleaseProcessLock();
    if (!first_error.ok()) return FromRocks(first_error, "close");
    return {};
  }
};

StateStore::StateStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

StateStore::~StateStore() { (void)Close(); }

Status StateStore::Close() { return impl_->Close(); }

namespace {

// RocksDB before 8.3 creates a WAL file at every open and deletes an empty one only after a
// flush, so every command run on a store (an export, a replay with nothing new) left a 0-byte
// NNNNNN.log for good, and every open read through all of them (facebook/rocksdb#11313,
// fixed by #11409 in 8.3). Its maintainers' mitigation: delete the empty WAL files, safe
// while WALs are not tracked in the MANIFEST (track_and_verify_wals_in_manifest, off here).
// A WAL with no bytes holds no record to recover. Called under the process lock and
// RocksDB's LOCK, before the database is opened, so no writer can be appending to one.
void RemoveEmptyWals(const std::string& path) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(path, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() <= 4 || !name.ends_with(".log") ||
        name.find_first_not_of("0123456789") != name.size() - 4) {
      continue;
    }
    std::error_code file_ec;
    if (entry.is_regular_file(file_ec) && entry.file_size(file_ec) == 0 && !file_ec) {
      std::filesystem::remove(entry.path(), file_ec);  // best effort: RocksDB copes with it
    }
  }
}

// Whether the database at `path`, with the column families `existing` and no meta family, is
// a store whose creation was cut short (a process killed while DB::Open added iocstream's
// families one at a time: CURRENT is written with the default family first): it holds only
// families of iocstream's names, all empty. Opening it then finishes its creation; anything
// else (another program's database) is refused before it is touched.
bool UnfinishedCreation(const std::string& path, const std::vector<std::string>& existing) {
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& name : existing) {
    const bool ours =
        name == rocksdb::kDefaultColumnFamilyName ||
        std::find(kFamilyNames.begin(), kFamilyNames.end(), name) != kFamilyNames.end();
    if (!ours) return false;
    descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
  }
  rocksdb::DB* raw = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  if (!rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), path, descriptors, &handles, &raw).ok()) {
    return false;
  }
  std::unique_ptr<rocksdb::DB> db(raw);
  bool empty = true;
  for (auto* handle : handles) {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), handle));
    it->SeekToFirst();
    if (it->Valid() || !it->status().ok()) empty = false;
  }
  for (auto* handle : handles) (void)db->DestroyColumnFamilyHandle(handle);
  return empty;
}

}  // namespace

bool StateStore::IsStoreFile(std::string_view name) {
  for (const std::string_view exact :
       {kProcessLockFile, std::string_view("LOCK"), std::string_view("LOG"),
        std::string_view("CURRENT"), std::string_view("IDENTITY")}) {
    if (name == exact) return true;
  }
  for (const std::string_view prefix : {"LOG.old.", "MANIFEST-", "OPTIONS-"}) {
    if (name.starts_with(prefix)) return true;
  }
  return name.ends_with(".log") || name.ends_with(".sst") || name.ends_with(".dbtmp");
}

bool StateStore::Exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(std::filesystem::path(path) / "CURRENT", ec);
}

// A directory with only a MANIFEST (a creation cut short before CURRENT was written) or empty
// logs holds nothing to lose: it is not damaged.
std::optional<std::string> StateStore::Damaged(const std::string& path) {
  if (Exists(path)) return std::nullopt;
  std::error_code ec;
  size_t tables = 0;
  size_t logs = 0;
  for (const auto& entry : std::filesystem::directory_iterator(path, ec)) {
    // RocksDB's own names: a number, then .sst (a table) or .log (a write-ahead log); a
    // shared directory's other files are not a store's.
    const std::string name = entry.path().filename().string();
    const std::string stem = entry.path().stem().string();
    if (stem.empty() ||
        !std::all_of(stem.begin(), stem.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      continue;
    }
    std::error_code file_ec;
    if (name.ends_with(".sst")) ++tables;
    if (name.ends_with(".log") && entry.is_regular_file(file_ec) && entry.file_size(file_ec) > 0 &&
        !file_ec) {
      ++logs;
    }
  }
  if (tables == 0 && logs == 0) return std::nullopt;
  return std::to_string(tables) + " table file(s) and " + std::to_string(logs) +
         " write-ahead log(s) but no CURRENT file";
}

Result<std::unique_ptr<StateStore>> StateStore::Open(const StateStoreOptions& options) {
  if (options.path.empty()) return InvalidArgument("state store: path is empty");
  if (options.disable_wal && options.sync_writes) {
    return InvalidArgument("state store: sync_writes requires the WAL (disable_wal is set)");
  }
  if (options.block_cache_bytes == 0 || options.write_buffer_bytes == 0) {
    return InvalidArgument("state store: block_cache_bytes and write_buffer_bytes must be > 0");
  }
  if (options.write_buffer_bytes > options.block_cache_bytes) {
    return InvalidArgument(
        "state store: write_buffer_bytes must not exceed block_cache_bytes (memtables are "
        "charged to the block cache)");
  }
  std::error_code ec;
  // A link to nowhere (a typo in its target, a volume not mounted) is the caller's to mend,
  // as a file in the directory's place below.
  if (std::filesystem::is_symlink(options.path, ec) && !std::filesystem::exists(options.path, ec)) {
    return InvalidArgument("state store: " + options.path + " is a symbolic link to " +
                           std::filesystem::read_symlink(options.path, ec).string() +
                           ", which does not exist");
  }
  // A file where the directory should be is the caller's mistake (state.dir or --state-dir),
  // not an I/O failure that a restart could mend.
  if (std::filesystem::exists(options.path, ec) &&
      !std::filesystem::is_directory(options.path, ec)) {
    return InvalidArgument("state store: " + options.path + " is not a directory");
  }
  std::filesystem::create_directories(options.path, ec);
  if (ec == std::errc::not_a_directory || ec == std::errc::filename_too_long) {
    // A file on the way (state.dir = "export.csv/state") or a name too long: as above, the
    // caller's mistake. Others (permissions, a read-only or full disk) are the machine's.
    return InvalidArgument("state store: cannot create " + options.path + ": " + ec.message());
  }
  if (ec) return IoError("state store: cannot create " + options.path + ": " + ec.message());

  auto impl = std::make_unique<Impl>();
  impl->options = options;
  // Held by another process ("While lock file: PATH: Resource temporarily unavailable") or
  // by a store of this one ("lock hold by current process"): one message for both.
  const std::string lock_path = (std::filesystem::path(options.path) / kProcessLockFile).string();
  if (auto s = rocksdb::Env::Default()->LockFile(lock_path, &impl->process_lock); !s.ok()) {
    const std::string why = s.ToString();
    const bool held = why.find("Resource temporarily unavailable") != std::string::npos ||
                      why.find("lock hold by current process") != std::string::npos;
    // A read-only or forbidden directory is not another process's doing.
    return IoError("state store: open " + options.path + ": lock file " + lock_path + " " +
                   (held ? std::string(kHeldByAnother) : "cannot be locked") + " (" + why + ")");
  }

  rocksdb::LRUCacheOptions cache_options;
  cache_options.capacity = options.block_cache_bytes;
  cache_options.num_shard_bits = -1;
  // Non-strict: a full cache evicts rather than fails reads; pinned blocks may exceed the
  // capacity briefly.
  cache_options.strict_capacity_limit = false;
  cache_options.high_pri_pool_ratio = 0.5;
  impl->cache = rocksdb::NewLRUCache(cache_options);
  // The budget triggers flushes and its memory is charged to the cache (dummy entries), so
  // blocks are evicted to make room for memtables. allow_stall stays off: it has been
  // reported to wedge writers for good when it is combined with cache charging
  // (facebook/rocksdb#11010, RocksDB 7.2; #11780), and a wedged writer would stop ingest
  // silently. The memtable-count stall (FamilyOptions) bounds memory instead.
  impl->write_buffer_manager = std::make_shared<rocksdb::WriteBufferManager>(
      options.write_buffer_bytes, impl->cache, /*allow_stall=*/false);
  impl->statistics = rocksdb::CreateDBStatistics();
  impl->statistics->set_stats_level(rocksdb::StatsLevel::kExceptHistogramOrTimers);

  impl->write_options.disableWAL = options.disable_wal;
  impl->write_options.sync = options.sync_writes;

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  // Required for exactly-once without the WAL; cheap with it. All families flush together,
  // so a crash never leaves offsets newer (or older) than the state they describe.
  db_options.atomic_flush = true;
  db_options.max_background_jobs = 2;  // the machines have 2 cores; one flush + one compaction
  if (options.low_priority_background) {
    db_options.listeners.push_back(NewBackgroundPriorityListener(kBackgroundNice));
  }
  db_options.write_buffer_manager = impl->write_buffer_manager;
  db_options.statistics = impl->statistics;
  db_options.listeners.push_back(
      NewStoreListener(impl->flush_hook, std::string(keys::kMetaFamily).c_str()));
  db_options.bytes_per_sync = size_t{1} << 20;  // smooth write-back instead of fsync bursts
  db_options.keep_log_file_num = 5;             // RocksDB's info LOG, bounded on disk
  db_options.max_log_file_size = size_t{16} << 20;

  // Also under RocksDB's own LOCK: a process of an iocstream before iocstream.lock holds only
  // that one, and its current WAL may be empty. Released for DB::Open to take.
  if (rocksdb::FileLock* db_lock = nullptr;
      rocksdb::Env::Default()
          ->LockFile((std::filesystem::path(options.path) / "LOCK").string(), &db_lock)
          .ok()) {
    RemoveEmptyWals(options.path);
    (void)rocksdb::Env::Default()->UnlockFile(db_lock);
  }

  // A damaged store (its CURRENT lost) would otherwise be created anew over its own files,
  // which RocksDB then deletes: every dossier and offset gone, every alert raised again.
  if (const auto damaged = Damaged(options.path)) {
    return Error{ErrorCode::kCorruption,
                 "state store: " + options.path + " holds " + *damaged +
                     ": a damaged store, not opened (CURRENT names the newest MANIFEST-* file: "
                     "restore it from a backup, or give an empty directory to start anew)"};
  }

  std::vector<std::string> existing;
  const bool existed = rocksdb::DB::ListColumnFamilies(db_options, options.path, &existing).ok();
  if (existed && std::find(existing.begin(), existing.end(), keys::kMetaFamily) == existing.end() &&
      !UnfinishedCreation(options.path, existing)) {
    // Refuse before opening: opening would add our column families to someone else's database.
    return InvalidArgument("state store at " + options.path +
                           ": a RocksDB database without a 'meta' column family; not an "
                           "iocstream state store");
  }

  const auto compression = options.compress ? ChooseCompression() : rocksdb::kNoCompression;
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName,
                           FamilyOptions(std::nullopt, options, impl->cache, compression));
  for (size_t f = 0; f < kFamilyCount; ++f) {
    descriptors.emplace_back(
        std::string(kFamilyNames[f]),
        FamilyOptions(static_cast<Family>(f), options, impl->cache, compression));
  }
  // Families this build does not know (a newer layout) must be opened too; the format version
  // check below then refuses the store with a clear message.
  for (const auto& name : existing) {
    bool known = name == rocksdb::kDefaultColumnFamilyName ||
                 std::find(kFamilyNames.begin(), kFamilyNames.end(), name) != kFamilyNames.end();
    if (!known) {
      descriptors.emplace_back(name,
                               FamilyOptions(std::nullopt, options, impl->cache, compression));
    }
  }

  rocksdb::DB* raw_db = nullptr;
  auto s = rocksdb::DB::Open(db_options, options.path, descriptors, &impl->handles, &raw_db);
  if (!s.ok()) {
    // RocksDB's LOCK held while iocstream.lock was free: a process of an iocstream before it.
    if (s.IsIOError() && s.ToString().find("While lock file") != std::string::npos) {
      return IoError("state store: open " + options.path + ": " + std::string(kHeldByAnother) +
                     " (" + s.ToString() + ")");
    }
    return FromRocks(s, "open " + options.path);
  }
  impl->db.reset(raw_db);
  for (size_t f = 0; f < kFamilyCount; ++f) impl->families[f] = impl->handles[f + 1];

  // From here on the StateStore owns the database; an error return closes it.
  std::unique_ptr<StateStore> store(new StateStore(std::move(impl)));
  if (auto version = store->impl_->CheckFormatVersion(); !version.ok()) return version.error();
  if (auto outbox = store->impl_->LoadOutboxPosition(); !outbox.ok()) return outbox.error();
  if (options.dossier_filter_bytes > 0) {
    Impl& impl_ref = *store->impl_;
    impl_ref.dossier_filter = std::make_unique<DossierFilter>(options.dossier_filter_bytes);
    impl_ref.dossier_filter_loader = std::jthread(
        [&impl_ref](const std::stop_token& stop) { impl_ref.LoadDossierFilter(stop); });
  }
  return store;
}

StateBatch StateStore::NewBatch() {
  std::unique_ptr<StateBatch::Rep> rep;
  {
    std::lock_guard lock(impl_->spare_mu);
    rep = std::move(impl_->spare);
  }
  if (rep) {
    rep->batch.Clear();  // keeps its buffer
    rep->status = rocksdb::Status::OK();
    rep->outbox.clear();
    rep->outbox_bytes = 0;
  } else {
    rep = std::make_unique<StateBatch::Rep>();
    if (const size_t last = impl_->last_batch_bytes.load(std::memory_order_relaxed); last > 0) {
      rep->batch = rocksdb::WriteBatch(last + last / 8);
    }
  }
  rep->owner = impl_.get();
  rep->families = impl_->families;
  rep->filter = impl_->dossier_filter.get();
  return StateBatch(std::move(rep));
}

Status StateStore::Commit(StateBatch&& batch) {
  if (!impl_->db) return Closed();
  if (!batch.rep_ || batch.rep_->owner != impl_.get()) {
    return InvalidArgument("state store: Commit of a moved-from batch or another store's batch");
  }
  std::unique_ptr<StateBatch::Rep> rep = std::move(batch.rep_);
  if (!rep->status.ok()) return FromRocks(rep->status, "build batch");

  std::lock_guard lock(impl_->commit_mu);
  uint64_t sequence = impl_->next_outbox_sequence;
  for (const auto& payload : rep->outbox) {
    rep->Record(rep->batch.Put(impl_->families[kOutbox], keys::OutboxKey(sequence++), payload));
  }
  if (!rep->outbox.empty()) {
    // Persisted with the entries, so numbering continues after a restart even when the sink
    // has drained the outbox completely.
    rep->Record(rep->batch.Put(impl_->families[kMeta], ToSlice(keys::kOutboxNextSequenceKey),
                               keys::Fixed64Value(sequence)));
  }
  if (!rep->status.ok()) return FromRocks(rep->status, "build batch");
  if (rep->batch.Count() == 0) return {};
  impl_->last_batch_bytes.store(rep->batch.GetDataSize(), std::memory_order_relaxed);
  auto s = impl_->db->Write(impl_->write_options, &rep->batch);
  if (!s.ok()) return FromRocks(s, "commit");
  impl_->next_outbox_sequence = sequence;
  impl_->next_outbox_sequence_written.store(sequence);
  impl_->Recycle(std::move(rep));
  return {};
}

uint64_t StateStore::NextOutboxSequence() const {
  return impl_->next_outbox_sequence_written.load();
}

Result<uint64_t> StateStore::OutboxSize() const {
  const uint64_t next = NextOutboxSequence();  // first: entries written after it are not counted
  auto first = ReadOutbox(1, 1);
  if (!first) return first.error();
  if (first->empty()) return uint64_t{0};
  return next > first->front().sequence ? next - first->front().sequence : 0;
}

Result<std::optional<DossierState>> StateStore::GetDossier(std::string_view dossier_id) const {
  if (!impl_->db) return Closed();
  if (!impl_->MayHoldDossier(dossier_id)) {
    impl_->dossier_reads_filtered.fetch_add(1, std::memory_order_relaxed);
    return std::optional<DossierState>();
  }
  rocksdb::PinnableSlice value;
  auto s = impl_->db->Get(rocksdb::ReadOptions(), impl_->families[kDossiers], ToSlice(dossier_id),
                          &value);
  if (s.IsNotFound()) return std::optional<DossierState>();
  if (!s.ok()) return FromRocks(s, "get dossier");
  auto state = DecodeDossier(dossier_id, ToView(value));
  if (!state) return state.error();
  return std::optional<DossierState>(std::move(*state));
}

Result<std::vector<std::optional<DossierState>>> StateStore::GetDossiers(
    std::span<const std::string_view> ids) const {
  if (!impl_->db) return Closed();
  std::vector<std::optional<DossierState>> out(ids.size());
  if (ids.empty()) return out;
  // MultiGet wants the keys in order and sorts them itself through the comparator's virtual
  // calls (about half of its cost here); sorted on the ids' first 32 bytes held in the vector,
  // as for PutDossiers, it is told they are (sorted_input).
  struct ById {
    std::array<uint64_t, 4> prefix;
    size_t index;
  };
  // Ids the filter rules out are answered here (not found); the rest go to one MultiGet.
  const bool filtered = impl_->dossier_filter_ready.load(std::memory_order_acquire);
  std::vector<ById> order;
  order.reserve(ids.size());
  if (filtered) {
    // The filter's blocks asked for 64 ids ahead (a replay's new dossiers are most of these
    // reads): a window, not all at once, as kafka.max_batch allows a million ids per read.
    const DossierFilter& filter = *impl_->dossier_filter;
    auto id_at = [&](size_t i) { return ids[i]; };
    DossierFilter::HashesAhead<64, decltype(id_at)> hashes(filter, ids.size(), id_at);
    for (size_t i = 0; i < ids.size(); ++i) {
      if (filter.MayContainHashed(hashes.Take(i))) order.push_back({MakeIdPrefix<4>(ids[i]), i});
    }
    impl_->dossier_reads_filtered.fetch_add(ids.size() - order.size(), std::memory_order_relaxed);
  } else {
    for (size_t i = 0; i < ids.size(); ++i) order.push_back({MakeIdPrefix<4>(ids[i]), i});
  }
  if (order.empty()) return out;
  std::sort(order.begin(), order.end(), [&](const ById& a, const ById& b) {
    return CompareIds(a.prefix, ids[a.index], b.prefix, ids[b.index]) < 0;
  });
  std::vector<rocksdb::Slice> slices;
  slices.reserve(order.size());
  for (const ById& k : order) slices.push_back(ToSlice(ids[k.index]));
  std::vector<rocksdb::PinnableSlice> values(order.size());
  std::vector<rocksdb::Status> statuses(order.size());
  impl_->db->MultiGet(rocksdb::ReadOptions(), impl_->families[kDossiers], order.size(),
                      slices.data(), values.data(), statuses.data(), /*sorted_input=*/true);
  for (size_t k = 0; k < order.size(); ++k) {
    if (statuses[k].IsNotFound()) continue;
    if (!statuses[k].ok()) return FromRocks(statuses[k], "multiget dossiers");
    const size_t i = order[k].index;
    auto state = DecodeDossier(ids[i], ToView(values[k]));
    if (!state) return state.error();
    out[i] = std::move(*state);
  }
  return out;
}

Result<std::optional<Offset>> StateStore::GetOffset(const TopicPartition& tp) const {
  if (!impl_->db) return Closed();
  auto raw = impl_->GetRaw(kOffsets, keys::OffsetKey(tp));
  if (!raw) return raw.error();
  if (!raw->has_value()) return std::optional<Offset>();
  auto v = keys::DecodeFixed64Value(**raw);
  if (!v) return Error{ErrorCode::kCorruption, "state store: malformed offset of " + tp.topic};
  return std::optional<Offset>(Offset(static_cast<int64_t>(*v)));
}

Result<std::vector<std::pair<TopicPartition, Offset>>> StateStore::LoadOffsets() const {
  if (!impl_->db) return Closed();
  std::vector<std::pair<TopicPartition, Offset>> out;
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->families[kOffsets]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto tp = keys::DecodeOffsetKey(ToView(it->key()));
    auto v = keys::DecodeFixed64Value(ToView(it->value()));
    if (!tp || !v) return CorruptKey(keys::kOffsetsFamily);
    out.emplace_back(std::move(*tp), Offset(static_cast<int64_t>(*v)));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "scan offsets");
  return out;
}

Result<std::optional<SourceCheck>> StateStore::GetSourceCheck(const TopicPartition& tp) const {
  if (!impl_->db) return Closed();
  auto raw = impl_->GetRaw(kMeta, keys::SourceCheckKey(tp));
  if (!raw) return raw.error();
  if (!raw->has_value()) return std::optional<SourceCheck>();
  const std::string_view bytes = **raw;
  if (bytes.size() != 16) return CorruptKey(keys::kMetaFamily);
  auto next = keys::DecodeFixed64Value(bytes.substr(0, 8));
  auto chain = keys::DecodeFixed64Value(bytes.substr(8));
  if (!next || !chain) return CorruptKey(keys::kMetaFamily);
  return std::optional<SourceCheck>(SourceCheck{Offset(static_cast<int64_t>(*next)), *chain});
}

Result<std::optional<Instant>> StateStore::GetWatermark(PartitionId partition) const {
  if (!impl_->db) return Closed();
  auto v = impl_->GetMetaFixed64(keys::WatermarkKey(partition));
  if (!v) return v.error();
  if (!v->has_value()) return std::optional<Instant>();
  return std::optional<Instant>(FromEpochMillis(static_cast<int64_t>(**v)));
}

Result<std::optional<std::string>> StateStore::GetChangelogMarker(PartitionId partition) const {
  if (!impl_->db) return Closed();
  return impl_->GetRaw(kMeta, keys::ChangelogMarkerKey(partition));
}

Result<DossierState> DecodeDossierValue(std::string_view dossier_id, std::string_view value) {
  return DecodeDossier(dossier_id, value);
}

Result<std::optional<uint64_t>> StateStore::GetChangelogWriter() const {
  if (!impl_->db) return Closed();
  return impl_->GetMetaFixed64(keys::kChangelogWriterKey);
}

Result<std::optional<std::set<PartitionId>>> StateStore::GetAssignment() const {
  if (!impl_->db) return Closed();
  auto raw = impl_->GetRaw(kMeta, keys::kAssignmentKey);
  if (!raw) return raw.error();
  if (!raw->has_value()) return std::optional<std::set<PartitionId>>();
  std::set<PartitionId> partitions;
  std::string_view rest = **raw;
  while (!rest.empty()) {
    const size_t comma = std::min(rest.find(','), rest.size());
    int32_t p = -1;
    const std::string_view number = rest.substr(0, comma);
    const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), p);
    if (ec != std::errc() || end != number.data() + number.size() || p < 0) {
      return CorruptKey(keys::kMetaFamily);
    }
    partitions.insert(PartitionId(p));
    rest.remove_prefix(std::min(comma + 1, rest.size()));
  }
  return std::optional<std::set<PartitionId>>(std::move(partitions));
}

Result<std::optional<int32_t>> StateStore::GetStatePartitions() const {
  if (!impl_->db) return Closed();
  auto v = impl_->GetMetaFixed64(keys::kStatePartitionsKey);
  if (!v) return v.error();
  if (!v->has_value()) return std::optional<int32_t>();
  if (**v > static_cast<uint64_t>(std::numeric_limits<int32_t>::max())) {
    return CorruptKey(keys::kMetaFamily);
  }
  return std::optional<int32_t>(static_cast<int32_t>(**v));
}

Result<std::vector<Timer>> StateStore::DueTimers(PartitionId partition, Instant up_to, size_t limit,
                                                 Instant from) const {
  if (limit == 0 || up_to < from) return std::vector<Timer>();
  return ScanTimers(partition, up_to, limit,
                    from == Instant::min() ? keys::TimerPartitionPrefix(partition)
                                           : keys::TimerDuePrefix(partition, from));
}

Result<std::vector<Timer>> StateStore::DueTimersAfter(PartitionId partition, Instant up_to,
                                                      size_t limit, const Timer& after) const {
  if (limit == 0 || up_to < after.due) return std::vector<Timer>();
  std::string lower = keys::TimerKey(Timer{partition, after.due, after.dossier_id, after.kind});
  lower.push_back('\0');  // the smallest key after it
  return ScanTimers(partition, up_to, limit, lower);
}

Result<std::vector<Timer>> StateStore::ScanTimers(PartitionId partition, Instant up_to,
                                                  size_t limit, const std::string& lower) const {
  if (!impl_->db) return Closed();
  std::vector<Timer> out;
  const std::string upper = keys::PrefixSuccessor(keys::TimerDuePrefix(partition, up_to));
  rocksdb::Slice lower_slice(lower);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions read_options;
  read_options.iterate_lower_bound = &lower_slice;
  if (!upper.empty()) read_options.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(read_options, impl_->families[kTimers]));
  for (it->Seek(lower_slice); it->Valid() && out.size() < limit; it->Next()) {
    auto timer = keys::DecodeTimerKey(ToView(it->key()));
    if (!timer) return CorruptKey(keys::kTimersFamily);
    out.push_back(std::move(*timer));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "scan timers");
  return out;
}

Result<std::optional<Instant>> StateStore::NextTimerDue(PartitionId partition, Instant from) const {
  auto first = DueTimers(partition, Instant::max(), 1, from);
  if (!first) return first.error();
  if (first->empty()) return std::optional<Instant>();
  return std::optional<Instant>(first->front().due);
}

Result<std::vector<std::pair<AggregateKey, AggregateCounters>>> StateStore::LoadAggregates() const {
  if (!impl_->db) return Closed();
  std::vector<std::pair<AggregateKey, AggregateCounters>> out;
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->families[kAggregates]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto key = keys::DecodeAggregateKey(ToView(it->key()));
    if (!key) return CorruptKey(keys::kAggregatesFamily);
    auto counters = DecodeAggregate(ToView(it->value()));
    if (!counters) return counters.error();
    out.emplace_back(std::move(*key), *counters);
  }
  if (!it->status().ok()) return FromRocks(it->status(), "scan aggregates");
  return out;
}

Result<std::vector<StateStore::OutboxEntry>> StateStore::ReadOutbox(size_t limit,
                                                                    size_t max_bytes) const {
  if (!impl_->db) return Closed();
  std::vector<OutboxEntry> out;
  if (limit == 0) return out;
  const std::string lower = keys::OutboxKey(impl_->outbox_floor.load());
  rocksdb::Slice lower_slice(lower);
  rocksdb::ReadOptions read_options;
  read_options.iterate_lower_bound = &lower_slice;
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(read_options, impl_->families[kOutbox]));
  size_t bytes = 0;
  for (it->Seek(lower_slice); it->Valid() && out.size() < limit && bytes < max_bytes; it->Next()) {
    auto sequence = keys::DecodeOutboxKey(ToView(it->key()));
    if (!sequence) return CorruptKey(keys::kOutboxFamily);
    out.push_back(OutboxEntry{*sequence, it->value().ToString()});
    bytes += out.back().payload.size();
  }
  if (!it->status().ok()) return FromRocks(it->status(), "scan outbox");
  return out;
}

Status StateStore::DeleteOutbox(uint64_t up_to_sequence_inclusive,
                                std::optional<std::string_view> relay_position,
                                std::optional<std::string_view> sink_position) {
  if (!impl_->db) return Closed();
  std::lock_guard lock(impl_->outbox_delete_mu);
  rocksdb::WriteBatch batch;
  if (relay_position) {
    if (auto s = batch.Put(impl_->families[kMeta], ToSlice(keys::kRelayPositionKey),
                           ToSlice(*relay_position));
        !s.ok()) {
      return FromRocks(s, "delete outbox");
    }
  }
  if (sink_position) {
    if (auto s = batch.Put(impl_->families[kMeta], ToSlice(keys::kSinkPositionKey),
                           ToSlice(*sink_position));
        !s.ok()) {
      return FromRocks(s, "delete outbox");
    }
  }
  // The last entry at or before `up_to_sequence_inclusive` sets the new floor: later
  // sequences may not be written yet, and reads must not skip them when they are.
  const uint64_t floor = impl_->outbox_floor.load();
  const std::string lower = keys::OutboxKey(floor);
  std::optional<uint64_t> last;  // none: nothing left in the range
  if (up_to_sequence_inclusive >= floor) {
    // The relay deletes up to an entry it read: a point lookup finds it. Only a sequence with
    // no entry (none written, or deleted) takes the backward seek below, which walks back over
    // every entry that earlier drains' range tombstones cover and that is still in the table
    // files, reading their blocks: once per drain, so 1,500 dead letters of 70 KB, each sent
    // alone, took the relay 44 s (mostly system time in pread), and the alerts behind them
    // waited (a QA trial).
    rocksdb::ReadOptions get_options;
    get_options.fill_cache = false;
    rocksdb::PinnableSlice value;
    const auto found = impl_->db->Get(get_options, impl_->families[kOutbox],
                                      keys::OutboxKey(up_to_sequence_inclusive), &value);
    if (found.ok()) {
      last = up_to_sequence_inclusive;
    } else if (!found.IsNotFound()) {
      return FromRocks(found, "read outbox");
    }
  }
  if (!last && up_to_sequence_inclusive >= floor) {
    rocksdb::Slice lower_slice(lower);
    rocksdb::ReadOptions read_options;
    read_options.iterate_lower_bound = &lower_slice;
    read_options.fill_cache = false;
    std::unique_ptr<rocksdb::Iterator> it(
        impl_->db->NewIterator(read_options, impl_->families[kOutbox]));
    it->SeekForPrev(keys::OutboxKey(up_to_sequence_inclusive));
    if (!it->status().ok()) return FromRocks(it->status(), "scan outbox");
    if (it->Valid()) {
      last = keys::DecodeOutboxKey(ToView(it->key()));
      if (!last) return CorruptKey(keys::kOutboxFamily);
    }
  }
  if (last) {
    // One range tombstone for the whole drain, [floor, last]: a SingleDelete per entry was a
    // memtable insert each (the relay thread's largest cost; 3,400 instructions per alert in
    // a replay). The end is exclusive: the next sequence's key, or past every 8-byte key.
    const std::string end = *last == std::numeric_limits<uint64_t>::max()
                                ? keys::OutboxKey(*last) + std::string(1, '\0')
                                : keys::OutboxKey(*last + 1);
    if (auto s = batch.DeleteRange(impl_->families[kOutbox], lower, end); !s.ok()) {
      return FromRocks(s, "delete outbox");
    }
  }
  if (batch.Count() == 0) return {};  // nothing to delete, no position
  if (auto s = impl_->db->Write(impl_->write_options, &batch); !s.ok()) {
    return FromRocks(s, "delete outbox");
  }
  if (last) impl_->outbox_floor.store(*last + 1);
  return {};
}

Result<std::optional<std::string>> StateStore::GetRelayPosition() const {
  if (!impl_->db) return Closed();
  return impl_->GetRaw(kMeta, keys::kRelayPositionKey);
}

Status StateStore::PutRelayPosition(std::string_view relay_position,
                                    std::optional<std::string_view> sink_position) {
  if (!impl_->db) return Closed();
  std::lock_guard lock(impl_->outbox_delete_mu);
  rocksdb::WriteBatch batch;
  auto s =
      batch.Put(impl_->families[kMeta], ToSlice(keys::kRelayPositionKey), ToSlice(relay_position));
  if (s.ok() && sink_position) {
    s = batch.Put(impl_->families[kMeta], ToSlice(keys::kSinkPositionKey), ToSlice(*sink_position));
  }
  const bool upgrade = sink_position && impl_->format_version < kSinkFormatVersion;
  if (s.ok() && upgrade) {
    s = batch.Put(impl_->families[kMeta], ToSlice(keys::kFormatVersionKey),
                  keys::Fixed32Value(kSinkFormatVersion));
  }
  if (s.ok()) s = impl_->WriteDurably(batch);
  if (!s.ok()) return FromRocks(s, "write relay position");
  if (upgrade) impl_->format_version = kSinkFormatVersion;
  return {};
}

Result<std::optional<std::string>> StateStore::GetSinkPosition() const {
  if (!impl_->db) return Closed();
  return impl_->GetRaw(kMeta, keys::kSinkPositionKey);
}

bool StateStore::wal_disabled() const { return impl_->write_options.disableWAL; }

void StateStore::SetBeforeFlush(std::function<void()> hook) {
  impl_->flush_hook.Set(std::move(hook));
}

Status StateStore::ForEachDossier(const std::function<bool(const DossierState&)>& visit) const {
  if (!impl_->db) return Closed();
  rocksdb::ReadOptions read_options;
  read_options.fill_cache = false;  // a full scan would evict the hot working set
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(read_options, impl_->families[kDossiers]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto state = DecodeDossier(ToView(it->key()), ToView(it->value()));
    if (!state) return state.error();
    if (!visit(*state)) break;
  }
  if (!it->status().ok()) return FromRocks(it->status(), "scan dossiers");
  return {};
}

StoreStats StateStore::Stats() const {
  StoreStats stats;
  if (!impl_->db) return stats;
  const auto& statistics = *impl_->statistics;
  stats.bytes_written = statistics.getTickerCount(rocksdb::BYTES_WRITTEN);
  stats.wal_bytes_written = statistics.getTickerCount(rocksdb::WAL_FILE_BYTES);
  stats.flush_bytes_written = statistics.getTickerCount(rocksdb::FLUSH_WRITE_BYTES);
  stats.compaction_bytes_written = statistics.getTickerCount(rocksdb::COMPACT_WRITE_BYTES);
  stats.dossier_reads_filtered = impl_->dossier_reads_filtered.load(std::memory_order_relaxed);
  stats.dossier_filter_ready = impl_->dossier_filter_ready.load(std::memory_order_acquire);
  stats.block_cache_usage = impl_->cache->GetUsage();
  stats.block_cache_pinned_usage = impl_->cache->GetPinnedUsage();
  stats.block_cache_capacity = impl_->cache->GetCapacity();
  uint64_t v = 0;
  if (impl_->db->GetAggregatedIntProperty(rocksdb::DB::Properties::kSizeAllMemTables, &v)) {
    stats.memtable_bytes = v;
  }
  if (impl_->db->GetIntProperty(impl_->families[kDossiers],
                                rocksdb::DB::Properties::kEstimateNumKeys, &v)) {
    stats.estimated_dossiers = v;
  }
  if (impl_->db->GetAggregatedIntProperty(rocksdb::DB::Properties::kLiveSstFilesSize, &v)) {
    stats.sst_bytes = v;
  }
  return stats;
}

Status StateStore::Flush() {
  if (!impl_->db) return Closed();
  auto s = impl_->FlushAll();
  if (!s.ok()) return FromRocks(s, "flush");
  return {};
}

}  // namespace iocstream::state
