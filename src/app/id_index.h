// IdIndex: the dossier cache's index, an open-addressing hash table from ids to values allocated
// apart (the Pipeline's cache entries), whose slot for an id is known from the id's hash alone.
//
// Why not boost::unordered_flat_map (which the cache used until session 57): a replay's pipeline
// thread looks up about a million dossiers among hundreds of thousands cached, each lookup two
// dependent cache misses (the slot group's metadata, then the slot's key), and 8% of the thread's
// samples waited on the second (perf). Boost 1.81's table cannot be asked where an id's slot is,
// so a loop cannot ask for it ahead. Here a batch's lookups ask for the lines of each id's home
// slot a few records ahead (Prefetch), from the hash the decoding thread computed.
//
// Layout: two arrays of `slot_count()` (a power of two): the ids' 64-bit hashes (0: an empty
// slot; a hash of 0 is stored as 1) and the slots (key, owning pointer). Linear probing from the
// home slot (the hash's top bits), at most 3/4 full (2.5 probes per hit on average, 8.5 per miss,
// Knuth; the hashes of eight slots share a cache line, and a key is compared only where the whole
// hash matches); deletion shifts the following slots back (no tombstones), so a lookup never
// probes past an empty slot. It grows by doubling and never shrinks (as Boost's).
//
// Key: constructible from std::string_view, movable, with `std::string_view view() const`.
// Values are owned through std::unique_ptr and never move: pointers to them stay valid until
// they are erased, across growth. Hashes: whatever function the caller uses, always the same
// one for an id (the Pipeline: ShortHash, XXH3, whose top bits are well mixed).
//
// Thread-safety: none; one thread (the pipeline's) uses it. Errors: only std::bad_alloc.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <string_view>
#include <utility>

#include "iocstream/core/prefetch.h"

namespace iocstream::app {

template <class Key, class Value>
class IdIndex {
  struct Slot {
    Key key;
    std::unique_ptr<Value> value;
  };

 public:
  // Memory per slot of the two arrays.
  static constexpr size_t kSlotBytes = sizeof(uint64_t) + sizeof(Slot);
  // A slot is not filled past this fraction (numerator / denominator) of the slots.
  static constexpr size_t kMaxLoadNumerator = 3;
  static constexpr size_t kMaxLoadDenominator = 4;

  IdIndex() = default;
  IdIndex(const IdIndex&) = delete;
  IdIndex& operator=(const IdIndex&) = delete;
  ~IdIndex() { Release(); }

  [[nodiscard]] size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  [[nodiscard]] size_t slot_count() const noexcept { return capacity_; }

  // Asks for the cache lines of the home slot of an id hashed to `hash` (its hash and its key):
  // call it a few lookups ahead. A hint only; nothing changes.
  void Prefetch(uint64_t hash) const noexcept {
    if (capacity_ == 0) return;
    const size_t i = Home(Tag(hash));
    prefetch::Line(&tags_[i]);
    // A slot may straddle two lines: both (the key's size is in its last byte).
    prefetch::Line(&slots_[i]);
    prefetch::Line(reinterpret_cast<const char*>(&slots_[i]) + sizeof(Slot) - 1);
  }

  // The value under `id` (hashed to `hash`), or nullptr.
  [[nodiscard]] Value* Find(std::string_view id, uint64_t hash) const noexcept {
    if (size_ == 0) return nullptr;
    const uint64_t tag = Tag(hash);
    for (size_t i = Home(tag);; i = (i + 1) & mask_) {
      const uint64_t t = tags_[i];
      if (t == tag && slots_[i].key.view() == id) return slots_[i].value.get();
      if (t == 0) return nullptr;
    }
  }

  // The value under `id` (hashed to `hash`) and false if there is one, else make()'s (a
  // std::unique_ptr<Value>, which the index then owns) under it and true.
  template <class Make>
  std::pair<Value*, bool> FindOrInsert(std::string_view id, uint64_t hash, Make&& make) {
    if (Value* found = Find(id, hash)) return {found, false};
    if ((size_ + 1) * kMaxLoadDenominator > capacity_ * kMaxLoadNumerator) {
      Rehash(capacity_ == 0 ? kMinSlots : capacity_ * 2);
    }
    const uint64_t tag = Tag(hash);
    size_t i = Home(tag);
    while (tags_[i] != 0) i = (i + 1) & mask_;
    std::unique_ptr<Value> value = make();
    Value* raw = value.get();
    std::construct_at(&slots_[i], Slot{Key(id), std::move(value)});
    tags_[i] = tag;
    ++size_;
    return {raw, true};
  }

  // Erases (and destroys) `value`, held under an id hashed to `hash`. False when it is not
  // held (the index is unchanged).
  bool Erase(uint64_t hash, const Value* value) {
    if (size_ == 0) return false;
    const uint64_t tag = Tag(hash);
    for (size_t i = Home(tag); tags_[i] != 0; i = (i + 1) & mask_) {
      if (tags_[i] == tag && slots_[i].value.get() == value) {
        EraseAt(i);
        return true;
      }
    }
    return false;
  }

  // Erases every value; the slots stay allocated.
  void Clear() noexcept {
    for (size_t i = 0; i < capacity_ && size_ > 0; ++i) {
      if (tags_[i] == 0) continue;
      std::destroy_at(&slots_[i]);
      tags_[i] = 0;
      --size_;
    }
    assert(size_ == 0);
  }

  // Slot by slot, for scans of every value (i < slot_count()): whether slot i holds one, and
  // its value.
  [[nodiscard]] bool Occupied(size_t i) const noexcept { return tags_[i] != 0; }
  [[nodiscard]] Value* ValueAt(size_t i) const noexcept {
    assert(Occupied(i));
    return slots_[i].value.get();
  }

 private:
  static constexpr size_t kMinSlots = 16;

  // The stored hash: never 0, which marks an empty slot.
  static uint64_t Tag(uint64_t hash) noexcept { return hash == 0 ? 1 : hash; }
  [[nodiscard]] size_t Home(uint64_t tag) const noexcept {
    return static_cast<size_t>(tag >> shift_);
  }

  // Empties slot i and moves each slot after it that may live there (its home is not after the
  // hole, cyclically) back into the hole, so that no probe meets a hole before its id's slot.
  void EraseAt(size_t i) noexcept {
    std::destroy_at(&slots_[i]);
    tags_[i] = 0;
    --size_;
    size_t hole = i;
    for (size_t j = (i + 1) & mask_; tags_[j] != 0; j = (j + 1) & mask_) {
      const size_t home = Home(tags_[j]);
      if (((j - home) & mask_) < ((j - hole) & mask_)) continue;  // its home lies after the hole
      std::construct_at(&slots_[hole], std::move(slots_[j]));
      std::destroy_at(&slots_[j]);
      tags_[hole] = tags_[j];
      tags_[j] = 0;
      hole = j;
    }
  }

  void Rehash(size_t capacity) {
    assert(capacity >= kMinSlots && (capacity & (capacity - 1)) == 0);
    auto tags = std::make_unique<uint64_t[]>(capacity);  // zeroed: every slot empty
    auto* slots = static_cast<Slot*>(::operator new(capacity * sizeof(Slot)));
    const size_t mask = capacity - 1;
    int shift = 64;
    for (size_t c = capacity; c > 1; c >>= 1) --shift;
    for (size_t i = 0; i < capacity_; ++i) {
      if (tags_[i] == 0) continue;
      size_t k = static_cast<size_t>(tags_[i] >> shift);
      while (tags[k] != 0) k = (k + 1) & mask;
      std::construct_at(&slots[k], std::move(slots_[i]));
      std::destroy_at(&slots_[i]);
      tags[k] = tags_[i];
    }
    ::operator delete(slots_);
    slots_ = slots;
    tags_ = std::move(tags);
    capacity_ = capacity;
    mask_ = mask;
    shift_ = shift;
  }

  void Release() noexcept {
    Clear();
    ::operator delete(slots_);
    slots_ = nullptr;
  }

  std::unique_ptr<uint64_t[]> tags_;
  Slot* slots_ = nullptr;  // capacity_ of them, constructed where tags_ is not 0
  size_t capacity_ = 0;
  size_t mask_ = 0;
  int shift_ = 63;
  size_t size_ = 0;
};

}  // namespace iocstream::app
