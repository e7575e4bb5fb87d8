#include "app/config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string_view>
#include <tuple>

#include "app/runtime.h"

namespace iocstream::app {
namespace {

namespace fs = std::filesystem;

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("iocstream-config-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Loads a config made of one section (`name`, with `body` as its indented lines) and the
  // shipped calendar.
  Result<Config> LoadWithSection(const std::string& name, const std::string& body) {
    const std::string path = (dir_ / "iocstream.yaml").string();
    std::ofstream(path) << name << ":\n"
                        << body << "calendar:\n  files:\n    - " << IOCSTREAM_SOURCE_DIR
                        << "/config/calendars/vn-2026.yaml\n";
    return LoadConfig(path);
  }
  // The config with this section is refused, and the message holds every one of `parts`.
  void ExpectRefused(const std::string& name, const std::string& body,
                     std::initializer_list<std::string_view> parts) {
    auto c = LoadWithSection(name, body);
    ASSERT_FALSE(c.has_value()) << body;
    for (std::string_view part : parts) {
      EXPECT_NE(c.error().message.find(part), std::string::npos) << c.error().message;
    }
  }
  Result<Config> LoadWithSla(const std::string& sla) { return LoadWithSection("sla", sla); }
  Result<Config> LoadWithState(const std::string& state) { return LoadWithSection("state", state); }

  fs::path dir_;
};

// `address: [::1]` is a YAML list, and was refused as "expected a string, got '[::1]'" with no
// word of why (a helper's trial): the message says to quote it. Quoted, it is read.
TEST_F(ConfigTest, AnUnquotedIpv6AddressIsToldToBeQuoted) {
  ExpectRefused("http", "  address: [::1]\n",
                {"http.address", "expected a string", "YAML reads [...] as a list",
                 "put the text in quotes"});
  auto c = LoadWithSection("http", "  address: \"::1\"\n");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->http.address, "::1");
}

TEST_F(ConfigTest, WarningHoursLeftDefaultsToOneWorkingDay) {
  auto c = LoadWithSla("  warning_fraction: 0.75\n");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->sla.warning_hours_left, std::chrono::hours(8));
}

TEST_F(ConfigTest, WarningHoursLeftTakesWorkingHours) {
  auto c = LoadWithSla("  warning_hours_left: 4.5\n");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->sla.warning_hours_left, std::chrono::minutes(270));
  c = LoadWithSla("  warning_hours_left: 0\n");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->sla.warning_hours_left, Millis(0));
}

TEST_F(ConfigTest, WarningHoursLeftRejectsNegativeAndText) {
  for (const char* bad : {"-1", "eight", "1e9"}) {
    auto c = LoadWithSla(std::string("  warning_hours_left: ") + bad + "\n");
    ASSERT_FALSE(c.has_value()) << bad;
    EXPECT_NE(c.error().message.find("sla.warning_hours_left"), std::string::npos)
        << c.error().message;
  }
}

// Durations are decimal amounts with a unit (or seconds); infinities, NaN, hexadecimal and
// amounts past 100 years were cast to int64 (undefined) and turned the timers off. Found by a
// helper's attack on the config.
TEST_F(ConfigTest, DurationsAreFiniteDecimalAndBounded) {
  for (const auto& [text, millis] :
       {std::pair{"90", 90'000}, std::pair{"1.5m", 90'000}, std::pair{"2h", 7'200'000},
        std::pair{"250ms", 250}, std::pair{"0", 0}}) {
    auto c = LoadWithSection("timers", std::string("  allowed_lateness: ") + text + "\n");
    ASSERT_TRUE(c.has_value()) << text << ": " << c.error().message;
    EXPECT_EQ(c->allowed_lateness, Millis(millis)) << text;
  }
  for (const char* bad : {"inf", "nan", "-inf", ".nan", "0x10", "1e30s", "999999999999999d", "-5s",
                          "1.2.3s", ".", "s", "5 s"}) {
    ExpectRefused("timers", std::string("  allowed_lateness: ") + bad + "\n",
                  {"timers.allowed_lateness"});
  }
}

TEST_F(ConfigTest, MaxTimeAheadDefaultsTo180DaysAndReachesThePipeline) {
  auto c = LoadWithSection("timers", "  clock: wall\n");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->max_time_ahead, std::chrono::days(180));
  EXPECT_EQ(PipelineOptionsFor(*c, PipelineMode::kRun).max_time_ahead, std::chrono::days(180));
  c = LoadWithSection("timers", "  max_time_ahead: 1d\n");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(PipelineOptionsFor(*c, PipelineMode::kReplay).max_time_ahead, std::chrono::days(1));
  c = LoadWithSection("timers", "  max_time_ahead: 0\n");  // off
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->max_time_ahead, Millis(0));
  ExpectRefused("timers", "  max_time_ahead: -1d\n", {"timers.max_time_ahead"});
}

// yaml-cpp reads the first of a repeated key: the second was silently ignored (found by a
// helper). A key given twice, in any section, is refused by name.
TEST_F(ConfigTest, AKeyGivenTwiceIsRefused) {
  ExpectRefused("timers", "  allowed_lateness: 1h\n  allowed_lateness: 2h\n",
                {"timers.allowed_lateness", "given twice"});
  ExpectRefused("kafka", "  consumer:\n    fetch.wait.max.ms: 100\n    fetch.wait.max.ms: 200\n",
                {"kafka.consumer.fetch.wait.max.ms", "given twice"});
  // Top level: the section's first and second copy.
  ExpectRefused("sla", "  warning_fraction: 0.5\nsla:\n  warning_fraction: 0.6\n",
                {"sla", "given twice"});
}

// An empty config file (or one of comments only) is said to be empty, not "(top level):
// expected a mapping" (a QA trial).
TEST_F(ConfigTest, AnEmptyFileIsSaidToBeEmpty) {
  const std::string path = (dir_ / "iocstream.yaml").string();
  for (const char* text : {"", "# nothing yet\n"}) {
    std::ofstream(path) << text;
    auto c = LoadConfig(path);
    ASSERT_FALSE(c.has_value()) << text;
    EXPECT_EQ(c.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(c.error().message.find(path + ": the file is empty"), std::string::npos)
        << c.error().message;
  }
  std::ofstream(path) << "- a list\n";
  auto c = LoadConfig(path);
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().message.find("expected a mapping"), std::string::npos) << c.error().message;
}

// A second YAML document (after `---`) was dropped without a word: `sla: {pause_policy:
// kpi766}` there left the policy at pause (a helper's trial). Refused; a trailing `---` alone
// is harmless.
TEST_F(ConfigTest, ASecondYamlDocumentIsRefused) {
  auto c = LoadWithSection("http", "  port: 9470\n---\nsla: {pause_policy: kpi766}\n");
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().message.find("iocstream.yaml: holds several YAML documents (separated by "
                                   "'---'): only the first would be read; merge them into one"),
            std::string::npos)
      << c.error().message;
  const std::string path = (dir_ / "iocstream.yaml").string();
  std::string text;
  {
    std::ifstream in(path);
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const std::string second = "---\nsla: {pause_policy: kpi766}\n";
  text.replace(text.find(second), second.size(), "");
  std::ofstream(path) << text << "---\n";
  auto trailing = LoadConfig(path);
  EXPECT_TRUE(trailing.has_value()) << trailing.error().message;
}

// A directory where a file is expected is refused by its key (a QA trial: the calendar's was
// reported later, by its path alone, as the rules loaded).
TEST_F(ConfigTest, ADirectoryGivenForACalendarOrCatalogFileNamesTheKey) {
  const std::string path = (dir_ / "iocstream.yaml").string();
  const std::string shipped = std::string(IOCSTREAM_SOURCE_DIR) + "/config/calendars/vn-2026.yaml";
  std::ofstream(path) << "calendar:\n  files:\n    - " << dir_.string() << "\n";
  auto c = LoadConfig(path);
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().message.find("calendar.files"), std::string::npos) << c.error().message;
  EXPECT_NE(c.error().message.find("is a directory"), std::string::npos) << c.error().message;

  std::ofstream(path) << "calendar:\n  files:\n    - " << shipped
                      << "\nprocedures:\n  catalog: " << dir_.string() << "\n";
  c = LoadConfig(path);
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().message.find("procedures.catalog"), std::string::npos) << c.error().message;
  EXPECT_NE(c.error().message.find("is a directory"), std::string::npos) << c.error().message;
}

// So is a FIFO or a device (a reload blocked on a FIFO named as a calendar file: a helper's
// trial), and the config file itself must be a regular file.
TEST_F(ConfigTest, APipeOrADeviceGivenForAFileNamesTheKey) {
  const std::string path = (dir_ / "iocstream.yaml").string();
  const std::string fifo = (dir_ / "vn-2030.yaml").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::ofstream(path) << "calendar:\n  files:\n    - " << fifo << "\n";
  auto c = LoadConfig(path);
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(c.error().message.find("calendar.files"), std::string::npos) << c.error().message;
  EXPECT_NE(c.error().message.find(fifo + ": not a regular file (a pipe, FIFO, socket or device)"),
            std::string::npos)
      << c.error().message;
  auto config_fifo = LoadConfig(fifo);
  ASSERT_FALSE(config_fifo.has_value());
  EXPECT_EQ(config_fifo.error().message,
            fifo +
                ": not a regular file (a pipe, FIFO, socket or device): the config file must be "
                "a file, read whole");
}

// `state.dir: ~` (or an empty value) is YAML's null, which yaml-cpp reads as the string
// "null": the store went to a directory named null (found by a helper). A key with no value
// is refused by name, whatever its type.
TEST_F(ConfigTest, AKeyWithNoValueIsRefused) {
  for (const char* value : {"~", "", "null", "!!null", "!!null ''"}) {
    ExpectRefused("state", std::string("  dir: ") + value + "\n", {"state.dir", "no value"});
    ExpectRefused("state", std::string("  block_cache_mb: ") + value + "\n",
                  {"state.block_cache_mb", "no value"});
    ExpectRefused("timers", std::string("  allowed_lateness: ") + value + "\n",
                  {"timers.allowed_lateness", "no value"});
    ExpectRefused("sla", std::string("  pause_policy: ") + value + "\n",
                  {"sla.pause_policy", "no value"});
    ExpectRefused("kafka", std::string("  consumer:\n    fetch.wait.max.ms: ") + value + "\n",
                  {"kafka.consumer.fetch.wait.max.ms"});
  }
  ExpectRefused("state", "  dir: \"\"\n", {"state.dir", "must not be empty"});
  ExpectRefused("state", "  dir: \"  \"\n", {"state.dir", "must not be empty or blank"});
  // A quoted "~" is a string: a directory of that name, as the user wrote.
  auto c = LoadWithSection("state", "  dir: \"~\"\n");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(std::filesystem::path(c->state.dir).filename(), "~");
}

// http.peers: the other instances' host:port, each checked where the file is read (not when a
// request first asks them), with its index in the message.
TEST_F(ConfigTest, HttpPeersAreHostPortsOfOtherInstances) {
  auto c =
      LoadWithSection("http",
                      "  port: 9464\n  peers: [\"10.0.0.2:9464\", \"[::1]:9465\", \"ioc-3:80\"]\n"
                      "  peer_timeout: 500ms\n");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  ASSERT_EQ(c->http.peers.size(), 3u);
  EXPECT_EQ(c->http.peers[0].host, "10.0.0.2");
  EXPECT_EQ(c->http.peers[1].host, "::1");
  EXPECT_EQ(c->http.peers[1].port, 9465);
  EXPECT_EQ(c->http.peers[2].port, 80);
  EXPECT_EQ(c->http.peer_timeout, Millis(500));
  auto none = LoadWithSection("http", "  port: 9464\n");
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->http.peers.empty());
  EXPECT_EQ(none->http.peer_timeout, Millis(2000));

  ExpectRefused("http", "  peers: 10.0.0.2:9464\n", {"http.peers", "expected a list"});
  ExpectRefused("http", "  peers: [\"10.0.0.2\"]\n", {"http.peers[0]", "no port"});
  ExpectRefused("http", "  peers: [\"a:1\", \"http://b:2\"]\n",
                {"http.peers[1]", "without a scheme or path"});
  ExpectRefused("http", "  peers: [\"a:1\", \"a:1\"]\n", {"http.peers[1]", "listed twice"});
  ExpectRefused("http", "  peers: [~]\n", {"http.peers[0]", "expected host:port"});
  ExpectRefused("http", "  address: 127.0.0.1\n  port: 9470\n  peers: [\"127.0.0.1:9470\"]\n",
                {"http.peers[0]", "this instance's own", "list the other instances only"});
  ExpectRefused("http", "  peer_timeout: 0s\n", {"http.peer_timeout", "from 1ms to 60s"});
  ExpectRefused("http", "  peer_timeout: 2m\n", {"http.peer_timeout", "from 1ms to 60s"});
}

// NaN passed the [0, 1) check (no comparison with NaN holds) and turned the warnings off.
TEST_F(ConfigTest, WarningFractionRefusesNaN) {
  for (const char* bad : {".nan", ".inf", "-0.1", "1"}) {
    ExpectRefused("sla", std::string("  warning_fraction: ") + bad + "\n",
                  {"sla.warning_fraction", "[0, 1)"});
  }
}

// A host name was accepted and refused only when `run` started its HTTP server, after
// opening the state store; `replay` and `export` never said (a helper's finding). Then every
// host name was refused, "localhost" too, which users write (a user trial): a name is
// resolved, and refused when it resolves to nothing or to no address of this host.
TEST_F(ConfigTest, HttpAddressIsNumericOrAHostNameOfThisHost) {
  for (const char* bad : {"127.0.0.256", "no-such-host.invalid", "\"\""}) {
    ExpectRefused("http", std::string("  address: ") + bad + "\n",
                  {"iocstream.yaml: http.address:", "listen address"});
  }
  ExpectRefused("http", "  address: no-such-host.invalid\n",
                {"iocstream.yaml: http.address:", "cannot resolve", "'no-such-host.invalid'"});
  for (const char* good : {"127.0.0.1", "0.0.0.0", "::1", "\"::\"", "localhost"}) {
    auto c = LoadWithSection("http", std::string("  address: ") + good + "\n");
    EXPECT_TRUE(c.has_value()) << good << ": " << c.error().message;
  }
}

// "http.port: 0x1F90" was told "no leading zeros: YAML reads them as octal" (a user trial):
// hexadecimal and the other bases are named as such, with the decimal range.
TEST_F(ConfigTest, NonDecimalNumbersAreToldToBeDecimal) {
  for (const char* bad : {"0x1F90", "0X1f90", "0o17620", "0b1", "+0x50"}) {
    auto c = LoadWithSection("http", std::string("  port: ") + bad + "\n");
    ASSERT_FALSE(c.has_value()) << bad;
    const std::string& message = c.error().message;
    EXPECT_NE(message.find("iocstream.yaml: http.port: expected a whole number from 0 to 65535 in "
                           "decimal digits, got '" +
                           std::string(bad) + "'"),
              std::string::npos)
        << message;
    EXPECT_EQ(message.find("octal)"), std::string::npos) << message;
    EXPECT_EQ(message.find("leading zeros"), std::string::npos) << message;
  }
  ExpectRefused(
      "kafka", "  fetch_queue_mb: 0x40\n",
      {"kafka.fetch_queue_mb", "a whole number from 1 to", "in decimal digits", "'0x40'"});
  auto c = LoadWithSection("http", "  port: 8080\n");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->http.port, 8080);
}

// Every refusal of a whole number names the key's range ("8_080" and "017" got none, where
// "0x1F90" got one: a QA nit).
TEST_F(ConfigTest, EveryRefusedWholeNumberNamesTheRange) {
  ExpectRefused("http", "  port: 8_080\n",
                {"http.port: expected a whole number from 0 to 65535, got '8_080'",
                 "(digits only, without '_')"});
  ExpectRefused("http", "  port: 017\n",
                {"http.port: expected a whole number from 0 to 65535, got '017'", "leading zeros"});
  ExpectRefused("http", "  port: 8080.5\n",
                {"http.port: expected a whole number from 0 to 65535, got '8080.5'"});
  ExpectRefused("kafka", "  max_batch: 05\n",
                {"kafka.max_batch: expected a whole number from 1 to 1000000, got '05'"});
}

// A commit interval past the steady clock's range (9223372036855 ms and up) overflowed and
// committed after every poll batch instead of never (a QA trial): 100 years at most.
TEST_F(ConfigTest, ACommitIntervalIsAtMostAHundredYears) {
  ExpectRefused("state", "  commit_interval_ms: 9223372036855\n",
                {"state.commit_interval_ms", "at most 3162240000000 (100 years)"});
  ExpectRefused("state", "  commit_interval_ms: 18446744073709551615\n",
                {"state.commit_interval_ms", "at most 3162240000000 (100 years)"});
  auto c = LoadWithSection("state", "  commit_interval_ms: 3162240000000\n");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->state.commit_interval_ms, size_t{3162240000000});
}

// A zero size was refused only by the store, in a message that then suggested another
// process held the lock ("block_cache" holds "lock").
TEST_F(ConfigTest, ZeroCacheAndWriteBufferSizesAreRefusedByKey) {
  ExpectRefused("state", "  write_buffer_mb: 0\n", {"state.write_buffer_mb", "at least 1"});
  ExpectRefused("state", "  block_cache_mb: 0\n", {"state.block_cache_mb", "at least 1"});
  // Not a number: the message names the key's own lower bound, not 0 (a QA trial).
  ExpectRefused("state", "  block_cache_mb: lots\n",
                {"state.block_cache_mb", "expected a whole number from 1 to", "got 'lots'"});
  ExpectRefused("state", "  write_buffer_mb:\n",
                {"state.write_buffer_mb", "no value (expected a whole number from 1 to"});
}

// A replay takes larger commits and dossier cache where the config is silent, and the
// config's values where it names them, 0 included; run keeps its own defaults.
TEST_F(ConfigTest, ReplayTakesLargerCommitsOnlyWhereTheConfigIsSilent) {
  // (records, bytes per commit, dossier cache bytes) of a command's pipeline.
  const auto bounds = [](const Config& c, PipelineMode mode) {
    const PipelineOptions o = PipelineOptionsFor(c, mode);
    return std::tuple(o.commit_max_records, o.commit_max_bytes, o.cache_bytes);
  };
  constexpr size_t kMiB = size_t{1} << 20;
  auto silent = LoadWithState("  dir: state\n");
  ASSERT_TRUE(silent.has_value()) << silent.error().message;
  EXPECT_EQ(bounds(*silent, PipelineMode::kRun), std::tuple(size_t{100000}, 64 * kMiB, 64 * kMiB));
  ApplyReplayStateDefaults(*silent);
  EXPECT_EQ(bounds(*silent, PipelineMode::kReplay),
            std::tuple(size_t{400000}, 96 * kMiB, 128 * kMiB));
  EXPECT_EQ(silent->state.disable_wal, std::optional<bool>(true));
  EXPECT_EQ(silent->state.low_priority_background, std::optional<bool>(true));

  auto named = LoadWithState(
      "  dossier_cache_mb: 64\n  commit_max_records: 0\n  commit_max_mb: 16\n"
      "  disable_wal: false\n  low_priority_background: false\n");
  ASSERT_TRUE(named.has_value()) << named.error().message;
  ApplyReplayStateDefaults(*named);
  EXPECT_EQ(bounds(*named, PipelineMode::kReplay), std::tuple(size_t{0}, 16 * kMiB, 64 * kMiB));
  EXPECT_EQ(named->state.disable_wal, std::optional<bool>(false));
  EXPECT_EQ(named->state.low_priority_background, std::optional<bool>(false));
}

TEST_F(ConfigTest, CommitMaxMbBoundsTheBytesPendingACommit) {
  auto c = LoadWithState("  dir: state\n");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->state.CommitMaxMb(), 64u);
  EXPECT_EQ(PipelineOptionsFor(*c, PipelineMode::kRun).commit_max_bytes, size_t{64} << 20);
  c = LoadWithState("  commit_max_mb: 0\n");  // no byte bound
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(PipelineOptionsFor(*c, PipelineMode::kReplay).commit_max_bytes, 0u);
  for (const char* bad : {"-1", "lots", "1.5", "99999999999999999999", "1048577"}) {
    c = LoadWithState(std::string("  commit_max_mb: ") + bad + "\n");
    ASSERT_FALSE(c.has_value()) << bad;
    EXPECT_NE(c.error().message.find("state.commit_max_mb"), std::string::npos)
        << c.error().message;
  }
  // 2^44 + 1 MiB would wrap to 1 MiB in bytes: every size in MiB is bounded.
  for (const char* key :
       {"block_cache_mb", "write_buffer_mb", "dossier_cache_mb", "dossier_filter_mb"}) {
    c = LoadWithState(std::string("  ") + key + ": 17592186044417\n");
    ASSERT_FALSE(c.has_value()) << key;
    EXPECT_NE(c.error().message.find(std::string("state.") + key), std::string::npos)
        << c.error().message;
  }
}

TEST_F(ConfigTest, DossierFilterMbIsReadAndBounded) {
  auto c = LoadWithState("  dossier_filter_mb: 0\n");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->state.dossier_filter_mb, 0u);
  c = LoadWithState("  dossier_filter_mb: 4096\n");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->state.dossier_filter_mb, 4096u);
  c = LoadWithState("  dossier_filter_mb: 4097\n");
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().message.find("state.dossier_filter_mb"), std::string::npos)
      << c.error().message;
}

TEST_F(ConfigTest, FetchQueueMbBoundsTheConsumersPrefetchQueue) {
  auto c = LoadWithSection("kafka", "  max_batch: 100\n");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->kafka.fetch_queue_mb, 128u);
  c = LoadWithSection("kafka", "  fetch_queue_mb: 2047\n");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->kafka.fetch_queue_mb, 2047u);
  for (const char* bad : {"0", "2048", "-1", "lots"}) {
    c = LoadWithSection("kafka", std::string("  fetch_queue_mb: ") + bad + "\n");
    ASSERT_FALSE(c.has_value()) << bad;
    EXPECT_NE(c.error().message.find("kafka.fetch_queue_mb"), std::string::npos)
        << c.error().message;
  }
  // The librdkafka properties it sets are not passed through on their own.
  for (const char* owned : {"queued.max.messages.kbytes", "queued.min.messages"}) {
    c = LoadWithSection("kafka", std::string("  consumer:\n    ") + owned + ": 1000\n");
    ASSERT_FALSE(c.has_value()) << owned;
    EXPECT_NE(c.error().message.find(std::string("kafka.consumer.") + owned), std::string::npos)
        << c.error().message;
    EXPECT_NE(c.error().message.find("kafka.fetch_queue_mb"), std::string::npos)
        << c.error().message;
  }
}

TEST_F(ConfigTest, ChangelogTopicIsOffByDefaultAndMustBeATopicOfItsOwn) {
  auto c = LoadWithSection("kafka", "  max_batch: 100\n");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->kafka.changelog_topic, "");
  c = LoadWithSection("kafka", "  changelog_topic: iocstream-state-changelog\n");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->kafka.changelog_topic, "iocstream-state-changelog");
  ExpectRefused("kafka", "  changelog_topic: dossier-events\n",
                {"kafka.changelog_topic", "a topic of its own", "dossier-events"});
  ExpectRefused("kafka", "  alerts_topic: a\n  changelog_topic: a\n",
                {"kafka.changelog_topic", "a topic of its own"});
}

// Found by a user trial: "064" was read as octal 52, and property errors did not name the key
// (a non-scalar value: "yaml-cpp: bad conversion"; an unknown property: only when the client
// was created, without the file).
TEST_F(ConfigTest, LeadingZerosAndBadKafkaPropertiesNameTheKey) {
  for (const char* bad : {"064", "03000", "00", "+07"}) {
    ExpectRefused("kafka", std::string("  fetch_queue_mb: ") + bad + "\n",
                  {"kafka.fetch_queue_mb", "leading zeros"});
  }
  // A plain zero is a number.
  ExpectRefused("kafka", "  fetch_queue_mb: 0\n", {"kafka.fetch_queue_mb", "must be at least 1"});
  ExpectRefused("kafka", "  consumer:\n    fetch.wait.max.ms: [1]\n",
                {"kafka.consumer.fetch.wait.max.ms"});
  ExpectRefused("kafka", "  producer:\n    bogus.property: 1\n",
                {"kafka.producer.bogus.property", "iocstream.yaml"});
  ExpectRefused("kafka", "  consumer:\n    fetch.wait.max.ms: lots\n",
                {"kafka.consumer.fetch.wait.max.ms"});
  auto c = LoadWithSection("kafka", "  consumer:\n    fetch.wait.max.ms: 50\n");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->kafka.consumer.at("fetch.wait.max.ms"), "50");
}

// Values librdkafka accepts one by one but not together (max.poll.interval.ms below
// session.timeout.ms; acks other than all with idempotence) were refused only when `run`
// created its consumer, after its topics, as "kafka consumer: `max.poll.interval.ms`must be
// >= `session.timeout.ms`": no file, no key (a user trial).
TEST_F(ConfigTest, KafkaPropertiesRefusedTogetherNameTheFileAndTheKey) {
  ExpectRefused("kafka", "  consumer:\n    max.poll.interval.ms: 1000\n",
                {"iocstream.yaml: kafka.consumer.max.poll.interval.ms: librdkafka refuses the "
                 "consumer properties together: ",
                 "session.timeout.ms"});
  ExpectRefused("kafka", "  producer:\n    acks: 1\n",
                {"iocstream.yaml: kafka.producer.acks: librdkafka refuses the producer properties "
                 "together: "});
  // librdkafka names max.in.flight.requests.per.connection by its alias, max.in.flight.
  ExpectRefused("kafka", "  producer:\n    max.in.flight.requests.per.connection: 10\n",
                {"iocstream.yaml: kafka.producer.max.in.flight.requests.per.connection: librdkafka "
                 "refuses the producer properties together: "});
  ExpectRefused("kafka", "  consumer:\n    max.poll.interval.ms: abc\n",
                {"iocstream.yaml: kafka.consumer.max.poll.interval.ms: librdkafka refuses 'abc'"});
  auto c = LoadWithSection(
      "kafka", "  consumer:\n    max.poll.interval.ms: 60000\n  producer:\n    acks: all\n");
  ASSERT_TRUE(c.has_value()) << c.error().message;
}

// Pass-through properties overrode those iocstream sets itself: enable.auto.commit broke
// exactly-once silently, group.id contradicted kafka.group_id (found by a helper).
TEST_F(ConfigTest, PropertiesIocstreamSetsAreRefusedInThePassThrough) {
  ExpectRefused("kafka", "  consumer:\n    enable.auto.commit: true\n",
                {"kafka.consumer.enable.auto.commit", "exactly-once"});
  ExpectRefused("kafka", "  consumer:\n    group.id: other\n",
                {"kafka.consumer.group.id", "set kafka.group_id instead"});
  ExpectRefused("kafka", "  consumer:\n    isolation.level: read_uncommitted\n",
                {"kafka.consumer.isolation.level"});
  ExpectRefused("kafka", "  consumer:\n    metadata.broker.list: 127.0.0.1:1\n",
                {"kafka.consumer.metadata.broker.list", "kafka.bootstrap_servers"});
  ExpectRefused("kafka", "  producer:\n    transactional.id: x\n",
                {"kafka.producer.transactional.id"});
  ExpectRefused("kafka", "  producer:\n    bootstrap.servers: 127.0.0.1:1\n",
                {"kafka.producer.bootstrap.servers", "kafka.bootstrap_servers"});
  // Tuning stays open.
  auto c = LoadWithSection("kafka",
                           "  consumer:\n    auto.offset.reset: latest\n  producer:\n"
                           "    linger.ms: 20\n");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->kafka.producer.at("linger.ms"), "20");
}

// Topics that collide or that the broker refuses failed only at start, as a runtime failure
// (exit 2) naming neither file nor key (found by a helper).
TEST_F(ConfigTest, TopicsMustBeDistinctAndValidNames) {
  ExpectRefused("kafka", "  events_topic: ev\n  alerts_topic: ev\n",
                {"kafka.alerts_topic", "a topic of its own", "kafka.events_topic's ev"});
  ExpectRefused("kafka", "  alerts_topic: al\n  dead_letter_topic: al\n",
                {"kafka.dead_letter_topic", "kafka.alerts_topic's al"});
  ExpectRefused("kafka", "  events_topic: \"bad topic!\"\n",
                {"kafka.events_topic", "only ASCII letters, digits"});
  ExpectRefused("kafka", "  dead_letter_topic: ..\n", {"kafka.dead_letter_topic", "not a topic"});
  ExpectRefused("kafka", "  events_topic: " + std::string(250, 'e') + "\n",
                {"kafka.events_topic", "at most 249"});
  auto c = LoadWithSection("kafka", "  events_topic: a.b_c-D9\n");
  ASSERT_TRUE(c.has_value()) << c.error().message;
}

// A whole number too large for its key said "expected a whole number"; the filter's own bound
// (4096) was named only below the bound of every *_mb key (found by a helper).
TEST_F(ConfigTest, NumbersOutOfRangeNameTheRange) {
  ExpectRefused("replay", "  partitions: 2147483648\n",
                {"replay.partitions", "out of range: 2147483648 (at most 100000)"});
  ExpectRefused("replay", "  partitions: abc\n", {"replay.partitions", "expected a whole number"});
  for (const char* huge : {"5000", "18446744073709551615"}) {
    ExpectRefused("state", std::string("  dossier_filter_mb: ") + huge + "\n",
                  {"state.dossier_filter_mb", "must be at most 4096"});
  }
  ExpectRefused("state", "  block_cache_mb: 99999999999999999999\n",
                {"state.block_cache_mb", "out of range: 99999999999999999999"});
}

// A number that does not fit its key's type named the type's bounds, not the key's: `-5` for
// kafka.max_batch was "at least 0", and 0 then "must be at least 1" (a QA trial).
TEST_F(ConfigTest, NumbersOutOfRangeNameTheKeysOwnBounds) {
  ExpectRefused("kafka", "  max_batch: -5\n", {"kafka.max_batch", "out of range: -5 (at least 1)"});
  ExpectRefused("kafka", "  max_batch: 0\n", {"kafka.max_batch", "must be at least 1"});
  ExpectRefused("kafka", "  partitions: -99999999999\n",
                {"kafka.partitions", "out of range: -99999999999 (at least 1)"});
  ExpectRefused("kafka", "  fetch_queue_mb: -1\n", {"kafka.fetch_queue_mb", "(at least 1)"});
  ExpectRefused("kafka", "  fetch_queue_mb: 99999999999999999999\n",
                {"kafka.fetch_queue_mb", "(at most 2047)"});
  for (const char* key : {"block_cache_mb", "write_buffer_mb"}) {
    ExpectRefused("state", std::string("  ") + key + ": -1\n", {key, "(at least 1)"});
  }
  for (const char* key : {"dossier_cache_mb", "commit_max_mb"}) {
    ExpectRefused("state", std::string("  ") + key + ": 99999999999999999999\n",
                  {key, "(at most 1048576)"});
    ExpectRefused("state", std::string("  ") + key + ": -1\n", {key, "(at least 0)"});
  }
  ExpectRefused("state", "  block_cache_mb: 99999999999999999999\n",
                {"state.block_cache_mb", "(at most 1048576)"});
  ExpectRefused("state", "  dossier_filter_mb: 99999999999999999999\n",
                {"state.dossier_filter_mb", "(at most 4096)"});
  ExpectRefused("http", "  port: 99999999999\n", {"http.port", "(at most 65535)"});
  ExpectRefused("http", "  port: -99999999999\n", {"http.port", "(at least 0)"});
  // Within the type but outside the key's bounds: the same bound, from the same place.
  ExpectRefused("kafka", "  fetch_queue_mb: 2048\n",
                {"kafka.fetch_queue_mb", "must be at most 2047"});
  ExpectRefused("http", "  port: 65536\n", {"http.port", "must be at most 65535"});
  ExpectRefused("http", "  port: -1\n", {"http.port", "must be at least 0"});
  ExpectRefused("state", "  commit_max_mb: 1048577\n",
                {"state.commit_max_mb", "must be at most 1048576 (1 TiB)"});
  ExpectRefused("state", "  write_buffer_mb: 0\n", {"state.write_buffer_mb", "must be at least 1"});
  ExpectRefused("replay", "  partitions: 0\n", {"replay.partitions", "must be at least 1"});
  // Bounds on what is allocated per batch or per partition (a QA trial: kafka.max_batch
  // 18446744073709551615 aborted in vector::reserve; 100,000,000 replay partitions crawled in
  // 1.4 GB).
  ExpectRefused("kafka", "  max_batch: 18446744073709551615\n",
                {"kafka.max_batch", "must be at most 1000000"});
  ExpectRefused("kafka", "  max_batch: 1000000000000\n",
                {"kafka.max_batch", "must be at most 1000000"});
  ExpectRefused("replay", "  partitions: 100000000\n", {"replay.partitions", "at most 100000"});
  ExpectRefused("kafka", "  partitions: 100001\n", {"kafka.partitions", "at most 100000"});
  ASSERT_TRUE(LoadWithSection("kafka", "  max_batch: 1000000\n  partitions: 100000\n").has_value());
  ExpectRefused("replay", "  partitions: -99999999999\n", {"replay.partitions", "(at least 1)"});
  // Keys without bounds of their own keep their type's.
  ExpectRefused("state", "  commit_max_records: -1\n",
                {"state.commit_max_records", "(at least 0)"});
}

}  // namespace
}  // namespace iocstream::app
