// The HTTP API of a running iocstream over a real state store in a temporary directory.
#include "app/api.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "app/rules_config.h"
#include "iocstream/decode/rfc3339.h"
#include "unit/http/http_test_client.h"

namespace iocstream::app {
namespace {

namespace fs = std::filesystem;

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("iocstream-api-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    auto cal = LoadBusinessCalendar(
        {std::string(IOCSTREAM_SOURCE_DIR) + "/config/calendars/vn-2026.yaml"});
    ASSERT_TRUE(cal.has_value()) << cal.error().message;
    calendar_ = std::make_unique<rules::BusinessCalendar>(std::move(*cal));
    state::StateStoreOptions options;
    options.path = dir_.string();
    auto store = state::StateStore::Open(options);
    ASSERT_TRUE(store.has_value()) << store.error().message;
    store_ = std::move(*store);
    metrics_ = std::make_shared<MetricsRegistry>();
  }
  void TearDown() override {
    if (server_) server_->Stop();
    store_.reset();
    fs::remove_all(dir_);
  }

  void Start(ApiContext context) {
    server_ = std::make_unique<HttpServer>(HttpServerOptions{});
    RegisterApi(*server_, std::move(context));
    ASSERT_TRUE(server_->Start().ok());
  }

  nlohmann::json Call(const char* method, const std::string& target, int expected_status) {
    test::TestClient client(server_->port());
    auto response = client.Request(method, target);
    EXPECT_TRUE(response.has_value());
    if (!response) return nullptr;
    EXPECT_EQ(response->status, expected_status) << response->body;
    return nlohmann::json::parse(response->body);
  }

  fs::path dir_;
  std::unique_ptr<rules::BusinessCalendar> calendar_;
  std::unique_ptr<state::StateStore> store_;
  std::shared_ptr<MetricsRegistry> metrics_;
  aggregate::AggregateTable aggregates_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(ApiTest, DossierLookupExplainsTheDaysOffOfItsDeadline) {
  DossierState s;
  s.dossier_id = "D-TET";
  s.status = DossierStatus::kInProgress;
  s.due_source = DueSource::kCatalog;
  s.received_at = *ParseRfc3339("2026-02-09T09:00:00+07:00");
  s.due_at = *ParseRfc3339("2026-02-23T09:00:00+07:00");
  s.original_due_at = s.due_at;
  state::StateBatch batch = store_->NewBatch();
  batch.PutDossier(s);
  ASSERT_TRUE(store_->Commit(std::move(batch)).ok());
  Start(ApiContext{store_.get(), calendar_.get(), &aggregates_, metrics_, {}});

  const auto j = Call("GET", "/api/v1/dossiers/D-TET", 200);
  const auto& deadline = j["deadline"];
  EXPECT_EQ(deadline["due_source"], "catalog");
  EXPECT_EQ(deadline["days_off_skipped"], 9);
  ASSERT_EQ(deadline["days_off_named"].size(), 1u);
  EXPECT_EQ(deadline["days_off_named"][0]["first"], "2026-02-16");
  EXPECT_EQ(deadline["days_off_named"][0]["last"], "2026-02-20");
  Call("GET", "/api/v1/dossiers/NOPE", 404);
}

}  // namespace
}  // namespace iocstream::app
