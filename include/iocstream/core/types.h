// Strong value types shared by every module: instants, offsets, partitions.
//
// All instants are UTC. Local (Asia/Ho_Chi_Minh) time appears only inside the rules
// module, which converts at its boundary. Types here are plain values: thread-compatible
// (safe to read concurrently, not to mutate concurrently).
#pragma once

#include <chrono>
#include <compare>
#include <cstdint>
#include <string>

namespace iocstream {

// A point in time, UTC, millisecond resolution (Kafka timestamps are milliseconds).
using Instant = std::chrono::sys_time<std::chrono::milliseconds>;
using Millis = std::chrono::milliseconds;

// Milliseconds since the Unix epoch, UTC.
constexpr int64_t ToEpochMillis(Instant t) { return t.time_since_epoch().count(); }
constexpr Instant FromEpochMillis(int64_t ms) { return Instant(Millis(ms)); }

// A value of type T that cannot be mixed up with another NamedType of the same T
// (as Redpanda's named_type): Offset and PartitionId do not convert into each other.
template <typename T, typename Tag>
class NamedType {
 public:
  using ValueType = T;
  constexpr NamedType() = default;
  constexpr explicit NamedType(T value) : value_(value) {}
  [[nodiscard]] constexpr T value() const { return value_; }
  constexpr auto operator<=>(const NamedType&) const = default;

 private:
  T value_{};
};

// A Kafka offset (or a line number for file sources). "Next offset" means the offset of
// the first record not yet applied, as Kafka's committed offsets do.
using Offset = NamedType<int64_t, struct OffsetTag>;
using PartitionId = NamedType<int32_t, struct PartitionIdTag>;

struct TopicPartition {
  std::string topic;
  PartitionId partition;
  auto operator<=>(const TopicPartition&) const = default;
};

}  // namespace iocstream
