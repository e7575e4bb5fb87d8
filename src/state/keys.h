// Key layout of the state store's column families. Private to src/state (and its tests).
//
// RocksDB orders keys by bytewise comparison, so every encoding here is chosen so that byte
// order equals the order the store scans in:
//   - signed integers (partition, instant millis) are big-endian with the sign bit flipped
//     ("ordered"), so negative values sort before positive ones;
//   - strings inside a key (agency, commune, topic) are escaped and terminated by one 0x00:
//     0x00 -> 0x01 0x01 and 0x01 -> 0x01 0x02, other bytes unchanged. A code without control
//     bytes 0x00/0x01 is stored verbatim followed by 0x00; the escape keeps any byte string
//     decodable and keeps ordering ("a" < "a\0" < "ab");
//   - a string at the end of a key (dossier id) is stored raw.
//
//   CF          key                                                   value
//   dossiers    dossier_id                                            dossier_codec.h
//   timers      ordered32 partition, ordered64 due ms, u8 kind, id    empty
//   aggregates  ordered32 partition, esc agency 0x00, esc commune     aggregate_codec.h
//               0x00, u8 channel
//   offsets     esc topic 0x00, ordered32 partition                   be64 next offset
//   outbox      be64 sequence                                         payload bytes
//   meta        "format_version"                                      be32 version
//               "outbox_next_sequence"                                be64 sequence
//               "watermark/" ordered32 partition                      be64 epoch millis
//               "source_check/" esc topic 0x00, ordered32 partition   be64 next offset,
//                                                                     be64 chained hash
//               "relay_position"                                      the relay's bytes
//
// Decoders return nullopt for bytes that are not a valid key of their family (corruption).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "iocstream/core/aggregate_types.h"
#include "iocstream/core/dossier_state.h"
#include "iocstream/core/types.h"

namespace iocstream::state::keys {

inline constexpr std::string_view kDossiersFamily = "dossiers";
inline constexpr std::string_view kTimersFamily = "timers";
inline constexpr std::string_view kAggregatesFamily = "aggregates";
inline constexpr std::string_view kOffsetsFamily = "offsets";
inline constexpr std::string_view kOutboxFamily = "outbox";
inline constexpr std::string_view kMetaFamily = "meta";

inline constexpr std::string_view kFormatVersionKey = "format_version";
inline constexpr std::string_view kOutboxNextSequenceKey = "outbox_next_sequence";
inline constexpr std::string_view kWatermarkKeyPrefix = "watermark/";
inline constexpr std::string_view kStatePartitionsKey =
    "replay_partitions";  // its first name, kept
inline constexpr std::string_view kSourceCheckKeyPrefix = "source_check/";
inline constexpr std::string_view kChangelogMarkerKeyPrefix = "changelog_marker/";
inline constexpr std::string_view kChangelogWriterKey = "changelog_writer";
inline constexpr std::string_view kAssignmentKey = "assignment";
inline constexpr std::string_view kRelayPositionKey = "relay_position";
inline constexpr std::string_view kSinkPositionKey = "sink_position";

// Appends `s` escaped and terminated (see above).
void AppendEscapedString(std::string* out, std::string_view s);

// Timers: Timer <-> key. The prefixes select one partition, or one partition's timers due at
// or before an instant (upper bound: PrefixSuccessor(TimerDuePrefix(p, t))).
std::string TimerKey(const Timer& timer);
// TimerKey into `out` (replacing its contents), a buffer reused across calls.
void EncodeTimerKey(const Timer& timer, std::string* out);
// The key of the timer of `dossier_id` (partition, due, kind) appended to `out`.
void AppendTimerKey(PartitionId partition, Instant due, TimerKind kind, std::string_view dossier_id,
                    std::string* out);
std::string TimerPartitionPrefix(PartitionId partition);
std::string TimerDuePrefix(PartitionId partition, Instant due);
std::optional<Timer> DecodeTimerKey(std::string_view key);

std::string AggregateKeyBytes(const AggregateKey& key);
std::optional<AggregateKey> DecodeAggregateKey(std::string_view key);

std::string OffsetKey(const TopicPartition& tp);
std::optional<TopicPartition> DecodeOffsetKey(std::string_view key);

std::string OutboxKey(uint64_t sequence);
std::optional<uint64_t> DecodeOutboxKey(std::string_view key);

std::string WatermarkKey(PartitionId partition);
std::string ChangelogMarkerKey(PartitionId partition);

// The meta key of a source's check (SourceCheck): its next offset and the hash chained over
// every record consumed before it.
std::string SourceCheckKey(const TopicPartition& tp);

// Fixed-width value helpers for offsets, watermarks, the format version and sequences.
std::string Fixed64Value(uint64_t v);
std::optional<uint64_t> DecodeFixed64Value(std::string_view bytes);
std::string Fixed32Value(uint32_t v);
std::optional<uint32_t> DecodeFixed32Value(std::string_view bytes);

// The smallest key greater than every key that starts with `prefix`; empty when there is none
// (the prefix is all 0xff), meaning "no upper bound".
std::string PrefixSuccessor(std::string_view prefix);

}  // namespace iocstream::state::keys
