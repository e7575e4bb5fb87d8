// NewKafkaClient: the one place where iocstream turns librdkafka properties into a client
// handle — KafkaSource's consumer, the alert module's KafkaSink producer, and the end-to-end
// benchmark's raw consumer — so that a property librdkafka rejects reads the same everywhere.
//
// Thread-safety: a free function without shared state.
#pragma once

#include <librdkafka/rdkafka.h>

#include <functional>
#include <map>
#include <string>

#include "iocstream/core/result.h"
#include "iocstream/core/types.h"

namespace iocstream::ingest {

// A librdkafka client of `type` with `properties` set in key order, whose log lines go to
// spdlog (the process's log) as "kafka <client name>: <FACILITY> <text>" at the level of their
// syslog level, a line like one logged in the last 30 s (but for its numbers and parenthesised
// parts) counted and not logged again; lines are logged from librdkafka's threads when they
// happen. A producer's client-level errors, which librdkafka hands over only at its next poll
// (an idle alert producer: minutes later), are not logged again when they are connection
// failures already logged (facility FAIL); others are logged at error level (critical when
// fatal) saying they may be older than the line. `configure`, when given,
// sets what is not a string property (opaque pointer, callbacks) on the configuration before
// the client is created. The caller owns the handle (rd_kafka_destroy).
// Errors (kInvalidArgument; nothing is leaked): "kafka property KEY=VALUE: REASON" for a
// property librdkafka rejects, "kafka producer: REASON" / "kafka consumer: REASON" when the
// client cannot be created.
[[nodiscard]] Result<rd_kafka_t*> NewKafkaClient(
    rd_kafka_type_t type, const std::map<std::string, std::string>& properties,
    const std::function<void(rd_kafka_conf_t*)>& configure = {});

// The partition count of `topic` as the brokers' metadata lists it, asked through `rk` within
// `timeout`. Errors: kNotFound for a topic the brokers do not know (UNKNOWN_TOPIC_OR_PART);
// kUnavailable for no answer or another error (no leader yet...), "describe topic T: REASON".
// Thread-safe as librdkafka's metadata call is.
[[nodiscard]] Result<int> TopicPartitionCount(rd_kafka_t* rk, const std::string& topic,
                                              Millis timeout);

}  // namespace iocstream::ingest
