#include "app/decode_worker.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "app/pipeline.h"
#include "iocstream/decode/event_encoder.h"
#include "iocstream/decode/rfc3339.h"
#include "unit/decode/event_testing.h"

namespace iocstream::app {
namespace {

// `n` records: valid events, with a malformed payload every 97th (where depends on `salt`, so
// that a batch decoded into an earlier one's results turns events into errors and back) and a
// key that does not match its event every 101st.
struct Batch {
  std::vector<std::string> keys;
  std::vector<std::string> payloads;
  std::vector<SourceRecord> records;
};
Batch MakeBatch(size_t n, int salt) {
  Batch b;
  b.keys.reserve(n);
  b.payloads.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    DossierEvent e;
    e.dossier_id = "D" + std::to_string(salt) + "-" + std::to_string(i);
    e.event_id = e.dossier_id + "/received";
    e.type = EventType::kReceived;
    e.occurred_at = *ParseRfc3339("2026-03-02T01:00:00Z") + std::chrono::minutes(i);
    e.agency_code = "SO-" + std::to_string(i % 5) + "-with-a-longer-code";
    if (salt % 2 == 0) {  // every field, so that the next batch's events must reset them
      e.type = EventType::kTransferred;
      e.commune_code = "xa-" + std::to_string(i % 7) + "-with-a-longer-code";
      e.procedure_code = "1.000" + std::to_string(i % 11) + ".000.00.00.H44";
      e.to_agency_code = "SO-" + std::to_string(i % 3);
      e.channel = Channel::kOnline;
      e.online_level = OnlineLevel::kFull;
      e.due_at = e.occurred_at + std::chrono::hours(24);
      e.step_due_at = e.occurred_at + std::chrono::hours(12);
      e.new_due_at = e.occurred_at + std::chrono::hours(48);
      e.result_electronic = true;
    }
    const bool malformed = (i + static_cast<size_t>(salt)) % 97 == 5;
    b.payloads.push_back(malformed ? std::string("{\"not\": \"an event\"") : EncodeEvent(e));
    b.keys.push_back(i % 101 == 7 ? std::string("other") : e.dossier_id);
  }
  for (size_t i = 0; i < n; ++i) {
    b.records.push_back(SourceRecord{"events", PartitionId(0), Offset(static_cast<int64_t>(i)),
                                     Instant{}, b.keys[i], b.payloads[i]});
  }
  return b;
}

// The worker's results, read chunk by chunk, are DecodeRecords' results. Chunks of `chunk`
// records, or (0) DecodeWorker::ChunkEnd's, as `run` reads them.
void ExpectSameAsDecodeRecords(DecodeWorker& worker, const Batch& b, size_t chunk) {
  EventDecoder reference_decoder;
  const std::vector<DecodeResult> reference = DecodeRecords(reference_decoder, b.records);
  std::vector<EventHashes> reference_hashes;
  HashDecoded(reference, reference_hashes);
  worker.Start(b.records);
  for (size_t begin = 0, end = 0; begin < b.records.size(); begin = end) {
    end = chunk == 0 ? DecodeWorker::ChunkEnd(begin, b.records.size())
                     : std::min(b.records.size(), begin + chunk);
    auto decoded = worker.Decoded(begin, end);
    ASSERT_TRUE(decoded.has_value()) << decoded.error().message;
    ASSERT_EQ(decoded->size(), end - begin);
    const std::span<const EventHashes> hashes = worker.Hashes(begin, end);
    ASSERT_EQ(hashes.size(), end - begin);
    for (size_t i = begin; i < end; ++i) {
      EXPECT_EQ(hashes[i - begin].dossier_id, reference_hashes[i].dossier_id) << i;
      EXPECT_EQ(hashes[i - begin].event_id, reference_hashes[i].event_id) << i;
      EXPECT_EQ(hashes[i - begin].murmur2, reference_hashes[i].murmur2) << i;
      const DecodeResult& got = (*decoded)[i - begin];
      const DecodeResult& want = reference[i];
      ASSERT_EQ(got.has_value(), want.has_value()) << i;
      if (want.has_value()) {
        SCOPED_TRACE(i);
        testing::ExpectSameEvent(*got, *want);
      } else {
        EXPECT_EQ(got.error().reason, want.error().reason) << i;
      }
    }
  }
  worker.Finish();
}

TEST(DecodeWorkerTest, ResultsInOrderChunkByChunkAndBatchAfterBatch) {
  DecodeWorker worker;
  // Each batch is decoded into the results of the one before: events with every field and
  // events with few alternate, and errors move.
  const Batch first = MakeBatch(2 * DecodeWorker::kChunk + 300, 1);  // six worker chunks
  const Batch full = MakeBatch(2 * DecodeWorker::kChunk + 300, 2);
  const Batch second = MakeBatch(700, 3);  // smaller: the results beyond it are left
  const Batch empty = MakeBatch(0, 5);
  const Batch larger = MakeBatch(3 * DecodeWorker::kChunk, 4);  // decoded into, then appended
  ASSERT_NO_FATAL_FAILURE(ExpectSameAsDecodeRecords(worker, first, 0));  // as `run` reads
  ASSERT_NO_FATAL_FAILURE(ExpectSameAsDecodeRecords(worker, full, DecodeWorker::kChunk));
  ASSERT_NO_FATAL_FAILURE(ExpectSameAsDecodeRecords(worker, second, 64));  // reads smaller parts
  ASSERT_NO_FATAL_FAILURE(ExpectSameAsDecodeRecords(worker, empty, 1));
  ASSERT_NO_FATAL_FAILURE(ExpectSameAsDecodeRecords(worker, first, 5000));  // one read of all
  ASSERT_NO_FATAL_FAILURE(ExpectSameAsDecodeRecords(worker, larger, 0));
}

// HashDecoded gives each event the hashes the pipeline would compute itself (its dossier
// cache's, the rules' event id hash, Kafka's murmur2 of the key), and a record that did not
// decode zeros.
TEST(HashDecodedTest, HashesEachDecodedEventsKeysAndZeroForErrors) {
  const Batch b = MakeBatch(300, 7);
  EventDecoder decoder;
  const std::vector<DecodeResult> decoded = DecodeRecords(decoder, b.records);
  std::vector<EventHashes> hashes = {EventHashes{1, 2, 3}};  // replaced, not appended to
  HashDecoded(decoded, hashes);
  ASSERT_EQ(hashes.size(), decoded.size());
  size_t errors = 0;
  for (size_t i = 0; i < decoded.size(); ++i) {
    if (!decoded[i].has_value()) {
      ++errors;
      EXPECT_EQ(hashes[i].dossier_id, 0u) << i;
      EXPECT_EQ(hashes[i].event_id, 0u) << i;
      EXPECT_EQ(hashes[i].murmur2, 0u) << i;
      continue;
    }
    EXPECT_EQ(hashes[i].dossier_id, ShortHash(decoded[i]->dossier_id)) << i;
    EXPECT_EQ(hashes[i].event_id, rules::EventIdHash(decoded[i]->event_id)) << i;
    EXPECT_EQ(hashes[i].murmur2, Pipeline::Murmur2(decoded[i]->dossier_id)) << i;
    EXPECT_EQ(Pipeline::PartitionOfMurmur2(hashes[i].murmur2, 6),
              Pipeline::HashPartition(decoded[i]->dossier_id, 6));
  }
  EXPECT_GT(errors, 0u);
  EXPECT_LT(errors, decoded.size());
}

// DecodeRecords into a vector that holds an earlier batch's results (as NdjsonReader reuses
// its batches) gives what decoding afresh gives, and ends with one result per record.
TEST(DecodeRecordsTest, IntoEarlierResultsAsAfresh) {
  EventDecoder decoder;
  std::vector<DecodeResult> reused;
  for (const Batch& b : {MakeBatch(900, 2), MakeBatch(900, 1), MakeBatch(300, 4),
                         MakeBatch(1200, 3), MakeBatch(0, 6), MakeBatch(50, 8)}) {
    DecodeRecords(decoder, b.records, reused);
    EventDecoder fresh_decoder;
    const std::vector<DecodeResult> fresh = DecodeRecords(fresh_decoder, b.records);
    ASSERT_EQ(reused.size(), b.records.size());
    for (size_t i = 0; i < fresh.size(); ++i) {
      SCOPED_TRACE(i);
      ASSERT_EQ(reused[i].has_value(), fresh[i].has_value());
      if (fresh[i].has_value()) {
        testing::ExpectSameEvent(*reused[i], *fresh[i]);
      } else {
        EXPECT_EQ(reused[i].error().detail, fresh[i].error().detail);
      }
    }
  }
}

TEST(DecodeWorkerTest, ChunksStartSmallAndDoubleUpToTheirBound) {
  // 64, 128, 256, 512, 1024, then 1024 at a time, the last one cut at the batch's end.
  std::vector<size_t> ends;
  for (size_t begin = 0; begin < 4000; begin = ends.back()) {
    ends.push_back(DecodeWorker::ChunkEnd(begin, 4000));
  }
  EXPECT_EQ(ends, (std::vector<size_t>{64, 128, 256, 512, 1024, 2048, 3072, 4000}));
  EXPECT_EQ(DecodeWorker::ChunkEnd(0, 10), 10u);  // a batch smaller than the first chunk
}

TEST(DecodeWorkerTest, ReadsOutsideTheBatchAreErrors) {
  DecodeWorker worker;
  const Batch b = MakeBatch(10, 4);
  worker.Start(b.records);
  auto past = worker.Decoded(5, 11);
  ASSERT_FALSE(past.has_value());
  EXPECT_NE(past.error().message.find("batch of 10"), std::string::npos) << past.error().message;
  EXPECT_FALSE(worker.Decoded(6, 5).has_value());
  auto all = worker.Decoded(0, 10);
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(all->size(), 10u);
}

TEST(DecodeWorkerTest, EndsWhileABatchIsDecoded) {
  const Batch b = MakeBatch(3 * DecodeWorker::kChunk, 5);
  {
    DecodeWorker worker;
    worker.Start(b.records);  // destroyed at once: waits for the batch, no hang
  }
  DecodeWorker worker;
  worker.Start(b.records);
  worker.Start(b.records);  // a Start without Finish finishes the previous batch first
  auto all = worker.Decoded(0, b.records.size());
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(all->size(), b.records.size());
}

}  // namespace
}  // namespace iocstream::app
