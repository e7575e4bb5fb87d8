#include "iocstream/alert/outbox_message.h"

#include <date/date.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "unit/alert/typical_alert.h"

namespace iocstream::alert {
namespace {

// The encoding AlertToJson had when alerts were built as a nlohmann DOM: the contract for the
// bytes on the alerts topic. AlertToJson must reproduce it byte for byte, for every input.
std::string ReferenceAlertToJson(const AlertIntent& a) {
  const auto rfc3339 = [](Instant t) { return date::format("%FT%TZ", t); };
  nlohmann::ordered_json j;
  j["schema"] = "dossier-alert.v1";
  j["alert_id"] = a.alert_id;
  j["kind"] = ToString(a.kind);
  j["dossier_id"] = a.dossier_id;
  j["agency_code"] = a.agency_code.str();
  j["commune_code"] = a.commune_code.str();
  j["procedure_code"] = a.procedure_code.str();
  j["channel"] = ToString(a.channel);
  j["due_at"] = rfc3339(a.due_at);
  j["detected_at"] = rfc3339(a.detected_at);
  if (a.completed_at) j["completed_at"] = rfc3339(*a.completed_at);
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Instant At(date::year_month_day day, Millis time_of_day = Millis{0}) {
  return Instant{date::sys_days{day}.time_since_epoch() + time_of_day};
}

using samples::TypicalAlert;

// Strings that exercise every escaping rule, at the start, middle and end of a value.
std::vector<std::string> TrickyStrings() {
  std::string all_controls;
  for (int c = 0; c < 0x20; ++c) all_controls.push_back(static_cast<char>(c));
  all_controls += "\x7F";
  return {
      "",
      "000.00.12.H56",
      "Phường Tân An",
      "Đắk Lắk",
      "Sở Tư pháp tỉnh Thừa Thiên Huế",
      "HS-😀-0001",
      "quote\" backslash\\ slash/",
      "\"\\\"\\",
      all_controls,
      "tab\there\nnewline\r\f\b",
      std::string("nul\0inside", 10),
      // Invalid UTF-8: lone lead and continuation bytes, overlong forms, a surrogate, a code
      // point above U+10FFFF, sequences cut off in the middle and at the end, Windows-1258.
      "\xFF",
      "\x80",
      "a\xC3",
      "\xC3(",
      "\xC0\xAF",
      "\xE0\x80\xAF",
      "\xED\xA0\x80",
      "\xF4\x90\x80\x80",
      "\xF8\x88\x80\x80\x80",
      "\xE1\xBB",
      "\xE1\xBB-x",
      "\xF0\x9F\x98",
      "\xF0\x9F\x98-",
      "\xD0\xE0ng \xD0\xE3 N\xB5ng",
      "\xD0-\x80-\xC0\xAF-\xED\xA0\x80-\xE1\xBB",
      std::string(40, 'z') + "\xE1\xBA",
  };
}

// Instants around the edges of the formatter: epoch 0, year boundaries, the RFC 3339 range
// (years 0000-9999) and just outside it.
std::vector<Instant> TrickyInstants() {
  using date::day;
  using date::month;
  using date::year;
  using std::chrono::hours;
  using std::chrono::minutes;
  using std::chrono::seconds;
  const Millis last_ms_of_day = hours{23} + minutes{59} + seconds{59} + Millis{999};
  std::vector<Instant> instants = {
      FromEpochMillis(0),
      FromEpochMillis(1),
      FromEpochMillis(-1),
      FromEpochMillis(999),
      FromEpochMillis(1000),
      At(year{1999} / 12 / 31, last_ms_of_day),
      At(year{2000} / 1 / 1),
      At(year{2000} / 2 / 29, hours{12}),
      At(year{2025} / 12 / 31, last_ms_of_day),
      At(year{2026} / 1 / 1),
      At(year{2026} / 1 / 1, Millis{1}),
      At(year{2100} / 3 / 1),
      At(year{0} / 1 / 1),
      At(year{0} / 1 / 1) - Millis{1},
      At(year{9999} / 12 / 31, last_ms_of_day),
      At(year{9999} / 12 / 31, last_ms_of_day) + Millis{1},
      At(year{-1} / 6 / 15, Millis{1234}),
      At(year{-100} / 1 / 1),
      At(year{12345} / 7 / 4),
  };
  for (int y = 1969; y <= 2031; ++y) {
    instants.push_back(At(year{y} / 1 / 1) - Millis{1});
    instants.push_back(At(year{y} / 1 / 1));
  }
  return instants;
}

void ExpectSameAsReference(const AlertIntent& a) {
  EXPECT_EQ(AlertToJson(a), ReferenceAlertToJson(a))
      << "alert_id=" << testing::PrintToString(a.alert_id)
      << " dossier_id=" << testing::PrintToString(a.dossier_id)
      << " agency_code=" << testing::PrintToString(a.agency_code)
      << " commune_code=" << testing::PrintToString(a.commune_code)
      << " procedure_code=" << testing::PrintToString(a.procedure_code)
      << " due_at=" << ToEpochMillis(a.due_at) << " detected_at=" << ToEpochMillis(a.detected_at)
      << " completed_at="
      << (a.completed_at ? std::to_string(ToEpochMillis(*a.completed_at)) : "none");
}

TEST(AlertToJsonTest, WritesTheDocumentedShape) {
  AlertIntent a = TypicalAlert();
  EXPECT_EQ(AlertToJson(a),
            R"({"schema":"dossier-alert.v1","alert_id":"9f1c2b7a4e6d3058",)"
            R"("kind":"deadline_breached","dossier_id":"000.00.12.H56-260210-0001",)"
            R"("agency_code":"000.00.12.H56","commune_code":"24121",)"
            R"("procedure_code":"1.002835.000.00.00.H56","channel":"online",)"
            R"("due_at":"2026-02-14T09:00:00.000Z","detected_at":"2026-02-14T09:00:00.123Z"})");
  a.kind = AlertKind::kCompletedLate;
  a.completed_at = FromEpochMillis(1771146000000);
  EXPECT_EQ(AlertToJson(a),
            R"({"schema":"dossier-alert.v1","alert_id":"9f1c2b7a4e6d3058",)"
            R"("kind":"completed_late","dossier_id":"000.00.12.H56-260210-0001",)"
            R"("agency_code":"000.00.12.H56","commune_code":"24121",)"
            R"("procedure_code":"1.002835.000.00.00.H56","channel":"online",)"
            R"("due_at":"2026-02-14T09:00:00.000Z","detected_at":"2026-02-14T09:00:00.123Z",)"
            R"("completed_at":"2026-02-15T09:00:00.000Z"})");
}

TEST(AlertToJsonTest, MatchesReferenceForEveryKindChannelAndCompletion) {
  for (int kind = 0; kind < kAlertKindCount; ++kind) {
    for (int channel = 0; channel < kChannelCount; ++channel) {
      for (const bool completed : {false, true}) {
        AlertIntent a = TypicalAlert();
        a.kind = static_cast<AlertKind>(kind);
        a.channel = static_cast<Channel>(channel);
        if (completed) a.completed_at = a.due_at + std::chrono::hours{50};
        ExpectSameAsReference(a);
      }
    }
  }
}

TEST(AlertToJsonTest, MatchesReferenceForTrickyStringsInEveryField) {
  for (const std::string& text : TrickyStrings()) {
    for (int field = 0; field < 5; ++field) {
      AlertIntent a = TypicalAlert();
      const auto set = [&a, field](const std::string& value) {
        switch (field) {
          case 0:
            a.alert_id = value;
            break;
          case 1:
            a.dossier_id = value;
            break;
          case 2:
            a.agency_code = value;
            break;
          case 3:
            a.commune_code = value;
            break;
          default:
            a.procedure_code = value;
        }
      };
      set(text);
      ExpectSameAsReference(a);
      // The same bytes after a prefix long enough for word-at-a-time scanning.
      set("0123456789abcdef" + text + "0123456789");
      ExpectSameAsReference(a);
    }
  }
}

TEST(AlertToJsonTest, MatchesReferenceWithSpecialBytesAtEveryOffset) {
  const std::vector<std::string> specials = {
      "\"",       "\\",           std::string(1, '\0'), "\x1F", "\x7F",
      "\xC3\xA9", "\xE1\xBA\xAF", "\xF0\x9F\x98\x80",   "\xFF", "\xE1\xBB",
      "\xC3"};
  for (const std::string& special : specials) {
    for (size_t position = 0; position <= 24; ++position) {
      AlertIntent a = TypicalAlert();
      a.commune_code = std::string(position, 'a') + special + std::string(24 - position, 'b');
      ExpectSameAsReference(a);
      a.commune_code = std::string(position, 'a') + special;  // at the very end
      ExpectSameAsReference(a);
    }
  }
}

TEST(AlertToJsonTest, MatchesReferenceForInstantsAtTheEdges) {
  for (const Instant t : TrickyInstants()) {
    AlertIntent a = TypicalAlert();
    a.due_at = t;
    ExpectSameAsReference(a);
    a = TypicalAlert();
    a.detected_at = t;
    ExpectSameAsReference(a);
    a = TypicalAlert();
    a.completed_at = t;
    ExpectSameAsReference(a);
  }
}

TEST(AlertToJsonTest, MatchesReferenceForRandomAlerts) {
  std::mt19937 random(20260214);
  auto pick = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(random); };
  const std::vector<std::string> tricky = TrickyStrings();
  // Mostly Vietnamese text and codes, with now and then a byte of anything.
  const std::vector<std::string> pieces = {"a", "Z", "0", ".", "-",  " ",  "ư", "ờ",
                                           "Đ", "ắ", "ế", "😀", "\"", "\\", "/", "\n"};
  auto random_string = [&] {
    if (pick(8) == 0) return tricky[pick(static_cast<int>(tricky.size()))];
    std::string s;
    const int length = pick(40);
    for (int i = 0; i < length; ++i) {
      if (pick(20) == 0) {
        s.push_back(static_cast<char>(pick(256)));
      } else {
        s += pieces[pick(static_cast<int>(pieces.size()))];
      }
    }
    return s;
  };
  // Years 0000-9999, and now and then anything within about ±31000 years (what a
  // year_month_day can hold).
  auto random_instant = [&] {
    if (pick(50) == 0) {
      return FromEpochMillis(std::uniform_int_distribution<int64_t>(-1'000'000'000'000'000,
                                                                    1'000'000'000'000'000)(random));
    }
    return FromEpochMillis(
        std::uniform_int_distribution<int64_t>(-62'167'219'200'000, 253'402'300'799'999)(random));
  };
  for (int i = 0; i < 20000; ++i) {
    AlertIntent a;
    a.alert_id = random_string();
    a.kind = static_cast<AlertKind>(pick(kAlertKindCount));
    a.dossier_id = random_string();
    a.agency_code = random_string();
    a.commune_code = random_string();
    a.procedure_code = random_string();
    a.channel = static_cast<Channel>(pick(kChannelCount));
    a.due_at = random_instant();
    a.detected_at = random_instant();
    if (pick(2) == 0) a.completed_at = random_instant();
    ExpectSameAsReference(a);
    if (HasFailure()) break;
  }
}

TEST(AlertMessageTest, KeyValueAndHeaders) {
  const AlertIntent a = TypicalAlert();
  const OutboxMessage m = AlertMessage(a);
  EXPECT_EQ(m.kind, OutboxKind::kAlert);
  EXPECT_EQ(m.key, a.dossier_id);
  EXPECT_EQ(m.value, ReferenceAlertToJson(a));
  const std::vector<std::pair<std::string, std::string>> headers = {
      {"iocstream.alert.id", a.alert_id}, {"iocstream.alert.kind", "deadline_breached"}};
  EXPECT_EQ(m.headers, headers);
}

// Format 1, which is how earlier versions stored alerts: entries left in a store still decode.
TEST(OutboxMessageTest, AlertRoundTripsThroughTheOutboxEncoding) {
  for (const std::string& text : TrickyStrings()) {
    for (int kind = 0; kind < kAlertKindCount; ++kind) {
      AlertIntent a = TypicalAlert();
      a.kind = static_cast<AlertKind>(kind);
      a.dossier_id = "HS-" + text;
      a.alert_id = text;
      const OutboxMessage original = AlertMessage(a);
      const std::string bytes = EncodeOutboxMessage(original);
      const Result<OutboxMessage> decoded = DecodeOutboxMessage(bytes);
      ASSERT_TRUE(decoded.has_value()) << decoded.error().message;
      EXPECT_EQ(decoded->kind, OutboxKind::kAlert);
      EXPECT_EQ(decoded->key, a.dossier_id);
      EXPECT_EQ(decoded->value, ReferenceAlertToJson(a));
      EXPECT_EQ(decoded->headers, original.headers);
    }
  }
}

TEST(EncodeAlertOutboxTest, DecodesToTheAlertsMessage) {
  std::vector<AlertIntent> alerts;
  std::vector<std::string> texts = TrickyStrings();
  // Lengths around the one-byte length's escape (255 and more take four more bytes).
  for (size_t length : {254, 255, 256, 70000}) texts.push_back(std::string(length, 'x'));
  for (const std::string& text : texts) {
    AlertIntent a = TypicalAlert();
    a.dossier_id = text;
    alerts.push_back(a);
    a = TypicalAlert();
    a.alert_id = text;
    a.commune_code = text;
    a.completed_at = a.due_at + std::chrono::hours{1};
    alerts.push_back(a);
  }
  for (const Instant t : TrickyInstants()) {
    AlertIntent a = TypicalAlert();
    a.due_at = t;
    alerts.push_back(a);
  }
  for (int kind = 0; kind < kAlertKindCount; ++kind) {
    for (int channel = 0; channel < kChannelCount; ++channel) {
      AlertIntent a = TypicalAlert();
      a.kind = static_cast<AlertKind>(kind);
      a.channel = static_cast<Channel>(channel);
      a.agency_code = a.procedure_code = a.commune_code = "";
      alerts.push_back(a);
    }
  }
  for (const AlertIntent& a : alerts) {
    const std::string bytes = EncodeAlertOutbox(a);
    const Result<OutboxMessage> decoded = DecodeOutboxMessage(bytes);
    ASSERT_TRUE(decoded.has_value()) << decoded.error().message;
    EXPECT_EQ(decoded->kind, OutboxKind::kAlert);
    EXPECT_EQ(decoded->key, a.dossier_id);
    EXPECT_EQ(decoded->value, ReferenceAlertToJson(a));
    const std::vector<std::pair<std::string, std::string>> headers = {
        {"iocstream.alert.id", a.alert_id},
        {"iocstream.alert.kind", std::string(ToString(a.kind))}};
    EXPECT_EQ(decoded->headers, headers);
    // What the file relay writes: the same value, appended after what was there.
    std::string lines = "earlier line\n";
    const Result<bool> is_alert = AppendAlertValue(bytes, lines);
    ASSERT_TRUE(is_alert.has_value()) << is_alert.error().message;
    EXPECT_TRUE(*is_alert);
    EXPECT_EQ(lines, "earlier line\n" + ReferenceAlertToJson(a));
  }
}

TEST(AppendAlertValueTest, EitherFormatsAlertDeadLettersAndCorruptEntries) {
  const AlertIntent a = TypicalAlert();
  std::string out = "x";
  // Format 1 (earlier versions' alerts): its value.
  const Result<bool> old_format = AppendAlertValue(EncodeOutboxMessage(AlertMessage(a)), out);
  ASSERT_TRUE(old_format.has_value()) << old_format.error().message;
  EXPECT_TRUE(*old_format);
  EXPECT_EQ(out, "x" + ReferenceAlertToJson(a));
  // A dead letter: false, nothing appended.
  const OutboxMessage dead_letter{OutboxKind::kDeadLetter, "key", "{not json", {{"h", "v"}}};
  out = "x";
  const Result<bool> dead = AppendAlertValue(EncodeOutboxMessage(dead_letter), out);
  ASSERT_TRUE(dead.has_value()) << dead.error().message;
  EXPECT_FALSE(*dead);
  EXPECT_EQ(out, "x");
  // Corrupt entries of either format: DecodeOutboxMessage's error, nothing appended.
  const std::string alert_bytes = EncodeAlertOutbox(a);
  const std::string message_bytes = EncodeOutboxMessage(dead_letter);
  std::string bad_kind = alert_bytes;
  bad_kind[1] = static_cast<char>(kAlertKindCount);
  std::string bad_completed = alert_bytes;
  bad_completed.back() = 2;  // the flag before completed_at (TypicalAlert has none)
  AlertIntent far = a;
  far.due_at = FromEpochMillis(INT64_MAX);
  for (const std::string& bytes :
       {alert_bytes.substr(0, alert_bytes.size() - 1), alert_bytes + "x", bad_kind, bad_completed,
        EncodeAlertOutbox(far), message_bytes.substr(0, message_bytes.size() - 1),
        std::string("\x07"), std::string()}) {
    const Result<OutboxMessage> reference = DecodeOutboxMessage(bytes);
    ASSERT_FALSE(reference.has_value()) << bytes.size();
    const Result<bool> corrupt = AppendAlertValue(bytes, out);
    ASSERT_FALSE(corrupt.has_value()) << bytes.size();
    EXPECT_EQ(corrupt.error().code, ErrorCode::kCorruption);
    EXPECT_EQ(corrupt.error().message, reference.error().message);
    EXPECT_EQ(out, "x");
  }
}

// The point of the alert format: a third of what a replay wrote to the state store was outbox
// entries, flushed and compacted before the relay deleted them.
TEST(EncodeAlertOutboxTest, AFourthOfTheMessagesBytes) {
  const AlertIntent a = TypicalAlert();
  EXPECT_EQ(EncodeAlertOutbox(a).size(), 3 + 5 + a.alert_id.size() + a.dossier_id.size() +
                                             a.agency_code.size() + a.commune_code.size() +
                                             a.procedure_code.size() + 8 + 8 + 1);
  EXPECT_LT(EncodeAlertOutbox(a).size() * 4, EncodeOutboxMessage(AlertMessage(a)).size());
}

TEST(EncodeAlertOutboxTest, RejectsTruncatedTrailingAndInvalidBytes) {
  AlertIntent a = TypicalAlert();
  a.completed_at = a.due_at + std::chrono::hours{1};
  a.procedure_code = std::string(300, 'p');  // a four-byte length
  const std::string bytes = EncodeAlertOutbox(a);
  for (size_t length = 0; length < bytes.size(); ++length) {
    const Result<OutboxMessage> decoded =
        DecodeOutboxMessage(std::string_view(bytes).substr(0, length));
    ASSERT_FALSE(decoded.has_value()) << length;
    EXPECT_EQ(decoded.error().code, ErrorCode::kCorruption);
  }
  EXPECT_TRUE(DecodeOutboxMessage(bytes).has_value());
  EXPECT_FALSE(DecodeOutboxMessage(bytes + "x").has_value());
  std::string bad_kind = bytes;
  bad_kind[1] = static_cast<char>(kAlertKindCount);
  EXPECT_FALSE(DecodeOutboxMessage(bad_kind).has_value());
  std::string bad_channel = bytes;
  bad_channel[2] = static_cast<char>(kChannelCount);
  EXPECT_FALSE(DecodeOutboxMessage(bad_channel).has_value());
  // Instants past the years the JSON's calendar formats (±32767) are corruption; the last
  // ones within them decode.
  const Instant last = At(date::year{32767} / 12 / 31, std::chrono::hours{24} - Millis{1});
  const Instant first = At(date::year{-32767} / 1 / 1);
  for (const auto& [due, decodes] :
       {std::pair{last, true}, std::pair{last + Millis{1}, false}, std::pair{first, true},
        std::pair{first - Millis{1}, false}, std::pair{FromEpochMillis(INT64_MAX), false},
        std::pair{FromEpochMillis(INT64_MIN), false}}) {
    AlertIntent edge = TypicalAlert();
    edge.due_at = due;
    const Result<OutboxMessage> decoded = DecodeOutboxMessage(EncodeAlertOutbox(edge));
    EXPECT_EQ(decoded.has_value(), decodes) << ToEpochMillis(due);
    if (decoded.has_value()) {
      EXPECT_EQ(decoded->value, ReferenceAlertToJson(edge));
    }
  }
  std::string bad_completed = bytes;
  bad_completed[bytes.size() - 9] = 2;  // the flag before completed_at
  EXPECT_FALSE(DecodeOutboxMessage(bad_completed).has_value());
}

TEST(OutboxMessageTest, DeadLetterRoundTrips) {
  OutboxMessage m;
  m.kind = OutboxKind::kDeadLetter;
  m.key = "000.00.12.H56-260210-0001";
  m.value = std::string("{\"bad\":\0\xFF", 10);
  m.headers = {{"iocstream.error", "invalid_json"}, {"empty", ""}};
  const Result<OutboxMessage> decoded = DecodeOutboxMessage(EncodeOutboxMessage(m));
  ASSERT_TRUE(decoded.has_value()) << decoded.error().message;
  EXPECT_EQ(decoded->kind, m.kind);
  EXPECT_EQ(decoded->key, m.key);
  EXPECT_EQ(decoded->value, m.value);
  EXPECT_EQ(decoded->headers, m.headers);
}

TEST(OutboxMessageTest, RejectsTruncatedAndTrailingBytes) {
  const std::string bytes = EncodeOutboxMessage(AlertMessage(TypicalAlert()));
  for (size_t length = 0; length < bytes.size(); ++length) {
    const Result<OutboxMessage> decoded =
        DecodeOutboxMessage(std::string_view(bytes).substr(0, length));
    ASSERT_FALSE(decoded.has_value()) << length;
    EXPECT_EQ(decoded.error().code, ErrorCode::kCorruption);
  }
  EXPECT_FALSE(DecodeOutboxMessage(bytes + "x").has_value());
  std::string unknown_format = bytes;
  unknown_format[0] = 3;
  EXPECT_FALSE(DecodeOutboxMessage(unknown_format).has_value());
}

}  // namespace
}  // namespace iocstream::alert
