// Latency benchmark, on the local broker, with N open dossiers in state (default 1 million):
//   (1) start to ready: from spawning `iocstream run` on that state to /readyz answering 200;
//   (2) deadline to alert: for P probe dossiers (default 1,000) whose deadlines pass one after
//       another while `run` is live (wall clock), the time from the deadline instant to the
//       breach alert record arriving at a consumer of the alerts topic; p50, p99, max.
// The N dossiers are written into a fresh state directory first, through the same Pipeline
// `run` uses (wall clock, murmur2 partitions of the events topic), with deadlines 30 days
// ahead; the probes are due from 20 s after that, 20 ms apart. The events topic stays empty,
// so `run` only waits and fires timers, as a live monitoring center does at night.
//
// The bench's own consumer fetches with fetch.wait.max.ms=5, so its delay is not counted as
// iocstream's. Prints the figures; --json writes them.
//
//   latency_bench [--bootstrap 127.0.0.1:19092] [--dossiers 1000000] [--probes 1000]
//                 [--binary build/release/src/app/iocstream] [--json out.json]
#include <arpa/inet.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "app/config.h"
#include "app/pipeline.h"
#include "app/runtime.h"
#include "bench_util.h"
#include "iocstream/alert/kafka_sink.h"
#include "iocstream/decode/event_encoder.h"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using iocstream::Instant;

// GET /readyz on 127.0.0.1:port; true on a 200 answer.
bool Ready(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = false;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const char req[] = "GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (write(fd, req, sizeof req - 1) == static_cast<ssize_t>(sizeof req - 1)) {
      char buf[64] = {};
      const ssize_t n = read(fd, buf, sizeof buf - 1);
      ok = n > 12 && std::strncmp(buf + 9, "200", 3) == 0;
    }
  }
  close(fd);
  return ok;
}

rd_kafka_t* AlertConsumer(const std::string& bootstrap, const std::string& topic, int partitions) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (const auto& [k, v] :
       std::map<std::string, std::string>{{"bootstrap.servers", bootstrap},
                                          {"group.id", "latency-bench-" + std::to_string(getpid())},
                                          {"enable.auto.commit", "false"},
                                          {"fetch.wait.max.ms", "5"},
                                          {"fetch.min.bytes", "1"},
                                          {"topic.metadata.refresh.interval.ms", "1000"}}) {
    rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err);
  }
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (rk == nullptr) {
    std::fprintf(stderr, "consumer: %s\n", err);
    std::exit(1);
  }
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_assign(rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  return rk;
}

// A loopback port nothing listens on now (the kernel's choice for port 0).
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::perror("latency_bench: no free port");
    std::exit(1);
  }
  close(fd);
  return ntohs(addr.sin_port);
}

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  return v[i];
}

}  // namespace

int main(int argc, char** argv) {
  iocstream::app::PreferAvx2StringFunctions(argv);  // as iocstream (bench_util.h)
  using namespace iocstream;
  using namespace iocstream::app;
  using namespace std::chrono;
  std::string bootstrap = "127.0.0.1:19092";
  std::string binary = IOCSTREAM_BINARY;
  std::string json_path;
  uint64_t dossiers = 1'000'000;
  int probes = 1000;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const std::string v = argv[i + 1];
    if (k == "--bootstrap") {
      bootstrap = v;
    } else if (k == "--dossiers") {
      dossiers = std::stoull(v);
    } else if (k == "--probes") {
      probes = std::stoi(v);
    } else if (k == "--binary") {
      binary = v;
    } else if (k == "--json") {
      json_path = v;
    } else {
      std::fprintf(stderr,
                   "usage: latency_bench [--bootstrap B] [--dossiers N] [--probes P] "
                   "[--binary PATH] [--json OUT]\n");
      return 2;
    }
  }
  const int partitions = 6;
  const int http_port = FreePort();
  const fs::path work = fs::temp_directory_path() / ("latency-bench-" + std::to_string(getpid()));
  fs::create_directories(work);
  const std::string tag = std::to_string(getpid());
  const std::string config_path = (work / "iocstream.yaml").string();
  {
    std::ofstream c(config_path);
    c << "kafka:\n  bootstrap_servers: " << bootstrap << "\n  group_id: latency-bench-" << tag
      << "\n  events_topic: latency-bench-events-" << tag
      << "\n  alerts_topic: latency-bench-alerts-" << tag
      << "\n  dead_letter_topic: latency-bench-dlq-" << tag << "\n  partitions: " << partitions
      << "\nstate:\n  dir: " << (work / "state").string() << "\nhttp:\n  port: " << http_port
      << "\ntimers:\n  clock: wall\n"
      << "calendar:\n  files:\n    - " << IOCSTREAM_SOURCE_DIR
      << "/config/calendars/vn-2025.yaml\n    - " << IOCSTREAM_SOURCE_DIR
      << "/config/calendars/vn-2026.yaml\n"
      << "procedures:\n  catalog: " << IOCSTREAM_SOURCE_DIR << "/config/procedures/catalog.yaml\n";
  }
  auto config = LoadConfig(config_path);
  if (!config) {
    std::fprintf(stderr, "%s\n", config.error().message.c_str());
    return 1;
  }

  // 1. The state: N open dossiers due in 30 days, then the probes.
  std::vector<std::pair<std::string, Instant>> probe_due;
  {
    auto rt = OpenRuntime(*config);
    if (!rt) {
      std::fprintf(stderr, "%s\n", rt.error().message.c_str());
      return 1;
    }
    PipelineProbe probe;
    aggregate::AggregateTable aggregates;
    Pipeline pipeline(*(*rt)->store, aggregates, (*rt)->Rules(),
                      PipelineOptionsFor((*rt)->config, PipelineMode::kRun), probe);
    const Instant now = WallClockNow();
    std::vector<std::string> payloads;
    std::vector<std::string> keys;
    std::vector<SourceRecord> records;
    std::vector<int64_t> offsets(partitions, 0);
    auto flush = [&]() {
      records.clear();
      for (size_t i = 0; i < payloads.size(); ++i) {
        const int32_t p = Pipeline::HashPartition(keys[i], partitions);
        records.push_back(SourceRecord{"latency-bench-preload", PartitionId(p),
                                       Offset(offsets[static_cast<size_t>(p)]++), Instant{},
                                       keys[i], payloads[i]});
      }
      if (Status s = pipeline.ProcessBatch(records, now); !s) {
        std::fprintf(stderr, "%s\n", s.error().message.c_str());
        std::exit(1);
      }
      payloads.clear();
      keys.clear();
    };
    auto add = [&](const std::string& id, Instant due) {
      DossierEvent e;
      e.dossier_id = id;
      e.event_id = id + "/r";
      e.type = EventType::kReceived;
      e.occurred_at = now - minutes(2);
      e.agency_code = "SO-" + std::to_string(keys.size() % 40);
      e.procedure_code = "1.004227";
      e.channel = Channel::kInPerson;
      e.due_at = due;
      payloads.push_back(EncodeEvent(e));
      keys.push_back(id);
      if (payloads.size() == 5000) flush();
    };
    const auto preload_start = Clock::now();
    char id[32];
    for (uint64_t i = 0; i < dossiers; ++i) {
      std::snprintf(id, sizeof id, "LAT-%09llu", static_cast<unsigned long long>(i));
      add(id, now + hours(24 * 30) + seconds(i % 86400));
    }
    flush();
    const Instant first_probe = WallClockNow() + seconds(20);
    for (int i = 0; i < probes; ++i) {
      std::snprintf(id, sizeof id, "PROBE-%06d", i);
      probe_due.emplace_back(id, first_probe + milliseconds(20 * i));
      add(id, probe_due.back().second);
    }
    flush();
    if (Status s = pipeline.Flush(); !s) return 1;
    std::printf("state: %llu open dossiers + %d probes written in %.1f s\n",
                static_cast<unsigned long long>(dossiers), probes,
                duration<double>(Clock::now() - preload_start).count());
  }

  // The topics exist before `run` starts, as in production (creating them is not start-up).
  {
    alert::KafkaSinkOptions sink_options;
    sink_options.bootstrap_servers = bootstrap;
    auto sink = alert::KafkaSink::Open(sink_options);
    if (!sink) {
      std::fprintf(stderr, "%s\n", sink.error().message.c_str());
      return 1;
    }
    const std::vector<alert::TopicSpec> topics = {
        {config->kafka.events_topic, partitions, {}},
        {config->kafka.alerts_topic, partitions, {}},
        {config->kafka.dead_letter_topic, partitions, {}}};
    if (Status s = (*sink)->EnsureTopics(topics, Millis(15000)); !s) {
      std::fprintf(stderr, "%s\n", s.error().message.c_str());
      return 1;
    }
  }

  // 2. Start `iocstream run` and wait for /readyz.
  rd_kafka_t* consumer = nullptr;
  std::vector<std::string> args = {binary, "run", "--config", config_path};
  std::vector<char*> argv_run;
  for (auto& a : args) argv_run.push_back(a.data());
  argv_run.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  const std::string log_path = (work / "run.log").string();
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  const auto spawned = Clock::now();
  pid_t pid = 0;
  if (posix_spawn(&pid, argv_run[0], &actions, nullptr, argv_run.data(), environ) != 0) {
    std::fprintf(stderr, "cannot run %s\n", argv_run[0]);
    return 1;
  }
  double ready_seconds = -1;
  while (duration<double>(Clock::now() - spawned).count() < 60) {
    if (Ready(http_port)) {
      ready_seconds = duration<double>(Clock::now() - spawned).count();
      break;
    }
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      std::fprintf(stderr, "iocstream run exited early; see %s\n", log_path.c_str());
      return 1;
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
  std::printf("start to ready (/readyz 200) with %llu dossiers in state: %.3f s\n",
              static_cast<unsigned long long>(dossiers + static_cast<uint64_t>(probes)),
              ready_seconds);

  // 3. Deadline to alert for the probes.
  consumer = AlertConsumer(bootstrap, "latency-bench-alerts-" + tag, partitions);
  std::map<std::string, Instant> pending(probe_due.begin(), probe_due.end());
  std::vector<double> latencies_ms;
  const Instant last_due = probe_due.empty() ? WallClockNow() : probe_due.back().second;
  while (!pending.empty() && WallClockNow() < last_due + seconds(30)) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer, 100);
    if (m == nullptr) continue;
    const Instant arrived = WallClockNow();
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && m->key != nullptr) {
      const std::string key(static_cast<const char*>(m->key), m->key_len);
      const std::string value(static_cast<const char*>(m->payload), m->len);
      auto it = pending.find(key);
      if (it != pending.end() &&
          value.find("\"kind\":\"deadline_breached\"") != std::string::npos) {
        latencies_ms.push_back(duration<double, std::milli>(arrived - it->second).count());
        pending.erase(it);
      }
    }
    rd_kafka_message_destroy(m);
  }
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  posix_spawn_file_actions_destroy(&actions);
  rd_kafka_consumer_close(consumer);
  rd_kafka_destroy(consumer);

  const double p50 = Percentile(latencies_ms, 0.50);
  const double p99 = Percentile(latencies_ms, 0.99);
  const double max =
      latencies_ms.empty() ? -1 : *std::max_element(latencies_ms.begin(), latencies_ms.end());
  std::printf(
      "deadline to alert on the topic (%zu of %d probes, %zu missing): p50 %.0f ms, p99 %.0f ms, "
      "max %.0f ms\n",
      latencies_ms.size(), probes, pending.size(), p50, p99, max);
  if (!json_path.empty()) {
    std::ofstream out(json_path);
    out << "{\"engine\":" << bench::EngineJson()
        << ",\"string_functions\":" << bench::StringFunctionsJson() << ",\"dossiers\":" << dossiers
        << ",\"probes\":" << probes << ",\"start_to_ready_seconds\":" << ready_seconds
        << ",\"alerts_received\":" << latencies_ms.size()
        << ",\"alerts_missing\":" << pending.size() << ",\"deadline_to_alert_ms\":{\"p50\":" << p50
        << ",\"p99\":" << p99 << ",\"max\":" << max << "}}\n";
  }
  fs::remove_all(work);
  return pending.empty() ? 0 : 1;
}
