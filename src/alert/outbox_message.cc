#include "iocstream/alert/outbox_message.h"

#include <date/date.h>

#include <boost/endian/conversion.hpp>
#include <chrono>
#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>

#include "iocstream/core/json_string.h"
#include "iocstream/decode/rfc3339.h"

namespace iocstream::alert {
namespace {

// Format 1: any message (kind, key, value, headers). Format 2: an alert's fields.
constexpr uint8_t kOutboxFormat = 1;
constexpr uint8_t kAlertFormat = 2;

// Integers little-endian (Boost.Endian), as every format has written them.
void PutU32(std::string& out, uint32_t v) {
  unsigned char b[4];
  boost::endian::store_little_u32(b, v);
  out.append(reinterpret_cast<const char*>(b), 4);
}
void PutString(std::string& out, std::string_view s) {
  PutU32(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}
// Format 2's strings: a one-byte length below 255, else 255 and a four-byte length.
void PutShortString(std::string& out, std::string_view s) {
  if (s.size() < 255) {
    out.push_back(static_cast<char>(s.size()));
  } else {
    out.push_back(static_cast<char>(255));
    PutU32(out, static_cast<uint32_t>(s.size()));
  }
  out.append(s);
}
void PutInstant(std::string& out, Instant t) {
  unsigned char b[8];
  boost::endian::store_little_u64(b, static_cast<uint64_t>(ToEpochMillis(t)));
  out.append(reinterpret_cast<const char*>(b), 8);
}

constexpr std::string_view kAlertIdHeader = "iocstream.alert.id";
constexpr std::string_view kAlertKindHeader = "iocstream.alert.kind";

constexpr Instant kFirstFormattableInstant =
    std::chrono::sys_days{std::chrono::year{-32767} / 1 / 1};
constexpr Instant kLastFormattableInstant =
    std::chrono::sys_days{std::chrono::year{32767} / 12 / 31} + std::chrono::days{1} - Millis{1};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool U8(uint8_t& v) {
    if (in_.empty()) return false;
    v = static_cast<uint8_t>(in_[0]);
    in_.remove_prefix(1);
    return true;
  }
  bool U32(uint32_t& v) {
    if (in_.size() < 4) return false;
    v = boost::endian::load_little_u32(reinterpret_cast<const unsigned char*>(in_.data()));
    in_.remove_prefix(4);
    return true;
  }
  bool String(std::string& s) {
    uint32_t n = 0;
    return U32(n) && Bytes(n, s);
  }
  // The string's bytes in the input (valid as long as it is).
  bool ShortString(std::string_view& s) {
    uint8_t short_length = 0;
    if (!U8(short_length)) return false;
    uint32_t n = short_length;
    if (short_length == 255 && !U32(n)) return false;
    if (in_.size() < n) return false;
    s = in_.substr(0, n);
    in_.remove_prefix(n);
    return true;
  }
  // False past the years date's calendar holds (±32767): the alert's JSON formats the instant
  // with it, and only corrupt bytes hold one.
  bool Time(Instant& t) {
    if (in_.size() < 8) return false;
    const uint64_t ms =
        boost::endian::load_little_u64(reinterpret_cast<const unsigned char*>(in_.data()));
    in_.remove_prefix(8);
    t = FromEpochMillis(static_cast<int64_t>(ms));
    return t >= kFirstFormattableInstant && t <= kLastFormattableInstant;
  }
  [[nodiscard]] bool done() const { return in_.empty(); }

 private:
  bool Bytes(uint32_t n, std::string& s) {
    if (in_.size() < n) return false;
    s.assign(in_.substr(0, n));
    in_.remove_prefix(n);
    return true;
  }

  std::string_view in_;
};

// Years 0000-9999: there FormatRfc3339Utc and date::format("%FT%TZ") write the same text
// ("2026-02-14T09:00:00.123Z"). Outside them they differ (date writes year -1 as "00-1"), and the
// alert payload keeps date's text, which is what consumers have always received.
constexpr Instant kFirstFourDigitYearInstant = std::chrono::sys_days{std::chrono::year{0} / 1 / 1};
constexpr Instant kLastFourDigitYearInstant =
    std::chrono::sys_days{std::chrono::year{10000} / 1 / 1} - Millis{1};

// `text` as a JSON string, as nlohmann::json wrote it with error_handler_t::replace. For valid
// UTF-8 that is AppendJsonString's output. Invalid UTF-8 is replaced differently (nlohmann writes
// one U+FFFD for a cut-off sequence, AppendJsonString one per byte), so such a value, which is
// rare because codes come from decoded events, is written again by nlohmann itself.
void AppendAlertString(std::string& out, std::string_view text) {
  const size_t start = out.size();
  if (AppendJsonString(out, text)) return;
  out.resize(start);
  out += nlohmann::json(std::string(text))
             .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void AppendAlertInstant(std::string& out, Instant t) {
  if (t >= kFirstFourDigitYearInstant && t <= kLastFourDigitYearInstant) {
    out.push_back('"');
    AppendRfc3339Utc(out, t);
    out.push_back('"');
  } else {
    AppendJsonString(out, date::format("%FT%TZ", t));
  }
}

// An alert's fields, its strings viewed where they are (an AlertIntent, or an outbox entry's
// bytes): the relay writes an entry's JSON without copying its strings first.
struct AlertFields {
  AlertKind kind = AlertKind::kDeadlineBreached;
  Channel channel = Channel::kUnknown;
  std::string_view alert_id;
  std::string_view dossier_id;
  std::string_view agency_code;
  std::string_view commune_code;
  std::string_view procedure_code;
  Instant due_at{};
  Instant detected_at{};
  std::optional<Instant> completed_at;
};

AlertFields FieldsOf(const AlertIntent& a) {
  return AlertFields{a.kind,         a.channel,        a.alert_id, a.dossier_id,  a.agency_code,
                     a.commune_code, a.procedure_code, a.due_at,   a.detected_at, a.completed_at};
}

// Appends AlertToJson of the alert `a` views to `out`.
void AppendAlertJson(std::string& out, const AlertFields& a) {
  out += R"({"schema":"dossier-alert.v1","alert_id":)";
  AppendAlertString(out, a.alert_id);
  out += R"(,"kind":)";
  AppendAlertString(out, ToString(a.kind));
  out += R"(,"dossier_id":)";
  AppendAlertString(out, a.dossier_id);
  out += R"(,"agency_code":)";
  AppendAlertString(out, a.agency_code);
  out += R"(,"commune_code":)";
  AppendAlertString(out, a.commune_code);
  out += R"(,"procedure_code":)";
  AppendAlertString(out, a.procedure_code);
  out += R"(,"channel":)";
  AppendAlertString(out, ToString(a.channel));
  out += R"(,"due_at":)";
  AppendAlertInstant(out, a.due_at);
  out += R"(,"detected_at":)";
  AppendAlertInstant(out, a.detected_at);
  if (a.completed_at) {
    out += R"(,"completed_at":)";
    AppendAlertInstant(out, *a.completed_at);
  }
  out.push_back('}');
}

// Bytes AlertToJson(a) takes when nothing needs escaping: keys and punctuation (184), the
// longest kind (27) and channel (9) names, three instants (3 × 24).
size_t AlertJsonSizeHint(const AlertFields& a) {
  return 292 + a.alert_id.size() + a.dossier_id.size() + a.agency_code.size() +
         a.commune_code.size() + a.procedure_code.size();
}

}  // namespace

std::string EncodeOutboxMessage(const OutboxMessage& m) {
  size_t size = 2 + 4 + m.key.size() + 4 + m.value.size() + 4;
  for (const auto& [name, value] : m.headers) size += 4 + name.size() + 4 + value.size();
  std::string out;
  out.reserve(size);
  out.push_back(static_cast<char>(kOutboxFormat));
  out.push_back(static_cast<char>(m.kind));
  PutString(out, m.key);
  PutString(out, m.value);
  PutU32(out, static_cast<uint32_t>(m.headers.size()));
  for (const auto& [name, value] : m.headers) {
    PutString(out, name);
    PutString(out, value);
  }
  return out;
}

namespace {

// Format 2 (EncodeAlertOutbox): the alert, its strings viewed in the reader's input, or
// nothing if the bytes are not one.
std::optional<AlertFields> DecodeAlert(Reader& r) {
  AlertFields a;
  uint8_t kind = 0;
  uint8_t channel = 0;
  uint8_t completed = 0;
  if (!r.U8(kind) || kind >= kAlertKindCount || !r.U8(channel) || channel >= kChannelCount ||
      !r.ShortString(a.alert_id) || !r.ShortString(a.dossier_id) || !r.ShortString(a.agency_code) ||
      !r.ShortString(a.commune_code) || !r.ShortString(a.procedure_code) || !r.Time(a.due_at) ||
      !r.Time(a.detected_at) || !r.U8(completed) || completed > 1) {
    return std::nullopt;
  }
  a.kind = static_cast<AlertKind>(kind);
  a.channel = static_cast<Channel>(channel);
  if (completed == 1) {
    Instant t{};
    if (!r.Time(t)) return std::nullopt;
    a.completed_at = t;
  }
  if (!r.done()) return std::nullopt;
  return a;
}

// The entry's alert if it is format 2 (nullopt: another format); kCorruption if it does not
// decode.
Result<std::optional<AlertFields>> DecodeAlertEntry(std::string_view bytes) {
  if (bytes.empty() || static_cast<uint8_t>(bytes[0]) != kAlertFormat) {
    return std::optional<AlertFields>();
  }
  Reader r(bytes.substr(1));
  std::optional<AlertFields> alert = DecodeAlert(r);
  if (!alert) return Error{ErrorCode::kCorruption, "outbox entry: truncated or invalid alert"};
  return alert;
}

OutboxMessage MessageOf(const AlertFields& alert) {
  OutboxMessage m;
  m.kind = OutboxKind::kAlert;
  m.key = alert.dossier_id;
  m.value.reserve(AlertJsonSizeHint(alert));
  AppendAlertJson(m.value, alert);
  m.headers.reserve(2);
  m.headers.emplace_back(kAlertIdHeader, alert.alert_id);
  m.headers.emplace_back(kAlertKindHeader, ToString(alert.kind));
  return m;
}

}  // namespace

Result<OutboxMessage> DecodeOutboxMessage(std::string_view bytes) {
  auto alert = DecodeAlertEntry(bytes);
  if (!alert) return alert.error();
  if (*alert) return MessageOf(**alert);
  Reader r(bytes);
  uint8_t format = 0;
  uint8_t kind = 0;
  OutboxMessage m;
  uint32_t n_headers = 0;
  if (!r.U8(format) || format != kOutboxFormat || !r.U8(kind) || kind > 1 || !r.String(m.key) ||
      !r.String(m.value) || !r.U32(n_headers)) {
    return Error{ErrorCode::kCorruption, "outbox entry: bad header"};
  }
  m.kind = static_cast<OutboxKind>(kind);
  for (uint32_t i = 0; i < n_headers; ++i) {
    std::string name;
    std::string value;
    if (!r.String(name) || !r.String(value)) {
      return Error{ErrorCode::kCorruption, "outbox entry: truncated headers"};
    }
    m.headers.emplace_back(std::move(name), std::move(value));
  }
  if (!r.done()) return Error{ErrorCode::kCorruption, "outbox entry: trailing bytes"};
  return m;
}

Result<bool> AppendAlertValue(std::string_view bytes, std::string& out) {
  auto alert = DecodeAlertEntry(bytes);
  if (!alert) return alert.error();
  if (*alert) {
    AppendAlertJson(out, **alert);
    return true;
  }
  auto m = DecodeOutboxMessage(bytes);
  if (!m) return m.error();
  if (m->kind != OutboxKind::kAlert) return false;
  out += m->value;
  return true;
}

std::string AlertToJson(const AlertIntent& alert) {
  const AlertFields fields = FieldsOf(alert);
  std::string out;
  out.reserve(AlertJsonSizeHint(fields));
  AppendAlertJson(out, fields);
  return out;
}

void AppendAlertToJson(const AlertIntent& alert, std::string& out) {
  AppendAlertJson(out, FieldsOf(alert));
}

OutboxMessage AlertMessage(const AlertIntent& alert) { return MessageOf(FieldsOf(alert)); }

std::string EncodeAlertOutbox(const AlertIntent& alert) {
  std::string out;
  out.reserve(3 + 5 * 5 + alert.alert_id.size() + alert.dossier_id.size() +
              alert.agency_code.size() + alert.commune_code.size() + alert.procedure_code.size() +
              3 * 8 + 1);
  out.push_back(static_cast<char>(kAlertFormat));
  out.push_back(static_cast<char>(alert.kind));
  out.push_back(static_cast<char>(alert.channel));
  PutShortString(out, alert.alert_id);
  PutShortString(out, alert.dossier_id);
  PutShortString(out, alert.agency_code);
  PutShortString(out, alert.commune_code);
  PutShortString(out, alert.procedure_code);
  PutInstant(out, alert.due_at);
  PutInstant(out, alert.detected_at);
  out.push_back(alert.completed_at ? 1 : 0);
  if (alert.completed_at) PutInstant(out, *alert.completed_at);
  return out;
}

}  // namespace iocstream::alert
