// Dead-letter records: what iocstream publishes for a message it could not decode, as pure data
// (the Kafka producing lives in ingest). Contract: docs/event-contract.md, "Dead letters".
//
// A dead-letter message has the ORIGINAL value bytes as its value and the ORIGINAL key as its
// key, so it can be fixed and replayed as is; why it was rejected travels in the headers built
// by DeadLetterHeaders().
//
// Plain values and pure functions: thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "iocstream/core/types.h"
#include "iocstream/decode/event_decoder.h"

namespace iocstream {

// Header names (stable: consumers of the dead-letter topic filter on them).
inline constexpr std::string_view kDlqReasonHeader = "iocstream.dlq.reason";
inline constexpr std::string_view kDlqDetailHeader = "iocstream.dlq.detail";
inline constexpr std::string_view kDlqTopicHeader = "iocstream.dlq.topic";
inline constexpr std::string_view kDlqPartitionHeader = "iocstream.dlq.partition";
inline constexpr std::string_view kDlqOffsetHeader = "iocstream.dlq.offset";
inline constexpr std::string_view kDlqSchemaHeader = "iocstream.dlq.schema";
// The contract the rejected message was checked against.
inline constexpr std::string_view kDossierEventSchemaId = "dossier-event.v1";
// Longer details are cut (on a UTF-8 boundary) in the header, to keep headers small.
inline constexpr size_t kMaxDeadLetterDetailBytes = 1024;

// A dead letter's value and key keep at most this many of the original's first bytes (only
// a too_large record, or a key as long, is cut): producers and brokers refuse records over
// their message.max.bytes (1,000,000 by default), and one refused dead letter held every
// later alert and dead letter behind it in the outbox for good. The original record stays
// whole at the topic, partition and offset the headers give; a cut value or key is told by
// these headers, holding the original's length in bytes (decimal).
inline constexpr size_t kMaxDeadLetterValueBytes = kMaxPayloadBytes + 1;
inline constexpr std::string_view kDlqValueBytesHeader = "iocstream.dlq.value_bytes";
inline constexpr std::string_view kDlqKeyBytesHeader = "iocstream.dlq.key_bytes";

// Where a rejected message came from and why. For file sources, source_topic names the file,
// partition 0 and offset the 0-based line (or record) number.
struct DeadLetter {
  std::string reason;        // ToString(DecodeErrorReason), e.g. "invalid_timestamp"
  std::string detail;        // DecodeError::detail
  std::string source_topic;  // topic the message was consumed from
  int32_t partition = 0;
  int64_t offset = 0;  // the rejected message's own offset (not the next one)
};

// Builds the record for a decode failure at (source, offset).
DeadLetter MakeDeadLetter(const DecodeError& error, const TopicPartition& source, Offset offset);

// Headers, in this order: iocstream.dlq.reason, .detail, .topic, .partition, .offset (decimal),
// .schema (= "dossier-event.v1"). Values are UTF-8 text; the detail is cut to
// kMaxDeadLetterDetailBytes.
std::vector<std::pair<std::string, std::string>> DeadLetterHeaders(const DeadLetter& letter);

// The value and key a dead letter of (value, key) carries, each cut to `cap` bytes, with
// kDlqValueBytesHeader / kDlqKeyBytesHeader appended to `headers` for each one that was cut
// (unless `headers` has it already: a dead letter cut again keeps the original's length).
// The pipeline cuts at kMaxDeadLetterValueBytes; the Kafka relay cuts further a dead letter
// the dead-letter topic refused for its size.
struct DeadLetterRecord {
  std::string key;
  std::string value;
};
DeadLetterRecord CutDeadLetterRecord(std::string_view value, std::string_view key,
                                     std::vector<std::pair<std::string, std::string>>& headers,
                                     size_t cap = kMaxDeadLetterValueBytes);

}  // namespace iocstream
