#include "iocstream/ingest/kafka_client.h"

#include <optional>

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

}  // namespace

std::optional<std::string> CheckKafkaProperty(const std::string& key, const std::string& value) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  std::optional<std::string> refused = Set(conf, key, value);
  rd_kafka_conf_destroy(conf);
  return refused;
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

}  // namespace iocstream::ingest
