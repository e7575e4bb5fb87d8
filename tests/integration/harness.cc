#include "integration/harness.h"

#include <arpa/inet.h>
#include <csv.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace iocstream::testing {
namespace fs = std::filesystem;

TempDir::TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "iocstream-test-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}
TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string SourceDir() { return IOCSTREAM_SOURCE_DIR; }
std::string SharedDataDir() {
  return (fs::path(IOCSTREAM_SOURCE_DIR).parent_path() / "shared" / "data" / "raw").string();
}
std::string Bootstrap() { return IOCSTREAM_TEST_BOOTSTRAP; }

std::string UniqueName(const std::string& prefix) {
  static std::atomic<int> counter{0};
  return prefix + "-" + std::to_string(getpid()) + "-" + std::to_string(counter++) + "-" +
         std::to_string(std::chrono::steady_clock::now().time_since_epoch().count() % 1000000);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Child::Child(const std::vector<std::string>& args, const std::string& log_dir)
    : Child(IOCSTREAM_BINARY, args, log_dir) {}

Child::Child(const std::string& program, const std::vector<std::string>& args,
             const std::string& log_dir) {
  static std::atomic<int> n{0};
  const int id = n++;
  out_path_ = log_dir + "/child-" + std::to_string(id) + ".out";
  err_path_ = log_dir + "/child-" + std::to_string(id) + ".err";
  std::vector<std::string> full = {program};
  full.insert(full.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : full) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_addopen(&actions, 2, err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  if (posix_spawnp(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0) {
    throw std::runtime_error("posix_spawnp failed: " + program);
  }
  posix_spawn_file_actions_destroy(&actions);
}

Child::~Child() {
  if (!reaped_ && pid_ > 0) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
}

void Child::Kill(int signal) {
  if (!reaped_) kill(pid_, signal);
}

std::optional<int> Child::Wait(std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      if (WIFSIGNALED(status)) return -WTERMSIG(status);
      return -1;
    }
    if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::string Child::Stdout() const { return ReadFile(out_path_); }
std::string Child::Stderr() const { return ReadFile(err_path_); }

CommandResult RunIocstream(const std::vector<std::string>& args, std::chrono::seconds timeout) {
  return RunProgram(IOCSTREAM_BINARY, args, timeout);
}

CommandResult RunProgram(const std::string& program, const std::vector<std::string>& args,
                         std::chrono::seconds timeout) {
  TempDir logs;
  Child child(program, args, logs.path());
  CommandResult r;
  auto code = child.Wait(timeout);
  if (!code) {
    child.Kill(SIGKILL);
    code = child.Wait(std::chrono::seconds(10));
    r.err = "TIMEOUT\n";
  }
  r.exit_code = code.value_or(-1);
  r.out = child.Stdout();
  r.err += child.Stderr();
  return r;
}

std::string ExportCsv(const std::string& config, const std::string& state_dir,
                      const std::string& what) {
  auto r = RunIocstream({"export", "--config", config, "--state-dir", state_dir, what, "--format",
                         "csv", "--as-of", "2026-06-01T00:00:00Z"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out;
}

std::string WriteOneReceipt(const TempDir& dir) {
  const std::string path = dir / "events.ndjson";
  std::ofstream(path)
      << R"({"schema_version":1,"event_id":"e1","dossier_id":"D1","type":"received",)"
      << R"("occurred_at":"2026-03-02T09:00:00+07:00","agency_code":"A",)"
      << R"("due_at":"2026-03-04T17:00:00+07:00"})"
      << "\n";
  return path;
}

std::string WriteConfig(const TempDir& dir, const std::string& topic_prefix,
                        const std::string& extra) {
  const std::string path = dir / "iocstream.yaml";
  std::ofstream out(path);
  out << "kafka:\n"
      << "  bootstrap_servers: " << Bootstrap() << "\n"
      << "  group_id: " << topic_prefix << "-group\n"
      << "  events_topic: " << topic_prefix << "-events\n"
      << "  alerts_topic: " << topic_prefix << "-alerts\n"
      << "  dead_letter_topic: " << topic_prefix << "-dlq\n"
      << "  partitions: 6\n"
      << "  max_batch: 500\n"
      // A SIGKILLed member must leave the group quickly for the restart to get its partitions.
      << "  consumer:\n    session.timeout.ms: \"6000\"\n    heartbeat.interval.ms: \"1000\"\n"
      << "state:\n"
      << "  dir: " << (dir / "state") << "\n"
      << "http:\n"
      << "  port: 0\n"
      << "calendar:\n"
      << "  files:\n"
      << "    - " << SourceDir() << "/config/calendars/vn-2025.yaml\n"
      << "    - " << SourceDir() << "/config/calendars/vn-2026.yaml\n"
      << extra;
  return path;
}

namespace {

rd_kafka_t* NewClient(rd_kafka_type_t type, const std::map<std::string, std::string>& props) {
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", Bootstrap().c_str(), errstr, sizeof errstr);
  for (const auto& [k, v] : props) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
      throw std::runtime_error(errstr);
    }
  }
  rd_kafka_t* rk = rd_kafka_new(type, conf, errstr, sizeof errstr);
  if (rk == nullptr) throw std::runtime_error(errstr);
  return rk;
}

// Reads an admin event's topic results (rd_kafka_*_result_topics of its typed result).
using TopicResults = const rd_kafka_topic_result_t** (*)(rd_kafka_event_t*, size_t*);

// Waits (up to 30 s) for the result of an admin call about one topic on `q`: its error as
// text, "" when it succeeded or failed with `ignored`; `what` names the call for a timeout.
std::string AwaitTopicResult(rd_kafka_queue_t* q, TopicResults topics_of, const std::string& what,
                             rd_kafka_resp_err_t ignored = RD_KAFKA_RESP_ERR_NO_ERROR) {
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 30000);
  if (ev == nullptr) return what + ": timeout";
  size_t n = 0;
  const rd_kafka_topic_result_t** res = topics_of(ev, &n);
  std::string error;
  if (n == 1) {
    const rd_kafka_resp_err_t err = rd_kafka_topic_result_error(res[0]);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != ignored) error = rd_kafka_err2str(err);
  }
  rd_kafka_event_destroy(ev);
  return error;
}

}  // namespace

void CreateTopic(const std::string& topic, int partitions,
                 const std::map<std::string, std::string>& config) {
  rd_kafka_t* rk = NewClient(RD_KAFKA_PRODUCER, {});
  char errstr[512];
  rd_kafka_NewTopic_t* nt =
      rd_kafka_NewTopic_new(topic.c_str(), partitions, 1, errstr, sizeof errstr);
  for (const auto& [k, v] : config) rd_kafka_NewTopic_set_config(nt, k.c_str(), v.c_str());
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_CreateTopics(rk, &nt, 1, nullptr, q);
  const std::string error = AwaitTopicResult(
      q,
      [](rd_kafka_event_t* ev, size_t* n) {
        return rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), n);
      },
      "create topic", RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS);
  rd_kafka_queue_destroy(q);
  rd_kafka_NewTopic_destroy(nt);
  rd_kafka_destroy(rk);
  if (!error.empty()) throw std::runtime_error(error);
}

// Asks the broker for `topic`'s metadata every 500 ms until `ready` holds for it (nullptr when
// the broker lists no such topic), up to 60 s; false if it never did.
template <typename Ready>
bool AwaitTopicMetadata(rd_kafka_t* rk, const std::string& topic, Ready ready) {
  for (int i = 0; i < 120; ++i) {
    const rd_kafka_metadata_t* md = nullptr;
    if (rd_kafka_metadata(rk, 1, nullptr, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const rd_kafka_metadata_topic_t* found = nullptr;
      for (int t = 0; t < md->topic_cnt; ++t) {
        if (topic == md->topics[t].topic) found = &md->topics[t];
      }
      const bool done = ready(found);
      rd_kafka_metadata_destroy(md);
      if (done) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  return false;
}

void AddPartitions(const std::string& topic, int total) {
  rd_kafka_t* rk = NewClient(RD_KAFKA_PRODUCER, {});
  char errstr[512];
  rd_kafka_NewPartitions_t* np =
      rd_kafka_NewPartitions_new(topic.c_str(), static_cast<size_t>(total), errstr, sizeof errstr);
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_CreatePartitions(rk, &np, 1, nullptr, q);
  const std::string error = AwaitTopicResult(
      q,
      [](rd_kafka_event_t* ev, size_t* n) {
        return rd_kafka_CreatePartitions_result_topics(rd_kafka_event_CreatePartitions_result(ev),
                                                       n);
      },
      "add partitions");
  rd_kafka_queue_destroy(q);
  rd_kafka_NewPartitions_destroy(np);
  // The call returns once the controller accepted it; a client that asks a broker before its
  // metadata has the new partitions still places keys for the old count.
  const bool grown =
      !error.empty() || AwaitTopicMetadata(rk, topic, [total](const rd_kafka_metadata_topic_t* t) {
        if (t == nullptr || t->partition_cnt != total) return false;
        for (int p = 0; p < t->partition_cnt; ++p) {
          if (t->partitions[p].leader < 0) return false;
        }
        return true;
      });
  rd_kafka_destroy(rk);
  if (!error.empty()) throw std::runtime_error(error);
  if (!grown) {
    throw std::runtime_error("add partitions: " + topic + " does not list " +
                             std::to_string(total) + " partitions with leaders after 60 s");
  }
}

void DeleteTopic(const std::string& topic) {
  rd_kafka_t* rk = NewClient(RD_KAFKA_PRODUCER, {});
  rd_kafka_DeleteTopic_t* dt = rd_kafka_DeleteTopic_new(topic.c_str());
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_DeleteTopics(rk, &dt, 1, nullptr, q);
  const std::string error = AwaitTopicResult(
      q,
      [](rd_kafka_event_t* ev, size_t* n) {
        return rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), n);
      },
      "delete topic");
  rd_kafka_queue_destroy(q);
  rd_kafka_DeleteTopic_destroy(dt);
  const bool gone = !error.empty() ||
                    AwaitTopicMetadata(
                        rk, topic, [](const rd_kafka_metadata_topic_t* t) { return t == nullptr; });
  rd_kafka_destroy(rk);
  if (!error.empty()) throw std::runtime_error(error);
  if (!gone) throw std::runtime_error("delete topic: " + topic + " still listed after 60 s");
}

void Produce(const std::string& topic, const std::vector<std::pair<std::string, std::string>>& kv,
             const std::map<std::string, std::string>& producer) {
  std::map<std::string, std::string> props = {
      {"partitioner", "murmur2_random"}, {"enable.idempotence", "true"}, {"linger.ms", "5"}};
  for (const auto& [k, v] : producer) props[k] = v;
  rd_kafka_t* rk = NewClient(RD_KAFKA_PRODUCER, props);
  for (const auto& [k, v] : kv) {
    while (true) {
      const rd_kafka_resp_err_t err = rd_kafka_producev(
          rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_KEY(k.data(), k.size()),
          RD_KAFKA_V_VALUE(const_cast<char*>(v.data()), v.size()), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(rk, 50);
        continue;
      }
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) throw std::runtime_error(rd_kafka_err2str(err));
      break;
    }
  }
  const rd_kafka_resp_err_t err = rd_kafka_flush(rk, 60000);
  rd_kafka_destroy(rk);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) throw std::runtime_error("produce flush timed out");
}

// A transactional producer (`transactional_id`) with one record (`key`, an 8-byte value) sent to
// `topic`[0] in a transaction it leaves open; null (after a test failure) if the broker refused.
rd_kafka_t* OpenTransactionWithOneRecord(const std::string& transactional_id,
                                         const std::string& topic, const std::string& key) {
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (const auto& [k, v] : std::map<std::string, std::string>{
           {"bootstrap.servers", Bootstrap()}, {"transactional.id", transactional_id}}) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
      ADD_FAILURE() << errstr;
      rd_kafka_conf_destroy(conf);
      return nullptr;
    }
  }
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (rk == nullptr) {
    ADD_FAILURE() << errstr;
    return nullptr;
  }
  rd_kafka_error_t* error = rd_kafka_init_transactions(rk, 30000);
  if (error == nullptr) error = rd_kafka_begin_transaction(rk);
  if (error != nullptr) {
    ADD_FAILURE() << rd_kafka_error_string(error);
    rd_kafka_error_destroy(error);
    rd_kafka_destroy(rk);
    return nullptr;
  }
  const rd_kafka_resp_err_t err = rd_kafka_producev(
      rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(0),
      RD_KAFKA_V_KEY(key.data(), key.size()), RD_KAFKA_V_VALUE(const_cast<char*>("12345678"), 8),
      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    ADD_FAILURE() << rd_kafka_err2str(err);
    rd_kafka_destroy(rk);
    return nullptr;
  }
  return rk;
}

std::vector<KafkaRecord> ConsumeAll(const std::string& topic, size_t expected,
                                    std::chrono::seconds timeout) {
  rd_kafka_t* rk = NewClient(RD_KAFKA_CONSUMER, {{"group.id", UniqueName("reader")},
                                                 {"auto.offset.reset", "earliest"},
                                                 {"enable.auto.commit", "false"}});
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(list, topic.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_subscribe(rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  std::vector<KafkaRecord> out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (out.size() < expected && std::chrono::steady_clock::now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 200);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      KafkaRecord r;
      if (m->key != nullptr) r.key.assign(static_cast<const char*>(m->key), m->key_len);
      if (m->payload != nullptr) r.value.assign(static_cast<const char*>(m->payload), m->len);
      r.partition = m->partition;
      r.offset = m->offset;
      rd_kafka_headers_t* headers = nullptr;
      if (rd_kafka_message_headers(m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* name = nullptr;
        const void* value = nullptr;
        size_t size = 0;
        for (size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) ==
                           RD_KAFKA_RESP_ERR_NO_ERROR;
             ++i) {
          r.headers[name] = std::string(static_cast<const char*>(value), size);
        }
      }
      out.push_back(std::move(r));
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return out;
}

namespace {
struct CsvState {
  std::vector<std::string> header;
  std::vector<std::string> row;
  std::vector<std::map<std::string, std::string>> rows;
  bool first = true;
};
void OnField(void* s, size_t len, void* data) {
  static_cast<CsvState*>(data)->row.emplace_back(static_cast<const char*>(s), len);
}
void OnRow(int /*c*/, void* data) {
  auto* st = static_cast<CsvState*>(data);
  if (st->first) {
    st->header = st->row;
    st->first = false;
  } else {
    std::map<std::string, std::string> m;
    for (size_t i = 0; i < st->row.size() && i < st->header.size(); ++i) {
      m.emplace(st->header[i], st->row[i]);  // first of duplicate names wins
    }
    st->rows.push_back(std::move(m));
  }
  st->row.clear();
}
}  // namespace

int FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t size = sizeof addr;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &size) != 0) {
    if (fd >= 0) close(fd);
    throw std::runtime_error("no free loopback port");
  }
  close(fd);
  return ntohs(addr.sin_port);
}

bool WaitFor(const std::function<bool()>& done, int seconds) {
  for (int i = 0; i < seconds * 10; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

int WaitForHttpPort(const Child& child, int seconds) {
  const std::regex port_re(R"(serving /metrics and /api/v1 on http://127\.0\.0\.1:(\d+))");
  std::smatch pm;
  std::string log;
  WaitFor(
      [&] {
        log = child.Stderr();
        return std::regex_search(log, pm, port_re);
      },
      seconds);
  return std::regex_search(log, pm, port_re) ? std::stoi(pm[1]) : -1;
}

std::string HttpGet(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return "";
  }
  const std::string request =
      "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (write(fd, request.data(), request.size()) < 0) {
    close(fd);
    return "";
  }
  std::string response;
  char buf[65536];
  ssize_t n = 0;
  while ((n = read(fd, buf, sizeof buf)) > 0) response.append(buf, static_cast<size_t>(n));
  close(fd);
  const size_t body = response.find("\r\n\r\n");
  if (body == std::string::npos) return "";
  std::string head = response.substr(0, body);
  std::transform(head.begin(), head.end(), head.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (head.find("\r\ntransfer-encoding: chunked") == std::string::npos) {
    return response.substr(body + 4);
  }
  // Chunked (Prometheus's larger answers): each chunk is its hex size, CRLF, the bytes, CRLF.
  std::string decoded;
  size_t pos = body + 4;
  while (pos < response.size()) {
    const size_t line_end = response.find("\r\n", pos);
    if (line_end == std::string::npos) return "";
    const size_t size = std::stoul(response.substr(pos, line_end - pos), nullptr, 16);
    if (size == 0) break;
    decoded.append(response, line_end + 2, size);
    pos = line_end + 2 + size + 2;
  }
  return decoded;
}

std::vector<std::map<std::string, std::string>> ReadCsv(const std::string& path) {
  const std::string text = ReadFile(path);
  csv_parser p;
  csv_init(&p, CSV_APPEND_NULL);
  CsvState st;
  csv_parse(&p, text.data(), text.size(), OnField, OnRow, &st);
  csv_fini(&p, OnField, OnRow, &st);
  csv_free(&p);
  return st.rows;
}

}  // namespace iocstream::testing
