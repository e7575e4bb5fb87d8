#include "app/config.h"

#include <yaml-cpp/yaml.h>

#include <array>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <limits>
#include <optional>
#include <set>
#include <string_view>
#include <type_traits>
#include <utility>

#include "app/input_file.h"
#include "app/yaml_keys.h"
#include "iocstream/alert/kafka_sink.h"
#include "iocstream/http/server.h"
#include "iocstream/ingest/kafka_source.h"

namespace iocstream::app {
namespace {

// The largest value of a state.*_mb key: 1 TiB (their bytes, value << 20, cannot overflow).
constexpr size_t kMaxMb = size_t{1} << 20;
constexpr const char* kTiB = " (1 TiB)";
// Partitions of a topic iocstream creates, or of a replay: each has its own offsets,
// watermark, timer head and aggregate rows, so the count bounds memory as the *_mb keys do
// (a QA trial: 100,000,000 replay partitions took 1.4 GB and crawled).
constexpr int kMaxPartitions = 100'000;
constexpr const char* kPartitionsNote = " (each partition holds its own state in memory)";

namespace fs = std::filesystem;

class ConfigError {
 public:
  explicit ConfigError(std::string file) : file_(std::move(file)) {}
  Error operator()(const std::string& key, const std::string& why) const {
    return InvalidArgument(file_ + ": " + key + ": " + why);
  }

 private:
  std::string file_;
};

std::string Resolve(const fs::path& base, const std::string& p) {
  if (p.empty()) return p;
  const fs::path path(p);
  return path.is_absolute() ? p : (base / path).lexically_normal().string();
}

// What a config value of type T must look like, for error messages.
template <typename T>
constexpr const char* TypeName() {
  if constexpr (std::is_same_v<T, bool>) {
    return "true or false";
  } else if constexpr (std::is_same_v<T, std::string>) {
    return "a string";
  } else if constexpr (std::is_integral_v<T> && std::is_unsigned_v<T>) {
    return "a whole number >= 0";
  } else if constexpr (std::is_integral_v<T>) {
    return "a whole number";
  } else if constexpr (std::is_floating_point_v<T>) {
    return "a number";
  } else {
    return "a value of another type";
  }
}

// YAML's null: `key:`, `~`, `null`, and `!!null` (which yaml-cpp keeps as a tagged scalar).
bool IsNullValue(const YAML::Node& v) { return v.IsNull() || v.Tag() == "tag:yaml.org,2002:null"; }

// A numeric key's own bounds, inclusive; `note` follows the upper bound in its message
// (" (1 TiB)").
template <typename T>
struct Bounds {
  T low;
  T high;
  const char* note = "";
};

// Reads an optional scalar of type T at node[key]; error text names the key and the type.
// `range` is the key's own bounds, checked here: a value outside them "must be at least" or
// "at most" the bound, and a whole number that does not even fit T is refused with them too
// (`-5` for a key that takes 1 and up said "at least 0", then 0 "must be at least 1": a QA
// finding). Without it, T's bounds.
template <typename T>
Status Read(const YAML::Node& node, const std::string& section, const char* key, T& out,
            const ConfigError& err,
            std::optional<Bounds<std::type_identity_t<T>>> range = std::nullopt) {
  const YAML::Node v = node[key];
  if (!v) return {};
  // What the value must be: for a whole number, the key's own range, in every message about it
  // ("a whole number >= 0" for a key that refuses 0 misled, and "8_080" and "017" got no range
  // where "0x1F90" got one: QA trials).
  std::string expected = TypeName<T>();
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    if (range) {
      expected = "a whole number from " + std::to_string(range->low) + " to " +
                 std::to_string(range->high);
    }
  }
  // `key:` or `key: ~` is YAML's null, which yaml-cpp reads as the string "null" (a state
  // directory named null) or refuses with the type's message: say what it is.
  if (IsNullValue(v)) {
    return err(section + "." + key,
               "no value (expected " + expected + "; leave the key out for its default)");
  }
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    // yaml-cpp reads "064" as octal 52 (YAML 1.1): refused rather than silently misread.
    if (v.IsScalar()) {
      const std::string& text = v.Scalar();
      const size_t digits = !text.empty() && (text[0] == '+' || text[0] == '-') ? 1 : 0;
      // "0x1F90", "0o17", "0b1": another base's prefix. These were told "no leading zeros:
      // YAML reads them as octal", which is wrong for them (a user trial with http.port).
      if (text.size() > digits + 1 && text[digits] == '0' &&
          std::isalpha(static_cast<unsigned char>(text[digits + 1])) != 0) {
        return err(section + "." + key, "expected " + expected + " in decimal digits, got '" +
                                            text +
                                            "' (hexadecimal, octal and binary forms are not read)");
      }
      if (text.size() > digits + 1 && text[digits] == '0') {
        return err(section + "." + key, "expected " + expected + ", got '" + text +
                                            "' (no leading zeros: YAML reads them as octal)");
      }
    }
  }
  try {
    out = v.as<T>();
  } catch (const YAML::Exception&) {
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      // A whole number that does not fit the key's type: name the range, not the type.
      const std::string text = v.IsScalar() ? v.Scalar() : std::string();
      const size_t sign = !text.empty() && (text[0] == '+' || text[0] == '-') ? 1 : 0;
      if (text.size() > sign && text.find_first_not_of("0123456789", sign) == std::string::npos) {
        const bool below = text[0] == '-';
        const T bound = below ? (range ? range->low : std::numeric_limits<T>::min())
                              : (range ? range->high : std::numeric_limits<T>::max());
        return err(section + "." + key, "out of range: " + text + " (" +
                                            (below ? "at least " : "at most ") +
                                            std::to_string(bound) + ")");
      }
    }
    // YAML 1.1's digit separators, which yaml-cpp does not read.
    const bool separated = v.IsScalar() && v.Scalar().find('_') != std::string::npos;
    // `address: [::1]` is a YAML list (a helper's trial): the text wants quotes.
    const bool collection = std::is_same_v<T, std::string> && (v.IsSequence() || v.IsMap());
    return err(section + "." + key,
               "expected " + expected + ", got '" + YAML::Dump(v) + "'" +
                   (separated ? " (digits only, without '_')" : "") +
                   (collection ? " (YAML reads [...] as a list and {...} as a mapping: put the "
                                 "text in quotes, e.g. \"::1\")"
                               : ""));
  }
  if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
    if (range && out < range->low) {
      return err(section + "." + key, "must be at least " + std::to_string(range->low));
    }
    if (range && out > range->high) {
      return err(section + "." + key,
                 "must be at most " + std::to_string(range->high) + range->note);
    }
  }
  return {};
}

// The same for a key whose default depends on the command (state.disable_wal, the commit and
// dossier-cache bounds: see ApplyReplayStateDefaults): left unset when the key is not given.
template <typename T>
Status Read(const YAML::Node& node, const std::string& section, const char* key,
            std::optional<T>& out, const ConfigError& err,
            std::optional<Bounds<std::type_identity_t<T>>> range = std::nullopt) {
  if (!node[key]) return {};
  T value{};
  if (Status s = Read(node, section, key, value, err, range); !s) return s;
  out = value;
  return {};
}

}  // namespace

Status CheckTopicName(const std::string& topic) {
  if (topic.size() > 249) return InvalidArgument("a topic name has at most 249 characters");
  if (topic == "." || topic == "..") return InvalidArgument("'" + topic + "' is not a topic name");
  const size_t bad =
      topic.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");
  if (bad != std::string::npos) {
    return InvalidArgument("'" + topic + "': a topic name has only ASCII letters, digits, '.', " +
                           "'_' and '-'");
  }
  return {};
}

namespace {

Status CheckKeys(const YAML::Node& node, const std::string& section,
                 const std::set<std::string>& allowed, const ConfigError& err) {
  if (!node) return {};
  if (!node.IsMap()) return err(section, "expected a mapping");
  std::set<std::string> seen;
  for (const auto& kv : node) {
    const auto key = kv.first.as<std::string>();
    // yaml-cpp keeps both entries of a repeated key and reads the first: say so, rather than
    // let the second be ignored (the event decoder refuses duplicate fields too).
    if (!seen.insert(key).second) {
      return err(section.empty() ? key : section + "." + key, "given twice");
    }
    if (allowed.count(key) == 0) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      return err(section.empty() ? key : section + "." + key, "unknown key (known: " + list + ")");
    }
  }
  return {};
}

Status ReadProperties(const YAML::Node& node, const std::string& section,
                      std::map<std::string, std::string>& out, const ConfigError& err) {
  if (!node) return {};
  if (!node.IsMap()) return err(section, "expected a mapping of librdkafka properties");
  std::set<std::string> seen;
  for (const auto& kv : node) {
    const auto key = kv.first.as<std::string>();
    if (!seen.insert(key).second) return err(section + "." + key, "given twice");
    if (!kv.second.IsScalar() || IsNullValue(kv.second)) {
      return err(section + "." + key, "expected a librdkafka property value (a scalar)");
    }
    const auto value = kv.second.as<std::string>();
    // Checked here, so that the error names the file and the key (librdkafka's own check
    // comes only when the client is created).
    if (auto reason = ingest::CheckKafkaProperty(key, value)) {
      return err(section + "." + key, "librdkafka refuses '" + value + "': " + *reason);
    }
    out[key] = value;
  }
  return {};
}

// The key to name for librdkafka's refusal of a whole configuration, whose `reason` quotes
// the properties in backquotes ("`max.poll.interval.ms`must be >= `session.timeout.ms`"): the
// first quoted one the file gave under `section`, else the section.
std::string JoinedPropertyKey(const std::string& section,
                              const std::map<std::string, std::string>& given,
                              const std::string& reason) {
  for (size_t open = reason.find('`'); open != std::string::npos;) {
    const size_t close = reason.find('`', open + 1);
    if (close == std::string::npos) break;
    const std::string quoted = reason.substr(open + 1, close - open - 1);
    if (given.count(quoted) > 0) return section + "." + quoted;
    // librdkafka quotes a property by one of its names (max.in.flight for a file's
    // max.in.flight.requests.per.connection: a QA trial); the others (CONFIGURATION.md).
    static const std::array<std::pair<std::string_view, std::string_view>, 5> kAliases = {{
        {"max.in.flight", "max.in.flight.requests.per.connection"},
        {"linger.ms", "queue.buffering.max.ms"},
        {"retries", "message.send.max.retries"},
        {"acks", "request.required.acks"},
        {"message.timeout.ms", "delivery.timeout.ms"},
    }};
    for (const auto& [a, b] : kAliases) {
      const std::string_view other = quoted == a ? b : quoted == b ? a : std::string_view();
      if (!other.empty() && given.count(std::string(other)) > 0) {
        return section + "." + std::string(other);
      }
    }
    open = reason.find('`', close + 1);
  }
  return section;
}

// Durations: "90s", "15m", "2h", "1d", "250ms" or a plain (decimal) number of seconds, at
// most 100 years.
Result<Millis> ParseDuration(const std::string& text) {
  if (text.empty()) return InvalidArgument("empty duration");
  const auto not_a_duration = [&] {
    return InvalidArgument("not a duration: '" + text + "' (examples: 30s, 15m, 2h, 1d)");
  };
  // std::stod also reads hexadecimal, "inf" and "nan": a duration is digits and a dot.
  const size_t digits = text.find_first_not_of("0123456789.");
  if (digits == 0 || text.find_first_of("0123456789") >= digits) return not_a_duration();
  size_t pos = 0;
  double value = 0;
  try {
    value = std::stod(text.substr(0, digits), &pos);
  } catch (...) {
    return not_a_duration();
  }
  if (pos != std::min(digits, text.size())) return not_a_duration();
  const std::string unit = text.substr(pos);
  double seconds = value;
  if (unit == "ms") {
    seconds = value / 1000;
  } else if (unit == "s" || unit.empty()) {
    seconds = value;
  } else if (unit == "m") {
    seconds = value * 60;
  } else if (unit == "h") {
    seconds = value * 3600;
  } else if (unit == "d") {
    seconds = value * 86400;
  } else {
    return InvalidArgument("unknown duration unit '" + unit + "' in '" + text + "'");
  }
  constexpr double kMaxSeconds = 100.0 * 366 * 86400;
  if (!(seconds <= kMaxSeconds)) {
    return InvalidArgument("duration out of range: '" + text + "' (at most 100 years)");
  }
  return Millis(static_cast<int64_t>(seconds * 1000));
}

Status Load(const YAML::Node& root, const fs::path& base, Config& c, const ConfigError& err) {
  if (Status s = CheckKeys(
          root, "", {"kafka", "state", "http", "timers", "sla", "calendar", "procedures", "replay"},
          err);
      !s) {
    return s;
  }
  if (const YAML::Node k = root["kafka"]) {
    if (Status s = CheckKeys(k, "kafka",
                             {"bootstrap_servers", "group_id", "events_topic", "alerts_topic",
                              "dead_letter_topic", "changelog_topic", "partitions", "max_batch",
                              "fetch_queue_mb", "consumer", "producer"},
                             err);
        !s) {
      return s;
    }
    for (const auto& [key, slot] : std::initializer_list<std::pair<const char*, std::string*>>{
             {"bootstrap_servers", &c.kafka.bootstrap_servers},
             {"group_id", &c.kafka.group_id},
             {"events_topic", &c.kafka.events_topic},
             {"alerts_topic", &c.kafka.alerts_topic},
             {"dead_letter_topic", &c.kafka.dead_letter_topic}}) {
      if (Status s = Read(k, "kafka", key, *slot, err); !s) return s;
      if (slot->empty()) return err(std::string("kafka.") + key, "must not be empty");
    }
    if (Status s = Read(k, "kafka", "changelog_topic", c.kafka.changelog_topic, err); !s) return s;
    // The broker refused these only at start, as a runtime failure (exit 2, retried by the
    // service unit) naming neither file nor key (a helper's finding).
    const std::array<std::pair<const char*, const std::string*>, 4> topics = {{
        {"events_topic", &c.kafka.events_topic},
        {"alerts_topic", &c.kafka.alerts_topic},
        {"dead_letter_topic", &c.kafka.dead_letter_topic},
        {"changelog_topic", &c.kafka.changelog_topic},
    }};
    for (size_t i = 0; i < topics.size(); ++i) {
      const auto& [key, topic] = topics[i];
      if (topic->empty()) continue;  // changelog_topic: none
      if (Status s = CheckTopicName(*topic); !s) {
        return err(std::string("kafka.") + key, s.error().message);
      }
      for (size_t j = 0; j < i; ++j) {
        if (*topics[j].second == *topic) {
          return err(std::string("kafka.") + key, "must be a topic of its own, not kafka." +
                                                      std::string(topics[j].first) + "'s " +
                                                      *topic);
        }
      }
    }
    if (Status s = Read(k, "kafka", "partitions", c.kafka.partitions, err,
                        Bounds{1, kMaxPartitions, kPartitionsNote});
        !s) {
      return s;
    }
    if (Status s =
            Read(k, "kafka", "max_batch", c.kafka.max_batch, err,
                 Bounds{size_t{1}, size_t{1'000'000}, " (a poll batch is allocated for it)"});
        !s) {
      return s;
    }
    // librdkafka's queued.max.messages.kbytes takes 1 .. 2097151 KiB.
    if (Status s = Read(k, "kafka", "fetch_queue_mb", c.kafka.fetch_queue_mb, err,
                        Bounds{size_t{1}, size_t{2047}});
        !s) {
      return s;
    }
    if (Status s = ReadProperties(k["consumer"], "kafka.consumer", c.kafka.consumer, err); !s) {
      return s;
    }
    // Set by fetch_queue_mb: a count bound would stop fetching before the bytes do, and
    // librdkafka before 2.2 resumes a stopped fetch only after about a second.
    for (const char* owned : {"queued.max.messages.kbytes", "queued.min.messages"}) {
      if (c.kafka.consumer.count(owned) > 0) {
        return err(std::string("kafka.consumer.") + owned, "set kafka.fetch_queue_mb instead");
      }
    }
    if (Status s = ReadProperties(k["producer"], "kafka.producer", c.kafka.producer, err); !s) {
      return s;
    }
    // Properties iocstream sets itself, which a pass-through would silently override: the
    // cluster and group have their own keys, and exactly-once needs offsets committed with
    // the state (never by librdkafka), committed records only, and idempotent producers with
    // one transactional id per state directory.
    constexpr std::string_view kExactlyOnce = "iocstream sets it (exactly-once state and alerts)";
    const std::array<std::pair<std::string_view, std::string_view>, 7> consumer_owned = {{
        {"bootstrap.servers", "set kafka.bootstrap_servers instead"},
        {"metadata.broker.list", "set kafka.bootstrap_servers instead"},  // librdkafka's alias
        {"group.id", "set kafka.group_id instead"},
        {"enable.auto.commit", kExactlyOnce},
        {"enable.auto.offset.store", kExactlyOnce},
        {"isolation.level", kExactlyOnce},
        {"enable.partition.eof", "iocstream sets it"},
    }};
    const std::array<std::pair<std::string_view, std::string_view>, 4> producer_owned = {{
        {"bootstrap.servers", "set kafka.bootstrap_servers instead"},
        {"metadata.broker.list", "set kafka.bootstrap_servers instead"},
        {"enable.idempotence", kExactlyOnce},
        {"transactional.id", kExactlyOnce},
    }};
    for (const auto& [key, why] : consumer_owned) {
      if (c.kafka.consumer.count(std::string(key)) > 0) {
        return err("kafka.consumer." + std::string(key), std::string(why));
      }
    }
    for (const auto& [key, why] : producer_owned) {
      if (c.kafka.producer.count(std::string(key)) > 0) {
        return err("kafka.producer." + std::string(key), std::string(why));
      }
    }
    // Rules that join properties, with iocstream's own, as the clients will be configured.
    if (!c.kafka.consumer.empty()) {
      ingest::KafkaSourceOptions source;
      source.group_id = c.kafka.group_id;
      source.properties = c.kafka.consumer;
      source.SplitReadAhead(c.kafka.fetch_queue_mb * 1024);
      if (auto reason = ingest::CheckKafkaClientProperties(ingest::KafkaClientKind::kConsumer,
                                                           ingest::ConsumerProperties(source))) {
        return err(JoinedPropertyKey("kafka.consumer", c.kafka.consumer, *reason),
                   "librdkafka refuses the consumer properties together: " + *reason);
      }
    }
    if (!c.kafka.producer.empty()) {
      alert::KafkaSinkOptions sink;
      sink.properties = c.kafka.producer;
      if (auto reason = ingest::CheckKafkaClientProperties(ingest::KafkaClientKind::kProducer,
                                                           alert::SinkProperties(sink))) {
        return err(JoinedPropertyKey("kafka.producer", c.kafka.producer, *reason),
                   "librdkafka refuses the producer properties together: " + *reason);
      }
    }
  }
  if (const YAML::Node st = root["state"]) {
    if (Status s = CheckKeys(st, "state",
                             {"dir", "block_cache_mb", "write_buffer_mb", "disable_wal", "compress",
                              "dossier_cache_mb", "dossier_filter_mb", "commit_interval_ms",
                              "commit_max_records", "commit_max_mb", "low_priority_background"},
                             err);
        !s) {
      return s;
    }
    if (Status s = Read(st, "state", "dir", c.state.dir, err); !s) return s;
    if (c.state.dir.find_first_not_of(" \t") == std::string::npos) {
      return err("state.dir", "must not be empty or blank");
    }
    if (Status s = Read(st, "state", "block_cache_mb", c.state.block_cache_mb, err,
                        Bounds{size_t{1}, kMaxMb, kTiB});
        !s) {
      return s;
    }
    if (Status s = Read(st, "state", "write_buffer_mb", c.state.write_buffer_mb, err,
                        Bounds{size_t{1}, kMaxMb, kTiB});
        !s) {
      return s;
    }
    if (Status s = Read(st, "state", "compress", c.state.compress, err); !s) return s;
    if (Status s = Read(st, "state", "disable_wal", c.state.disable_wal, err); !s) return s;
    if (Status s =
            Read(st, "state", "low_priority_background", c.state.low_priority_background, err);
        !s) {
      return s;
    }
    if (Status s = Read(st, "state", "dossier_cache_mb", c.state.dossier_cache_mb, err,
                        Bounds{size_t{0}, kMaxMb, kTiB});
        !s) {
      return s;
    }
    // Allocated whole at start: 4 GiB already covers billions of dossiers.
    if (Status s = Read(st, "state", "dossier_filter_mb", c.state.dossier_filter_mb, err,
                        Bounds{size_t{0}, size_t{4096}, " (4 GiB, about 3 billion dossiers)"});
        !s) {
      return s;
    }
    // 100 years at most, as a duration: a larger count overflowed the steady clock's
    // nanoseconds and committed after every poll batch instead of never (a QA trial).
    if (Status s = Read(st, "state", "commit_interval_ms", c.state.commit_interval_ms, err,
                        Bounds{size_t{0}, size_t{100} * 366 * 86'400'000, " (100 years)"});
        !s) {
      return s;
    }
    if (Status s = Read(st, "state", "commit_max_records", c.state.commit_max_records, err); !s) {
      return s;
    }
    if (Status s = Read(st, "state", "commit_max_mb", c.state.commit_max_mb, err,
                        Bounds{size_t{0}, kMaxMb, kTiB});
        !s) {
      return s;
    }
    if (c.state.write_buffer_mb > c.state.block_cache_mb) {
      return err("state.write_buffer_mb",
                 "must not exceed state.block_cache_mb (it is charged "
                 "to the block cache)");
    }
  }
  c.state.dir = Resolve(base, c.state.dir);
  if (const YAML::Node h = root["http"]) {
    if (Status s =
            CheckKeys(h, "http", {"enabled", "address", "port", "peers", "peer_timeout"}, err);
        !s) {
      return s;
    }
    if (Status s = Read(h, "http", "enabled", c.http.enabled, err); !s) return s;
    if (Status s = Read(h, "http", "address", c.http.address, err); !s) return s;
    if (Status s = CheckListenAddress(c.http.address); !s) {
      return err("http.address", s.error().message);
    }
    int port = c.http.port;
    if (Status s = Read(h, "http", "port", port, err, Bounds{0, 65535}); !s) return s;
    c.http.port = static_cast<uint16_t>(port);
    if (const YAML::Node peers = h["peers"]) {
      if (!peers.IsSequence()) {
        return err("http.peers", "expected a list of host:port, e.g. [\"10.0.0.2:9464\"]");
      }
      std::set<std::string> seen;
      for (size_t i = 0; i < peers.size(); ++i) {
        const std::string key = "http.peers[" + std::to_string(i) + "]";
        if (!peers[i].IsScalar() || IsNullValue(peers[i])) {
          return err(key, "expected host:port, got '" + YAML::Dump(peers[i]) + "'");
        }
        const std::string text = peers[i].Scalar();
        auto peer = ParseHttpAuthority(text);
        if (!peer) return err(key, peer.error().message);
        if (!seen.insert(text).second) return err(key, "'" + text + "' is listed twice");
        // This instance's own address (a peer list copied from another instance's file):
        // it would ask itself, on a thread its own request holds.
        if (peer->port == c.http.port && (peer->host == c.http.address)) {
          return err(key, "'" + text + "' is this instance's own http.address and http.port: " +
                              "list the other instances only");
        }
        c.http.peers.push_back(*peer);
      }
    }
    if (h["peer_timeout"]) {
      std::string text;
      if (Status s = Read(h, "http", "peer_timeout", text, err); !s) return s;
      auto d = ParseDuration(text);
      if (!d) return err("http.peer_timeout", d.error().message);
      if (*d < Millis(1) || *d > Millis(60000)) {
        return err("http.peer_timeout", "must be from 1ms to 60s");
      }
      c.http.peer_timeout = *d;
    }
  }
  if (const YAML::Node t = root["timers"]) {
    if (Status s = CheckKeys(t, "timers", {"clock", "allowed_lateness", "max_time_ahead"}, err); !s)
      return s;
    std::string clock = "wall";
    if (Status s = Read(t, "timers", "clock", clock, err); !s) return s;
    if (clock == "wall") {
      c.clock = TimerClock::kWallClock;
    } else if (clock == "watermark") {
      c.clock = TimerClock::kWatermark;
    } else {
      return err("timers.clock", "expected 'wall' or 'watermark', got '" + clock + "'");
    }
    for (const auto& [key, slot] : {std::pair{"allowed_lateness", &c.allowed_lateness},
                                    std::pair{"max_time_ahead", &c.max_time_ahead}}) {
      if (!t[key]) continue;
      std::string text;
      if (Status s = Read(t, "timers", key, text, err); !s) return s;
      auto d = ParseDuration(text);
      if (!d) return err(std::string("timers.") + key, d.error().message);
      *slot = *d;
    }
  }
  if (const YAML::Node s = root["sla"]) {
    if (Status st = CheckKeys(s, "sla",
                              {"warning_fraction", "warning_hours_left", "pause_policy",
                               "payment_pauses", "apology_alerts"},
                              err);
        !st) {
      return st;
    }
    if (Status st = Read(s, "sla", "warning_fraction", c.sla.warning_fraction, err); !st) return st;
    if (!(c.sla.warning_fraction >= 0 && c.sla.warning_fraction < 1)) {  // NaN too
      return err("sla.warning_fraction", "must be in [0, 1) (0 disables warnings)");
    }
    double hours_left = static_cast<double>(c.sla.warning_hours_left.count()) / 3'600'000.0;
    if (Status st = Read(s, "sla", "warning_hours_left", hours_left, err); !st) return st;
    // Up to a year of working days; the upper bound only keeps the conversion exact.
    if (!std::isfinite(hours_left) || hours_left < 0 || hours_left > 8 * 366) {
      return err("sla.warning_hours_left",
                 "must be a number of working hours from 0 to 2928 (0 disables the warning)");
    }
    c.sla.warning_hours_left = Millis(std::llround(hours_left * 3'600'000.0));
    if (s["pause_policy"]) {
      std::string name;
      if (Status st = Read(s, "sla", "pause_policy", name, err); !st) return st;
      const auto policy = rules::ParsePausePolicy(name);
      if (!policy)
        return err("sla.pause_policy", "expected pause, restart or kpi766, got '" + name + "'");
      c.sla.default_pause_policy = *policy;
    }
    if (Status st = Read(s, "sla", "payment_pauses", c.sla.payment_pauses, err); !st) return st;
    if (Status st = Read(s, "sla", "apology_alerts", c.sla.apology_alerts, err); !st) return st;
  }
  if (const YAML::Node cal = root["calendar"]) {
    if (Status s = CheckKeys(cal, "calendar", {"files"}, err); !s) return s;
    const YAML::Node files = cal["files"];
    if (!files || !files.IsSequence() || files.size() == 0) {
      return err("calendar.files", "expected a non-empty list of calendar files");
    }
    for (const auto& f : files) {
      if (!f.IsScalar())
        return err("calendar.files", "expected file names, got '" + YAML::Dump(f) + "'");
      const std::string path = Resolve(base, f.as<std::string>());
      if (Status s = CheckInputFile(path, "calendar file"); !s) {
        return err("calendar.files", s.error().message);
      }
      c.calendar_files.push_back(path);
    }
  } else {
    return err("calendar",
               "missing (list the working-calendar files, e.g. "
               "config/calendars/vn-2025.yaml)");
  }
  if (const YAML::Node p = root["procedures"]) {
    if (Status s = CheckKeys(p, "procedures", {"catalog"}, err); !s) return s;
    if (Status s = Read(p, "procedures", "catalog", c.procedure_catalog, err); !s) return s;
    c.procedure_catalog = Resolve(base, c.procedure_catalog);
    if (!c.procedure_catalog.empty()) {
      if (Status s = CheckInputFile(c.procedure_catalog, "procedure catalog"); !s) {
        return err("procedures.catalog", s.error().message);
      }
    }
  }
  if (const YAML::Node r = root["replay"]) {
    if (Status s = CheckKeys(r, "replay", {"partitions"}, err); !s) return s;
    if (Status s = Read(r, "replay", "partitions", c.replay_partitions, err,
                        Bounds{1, kMaxPartitions, kPartitionsNote});
        !s) {
      return s;
    }
  }
  return {};
}

}  // namespace

Result<Config> LoadConfig(const std::string& path) {
  const ConfigError err(path);
  if (Status s = CheckInputFile(path, "config file"); !s) return s.error();
  YAML::Node root;
  try {
    const std::optional<YAML::Node> single = SingleDocument(YAML::LoadAllFromFile(path));
    if (!single) return InvalidArgument(path + ": " + kSeveralDocuments);
    root = *single;
  } catch (const YAML::Exception& e) {
    return InvalidArgument(path + ": not valid YAML: " + e.what());
  }
  Config c;
  c.path = path;
  if (root.IsNull()) {
    // An empty file (or only comments): said as such, not as a wrong type.
    return InvalidArgument(path +
                           ": the file is empty; a config is a mapping of sections (kafka, "
                           "state, calendar...): start from config/iocstream.yaml");
  }
  if (!root.IsMap()) return err("(top level)", "expected a mapping");
  try {
    if (Status s = Load(root, fs::absolute(path).parent_path(), c, err); !s) return s.error();
    for (const auto& section : root) {
      c.sections[section.first.as<std::string>()] = YAML::Dump(section.second);
    }
  } catch (const YAML::Exception& e) {
    return err("(value)", e.what());
  }
  return c;
}

PipelineOptions PipelineOptionsFor(const Config& config, PipelineMode mode) {
  PipelineOptions options;
  options.clock = mode == PipelineMode::kReplay ? TimerClock::kWatermark : config.clock;
  options.allowed_lateness = config.allowed_lateness;
  options.max_time_ahead = config.max_time_ahead;
  if (mode == PipelineMode::kReplay) {
    options.hash_partitions = config.replay_partitions;
    options.source_checks = true;       // files can be rewritten under their path
    options.skip_blank_records = true;  // a blank line of a file is layout, not a record
  }
  options.commit_interval = Millis(static_cast<int64_t>(config.state.commit_interval_ms));
  options.commit_max_records = config.state.CommitMaxRecords();
  options.commit_max_bytes = config.state.CommitMaxMb() << 20;
  options.cache_bytes = config.state.DossierCacheMb() << 20;
  // The commit's write runs on the Pipeline's writer thread while the next records are
  // processed. (The 625 MiB peak once blamed on it was a burst of timers due at one instant;
  // see Pipeline::FireDue.)
  options.async_commit = true;
  return options;
}

}  // namespace iocstream::app
