// FlushHook: a function run before each flush of the state store's metadata family
// (StateStore::SetBeforeFlush), through the store's RocksDB event listener.
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

// The store's RocksDB event listener:
// - it runs `hook` (which must outlive it) at OnFlushBegin of the family named `family`: on
//   the flush thread, once the memtables to flush are fixed (immutable: every write in them
//   has returned), before anything of them is written (RocksDB 7.8: DBImpl::
//   NotifyOnFlushBegin; with atomic_flush, once per family of the flush);
// - it turns RocksDB's automatic recovery from background errors off (OnErrorRecoveryBegin):
//   a failed flush leaves the store read-only until it is closed. iocstream stops on a failed
//   commit anyway (a restart resumes from the store), and RocksDB 7.8's recovery from a full
//   disk hung the close: the flush thread that failed joined the SstFileManager's recovery
//   thread, which waits for free space that never came (a helper's trial: a replay on a full
//   31 MiB tmpfs reported "No space left on device", then never exited; facebook/rocksdb#11440
//   is of the same family).
[[nodiscard]] std::shared_ptr<rocksdb::EventListener> NewStoreListener(FlushHook& hook,
                                                                       const char* family);

// A listener that lowers the RocksDB background thread running a flush or a compaction to the
// CPU priority `nice` as its job begins (RocksDB calls listeners on the job's own thread;
// Linux's nice values are per thread, set by thread id: StateStoreOptions::
// low_priority_background). Never raises a thread: one at `nice` or lower stays. Stateless,
// so concurrent jobs may call it.
[[nodiscard]] std::shared_ptr<rocksdb::EventListener> NewBackgroundPriorityListener(int nice);

}  // namespace iocstream::state
