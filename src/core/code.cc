#include "iocstream/core/code.h"

#include <array>
#include <boost/unordered/unordered_flat_map.hpp>
#include <cstdint>
#include <cstring>
#include <deque>
#include <mutex>

#include "iocstream/core/byte_scan.h"

namespace iocstream {
namespace {

// Every distinct text once. The strings live in a deque (stable addresses, never freed);
// the index finds them by their text.
class CodePool {
 public:
  CodePool() { Intern(""); }

  // The held copy of `text`, interned if new and `limit` codes are not yet held (else null).
  // The empty text, held from the start, is no code and is not counted: the limit was one
  // short (too_many_codes said "65536 distinct codes are held already" with 65,535 admitted,
  // a QA finding).
  const std::string* Intern(std::string_view text, size_t limit = SIZE_MAX) {
    std::lock_guard lock(mu_);
    if (auto it = index_.find(text); it != index_.end()) return it->second;
    if (!text.empty() && codes_ >= limit) return nullptr;
    const std::string* stored = &texts_.emplace_back(text);
    index_.emplace(*stored, stored);
    if (!text.empty()) ++codes_;
    return stored;
  }

  // Distinct non-empty texts held.
  size_t Size() {
    std::lock_guard lock(mu_);
    return codes_;
  }

 private:
  std::mutex mu_;
  std::deque<std::string> texts_;
  size_t codes_ = 0;  // texts_ but the empty one
  boost::unordered_flat_map<std::string_view, const std::string*> index_;
};

CodePool& Pool() {
  static CodePool* pool = new CodePool();  // never destroyed: Codes may outlive statics
  return *pool;
}

constexpr size_t kCacheSlots = 4096;

// A slot of the cache for `text`: a mix of its length and its first and last eight bytes,
// where codes differ (procedure numbers at the front, place names at the end). A collision
// only sends a lookup to the pool. About a quarter of std::hash's instructions (MurmurHash
// over every byte, called per code of every event).
size_t CacheSlot(std::string_view text) {
  const size_t size = text.size();
  uint64_t head = 0;
  uint64_t tail = 0;
  if (size >= sizeof(head)) {
    head = byte_scan::LoadWord(text.data());
    tail = byte_scan::LoadWord(text.data() + size - sizeof(tail));
  } else {
    std::memcpy(&head, text.data(), size);
  }
  uint64_t h = (head * 0x9E3779B97F4A7C15ULL) ^ (tail * 0xC2B2AE3D27D4EB4FULL) ^ size;
  h ^= h >> 32;
  h *= 0xBF58476D1CE4E5B9ULL;
  static_assert(kCacheSlots == size_t{1} << 12);
  return static_cast<size_t>(h >> 52);  // the top 12 bits
}

// Interns through a per-thread cache of recent texts (direct-mapped by hash), so that the
// usual case, a code interned already, takes no lock: the pool's texts are never freed, so
// a cached pointer stays valid.
const std::string* InternCached(std::string_view text, size_t limit) {
  thread_local std::array<const std::string*, kCacheSlots> recent{};
  const std::string*& slot = recent[CacheSlot(text)];
  if (slot != nullptr && byte_scan::Equal(*slot, text)) return slot;
  const std::string* interned = Pool().Intern(text, limit);
  if (interned != nullptr) slot = interned;
  return interned;
}

const std::string* EmptyText() {
  static const std::string* empty = Pool().Intern("");
  return empty;
}

}  // namespace

Code::Code() noexcept : text_(EmptyText()) {}

Code::Code(std::string_view text)
    : text_(text.empty() ? EmptyText() : InternCached(text, SIZE_MAX)) {}

size_t Code::PoolSize() { return Pool().Size(); }

std::optional<Code> Code::Find(std::string_view text) {
  if (text.empty()) return Code();
  // A limit of 0 interns nothing: only a text held already is found.
  const std::string* held = InternCached(text, 0);
  if (held == nullptr) return std::nullopt;
  return Code(held);
}

std::optional<Code> Code::Admitted(std::string_view text) {
  if (text.empty()) return Code();
  const std::string* interned = InternCached(text, kMaxAdmittedCodes);
  if (interned == nullptr) return std::nullopt;
  return Code(interned);
}

}  // namespace iocstream
