// FlushHook: a function run before each flush of the state store's metadata family
// (StateStore::SetBeforeFlush), through a RocksDB event listener.
//
// The listener lives in its own translation unit, compiled without RTTI: the release RocksDB
// (scripts/build-rocksdb.sh) is built without it, as upstream builds release libraries, so a
// class derived from rocksdb::EventListener cannot have type information (its base's is not
// in the library). Nothing here uses typeid or dynamic_cast.
#pragma once

#include <functional>
#include <memory>
#include <mutex>

namespace rocksdb {
class EventListener;
}

namespace iocstream::state {

// The hook and its lock. Thread-safe: Set from any thread; Run on RocksDB's flush thread.
class FlushHook {
 public:
  // Replaces the hook (empty: none); waits for a running one to return.
  void Set(std::function<void()> hook) {
    std::lock_guard lock(mu_);
    hook_ = std::move(hook);
  }
  void Run() {
    std::lock_guard lock(mu_);
    if (hook_) hook_();
  }

 private:
  std::mutex mu_;
  std::function<void()> hook_;  // guarded by mu_
};

// A listener that runs `hook` (which must outlive it) at OnFlushBegin of the family named
// `family`: on the flush thread, once the memtables to flush are fixed (immutable: every
// write in them has returned), before anything of them is written (RocksDB 7.8:
// DBImpl::NotifyOnFlushBegin; with atomic_flush, once per family of the flush).
[[nodiscard]] std::shared_ptr<rocksdb::EventListener> NewFlushHookListener(FlushHook& hook,
                                                                           const char* family);

}  // namespace iocstream::state
