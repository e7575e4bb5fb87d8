// StateStore: iocstream's durable state, one RocksDB database with a column family per kind of
// record: dossiers, deadline timers, aggregate counters, consumed offsets, the alert outbox and
// store metadata (watermarks, format version).
//
// Exactly-once state (DESIGN.md "Guarantees"): the processor builds one StateBatch per poll
// batch holding everything that batch changed, including each partition's next offset, and
// Commit() applies it as ONE RocksDB WriteBatch across all column families. After a crash the
// store holds either all of a batch or none of it, and consumption resumes from the stored
// offsets. With the WAL disabled, atomic_flush (always on) keeps the column families mutually
// consistent: a crash loses the batches since the last flush, all of them in every family,
// and the stored offsets rewind with them.
//
// Bounded memory: one LRU block cache (data, index and filter blocks of every column family)
// and one write-buffer budget for all memtables, itself charged to that cache; see
// StateStoreOptions.
//
// Thread safety: a StateStore is thread-safe. Reads (Get*, Load*, DueTimers, NextTimerDue,
// ReadOutbox, ForEachDossier, Stats) may run concurrently with each other and with Commit and
// DeleteOutbox; each read sees a consistent snapshot of the store, and a read that spans
// several keys (a scan) sees one point in time. Commit calls are serialized internally; the
// design has one writer (the processor) and the alert sink calling DeleteOutbox.
//
// Errors: no exceptions. Fallible calls return Result/Status; RocksDB failures map to kIo
// (or kCorruption, kInvalidArgument, kUnavailable as RocksDB classifies them) with RocksDB's
// message; stored bytes that do not decode give kCorruption.
//
// Instants are UTC with millisecond resolution (core/types.h).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "iocstream/core/aggregate_types.h"
#include "iocstream/core/dossier_state.h"
#include "iocstream/core/result.h"
#include "iocstream/core/types.h"

namespace iocstream::state {

struct StateStoreOptions {
  // Directory of the RocksDB database; created (with parents) if missing.
  std::string path;

  // Capacity in bytes of the ONE LRU block cache shared by all column families. Index and
  // filter blocks live in it too (not on the heap beside it), and so does the memtable
  // budget below, so this is the store's memory bound apart from per-file table readers.
  size_t block_cache_bytes = size_t{64} << 20;

  // Budget in bytes for all memtables together (RocksDB WriteBufferManager), charged to the
  // block cache: memtables take room from cached blocks rather than add to them. Each column
  // family's memtable size is a fraction of it (7/8 in all), and a flush of all families
  // starts when they fill. Should flushes fall behind the writer, Commit blocks (RocksDB
  // write stall: each family holds at most two memtables) before memtables exceed
  // MaxMemtableBytes (about 1.8x this budget). Must not exceed block_cache_bytes; when
  // MaxMemtableBytes does not either, memtables and cached blocks together stay within
  // block_cache_bytes.
  size_t write_buffer_bytes = size_t{64} << 20;

  // Skip the write-ahead log: faster commits (the replay throughput case); a crash then loses
  // every batch since the last Flush() (or automatic flush) but never splits one, because
  // atomic_flush is always on. Exactly-once holds: the stored offsets rewind with the state.
  bool disable_wal = false;

  // Compress SST blocks below level 0 (LZ4, else Snappy, whichever the RocksDB build has;
  // level 0 never is: see FamilyOptions). Off saves about a fifth of the flush and compaction
  // CPU of a 1M-dossier replay (1.71-1.75 against 1.83-2.02 CPU s), for a store 1.8 times
  // larger at 10M dossiers (memory bench: 1,140 against 640 MiB; +8% at 1M, most of it still
  // in level 0); session 39. Files written either way are read either way.
  bool compress = true;

  // fsync the WAL on every Commit (survives power loss, not only a process crash). Requires
  // the WAL: disable_wal && sync_writes is kInvalidArgument.
  bool sync_writes = false;

  // Bytes of an in-memory filter of the stored dossier ids (a split block Bloom filter, about
  // 1% false positives at 10 bits per id: 16 MiB for 13 million dossiers; more dossiers only
  // make it answer "maybe" more often). GetDossier(s) answer an id it rules out without
  // reading RocksDB: a catch-up reads mostly dossiers that do not exist yet, and RocksDB
  // answers each only after probing every memtable and a filter per L0 file and level. Filled
  // at Open by a scan of the stored ids on a thread of its own (reads go to RocksDB until it
  // ends) and by every batch that puts a dossier. 0: no filter. Allocated at Open, outside the
  // block cache.
  size_t dossier_filter_bytes = size_t{16} << 20;

  // Run RocksDB's flushes and compactions at a lower CPU priority (nice 5 on Linux, where nice
  // values are per thread: each flush or compaction thread lowers itself as its job begins),
  // so that on cores the ingest threads keep busy they take turns with those less often. For a
  // replay, whose state writer alone waits for them: about 2% less time on the e2e bench's
  // 4.57M events (1.7% in 5 pairs, 2.8% in 4 by renicing by hand), peak memtables unchanged
  // (session 58; at nice 19, RocksDB's own CpuPriority::kLow, flushes fell behind: memtables 67.5
  // MiB at peak in the memory bench against 53, peak RSS +26 MiB). Not for `run`: there the
  // broker's and librdkafka's threads also take the cores, and at nice 19 the state writer
  // waited 0.7-1.7 s for the flushes in a catch-up of the same stream, against 0.1-0.6. One-way:
  // RocksDB's background threads serve every store of the process and are not raised again; never
  // raises a thread already lower.
  bool low_priority_background = false;
};

// The most memory the memtables of a store opened with `options` can take, in bytes: two
// memtables per column family (the active one and one being flushed), each its family's share
// of write_buffer_bytes. Pure; thread-safe.
[[nodiscard]] size_t MaxMemtableBytes(const StateStoreOptions& options);

// The storage engine this binary links, for logs and benchmark reports: "RocksDB <version>
// (<build>)", where build says whether it is the system package (Debian's, compiled with
// assertions on) or a release build (scripts/build-rocksdb.sh). Thread-safe.
[[nodiscard]] std::string EngineDescription();

// A snapshot of the store's counters, for metrics. Byte counts since Open() unless noted.
struct StoreStats {
  uint64_t bytes_written = 0;             // logical bytes of committed write batches
  uint64_t wal_bytes_written = 0;         // bytes appended to the write-ahead log
  uint64_t flush_bytes_written = 0;       // SST bytes written by memtable flushes
  uint64_t compaction_bytes_written = 0;  // SST bytes written by compactions
  uint64_t block_cache_usage = 0;         // bytes in the shared cache now (incl. memtable charge)
  uint64_t block_cache_pinned_usage = 0;  // of which pinned (in use, not evictable)
  uint64_t block_cache_capacity = 0;
  uint64_t memtable_bytes = 0;      // all memtables, mutable and immutable, all families
  uint64_t estimated_dossiers = 0;  // RocksDB's estimate of keys in "dossiers"
  // Dossier reads answered "none" by the dossier filter without reading RocksDB, and whether
  // its scan of the stored ids has ended (false without a filter).
  uint64_t dossier_reads_filtered = 0;
  bool dossier_filter_ready = false;
  uint64_t sst_bytes = 0;  // live SST files, all families
};

// What a source partition's stored offset was reached over: the next offset, and a hash
// chained over the payloads of the records consumed before it (app::Pipeline::ChainFingerprint).
struct SourceCheck {
  Offset next_offset{0};
  uint64_t chain = 0;
  bool operator==(const SourceCheck&) const = default;
};

// A dossier's stored value (the "dossiers" family's encoding, state/dossier_codec.h) read back,
// for copies of the values kept outside the store (the changelog; EncodedDossiers::ForEach
// gives them). Errors: kCorruption. Pure; thread-safe.
[[nodiscard]] Result<DossierState> DecodeDossierValue(std::string_view dossier_id,
                                                      std::string_view value);

class StateStore;

// The timers family's key order: partition, due, kind, dossier id (not Timer's own order, which
// puts the id before the kind). DueTimers pages, PutTimerChanges and the pipeline's timer heads
// follow it, so the timers due at one instant fire in the same order whatever the page and
// batch boundaries. The one definition of that order, over any representation of the fields:
// `compare_ids()` is the ids' three-way comparison (negative, 0, positive), called only when
// the rest ties (so an id read from memory far away is read only then). Field by field rather
// than through std::tie, whose three-way comparisons of the partition and the due did not
// inline (3% of a replay's pipeline thread in the head's std::set).
template <class Partition, class Due, class CompareIds>
[[nodiscard]] constexpr bool TimerKeyBefore(const Partition& partition_a, const Due& due_a,
                                            TimerKind kind_a, const Partition& partition_b,
                                            const Due& due_b, TimerKind kind_b,
                                            CompareIds&& compare_ids) {
  if (partition_a != partition_b) return partition_a < partition_b;
  if (due_a != due_b) return due_a < due_b;
  if (kind_a != kind_b) return kind_a < kind_b;
  return compare_ids() < 0;
}

// TimerKeyBefore on Timers. Stateless; thread-safe.
struct TimerKeyLess {
  bool operator()(const Timer& a, const Timer& b) const noexcept {
    return TimerKeyBefore(a.partition, a.due, a.kind, b.partition, b.due, b.kind,
                          [&] { return a.dossier_id.compare(b.dossier_id); });
  }
};

// Dossier states encoded for a later StateBatch::PutDossiers. The thread that owns the states
// encodes them (the bytes a batch writes anyway, in one buffer); any other thread may then
// sort them and build the batch while the states change again. Not thread-safe: one thread at
// a time. Clear keeps the buffers (unless they are over 64 MiB and 4x what they last held), so
// one instance reused across commits allocates once.
class EncodedDossiers {
 public:
  // Appends the id and the stored value of `state`.
  void Add(const DossierState& state);
  // Appends every state `other` holds (copied).
  void Append(const EncodedDossiers& other);
  // Calls visit(id, value, partition) for each state added, in the order added: the id, its
  // stored value (DecodeDossierValue reads it back) and the state's partition. The views are
  // valid until the next Add or Clear.
  template <typename Visit>
  void ForEach(Visit&& visit) const {
    for (const Ref& r : refs_) {
      visit(std::string_view(bytes_).substr(r.offset, r.id_size),
            std::string_view(bytes_).substr(r.offset + r.id_size, r.value_size),
            PartitionId(r.partition));
    }
  }
  [[nodiscard]] size_t size() const { return refs_.size(); }
  [[nodiscard]] bool empty() const { return refs_.empty(); }
  // Bytes held (ids and values).
  [[nodiscard]] size_t ByteSize() const { return bytes_.size(); }
  void Clear();

 private:
  friend class StateBatch;
  struct Ref {
    // The id's first 32 bytes, big-endian, zero-padded: ids such as "H44.246-260105-0001"
    // share their first 16 bytes by agency and day, so 16 left most comparisons to the ids.
    std::array<uint64_t, 4> prefix;
    size_t offset;  // of the id in bytes_; the value follows it
    uint32_t id_size;
    uint32_t value_size;
    int32_t partition;
  };
  std::string bytes_;
  std::vector<Ref> refs_;
};

// Timer puts and deletes encoded as the timers family's keys for a later
// StateBatch::PutTimerChanges, as EncodedDossiers are for PutDossiers: the thread that owns the
// timers appends each change's key (its dossier id copied into one buffer, not into a string
// of its own); any other thread may then sort them and build the batch. Not thread-safe: one
// thread at a time. Clear keeps the buffers (unless they are over 64 MiB and 4x what they last
// held).
class EncodedTimerChanges {
 public:
  // Appends a put (`put`) or a delete (!put) of the timer of `dossier_id` of `kind` due at
  // `due` on `partition`. Each timer at most once per batch.
  void Add(PartitionId partition, Instant due, TimerKind kind, std::string_view dossier_id,
           bool put);
  [[nodiscard]] size_t size() const { return refs_.size(); }
  [[nodiscard]] bool empty() const { return refs_.empty(); }
  void Clear();

 private:
  friend class StateBatch;
  struct Ref {
    size_t offset;  // of the key in bytes_
    uint32_t size;
    bool put;
  };
  std::string bytes_;
  std::vector<Ref> refs_;
};

// The changes produced by one poll batch, applied atomically by StateStore::Commit. Obtain one
// from StateStore::NewBatch(); it must not outlive its store. Operations apply in call order
// (a later put of the same key wins). Commit is cheapest when the keys of each kind come in
// key order (dossiers by id, timers by partition, due, kind, id): each memtable insert then
// starts from the previous one. Not thread-safe: one thread builds it. Move-only; a
// moved-from batch may only be destroyed or assigned to.
class StateBatch {
 public:
  StateBatch(StateBatch&& other) noexcept;
  StateBatch& operator=(StateBatch&& other) noexcept;
  StateBatch(const StateBatch&) = delete;
  StateBatch& operator=(const StateBatch&) = delete;
  ~StateBatch();

  // Stores the whole state of dossier `dossier.dossier_id`, replacing any previous one.
  void PutDossier(const DossierState& dossier);
  // PutDossier of each encoded state, in key order (sorts `dossiers` by id first).
  void PutDossiers(EncodedDossiers& dossiers);

  // Adds or removes a deadline timer. A timer is identified by all of its fields (partition,
  // due, kind, dossier id): to move one, delete the old and put the new.
  void PutTimer(const Timer& timer);
  void DeleteTimer(const Timer& timer);
  // PutTimer (put) or DeleteTimer (!put) of each change, in key order (partition, due, kind,
  // dossier id; sorts `changes` first).
  void PutTimerChanges(EncodedTimerChanges& changes);

  // Stores the absolute counters of `key` (not a delta). All-zero counters delete the key,
  // so dimensions that empty out do not accumulate.
  void PutAggregate(const AggregateKey& key, const AggregateCounters& counters);

  // The next offset to consume on `tp` (the offset of the first record not yet applied).
  void PutOffset(const TopicPartition& tp, Offset next_offset);

  // A fingerprint of the records consumed from `tp` before `check.next_offset` (the
  // Pipeline's chained hash), stored beside the offset in the same batch, so that a source
  // that can be rewritten (a file) can tell on resume whether the records before that
  // position are still those applied.
  void PutSourceCheck(const TopicPartition& tp, const SourceCheck& check);

  // The event-time watermark of a partition (replay mode's clock).
  void PutWatermark(PartitionId partition, Instant watermark);

  // The number of state partitions the store's dossiers are spread over: replay.partitions
  // under `replay`, the events topic's partitions under `run`. Recorded by the first command
  // that writes the store, checked by the next ones (app/commands.cc).
  void PutStatePartitions(int32_t partitions);
  // The changelog marker this store's state of `partition` matches (app/changelog.h): the
  // last marker written to the partition's changelog with, or restored from it.
  void PutChangelogMarker(PartitionId partition, std::string_view marker);
  // This store's id as a changelog writer (GetChangelogWriter): set once, when first needed.
  void PutChangelogWriter(uint64_t writer);
  // The events partitions the consumer group assigns to the instance that writes this store
  // (`run`), as of its last rebalance (GetAssignment). The store keeps the dossiers of
  // partitions handed to other instances since, as they were then.
  void PutAssignment(const std::set<PartitionId>& partitions);
  // Forgets the assignment (`replay`: the store then holds every partition as its own again).
  void DeleteAssignment();

  // Queues an alert for the sink. The store assigns its sequence number at Commit:
  // consecutive, increasing across commits and restarts.
  void AppendOutbox(std::string payload);

  // How far a sink that commits write themselves goes (`replay`'s alerts file: its length),
  // stored in this batch so that the sink and the state it came from can never disagree
  // after a crash: opaque bytes (a few dozen at most), read back by GetSinkPosition. Write
  // the sink's bytes before committing the batch, and make them durable in the flush hook
  // (StateStore::SetBeforeFlush).
  void PutSinkPosition(std::string_view position);

  // Operations recorded so far (puts, deletes, outbox entries).
  [[nodiscard]] size_t Count() const;
  // Approximate bytes the batch will write (keys, values and per-record overhead).
  [[nodiscard]] size_t ByteSize() const;

 private:
  friend class StateStore;
  struct Rep;
  explicit StateBatch(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

class StateStore {
 public:
  // Opens (or creates) the store at options.path.
  // Errors: kInvalidArgument for bad options, for a path that is a file, a symbolic link to
  // nothing or under a file, for a store written with an unknown format
  // version (a newer iocstream) and for a directory that holds a RocksDB database that is not
  // an iocstream state store; kIo when RocksDB cannot open it, and when another process (or
  // another open StateStore of this one) holds the directory: the store locks the file
  // `iocstream.lock` there until Close, before RocksDB writes anything (a refused open leaves
  // the holder's files, its info LOG included, as they were), and the message then holds
  // kHeldByAnother; kCorruption for unreadable metadata.
  [[nodiscard]] static Result<std::unique_ptr<StateStore>> Open(const StateStoreOptions& options);
  static constexpr std::string_view kHeldByAnother = "is held by another store";

  // Whether a file of this name in a state directory is one a store (or an interrupted
  // creation of one) keeps there: RocksDB's files and the store's lock file. For callers that
  // tell a store's directory from one that holds other files.
  [[nodiscard]] static bool IsStoreFile(std::string_view name);

  // Whether `path` holds a store (a RocksDB database; not checked to be an iocstream one, as
  // Open does), without creating or writing anything there: for the readers of an existing
  // store, as Open would create one in any directory.
  [[nodiscard]] static bool Exists(const std::string& path);

  // Why `path` is a damaged store, if it is: it holds a store's data (table files, or a
  // write-ahead log with records) but no CURRENT file, so creating a store there would delete
  // them. Open refuses such a directory (ErrorCode::kCorruption) with this text.
  [[nodiscard]] static std::optional<std::string> Damaged(const std::string& path);

  // Closes the database (flushing memtables first when the WAL is disabled) as Close() does,
  // ignoring errors; call Close() to see them.
  ~StateStore();
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;

  // Flushes memtables when the WAL is disabled and closes the database. Afterwards every
  // other call fails with kInvalidArgument (reads and writes) or returns zeros (Stats).
  // Idempotent. Not to be called concurrently with other calls.
  [[nodiscard]] Status Close();

  // An empty batch bound to this store. It is built in the buffer of the batch committed last
  // when that one was not much larger (a catch-up's batches are tens of MiB: a fresh buffer
  // was a page fault every 4 KiB). Callable from any thread.
  StateBatch NewBatch();

  // Applies `batch` atomically across all column families (one RocksDB WriteBatch), with the
  // options' WAL and sync settings. On error nothing of the batch is applied and the outbox
  // sequence numbers it would have taken stay free. Errors: kInvalidArgument for a moved-from
  // batch or one from another store; kIo and others from RocksDB.
  [[nodiscard]] Status Commit(StateBatch&& batch);

  // The stored state of one dossier, nullopt if none (answered by the dossier filter, see
  // StateStoreOptions, when it rules the id out). Errors: kCorruption, kIo. Thread-safe, as
  // the other reads.
  [[nodiscard]] Result<std::optional<DossierState>> GetDossier(std::string_view dossier_id) const;

  // GetDossier for many ids, those the dossier filter does not rule out in one RocksDB
  // MultiGet; result[i] answers ids[i]. Fails as a whole if any lookup fails.
  [[nodiscard]] Result<std::vector<std::optional<DossierState>>> GetDossiers(
      std::span<const std::string_view> ids) const;

  // The stored next offset of `tp`, nullopt if none was ever committed.
  [[nodiscard]] Result<std::optional<Offset>> GetOffset(const TopicPartition& tp) const;

  // Every stored (topic-partition, next offset), ordered by topic then partition.
  [[nodiscard]] Result<std::vector<std::pair<TopicPartition, Offset>>> LoadOffsets() const;

  // The check stored by PutSourceCheck for `tp`, nullopt if none (nothing consumed from it,
  // or stored by a build before source checks). Its next_offset may lag the stored offset
  // (an older build moved the offset on): then it does not describe the records before
  // the offset. Errors: kCorruption, kIo.
  [[nodiscard]] Result<std::optional<SourceCheck>> GetSourceCheck(const TopicPartition& tp) const;

  // The stored watermark of a partition, nullopt if none.
  [[nodiscard]] Result<std::optional<Instant>> GetWatermark(PartitionId partition) const;

  // The state partition count recorded by PutStatePartitions, nullopt if none (a store
  // written before it was recorded). Errors: kCorruption, kIo.
  [[nodiscard]] Result<std::optional<int32_t>> GetStatePartitions() const;
  // The changelog marker stored with PutChangelogMarker; nullopt if none.
  [[nodiscard]] Result<std::optional<std::string>> GetChangelogMarker(PartitionId partition) const;
  // The id this store writes changelog records under (app/changelog.h), nullopt before the
  // first: one per state directory, so that a restarted process knows its own records.
  [[nodiscard]] Result<std::optional<uint64_t>> GetChangelogWriter() const;
  // The partitions of the last PutAssignment, nullopt if none was written (a store only
  // `replay` wrote holds every partition as its own). Errors: kCorruption.
  [[nodiscard]] Result<std::optional<std::set<PartitionId>>> GetAssignment() const;

  // Timers of one partition with due <= up_to, in (due, kind, dossier id) order, at most
  // `limit` of them. The caller deletes fired timers in a later batch.
  // `from` bounds the scan below: timers due before it are not visited. Callers that know no
  // live timer lies below some instant pass it, so that the scan does not walk over the
  // tombstones of timers deleted earlier (a queue of due times is delete-heavy).
  [[nodiscard]] Result<std::vector<Timer>> DueTimers(PartitionId partition, Instant up_to,
                                                     size_t limit,
                                                     Instant from = Instant::min()) const;

  // The same, resuming strictly after `after` (a timer of this partition) in that order: the
  // next page of a scan whose last page ended at `after`, even in the middle of an instant
  // (thousands of timers may be due at one instant, e.g. after a holiday).
  [[nodiscard]] Result<std::vector<Timer>> DueTimersAfter(PartitionId partition, Instant up_to,
                                                          size_t limit, const Timer& after) const;

  // The earliest due instant among a partition's timers, nullopt if it has none.
  // Only timers due at or after `from` are considered (see DueTimers).
  [[nodiscard]] Result<std::optional<Instant>> NextTimerDue(PartitionId partition,
                                                            Instant from = Instant::min()) const;

  // Every stored aggregate, ordered by (partition, agency, commune, channel).
  [[nodiscard]] Result<std::vector<std::pair<AggregateKey, AggregateCounters>>> LoadAggregates()
      const;

  struct OutboxEntry {
    uint64_t sequence = 0;
    std::string payload;
  };
  // Up to `limit` outbox entries, oldest (lowest sequence) first, and no more once their
  // payloads reach `max_bytes` (the entry that reaches it is included: at least one is read).
  [[nodiscard]] Result<std::vector<OutboxEntry>> ReadOutbox(
      size_t limit, size_t max_bytes = std::numeric_limits<size_t>::max()) const;

  // The sequence the next outbox entry will get: entries are numbered one by one as commits
  // write them, so the outbox holds NextOutboxSequence() - (first entry's sequence) entries.
  // Any thread; as of the last commit written.
  [[nodiscard]] uint64_t NextOutboxSequence() const;

  // The entries the outbox holds (not yet removed), from its first entry's sequence: a read.
  // Any thread; as of the last commit written.
  [[nodiscard]] Result<uint64_t> OutboxSize() const;

  // Removes outbox entries with sequence <= up_to_sequence_inclusive, once the broker has
  // acknowledged them. Uses the WAL setting of the options: with the WAL disabled, a crash
  // may bring deleted entries back (they are redelivered; alert ids are idempotent).
  // Calls are serialized internally; safe to call concurrently with Commit.
  //
  // `relay_position`, when given, is stored in the same write: opaque bytes (a few dozen at
  // most) saying how far the relay's own output goes, so that the output and the outbox can
  // never disagree after a crash (FileOutboxRelay: its files' lengths). With the WAL
  // disabled, a crash brings back the deleted entries and the position stored with them
  // together.
  // `sink_position`, when given, is stored in the same write too (StateBatch::PutSinkPosition):
  // for a relay that writes the same sink as commits do, before they start.
  [[nodiscard]] Status DeleteOutbox(uint64_t up_to_sequence_inclusive,
                                    std::optional<std::string_view> relay_position = std::nullopt,
                                    std::optional<std::string_view> sink_position = std::nullopt);

  // The relay position stored by DeleteOutbox or PutRelayPosition; nullopt if none ever was
  // (a store from before iocstream 0.1's file relay recorded one). kCorruption never: the
  // bytes are the relay's to check.
  [[nodiscard]] Result<std::optional<std::string>> GetRelayPosition() const;

  // Stores a relay position on its own and makes it durable at once (a synced WAL write, or
  // a flush when the WAL is disabled): the first position of a relay that found none. With
  // `sink_position`, stores that too in the same write (StateBatch::PutSinkPosition), and
  // moves the store to format version 2, which builds before sink positions refuse (they
  // would cut the sink back to the relay position's stale length of it): a store's first
  // sink position must be stored here.
  [[nodiscard]] Status PutRelayPosition(
      std::string_view relay_position,
      std::optional<std::string_view> sink_position = std::nullopt);

  // The sink position stored by the last commit that had one (StateBatch::PutSinkPosition,
  // PutRelayPosition, DeleteOutbox); nullopt if none ever was. The bytes are the sink's to
  // check.
  [[nodiscard]] Result<std::optional<std::string>> GetSinkPosition() const;

  // Whether writes skip the write-ahead log (StateStoreOptions::disable_wal): then a write is
  // durable only once a flush has it.
  [[nodiscard]] bool wal_disabled() const;

  // `hook` runs on RocksDB's flush thread before each flush of the metadata family (where
  // sink positions are): a sink written outside the store makes its bytes durable there
  // (fdatasync), so that no flush makes a sink position durable before the bytes it counts,
  // and a machine crash cannot leave a position past the end of the sink. Without the WAL,
  // a flush is what makes a commit durable; with it, the sink must be synced before each
  // commit instead (the WAL write is not ordered with anything outside the store). The hook
  // cannot fail the flush: it keeps its own error for the sink's next write. An empty
  // function removes it; SetBeforeFlush waits for a hook that is running. Any thread.
  void SetBeforeFlush(std::function<void()> hook);

  // Visits every dossier in key (dossier id) order on one snapshot; stops early when `visit`
  // returns false. The scan does not fill the block cache, so it does not evict hot blocks.
  // Errors: kCorruption names the dossier that did not decode.
  [[nodiscard]] Status ForEachDossier(const std::function<bool(const DossierState&)>& visit) const;

  // Counters for metrics; never fails (unavailable figures are zero).
  [[nodiscard]] StoreStats Stats() const;

  // Flushes the memtables of all column families to SST files, atomically, and waits.
  [[nodiscard]] Status Flush();

 private:
  struct Impl;
  explicit StateStore(std::unique_ptr<Impl> impl);
  // Timers of `partition` from the key `lower` (inclusive) up to due `up_to`, at most `limit`.
  Result<std::vector<Timer>> ScanTimers(PartitionId partition, Instant up_to, size_t limit,
                                        const std::string& lower) const;
  std::unique_ptr<Impl> impl_;
};

}  // namespace iocstream::state
