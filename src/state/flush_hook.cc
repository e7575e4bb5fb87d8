// Compiled with -fno-rtti (see flush_hook.h).
#include "state/flush_hook.h"

#include <rocksdb/listener.h>

#include <string>

namespace iocstream::state {

namespace {

class FlushHookListener final : public rocksdb::EventListener {
 public:
  FlushHookListener(FlushHook& hook, const char* family) : hook_(hook), family_(family) {}
  void OnFlushBegin(rocksdb::DB* /*db*/, const rocksdb::FlushJobInfo& info) override {
    if (info.cf_name == family_) hook_.Run();
  }

 private:
  FlushHook& hook_;
  std::string family_;
};

}  // namespace

std::shared_ptr<rocksdb::EventListener> NewFlushHookListener(FlushHook& hook, const char* family) {
  return std::make_shared<FlushHookListener>(hook, family);
}

}  // namespace iocstream::state
