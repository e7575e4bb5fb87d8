// The state changelog (kafka.changelog_topic, DESIGN.md "Scale-out") through a real broker: a
// partition that moves to another instance continues from its last owner's state instead of
// being rebuilt from the events topic, and raises none of that owner's alerts again.
// IOCSTREAM_NEEDS_KAFKA
#include "app/changelog.h"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>

#include <atomic>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "integration/harness.h"
#include "iocstream/ingest/kafka_source.h"

namespace iocstream::testing {
namespace {

using app::ChangelogMarker;
using app::ChangelogOptions;
using app::GroupMetadata;
using app::StateChangelog;

const std::string kExtra = kWatermarkRunConfig;

uint64_t Consumed(const std::string& out) {
  std::smatch m;
  static const std::regex re(R"(consumed (\d+) = applied)");
  return std::regex_search(out, m, re) ? std::stoull(m[1]) : ~uint64_t{0};
}

// `config` with `changelog_topic` set under kafka.
std::string WithChangelog(const std::string& config, const std::string& topic) {
  std::string text = ReadFile(config);
  const std::string anchor = "  partitions: 6\n";
  text.replace(text.find(anchor), anchor.size(), anchor + "  changelog_topic: " + topic + "\n");
  std::ofstream(config) << text;
  return config;
}

// The CSV's header and its rows [begin, end).
std::string CsvPart(const std::string& csv, size_t begin, size_t end) {
  std::istringstream in(csv);
  std::string header;
  std::getline(in, header);
  std::string out = header + "\n";
  size_t row = 0;
  for (std::string line; std::getline(in, line); ++row) {
    if (row >= begin && row < end) out += line + "\n";
  }
  return out;
}

// The encoded state of one dossier `id`, in partition 0, as a commit hands it to the changelog.
state::EncodedDossiers OneDossierOfPartition0(const std::string& id) {
  DossierState dossier;
  dossier.dossier_id = id;
  dossier.partition = PartitionId(0);
  state::EncodedDossiers dossiers;
  dossiers.Add(dossier);
  return dossiers;
}

TEST(ChangelogTest, AMovedPartitionContinuesFromItsLastOwnersStateAndRepeatsNoAlert) {
  TempDir dir;
  const std::string prefix = UniqueName("changelog");
  const std::string config =
      WithChangelog(WriteConfig(dir, prefix, kExtra), prefix + "-state-changelog");
  const std::string mapping = SourceDir() + "/config/mappings/boston-legacy.yaml";
  const std::string csv = ReadFile(SourceDir() + "/tests/data/boston/boston-legacy.csv");
  const std::string part1 = dir / "part1.csv";
  const std::string part2 = dir / "part2.csv";
  std::ofstream(part1) << CsvPart(csv, 0, 120);
  std::ofstream(part2) << CsvPart(csv, 120, 100000);

  auto import1 =
      RunIocstream({"import", "--config", config, "--mapping", mapping, part1, "--no-progress"});
  ASSERT_EQ(import1.exit_code, 0) << import1.err;
  // Instance A applies the first part, writing its state to the changelog as it commits.
  auto a = RunIocstream({"run", "--config", config, "--state-dir", dir / "a",
                         "--summary-when-caught-up", "--exit-when-caught-up"});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  const uint64_t first = Consumed(a.out);
  ASSERT_GT(first, 50u) << a.out;
  EXPECT_NE(a.err.find("state changelog: " + prefix + "-state-changelog (6 partitions)"),
            std::string::npos)
      << a.err;

  auto import2 =
      RunIocstream({"import", "--config", config, "--mapping", mapping, part2, "--no-progress"});
  ASSERT_EQ(import2.exit_code, 0) << import2.err;
  // Instance B, with an empty state directory, gets the partitions: it restores them from
  // the changelog and consumes only the second part.
  auto b = RunIocstream({"run", "--config", config, "--state-dir", dir / "b",
                         "--summary-when-caught-up", "--exit-when-caught-up"});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_NE(b.err.find(": restored ("), std::string::npos) << b.err;
  const uint64_t second = Consumed(b.out);
  ASSERT_GT(second, 20u) << b.out;

  // The reference: one instance without a changelog (a group and alerts topic of its own)
  // reading the same topic, both parts, into one state.
  std::string plain = ReadFile(config);
  for (const std::string& name : {std::string("-group"), std::string("-alerts")}) {
    plain.replace(plain.find(prefix + name), prefix.size(), prefix + "-reference");
  }
  plain.erase(plain.find("  changelog_topic:"), plain.find('\n', plain.find("  changelog_topic:")) -
                                                    plain.find("  changelog_topic:") + 1);
  const std::string reference_config = dir / "reference.yaml";
  std::ofstream(reference_config) << plain;
  auto whole = RunIocstream({"run", "--config", reference_config, "--state-dir", dir / "reference",
                             "--summary-when-caught-up", "--exit-when-caught-up"});
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  EXPECT_EQ(whole.err.find("state changelog:"), std::string::npos) << whole.err;
  EXPECT_EQ(Consumed(whole.out), first + second) << whole.out;
  {
    // `run` records its assignment at each rebalance for `serve`, and keeps it when it stops
    // (closing revokes every partition): the group's only member had all six.
    state::StateStoreOptions options;
    options.path = dir / "reference";
    auto store = state::StateStore::Open(options);
    ASSERT_TRUE(store.has_value()) << store.error().message;
    auto assignment = (*store)->GetAssignment();
    ASSERT_TRUE(assignment && *assignment);
    EXPECT_EQ(**assignment,
              (std::set<PartitionId>{PartitionId(0), PartitionId(1), PartitionId(2), PartitionId(3),
                                     PartitionId(4), PartitionId(5)}));
  }
  const std::string reference = ExportCsv(config, dir / "reference", "dossiers");
  EXPECT_GT(std::count(reference.begin(), reference.end(), '\n'), 50);
  EXPECT_EQ(ExportCsv(config, dir / "b", "dossiers"), reference);
  EXPECT_EQ(ExportCsv(config, dir / "b", "aggregates"),
            ExportCsv(config, dir / "reference", "aggregates"));

  // A and B together published each of the reference's alerts once.
  const auto Published = [](const std::string& topic, size_t at_least) {
    std::multiset<std::string> values;
    for (const KafkaRecord& r : ConsumeAll(topic, at_least, std::chrono::seconds(8))) {
      values.insert(r.value);
    }
    return values;
  };
  const auto expected = Published(prefix + "-reference-alerts", 1000);
  ASSERT_GT(expected.size(), 5u);
  EXPECT_EQ(Published(prefix + "-alerts", 1000), expected);

  // A comes back with the state it had: stale, as B moved the partitions on. It restores them
  // (the changelog's last marker is not the one it stored), consumes nothing, and ends equal.
  auto a_again = RunIocstream({"run", "--config", config, "--state-dir", dir / "a",
                               "--summary-when-caught-up", "--exit-when-caught-up"});
  ASSERT_EQ(a_again.exit_code, 0) << a_again.err;
  EXPECT_EQ(Consumed(a_again.out), 0u) << a_again.out << a_again.err;
  EXPECT_NE(a_again.err.find(": restored ("), std::string::npos) << a_again.err;
  EXPECT_EQ(ExportCsv(config, dir / "a", "dossiers"), reference);
  EXPECT_EQ(ExportCsv(config, dir / "a", "aggregates"),
            ExportCsv(config, dir / "reference", "aggregates"));

  // Once more: now its state is the changelog's, and nothing is read back.
  auto a_current = RunIocstream({"run", "--config", config, "--state-dir", dir / "a",
                                 "--summary-when-caught-up", "--exit-when-caught-up"});
  ASSERT_EQ(a_current.exit_code, 0) << a_current.err;
  EXPECT_EQ(a_current.err.find(": restored ("), std::string::npos) << a_current.err;
  EXPECT_NE(a_current.err.find(": current; resuming at offset"), std::string::npos)
      << a_current.err;

  // A replay into a store the changelog keeps would change that copy only (a QA trial: the
  // backfill vanished once its partitions moved): refused, whatever its config says, and the
  // store left as it was.
  const std::string events = WriteOneReceipt(dir);
  for (const std::string& c : {config, reference_config}) {
    auto replay = RunIocstream({"replay", "--config", c, "--state-dir", dir / "a", events});
    EXPECT_EQ(replay.exit_code, 1) << replay.err;
    EXPECT_NE(replay.err.find("is kept in a changelog topic"), std::string::npos) << replay.err;
    // Refused, it is not told that it goes on from the state (it warned so first).
    EXPECT_EQ(replay.err.find("goes on from it"), std::string::npos) << replay.err;
  }
  EXPECT_EQ(ExportCsv(config, dir / "a", "dossiers"), reference);
}

// A member frozen past the group's session timeout (SIGSTOP) while events flow: the group gives
// its partitions to the other member, which restores them. When the frozen one wakes, it must
// not write what it had pending to the changelog after the new owner's records: it sees the
// stall and writes nothing more. Each member's directory, consolidated alone afterwards, ends
// equal to one uninterrupted instance, and no alert of that instance is missing.
TEST(ChangelogTest, AMemberFrozenPastItsSessionWritesNothingStaleToTheChangelog) {
  TempDir dir;
  const std::string prefix = UniqueName("changelog-stall");
  const std::string config =
      WithChangelog(WriteConfig(dir, prefix,
                                kExtra + "procedures:\n  catalog: " + SourceDir() +
                                    "/config/procedures/catalog.yaml\n"),
                    prefix + "-state-changelog");
  Child a({"run", "--config", config, "--state-dir", dir / "a"}, dir.path());
  Child b({"run", "--config", config, "--state-dir", dir / "b"}, dir.path());
  for (int i = 0; i < 300; ++i) {
    if (a.Stderr().find("kafka: assigned") != std::string::npos &&
        b.Stderr().find("kafka: assigned") != std::string::npos) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_NE(a.Stderr().find("kafka: assigned"), std::string::npos) << a.Stderr();
  ASSERT_NE(b.Stderr().find("kafka: assigned"), std::string::npos) << b.Stderr();
  // About 14,000 events at 1,500 a second; A is frozen 3 s in, for 9 s (session: 6 s).
  Child simulate({"simulate", "--config", config, "--units",
                  SourceDir() + "/config/simulator/phu-tho-units.csv", "--procedure-pools",
                  SourceDir() + "/config/simulator/procedure-pools.csv", "--dossiers", "3000",
                  "--seed", "12", "--rate", "1500", "--topic", prefix + "-events", "--no-progress"},
                 dir.path());
  std::this_thread::sleep_for(std::chrono::seconds(3));
  a.Kill(SIGSTOP);
  std::this_thread::sleep_for(std::chrono::seconds(9));
  a.Kill(SIGCONT);
  ASSERT_EQ(simulate.Wait(std::chrono::seconds(120)), 0) << simulate.Stderr();
  // A stops by itself (exit status 2) once it sees the stall (or its commit is fenced).
  const std::optional<int> a_status = a.Wait(std::chrono::seconds(60));
  std::this_thread::sleep_for(std::chrono::seconds(3));
  b.Kill(SIGTERM);
  ASSERT_EQ(b.Wait(std::chrono::seconds(60)), 0) << b.Stderr();
  EXPECT_EQ(a_status, 2) << a.Stderr();
  EXPECT_NE(a.Stderr().find("this process was stalled for"), std::string::npos) << a.Stderr();

  // The reference, and each directory consolidated alone (it restores what the other moved on).
  std::string plain = ReadFile(config);
  for (const std::string& name : {std::string("-group"), std::string("-alerts")}) {
    plain.replace(plain.find(prefix + name), prefix.size(), prefix + "-reference");
  }
  const std::string reference_config = dir / "reference.yaml";
  std::ofstream(reference_config) << plain.substr(0, plain.find("  changelog_topic:"))
                                  << plain.substr(
                                         plain.find('\n', plain.find("  changelog_topic:")) + 1);
  auto whole = RunIocstream({"run", "--config", reference_config, "--state-dir", dir / "reference",
                             "--exit-when-caught-up"});
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  const std::string reference = ExportCsv(config, dir / "reference", "dossiers");
  EXPECT_GT(std::count(reference.begin(), reference.end(), '\n'), 1000);
  for (const char* member : {"a", "b"}) {
    SCOPED_TRACE(member);
    auto alone = RunIocstream({"run", "--config", config, "--state-dir", dir / member,
                               "--summary-when-caught-up", "--exit-when-caught-up"});
    ASSERT_EQ(alone.exit_code, 0) << alone.err;
    EXPECT_EQ(ExportCsv(config, dir / member, "dossiers"), reference);
    EXPECT_EQ(ExportCsv(config, dir / member, "aggregates"),
              ExportCsv(config, dir / "reference", "aggregates"));
  }
  std::set<std::string> expected;
  for (const KafkaRecord& r :
       ConsumeAll(prefix + "-reference-alerts", 1000000, std::chrono::seconds(8))) {
    expected.insert(r.value);
  }
  std::set<std::string> published;
  for (const KafkaRecord& r : ConsumeAll(prefix + "-alerts", 1000000, std::chrono::seconds(8))) {
    published.insert(r.value);
  }
  ASSERT_GT(expected.size(), 100u);
  EXPECT_EQ(published, expected);
}

// KIP-447's other half (ingest::KafkaSourceOptions::stable_offsets_wait): a previous owner
// whose offsets the group accepted, but who had not committed its transaction when it lost the
// partition (stalled between the two), is waited for: the new owner reads the changelog once
// that transaction ended, and finds its records there, not after its own.
TEST(ChangelogTest, ANewOwnerWaitsForThePreviousOwnersTransactionInFlight) {
  const std::string prefix = UniqueName("inflight");
  const std::string events = prefix + "-events";
  const std::string topic = prefix + "-changelog";
  CreateTopic(events, 2);
  CreateTopic(topic, 2, {{"cleanup.policy", "compact"}});
  ChangelogOptions log_options;
  log_options.bootstrap_servers = Bootstrap();
  log_options.topic = topic;
  log_options.timeout = Millis(30000);
  auto log = StateChangelog::Open(log_options);
  ASSERT_TRUE(log) << log.error().message;

  ingest::KafkaSourceOptions options;
  options.bootstrap_servers = Bootstrap();
  options.group_id = prefix + "-group";
  options.topics = {events};
  options.properties = {{"session.timeout.ms", "6000"}, {"heartbeat.interval.ms", "500"}};
  options.stable_offsets_wait = Millis(30000);
  std::atomic<bool> armed{false};
  std::atomic<int> assignments{0};
  std::optional<std::string> seen;  // the last changelog record when partition 0 was assigned
  auto handler = [&] {
    ingest::RebalanceHandler h;
    h.stored_offset = [&](const TopicPartition& tp) -> std::optional<Offset> {
      if (armed.load() && tp.partition == PartitionId(0)) {
        auto last = (*log)->Last(PartitionId(0));
        seen = last && last->has_value() ? (*last)->key : "";
      }
      return std::nullopt;
    };
    h.revoked = [](const std::vector<TopicPartition>&, bool) {};
    h.assigned = [&](const std::vector<TopicPartition>&) { ++assignments; };
    return h;
  };
  auto a = ingest::KafkaSource::Open(options, handler());
  ASSERT_TRUE(a) << a.error().message;
  for (int i = 0; i < 600 && (*a)->Assignment().size() < 2; ++i) ASSERT_TRUE((*a)->Poll());
  ASSERT_EQ((*a)->Assignment().size(), 2u);

  // A's changelog transaction: offsets accepted under A's generation, records sent, and the
  // commit held back (A stalled) until 3 s after B joined.
  const std::string key = "dH44.246-260105-0003";
  rd_kafka_t* writer = OpenTransactionWithOneRecord(topic + ".a", topic, key);
  ASSERT_NE(writer, nullptr);
  rd_kafka_topic_partition_list_t* offsets = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(offsets, events.c_str(), 0)->offset = 3;
  rd_kafka_error_t* sent =
      rd_kafka_send_offsets_to_transaction(writer, offsets, (*a)->GroupMetadata().get(), 30000);
  rd_kafka_topic_partition_list_destroy(offsets);
  ASSERT_EQ(sent, nullptr) << rd_kafka_error_string(sent);
  ASSERT_EQ(rd_kafka_flush(writer, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);

  armed = true;
  const int before = assignments.load();
  auto b = ingest::KafkaSource::Open(options, handler());
  ASSERT_TRUE(b) << b.error().message;
  std::thread commit([writer] {
    std::this_thread::sleep_for(std::chrono::seconds(3));
    rd_kafka_error_t* e = rd_kafka_commit_transaction(writer, 30000);
    if (e != nullptr) rd_kafka_error_destroy(e);
  });
  for (int i = 0; i < 1200 && (assignments.load() < before + 2 || !seen); ++i) {
    ASSERT_TRUE((*a)->Poll());
    ASSERT_TRUE((*b)->Poll());
  }
  commit.join();
  rd_kafka_destroy(writer);
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(*seen, key);  // without the wait: the transaction was open, the partition empty
  (*a)->Close();
  (*b)->Close();
}

// A store written without a changelog: turning it on writes the store's state of each
// partition to the changelog (seeds it), so that a later move loses nothing.
// A changelog topic an administrator made with Kafka's default delete policy lost the dossiers
// whose records passed their retention when a partition moved (a QA trial: 100 of 201), and
// one with fewer partitions than the events topic stopped the instance in its first
// rebalance, again and again: both are refused at start, naming the setting.
TEST(ChangelogTest, AnExistingChangelogTopicThatDeletesOrIsTooSmallIsRefusedAtStart) {
  TempDir dir;
  const std::string prefix = UniqueName("changelog-admin");
  const std::string config =
      WithChangelog(WriteConfig(dir, prefix, kExtra), prefix + "-state-changelog");
  CreateTopic(prefix + "-events", 6);
  // `run` on a changelog topic made beforehand with `partitions` and `topic_config`.
  bool made = false;
  const auto run_on = [&](int partitions, const std::map<std::string, std::string>& topic_config) {
    if (made) DeleteTopic(prefix + "-state-changelog");
    CreateTopic(prefix + "-state-changelog", partitions, topic_config);
    made = true;
    return RunIocstream({"run", "--config", config, "--exit-when-caught-up"});
  };
  auto deletes = run_on(6, {{"cleanup.policy", "delete"}, {"retention.ms", "10000"}});
  EXPECT_EQ(deletes.exit_code, 1) << deletes.err;
  EXPECT_NE(deletes.err.find("has cleanup.policy=delete (retention.ms=10000, retention.bytes="),
            std::string::npos)
      << deletes.err;

  auto small = run_on(3, {{"cleanup.policy", "compact"}});
  EXPECT_EQ(small.exit_code, 1) << small.err;
  EXPECT_NE(
      small.err.find("has 3 partition(s), fewer than the 6 of events topic " + prefix + "-events"),
      std::string::npos)
      << small.err;

  auto fine = run_on(6, {{"cleanup.policy", "compact"}});
  EXPECT_EQ(fine.exit_code, 0) << fine.err;
}

TEST(ChangelogTest, TurningTheChangelogOnSeedsItWithTheStoresState) {
  TempDir dir;
  const std::string prefix = UniqueName("changelog-seed");
  const std::string plain = WriteConfig(dir, prefix, kExtra);
  const std::string mapping = SourceDir() + "/config/mappings/boston-legacy.yaml";
  const std::string sample = SourceDir() + "/tests/data/boston/boston-legacy.csv";
  auto imp =
      RunIocstream({"import", "--config", plain, "--mapping", mapping, sample, "--no-progress"});
  ASSERT_EQ(imp.exit_code, 0) << imp.err;
  auto a =
      RunIocstream({"run", "--config", plain, "--state-dir", dir / "a", "--exit-when-caught-up"});
  ASSERT_EQ(a.exit_code, 0) << a.err;

  const std::string config = WithChangelog(plain, prefix + "-state-changelog");
  auto seeded = RunIocstream({"run", "--config", config, "--state-dir", dir / "a",
                              "--summary-when-caught-up", "--exit-when-caught-up"});
  ASSERT_EQ(seeded.exit_code, 0) << seeded.err;
  EXPECT_NE(seeded.err.find(": seeded ("), std::string::npos) << seeded.err;
  EXPECT_EQ(Consumed(seeded.out), 0u) << seeded.out;

  auto b = RunIocstream({"run", "--config", config, "--state-dir", dir / "b",
                         "--summary-when-caught-up", "--exit-when-caught-up"});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(Consumed(b.out), 0u) << b.out << b.err;
  EXPECT_EQ(ExportCsv(config, dir / "b", "dossiers"), ExportCsv(config, dir / "a", "dossiers"));
  EXPECT_EQ(ExportCsv(config, dir / "b", "aggregates"), ExportCsv(config, dir / "a", "aggregates"));
}

// Fencing (app/changelog.h): a commit whose events were consumed under a generation the group
// has left (a member that stalled, lost its partitions and woke up) is refused by the group
// coordinator, and nothing of it is ever read back; the member's commit under the current
// generation is.
TEST(ChangelogTest, ACommitUnderAGenerationTheGroupLeftIsFencedAndNeverRead) {
  const std::string prefix = UniqueName("fence");
  const std::string events = prefix + "-events";
  const std::string topic = prefix + "-changelog";
  CreateTopic(events, 2);
  CreateTopic(topic, 2, {{"cleanup.policy", "compact"}});

  ingest::KafkaSourceOptions options;
  options.bootstrap_servers = Bootstrap();
  options.group_id = prefix + "-group";
  options.topics = {events};
  options.properties = {{"session.timeout.ms", "6000"}, {"heartbeat.interval.ms", "500"}};
  int a_assignments = 0;
  int b_assignments = 0;
  auto handler = [](int* assignments) {
    ingest::RebalanceHandler h;
    h.stored_offset = [](const TopicPartition&) -> std::optional<Offset> { return std::nullopt; };
    h.revoked = [](const std::vector<TopicPartition>&, bool) {};
    h.assigned = [assignments](const std::vector<TopicPartition>&) { ++*assignments; };
    return h;
  };
  auto poll_until = [](const std::function<bool()>& done,
                       std::vector<ingest::KafkaSource*> sources) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      for (ingest::KafkaSource* s : sources) ASSERT_TRUE(s->Poll());
    }
    ASSERT_TRUE(done());
  };
  auto a = ingest::KafkaSource::Open(options, handler(&a_assignments));
  ASSERT_TRUE(a) << a.error().message;
  poll_until([&] { return !(*a)->Assignment().empty(); }, {a->get()});
  const GroupMetadata stale = (*a)->GroupMetadata();
  // B joins: the group moves to a new generation, A's is stale.
  auto b = ingest::KafkaSource::Open(options, handler(&b_assignments));
  ASSERT_TRUE(b) << b.error().message;
  poll_until([&] { return !(*b)->Assignment().empty() && a_assignments >= 2; },
             {a->get(), b->get()});

  ChangelogOptions log_options;
  log_options.bootstrap_servers = Bootstrap();
  log_options.topic = topic;
  log_options.source_topic = events;
  log_options.writer = 7;
  log_options.timeout = Millis(30000);
  auto log = StateChangelog::Open(log_options);
  ASSERT_TRUE(log) << log.error().message;
  const state::EncodedDossiers dossiers = OneDossierOfPartition0("H44.246-260105-0001");
  ChangelogMarker marker;
  marker.next_offset = Offset(5);
  marker.writer = 7;
  marker.sequence = 1;
  const std::vector<std::pair<PartitionId, std::string>> markers = {
      {PartitionId(0), marker.Encode()}};
  auto records = [&] {
    std::vector<std::string> keys;
    Status s = (*log)->ReadAll(PartitionId(0), [&](std::string_view key, std::string_view) {
      keys.emplace_back(key);
      return Status();
    });
    EXPECT_TRUE(s) << s.error().message;
    return keys;
  };

  Status fenced = (*log)->Write(dossiers, markers, stale);
  ASSERT_FALSE(fenced);
  EXPECT_NE(fenced.error().message.find("fenced"), std::string::npos) << fenced.error().message;
  EXPECT_TRUE(records().empty());
  auto last = (*log)->Last(PartitionId(0));
  ASSERT_TRUE(last) << last.error().message;
  EXPECT_FALSE(last->has_value());

  // The same commit under the generation A holds now is written.
  Status written = (*log)->Write(dossiers, markers, (*a)->GroupMetadata());
  ASSERT_TRUE(written) << written.error().message;
  EXPECT_EQ(records(), (std::vector<std::string>{"dH44.246-260105-0001", "m"}));
  last = (*log)->Last(PartitionId(0));
  ASSERT_TRUE(last) << last.error().message;
  ASSERT_TRUE(last->has_value());
  EXPECT_EQ((*last)->key, "m");
  EXPECT_EQ(ChangelogMarker::Decode((*last)->value)->sequence, 1u);

  // A transaction left open (a writer frozen in the middle of a commit) is neither read nor
  // waited for: a read ends at the last stable offset (else it would fail after 30 s).
  rd_kafka_t* frozen =
      OpenTransactionWithOneRecord(topic + ".frozen", topic, "dH44.246-260105-0002");
  ASSERT_NE(frozen, nullptr);
  ASSERT_EQ(rd_kafka_flush(frozen, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_EQ(records(), (std::vector<std::string>{"dH44.246-260105-0001", "m"}));
  last = (*log)->Last(PartitionId(0));
  ASSERT_TRUE(last) << last.error().message;
  ASSERT_TRUE(last->has_value());
  EXPECT_EQ((*last)->key, "m");
  if (rd_kafka_error_t* e = rd_kafka_abort_transaction(frozen, 30000)) rd_kafka_error_destroy(e);
  rd_kafka_destroy(frozen);
  (*a)->Close();
  (*b)->Close();
}

// A copy of a state directory (a cloned machine, a restored backup) holds the same changelog
// writer id: started beside the original, each fences the other in turn, and the fenced one's
// error blamed the group (a helper's finding). It names the writer and the likely copy.
TEST(ChangelogTest, AWriterFencedByAnotherWithItsIdNamesACopiedStateDirectory) {
  const std::string prefix = UniqueName("copied");
  const std::string topic = prefix + "-changelog";
  CreateTopic(topic, 1, {{"cleanup.policy", "compact"}});
  ChangelogOptions log_options;
  log_options.bootstrap_servers = Bootstrap();
  log_options.topic = topic;
  log_options.source_topic = prefix + "-events";
  log_options.writer = 11;
  log_options.timeout = Millis(30000);
  auto original = StateChangelog::Open(log_options);
  ASSERT_TRUE(original) << original.error().message;
  auto copy = StateChangelog::Open(log_options);  // the same writer: fences the original
  ASSERT_TRUE(copy) << copy.error().message;
  const state::EncodedDossiers dossiers = OneDossierOfPartition0("H44.246-260105-0003");
  const Status fenced = (*original)->Write(dossiers, {}, nullptr, /*check_stall=*/false);
  ASSERT_FALSE(fenced);
  EXPECT_NE(fenced.error().message.find("the changelog writer of this state directory "
                                        "(transactional id '" +
                                        topic + ".000000000000000b') was fenced"),
            std::string::npos)
      << fenced.error().message;
  EXPECT_NE(fenced.error().message.find("a copy of the state directory"), std::string::npos)
      << fenced.error().message;
  // The copy writes.
  const Status written = (*copy)->Write(dossiers, {}, nullptr, /*check_stall=*/false);
  EXPECT_TRUE(written) << written.error().message;
}

}  // namespace
}  // namespace iocstream::testing
