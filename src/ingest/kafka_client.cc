#include "iocstream/ingest/kafka_client.h"

namespace iocstream::ingest {

std::optional<std::string> CheckKafkaProperty(const std::string& key, const std::string& value) {
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  const bool ok = rd_kafka_conf_set(conf, key.c_str(), value.c_str(), errstr, sizeof errstr) ==
                  RD_KAFKA_CONF_OK;
  rd_kafka_conf_destroy(conf);
  if (ok) return std::nullopt;
  return std::string(errstr);
}

Result<rd_kafka_t*> NewKafkaClient(rd_kafka_type_t type,
                                   const std::map<std::string, std::string>& properties,
                                   const std::function<void(rd_kafka_conf_t*)>& configure) {
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (const auto& [k, v] : properties) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return InvalidArgument("kafka property " + k + "=" + v + ": " + errstr);
    }
  }
  if (configure) configure(conf);
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
