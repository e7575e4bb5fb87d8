#include "app/ndjson_reader.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "app/pipeline.h"
#include "unit/state/temp_dir.h"

namespace iocstream::app {
namespace {

using state::testing::TempDir;

std::string Event(int i) {
  return R"({"schema_version":1,"event_id":"e-)" + std::to_string(i) +
         R"(","dossier_id":"H44.246-260105-)" + std::to_string(i) +
         R"(","type":"submitted","occurred_at":"2026-01-04T22:30:12.028Z",)" +
         R"("agency_code":"ubnd-xa-lac-luong","commune_code":"xa-lac-luong",)" +
         R"("procedure_code":"2.002349.000.00.00.H44","channel":"online","online_level":"full"})";
}

// `lines`, each ended by a line feed, after a UTF-8 byte-order mark.
void WriteWithByteOrderMark(const std::string& path, const std::vector<std::string>& lines) {
  std::ofstream f(path, std::ios::binary);
  f << "\xEF\xBB\xBF";
  for (const std::string& l : lines) f << l << "\n";
}

struct ReadBack {
  std::vector<std::string> payloads;
  std::vector<int64_t> offsets;
  std::vector<bool> decoded_ok;
  std::vector<size_t> batch_sizes;
  std::vector<uint64_t> chains;  // every batch's, concatenated
};

ReadBack ReadAll(NdjsonReader& reader) {
  ReadBack out;
  while (true) {
    auto batch = reader.Next();
    EXPECT_TRUE(batch.has_value()) << batch.error().message;
    if (!batch || !*batch) break;
    const NdjsonReader::Batch& b = **batch;
    EXPECT_EQ(b.records.size(), b.decoded.size());
    EXPECT_TRUE(b.chains.empty() || b.chains.size() == b.records.size());
    EXPECT_EQ(b.hashes.size(), b.records.size());
    out.chains.insert(out.chains.end(), b.chains.begin(), b.chains.end());
    out.batch_sizes.push_back(b.records.size());
    for (size_t i = 0; i < b.records.size(); ++i) {
      EXPECT_EQ(b.records[i].topic, "file:x");
      out.payloads.emplace_back(b.records[i].payload);
      out.offsets.push_back(b.records[i].offset.value());
      out.decoded_ok.push_back(b.decoded[i].has_value());
    }
  }
  return out;
}

TEST(NdjsonReader, EveryLineInOrderInBoundedBatchesWithItsDecodeResult) {
  TempDir dir;
  const std::string path = dir.Sub("events.ndjson");
  {
    std::ofstream f(path, std::ios::binary);
    // A byte-order mark, a blank line and a malformed line (each is a record: the pipeline
    // dead-letters it), and a last line without a line feed.
    f << "\xEF\xBB\xBF" << Event(0) << "\n\n{not json\n";
    for (int i = 3; i < 11; ++i) f << Event(i) << "\n";
    f << Event(11);
  }
  auto reader = NdjsonReader::Open(path, "file:x", /*start=*/0, /*batch_size=*/5);
  ASSERT_TRUE(reader.has_value()) << reader.error().message;
  const ReadBack r = ReadAll(**reader);
  ASSERT_EQ(r.payloads.size(), 12u);
  EXPECT_EQ(r.batch_sizes, (std::vector<size_t>{5, 5, 2}));
  for (int64_t i = 0; i < 12; ++i) EXPECT_EQ(r.offsets[i], i);
  EXPECT_EQ(r.payloads[0], Event(0));  // the mark is dropped
  EXPECT_EQ(r.payloads[1], "");
  EXPECT_EQ(r.payloads[2], "{not json");
  EXPECT_EQ(r.payloads[11], Event(11));
  EXPECT_TRUE(r.decoded_ok[0]);
  EXPECT_FALSE(r.decoded_ok[1]);
  EXPECT_FALSE(r.decoded_ok[2]);
  EXPECT_TRUE(r.decoded_ok[11]);
}

// A file a producer is still writing ends in a part of a line: dead-lettered then, the line
// would be lost once complete (the resume position would be past it).
TEST(NdjsonReader, HoldsBackAnIncompleteLastLineUntilItIsComplete) {
  TempDir dir;
  const std::string path = dir.Sub("growing.ndjson");
  const std::string third = Event(2);
  std::ofstream(path, std::ios::binary) << Event(0) << "\n"
                                        << Event(1) << "\n"
                                        << third.substr(0, 60);
  auto reader = NdjsonReader::Open(path, "file:x", /*start=*/0, 10);
  ASSERT_TRUE(reader.has_value());
  ReadBack r = ReadAll(**reader);
  EXPECT_EQ(r.payloads, (std::vector<std::string>{Event(0), Event(1)}));
  EXPECT_EQ((*reader)->HeldBackLine(), std::optional<int64_t>(2));

  // The line completed, and one more without a line feed (complete JSON: read).
  std::ofstream(path, std::ios::binary | std::ios::app) << third.substr(60) << "\n" << Event(3);
  auto resumed = NdjsonReader::Open(path, "file:x", /*start=*/2, 10);
  ASSERT_TRUE(resumed.has_value());
  r = ReadAll(**resumed);
  EXPECT_EQ(r.payloads, (std::vector<std::string>{third, Event(3)}));
  EXPECT_EQ(r.offsets, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(r.decoded_ok, (std::vector<bool>{true, true}));
  EXPECT_EQ((*resumed)->HeldBackLine(), std::nullopt);

  // A complete last line that is not an event is read (and dead-lettered by the pipeline).
  const std::string other = dir.Sub("other.ndjson");
  std::ofstream(other, std::ios::binary) << Event(0) << "\n"
                                         << R"({"not":"an event"})";
  auto complete = NdjsonReader::Open(other, "file:x", 0, 10);
  ASSERT_TRUE(complete.has_value());
  r = ReadAll(**complete);
  EXPECT_EQ(r.payloads, (std::vector<std::string>{Event(0), R"({"not":"an event"})"}));
  EXPECT_EQ(r.decoded_ok, (std::vector<bool>{true, false}));
  EXPECT_EQ((*complete)->HeldBackLine(), std::nullopt);

  // An incomplete last line among those a resume skips is not held back: nothing is read.
  const std::string cut = dir.Sub("cut.ndjson");
  std::ofstream(cut, std::ios::binary) << Event(0) << "\n" << third.substr(0, 60);
  auto skipped = NdjsonReader::Open(cut, "file:x", /*start=*/2, 10);
  ASSERT_TRUE(skipped.has_value());
  EXPECT_TRUE(ReadAll(**skipped).payloads.empty());
  EXPECT_EQ((*skipped)->HeldBackLine(), std::nullopt);
}

// A last line without a line feed longer than an event may be (too_large) may be unfinished
// as well: dead-lettered while cut, its finished text then differed from the line applied and
// the next replay refused the file as changed (found by a helper). Held back like any
// unfinished line, it is dead-lettered whole once finished.
TEST(NdjsonReader, HoldsBackATooLargeLastLineUntilItIsFinished) {
  TempDir dir;
  const std::string path = dir.Sub("growing.ndjson");
  const std::string big =
      R"({"schema_version":1,"note":")" + std::string(kMaxPayloadBytes, 'x') + R"("})";
  std::ofstream(path, std::ios::binary) << Event(0) << "\n" << big.substr(0, big.size() - 10);
  auto reader = NdjsonReader::Open(path, "file:x", /*start=*/0, 10);
  ASSERT_TRUE(reader.has_value());
  ReadBack r = ReadAll(**reader);
  EXPECT_EQ(r.payloads, (std::vector<std::string>{Event(0)}));
  EXPECT_EQ((*reader)->HeldBackLine(), std::optional<int64_t>(1));

  std::ofstream(path, std::ios::binary | std::ios::app) << big.substr(big.size() - 10) << "\n"
                                                        << Event(2) << "\n";
  auto resumed = NdjsonReader::Open(path, "file:x", /*start=*/1, 10);
  ASSERT_TRUE(resumed.has_value());
  r = ReadAll(**resumed);
  EXPECT_EQ(r.payloads,
            (std::vector<std::string>{big.substr(0, NdjsonReader::kKeptLineBytes), Event(2)}));
  EXPECT_EQ(r.decoded_ok, (std::vector<bool>{false, true}));  // too_large, its head
  EXPECT_EQ((*resumed)->HeldBackLine(), std::nullopt);
}

TEST(NdjsonReader, ResumesAtStartAndKeepsLinesAcrossChunkBoundaries) {
  TempDir dir;
  const std::string path = dir.Sub("events.ndjson");
  // ~3.5 MiB: lines cross the reader's 1 MiB chunk boundaries, and one line is longer than a
  // chunk (a long unknown field): only its head is kept.
  const std::string long_line =
      R"({"schema_version":1,"pad":")" + std::string(3u << 20, 'x') + R"("})";
  std::vector<std::string> lines;
  for (int i = 0; i < 2000; ++i) lines.push_back(Event(i));
  lines.insert(lines.begin() + 1000, long_line);
  {
    std::ofstream f(path, std::ios::binary);
    for (const std::string& l : lines) f << l << "\n";
  }
  auto reader = NdjsonReader::Open(path, "file:x", /*start=*/7, /*batch_size=*/333);
  ASSERT_TRUE(reader.has_value());
  const ReadBack r = ReadAll(**reader);
  ASSERT_EQ(r.payloads.size(), lines.size() - 7);
  for (size_t i = 0; i < r.payloads.size(); ++i) {
    ASSERT_EQ(r.offsets[i], static_cast<int64_t>(i + 7));
    ASSERT_EQ(r.payloads[i], lines[i + 7].substr(0, NdjsonReader::kKeptLineBytes))
        << "line " << i + 7;
  }
}

// A line of hundreds of megabytes (a file that is not NDJSON, a runaway producer) was held
// whole, the chunk doubling until it fitted (found by a helper): 200 MB took over 400 MB.
// Past kKeptLineBytes a line is only counted: its record holds its head, dead-lettered as
// too_large with the whole length, wherever the chunks end; a resume after it checks the
// same chain.
TEST(NdjsonReader, KeepsOnlyTheHeadOfAnOverlongLine) {
  TempDir dir;
  const std::string path = dir.Sub("events.ndjson");
  constexpr size_t kLong = size_t{40} << 20;                       // 40 crossed 1 MiB chunks
  const std::string mid(NdjsonReader::kKeptLineBytes + 100, 'm');  // within one chunk
  {
    std::ofstream f(path, std::ios::binary);
    f << Event(0) << "\n"
      << std::string(kLong, 'x') << "\n"
      << Event(2) << "\n"
      << mid << "\n"
      << Event(4) << "\n";
  }
  auto reader = NdjsonReader::Open(path, "file:x", 0, /*batch_size=*/2);
  ASSERT_TRUE(reader.has_value());
  std::vector<std::string> details;
  std::vector<size_t> sizes;
  std::vector<uint64_t> chains;
  while (true) {
    auto batch = (*reader)->Next();
    ASSERT_TRUE(batch.has_value()) << batch.error().message;
    if (!*batch) break;
    for (size_t i = 0; i < (**batch).records.size(); ++i) {
      sizes.push_back((**batch).records[i].payload.size());
      const DecodeResult& d = (**batch).decoded[i];
      details.push_back(
          d.has_value() ? "ok" : std::string(ToString(d.error().reason)) + ": " + d.error().detail);
      chains.push_back((**batch).chains[i]);
    }
  }
  const size_t head = NdjsonReader::kKeptLineBytes;
  EXPECT_EQ(sizes,
            (std::vector<size_t>{Event(0).size(), head, Event(2).size(), head, Event(4).size()}));
  ASSERT_EQ(details.size(), 5u);
  EXPECT_EQ(details[1], "too_large: line: " + std::to_string(kLong) + " bytes, limit " +
                            std::to_string(kMaxPayloadBytes) + " (its first " +
                            std::to_string(head) + " bytes are the payload here)");
  EXPECT_TRUE(details[3].starts_with("too_large: line: " + std::to_string(mid.size()) + " bytes"))
      << details[3];
  EXPECT_EQ(details[4], "ok");
  // The chain through each line is the pipeline's hash of the records as given.
  uint64_t chain = Pipeline::kChainStart;
  chain = Pipeline::ChainFingerprint(chain, Event(0));
  EXPECT_EQ(chains[0], chain);
  chain = Pipeline::ChainFingerprint(chain, std::string(head, 'x'));
  EXPECT_EQ(chains[1], chain);
  // Resumed after the overlong lines, the lines before are found unchanged.
  auto resumed = NdjsonReader::Open(path, "file:x", {4, chains[3]}, 10);
  ASSERT_TRUE(resumed.has_value());
  const ReadBack r = ReadAll(**resumed);
  EXPECT_EQ(r.payloads, (std::vector<std::string>{Event(4)}));
  EXPECT_EQ(r.chains, (std::vector<uint64_t>{chains[4]}));
}

// Blanks after an event's JSON do not count against the limit: a 65,536-byte event followed
// by one space was applied, the same followed by 1,000 spaces (past the kept head) was
// dead-lettered too_large (a helper's finding). Now both are applied, within one chunk or
// across chunks (40 MiB of blanks); one non-blank byte in the tail is still too_large.
TEST(NdjsonReader, BlanksAfterAnEventAtTheLimitAreNotTheEvents) {
  TempDir dir;
  const std::string path = dir.Sub("events.ndjson");
  // Event(1) padded inside its JSON to exactly kMaxPayloadBytes.
  std::string full = Event(1);
  full.insert(1, std::string(kMaxPayloadBytes - full.size(), ' '));
  ASSERT_EQ(full.size(), kMaxPayloadBytes);
  {
    std::ofstream f(path, std::ios::binary);
    f << full << " \n"
      << full << std::string(1000, ' ') << "\t\r\n"
      << full << std::string(size_t{40} << 20, ' ') << "\n"
      << full << std::string(1000, ' ') << "x\n"
      << Event(5) << "\n";
  }
  auto reader = NdjsonReader::Open(path, "file:x", 0, /*batch_size=*/10);
  ASSERT_TRUE(reader.has_value());
  const ReadBack r = ReadAll(**reader);
  EXPECT_EQ(r.decoded_ok, (std::vector<bool>{true, true, true, false, true}));
  ASSERT_EQ(r.payloads.size(), 5u);
  // Each record is the line's head, the same wherever the chunks end.
  EXPECT_EQ(r.payloads[0], full + " ");
  EXPECT_EQ(r.payloads[1], full + " ");
  EXPECT_EQ(r.payloads[2], full + " ");
  // The chain is of the event without its blanks, as a line that ends at the limit gives.
  EXPECT_EQ(r.chains[1], Pipeline::ChainFingerprint(r.chains[0], full));
}

// A last line without a line feed that is only whitespace, a byte-order mark or a JSON
// scalar may be the start of an event: consumed (dead-lettered), the finished line then
// differed from the one applied and the file was refused as changed (found by a helper). A
// complete object or array without a line feed is a line.
TEST(NdjsonReader, HoldsBackALastLineThatMayStillBecomeAnEvent) {
  TempDir dir;
  const std::string path = dir.Sub("events.ndjson");
  for (const std::string& tail :
       {std::string("  "), std::string("12"), std::string("\t\r"), std::string("\"abc\"")}) {
    std::ofstream(path, std::ios::binary) << Event(0) << "\n" << tail;
    auto reader = NdjsonReader::Open(path, "file:x", 0, 10);
    ASSERT_TRUE(reader.has_value());
    EXPECT_EQ(ReadAll(**reader).payloads, (std::vector<std::string>{Event(0)})) << tail;
    EXPECT_EQ((*reader)->HeldBackLine(), std::optional<int64_t>(1)) << tail;
  }
  std::ofstream(path, std::ios::binary) << "\xEF\xBB\xBF";  // a byte-order mark alone
  auto mark = NdjsonReader::Open(path, "file:x", 0, 10);
  ASSERT_TRUE(mark.has_value());
  EXPECT_TRUE(ReadAll(**mark).payloads.empty());
  EXPECT_EQ((*mark)->HeldBackLine(), std::optional<int64_t>(0));
  for (const std::string& tail : {std::string(R"({"a":1})"), std::string("[1,2]")}) {
    std::ofstream(path, std::ios::binary) << Event(0) << "\n" << tail;
    auto reader = NdjsonReader::Open(path, "file:x", 0, 10);
    ASSERT_TRUE(reader.has_value());
    EXPECT_EQ(ReadAll(**reader).payloads, (std::vector<std::string>{Event(0), tail})) << tail;
    EXPECT_EQ((*reader)->HeldBackLine(), std::nullopt) << tail;
  }
}

// Batches end at kMaxBatchBytes of lines too: 8,000 dead-lettered lines of 70 KB made batches
// of hundreds of MiB, and a replay of them peaked near 1 GB (found by a helper).
TEST(NdjsonReader, BatchesAreBoundedInBytes) {
  TempDir dir;
  const std::string path = dir.Sub("events.ndjson");
  const std::string wide(60000, 'w');
  constexpr int kLines = 1000;  // 60 MB
  {
    std::ofstream f(path, std::ios::binary);
    for (int i = 0; i < kLines; ++i) f << wide << "\n";
  }
  auto reader = NdjsonReader::Open(path, "file:x", 0, /*batch_size=*/4096);
  ASSERT_TRUE(reader.has_value());
  const ReadBack r = ReadAll(**reader);
  EXPECT_EQ(r.payloads.size(), size_t{kLines});
  for (size_t lines : r.batch_sizes) {
    EXPECT_LE(lines * wide.size(), NdjsonReader::kMaxBatchBytes + wide.size());
  }
  EXPECT_GE(r.batch_sizes.size(), size_t{kLines} * wide.size() / NdjsonReader::kMaxBatchBytes);
}

// The length an overlong first line's error gives is the line's, without the byte-order mark.
TEST(NdjsonReader, AnOverlongFirstLineAfterAMarkCountsItsOwnBytes) {
  TempDir dir;
  const std::string path = dir.Sub("events.ndjson");
  const size_t length = size_t{3} << 20;
  std::ofstream(path, std::ios::binary) << "\xEF\xBB\xBF" << std::string(length, 'x') << "\n"
                                        << Event(1) << "\n";
  auto reader = NdjsonReader::Open(path, "file:x", 0, 10);
  ASSERT_TRUE(reader.has_value());
  auto batch = (*reader)->Next();
  ASSERT_TRUE(batch.has_value() && *batch);
  ASSERT_EQ((**batch).records.size(), 2u);
  EXPECT_EQ((**batch).records[0].payload, std::string(NdjsonReader::kKeptLineBytes - 3, 'x'));
  ASSERT_FALSE((**batch).decoded[0].has_value());
  EXPECT_TRUE(
      (**batch).decoded[0].error().detail.starts_with("line: " + std::to_string(length) + " bytes"))
      << (**batch).decoded[0].error().detail;
}

// An overlong last line without a line feed is held back as unfinished, as a too_large one.
TEST(NdjsonReader, HoldsBackAnOverlongUnfinishedLastLine) {
  TempDir dir;
  const std::string path = dir.Sub("events.ndjson");
  std::ofstream(path, std::ios::binary) << Event(0) << "\n" << std::string(size_t{3} << 20, 'x');
  auto reader = NdjsonReader::Open(path, "file:x", 0, 10);
  ASSERT_TRUE(reader.has_value());
  EXPECT_EQ(ReadAll(**reader).payloads, (std::vector<std::string>{Event(0)}));
  EXPECT_EQ((*reader)->HeldBackLine(), std::optional<int64_t>(1));
}

TEST(NdjsonReader, StopsCleanlyWhenTheConsumerLeavesEarly) {
  TempDir dir;
  const std::string path = dir.Sub("events.ndjson");
  {
    std::ofstream f(path, std::ios::binary);
    for (int i = 0; i < 50000; ++i) f << Event(i) << "\n";
  }
  auto reader = NdjsonReader::Open(path, "file:x", 0, /*batch_size=*/100, /*max_ahead=*/2);
  ASSERT_TRUE(reader.has_value());
  auto first = (*reader)->Next();
  ASSERT_TRUE(first.has_value() && first->has_value());
  EXPECT_EQ((*first)->records.size(), 100u);
  reader->reset();  // joins the reader thread, blocked on a full queue: must not hang
}

TEST(NdjsonReader, EmptyFileAndAResumeAtTheEndGiveNoRecords) {
  TempDir dir;
  const std::string empty = dir.Sub("empty.ndjson");
  std::ofstream(empty).close();
  auto reader = NdjsonReader::Open(empty, "file:x", 0, 10);
  ASSERT_TRUE(reader.has_value());
  EXPECT_TRUE(ReadAll(**reader).payloads.empty());

  const std::string three = dir.Sub("three.ndjson");
  std::ofstream(three) << Event(0) << "\n" << Event(1) << "\n" << Event(2) << "\n";
  auto resumed = NdjsonReader::Open(three, "file:x", /*start=*/3, 10);
  ASSERT_TRUE(resumed.has_value());
  EXPECT_TRUE(ReadAll(**resumed).payloads.empty());
}

// The chained hash of lines 0..n-1 as the pipeline stores it with offset n.
uint64_t ChainOf(const std::vector<std::string>& lines, size_t n) {
  uint64_t chain = Pipeline::kChainStart;
  for (size_t i = 0; i < n; ++i) chain = Pipeline::ChainFingerprint(chain, lines[i]);
  return chain;
}

// The check stored with the resume position chains the lines before it as the pipeline saw
// them (byte-order mark dropped). A file whose lines there differ, the last one or an earlier
// one, or that has fewer lines, is not the file read up to there: an error before any batch,
// and no line is skipped silently.
TEST(NdjsonReader, ResumeChecksTheLinesBeforeItAgainstTheirChainedHash) {
  TempDir dir;
  const std::string path = dir.Sub("events.ndjson");
  std::vector<std::string> lines;
  for (int i = 0; i < 10; ++i) lines.push_back(Event(i));
  WriteWithByteOrderMark(path, lines);
  for (const size_t start : {1, 5, 10}) {
    auto same =
        NdjsonReader::Open(path, "file:x", {static_cast<int64_t>(start), ChainOf(lines, start)}, 4);
    ASSERT_TRUE(same.has_value());
    const ReadBack r = ReadAll(**same);
    ASSERT_EQ(r.offsets.size(), 10 - start) << "start " << start;
    if (!r.offsets.empty()) {
      EXPECT_EQ(r.offsets.front(), static_cast<int64_t>(start));
    }
  }

  // Line 5 (the last applied) or line 2 changed.
  for (const size_t edited : {4u, 1u}) {
    std::vector<std::string> other = lines;
    other[edited] = Event(99);
    auto differs = NdjsonReader::Open(path, "file:x", {5, ChainOf(other, 5)}, 4);
    ASSERT_TRUE(differs.has_value());
    auto first = (*differs)->Next();
    ASSERT_FALSE(first.has_value()) << "line " << edited + 1 << " changed: lines 6.. were read";
    EXPECT_EQ(first.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(first.error().message.find("lines 1 to 5 are not those an earlier replay"),
              std::string::npos)
        << first.error().message;
    EXPECT_NE(first.error().message.find("another path"), std::string::npos);
  }

  for (const std::optional<uint64_t> check :
       {std::optional<uint64_t>(), std::optional<uint64_t>(ChainOf(lines, 10))}) {
    auto shorter = NdjsonReader::Open(path, "file:x", {12, check}, 4);
    ASSERT_TRUE(shorter.has_value());
    auto next = (*shorter)->Next();
    ASSERT_FALSE(next.has_value());
    EXPECT_EQ(next.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(next.error().message.find("it has 10 lines, fewer than the 12"), std::string::npos)
        << next.error().message;
  }

  // Without a stored check (a store written before source checks) the lines are trusted.
  auto unchecked = NdjsonReader::Open(path, "file:x", 5, 4);
  ASSERT_TRUE(unchecked.has_value());
  EXPECT_EQ(ReadAll(**unchecked).offsets.size(), 5u);
}

// Each record comes with the chain through it, which the pipeline stores with its offset:
// hashed on the reader's thread, from the file's start or the stored check of a resume
// position; none when a resume position has no stored check.
TEST(NdjsonReader, EachRecordCarriesTheChainThroughIt) {
  TempDir dir;
  const std::string path = dir.Sub("events.ndjson");
  std::vector<std::string> lines;
  for (int i = 0; i < 10; ++i) lines.push_back(Event(i));
  // The mark is not part of the first line's hash (the pipeline never sees it).
  WriteWithByteOrderMark(path, lines);
  for (const size_t start : {0, 1, 5, 10}) {
    auto reader =
        NdjsonReader::Open(path, "file:x", {static_cast<int64_t>(start), ChainOf(lines, start)}, 3);
    ASSERT_TRUE(reader.has_value());
    const ReadBack r = ReadAll(**reader);
    ASSERT_EQ(r.chains.size(), lines.size() - start) << "start " << start;
    for (size_t k = 0; k < r.chains.size(); ++k) {
      EXPECT_EQ(r.chains[k], ChainOf(lines, start + k + 1)) << "start " << start << " record " << k;
    }
  }
  // Batches handed back for reuse (as replay does) come again with their own chains only.
  auto recycled = NdjsonReader::Open(path, "file:x", {0, std::nullopt}, 3);
  ASSERT_TRUE(recycled.has_value());
  size_t seen = 0;
  while (true) {
    auto batch = (*recycled)->Next();
    ASSERT_TRUE(batch.has_value());
    if (!*batch) break;
    ASSERT_EQ((*batch)->chains.size(), (*batch)->records.size());
    for (const uint64_t c : (*batch)->chains) EXPECT_EQ(c, ChainOf(lines, ++seen));
    (*recycled)->Recycle(std::move(**batch));
  }
  EXPECT_EQ(seen, lines.size());
  // A replay from the start passes no check (nothing stored): the chain starts at kChainStart.
  auto fresh = NdjsonReader::Open(path, "file:x", {0, std::nullopt}, 3);
  ASSERT_TRUE(fresh.has_value());
  const ReadBack from_start = ReadAll(**fresh);
  ASSERT_EQ(from_start.chains.size(), lines.size());
  for (size_t k = 0; k < lines.size(); ++k) EXPECT_EQ(from_start.chains[k], ChainOf(lines, k + 1));
  auto unchecked = NdjsonReader::Open(path, "file:x", 5, 3);
  ASSERT_TRUE(unchecked.has_value());
  const ReadBack r = ReadAll(**unchecked);
  EXPECT_EQ(r.offsets.size(), 5u);
  EXPECT_TRUE(r.chains.empty());
}

// A complete last line applied before its line feed, written later as "\r\n", is the same
// line: the file only grew (found by a helper: a Windows-style writer was refused for good).
TEST(NdjsonReader, ALastLineAppliedBeforeItsCrlfIsTheSameLine) {
  TempDir dir;
  const std::string path = dir.Sub("crlf.ndjson");
  std::ofstream(path, std::ios::binary) << Event(0) << "\r\n" << Event(1);
  auto first = NdjsonReader::Open(path, "file:x", 0, 10);
  ASSERT_TRUE(first.has_value());
  const ReadBack applied = ReadAll(**first);
  ASSERT_EQ(applied.payloads.size(), 2u);
  const uint64_t chain = ChainOf(applied.payloads, 2);

  std::ofstream(path, std::ios::binary | std::ios::app) << "\r\n" << Event(2) << "\r\n";
  auto resumed = NdjsonReader::Open(path, "file:x", {2, chain}, 10);
  ASSERT_TRUE(resumed.has_value());
  const ReadBack r = ReadAll(**resumed);
  EXPECT_EQ(r.offsets, (std::vector<int64_t>{2}));
}

TEST(NdjsonReader, MissingFileIsAnIoError) {
  TempDir dir;
  auto reader = NdjsonReader::Open(dir.Sub("absent.ndjson"), "file:x", 0, 10);
  ASSERT_FALSE(reader.has_value());
  EXPECT_EQ(reader.error().code, ErrorCode::kIo);
}

}  // namespace
}  // namespace iocstream::app
