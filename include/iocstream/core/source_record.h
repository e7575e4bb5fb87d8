// SourceRecord: one raw record handed from a source (Kafka partition or file) to the
// pipeline, before decoding. The views point into memory owned by the source and stay valid
// until the source's next Poll. Thread-compatible.
#pragma once

#include <string_view>

#include "iocstream/core/types.h"

namespace iocstream {

struct SourceRecord {
  std::string_view topic;  // Kafka topic, or the file path for file sources
  PartitionId partition{0};
  Offset offset{0};      // Kafka offset, or the 0-based line/record number in the file
  Instant timestamp{};   // broker/producer timestamp (UTC); file sources: zero
  std::string_view key;  // message key (the dossier id); empty when the record has none
  std::string_view payload;
  // The source went back to this offset on its own: the broker's log of the partition no
  // longer reached the position it was read from (the topic was deleted and created again,
  // or the log truncated), and Kafka's auto.offset.reset moved the consumer to the start of
  // the log there is now. The offsets before it were another log's. Kafka sources only.
  bool position_reset = false;
  // The record came from Kafka, whose key must be its dossier id (one key, one partition):
  // a keyless record is refused. File sources have no keys.
  bool keyed = false;
};

}  // namespace iocstream
