// Two `run` instances of one consumer group, each listing the other under http.peers, through a
// real broker: either one's /api/v1 answers for the whole group, as one instance that consumed
// every partition would.
// IOCSTREAM_NEEDS_KAFKA

#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <thread>

#include "integration/harness.h"

namespace iocstream::testing {
namespace {

// `config` with the http section given: `port`, the peers at `peer_ports`.
std::string WithHttp(const TempDir& dir, const std::string& config, const std::string& name,
                     int port, const std::vector<int>& peer_ports) {
  std::string text = ReadFile(config);
  std::string http = "http:\n  port: " + std::to_string(port) + "\n  peers: [";
  for (size_t i = 0; i < peer_ports.size(); ++i) {
    http +=
        (i > 0 ? ", " : "") + std::string("\"127.0.0.1:") + std::to_string(peer_ports[i]) + "\"";
  }
  http += "]\n  peer_timeout: 5s\n";
  const std::string anchor = "http:\n  port: 0\n";
  text.replace(text.find(anchor), anchor.size(), http);
  const std::string path = dir / (name + ".yaml");
  std::ofstream(path) << text;
  return path;
}

nlohmann::json GetJson(int port, const std::string& target) {
  const std::string body = HttpGet(port, target);
  return nlohmann::json::parse(body, nullptr, false);
}

// An answer without what depends on who answered and when.
nlohmann::json Comparable(nlohmann::json j) {
  if (j.is_object()) {
    j.erase("cluster");
    j.erase("as_of");
  }
  return j;
}

TEST(ClusterApiTest, EitherInstanceOfAGroupAnswersForEveryPartition) {
  TempDir dir;
  const std::string prefix = UniqueName("cluster-api");
  const std::string config =
      WriteConfig(dir, prefix,
                  kWatermarkRunConfig + "procedures:\n  catalog: " + SourceDir() +
                      "/config/procedures/catalog.yaml\n");
  auto simulate =
      RunIocstream({"simulate", "--config", config, "--units",
                    SourceDir() + "/config/simulator/phu-tho-units.csv", "--procedure-pools",
                    SourceDir() + "/config/simulator/procedure-pools.csv", "--dossiers", "2000",
                    "--seed", "7", "--topic", prefix + "-events", "--no-progress"});
  ASSERT_EQ(simulate.exit_code, 0) << simulate.err;

  const int port_a = FreeLoopbackPort();
  const int port_b = FreeLoopbackPort();
  ASSERT_NE(port_a, port_b);
  Child a(
      {"run", "--config", WithHttp(dir, config, "a", port_a, {port_b}), "--state-dir", dir / "a"},
      dir.path());
  Child b(
      {"run", "--config", WithHttp(dir, config, "b", port_b, {port_a}), "--state-dir", dir / "b"},
      dir.path());

  // Both hold partitions, and the group's answers have stopped changing (caught up).
  nlohmann::json kpis_a;
  nlohmann::json kpis_b;
  const bool settled = WaitFor(
      [&] {
        // An instance still starting answers 503 with an error object, without "partitions"
        // (a const json's operator[] on a missing key is undefined: this test crashed so once,
        // polled right as the instances started).
        const auto pa = GetJson(port_a, "/api/v1/partitions");
        const auto pb = GetJson(port_b, "/api/v1/partitions");
        if (!pa.is_object() || !pb.is_object() || !pa.contains("partitions") ||
            !pb.contains("partitions") || pa["partitions"].empty() || pb["partitions"].empty() ||
            pa["partitions"].size() + pb["partitions"].size() != 6) {
          return false;
        }
        const auto before = GetJson(port_a, "/api/v1/kpis");
        std::this_thread::sleep_for(std::chrono::seconds(2));
        kpis_a = GetJson(port_a, "/api/v1/kpis");
        kpis_b = GetJson(port_b, "/api/v1/kpis");
        return kpis_a.is_object() && kpis_a["cluster"]["partitions_missing"].empty() &&
               kpis_a["total"]["received"].get<int64_t>() > 1000 && before == kpis_a &&
               Comparable(kpis_a) == Comparable(kpis_b);
      },
      120);
  ASSERT_TRUE(settled) << kpis_a << "\n" << kpis_b << "\n" << a.Stderr() << b.Stderr();
  EXPECT_NE(a.Stderr().find("answers for the whole group with its peers 127.0.0.1:" +
                            std::to_string(port_b)),
            std::string::npos)
      << a.Stderr();
  EXPECT_EQ(kpis_a["cluster"]["instances_answered"], 2);
  EXPECT_TRUE(kpis_a["cluster"]["peers_failed"].empty());
  // Each instance alone (a peer's request) counts its own partitions: together, the group's.
  const auto own_a = GetJson(port_a, "/api/v1/peer/kpis?partitions=0,1,2,3,4,5");
  const auto own_b = GetJson(port_b, "/api/v1/peer/kpis?partitions=0,1,2,3,4,5");
  EXPECT_GT(own_a["total"]["received"], 0);
  EXPECT_GT(own_b["total"]["received"], 0);
  EXPECT_EQ(kpis_a["total"]["received"].get<int64_t>(),
            own_a["total"]["received"].get<int64_t>() + own_b["total"]["received"].get<int64_t>());

  // The worklist is the same from either instance.
  const auto overdue_a = GetJson(port_a, "/api/v1/overdue?limit=10000");
  const auto overdue_b = GetJson(port_b, "/api/v1/overdue?limit=10000");
  EXPECT_EQ(Comparable(overdue_a), Comparable(overdue_b));
  EXPECT_EQ(overdue_a["total"], kpis_a["total"]["open_overdue"]);
  // A dossier of each partition (the events' keys) is found from both.
  std::set<int> partitions_seen;
  for (const KafkaRecord& r : ConsumeAll(prefix + "-events", 1000000, std::chrono::seconds(8))) {
    if (!partitions_seen.insert(r.partition).second) continue;
    const std::string target = "/api/v1/dossiers/" + r.key;
    const auto from_a = GetJson(port_a, target);
    EXPECT_EQ(from_a, GetJson(port_b, target)) << target;
    EXPECT_EQ(from_a["dossier_id"], r.key) << from_a;
    EXPECT_EQ(from_a["partition"], r.partition) << from_a;
  }
  EXPECT_EQ(partitions_seen.size(), 6u);

  a.Kill(SIGTERM);
  b.Kill(SIGTERM);
  ASSERT_EQ(a.Wait(std::chrono::seconds(60)), 0) << a.Stderr();
  ASSERT_EQ(b.Wait(std::chrono::seconds(60)), 0) << b.Stderr();

  // One instance consuming every partition (a group of its own) counts what the group's
  // answers counted: its summary's TOTAL row starts with the dossiers received.
  std::string plain = ReadFile(config);
  plain.replace(plain.find(prefix + "-group"), prefix.size(), prefix + "-reference");
  plain.replace(plain.find(prefix + "-alerts"), prefix.size(), prefix + "-reference");
  const std::string reference_config = dir / "reference.yaml";
  std::ofstream(reference_config) << plain;
  auto whole = RunIocstream({"run", "--config", reference_config, "--state-dir", dir / "whole",
                             "--summary-when-caught-up", "--exit-when-caught-up"});
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(whole.out, m, std::regex(R"(\nTOTAL +(\d+) +(\d+))"))) << whole.out;
  EXPECT_EQ(std::stoll(m[1]), kpis_a["total"]["received"].get<int64_t>()) << whole.out;
  EXPECT_EQ(std::stoll(m[2]), kpis_a["total"]["completed"].get<int64_t>()) << whole.out;
}

}  // namespace
}  // namespace iocstream::testing
