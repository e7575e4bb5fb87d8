// Compiled with -fno-rtti (see flush_hook.h).
#include "state/flush_hook.h"

#include <rocksdb/listener.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace iocstream::state {

namespace {

class StoreListener final : public rocksdb::EventListener {
 public:
  StoreListener(FlushHook& hook, const char* family) : hook_(hook), family_(family) {}
  void OnFlushBegin(rocksdb::DB* /*db*/, const rocksdb::FlushJobInfo& info) override {
    if (info.cf_name == family_) hook_.Run();
  }
  void OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason /*reason*/, rocksdb::Status bg_error,
                            bool* auto_recovery) override {
    bg_error.PermitUncheckedError();
    *auto_recovery = false;
  }

 private:
  FlushHook& hook_;
  std::string family_;
};

class BackgroundPriority final : public rocksdb::EventListener {
 public:
  explicit BackgroundPriority(int nice) : nice_(nice) {}
  void OnFlushBegin(rocksdb::DB* /*db*/, const rocksdb::FlushJobInfo& /*info*/) override {
    Lower();
  }
  void OnCompactionBegin(rocksdb::DB* /*db*/, const rocksdb::CompactionJobInfo& /*info*/) override {
    Lower();
  }

 private:
  void Lower() const {
    const auto tid = static_cast<id_t>(gettid());
    errno = 0;  // getpriority returns -1 both for nice -1 and for a failure
    const int current = getpriority(PRIO_PROCESS, tid);
    if (errno == 0 && current < nice_) (void)setpriority(PRIO_PROCESS, tid, nice_);
  }
  int nice_;
};

}  // namespace

std::shared_ptr<rocksdb::EventListener> NewBackgroundPriorityListener(int nice) {
  return std::make_shared<BackgroundPriority>(nice);
}

std::shared_ptr<rocksdb::EventListener> NewStoreListener(FlushHook& hook, const char* family) {
  return std::make_shared<StoreListener>(hook, family);
}

}  // namespace iocstream::state
