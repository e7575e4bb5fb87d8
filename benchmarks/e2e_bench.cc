// End-to-end benchmark: on the same topic of the local broker, in one run, it measures
//   (a) the raw consume rate with librdkafka alone (no parsing; iocstream's consumer settings),
//   (a') iocstream's Kafka source (ingest::KafkaSource, 512 MiB of read-ahead) with each
//       record decoded and validated (EventDecoder, on the polling thread), no state: the
//       floor of any consumer that must read the events as `run` does, and so how much of
//       (a) is left for state, rules and commits,
//   (b) `iocstream run` end to end with exactly-once state (decode, rules, RocksDB batch
//       commit with offsets, timers, metrics), from process start to caught up,
//   (c) optionally `iocstream replay` of an NDJSON file, without a broker (the file read once
//       first, so that it is in the page cache as the broker's log is for (b)),
// and prints events/s, CPU seconds per million events, peak RSS and state bytes written per
// event; --json writes the same figures as JSON.
//
// The broker runs on the same 2 cores: with --broker-pid it also prints the broker's CPU
// seconds per million events in each stage that reads from it, and the machine's busy cores
// (all processes, /proc/stat) in every stage. From them it prints what (b) at 60% of (a)
// would take: the cores `run` and the broker would need at that rate with their measured CPU
// per event, against the 2 the machine has.
//
//   e2e_bench --topic boston-311-events [--bootstrap 127.0.0.1:19092] [--ndjson FILE]
//             [--binary build/release/src/app/iocstream] [--json out.json] [--broker-pid PID]
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "bench_util.h"
#include "iocstream/decode/event_decoder.h"
#include "iocstream/ingest/kafka_client.h"
#include "iocstream/ingest/kafka_source.h"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using iocstream::bench::CpuSeconds;

struct Figures {
  std::string name;
  uint64_t events = 0;
  double seconds = 0;
  double cpu_seconds = 0;
  long peak_rss_kb = 0;
  double state_bytes_written = -1;
  double startup_seconds = -1;     // process (or consumer) start to first record, not in `seconds`
  std::string cpu_by_thread;       // the child's "CPU by thread" summary line, if it printed one
  std::string pipeline_waits;      // its "pipeline thread waited for" line (since its start)
  uint64_t decode_failures = 0;    // consume + decode: records that failed (the topic holds none)
  double broker_cpu_seconds = -1;  // the broker's CPU over the stage (with --broker-pid)
  double busy_cores = -1;          // the machine's busy CPU seconds per second over the stage
  [[nodiscard]] double rate() const { return seconds > 0 ? events / seconds : 0; }
  [[nodiscard]] double per_million(double cpu) const { return events ? cpu * 1e6 / events : 0; }
};

// CPU seconds (user + system) a process used so far, from /proc/PID/stat; -1 if unreadable.
double ProcessCpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = stat.rfind(')');  // the command name may hold spaces
  if (close == std::string::npos) return -1;
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  double ticks = 0;
  // After the name: state is field 3; utime and stime are fields 14 and 15.
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Busy CPU seconds of the whole machine so far (all cores: /proc/stat's first line, every
// state but idle and iowait).
double MachineBusySeconds() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  in >> cpu;
  double busy = 0;
  double v = 0;
  for (int i = 0; i < 8 && in >> v; ++i) {
    if (i != 3 && i != 4) busy += v;  // user nice system idle iowait irq softirq steal
  }
  return busy / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// What the broker and the machine spent while a stage ran: a stage's `seconds` start at its
// first record, these at its start (the group join and the child's start included), so the
// busy cores are a mean over the stage's whole span.
class StageMeter {
 public:
  explicit StageMeter(pid_t broker)
      : broker_(broker),
        broker_before_(broker > 0 ? ProcessCpuSeconds(broker) : -1),
        machine_before_(MachineBusySeconds()),
        start_(Clock::now()) {}
  void Into(Figures& f) const {
    const double span = std::chrono::duration<double>(Clock::now() - start_).count();
    if (span > 0) f.busy_cores = (MachineBusySeconds() - machine_before_) / span;
    if (broker_ > 0 && broker_before_ >= 0) {
      const double after = ProcessCpuSeconds(broker_);
      if (after >= 0) f.broker_cpu_seconds = after - broker_before_;
    }
  }

 private:
  pid_t broker_;
  double broker_before_;
  double machine_before_;
  Clock::time_point start_;
};

// A consumer with the properties `iocstream run` gives its own (ingest::ConsumerProperties).
rd_kafka_t* Consumer(const std::string& bootstrap, const std::string& group) {
  iocstream::ingest::KafkaSourceOptions options;
  options.bootstrap_servers = bootstrap;
  options.group_id = group;
  auto rk = iocstream::ingest::NewKafkaClient(RD_KAFKA_CONSUMER,
                                              iocstream::ingest::ConsumerProperties(options));
  if (!rk) {
    std::fprintf(stderr, "%s\n", rk.error().message.c_str());
    std::exit(1);
  }
  rd_kafka_poll_set_consumer(*rk);
  return *rk;
}

uint64_t TopicSize(const std::string& bootstrap, const std::string& topic) {
  rd_kafka_t* rk = Consumer(bootstrap, "e2e-bench-meta");
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_topic_t* t = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  if (rd_kafka_metadata(rk, 0, t, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR || md->topic_cnt != 1 ||
      md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    std::fprintf(stderr, "no topic %s on %s\n", topic.c_str(), bootstrap.c_str());
    std::exit(1);
  }
  uint64_t total = 0;
  for (int i = 0; i < md->topics[0].partition_cnt; ++i) {
    int64_t lo = 0;
    int64_t hi = 0;
    rd_kafka_query_watermark_offsets(rk, topic.c_str(), md->topics[0].partitions[i].id, &lo, &hi,
                                     10000);
    total += static_cast<uint64_t>(hi - lo);
  }
  rd_kafka_metadata_destroy(md);
  rd_kafka_topic_destroy(t);
  rd_kafka_destroy(rk);
  return total;
}

// (a): librdkafka alone, each record polled and dropped.
Figures RawConsume(const std::string& bootstrap, const std::string& topic, uint64_t expected) {
  Figures f{"raw librdkafka consume"};
  rusage before{};
  getrusage(RUSAGE_SELF, &before);
  const auto start = Clock::now();
  rd_kafka_t* rk = Consumer(bootstrap, "e2e-bench-raw-" + std::to_string(getpid()));
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(list, topic.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_subscribe(rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  std::optional<Clock::time_point> first;
  while (f.events < expected) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 1000);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (!first) first = Clock::now();
      ++f.events;
    }
    rd_kafka_message_destroy(m);
  }
  // Timed from the first record, like `run`'s "first record to caught up": the group join
  // is not part of the consume rate.
  f.seconds = std::chrono::duration<double>(Clock::now() - *first).count();
  f.startup_seconds = std::chrono::duration<double>(*first - start).count();
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  rusage after{};
  getrusage(RUSAGE_SELF, &after);
  f.cpu_seconds = CpuSeconds(after) - CpuSeconds(before);
  f.peak_rss_kb = after.ru_maxrss;
  return f;
}

// (a'): iocstream's Kafka source, each batch decoded and validated as `run` does
// (EventDecoder::DecodeInto into reused results), on the polling thread; a record that fails
// counts as an error (the bench topic holds valid events only). Its read-ahead is 512 MiB,
// four times `run`'s default (kafka.fetch_queue_mb 128): librdkafka 2.0 pauses fetching for
// about a second whenever its queue fills, which a consumer this fast does with less (the
// bench topic: 748k events/s at 128 MiB, 1.46M at 512). `run`, at about 500k, is not
// throttled at 128 (9.13 / 8.57 s, against 9.29 / 9.01 s with 512). With librdkafka alone
// and its default 64 MiB queue, this "floor" ran slower than `run`.
Figures SourceDecode(const std::string& bootstrap, const std::string& topic, uint64_t expected) {
  Figures f{"source + decode (no state)"};
  iocstream::EventDecoder decoder;
  rusage before{};
  getrusage(RUSAGE_SELF, &before);
  const auto start = Clock::now();
  iocstream::ingest::KafkaSourceOptions options;
  options.bootstrap_servers = bootstrap;
  options.group_id = "e2e-bench-decode-" + std::to_string(getpid());
  options.topics = {topic};
  options.SplitReadAhead(512 * 1024);  // KiB
  auto source = iocstream::ingest::KafkaSource::Open(options, {});
  if (!source) {
    std::fprintf(stderr, "%s\n", source.error().message.c_str());
    std::exit(1);
  }
  std::vector<iocstream::DecodeResult> decoded;
  std::optional<Clock::time_point> first;
  while (f.events < expected) {
    auto batch = (*source)->Poll();
    if (!batch) {
      std::fprintf(stderr, "%s\n", batch.error().message.c_str());
      std::exit(1);
    }
    if (batch->empty()) continue;
    if (!first) first = Clock::now();
    f.events += batch->size();
    while (decoded.size() < batch->size()) decoded.emplace_back(iocstream::DossierEvent{});
    for (size_t i = 0; i < batch->size(); ++i) {
      const iocstream::SourceRecord& r = (*batch)[i];
      decoder.DecodeInto(r.payload, r.key, decoded[i]);
      if (!decoded[i].has_value()) ++f.decode_failures;
    }
  }
  f.seconds = std::chrono::duration<double>(Clock::now() - *first).count();
  f.startup_seconds = std::chrono::duration<double>(*first - start).count();
  (*source)->Close();
  source->reset();
  rusage after{};
  getrusage(RUSAGE_SELF, &after);
  f.cpu_seconds = CpuSeconds(after) - CpuSeconds(before);
  // The process's peak so far: the raw stage, run first, holds less than this one.
  f.peak_rss_kb = after.ru_maxrss;
  if (f.decode_failures > 0) {
    std::fprintf(stderr, "%llu of %llu records failed to decode\n",
                 static_cast<unsigned long long>(f.decode_failures),
                 static_cast<unsigned long long>(f.events));
  }
  return f;
}

// Reads `path` to its end (into the page cache) and returns the seconds it took; nullopt, with
// the error printed, when it cannot be read.
std::optional<double> ReadThrough(const std::string& path) {
  const auto start = std::chrono::steady_clock::now();
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    std::fprintf(stderr, "cannot read %s: %s\n", path.c_str(), std::strerror(errno));
    return std::nullopt;
  }
  posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  std::vector<char> buffer(size_t{4} << 20);
  ssize_t n = 0;
  while ((n = read(fd, buffer.data(), buffer.size())) > 0 || (n < 0 && errno == EINTR)) {
  }
  const int error = errno;
  close(fd);
  if (n < 0) {
    std::fprintf(stderr, "cannot read %s: %s\n", path.c_str(), std::strerror(error));
    return std::nullopt;
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Runs the iocstream binary, returning wall time, child rusage and its stdout.
Figures RunChild(const std::string& name, const std::vector<std::string>& args, uint64_t events,
                 const std::string& out_path) {
  Figures f{name, events};
  std::vector<std::string> a = args;
  std::vector<char*> argv;
  for (auto& s : a) argv.push_back(s.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  const auto start = Clock::now();
  pid_t pid = 0;
  if (posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ) != 0) {
    std::fprintf(stderr, "cannot run %s\n", argv[0]);
    std::exit(1);
  }
  int status = 0;
  rusage usage{};
  wait4(pid, &status, 0, &usage);
  f.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  posix_spawn_file_actions_destroy(&actions);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "%s failed (status %d); output in %s\n", name.c_str(), status,
                 out_path.c_str());
    std::exit(1);
  }
  f.cpu_seconds = CpuSeconds(usage);
  f.peak_rss_kb = usage.ru_maxrss;
  std::ifstream in(out_path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::smatch m;
  const std::string out = ss.str();
  if (std::regex_search(out, m, std::regex(R"(state bytes written (\d+))"))) {
    f.state_bytes_written = std::stod(m[1]);
  }
  if (std::regex_search(out, m, std::regex(R"(consumed (\d+))"))) f.events = std::stoull(m[1]);
  if (std::regex_search(out, m, std::regex(R"(CPU by thread: ([^\n]*))"))) f.cpu_by_thread = m[1];
  if (std::regex_search(out, m, std::regex(R"(pipeline thread waited for: ([^\n]*))"))) {
    f.pipeline_waits = m[1];
  }
  if (std::regex_search(out, m, std::regex(R"(first record to (?:caught up|end): ([0-9.]+) s)"))) {
    // `run` (to caught up) and `replay` (to the end of its input): the rate counts from the
    // first record, as the raw consume does; the startup is reported beside it.
    const double total = f.seconds;
    f.seconds = std::stod(m[1]);
    f.startup_seconds = total - f.seconds;
  }
  return f;
}

void Print(const Figures& f) {
  std::printf(
      "%-34s %10llu events %8.2f s %12.0f events/s %8.2f CPU s/M events  peak RSS %7.1f MiB",
      f.name.c_str(), static_cast<unsigned long long>(f.events), f.seconds, f.rate(),
      f.events ? f.cpu_seconds * 1e6 / f.events : 0.0, f.peak_rss_kb / 1024.0);
  if (f.state_bytes_written >= 0 && f.events > 0) {
    std::printf("  state %6.0f B/event", f.state_bytes_written / f.events);
  }
  if (f.startup_seconds >= 0) std::printf("  (+%.2f s start to first record)", f.startup_seconds);
  std::printf("\n");
  if (!f.cpu_by_thread.empty()) std::printf("    CPU by thread: %s\n", f.cpu_by_thread.c_str());
  if (!f.pipeline_waits.empty()) {
    std::printf("    pipeline thread waited for: %s\n", f.pipeline_waits.c_str());
  }
  if (f.busy_cores >= 0) {
    std::printf("    machine busy %.2f of %ld cores", f.busy_cores, sysconf(_SC_NPROCESSORS_ONLN));
    if (f.broker_cpu_seconds >= 0) {
      std::printf("; broker %.2f CPU s/M events", f.per_million(f.broker_cpu_seconds));
    }
    std::printf("\n");
  }
}

nlohmann::json Json(const Figures& f) {
  nlohmann::json j = {
      {"name", f.name},
      {"events", f.events},
      {"seconds", f.seconds},
      {"events_per_second", f.rate()},
      {"cpu_seconds_per_million_events", f.events ? f.cpu_seconds * 1e6 / f.events : 0.0},
      {"peak_rss_bytes", f.peak_rss_kb * 1024},
      {"state_bytes_written_per_event",
       f.events && f.state_bytes_written >= 0 ? f.state_bytes_written / f.events : -1.0},
      {"startup_seconds", f.startup_seconds}};
  if (!f.cpu_by_thread.empty()) j["cpu_by_thread"] = f.cpu_by_thread;
  if (!f.pipeline_waits.empty()) j["pipeline_waits"] = f.pipeline_waits;
  if (f.decode_failures > 0) j["decode_failures"] = f.decode_failures;
  if (f.busy_cores >= 0) j["machine_busy_cores"] = f.busy_cores;
  if (f.broker_cpu_seconds >= 0) {
    j["broker_cpu_seconds_per_million_events"] = f.per_million(f.broker_cpu_seconds);
  }
  return j;
}

}  // namespace

int main(int argc, char** argv) {
  iocstream::app::PreferAvx2StringFunctions(argv);  // as iocstream (bench_util.h)
  std::string bootstrap = "127.0.0.1:19092";
  std::string topic;
  std::string binary = IOCSTREAM_BINARY;
  std::string json_path;
  std::string ndjson;
  pid_t broker = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const std::string v = argv[i + 1];
    if (k == "--bootstrap")
      bootstrap = v;
    else if (k == "--topic")
      topic = v;
    else if (k == "--binary")
      binary = v;
    else if (k == "--json")
      json_path = v;
    else if (k == "--ndjson")
      ndjson = v;
    else if (k == "--broker-pid")
      broker = static_cast<pid_t>(std::stol(v));
  }
  if (topic.empty()) {
    std::fprintf(stderr,
                 "usage: e2e_bench --topic T [--bootstrap B] [--ndjson FILE] [--binary PATH] "
                 "[--json OUT] [--broker-pid PID]\n");
    return 2;
  }
  const uint64_t total = TopicSize(bootstrap, topic);
  std::printf("topic %s on %s: %llu records\n", topic.c_str(), bootstrap.c_str(),
              static_cast<unsigned long long>(total));
  const fs::path work = fs::temp_directory_path() / ("e2e-bench-" + std::to_string(getpid()));
  fs::create_directories(work);
  const std::string config = (work / "iocstream.yaml").string();
  {
    std::ofstream c(config);
    c << "kafka:\n  bootstrap_servers: " << bootstrap << "\n  group_id: e2e-bench-" << getpid()
      << "\n  events_topic: " << topic << "\n  alerts_topic: " << topic
      << "-bench-alerts\n  dead_letter_topic: " << topic << "-bench-dlq\n"
      << "state:\n  dir: " << (work / "state").string() << "\nhttp:\n  port: 0\n"
      << "timers:\n  clock: watermark\n"
      << "calendar:\n  files:\n    - " << IOCSTREAM_SOURCE_DIR
      << "/config/calendars/vn-2025.yaml\n    - " << IOCSTREAM_SOURCE_DIR
      << "/config/calendars/vn-2026.yaml\n"
      << "procedures:\n  catalog: " << IOCSTREAM_SOURCE_DIR << "/config/procedures/catalog.yaml\n";
  }
  // The stages that run iocstream as a child come before (a'): a child's peak RSS counts this
  // process's peak at the time it was spawned (posix_spawn shares this process's memory until
  // the exec), and (a') holds its 512 MiB read-ahead.
  std::vector<Figures> all;
  // Each stage measured with what the broker and the machine spent meanwhile; replay reads
  // no broker (its broker CPU is not reported).
  const auto stage = [&](pid_t stage_broker, auto&& run_stage) {
    const StageMeter meter(stage_broker);
    all.push_back(run_stage());
    meter.Into(all.back());
    Print(all.back());
    return all.back();
  };
  const Figures raw = stage(broker, [&] { return RawConsume(bootstrap, topic, total); });
  const Figures run = stage(broker, [&] {
    return RunChild(
        "iocstream run (exactly-once state)",
        {binary, "run", "--config", config, "--exit-when-caught-up", "--summary-when-caught-up"},
        total, (work / "run.out").string());
  });
  // `run`'s state directory is not read again: removed, its dirty pages are dropped rather than
  // written back while the next stage runs (the kernel's writeback of `run`'s 560 MB cost
  // (c) up to a tenth: state writer 2.02 s and RocksDB 0.96 against 1.61 and 0.61, session
  // 57); then what is still dirty is written back before the next stage starts.
  std::error_code removed;
  fs::remove_all(work / "state", removed);
  sync();
  std::optional<double> ndjson_read_first_seconds;
  if (!ndjson.empty()) {
    // The file is read through once first, so that (c) measures iocstream rather than the
    // disk: scripts/bench.sh reads it before this program starts, but this machine's kernel
    // reclaims page cache left unread for a while (DAMON), and after the stages above the
    // replay's reader waited on reads again (session 57: the pipeline waited 0.21 s for it,
    // 0.27 of the 2 cores idle). The broker's log is likewise in the page cache for (b), which
    // (a) read just before.
    ndjson_read_first_seconds = ReadThrough(ndjson);
    if (!ndjson_read_first_seconds) return 1;
    std::printf("(%s read once into the page cache first: %.2f s)\n", ndjson.c_str(),
                *ndjson_read_first_seconds);
    stage(0, [&] {
      return RunChild("iocstream replay (NDJSON, no broker)",
                      {binary, "replay", "--config", config, "--state-dir",
                       (work / "replay-state").string(), ndjson},
                      0, (work / "replay.out").string());
    });
  }
  stage(broker, [&] { return SourceDecode(bootstrap, topic, total); });
  std::printf("end to end / raw consume: %.0f%%   (source + decode / raw consume: %.0f%%)\n",
              100.0 * run.rate() / raw.rate(), 100.0 * all.back().rate() / raw.rate());
  if (run.broker_cpu_seconds >= 0 && run.events > 0) {
    // Target (b), 60% of (a), as cores: `run`'s CPU per event and the broker's while serving
    // it, at that rate. Above the machine's cores, (b) needs less CPU per event, not threads.
    const double target = 0.6 * raw.rate();
    const double own = run.cpu_seconds / run.events * target;
    const double served = run.broker_cpu_seconds / run.events * target;
    std::printf(
        "(b) at 60%% of (a), %.0f events/s, would take %.2f cores (iocstream %.2f + broker %.2f) "
        "of %ld\n",
        target, own + served, own, served, sysconf(_SC_NPROCESSORS_ONLN));
  }
  if (!json_path.empty()) {
    nlohmann::json doc = {
        {"topic", topic},
        {"records", total},
        {"engine", nlohmann::json::parse(iocstream::bench::EngineJson())},
        {"string_functions", nlohmann::json::parse(iocstream::bench::StringFunctionsJson())},
        {"results", nlohmann::json::array()}};
    if (ndjson_read_first_seconds) doc["ndjson_read_first_seconds"] = *ndjson_read_first_seconds;
    for (const Figures& f : all) doc["results"].push_back(Json(f));
    // Thread names cut at 15 bytes may end inside a UTF-8 sequence: replaced, not thrown.
    std::ofstream(json_path) << doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                             << "\n";
  }
  fs::remove_all(work);
  // A decode failure means the topic is not the bench stream: its figures do not hold.
  return all.back().decode_failures > 0 ? 1 : 0;
}
