#include "iocstream/decode/dead_letter.h"

#include <gtest/gtest.h>

#include <string>

namespace iocstream {
namespace {

TEST(DeadLetterTest, HeadersInContractOrder) {
  const DeadLetter letter = MakeDeadLetter(
      {DecodeErrorReason::kInvalidTimestamp, "occurred_at: not RFC 3339: '2026-13-01'"},
      TopicPartition{"dossier-events", PartitionId{7}}, Offset{123456789012});
  EXPECT_EQ(letter.reason, "invalid_timestamp");
  const auto headers = DeadLetterHeaders(letter);
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"iocstream.dlq.reason", "invalid_timestamp"},
      {"iocstream.dlq.detail", "occurred_at: not RFC 3339: '2026-13-01'"},
      {"iocstream.dlq.topic", "dossier-events"},
      {"iocstream.dlq.partition", "7"},
      {"iocstream.dlq.offset", "123456789012"},
      {"iocstream.dlq.schema", "dossier-event.v1"},
  };
  EXPECT_EQ(headers, expected);
}

TEST(DeadLetterTest, LongDetailIsCutOnAUtf8Boundary) {
  DeadLetter letter;
  letter.reason = "invalid_value";
  // "Đ" is two bytes; an odd prefix makes the byte limit fall inside one.
  letter.detail = "x" + std::string(2000, ' ');
  for (size_t i = 1; i < letter.detail.size(); i += 2) letter.detail.replace(i, 2, "\xC4\x90");
  const auto headers = DeadLetterHeaders(letter);
  const std::string& detail = headers[1].second;
  EXPECT_LE(detail.size(), kMaxDeadLetterDetailBytes);
  EXPECT_GE(detail.size(), kMaxDeadLetterDetailBytes - 3);
  EXPECT_NE(static_cast<unsigned char>(detail.back()), 0xC4u);  // no dangling lead byte
}

TEST(DeadLetterTest, FileSourceUsesPathAndLine) {
  const DeadLetter letter =
      MakeDeadLetter({DecodeErrorReason::kEmpty, "payload: 0 bytes"},
                     TopicPartition{"/data/events.ndjson", PartitionId{0}}, Offset{41});
  const auto headers = DeadLetterHeaders(letter);
  EXPECT_EQ(headers[2].second, "/data/events.ndjson");
  EXPECT_EQ(headers[3].second, "0");
  EXPECT_EQ(headers[4].second, "41");
}

TEST(DeadLetterTest, ValuesAndKeysOverTheLimitAreCutAndTheirLengthsTold) {
  std::vector<std::pair<std::string, std::string>> headers;
  DeadLetterRecord kept = CutDeadLetterRecord("{\"a\":1}", "K", headers);
  EXPECT_EQ(kept.value, "{\"a\":1}");
  EXPECT_EQ(kept.key, "K");
  EXPECT_TRUE(headers.empty());
  const std::string exact(kMaxDeadLetterValueBytes, 'v');
  kept = CutDeadLetterRecord(exact, exact, headers);
  EXPECT_EQ(kept.value, exact);
  EXPECT_TRUE(headers.empty());

  const std::string value = std::string(kMaxDeadLetterValueBytes, 'v') + "tail";
  const std::string key = std::string(kMaxDeadLetterValueBytes, 'k') + "!";
  const DeadLetterRecord cut = CutDeadLetterRecord(value, key, headers);
  EXPECT_EQ(cut.value, value.substr(0, kMaxDeadLetterValueBytes));
  EXPECT_EQ(cut.key, key.substr(0, kMaxDeadLetterValueBytes));
  ASSERT_EQ(headers.size(), 2u);
  EXPECT_EQ(headers[0], (std::pair<std::string, std::string>{"iocstream.dlq.value_bytes",
                                                             std::to_string(value.size())}));
  EXPECT_EQ(headers[1], (std::pair<std::string, std::string>{"iocstream.dlq.key_bytes",
                                                             std::to_string(key.size())}));
  // Cut again (the relay, for a topic that refused it): shorter, the original's lengths kept.
  const DeadLetterRecord again = CutDeadLetterRecord(cut.value, cut.key, headers, 100);
  EXPECT_EQ(again.value, value.substr(0, 100));
  EXPECT_EQ(again.key, key.substr(0, 100));
  ASSERT_EQ(headers.size(), 2u);
  EXPECT_EQ(headers[0].second, std::to_string(value.size()));
}

}  // namespace
}  // namespace iocstream
