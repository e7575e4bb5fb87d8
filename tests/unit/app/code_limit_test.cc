// The admission of new codes (Code::Admitted, as the event decoder interns an event's codes)
// through the pipeline, over a real RocksDB store. A program of its own: it fills the
// process-wide code pool to its limit, which no other test may share.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "app/pipeline.h"
#include "app/rules_config.h"
#include "iocstream/alert/outbox_message.h"
#include "iocstream/core/code.h"
#include "iocstream/decode/event_encoder.h"
#include "iocstream/decode/rfc3339.h"
#include "iocstream/ingest/csv_source.h"
#include "unit/ingest/csv_testing.h"

namespace iocstream::app {
namespace {

namespace fs = std::filesystem;

DossierEvent Event(const std::string& dossier, EventType type, const std::string& procedure,
                   const std::string& to_agency = "") {
  DossierEvent e;
  e.dossier_id = dossier;
  e.event_id = dossier + "/" + std::string(ToString(type)) + "/" + procedure + to_agency;
  e.type = type;
  e.occurred_at = *ParseRfc3339("2026-03-02T01:00:00Z");
  e.agency_code = "so-tu-phap";
  e.commune_code = "xa-lac-luong";
  e.procedure_code = procedure;
  e.to_agency_code = to_agency;
  return e;
}

TEST(CodeLimit, NewCodesPastTheLimitAreDeadLetteredAndKnownOnesStillApply) {
  const fs::path dir =
      fs::temp_directory_path() /
      ("iocstream-code-limit-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()));
  fs::remove_all(dir);
  auto calendar =
      LoadBusinessCalendar({std::string(IOCSTREAM_SOURCE_DIR) + "/config/calendars/vn-2026.yaml"});
  ASSERT_TRUE(calendar.has_value()) << calendar.error().message;
  state::StateStoreOptions store_options;
  store_options.path = dir.string();
  auto store = state::StateStore::Open(store_options);
  ASSERT_TRUE(store.has_value()) << store.error().message;
  aggregate::AggregateTable aggregates;
  PipelineProbe probe;
  const rules::RulesContext rules{&*calendar, nullptr, {}};
  {
    Pipeline pipeline(**store, aggregates, rules, PipelineOptions{}, probe);

    // Fill the pool up to the limit, after the codes of the first dossier.
    const std::string known = "1.000001.000.00.00.H44";
    ASSERT_TRUE(Code::Admit("so-tu-phap") && Code::Admit("xa-lac-luong") && Code::Admit(known));
    for (size_t i = Code::PoolSize(); i < kMaxAdmittedCodes; ++i) {
      ASSERT_TRUE(Code::Admit("filler-" + std::to_string(i)));
    }
    ASSERT_EQ(Code::PoolSize(), kMaxAdmittedCodes);

    // The events bringing new codes are written with known ones, then their text changed: a
    // DossierEvent holds codes interned already.
    const std::vector<DossierEvent> events = {
        Event("D1", EventType::kReceived, known),                   // known codes: applied
        Event("D2", EventType::kReceived, known),                   // new procedure: refused
        Event("D1", EventType::kTransferred, known, "so-tu-phap"),  // new unit: refused
        Event("D1", EventType::kCompleted, known),                  // applied
        Event("D3", EventType::kReceived, known)};  // a new code in an invalid event
    std::vector<std::string> payloads;
    for (const DossierEvent& e : events) payloads.push_back(EncodeEvent(e));
    auto replace = [](std::string& payload, const std::string& from, const std::string& to) {
      const size_t at = payload.find(from);
      ASSERT_NE(at, std::string::npos) << payload;
      payload.replace(at, from.size(), to);
    };
    replace(payloads[1], R"("procedure_code":")" + known,
            R"("procedure_code":"9.999999.000.00.00.H44)");
    replace(payloads[2], R"("to_agency_code":"so-tu-phap)", R"("to_agency_code":"ubnd-xa-moi)");
    // Refused for its type, checked before the codes: the code is not even looked at.
    replace(payloads[4], R"("procedure_code":")" + known,
            R"("procedure_code":"9.888888.000.00.00.H44)");
    replace(payloads[4], R"("type":"received")", R"("type":"recieved")");
    std::vector<SourceRecord> records;
    for (size_t i = 0; i < payloads.size(); ++i) {
      records.push_back(SourceRecord{"events", PartitionId(0), Offset(static_cast<int64_t>(i)),
                                     Instant{}, events[i].dossier_id, payloads[i]});
    }
    ASSERT_TRUE(pipeline.ProcessBatch(records, Instant{}).ok());
    ASSERT_TRUE(pipeline.Flush().ok());
  }
  // Every record accounted for: two applied, two dead-lettered by the new reason, one as an
  // invalid value.
  EXPECT_EQ(probe.consumed.load(), 5u);
  EXPECT_EQ(probe.applied.load(), 2u);
  EXPECT_EQ(probe.dead_lettered.load(), 3u);
  EXPECT_EQ(
      probe.dead_lettered_by_reason[static_cast<size_t>(DecodeErrorReason::kInvalidValue)].load(),
      1u);
  EXPECT_EQ(
      probe.dead_lettered_by_reason[static_cast<size_t>(DecodeErrorReason::kTooManyCodes)].load(),
      2u);
  EXPECT_EQ(Code::PoolSize(), kMaxAdmittedCodes);  // nothing new held

  // The dead letters keep the original events and say why.
  auto outbox = (*store)->ReadOutbox(100);
  ASSERT_TRUE(outbox.has_value()) << outbox.error().message;
  std::vector<std::string> details;  // of the too_many_codes dead letters
  for (const auto& entry : *outbox) {
    auto message = alert::DecodeOutboxMessage(entry.payload);
    ASSERT_TRUE(message.has_value());
    if (message->kind != alert::OutboxKind::kDeadLetter) continue;
    std::string reason;
    std::string detail;
    for (const auto& [name, value] : message->headers) {
      if (name == "iocstream.dlq.reason") reason = value;
      if (name == "iocstream.dlq.detail") detail = value;
    }
    if (reason == "too_many_codes") details.push_back(detail);
  }
  ASSERT_EQ(details.size(), 2u);
  EXPECT_NE(details[0].find("procedure_code: new code '9.999999.000.00.00.H44'"), std::string::npos)
      << details[0];
  EXPECT_NE(details[1].find("to_agency_code"), std::string::npos) << details[1];

  // D1 was received and completed; D2 was never stored.
  auto d1 = (*store)->GetDossier("D1");
  ASSERT_TRUE(d1.has_value() && d1->has_value());
  EXPECT_EQ((*d1)->procedure_code, "1.000001.000.00.00.H44");
  EXPECT_TRUE((*d1)->current_unit.empty());  // the refused transfer did not move it
  auto d2 = (*store)->GetDossier("D2");
  ASSERT_TRUE(d2.has_value());
  EXPECT_FALSE(d2->has_value());
  store->reset();
  fs::remove_all(dir);
}

// The CSV source interns a row's codes through the same admission: a row bringing a new code
// past the limit is a row error (reported, counted), and the rows with known codes are read.
TEST(CodeLimit, CsvRowsWithNewCodesPastTheLimitAreRowErrors) {
  ASSERT_TRUE(Code::Admit("so-tu-phap"));
  for (size_t i = Code::PoolSize(); i < kMaxAdmittedCodes; ++i) {
    ASSERT_TRUE(Code::Admit("filler-csv-" + std::to_string(i)));
  }
  ASSERT_GE(Code::PoolSize(), kMaxAdmittedCodes);
  const size_t pool = Code::PoolSize();
  ingest::CsvMapping m;
  m.name = "limit";
  m.columns.dossier_id = "id";
  m.columns.received_at = "open";
  m.columns.agency = "dept";
  m.time_formats = {"%Y-%m-%d %H:%M:%S"};
  m.time_zone = "Asia/Ho_Chi_Minh";
  ingest::testing::TempFile f(
      "id,open,dept\nA1,2026-03-02 08:00:00,so-tu-phap\nA2,2026-03-02 08:00:00,so-moi\n");
  auto reader = ingest::CsvEventReader::Open(f.path(), m);
  ASSERT_TRUE(reader.has_value()) << reader.error().message;
  const ingest::testing::ReadResult r = ingest::testing::ReadAll(**reader);
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0].agency_code, "so-tu-phap");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].line, 3);
  EXPECT_EQ(r.errors[0].reason,
            "too many codes: new agency 'so-moi', 65536 distinct codes are held already");
  EXPECT_EQ(Code::PoolSize(), pool);  // nothing new held
}

}  // namespace
}  // namespace iocstream::app
