#include "state/keys.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <tuple>
#include <vector>

#include "state/encoding.h"

namespace iocstream::state::keys {
namespace {

using namespace std::string_literals;

// Byte order of the encodings must equal this order: the store scans rely on it.
auto TimerOrder(const Timer& t) {
  return std::make_tuple(t.partition, t.due, t.kind, std::string_view(t.dossier_id));
}

std::vector<Timer> SampleTimers() {
  const std::vector<int32_t> partitions = {
      std::numeric_limits<int32_t>::min(), -1, 0, 1, 2, 255, 256,
      std::numeric_limits<int32_t>::max()};
  const std::vector<int64_t> dues = {std::numeric_limits<int64_t>::min(),
                                     -1'000'000'000'000,  // 1938
                                     -256,
                                     -1,
                                     0,
                                     1,
                                     255,
                                     256,
                                     1'751'328'000'000,  // 2025-07-01
                                     std::numeric_limits<int64_t>::max()};
  const std::vector<std::string> ids = {"", "a", "a\0"s, "a\x01"s, "ab", "b", "\xff"};
  std::vector<Timer> out;
  for (auto p : partitions) {
    for (auto d : dues) {
      for (auto kind : {TimerKind::kWarning, TimerKind::kBreach, TimerKind::kStepBreach}) {
        for (const auto& id : ids) {
          out.push_back(Timer{PartitionId(p), FromEpochMillis(d), id, kind});
        }
      }
    }
  }
  return out;
}

TEST(OrderedIntTest, ByteOrderEqualsNumericOrder) {
  std::vector<int64_t> values = {
      std::numeric_limits<int64_t>::min(), -65536, -256, -1, 0, 1, 127, 128, 255, 256,
      std::numeric_limits<int64_t>::max()};
  for (size_t i = 0; i + 1 < values.size(); ++i) {
    std::string a, b;
    AppendOrderedInt64(&a, values[i]);
    AppendOrderedInt64(&b, values[i + 1]);
    EXPECT_LT(a, b) << values[i] << " vs " << values[i + 1];
    EXPECT_EQ(ByteReader(a).ReadOrderedInt64(), values[i]);
  }
  std::string lo, hi;
  AppendOrderedInt32(&lo, -1);
  AppendOrderedInt32(&hi, 0);
  EXPECT_LT(lo, hi);
}

TEST(TimerKeyTest, ByteOrderIsPartitionDueKindDossier) {
  auto timers = SampleTimers();
  std::vector<std::pair<std::string, size_t>> encoded;
  for (size_t i = 0; i < timers.size(); ++i) encoded.emplace_back(TimerKey(timers[i]), i);
  std::sort(encoded.begin(), encoded.end());
  for (size_t i = 0; i + 1 < encoded.size(); ++i) {
    const Timer& a = timers[encoded[i].second];
    const Timer& b = timers[encoded[i + 1].second];
    EXPECT_LT(TimerOrder(a), TimerOrder(b)) << "at " << i;
  }
}

TEST(TimerKeyTest, RoundTrips) {
  for (const auto& timer : SampleTimers()) {
    auto decoded = DecodeTimerKey(TimerKey(timer));
    ASSERT_TRUE(decoded.has_value());
    EXPECT_EQ(*decoded, timer);
  }
}

TEST(TimerKeyTest, EncodeIntoAReusedBufferReplacesItsContents) {
  std::string buffer(100, 'x');
  for (const auto& timer : SampleTimers()) {
    EncodeTimerKey(timer, &buffer);
    EXPECT_EQ(buffer, TimerKey(timer));
  }
  EXPECT_EQ(TimerKey(Timer{PartitionId(-1), FromEpochMillis(1), "id", TimerKind::kBreach}),
            "\x7f\xff\xff\xff"
            "\x80\x00\x00\x00\x00\x00\x00\x01"s +
                static_cast<char>(TimerKind::kBreach) + "id");
}

TEST(TimerKeyTest, RejectsMalformedKeys) {
  std::string key = TimerKey(Timer{PartitionId(3), FromEpochMillis(5), "d", TimerKind::kBreach});
  for (size_t n = 0; n < 13; ++n) EXPECT_FALSE(DecodeTimerKey(key.substr(0, n))) << n;
  key[12] = '\x07';  // unknown kind
  EXPECT_FALSE(DecodeTimerKey(key));
}

TEST(TimerKeyTest, DuePrefixSuccessorBoundsDueTimers) {
  const PartitionId p(1);
  const Instant up_to = FromEpochMillis(1000);
  const std::string lower = TimerPartitionPrefix(p);
  const std::string upper = PrefixSuccessor(TimerDuePrefix(p, up_to));
  for (const auto& timer : SampleTimers()) {
    std::string key = TimerKey(timer);
    bool in_range = key >= lower && key < upper;
    bool due = timer.partition == p && timer.due <= up_to;
    EXPECT_EQ(in_range, due) << timer.partition.value() << " " << ToEpochMillis(timer.due);
  }
}

TEST(PrefixSuccessorTest, IncrementsLastNonMaxByte) {
  EXPECT_EQ(PrefixSuccessor("ab"), "ac");
  EXPECT_EQ(PrefixSuccessor("a\xff"), "b");
  EXPECT_EQ(PrefixSuccessor("\xff\xff"), "");
  EXPECT_EQ(PrefixSuccessor(""), "");
}

TEST(AggregateKeyTest, OrdersByPartitionAgencyCommuneChannelAndRoundTrips) {
  const std::vector<std::string> codes = {"",      "a",  "a\0"s, "a\0b"s, "a\x01"s,
                                          "a\x02", "ab", "b",    "\xff"};
  std::vector<AggregateKey> sample;
  for (int32_t p : {-1, 0, 1}) {
    for (const auto& agency : codes) {
      for (const auto& commune : codes) {
        for (auto channel : {Channel::kUnknown, Channel::kOnline, Channel::kPostal}) {
          sample.push_back(AggregateKey{PartitionId(p), agency, commune, channel});
        }
      }
    }
  }
  std::vector<std::pair<std::string, size_t>> encoded;
  for (size_t i = 0; i < sample.size(); ++i) {
    encoded.emplace_back(AggregateKeyBytes(sample[i]), i);
    auto decoded = DecodeAggregateKey(encoded.back().first);
    ASSERT_TRUE(decoded.has_value()) << i;
    EXPECT_EQ(*decoded, sample[i]);
  }
  std::sort(encoded.begin(), encoded.end());
  for (size_t i = 0; i + 1 < encoded.size(); ++i) {
    // AggregateKey's operator<=> compares (partition, agency, commune, channel).
    EXPECT_LT(sample[encoded[i].second], sample[encoded[i + 1].second]) << "at " << i;
  }
}

TEST(AggregateKeyTest, PlainCodesAreStoredVerbatim) {
  std::string key =
      AggregateKeyBytes(AggregateKey{PartitionId(0), "H57.10", "24841", Channel::kOnline});
  EXPECT_EQ(key,
            "\x80\0\0\0H57.10\0"
            "24841\0\x02"s);
}

TEST(AggregateKeyTest, RejectsMalformedKeys) {
  std::string key = AggregateKeyBytes(AggregateKey{PartitionId(0), "a", "b", Channel::kOnline});
  for (size_t n = 0; n < key.size(); ++n) EXPECT_FALSE(DecodeAggregateKey(key.substr(0, n))) << n;
  EXPECT_FALSE(DecodeAggregateKey(key + "x"));
  std::string bad_channel = key;
  bad_channel.back() = '\x09';
  EXPECT_FALSE(DecodeAggregateKey(bad_channel));
  std::string bad_escape = "\x80\0\0\0a\x01\x05\0b\0\x02"s;
  EXPECT_FALSE(DecodeAggregateKey(bad_escape));
}

TEST(OffsetKeyTest, OrdersByTopicThenPartitionAndRoundTrips) {
  std::vector<TopicPartition> sample;
  for (const auto& topic :
       std::vector<std::string>{"", "dossier-events", "dossier-events\0"s, "dossier-events-dlq"}) {
    for (int32_t p : {0, 1, 9, 10, 300}) sample.push_back(TopicPartition{topic, PartitionId(p)});
  }
  std::vector<std::pair<std::string, size_t>> encoded;
  for (size_t i = 0; i < sample.size(); ++i) {
    encoded.emplace_back(OffsetKey(sample[i]), i);
    auto decoded = DecodeOffsetKey(encoded.back().first);
    ASSERT_TRUE(decoded.has_value());
    EXPECT_EQ(*decoded, sample[i]);
  }
  std::sort(encoded.begin(), encoded.end());
  for (size_t i = 0; i + 1 < encoded.size(); ++i) {
    EXPECT_LT(sample[encoded[i].second], sample[encoded[i + 1].second]);
  }
  EXPECT_FALSE(DecodeOffsetKey("topic"));
  EXPECT_FALSE(DecodeOffsetKey("topic\0\x80\0\0"s));
}

TEST(OutboxKeyTest, ByteOrderIsSequenceOrder) {
  EXPECT_LT(OutboxKey(1), OutboxKey(2));
  EXPECT_LT(OutboxKey(255), OutboxKey(256));
  EXPECT_LT(OutboxKey(1ull << 40), OutboxKey(std::numeric_limits<uint64_t>::max()));
  EXPECT_EQ(DecodeOutboxKey(OutboxKey(123456789)), 123456789u);
  EXPECT_FALSE(DecodeOutboxKey("short"));
}

TEST(WatermarkKeyTest, DistinctPerPartition) {
  EXPECT_NE(WatermarkKey(PartitionId(1)), WatermarkKey(PartitionId(2)));
  EXPECT_TRUE(WatermarkKey(PartitionId(1)).starts_with(kWatermarkKeyPrefix));
}

}  // namespace
}  // namespace iocstream::state::keys
