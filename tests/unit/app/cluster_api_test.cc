// The HTTP API of a consumer group's instances (http.peers): three instances, each with a real
// state store in a temporary directory holding its partition's dossiers and its own HTTP
// server, answer as one instance holding every dossier does.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "app/api.h"
#include "app/pipeline.h"
#include "app/rules_config.h"
#include "iocstream/decode/rfc3339.h"
#include "unit/http/http_test_client.h"

namespace iocstream::app {
namespace {

namespace fs = std::filesystem;

constexpr int32_t kPartitions = 3;

// One instance: its store, aggregates and server.
struct Instance {
  fs::path dir;
  std::unique_ptr<state::StateStore> store;
  aggregate::AggregateTable aggregates;
  std::unique_ptr<HttpServer> server;
  std::shared_ptr<MetricsRegistry> metrics = std::make_shared<MetricsRegistry>();
  std::set<PartitionId> owned;
  std::set<PartitionId> held;  // among them, through an outage (stale)

  ~Instance() {
    if (server) server->Stop();
    store.reset();
    fs::remove_all(dir);
  }
};

class ClusterApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cal = LoadBusinessCalendar(
        {std::string(IOCSTREAM_SOURCE_DIR) + "/config/calendars/vn-2026.yaml"});
    ASSERT_TRUE(cal.has_value()) << cal.error().message;
    rules_ = std::make_shared<const LoadedRules>(LoadedRules{std::move(*cal), std::nullopt});
    // 90 dossiers over three departments: overdue, open in time, finished on time and late.
    for (int i = 0; i < 90; ++i) {
      DossierState s;
      s.dossier_id = "H44.246-260105-" + std::to_string(1000 + i * 7);
      s.partition = PartitionId(Pipeline::HashPartition(s.dossier_id, kPartitions));
      s.agency_code = std::vector<std::string>{"so-noi-vu", "so-tu-phap", "Sở Y tế"}[i % 3];
      s.channel = i % 2 == 0 ? Channel::kOnline : Channel::kInPerson;
      s.received_at = *ParseRfc3339("2026-03-02T09:00:00+07:00");
      s.due_source = DueSource::kEvent;
      s.due_at = *ParseRfc3339("2026-03-09T09:00:00+07:00");
      s.original_due_at = s.due_at;
      switch (i % 4) {
        case 0:
          s.status = DossierStatus::kInProgress;
          s.breach_fired = true;
          break;
        case 1:
          s.status = DossierStatus::kInProgress;
          s.due_at = *ParseRfc3339("2027-03-09T09:00:00+07:00");
          s.original_due_at = s.due_at;
          break;
        case 2:
          s.status = DossierStatus::kCompleted;
          s.completed_at = *ParseRfc3339("2026-03-05T09:00:00+07:00");
          break;
        default:
          s.status = DossierStatus::kCompleted;
          s.completed_at = *ParseRfc3339("2026-03-12T09:00:00+07:00");
          break;
      }
      dossiers_.push_back(s);
    }
  }

  // An instance handling `owned` (every partition for the reference), its store holding
  // their dossiers, its peers `peers`.
  std::unique_ptr<Instance> Open(const std::string& name, std::set<PartitionId> owned,
                                 std::vector<HttpAuthority> peers = {}, uint16_t port = 0,
                                 std::set<PartitionId> held = {},
                                 const std::function<void(DossierState&)>& alter = {},
                                 int threads = 2, const std::string& group = "group") {
    auto in = std::make_unique<Instance>();
    in->dir = fs::temp_directory_path() /
              ("iocstream-cluster-" + std::to_string(::getpid()) + "-" + name + "-" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(in->dir);
    state::StateStoreOptions options;
    options.path = in->dir.string();
    auto store = state::StateStore::Open(options);
    EXPECT_TRUE(store.has_value()) << store.error().message;
    in->store = std::move(*store);
    state::StateBatch batch = in->store->NewBatch();
    for (DossierState s : dossiers_) {
      if (!owned.contains(s.partition)) continue;
      if (alter) alter(s);
      batch.PutDossier(s);
      in->aggregates.Apply(nullptr, s);
    }
    EXPECT_TRUE(in->store->Commit(std::move(batch)).ok());
    in->owned = std::move(owned);
    in->held = std::move(held);
    HttpServerOptions http;
    http.threads = threads;
    http.port = port;
    in->server = std::make_unique<HttpServer>(http);
    ApiContext context{in->store.get(), &in->aggregates, in->metrics, {}};
    context.rules = [this] { return rules_; };
    Instance* self = in.get();
    context.owned_partitions = [self] { return self->owned; };
    context.held_partitions = [self] { return self->held; };
    context.key_partitions = kPartitions;
    context.peers = std::move(peers);
    context.group_id = group;
    context.events_topic = "events";
    context.peer_timeout = std::chrono::milliseconds(1000);
    RegisterApi(*in->server, std::move(context));
    EXPECT_TRUE(in->server->Start().ok());
    return in;
  }

  static nlohmann::json Get(const Instance& in, const std::string& target, int status) {
    test::TestClient client(in.server->port());
    auto response = client.Request("GET", target);
    EXPECT_TRUE(response.has_value()) << target;
    if (!response) return nullptr;
    EXPECT_EQ(response->status, status) << target << ": " << response->body;
    return nlohmann::json::parse(response->body);
  }
  // An answer without what depends on who answered and when.
  static nlohmann::json Comparable(nlohmann::json j) {
    j.erase("cluster");
    j.erase("as_of");
    return j;
  }
  static HttpAuthority At(const Instance& in) { return {"127.0.0.1", in.server->port()}; }
  static std::set<PartitionId> All() { return {PartitionId(0), PartitionId(1), PartitionId(2)}; }

  std::string IdOfPartition(int32_t p) const {
    for (const DossierState& s : dossiers_) {
      if (s.partition == PartitionId(p)) return std::string(s.dossier_id);
    }
    return {};
  }

  std::shared_ptr<const LoadedRules> rules_;
  std::vector<DossierState> dossiers_;
};

TEST_F(ClusterApiTest, AnInstanceWithPeersAnswersAsOneInstanceHoldingEveryPartition) {
  auto whole = Open("whole", All());
  auto b = Open("b", {PartitionId(1)});
  auto c = Open("c", {PartitionId(2)});
  auto a = Open("a", {PartitionId(0)}, {At(*b), At(*c)});

  // KPIs: counts summed, rates computed again; every department and one.
  const auto kpis = Get(*a, "/api/v1/kpis", 200);
  EXPECT_EQ(Comparable(kpis), Comparable(Get(*whole, "/api/v1/kpis", 200)));
  EXPECT_EQ(kpis["total"]["received"], 90) << kpis;
  EXPECT_EQ(kpis["cluster"]["instances_answered"], 3);
  EXPECT_TRUE(kpis["cluster"]["partitions_missing"].empty());
  EXPECT_TRUE(kpis["cluster"]["peers_failed"].empty());
  for (const std::string department : {"so-tu-phap", "S%E1%BB%9F%20Y%20t%E1%BA%BF"}) {
    EXPECT_EQ(Comparable(Get(*a, "/api/v1/kpis?department=" + department, 200)),
              Comparable(Get(*whole, "/api/v1/kpis?department=" + department, 200)));
  }
  // An instance alone counts its own partition.
  EXPECT_LT(Get(*b, "/api/v1/kpis", 200)["total"]["received"], 90);

  // The worklist: the same pages, walked with ?after=, as one instance's.
  for (const std::string filter : {"", "&department=so-noi-vu"}) {
    std::string after;
    std::vector<std::string> seen;
    for (int page = 0; page < 20; ++page) {
      const std::string query = "/api/v1/overdue?limit=4" + filter + after;
      const auto merged = Get(*a, query, 200);
      EXPECT_EQ(Comparable(merged), Comparable(Get(*whole, query, 200))) << query;
      for (const auto& item : merged["items"]) seen.push_back(item["dossier_id"]);
      if (merged["next_after"].is_null()) break;
      after = "&after=" + merged["next_after"].get<std::string>();
    }
    EXPECT_EQ(seen.size(), Get(*whole, "/api/v1/overdue?limit=1000" + filter, 200)["total"]);
    EXPECT_GT(seen.size(), 4u);
  }

  // A dossier of another instance's partition: that instance's answer.
  for (int32_t p = 0; p < kPartitions; ++p) {
    const std::string id = IdOfPartition(p);
    EXPECT_EQ(Get(*a, "/api/v1/dossiers/" + id, 200), Get(*whole, "/api/v1/dossiers/" + id, 200));
  }
  // One no instance has: the 404 of the instance handling its partition.
  for (int i = 0; i < 6; ++i) {
    const std::string unknown = "H44.246-260105-NONE" + std::to_string(i);
    const auto j = Get(*a, "/api/v1/dossiers/" + unknown, 404);
    EXPECT_EQ(j["error"], "no dossier " + unknown);
  }
  // A department no instance has is a 404, as for one instance.
  Get(*a, "/api/v1/kpis?department=nope", 404);
  Get(*a, "/api/v1/overdue?department=nope", 404);

  // A peer's own request (/api/v1/peer/..., ?partitions=) is answered for those partitions
  // alone, never passed on.
  const auto own = Get(*a, "/api/v1/peer/overdue?partitions=0,1", 200);
  EXPECT_EQ(own["partitions"], nlohmann::json::array({0}));
  EXPECT_FALSE(own.contains("cluster"));
  Get(*a, "/api/v1/peer/overdue?partitions=0,,1", 400);
  Get(*a, "/api/v1/peer/kpis?partitions=1,1", 400);
  Get(*a, "/api/v1/peer/kpis?partitions=-1", 400);
  Get(*a, "/api/v1/peer/kpis?partitions=", 400);
  Get(*a, "/api/v1/peer/kpis", 400);
  Get(*a, "/api/v1/peer/dossiers/" + IdOfPartition(0), 400);
  Get(*a, "/api/v1/kpis?partitions=0", 400);  // not a public parameter
  const auto partitions = Get(*c, "/api/v1/partitions", 200);
  EXPECT_EQ(partitions["partitions"], nlohmann::json::array({2}));
  EXPECT_EQ(partitions["key_partitions"], kPartitions);
}

// A peer that does not answer leaves its partitions out, listed, and the request answers with
// the others' (an operator sees what is known and what is not); a lookup of one of its
// dossiers says which partition is unanswered.
TEST_F(ClusterApiTest, APeerThatDoesNotAnswerIsListedAndItsPartitionsLeftOut) {
  auto whole = Open("whole", All());
  auto b = Open("b", {PartitionId(1)});
  auto c = Open("c", {PartitionId(2)});
  auto a = Open("a", {PartitionId(0)}, {At(*b), At(*c)});
  const HttpAuthority c_at = At(*c);
  c->server->Stop();

  const auto overdue = Get(*a, "/api/v1/overdue?limit=1000", 200);
  EXPECT_EQ(overdue["cluster"]["partitions_missing"], nlohmann::json::array({2}));
  ASSERT_EQ(overdue["cluster"]["peers_failed"].size(), 1u);
  EXPECT_EQ(overdue["cluster"]["peers_failed"][0]["peer"],
            "127.0.0.1:" + std::to_string(c_at.port));
  EXPECT_NE(
      overdue["cluster"]["peers_failed"][0]["error"].get<std::string>().find("cannot connect"),
      std::string::npos);
  size_t expected = 0;
  const auto all = Get(*whole, "/api/v1/overdue?limit=1000", 200);
  for (const auto& item : all["items"]) {
    if (item["partition"] != 2) ++expected;
  }
  EXPECT_EQ(overdue["total"], expected);
  EXPECT_EQ(overdue["items"].size(), expected);

  const auto kpis = Get(*a, "/api/v1/kpis", 200);
  EXPECT_EQ(kpis["cluster"]["partitions_missing"], nlohmann::json::array({2}));
  EXPECT_LT(kpis["total"]["received"], 90);

  const auto lookup = Get(*a, "/api/v1/dossiers/" + IdOfPartition(2), 503);
  EXPECT_NE(lookup["error"].get<std::string>().find("belongs to partition 2"), std::string::npos)
      << lookup;
  Get(*a, "/api/v1/dossiers/" + IdOfPartition(1), 200);

  // Counted by peer: c failed the first round of each of the four requests; b answered both
  // rounds of the worklist, the KPIs and the lookup in its partition, and the first round of
  // the lookup in c's (7).
  const std::string metrics = a->metrics->Serialize();
  const std::string c_label = "peer=\"127.0.0.1:" + std::to_string(c_at.port) + "\"";
  const std::string b_label = "peer=\"127.0.0.1:" + std::to_string(b->server->port()) + "\"";
  EXPECT_NE(metrics.find("iocstream_api_peer_requests_total{" + c_label + ",result=\"failed\"} 4"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("iocstream_api_peer_requests_total{" + c_label + ",result=\"ok\"} 0"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("iocstream_api_peer_requests_total{" + b_label + ",result=\"ok\"} 7"),
            std::string::npos)
      << metrics;
}

// A partition two instances claim (one holds it through a Kafka outage, stale, with the
// states it had then) is answered by the one that handles it now; a peer list that names the
// instance itself counts it once.
TEST_F(ClusterApiTest, EachPartitionIsCountedOnceWhoeverClaimsIt) {
  auto whole = Open("whole", All());
  // b's copy of partition 2 is from before the outage: every dossier of it overdue then.
  auto b =
      Open("b", {PartitionId(1), PartitionId(2)}, {}, 0, {PartitionId(2)}, [](DossierState& s) {
        if (s.partition == PartitionId(2) && s.status == DossierStatus::kInProgress) {
          s.breach_fired = true;
        }
      });
  auto c = Open("c", {PartitionId(2)});
  // a lists itself too, by another name of its address.
  const uint16_t port = test::FreeLoopbackPort();
  auto a = Open("a", {PartitionId(0)}, {At(*b), {"localhost", port}, At(*c)}, port);
  ASSERT_EQ(a->server->port(), port);
  for (const std::string target : {"/api/v1/kpis", "/api/v1/overdue?limit=1000"}) {
    const auto merged = Get(*a, target, 200);
    EXPECT_EQ(Comparable(merged), Comparable(Get(*whole, target, 200))) << target;
    EXPECT_EQ(merged["cluster"]["instances_answered"], 3) << merged["cluster"];
    EXPECT_TRUE(merged["cluster"]["peers_failed"].empty()) << merged["cluster"];
    EXPECT_FALSE(merged["stale"]);
  }
  // Without c, b's stale copy is the only one: shown, and said to be stale.
  c->server->Stop();
  const auto stale = Get(*a, "/api/v1/overdue?limit=1000", 200);
  EXPECT_TRUE(stale["stale"]);
  EXPECT_TRUE(stale["cluster"]["partitions_missing"].empty());
  EXPECT_GT(stale["total"], Get(*whole, "/api/v1/overdue?limit=1000", 200)["total"]);
}

// Two instances whose every worker waits for the other: the peers' requests run on threads of
// their own, so every answer is whole. With the workers answering them too, each waited for
// the other's busy workers until its timeout and answered for half the partitions (a helper's
// trial: 94 of 100 answers).
TEST_F(ClusterApiTest, InstancesWhoseWorkersAllWaitForEachOtherStillAnswerWhole) {
  const uint16_t port_a = test::FreeLoopbackPort();
  const uint16_t port_b = test::FreeLoopbackPort();
  auto a = Open("a", {PartitionId(0), PartitionId(1)}, {{"127.0.0.1", port_b}}, port_a, {}, {},
                /*threads=*/1);
  auto b = Open("b", {PartitionId(2)}, {{"127.0.0.1", port_a}}, port_b, {}, {}, /*threads=*/1);
  std::vector<std::thread> clients;
  std::atomic<int> whole{0};
  std::atomic<int> asked{0};
  for (int i = 0; i < 8; ++i) {
    clients.emplace_back([&, i] {
      for (int k = 0; k < 3; ++k) {
        const auto j = Get(i % 2 == 0 ? *a : *b, "/api/v1/kpis", 200);
        ++asked;
        if (j.is_object() && j["cluster"]["partitions_missing"].empty() &&
            j["total"]["received"] == 90) {
          ++whole;
        }
      }
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(whole.load(), asked.load());
  EXPECT_EQ(asked.load(), 24);
}

// A server that answers the peers' routes with what it is told (a fake peer), for answers
// iocstream never gives.
class FakePeer {
 public:
  FakePeer() {
    for (const char* path : {"/api/v1/peer/partitions", "/api/v1/peer/kpis"}) {
      server_.HandlePeer("GET", path, [this, path](const HttpRequest&) { return Answer(path); });
    }
    server_.HandlePeerPrefix("GET", "/api/v1/peer/dossiers/",
                             [this](const HttpRequest&) { return Answer("dossiers"); });
    EXPECT_TRUE(server_.Start().ok());
  }
  ~FakePeer() { server_.Stop(); }
  FakePeer(const FakePeer&) = delete;
  FakePeer& operator=(const FakePeer&) = delete;
  void Set(const std::string& path, int status, std::string body) {
    const std::lock_guard lock(mu_);
    answers_[path] = HttpResponse{.status = status, .body = std::move(body)};
  }
  [[nodiscard]] HttpAuthority At() const { return {"127.0.0.1", server_.port()}; }

 private:
  HttpResponse Answer(const std::string& path) {
    const std::lock_guard lock(mu_);
    auto it = answers_.find(path);
    return it == answers_.end() ? HttpResponse{.status = 404, .body = "<html>no</html>"}
                                : it->second;
  }
  std::mutex mu_;
  std::map<std::string, HttpResponse> answers_;
  HttpServer server_;
};

// A peer of another group or topic (another stream, maybe of as many partitions), or a server
// that is not iocstream, is a failed peer: its answers are not merged (a helper's trial
// merged another stream's 11,265 dossiers into the KPIs), nor do they fail the request with a
// 500 (a helper's fake peer, answer by answer below), nor are they passed on.
TEST_F(ClusterApiTest, APeerOfAnotherGroupOrNotIocstreamIsAFailedPeer) {
  auto other = Open("other", {PartitionId(1), PartitionId(2)}, {}, 0, {}, {}, 2, "other-group");
  auto a = Open("a", {PartitionId(0)}, {At(*other)});
  const auto kpis = Get(*a, "/api/v1/kpis", 200);
  EXPECT_EQ(kpis["cluster"]["partitions_missing"], nlohmann::json::array({1, 2}));
  ASSERT_EQ(kpis["cluster"]["peers_failed"].size(), 1u);
  EXPECT_NE(kpis["cluster"]["peers_failed"][0]["error"].get<std::string>().find(
                "an instance of group 'other-group' on topic 'events', not of this group 'group'"),
            std::string::npos)
      << kpis;

  FakePeer fake;
  auto b = Open("b", {PartitionId(0)}, {fake.At()});
  const std::string partitions =
      R"("instance":"x","group":"group","events_topic":"events","key_partitions":3,)"
      R"("partitions":[1,2],"stale":[])";
  const std::string counts =
      R"("received":1,"completed":0,"completed_on_time":0,"completed_late":0,)"
      R"("waiting_applicant":0,"waiting_applicant_late":0,"open":1,"open_overdue":0,)"
      R"("open_due_soon":0,"cancelled":0,"finished_without_receipt":0)";
  // Partitions answers that are not iocstream's, then KPI answers that are not, each with a
  // good partitions answer.
  for (const std::string& bad :
       {std::string(R"({"instance":"x","group":5,"events_topic":"events","key_partitions":3,)"
                    R"("partitions":[1,2],"stale":[]})"),
        std::string(R"({"instance":"x","group":"group","events_topic":null,"key_partitions":3,)"
                    R"("partitions":[1,2],"stale":[]})"),
        std::string(R"({"instance":"x","group":"group","events_topic":"events",)"
                    R"("key_partitions":"3","partitions":[1,2],"stale":[]})"),
        std::string(R"({"instance":"x","group":"group","events_topic":"events",)"
                    R"("key_partitions":3,"partitions":[4294967297,2],"stale":[]})"),
        std::string(R"({"instance":"x","group":"group","events_topic":"events",)"
                    R"("key_partitions":3,"stale":[]})")}) {
    SCOPED_TRACE(bad);
    fake.Set("/api/v1/peer/partitions", 200, bad);
    const auto j = Get(*b, "/api/v1/kpis", 200);
    EXPECT_EQ(j["cluster"]["partitions_missing"], nlohmann::json::array({1, 2}));
    ASSERT_EQ(j["cluster"]["peers_failed"].size(), 1u) << j;
    EXPECT_NE(j["cluster"]["peers_failed"][0]["error"].get<std::string>().find(
                  "not an answer of iocstream's GET /api/v1/peer/partitions"),
              std::string::npos)
        << j;
  }
  fake.Set("/api/v1/peer/partitions", 200, "{" + partitions + "}");
  for (const std::string& bad :
       {std::string(R"({"stale":false,"partitions":[1,2],"total":{"received":"x"},)"
                    R"("departments":{}})"),
        R"({"stale":false,"partitions":[1,2],"total":{)" + counts +
            R"(,"open":null},)"
            R"("departments":{}})",
        R"({"stale":false,"partitions":[1,2],"department_known":"yes","total":{)" + counts +
            R"(},"departments":{}})",
        // Answered for a partition it was not asked for: its counts are not merged.
        R"({"stale":false,"partitions":[0],"total":{)" + counts + R"(},"departments":{}})"}) {
    SCOPED_TRACE(bad);
    fake.Set("/api/v1/peer/kpis", 200, bad);
    const auto j = Get(*b, "/api/v1/kpis?department=so-noi-vu", 200);
    EXPECT_EQ(j["cluster"]["partitions_missing"], nlohmann::json::array({1, 2}));
    ASSERT_EQ(j["cluster"]["peers_failed"].size(), 1u) << j;
    EXPECT_EQ(j["total"],
              Get(*b, "/api/v1/peer/kpis?department=so-noi-vu&partitions=0", 200)["total"]);
  }
  // A lookup in the fake's partitions: its HTML 404 page, text, or another dossier are not
  // passed on.
  const std::string id = IdOfPartition(1);
  for (const auto& [status, body] :
       {std::pair{404, std::string("<html>not found</html>")},
        std::pair{200, std::string("not json at all")},
        std::pair{200, std::string(R"({"dossier_id":"SOMETHING-ELSE"})")}}) {
    SCOPED_TRACE(body);
    fake.Set("dossiers", status, body);
    const auto j = Get(*b, "/api/v1/dossiers/" + id, 503);
    EXPECT_NE(j["error"].get<std::string>().find("which did not answer"), std::string::npos) << j;
  }
  fake.Set("dossiers", 200, R"({"dossier_id":")" + id + R"("})");
  Get(*b, "/api/v1/dossiers/" + id, 200);
}

// A department only a failed peer's partitions know is not "unknown" (404): the answer says
// which partitions are missing (a helper's trial).
TEST_F(ClusterApiTest, ADepartmentOfAMissingPeerIsNotUnknown) {
  // A department of partitions 1 and 2 only.
  for (DossierState& s : dossiers_) {
    if (s.partition != PartitionId(0)) s.agency_code = "so-xay-dung";
  }
  auto b = Open("b", {PartitionId(1), PartitionId(2)});
  auto a = Open("a", {PartitionId(0)}, {At(*b)});
  const auto known = Get(*a, "/api/v1/kpis?department=so-xay-dung", 200);
  EXPECT_GT(known["total"]["received"], 0);
  b->server->Stop();
  const auto missing = Get(*a, "/api/v1/kpis?department=so-xay-dung", 200);
  EXPECT_EQ(missing["total"]["received"], 0);
  EXPECT_EQ(missing["cluster"]["partitions_missing"], nlohmann::json::array({1, 2}));
  Get(*a, "/api/v1/overdue?department=so-xay-dung", 200);
}

}  // namespace
}  // namespace iocstream::app
