// CommitAlertSink: where a Pipeline's commits write alerts themselves, instead of queuing them
// in the state store's outbox for a relay.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "iocstream/core/result.h"

namespace iocstream::app {

// A sink that commits write their alerts to themselves, instead of queuing them in the state
// store's outbox for a relay (`replay`'s alerts file: FileOutboxRelay). Its position goes into
// the same batch as the state that raised the alerts (StateBatch::PutSinkPosition), so that
// after a crash the sink is cut back to the state's position and the events after it raise
// the same alerts again: exactly once, with no outbox entry written, flushed, read and
// deleted per alert (a fifth of what a replay's store flushed).
class CommitAlertSink {
 public:
  virtual ~CommitAlertSink() = default;
  // Appends `lines` (`alerts` whole NDJSON lines: alert::AlertToJson of each, then a line
  // feed). Called where the batch is built (the state-writer thread with async_commit),
  // before the batch is written, one commit at a time, in pieces of about 1 MiB (no commit's
  // alerts held whole). An error fails the commit: nothing of it is written to the store, and
  // the Pipeline is fatal.
  [[nodiscard]] virtual Status WriteAlerts(std::string_view lines, uint64_t alerts) = 0;
  // The position to store with the commit after its WriteAlerts calls, on the same thread.
  // Errors fail the commit as WriteAlerts's do.
  [[nodiscard]] virtual Result<std::string> Position() = 0;
};

}  // namespace iocstream::app
