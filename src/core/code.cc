#include "iocstream/core/code.h"

#include <boost/unordered/unordered_flat_map.hpp>
#include <deque>
#include <mutex>

namespace iocstream {
namespace {

// Every distinct text once. The strings live in a deque (stable addresses, never freed);
// the set finds them by their text.
class CodePool {
 public:
  CodePool() { Intern(""); }

  const std::string* Intern(std::string_view text) {
    std::lock_guard lock(mu_);
    if (auto it = index_.find(text); it != index_.end()) return it->second;
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

const std::string* EmptyText() {
  static const std::string* empty = Pool().Intern("");
  return empty;
}

}  // namespace

Code::Code() noexcept : text_(EmptyText()) {}

Code::Code(std::string_view text) : text_(text.empty() ? EmptyText() : Pool().Intern(text)) {}

size_t Code::PoolSize() { return Pool().Size(); }

}  // namespace iocstream
