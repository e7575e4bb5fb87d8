#include "iocstream/core/code.h"

#include <array>
#include <boost/unordered/unordered_flat_map.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>

namespace iocstream {
namespace {

// Every distinct text once. The strings live in a deque (stable addresses, never freed);
// the index finds them by their text.
class CodePool {
 public:
  CodePool() { Intern(""); }

  // The held copy of `text`, interned if new and `limit` texts are not yet held (else null).
  const std::string* Intern(std::string_view text, size_t limit = SIZE_MAX) {
    std::lock_guard lock(mu_);
    if (auto it = index_.find(text); it != index_.end()) return it->second;
    if (texts_.size() >= limit) return nullptr;
    const std::string* stored = &texts_.emplace_back(text);
    index_.emplace(*stored, stored);
    return stored;
  }

  size_t Size() {
    std::lock_guard lock(mu_);
    return texts_.size();
  }

 private:
  std::mutex mu_;
  std::deque<std::string> texts_;
  boost::unordered_flat_map<std::string_view, const std::string*> index_;
};

CodePool& Pool() {
  static CodePool* pool = new CodePool();  // never destroyed: Codes may outlive statics
  return *pool;
}

// Interns through a per-thread cache of recent texts (direct-mapped by hash), so that the
// usual case, a code interned already, takes no lock: the pool's texts are never freed, so
// a cached pointer stays valid.
const std::string* InternCached(std::string_view text, size_t limit) {
  constexpr size_t kSlots = 4096;
  thread_local std::array<const std::string*, kSlots> recent{};
  const std::string*& slot = recent[std::hash<std::string_view>{}(text) % kSlots];
  if (slot != nullptr && *slot == text) return slot;
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
