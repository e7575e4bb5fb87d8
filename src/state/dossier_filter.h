// An in-memory filter of the dossier ids a state store holds, in front of its point reads.
//
// Most dossier reads of a catch-up are of dossiers the store has never seen (the first event
// of each new dossier): RocksDB answers each after probing the memtables and one filter per
// L0 file and level, about 15% of a replay's pipeline thread. One probe of this filter answers
// most of them. It is a split block Bloom filter (the layout of Apache Parquet's bloom filter
// spec: blocks of eight 32-bit words, one bit set per word, salts from the spec), about 1% false
// positives at 10 bits per id. It never forgets an id it was given: a "no" is certain, a
// "maybe" is checked in the store. Past its design load it only answers "maybe" more often
// (the store is read as before), so its size is a memory bound, not a limit on dossiers.
//
// Thread-safety: Insert and MayContain from any threads at once (relaxed atomic word
// operations). An Insert is seen by a MayContain that happens after it (C++ happens-before);
// the store inserts each id before the write that stores it.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace iocstream::state {

class DossierFilter {
 public:
  // A filter of `bytes` (rounded down to whole 32-byte blocks, at least one block): about
  // bytes * 8 / 10 ids at 1% false positives.
  explicit DossierFilter(size_t bytes);

  void Insert(std::string_view dossier_id) noexcept;
  // Insert by the id's hash (Hash), and a request to the CPU to load the block of that hash (a
  // cache miss for a filter much larger than the caches): callers that insert many ids
  // prefetch a few ahead and compute each hash once.
  [[nodiscard]] static uint64_t Hash(std::string_view dossier_id) noexcept;
  void InsertHashed(uint64_t hash) noexcept;
  void PrefetchHashed(uint64_t hash) const noexcept;
  // False only if `dossier_id` was never inserted.
  [[nodiscard]] bool MayContain(std::string_view dossier_id) const noexcept;
  // MayContain by the id's hash (Hash): callers that ask for many ids prefetch their blocks
  // first (PrefetchHashed), so that the misses overlap.
  [[nodiscard]] bool MayContainHashed(uint64_t hash) const noexcept;

  [[nodiscard]] size_t bytes() const noexcept { return words_.size() * sizeof(uint32_t); }

  // The hashes (Hash) of ids 0 to n - 1, taken in order, each id's block asked for kAhead ids
  // before its hash is taken: a random block of a filter far larger than the caches is a cache
  // miss, and asked for ahead the misses overlap. `id_at(i)` returns id i (a string_view); ids
  // are read kAhead ahead too. For callers that insert or look up many ids (a commit's, a
  // read's). Not thread-safe; the filter's own calls are.
  template <size_t kAhead, typename IdAt>
  class HashesAhead {
   public:
    HashesAhead(const DossierFilter& filter, size_t n, IdAt id_at)
        : filter_(filter), n_(n), id_at_(std::move(id_at)) {
      for (size_t i = 0; i < std::min(kAhead, n_); ++i) Ask(i);
    }
    // Id i's hash, for i = 0, 1, ... in turn; asks for id i + kAhead's block.
    uint64_t Take(size_t i) {
      const uint64_t hash = ring_[i % kAhead];
      if (i + kAhead < n_) Ask(i + kAhead);
      return hash;
    }

   private:
    void Ask(size_t i) {
      ring_[i % kAhead] = Hash(id_at_(i));
      filter_.PrefetchHashed(ring_[i % kAhead]);
    }
    const DossierFilter& filter_;
    size_t n_;
    IdAt id_at_;
    std::array<uint64_t, kAhead> ring_{};  // hashes asked for and not yet taken, by i % kAhead
  };

 private:
  static constexpr size_t kWordsPerBlock = 8;
  std::vector<uint32_t> words_;  // accessed through std::atomic_ref only
  uint64_t blocks_;
};

}  // namespace iocstream::state
