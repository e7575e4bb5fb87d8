// Compiled with -fno-rtti (see flush_hook.h).
#include "state/flush_hook.h"

#include <rocksdb/listener.h>

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

}  // namespace

std::shared_ptr<rocksdb::EventListener> NewStoreListener(FlushHook& hook, const char* family) {
  return std::make_shared<StoreListener>(hook, family);
}

}  // namespace iocstream::state
