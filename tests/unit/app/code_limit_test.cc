// The pipeline's admission of an event's codes new to the process (Code::Admitted; the
// decoder and the CSV source only look codes up) over a real RocksDB store. A program of its
// own: it fills the process-wide code pool to its limit, which no other test may share.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
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

// Fills the process's code pool up to `size` codes (its limit by default), after `keep`.
void FillPool(std::initializer_list<std::string_view> keep, size_t size = kMaxAdmittedCodes) {
  for (const std::string_view code : keep) ASSERT_TRUE(Code::Admitted(code).has_value());
  for (size_t i = Code::PoolSize(); i < size; ++i) {
    ASSERT_TRUE(Code::Admitted("filler-" + std::to_string(i)).has_value());
  }
  ASSERT_GE(Code::PoolSize(), size);
}

// A real RocksDB store in a directory of its own, and the 2026 calendar.
class CodeLimit : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("iocstream-code-limit-" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "-" +
            std::to_string(::getpid()));
    fs::remove_all(dir_);
    auto calendar = LoadBusinessCalendar(
        {std::string(IOCSTREAM_SOURCE_DIR) + "/config/calendars/vn-2026.yaml"});
    ASSERT_TRUE(calendar.has_value()) << calendar.error().message;
    calendar_ = std::make_unique<rules::BusinessCalendar>(std::move(*calendar));
    state::StateStoreOptions store_options;
    store_options.path = dir_.string();
    auto store = state::StateStore::Open(store_options);
    ASSERT_TRUE(store.has_value()) << store.error().message;
    store_ = std::move(*store);
    rules_ = rules::RulesContext{calendar_.get(), nullptr, {}};
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }

  fs::path dir_;
  std::unique_ptr<rules::BusinessCalendar> calendar_;
  std::unique_ptr<state::StateStore> store_;
  rules::RulesContext rules_{};
  aggregate::AggregateTable aggregates_;
  PipelineProbe probe_;
};

// An event's new codes are admitted all or none: with one slot left, an event bringing two
// is refused and takes nothing; one bringing one (in two of its fields) takes the slot. First in
// this program: it needs the pool one short of its limit (the pool never shrinks).
TEST_F(CodeLimit, AnEventsNewCodesAreAdmittedAllOrNone) {
  {
    Pipeline pipeline(*store_, aggregates_, rules_, PipelineOptions{}, probe_);
    // With the codes of the next tests (which then find the pool full).
    ASSERT_NO_FATAL_FAILURE(
        FillPool({"so-tu-phap", "xa-lac-luong", "1.000001.000.00.00.H44"}, kMaxAdmittedCodes - 1));
    if (Code::PoolSize() != kMaxAdmittedCodes - 1) GTEST_SKIP() << "the pool is fuller already";
    DossierEvent two = Event("A1", EventType::kReceived, "");
    SetCodeText(two, CodeField::kCommune, "xa-moi-1");
    SetCodeText(two, CodeField::kProcedure, "9.111111.000.00.00.H44");
    // One new text in two fields: one code, which takes the last slot.
    DossierEvent one = Event("A2", EventType::kReceived, "");
    SetCodeText(one, CodeField::kCommune, "xa-moi-2");
    SetCodeText(one, CodeField::kProcedure, "xa-moi-2");
    ASSERT_EQ(two.new_codes.size(), 2u);
    ASSERT_EQ(one.new_codes.size(), 2u);
    const std::vector<std::string> payloads = {EncodeEvent(two), EncodeEvent(one)};
    std::vector<SourceRecord> records;
    for (size_t i = 0; i < payloads.size(); ++i) {
      records.push_back(SourceRecord{"events", PartitionId(0), Offset(static_cast<int64_t>(i)),
                                     Instant{}, i == 0 ? "A1" : "A2", payloads[i]});
    }
    ASSERT_TRUE(pipeline.ProcessBatch(records, Instant{}).ok());
    ASSERT_TRUE(pipeline.Flush().ok());
  }
  EXPECT_EQ(probe_.applied.load(), 1u);
  EXPECT_EQ(
      probe_.dead_lettered_by_reason[static_cast<size_t>(DecodeErrorReason::kTooManyCodes)].load(),
      1u);
  EXPECT_FALSE(Code::Find("xa-moi-1").has_value());
  EXPECT_FALSE(Code::Find("9.111111.000.00.00.H44").has_value());
  EXPECT_TRUE(Code::Find("xa-moi-2").has_value());
  EXPECT_EQ(Code::PoolSize(), kMaxAdmittedCodes);
  auto a2 = store_->GetDossier("A2");
  ASSERT_TRUE(a2.has_value() && a2->has_value());
  EXPECT_EQ((*a2)->commune_code, "xa-moi-2");
  EXPECT_EQ((*a2)->procedure_code, "xa-moi-2");
}

TEST_F(CodeLimit, NewCodesPastTheLimitAreDeadLetteredAndKnownOnesStillApply) {
  const std::string known = "1.000001.000.00.00.H44";
  const Instant now = *ParseRfc3339("2026-03-02T02:00:00Z");
  {
    PipelineOptions options;
    options.max_time_ahead = std::chrono::days(180);
    Pipeline pipeline(*store_, aggregates_, rules_, options, probe_);
    ASSERT_NO_FATAL_FAILURE(FillPool({"so-tu-phap", "xa-lac-luong", known}));
    ASSERT_EQ(Code::PoolSize(), kMaxAdmittedCodes);

    std::vector<DossierEvent> events = {
        Event("D1", EventType::kReceived, known),                   // known codes: applied
        Event("D2", EventType::kReceived, known),                   // new procedure: refused
        Event("D1", EventType::kTransferred, known, "so-tu-phap"),  // new unit: refused
        Event("D1", EventType::kCompleted, known),                  // applied
        Event("D3", EventType::kReceived, known),   // a new code in an invalid event
        Event("D4", EventType::kReceived, known)};  // a new code in an event years ahead
    // Looked up as a source does: texts the pool does not hold become new codes.
    SetCodeText(events[1], CodeField::kProcedure, "9.999999.000.00.00.H44");
    SetCodeText(events[2], CodeField::kToAgency, "ubnd-xa-moi");
    SetCodeText(events[4], CodeField::kProcedure, "9.888888.000.00.00.H44");
    SetCodeText(events[5], CodeField::kProcedure, "9.777777.000.00.00.H44");
    events[5].occurred_at = *ParseRfc3339("2031-03-02T01:00:00Z");
    ASSERT_EQ(events[1].new_codes.size(), 1u);
    ASSERT_TRUE(events[1].procedure_code.empty());
    std::vector<std::string> payloads;
    for (const DossierEvent& e : events) payloads.push_back(EncodeEvent(e));
    ASSERT_NE(payloads[1].find(R"("procedure_code":"9.999999.000.00.00.H44")"), std::string::npos)
        << payloads[1];
    // Refused for its type, checked before the codes: the code is not even looked at.
    const size_t type_at = payloads[4].find(R"("type":"received")");
    ASSERT_NE(type_at, std::string::npos);
    payloads[4].replace(type_at, 17, R"("type":"recieved")");
    std::vector<SourceRecord> records;
    for (size_t i = 0; i < payloads.size(); ++i) {
      records.push_back(SourceRecord{"events", PartitionId(0), Offset(static_cast<int64_t>(i)),
                                     Instant{}, events[i].dossier_id, payloads[i]});
    }
    ASSERT_TRUE(pipeline.ProcessBatch(records, now).ok());

    // An event decoded before its dossier's state was read (after a restart, the pool did
    // not hold the dossier's codes yet): its code is new when decoded, and held when the
    // pipeline admits it, past the limit too.
    DossierEvent late = Event("D1", EventType::kResultReturned, known);
    late.procedure_code = Code();
    late.new_codes.push_back(NewCode{CodeField::kProcedure, known});
    const std::string late_payload = EncodeEvent(late);
    const std::vector<SourceRecord> late_records = {SourceRecord{
        "events", PartitionId(0), Offset(6), Instant{}, late.dossier_id, late_payload}};
    std::vector<DecodeResult> decoded = {DecodeResult(late)};
    ASSERT_TRUE(pipeline.ProcessDecoded(late_records, decoded, now).ok());
    ASSERT_TRUE(pipeline.Flush().ok());
  }
  // Every record accounted for: three applied, two dead-lettered by the new reason, one as
  // an invalid value, one as an event too far ahead.
  EXPECT_EQ(probe_.consumed.load(), 7u);
  EXPECT_EQ(probe_.applied.load(), 3u);
  EXPECT_EQ(probe_.dead_lettered.load(), 4u);
  auto by_reason = [&](DecodeErrorReason reason) {
    return probe_.dead_lettered_by_reason[static_cast<size_t>(reason)].load();
  };
  EXPECT_EQ(by_reason(DecodeErrorReason::kInvalidValue), 1u);
  EXPECT_EQ(by_reason(DecodeErrorReason::kEventTimeAhead), 1u);
  EXPECT_EQ(by_reason(DecodeErrorReason::kTooManyCodes), 2u);
  EXPECT_EQ(Code::PoolSize(), kMaxAdmittedCodes);  // nothing new held

  // The dead letters keep the original events and say why.
  auto outbox = store_->ReadOutbox(100);
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
  EXPECT_EQ(details[0],
            "procedure_code: new code '9.999999.000.00.00.H44': 65536 distinct codes are held "
            "already (a process admits 65536 from events)");
  EXPECT_NE(details[1].find("to_agency_code: new code 'ubnd-xa-moi'"), std::string::npos)
      << details[1];

  // D1 was received, completed and returned; D2 was never stored.
  auto d1 = store_->GetDossier("D1");
  ASSERT_TRUE(d1.has_value() && d1->has_value());
  EXPECT_EQ((*d1)->procedure_code, known);
  EXPECT_EQ((*d1)->status, DossierStatus::kReturned);
  EXPECT_TRUE((*d1)->current_unit.empty());  // the refused transfer did not move it
  auto d2 = store_->GetDossier("D2");
  ASSERT_TRUE(d2.has_value());
  EXPECT_FALSE(d2->has_value());
}

// The CSV source looks a row's codes up and admits none: which rows it reads does not depend
// on the pool (a replay that resumes a file hashes the events it read). Past the limit, a row
// with a new code is read, its code held as text; it is the pipeline that refuses the event.
TEST(CodeLimitCsv, CsvRowsWithNewCodesAreReadWithoutAdmittingThem) {
  ASSERT_NO_FATAL_FAILURE(FillPool({"so-tu-phap"}));
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
  EXPECT_TRUE(r.errors.empty());
  ASSERT_EQ(r.events.size(), 2u);
  EXPECT_EQ(r.events[0].agency_code, "so-tu-phap");
  EXPECT_TRUE(r.events[0].new_codes.empty());
  EXPECT_TRUE(r.events[1].agency_code.empty());
  EXPECT_EQ(CodeText(r.events[1], CodeField::kAgency), "so-moi");
  EXPECT_NE(EncodeEvent(r.events[1]).find(R"("agency_code":"so-moi")"), std::string::npos);
  EXPECT_EQ(Code::PoolSize(), pool);  // nothing new held
}

}  // namespace
}  // namespace iocstream::app
