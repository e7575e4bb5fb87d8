#include "iocstream/ingest/csv_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "app/mapping_config.h"
#include "unit/ingest/csv_testing.h"

namespace iocstream::ingest {
namespace {

using ::testing::HasSubstr;
using testing::ReadAll;
using testing::TempFile;

Instant Utc(int y, unsigned mo, unsigned d, int h, int mi, int s, int ms = 0) {
  using namespace std::chrono;
  return Instant(sys_days(year(y) / month(mo) / day(d)) + hours(h) + minutes(mi) + seconds(s) +
                 milliseconds(ms));
}

// Concatenation without `const char* + std::string`, which GCC 12 at -O3 flags with a false
// -Wrestrict.
template <typename... Parts>
std::string Cat(const Parts&... parts) {
  std::string out;
  (out.append(parts), ...);
  return out;
}

CsvMapping SimpleMapping() {
  CsvMapping m;
  m.name = "simple";
  m.columns.dossier_id = "id";
  m.columns.received_at = "open";
  m.columns.due_at = "due";
  m.columns.completed_at = "close";
  m.columns.agency = "dept";
  m.id_prefix = "t:";
  m.time_formats = {"%Y-%m-%d %H:%M:%S%z", "%Y-%m-%d %H:%M:%S"};
  m.time_zone = "America/New_York";
  return m;
}

std::unique_ptr<CsvEventReader> OpenOrDie(const std::string& path, const CsvMapping& m) {
  auto reader = CsvEventReader::Open(path, m);
  EXPECT_TRUE(reader.has_value()) << (reader ? "" : reader.error().message);
  return reader ? std::move(*reader) : nullptr;
}

CsvMapping BostonLegacyMapping() {
  auto m = app::LoadCsvMapping(IOCSTREAM_SOURCE_DIR "/config/mappings/boston-legacy.yaml");
  EXPECT_TRUE(m.has_value()) << (m ? "" : m.error().message);
  return m ? *m : CsvMapping{};
}

TEST(CsvEventReaderTest, RowYieldsReceivedThenCompletedWithDeterministicIds) {
  TempFile f(
      "id,open,due,close,dept\n"
      "A1,2020-01-01 10:00:00,2020-01-03 10:00:00,2020-01-02 09:30:00,PWD\n"
      "A2,2020-01-01 11:00:00,,,PWD\n");
  auto reader = OpenOrDie(f.path(), SimpleMapping());
  ASSERT_NE(reader, nullptr);
  auto r = ReadAll(*reader);
  ASSERT_TRUE(r.errors.empty());
  ASSERT_EQ(r.events.size(), 3u);
  EXPECT_EQ(r.events[0].event_id, "t:A1/received");
  EXPECT_EQ(r.events[0].dossier_id, "t:A1");
  EXPECT_EQ(r.events[0].type, EventType::kReceived);
  EXPECT_EQ(r.events[0].occurred_at, Utc(2020, 1, 1, 15, 0, 0));
  EXPECT_EQ(r.events[0].due_at, Utc(2020, 1, 3, 15, 0, 0));
  EXPECT_EQ(CodeText(r.events[0], CodeField::kAgency), "PWD");
  EXPECT_EQ(r.events[1].event_id, "t:A1/completed");
  EXPECT_EQ(r.events[1].type, EventType::kCompleted);
  EXPECT_EQ(r.events[1].occurred_at, Utc(2020, 1, 2, 14, 30, 0));
  EXPECT_FALSE(r.events[1].due_at.has_value());
  EXPECT_EQ(CodeText(r.events[1], CodeField::kAgency), "PWD");
  EXPECT_EQ(r.events[2].event_id, "t:A2/received");
  EXPECT_FALSE(r.events[2].due_at.has_value());
  EXPECT_EQ(reader->rows_read(), 2);
  EXPECT_EQ(reader->stats().received_events, 2);
  EXPECT_EQ(reader->stats().completed_events, 1);
  EXPECT_EQ(reader->stats().row_errors, 0);

  // Reading again gives the same events (idempotent re-import downstream).
  auto again = OpenOrDie(f.path(), SimpleMapping());
  auto r2 = ReadAll(*again);
  ASSERT_EQ(r2.events.size(), r.events.size());
  for (size_t i = 0; i < r.events.size(); ++i) {
    EXPECT_EQ(r2.events[i].event_id, r.events[i].event_id);
    EXPECT_EQ(r2.events[i].occurred_at, r.events[i].occurred_at);
  }
}

// The legacy Boston schema is local New York time: EDT (UTC-4) in July, EST (UTC-5) in
// January, through the shipped mapping.
TEST(CsvEventReaderTest, LegacyNewYorkTimesFollowDaylightSaving) {
  TempFile f(
      "case_enquiry_id,open_dt,sla_target_dt,closed_dt,on_time,case_status,type,department,"
      "neighborhood,source\n"
      "1,2019-07-15 09:00:00,2019-07-16 09:00:00,2019-07-15 17:45:10,ONTIME,Closed,Bed Bugs,"
      "ISD,Roxbury,Constituent Call\n"
      "2,2019-01-15 09:00:00,2019-01-16 09:00:00,,OVERDUE,Open,Bed Bugs,ISD,Roxbury,"
      "Citizens Connect App\n"
      // The spring-forward gap (02:00-03:00 does not exist): the offset before the gap.
      "3,2019-03-10 02:30:00,,,ONTIME,Open,x,ISD,,City Worker App\n"
      // The fall-back hour (01:00-02:00 happens twice): the earlier instant (EDT).
      "4,2019-11-03 01:30:00,,,ONTIME,Open,x,ISD,,Maximo Integration\n");
  // Zone handling alone: without the shipped mapping's double-offset repair.
  auto mapping = BostonLegacyMapping();
  mapping.offset_applied_twice = false;
  auto reader = OpenOrDie(f.path(), mapping);
  ASSERT_NE(reader, nullptr);
  auto r = ReadAll(*reader);
  ASSERT_TRUE(r.errors.empty());
  ASSERT_EQ(r.events.size(), 5u);
  EXPECT_EQ(r.events[0].occurred_at, Utc(2019, 7, 15, 13, 0, 0));
  EXPECT_EQ(r.events[0].due_at, Utc(2019, 7, 16, 13, 0, 0));
  EXPECT_EQ(r.events[1].occurred_at, Utc(2019, 7, 15, 21, 45, 10));
  EXPECT_EQ(r.events[2].occurred_at, Utc(2019, 1, 15, 14, 0, 0));
  EXPECT_EQ(r.events[2].due_at, Utc(2019, 1, 16, 14, 0, 0));
  EXPECT_EQ(r.events[3].occurred_at, Utc(2019, 3, 10, 7, 30, 0));
  EXPECT_EQ(r.events[4].occurred_at, Utc(2019, 11, 3, 5, 30, 0));
  // Dimensions and channels through the mapping.
  EXPECT_EQ(r.events[0].dossier_id, "boston:1");
  EXPECT_EQ(CodeText(r.events[0], CodeField::kAgency), "ISD");
  EXPECT_EQ(CodeText(r.events[0], CodeField::kCommune), "Roxbury");
  EXPECT_EQ(CodeText(r.events[0], CodeField::kProcedure), "Bed Bugs");
  EXPECT_EQ(r.events[0].channel, Channel::kInPerson);
  EXPECT_EQ(r.events[1].channel, Channel::kInPerson);
  EXPECT_EQ(r.events[2].channel, Channel::kOnline);
  EXPECT_EQ(r.events[3].channel, Channel::kInPerson);
  EXPECT_EQ(r.events[4].channel, Channel::kUnknown);
  EXPECT_EQ(reader->stats().unmapped_channel_values, 1);
}

TEST(CsvEventReaderTest, OwnOffsetWinsOverZoneAndFractionsTruncateToMillis) {
  TempFile f(
      "id,open,due,close,dept\n"
      "A,2025-08-01 13:05:00+00,2025-08-04 06:35:06.539+00,2025-08-01 08:00:09.9999+0530,X\n"
      "B,2025-08-01 13:05:00.5+00,2025-08-01 13:05:00.123456-03,,X\n"
      "C,2025-08-01 13:05:00.1234567+00,,,X\n"
      "D,2025-08-01 13:05:00+05:30,,,X\n");
  auto reader = OpenOrDie(f.path(), SimpleMapping());
  ASSERT_NE(reader, nullptr);
  auto r = ReadAll(*reader);
  ASSERT_EQ(r.events.size(), 3u);
  EXPECT_EQ(r.events[0].occurred_at, Utc(2025, 8, 1, 13, 5, 0));
  EXPECT_EQ(r.events[0].due_at, Utc(2025, 8, 4, 6, 35, 6, 539));
  EXPECT_EQ(r.events[1].occurred_at, Utc(2025, 8, 1, 2, 30, 9, 999));
  EXPECT_EQ(r.events[2].occurred_at, Utc(2025, 8, 1, 13, 5, 0, 500));
  EXPECT_EQ(r.events[2].due_at, Utc(2025, 8, 1, 16, 5, 0, 123));
  // More than 6 fractional digits, and "+05:30" for %z, are not consumed: unparseable.
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_EQ(r.errors[0].reason, "unparseable open time: '2025-08-01 13:05:00.1234567+00'");
  EXPECT_EQ(r.errors[0].line, 4);
  EXPECT_EQ(r.errors[1].reason, "unparseable open time: '2025-08-01 13:05:00+05:30'");
}

TEST(CsvEventReaderTest, LiteralOffsetInFormatReadsLocalTime) {
  CsvMapping m = SimpleMapping();
  m.time_formats = {"%Y-%m-%d %H:%M:%S+00"};
  TempFile f("id,open,due,close,dept\nA,2025-08-01 09:00:00.25+00,,,X\n");
  auto reader = OpenOrDie(f.path(), m);
  ASSERT_NE(reader, nullptr);
  auto r = ReadAll(*reader);
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0].occurred_at, Utc(2025, 8, 1, 13, 0, 0, 250));
}

// The ISO-like formats have a fast path that must agree with date::parse on every value:
// "%T" is "%H:%M:%S" for date::parse but not recognised by the fast path.
TEST(CsvEventReaderTest, FastPathAgreesWithDateParse) {
  std::vector<std::string> values = {"2024-02-29 12:00:00",        "2023-02-29 12:00:00",
                                     "2019-03-10 02:30:00",        "2019-11-03 01:30:00",
                                     "2025-8-1 6:35:06",           "2025-08-01 06:35:06.",
                                     "2025-08-01 06:35:60",        "2025-08-01 24:00:00",
                                     "2025-08-01 23:59:59.999999", "2025-08-01 06:35:06.1234567",
                                     "0000-01-01 00:00:00",        "9999-12-31 23:59:59",
                                     "2025-08-01 06:35:06+00",     "2025-08-01 06:35:06+0530",
                                     "2025-08-01 06:35:06-03",     "2025-08-01 06:35:06+05:30",
                                     "2025-08-01 06:35:06+2400",   "2025-08-01 06:35:06+0",
                                     "2025-08-01 06:35:06Z",       "2025-08-01T06:35:06+00",
                                     "2025-08-01T06:35:06.25",     "2025-13-01 00:00:00",
                                     "2025-00-10 00:00:00",        "2025-08-00 00:00:00",
                                     "2025-08-01 06:35",           "20250801 063506",
                                     "2025-08-01  06:35:06",       "2025/08/01 06:35:06",
                                     "2025-08-01 06:35:06.5-0930", "2025-08-01 06:35:06.+00",
                                     "2025-08-01 06:35:06+001",    "2025-08-01 06:35:06+1400",
                                     "2025-08-01 06:35:06-0060",   "1899-12-31 23:59:59"};
  std::mt19937 rng(20250801);
  auto pick = [&rng](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  auto two = [](int v) { return Cat(v < 10 ? "0" : "", std::to_string(v)); };
  for (int i = 0; i < 3000; ++i) {
    std::string v = Cat(std::to_string(pick(1890, 2110)), "-", two(pick(0, 13)), "-",
                        two(pick(0, 32)), pick(0, 9) == 0 ? "T" : " ", two(pick(0, 24)), ":",
                        two(pick(0, 60)), ":", two(pick(0, 60)));
    if (const int digits = pick(-2, 7); digits >= 0) {
      v += ".";
      for (int d = 0; d < digits; ++d) v += static_cast<char>('0' + pick(0, 9));
    }
    switch (pick(0, 3)) {
      case 0:
        break;
      case 1:
        v += Cat(pick(0, 1) != 0 ? "+" : "-", two(pick(0, 25)));
        break;
      case 2:
        v += Cat(pick(0, 1) != 0 ? "+" : "-", two(pick(0, 25)), two(pick(0, 61)));
        break;
      default:
        v += "+00";
    }
    values.push_back(v);
  }
  std::string content = "id,open,due,close,dept\n";
  for (size_t i = 0; i < values.size(); ++i) {
    content += Cat("R", std::to_string(i), ",", values[i], ",,,X\n");
  }
  TempFile f(content);
  CsvMapping fast = SimpleMapping();
  fast.time_formats = {"%Y-%m-%d %H:%M:%S%z", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S%z",
                       "%Y-%m-%dT%H:%M:%S"};
  CsvMapping slow = SimpleMapping();
  slow.time_formats = {"%Y-%m-%d %T%z", "%Y-%m-%d %T", "%Y-%m-%dT%T%z", "%Y-%m-%dT%T"};
  auto fast_reader = OpenOrDie(f.path(), fast);
  auto slow_reader = OpenOrDie(f.path(), slow);
  ASSERT_NE(fast_reader, nullptr);
  ASSERT_NE(slow_reader, nullptr);
  size_t parsed = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    auto a = fast_reader->NextRow();
    auto b = slow_reader->NextRow();
    ASSERT_TRUE(a && b);
    const auto* ea = std::get_if<std::vector<DossierEvent>>(&*a);
    const auto* eb = std::get_if<std::vector<DossierEvent>>(&*b);
    ASSERT_EQ(ea != nullptr, eb != nullptr) << values[i];
    if (ea != nullptr) {
      EXPECT_EQ((*ea)[0].occurred_at, (*eb)[0].occurred_at) << values[i];
      ++parsed;
    }
  }
  EXPECT_GT(parsed, 300u);
  EXPECT_LT(parsed, values.size() - 300);
}

// An export whose local times were shifted by the UTC offset once more: the CRM's own closure
// text says "Thu Jul 28 13:11:33 EDT 2022" where CLOSED_DT says 2022-07-28 09:11:33.
TEST(CsvEventReaderTest, OffsetAppliedTwiceIsUndone) {
  CsvMapping m = SimpleMapping();
  m.offset_applied_twice = true;
  TempFile f(
      "id,open,due,close,dept\n"
      "A,2022-07-28 09:11:33,,,X\n"
      "B,2022-01-18 10:08:24,,,X\n"
      "C,2025-08-01 13:05:00+00,,,X\n");
  auto reader = OpenOrDie(f.path(), m);
  ASSERT_NE(reader, nullptr);
  auto r = ReadAll(*reader);
  ASSERT_EQ(r.events.size(), 3u);
  EXPECT_EQ(r.events[0].occurred_at, Utc(2022, 7, 28, 17, 11, 33));
  EXPECT_EQ(r.events[1].occurred_at, Utc(2022, 1, 18, 20, 8, 24));
  EXPECT_EQ(r.events[2].occurred_at, Utc(2025, 8, 1, 13, 5, 0));  // has its own offset
}

// Quoted commas and quotes, embedded CRLF and LF, CRLF line ends, a BOM, blank lines and a
// last row without a line end; row errors name the physical line where the row starts.
TEST(CsvEventReaderTest, QuotingEmbeddedNewlinesAndLineNumbers) {
  CsvMapping m = SimpleMapping();
  m.columns.procedure = "proc";
  TempFile f(
      "\xEF\xBB\xBF"
      "id,open,due,close,dept,note,proc\r\n"                                            // line 1
      "A1,2020-01-01 10:00:00,,,\"PW, \"\"roads\"\"\",\"multi\r\nline\r\nnote\",p\r\n"  // 2-4
      "\r\n"                                                                            // 5
      ",2020-01-01 10:00:00,,,X,missing id,p\r\n"                                       // 6
      "A2,not a time,,,X,,p\r\n"                                                        // 7
      "A3,2020-01-01 10:00:00,2020-01-02 10:00:00,2020-01-01 09:00:00,X,\"close\nbefore open\","
      "p\r\n"                                               // 8-9
      "A4,2020-01-01 10:00:00,,,X\r\n"                      // 10
      "   A5  ,  2020-01-01 10:00:00 ,,, \"  X  \" ,,\r\n"  // 11
      "\"A6\",\"2020-01-01 10:00:00\",\"\",\"2020-01-03 10:00:00\",\"X\",\"last, no newline\",p");
  auto reader = OpenOrDie(f.path(), m);
  ASSERT_NE(reader, nullptr);
  auto r = ReadAll(*reader);
  EXPECT_EQ(reader->rows_read(), 7);
  EXPECT_THAT(r.lines, ::testing::ElementsAre(2, 6, 7, 8, 10, 11, 12));

  ASSERT_EQ(r.errors.size(), 3u);
  EXPECT_EQ(r.errors[0].line, 6);
  EXPECT_EQ(r.errors[0].reason, "missing dossier id");
  EXPECT_EQ(r.errors[0].file, f.path());
  EXPECT_EQ(r.errors[1].line, 7);
  EXPECT_EQ(r.errors[1].reason, "unparseable open time: 'not a time'");
  EXPECT_EQ(r.errors[2].line, 10);
  EXPECT_EQ(r.errors[2].reason, "wrong field count: 5 fields, the header has 7");
  EXPECT_EQ(reader->stats().row_errors, 3);

  ASSERT_EQ(r.events.size(), 6u);
  EXPECT_EQ(r.events[0].dossier_id, "t:A1");
  EXPECT_EQ(CodeText(r.events[0], CodeField::kAgency), "PW, \"roads\"");
  EXPECT_EQ(CodeText(r.events[0], CodeField::kProcedure), "p");
  // A close before the open is kept as it is: the rules class it.
  EXPECT_EQ(r.events[1].dossier_id, "t:A3");
  EXPECT_EQ(r.events[2].type, EventType::kCompleted);
  EXPECT_LT(r.events[2].occurred_at, r.events[1].occurred_at);
  // Values are trimmed.
  EXPECT_EQ(r.events[3].dossier_id, "t:A5");
  EXPECT_EQ(CodeText(r.events[3], CodeField::kAgency), "X");
  EXPECT_EQ(r.events[3].occurred_at, Utc(2020, 1, 1, 15, 0, 0));
  EXPECT_EQ(r.events[4].dossier_id, "t:A6");
  EXPECT_EQ(CodeText(r.events[4], CodeField::kProcedure), "p");
  EXPECT_EQ(r.events[4].occurred_at, Utc(2020, 1, 1, 15, 0, 0));
  EXPECT_EQ(r.events[5].event_id, "t:A6/completed");
}

TEST(CsvEventReaderTest, ControlCharactersInCodesAreRowErrors) {
  // The event contract forbids control characters in codes: the note above would be
  // dead-lettered, so the reader rejects it with the file and line.
  CsvMapping m = SimpleMapping();
  m.columns.commune = "note";
  TempFile f("id,open,due,close,dept,note\nA1,2020-01-01 10:00:00,,,X,\"two\nlines\"\n");
  auto reader = OpenOrDie(f.path(), m);
  ASSERT_NE(reader, nullptr);
  auto r = ReadAll(*reader);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].reason,
            "invalid commune: control character; its quoted values run over the next 1 line(s) "
            "(if unexpected: an unterminated or stray quote)");
  EXPECT_EQ(r.errors[0].line, 2);
}

// Rows split across the reader's 64 KiB chunks, with embedded newlines, keep their values and
// line numbers.
TEST(CsvEventReaderTest, RowsAcrossChunkBoundaries) {
  CsvMapping m = SimpleMapping();
  m.columns.procedure = "proc";
  std::string content = "id,open,due,close,dept,proc,note\n";
  constexpr int kRows = 5000;
  for (int i = 0; i < kRows; ++i) {
    content += Cat("R", std::to_string(i), ",2020-01-01 10:00:00,,2020-01-02 10:00:00,D",
                   std::to_string(i % 7), ",\"p,", std::to_string(i), "\",\"two\nlines\"\n");
  }
  ASSERT_GT(content.size(), 3u * 64 * 1024);
  TempFile f(content);
  auto reader = OpenOrDie(f.path(), m);
  ASSERT_NE(reader, nullptr);
  int i = 0;
  while (auto row = reader->NextRow()) {
    auto* events = std::get_if<std::vector<DossierEvent>>(&*row);
    ASSERT_NE(events, nullptr) << std::get<RowError>(*row).reason;
    ASSERT_EQ(events->size(), 2u);
    EXPECT_EQ((*events)[0].dossier_id, Cat("t:R", std::to_string(i)));
    EXPECT_EQ(CodeText((*events)[0], CodeField::kAgency), Cat("D", std::to_string(i % 7)));
    EXPECT_EQ(CodeText((*events)[0], CodeField::kProcedure), Cat("p,", std::to_string(i)));
    EXPECT_EQ(reader->last_line(), 2 + 2 * i);
    ++i;
  }
  EXPECT_EQ(i, kRows);
}

TEST(CsvEventReaderTest, UnterminatedQuoteIsOneRowErrorAtItsLine) {
  TempFile f(
      "id,open,due,close,dept\n"
      "A1,2020-01-01 10:00:00,,,X\n"
      "A2,\"2020-01-01 10:00:00,,,X\n"
      "A3,2020-01-01 10:00:00,,,X\n");
  auto reader = OpenOrDie(f.path(), SimpleMapping());
  ASSERT_NE(reader, nullptr);
  auto r = ReadAll(*reader);
  EXPECT_EQ(r.events.size(), 1u);
  // The quote made lines 3 and 4 one value: the errors say so (the row count alone hid A3).
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_EQ(r.errors[0].line, 3);
  EXPECT_EQ(r.errors[0].rows, 1);
  EXPECT_EQ(r.errors[0].reason,
            "wrong field count: 2 fields, the header has 5; its quoted values run over the next "
            "1 line(s) (if unexpected: an unterminated or stray quote)");
  EXPECT_EQ(r.errors[1].line, 4);  // the line it took, A3's
  EXPECT_EQ(r.errors[1].rows, 1);
  EXPECT_EQ(r.errors[1].reason,
            "a quoted value of the row on line 3 is still open at the end of the file: the 1 "
            "line(s) after it, lines 4 to 4, were read into that value, none as a row (an "
            "unterminated quote?)");
  // Three data rows: A1 imported, A2 refused, A3 lost in A2's value.
  EXPECT_EQ(reader->stats().rows_read, 3);
  EXPECT_EQ(reader->stats().row_errors, 2);
}

// A quote opened on the last line takes no other line: its row is refused once and counted
// once (it was counted twice, "1 of 3 CSV rows" for a file of two, and the note named line 4
// of a 3-line file: a helper's finding).
TEST(CsvEventReaderTest, AQuoteOpenOnTheLastLineCountsItsRowOnce) {
  for (const std::string end : {"\n", "\r\n", ""}) {
    SCOPED_TRACE(end.empty() ? "no line feed" : end.size() == 1 ? "LF" : "CRLF");
    TempFile f(
        "id,open,due,close,dept\n"
        "A1,2020-01-01 10:00:00,,,X\n"
        "\"unterminated,quote" +
        end);
    auto reader = OpenOrDie(f.path(), SimpleMapping());
    ASSERT_NE(reader, nullptr);
    auto r = ReadAll(*reader);
    EXPECT_EQ(r.events.size(), 1u);
    ASSERT_EQ(r.errors.size(), 2u);
    EXPECT_EQ(r.errors[0].line, 3);
    EXPECT_EQ(r.errors[0].reason, "wrong field count: 1 fields, the header has 5");
    EXPECT_EQ(r.errors[1].line, 3);
    EXPECT_EQ(r.errors[1].rows, 0);  // no row of its own
    EXPECT_EQ(r.errors[1].reason,
              "a quoted value of the row on line 3 is still open at the end of the file (an "
              "unterminated quote?): it took no line after its own");
    EXPECT_EQ(reader->stats().rows_read, 2);
    EXPECT_EQ(reader->stats().row_errors, 1);
  }
}

// The same in an unmapped last column: the row converted cleanly and every later row was lost
// without a word (found by a review).
TEST(CsvEventReaderTest, AnUnterminatedQuoteInAnUnmappedColumnIsReported) {
  TempFile f(
      "id,open,due,close,dept,note\n"
      "A1,2020-01-01 10:00:00,,,X,fine\n"
      "A2,2020-01-01 10:00:00,,,X,\"oops\n"
      "A3,2020-01-01 10:00:00,,,X,lost\n");
  auto reader = OpenOrDie(f.path(), SimpleMapping());
  ASSERT_NE(reader, nullptr);
  auto r = ReadAll(*reader);
  EXPECT_EQ(r.events.size(), 2u);  // A1, and A2 as read (its note swallowed the line of A3)
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].rows, 1);  // A3
  EXPECT_EQ(reader->stats().rows_read, 3);
  EXPECT_THAT(r.errors[0].reason, HasSubstr("a quoted value of the row on line 3 is still open "
                                            "at the end of the file"));
}

// A closing quote followed by text (libcsv, like most readers, keeps the value open) swallows
// the next row the same way; the error names the lines it covers.
TEST(CsvEventReaderTest, TextAfterAClosingQuoteNamesTheLinesItSwallows) {
  TempFile f(
      "id,open,due,close,dept\n"
      "A1,2020-01-01 10:00:00,,,\"X\"junk\n"
      "A2,2020-01-01 10:00:00,,,X\n"
      "A3,2020-01-01 10:00:00,,,\"X\n"
      "A4,2020-01-01 10:00:00,,,X\n");
  auto reader = OpenOrDie(f.path(), SimpleMapping());
  ASSERT_NE(reader, nullptr);
  auto r = ReadAll(*reader);
  EXPECT_TRUE(r.events.empty());
  ASSERT_EQ(r.errors.size(), 2u);  // the row, then the quote left open at the end
  EXPECT_EQ(r.errors[0].line, 2);
  EXPECT_THAT(r.errors[0].reason,
              ::testing::EndsWith("; its quoted values run over the next 3 line(s) (if "
                                  "unexpected: an unterminated or stray quote)"));
  EXPECT_THAT(r.errors[1].reason, HasSubstr("the row on line 2 is still open"));
  EXPECT_EQ(r.errors[1].rows, 3);  // A2 to A4, read into A1's value
  EXPECT_EQ(reader->stats().rows_read, 4);
}

// Bytes that are not UTF-8 would become U+FFFD in the event: "A\xE9" and "A\xE8" were one
// dossier (a helper's finding). Such a row is refused, naming the column.
TEST(CsvEventReaderTest, InvalidUtf8IsARowError) {
  CsvMapping m = SimpleMapping();
  m.columns.procedure = "proc";
  TempFile f(
      "id,open,due,close,dept,proc\n"
      "A\xE9,2020-01-01 10:00:00,,,X,p\n"
      "A\xE8,2020-01-01 10:00:00,,,X,p\n"
      "B,2020-01-01 10:00:00,,,Caf\xE9,p\n"
      "C,2020-01-01 10:00:00,,,X,\xED\xA0\x80\n"  // an encoded surrogate
      "D,2020-01-01 10:00:00,,,Caf\xC3\xA9 \xE1\xBB\x9F,p\n");
  auto reader = OpenOrDie(f.path(), m);
  ASSERT_NE(reader, nullptr);
  auto r = ReadAll(*reader);
  ASSERT_EQ(r.errors.size(), 4u);
  EXPECT_EQ(r.errors[0].reason, "invalid UTF-8 in column 'id' (dossier_id)");
  EXPECT_EQ(r.errors[1].line, 3);
  EXPECT_EQ(r.errors[2].reason, "invalid UTF-8 in column 'dept' (agency)");
  EXPECT_EQ(r.errors[3].reason, "invalid UTF-8 in column 'proc' (procedure)");
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(CodeText(r.events[0], CodeField::kAgency), "Caf\xC3\xA9 \xE1\xBB\x9F");
}

// A prefix that leaves no room for an id made every row "dossier id too long: '1'" (found by
// a helper): the reader refuses the mapping before reading.
TEST(CsvEventReaderTest, AnIdPrefixWithNoRoomForAnIdIsRefused) {
  TempFile f("id,open,due,close,dept\nA1,2020-01-01 10:00:00,,,X\n");
  CsvMapping m = SimpleMapping();
  m.id_prefix = std::string(118, 'p');
  auto refused = CsvEventReader::Open(f.path(), m);
  ASSERT_FALSE(refused.has_value());
  EXPECT_THAT(refused.error().message,
              HasSubstr("mapping 'simple': id_prefix of 118 bytes leaves no room for an id"));
  m.id_prefix = std::string(117, 'p');
  EXPECT_TRUE(CsvEventReader::Open(f.path(), m).has_value());
}

// A tab in the prefix made every event dead-lettered (invalid_value) while import said every
// row was imported (a helper's finding): refused before reading, the prefix quoted as JSON
// (its control character escaped). So is a default agency with one.
TEST(CsvEventReaderTest, AControlCharacterInTheIdPrefixOrDefaultAgencyIsRefused) {
  TempFile f("id,open,due,close,dept\nA1,2020-01-01 10:00:00,,,X\n");
  CsvMapping m = SimpleMapping();
  m.id_prefix = "bo\tston:";
  auto refused = CsvEventReader::Open(f.path(), m);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(refused.error().message,
              HasSubstr("mapping 'simple': id_prefix \"bo\\tston:\" holds a control character "
                        "(a tab, line feed...), which no event's dossier id or agency code may "
                        "hold"));
  m.id_prefix = "boston:";
  m.default_agency = "ISD\n";
  refused = CsvEventReader::Open(f.path(), m);
  ASSERT_FALSE(refused.has_value());
  EXPECT_THAT(refused.error().message, HasSubstr("default_agency \"ISD\\n\" holds"));
  m.default_agency = "ISD";
  EXPECT_TRUE(CsvEventReader::Open(f.path(), m).has_value());
}

// A UTF-16 export was reported as a header without the mapped columns, its byte-order mark
// and NUL bytes quoted raw (a helper's finding): refused as bad input, with the conversion.
TEST(CsvEventReaderTest, AUtf16FileIsRefusedWithTheConversion) {
  for (const std::string& bom : {std::string("\xFF\xFE"), std::string("\xFE\xFF")}) {
    std::string text = bom;
    for (char c : std::string("id,open,due,close,dept\n")) text += std::string{c, '\0'};
    TempFile f(text);
    auto refused = CsvEventReader::Open(f.path(), SimpleMapping());
    ASSERT_FALSE(refused.has_value());
    EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(refused.error().message,
              f.path() +
                  ": UTF-16 text (its byte-order mark): CSV files are read as UTF-8; convert it "
                  "first, e.g. iconv -f UTF-16 -t UTF-8 " +
                  f.path() + " > converted.csv");
  }
}

TEST(CsvEventReaderTest, CancelledStatusYieldsRejected) {
  CsvMapping m = SimpleMapping();
  m.columns.status = "status";
  m.cancelled_statuses = {"CANC", "DUP"};
  TempFile f(
      "id,open,due,close,dept,status\n"
      "A,2020-01-01 10:00:00,,2020-01-02 10:00:00,X,RESOL\n"
      "B,2020-01-01 10:00:00,,2020-01-02 10:00:00,X,CANC\n"
      "C,2020-01-01 10:00:00,,,X, DUP \n");
  auto reader = OpenOrDie(f.path(), m);
  ASSERT_NE(reader, nullptr);
  auto r = ReadAll(*reader);
  ASSERT_EQ(r.events.size(), 5u);
  EXPECT_EQ(r.events[1].type, EventType::kCompleted);
  EXPECT_EQ(r.events[3].type, EventType::kRejected);
  EXPECT_EQ(r.events[3].event_id, "t:B/rejected");
  EXPECT_EQ(r.events[4].event_id, "t:C/received");  // no close time: no close event
  EXPECT_EQ(reader->stats().rejected_events, 1);
}

// Times outside the contract's instants (core/dossier_event.h: 1970 to 2199 UTC) are row errors:
// the business calendar ends with 2199 and would clamp a deadline computed from a later one.
TEST(CsvEventReaderTest, TimesOutsideTheContractRangeAreRowErrors) {
  CsvMapping m = SimpleMapping();
  m.columns.procedure = "proc";
  TempFile f(
      "id,open,due,close,dept,proc\n"
      "A,1969-12-30 10:00:00,,,X,p\n"
      "B,2020-01-01 10:00:00,2200-01-02 00:00:00,,X,p\n"
      "C,2020-01-01 10:00:00,,9999-12-31 23:59:59,X,p\n"
      "D,2199-12-30 10:00:00,2199-12-31 10:00:00,,X,p\n");
  auto reader = OpenOrDie(f.path(), m);
  ASSERT_NE(reader, nullptr);
  auto r = ReadAll(*reader);
  ASSERT_EQ(r.errors.size(), 3u);
  EXPECT_EQ(r.errors[0].reason,
            "open time outside 1970-01-01 to 2199-12-31 (UTC): '1969-12-30 10:00:00'");
  EXPECT_EQ(r.errors[1].reason,
            "due time outside 1970-01-01 to 2199-12-31 (UTC): '2200-01-02 00:00:00'");
  EXPECT_EQ(r.errors[2].reason,
            "close time outside 1970-01-01 to 2199-12-31 (UTC): '9999-12-31 23:59:59'");
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0].dossier_id, "t:D");
  EXPECT_EQ(r.events[0].due_at, Utc(2199, 12, 31, 15, 0, 0));  // 10:00 in New York
}

TEST(CsvEventReaderTest, AgencyDefaultAndContractLimits) {
  CsvMapping m = SimpleMapping();
  m.columns.procedure = "proc";
  TempFile f(
      "id,open,due,close,dept,proc\n"
      "A,2020-01-01 10:00:00,,,,p\n"
      "B,2020-01-01 10:00:00,,,X," +
      std::string(65, 'p') + "\n" + std::string(119, 'i') +
      ",2020-01-01 10:00:00,,,X,p\n"
      "C,2020-01-01 10:00:00,2020-13-01 10:00:00,,X,p\n"
      "D,2020-01-01 10:00:00,,2020-01-01,X,p\n");
  auto reader = OpenOrDie(f.path(), m);
  ASSERT_NE(reader, nullptr);
  auto r = ReadAll(*reader);
  ASSERT_EQ(r.errors.size(), 5u);
  EXPECT_EQ(r.errors[0].reason, "missing agency");
  EXPECT_THAT(r.errors[1].reason, HasSubstr("procedure too long: 'ppp"));
  EXPECT_THAT(r.errors[2].reason, HasSubstr("dossier id too long"));
  EXPECT_EQ(r.errors[3].reason, "unparseable due time: '2020-13-01 10:00:00'");
  EXPECT_EQ(r.errors[4].reason, "unparseable close time: '2020-01-01'");

  m.default_agency = "Unassigned";
  auto with_default = OpenOrDie(f.path(), m);
  auto r2 = ReadAll(*with_default);
  ASSERT_FALSE(r2.events.empty());
  EXPECT_EQ(CodeText(r2.events[0], CodeField::kAgency), "Unassigned");
  EXPECT_EQ(r2.errors.size(), 4u);
}

TEST(CsvEventReaderTest, OpenErrors) {
  CsvMapping m = SimpleMapping();
  auto missing = CsvEventReader::Open("/nonexistent/dir/x.csv", m);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);

  TempFile empty("\n\n");
  auto no_header = CsvEventReader::Open(empty.path(), m);
  ASSERT_FALSE(no_header.has_value());
  EXPECT_THAT(no_header.error().message, HasSubstr("empty file, no header row"));

  TempFile f("id,open,close,dept,dept\n");
  auto no_due = CsvEventReader::Open(f.path(), m);
  ASSERT_FALSE(no_due.has_value());
  EXPECT_EQ(no_due.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(no_due.error().message,
              HasSubstr("column 'due' (due_at) is not in the header (columns: id, open, close, "
                        "dept, dept)"));

  // An NDJSON file given as CSV (replay --mapping): the message listed its first lines as the
  // columns, whole (found by a helper); a header of many long columns is cut short.
  TempFile ndjson(R"({"schema_version":1,"event_id":"e1","dossier_id":"D1"})"
                  "\n" +
                  std::string(1000, 'x') + "\n");
  auto as_csv = CsvEventReader::Open(ndjson.path(), m);
  ASSERT_FALSE(as_csv.has_value());
  EXPECT_THAT(as_csv.error().message, HasSubstr("starts with '{', as NDJSON events do"));
  std::string wide_header;
  for (int i = 0; i < 100; ++i) wide_header += "column-" + std::string(200, 'c') + ",";
  TempFile wide(wide_header + "last\n");
  auto wide_error = CsvEventReader::Open(wide.path(), m);
  ASSERT_FALSE(wide_error.has_value());
  EXPECT_THAT(wide_error.error().message, HasSubstr("... (101 columns)"));
  EXPECT_LT(wide_error.error().message.size(), 4000u);

  m.columns.due_at.clear();
  auto twice = CsvEventReader::Open(f.path(), m);
  ASSERT_FALSE(twice.has_value());
  EXPECT_THAT(twice.error().message, HasSubstr("column 'dept' (agency) appears 2 times"));

  m.time_zone = "Mars/Olympus";
  auto zone = CsvEventReader::Open(f.path(), m);
  ASSERT_FALSE(zone.has_value());
  EXPECT_THAT(zone.error().message, HasSubstr("unknown time zone 'Mars/Olympus'"));
}

}  // namespace
}  // namespace iocstream::ingest
