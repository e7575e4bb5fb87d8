#include "app/decode_worker.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "app/pipeline.h"
#include "iocstream/decode/event_encoder.h"
#include "iocstream/decode/rfc3339.h"

namespace iocstream::app {
namespace {

// `n` records: valid events, with a malformed payload every 97th and a key that does not
// match its event every 101st.
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
    e.agency_code = "SO-" + std::to_string(i % 5);
    b.payloads.push_back(i % 97 == 5 ? std::string("{\"not\": \"an event\"") : EncodeEvent(e));
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
  worker.Start(b.records);
  for (size_t begin = 0, end = 0; begin < b.records.size(); begin = end) {
    end = chunk == 0 ? DecodeWorker::ChunkEnd(begin, b.records.size())
                     : std::min(b.records.size(), begin + chunk);
    auto decoded = worker.Decoded(begin, end);
    ASSERT_TRUE(decoded.has_value()) << decoded.error().message;
    ASSERT_EQ(decoded->size(), end - begin);
    for (size_t i = begin; i < end; ++i) {
      const DecodeResult& got = (*decoded)[i - begin];
      const DecodeResult& want = reference[i];
      ASSERT_EQ(got.has_value(), want.has_value()) << i;
      if (want.has_value()) {
        EXPECT_EQ(got->dossier_id, want->dossier_id) << i;
        EXPECT_EQ(got->event_id, want->event_id) << i;
        EXPECT_EQ(got->occurred_at, want->occurred_at) << i;
        EXPECT_EQ(got->agency_code, want->agency_code) << i;
      } else {
        EXPECT_EQ(got.error().reason, want.error().reason) << i;
      }
    }
  }
  worker.Finish();
}

TEST(DecodeWorkerTest, ResultsInOrderChunkByChunkAndBatchAfterBatch) {
  DecodeWorker worker;
  const Batch first = MakeBatch(2 * DecodeWorker::kChunk + 300, 1);  // six worker chunks
  const Batch second = MakeBatch(700, 2);                            // smaller: reused buffer
  const Batch empty = MakeBatch(0, 3);
  ASSERT_NO_FATAL_FAILURE(ExpectSameAsDecodeRecords(worker, first, 0));  // as `run` reads
  ASSERT_NO_FATAL_FAILURE(ExpectSameAsDecodeRecords(worker, first, DecodeWorker::kChunk));
  ASSERT_NO_FATAL_FAILURE(ExpectSameAsDecodeRecords(worker, second, 64));  // reads smaller parts
  ASSERT_NO_FATAL_FAILURE(ExpectSameAsDecodeRecords(worker, empty, 1));
  ASSERT_NO_FATAL_FAILURE(ExpectSameAsDecodeRecords(worker, first, 5000));  // one read of all
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
