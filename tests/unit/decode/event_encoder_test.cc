#include "iocstream/decode/event_encoder.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <random>
#include <string>
#include <utility>

#include "iocstream/decode/event_decoder.h"
#include "iocstream/decode/rfc3339.h"
#include "unit/decode/event_testing.h"

namespace iocstream {
namespace {

Instant At(const char* text) {
  const std::optional<Instant> instant = ParseRfc3339(text);
  EXPECT_TRUE(instant.has_value()) << text;
  return instant.value_or(Instant{});
}

DossierEvent MinimalEvent() {
  DossierEvent event;
  event.event_id = "e-0001";
  event.dossier_id = "000.00.12.H56-260210-0001";
  event.type = EventType::kReceived;
  event.occurred_at = At("2026-02-10T08:30:00+07:00");
  event.agency_code = "000.00.12.H56";
  return event;
}

DossierEvent FullEvent() {
  DossierEvent event = MinimalEvent();
  event.type = EventType::kTransferred;
  event.commune_code = "24121";
  event.procedure_code = "1.002835.000.00.00.H56";
  event.channel = Channel::kOnline;
  event.online_level = OnlineLevel::kFull;
  event.due_at = At("2026-02-13T17:00:00+07:00");
  event.to_agency_code = "000.00.15.H56";
  event.step_due_at = At("2026-02-11T17:00:00+07:00");
  event.new_due_at = At("2026-02-20T17:00:00+07:00");
  event.result_electronic = true;
  return event;
}

TEST(EncodeEventTest, MinimalEventIsCanonical) {
  EXPECT_EQ(EncodeEvent(MinimalEvent()),
            R"({"schema_version":1,"event_id":"e-0001","dossier_id":"000.00.12.H56-260210-0001",)"
            R"("type":"received","occurred_at":"2026-02-10T01:30:00.000Z",)"
            R"("agency_code":"000.00.12.H56"})");
}

TEST(EncodeEventTest, FullEventListsFieldsInContractOrder) {
  EXPECT_EQ(EncodeEvent(FullEvent()),
            R"({"schema_version":1,"event_id":"e-0001","dossier_id":"000.00.12.H56-260210-0001",)"
            R"("type":"transferred","occurred_at":"2026-02-10T01:30:00.000Z",)"
            R"("agency_code":"000.00.12.H56","commune_code":"24121",)"
            R"("procedure_code":"1.002835.000.00.00.H56","channel":"online",)"
            R"("online_level":"full","due_at":"2026-02-13T10:00:00.000Z",)"
            R"("to_agency_code":"000.00.15.H56","step_due_at":"2026-02-11T10:00:00.000Z",)"
            R"("new_due_at":"2026-02-20T10:00:00.000Z","result_electronic":true})");
}

TEST(EncodeEventTest, RoundTripsEveryEventType) {
  EventDecoder decoder;
  for (int i = 0; i < kEventTypeCount; ++i) {
    for (const DossierEvent& base : {MinimalEvent(), FullEvent()}) {
      DossierEvent event = base;
      event.type = static_cast<EventType>(i);
      if (event.type == EventType::kTransferred) event.to_agency_code = "000.00.15.H56";
      if (event.type == EventType::kRescheduled) event.new_due_at = At("2026-03-02T10:00:00Z");
      SCOPED_TRACE(std::string(ToString(event.type)));
      const std::string payload = EncodeEvent(event);
      const DecodeResult decoded = decoder.Decode(payload, event.dossier_id);
      ASSERT_TRUE(decoded.has_value()) << decoded.error().detail << "\n" << payload;
      testing::ExpectSameEvent(*decoded, event);
      EXPECT_EQ(EncodeEvent(*decoded), payload);  // canonical: a fixed point
    }
  }
}

TEST(EncodeEventTest, EscapesStringsAndKeepsUnicode) {
  DossierEvent event = MinimalEvent();
  event.event_id = "quote\" backslash\\ slash/ ÿ";
  event.dossier_id = "HS-Đắk Lắk-😀-0001";
  event.agency_code = "Sở Tư pháp";
  const std::string payload = EncodeEvent(event);
  EXPECT_NE(payload.find(R"("quote\" backslash\\ slash/ ÿ")"), std::string::npos) << payload;
  EXPECT_NE(payload.find("\"HS-Đắk Lắk-😀-0001\""), std::string::npos) << payload;
  EventDecoder decoder;
  const DecodeResult decoded = decoder.Decode(payload, event.dossier_id);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().detail;
  testing::ExpectSameEvent(*decoded, event);
}

TEST(EncodeEventTest, EscapesControlCharactersIntoValidJson) {
  // The decoder rejects control characters in codes, but the encoder must still write JSON.
  DossierEvent event = MinimalEvent();
  std::string all_controls;
  for (int c = 0; c < 0x20; ++c) all_controls.push_back(static_cast<char>(c));
  all_controls += "\x7F";
  event.commune_code = all_controls;
  const std::string payload = EncodeEvent(event);
  EXPECT_NE(payload.find(R"(\u0000\u0001)"), std::string::npos);
  EXPECT_NE(payload.find(R"(\b\t\n\u000b\f\r)"), std::string::npos);
  simdjson::dom::parser parser;
  std::string_view commune;
  ASSERT_EQ(parser.parse(payload)["commune_code"].get(commune), simdjson::SUCCESS) << payload;
  EXPECT_EQ(commune, all_controls);
}

TEST(EncodeEventTest, EscapesAtEveryPositionOfLongStrings) {
  // The encoder skips eight plain bytes at a time: put each special byte at every offset.
  const std::vector<std::string> specials = {
      "\"",   "\\",       std::string(1, '\0'), "\x1F",
      "\x7F", "\xC3\xA9", "\xE1\xBA\xAF",       "\xF0\x9F\x98\x80"};
  simdjson::dom::parser parser;
  for (const std::string& special : specials) {
    for (size_t position = 0; position <= 24; ++position) {
      DossierEvent event = MinimalEvent();
      event.commune_code = std::string(position, 'a') + special + std::string(24 - position, 'b');
      const std::string payload = EncodeEvent(event);
      std::string_view commune;
      ASSERT_EQ(parser.parse(payload)["commune_code"].get(commune), simdjson::SUCCESS) << payload;
      EXPECT_EQ(commune, event.commune_code) << payload;
    }
  }
}

TEST(EncodeEventTest, ReplacesInvalidUtf8) {
  DossierEvent event = MinimalEvent();
  // Windows-1258 "Đ" (0xD0), a stray continuation byte, an overlong "/", a surrogate, a
  // truncated 3-byte sequence at the end.
  event.commune_code = "\xD0-\x80-\xC0\xAF-\xED\xA0\x80-\xE1\xBB";
  const std::string payload = EncodeEvent(event);
  simdjson::dom::parser parser;
  std::string_view commune;
  ASSERT_EQ(parser.parse(payload)["commune_code"].get(commune), simdjson::SUCCESS) << payload;
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(commune, r + "-" + r + "-" + r + r + "-" + r + r + r + "-" + r + r);
}

TEST(EncodeEventTest, RoundTripsRandomEvents) {
  std::mt19937 random(766);
  auto pick = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(random); };
  const std::vector<std::string> codes = {"",         "24121",   "Phường Tân An",
                                          "1.004227", "a\"b\\c", std::string(64, 'z')};
  auto instant = [&] {
    return FromEpochMillis(std::uniform_int_distribution<int64_t>(0, 4102444800000)(random));
  };
  EventDecoder decoder;
  for (int i = 0; i < 2000; ++i) {
    DossierEvent event;
    event.event_id = "e-" + std::to_string(i);
    event.dossier_id = "HS-" + std::to_string(pick(1000000));
    event.type = static_cast<EventType>(pick(kEventTypeCount));
    event.occurred_at = instant();
    event.agency_code = codes[1 + pick(static_cast<int>(codes.size()) - 1)];
    event.commune_code = codes[pick(static_cast<int>(codes.size()))];
    event.procedure_code = codes[pick(static_cast<int>(codes.size()))];
    event.channel = static_cast<Channel>(pick(kChannelCount));
    event.online_level = static_cast<OnlineLevel>(pick(4));
    if (pick(2)) event.due_at = instant();
    if (pick(2) || event.type == EventType::kTransferred) event.to_agency_code = "000.00.15.H56";
    if (pick(2)) event.step_due_at = instant();
    if (pick(2) || event.type == EventType::kRescheduled) event.new_due_at = instant();
    if (pick(3) == 0) event.result_electronic = pick(2) == 1;
    // The contract's relation between fields (due_before_event): a receipt's due_at and an
    // apology's new_due_at are not before the event.
    if (event.type == EventType::kReceived && event.due_at && *event.due_at < event.occurred_at) {
      std::swap(*event.due_at, event.occurred_at);
    }
    if (event.type == EventType::kRescheduled && *event.new_due_at < event.occurred_at) {
      std::swap(*event.new_due_at, event.occurred_at);
    }
    const std::string payload = EncodeEvent(event);
    const DecodeResult decoded = decoder.Decode(payload, event.dossier_id);
    ASSERT_TRUE(decoded.has_value()) << decoded.error().detail << "\n" << payload;
    testing::ExpectSameEvent(*decoded, event);
    if (HasFailure()) FAIL() << payload;
  }
}

}  // namespace
}  // namespace iocstream
