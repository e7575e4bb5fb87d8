// Integration-test harness: temporary directories, running the real iocstream binary, and a
// small librdkafka client for the test broker (IOCSTREAM_TEST_BOOTSTRAP, 127.0.0.1 only).
#pragma once

#include <librdkafka/rdkafka.h>
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace iocstream::testing {

// A fresh directory under /tmp, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs the iocstream binary with `args` and waits (killed after `timeout`).
CommandResult RunIocstream(const std::vector<std::string>& args,
                           std::chrono::seconds timeout = std::chrono::seconds(600));
// Runs `program` (a path, or a name looked up in PATH) with `args` and waits.
CommandResult RunProgram(const std::string& program, const std::vector<std::string>& args,
                         std::chrono::seconds timeout = std::chrono::seconds(600));

// A running iocstream process, or another program (stdout/stderr to files in `log_dir`).
class Child {
 public:
  Child(const std::vector<std::string>& args, const std::string& log_dir);  // iocstream
  Child(const std::string& program, const std::vector<std::string>& args,
        const std::string& log_dir);
  ~Child();
  void Kill(int signal);
  // Exit code, or -signal when killed by a signal; nullopt on timeout.
  std::optional<int> Wait(std::chrono::seconds timeout);
  [[nodiscard]] std::string Stdout() const;
  [[nodiscard]] std::string Stderr() const;
  [[nodiscard]] pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  std::string out_path_;
  std::string err_path_;
  bool reaped_ = false;
};

std::string SourceDir();
std::string SharedDataDir();  // ../shared/data/raw next to the checkout
std::string Bootstrap();

// Config sections for runs whose results must not depend on the wall clock: watermark timers
// with an hour of allowed lateness, and only breach and completion alerts.
inline const std::string kWatermarkRunConfig =
    "timers:\n  clock: watermark\n  allowed_lateness: 1h\n"
    "sla:\n  warning_fraction: 0\n  warning_hours_left: 0\n  apology_alerts: false\n";

// `iocstream export STATE_DIR WHAT --format csv --as-of 2026-06-01T00:00:00Z` with `config`:
// its standard output (a failed export fails the test).
std::string ExportCsv(const std::string& config, const std::string& state_dir,
                      const std::string& what);

// A topic or group name unique to this process and call.
std::string UniqueName(const std::string& prefix);

// A loopback TCP port nothing listened on a moment ago (bound to port 0, then closed).
int FreeLoopbackPort();

// Writes DIR/events.ndjson: one received event (dossier D1, 2026-03-02, due 2026-03-04);
// returns its path.
std::string WriteOneReceipt(const TempDir& dir);

// Writes a config for the test broker. `extra` is appended YAML (top-level sections).
std::string WriteConfig(const TempDir& dir, const std::string& topic_prefix,
                        const std::string& extra = "");

struct KafkaRecord {
  std::string key;
  std::string value;
  int32_t partition = 0;
  int64_t offset = 0;
  std::map<std::string, std::string> headers;
};

// A transactional producer (`transactional_id`) with one record (`key`, an 8-byte value) sent to
// `topic`[0] in a transaction it leaves open; null (after a test failure) if the broker refused.
// The caller commits or aborts it and destroys the producer.
rd_kafka_t* OpenTransactionWithOneRecord(const std::string& transactional_id,
                                         const std::string& topic, const std::string& key);

// `config`: topic configs (e.g. max.message.bytes).
void CreateTopic(const std::string& topic, int partitions,
                 const std::map<std::string, std::string>& config = {});
// Deletes a topic and waits (up to 60 s) until the broker's metadata no longer lists it.
void DeleteTopic(const std::string& topic);
// Grows a topic to `total` partitions (Kafka's CreatePartitions).
void AddPartitions(const std::string& topic, int total);
// Produces (key, value) pairs in order, murmur2 partitioner, and waits for acknowledgement.
// `producer` adds librdkafka producer properties (e.g. message.max.bytes for large records).
void Produce(const std::string& topic, const std::vector<std::pair<std::string, std::string>>& kv,
             const std::map<std::string, std::string>& producer = {});
// Reads a topic from the beginning until `expected` records arrived or `timeout` passed.
std::vector<KafkaRecord> ConsumeAll(const std::string& topic, size_t expected,
                                    std::chrono::seconds timeout);

// Asks `done` every 100 ms for up to `seconds`: whether it said true.
bool WaitFor(const std::function<bool()>& done, int seconds);

// The port a `run` child serves HTTP on, read from its log (waiting up to `seconds`); -1 if
// it never said.
int WaitForHttpPort(const Child& child, int seconds = 30);

// GET http://127.0.0.1:port/path (`path` with its query, percent-encoded); the body (chunked
// or not), or "" on failure.
std::string HttpGet(int port, const std::string& path);

// Rows of a CSV file as header → value maps (libcsv).
std::vector<std::map<std::string, std::string>> ReadCsv(const std::string& path);
std::string ReadFile(const std::string& path);

}  // namespace iocstream::testing
