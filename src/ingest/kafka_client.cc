#include "iocstream/ingest/kafka_client.h"

#include <spdlog/spdlog.h>

#include <cctype>
#include <chrono>
#include <mutex>
#include <optional>
#include <string_view>
#include <unordered_map>

#include "iocstream/ingest/kafka_source.h"  // CheckKafkaProperty

namespace iocstream::ingest {
namespace {

// Sets one property on `conf`: nullopt, or librdkafka's reason for refusing it.
std::optional<std::string> Set(rd_kafka_conf_t* conf, const std::string& key,
                               const std::string& value) {
  char errstr[512];
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), errstr, sizeof errstr) ==
      RD_KAFKA_CONF_OK) {
    return std::nullopt;
  }
  return std::string(errstr);
}

// What librdkafka logged lately, for LogToSpdlog's rate limit.
struct RecentLines {
  struct Seen {
    std::chrono::steady_clock::time_point logged;
    uint64_t repeats = 0;  // lines like it not logged since
  };
  std::mutex mu;
  // By client, facility and text without its numbers and parenthesised parts.
  std::unordered_map<std::string, Seen> lines;
};

RecentLines& Recent() {
  static RecentLines* recent = new RecentLines();  // never destroyed: clients log until exit
  return *recent;
}

// How long a line like one just logged (same client, facility and text but for its numbers and
// parenthesised parts: "Connect to ipv4#127.0.0.1:9092 failed: Connection refused (after 0ms in
// state CONNECT)", at every reconnect back-off) is held back.
constexpr auto kRepeatWindow = std::chrono::seconds(30);
// Distinct lines remembered; past it the memory is cleared (a burst of distinct lines is
// logged in full).
constexpr size_t kMaxRecentLines = 1024;

spdlog::level::level_enum SpdlogLevel(int syslog_level) {
  switch (syslog_level) {
    case 0:  // LOG_EMERG
    case 1:  // LOG_ALERT
    case 2:  // LOG_CRIT
      return spdlog::level::critical;
    case 3:  // LOG_ERR
      return spdlog::level::err;
    case 4:  // LOG_WARNING
      return spdlog::level::warn;
    case 5:  // LOG_NOTICE
    case 6:  // LOG_INFO
      return spdlog::level::info;
    default:  // LOG_DEBUG
      return spdlog::level::debug;
  }
}

// Logs `text` from librdkafka's client `name` as "kafka <name>: <FACILITY> <text>" at
// `spd_level`, unless a line like it (same client, facility and text but for its numbers and
// parenthesised parts) was logged in the last 30 s: then it is counted, and the count is told
// with the next line logged. Thread-safe: librdkafka calls it from its own threads.
void LogRateLimited(spdlog::level::level_enum spd_level, std::string_view name,
                    std::string_view facility, std::string_view text) {
  if (!spdlog::should_log(spd_level)) return;
  std::string key;
  key.append(name).append("|").append(facility).append("|");
  int parentheses = 0;  // "(after 0ms in state CONNECT, 4 identical error(s) suppressed)"
  for (const char c : text) {
    if (c == '(') {
      ++parentheses;
    } else if (c == ')' && parentheses > 0) {
      --parentheses;
    } else if (parentheses > 0) {
      continue;
    } else if (std::isdigit(static_cast<unsigned char>(c)) == 0) {
      key.push_back(c);
    } else if (key.back() != '#') {
      key.push_back('#');
    }
  }
  uint64_t repeats = 0;
  {
    RecentLines& recent = Recent();
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(recent.mu);
    if (recent.lines.size() >= kMaxRecentLines) recent.lines.clear();
    auto [it, inserted] = recent.lines.try_emplace(std::move(key), RecentLines::Seen{now, 0});
    if (!inserted) {
      if (now - it->second.logged < kRepeatWindow) {
        ++it->second.repeats;
        return;
      }
      repeats = it->second.repeats;
      it->second = {now, 0};
    }
  }
  if (repeats > 0) {
    spdlog::log(spd_level, "kafka {}: {} {} ({} similar line(s) not logged since the last)", name,
                facility, text, repeats);
  } else {
    spdlog::log(spd_level, "kafka {}: {} {}", name, facility, text);
  }
}

// librdkafka's log callback (rd_kafka_conf_set_log_cb): its lines in the process's log format,
// "kafka <client name>: <FACILITY> <text>", at the spdlog level of their syslog level, instead
// of its own "%3|<time>|FAIL|rdkafka#consumer-1| ..." on stderr. Called from librdkafka's
// threads when the line is written (log.queue stays false), so a line is logged when it
// happens. A line like one logged in the last 30 s is counted, not logged again.
void LogToSpdlog(const rd_kafka_t* rk, int level, const char* facility, const char* text) {
  LogRateLimited(SpdlogLevel(level), rk != nullptr ? rd_kafka_name(rk) : "rdkafka", facility, text);
}

// A producer's error callback (rd_kafka_conf_set_error_cb). librdkafka queues its client-level
// errors on the client's main queue and hands them over only when the application polls it;
// without an error callback it then logs them ("ERROR ..." at error level). An alert producer
// is polled only when it produces, so a broker's "Connect to ... failed: Connection refused"
// from an outage long over was logged minutes after the cluster answered again, and once more
// at shutdown (a QA finding). Connection failures are logged by LogToSpdlog when they happen
// (facility FAIL), so their late copy goes to debug; any other error is logged saying it was
// reported at the next poll, not when it happened.
void LogProducerError(rd_kafka_t* rk, int err, const char* reason, void* /*opaque*/) {
  const auto code = static_cast<rd_kafka_resp_err_t>(err);
  const std::string_view name = rk != nullptr ? rd_kafka_name(rk) : "rdkafka";
  switch (code) {
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__SSL:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
      spdlog::debug(
          "kafka {}: ERROR {} ({}; logged when it happened, reported again at the "
          "producer's poll)",
          name, reason, rd_kafka_err2name(code));
      return;
    default:
      break;
  }
  const std::string text = std::string(reason) + " (" + rd_kafka_err2name(code) +
                           "; queued by librdkafka until the producer's poll: it may be older)";
  LogRateLimited(code == RD_KAFKA_RESP_ERR__FATAL ? spdlog::level::critical : spdlog::level::err,
                 name, "ERROR", text);
}

}  // namespace

std::optional<std::string> CheckKafkaProperty(const std::string& key, const std::string& value) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  std::optional<std::string> refused = Set(conf, key, value);
  rd_kafka_conf_destroy(conf);
  return refused;
}

std::optional<std::string> CheckKafkaClientProperties(
    KafkaClientKind kind, const std::map<std::string, std::string>& properties) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (const auto& [k, v] : properties) {
    if (k == "bootstrap.servers" || k == "metadata.broker.list") continue;
    if (auto refused = Set(conf, k, v)) {
      rd_kafka_conf_destroy(conf);
      return k + ": " + *refused;
    }
  }
  // "No bootstrap.servers configured" and the like: expected here.
  rd_kafka_conf_set_log_cb(conf, [](const rd_kafka_t*, int, const char*, const char*) {});
  char errstr[512];
  rd_kafka_t* rk =
      rd_kafka_new(kind == KafkaClientKind::kProducer ? RD_KAFKA_PRODUCER : RD_KAFKA_CONSUMER, conf,
                   errstr, sizeof errstr);
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    return std::string(errstr);
  }
  // No group was joined: nothing to leave.
  rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
  return std::nullopt;
}

Result<rd_kafka_t*> NewKafkaClient(rd_kafka_type_t type,
                                   const std::map<std::string, std::string>& properties,
                                   const std::function<void(rd_kafka_conf_t*)>& configure) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (const auto& [k, v] : properties) {
    if (auto refused = Set(conf, k, v)) {
      rd_kafka_conf_destroy(conf);
      return InvalidArgument("kafka property " + k + "=" + v + ": " + *refused);
    }
  }
  rd_kafka_conf_set_log_cb(conf, &LogToSpdlog);
  // A consumer keeps its default: without an error callback, rd_kafka_consumer_poll returns
  // the errors as messages (KafkaSource stops on RD_KAFKA_RESP_ERR__FATAL), and it is polled
  // all the time.
  if (type == RD_KAFKA_PRODUCER) rd_kafka_conf_set_error_cb(conf, &LogProducerError);
  if (configure) configure(conf);
  char errstr[512];
  // rd_kafka_new takes the configuration over only when it succeeds.
  rd_kafka_t* rk = rd_kafka_new(type, conf, errstr, sizeof errstr);
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    return InvalidArgument(
        std::string(type == RD_KAFKA_PRODUCER ? "kafka producer: " : "kafka consumer: ") + errstr);
  }
  return rk;
}

Result<int> TopicPartitionCount(rd_kafka_t* rk, const std::string& topic, Millis timeout) {
  rd_kafka_topic_t* t = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  const rd_kafka_resp_err_t err =
      rd_kafka_metadata(rk, 0, t, &md, static_cast<int>(timeout.count()));
  Result<int> out = 0;
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    out = Error{ErrorCode::kUnavailable, "describe topic " + topic + ": " + rd_kafka_err2str(err)};
  } else if (md->topic_cnt != 1 || md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    const rd_kafka_resp_err_t topic_err =
        md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR_UNKNOWN;
    // Only an unknown topic is missing; another error (no leader yet...) is transient.
    out = Error{topic_err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ? ErrorCode::kNotFound
                                                                     : ErrorCode::kUnavailable,
                "describe topic " + topic + ": " + rd_kafka_err2str(topic_err)};
  } else {
    out = md->topics[0].partition_cnt;
  }
  if (md != nullptr) rd_kafka_metadata_destroy(md);
  rd_kafka_topic_destroy(t);
  return out;
}

}  // namespace iocstream::ingest
