#include "state/keys.h"

#include "state/encoding.h"

namespace iocstream::state::keys {
namespace {

constexpr uint8_t kMaxTimerKind = static_cast<uint8_t>(TimerKind::kHoursLeftWarning);
constexpr uint8_t kMaxChannel = static_cast<uint8_t>(Channel::kPostal);

// Reads one escaped, terminated string (AppendEscapedString) from the front of `reader`.
std::optional<std::string> ReadEscapedString(ByteReader& reader) {
  std::string out;
  while (true) {
    auto b = reader.ReadByte();
    if (!b) return std::nullopt;
    if (*b == 0x00) return out;
    if (*b == 0x01) {
      auto e = reader.ReadByte();
      if (!e || (*e != 0x01 && *e != 0x02)) return std::nullopt;
      out.push_back(static_cast<char>(*e - 1));
    } else {
      out.push_back(static_cast<char>(*b));
    }
  }
}

}  // namespace

void AppendEscapedString(std::string* out, std::string_view s) {
  for (char c : s) {
    auto b = static_cast<uint8_t>(c);
    if (b <= 0x01) {
      out->push_back('\x01');
      out->push_back(static_cast<char>(b + 1));
    } else {
      out->push_back(c);
    }
  }
  out->push_back('\x00');
}

std::string TimerPartitionPrefix(PartitionId partition) {
  std::string key;
  AppendOrderedInt32(&key, partition.value());
  return key;
}

std::string TimerDuePrefix(PartitionId partition, Instant due) {
  std::string key;
  key.reserve(12);
  AppendOrderedInt32(&key, partition.value());
  AppendOrderedInt64(&key, ToEpochMillis(due));
  return key;
}

void AppendTimerKey(PartitionId partition, Instant due, TimerKind kind, std::string_view dossier_id,
                    std::string* out) {
  constexpr size_t kFixedPart = 4 + 8 + 1;
  const size_t start = out->size();
  out->resize(start + kFixedPart + dossier_id.size());
  char* p = out->data() + start;
  p = StoreOrderedInt32(p, partition.value());
  p = StoreOrderedInt64(p, ToEpochMillis(due));
  *p++ = static_cast<char>(kind);
  StoreBytes(p, dossier_id);
}

void EncodeTimerKey(const Timer& timer, std::string* out) {
  out->clear();
  AppendTimerKey(timer.partition, timer.due, timer.kind, timer.dossier_id, out);
}

std::string TimerKey(const Timer& timer) {
  std::string key;
  EncodeTimerKey(timer, &key);
  return key;
}

std::optional<Timer> DecodeTimerKey(std::string_view key) {
  ByteReader reader(key);
  auto partition = reader.ReadOrderedInt32();
  auto due = reader.ReadOrderedInt64();
  auto kind = reader.ReadByte();
  if (!partition || !due || !kind || *kind > kMaxTimerKind) return std::nullopt;
  Timer timer;
  timer.partition = PartitionId(*partition);
  timer.due = FromEpochMillis(*due);
  timer.kind = static_cast<TimerKind>(*kind);
  timer.dossier_id = std::string(reader.Rest());
  return timer;
}

std::string AggregateKeyBytes(const AggregateKey& key) {
  std::string out;
  out.reserve(7 + key.agency_code.size() + key.commune_code.size());
  AppendOrderedInt32(&out, key.partition.value());
  AppendEscapedString(&out, key.agency_code);
  AppendEscapedString(&out, key.commune_code);
  out.push_back(static_cast<char>(key.channel));
  return out;
}

std::optional<AggregateKey> DecodeAggregateKey(std::string_view bytes) {
  ByteReader reader(bytes);
  auto partition = reader.ReadOrderedInt32();
  if (!partition) return std::nullopt;
  auto agency = ReadEscapedString(reader);
  if (!agency) return std::nullopt;
  auto commune = ReadEscapedString(reader);
  if (!commune) return std::nullopt;
  auto channel = reader.ReadByte();
  if (!channel || *channel > kMaxChannel || !reader.Empty()) return std::nullopt;
  AggregateKey key;
  key.partition = PartitionId(*partition);
  key.agency_code = std::move(*agency);
  key.commune_code = std::move(*commune);
  key.channel = static_cast<Channel>(*channel);
  return key;
}

std::string OffsetKey(const TopicPartition& tp) {
  std::string out;
  out.reserve(tp.topic.size() + 5);
  AppendEscapedString(&out, tp.topic);
  AppendOrderedInt32(&out, tp.partition.value());
  return out;
}

std::optional<TopicPartition> DecodeOffsetKey(std::string_view bytes) {
  ByteReader reader(bytes);
  auto topic = ReadEscapedString(reader);
  if (!topic) return std::nullopt;
  auto partition = reader.ReadOrderedInt32();
  if (!partition || !reader.Empty()) return std::nullopt;
  return TopicPartition{std::move(*topic), PartitionId(*partition)};
}

std::string OutboxKey(uint64_t sequence) { return Fixed64Value(sequence); }

std::optional<uint64_t> DecodeOutboxKey(std::string_view key) { return DecodeFixed64Value(key); }

std::string WatermarkKey(PartitionId partition) {
  std::string out(kWatermarkKeyPrefix);
  AppendOrderedInt32(&out, partition.value());
  return out;
}

std::string ChangelogMarkerKey(PartitionId partition) {
  std::string out(kChangelogMarkerKeyPrefix);
  AppendOrderedInt32(&out, partition.value());
  return out;
}

std::string SourceCheckKey(const TopicPartition& tp) {
  std::string out(kSourceCheckKeyPrefix);
  out += OffsetKey(tp);
  return out;
}

std::string Fixed64Value(uint64_t v) {
  std::string out;
  AppendFixed64BE(&out, v);
  return out;
}

std::optional<uint64_t> DecodeFixed64Value(std::string_view bytes) {
  if (bytes.size() != 8) return std::nullopt;
  return ByteReader(bytes).ReadFixed64BE();
}

std::string Fixed32Value(uint32_t v) {
  std::string out;
  AppendFixed32BE(&out, v);
  return out;
}

std::optional<uint32_t> DecodeFixed32Value(std::string_view bytes) {
  if (bytes.size() != 4) return std::nullopt;
  return ByteReader(bytes).ReadFixed32BE();
}

std::string PrefixSuccessor(std::string_view prefix) {
  std::string out(prefix);
  while (!out.empty()) {
    auto last = static_cast<uint8_t>(out.back());
    if (last != 0xff) {
      out.back() = static_cast<char>(last + 1);
      return out;
    }
    out.pop_back();
  }
  return out;
}

}  // namespace iocstream::state::keys
