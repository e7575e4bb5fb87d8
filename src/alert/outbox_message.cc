#include "iocstream/alert/outbox_message.h"

#include <date/date.h>

#include <chrono>
#include <cstddef>
#include <nlohmann/json.hpp>

#include "iocstream/core/json_string.h"
#include "iocstream/decode/rfc3339.h"

namespace iocstream::alert {
namespace {

constexpr uint8_t kOutboxFormat = 1;

void PutU32(std::string& out, uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out.append(b, 4);
}
void PutString(std::string& out, std::string_view s) {
  PutU32(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}
// Overwrites the four bytes at out[at] with v, as PutU32 wrote them.
void PatchU32(std::string& out, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) out[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

constexpr std::string_view kAlertIdHeader = "iocstream.alert.id";
constexpr std::string_view kAlertKindHeader = "iocstream.alert.kind";

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
    v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(in_[i])) << (8 * i);
    in_.remove_prefix(4);
    return true;
  }
  bool String(std::string& s) {
    uint32_t n = 0;
    if (!U32(n) || in_.size() < n) return false;
    s.assign(in_.substr(0, n));
    in_.remove_prefix(n);
    return true;
  }
  [[nodiscard]] bool done() const { return in_.empty(); }

 private:
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

// Appends AlertToJson(a) to `out`.
void AppendAlertJson(std::string& out, const AlertIntent& a) {
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
size_t AlertJsonSizeHint(const AlertIntent& a) {
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

Result<OutboxMessage> DecodeOutboxMessage(std::string_view bytes) {
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

std::string AlertToJson(const AlertIntent& alert) {
  std::string out;
  out.reserve(AlertJsonSizeHint(alert));
  AppendAlertJson(out, alert);
  return out;
}

OutboxMessage AlertMessage(const AlertIntent& alert) {
  OutboxMessage m;
  m.kind = OutboxKind::kAlert;
  m.key = alert.dossier_id;
  m.value = AlertToJson(alert);
  m.headers.reserve(2);
  m.headers.emplace_back(kAlertIdHeader, alert.alert_id);
  m.headers.emplace_back(kAlertKindHeader, ToString(alert.kind));
  return m;
}

std::string EncodeAlertOutbox(const AlertIntent& alert) {
  const std::string_view kind = ToString(alert.kind);
  std::string out;
  out.reserve(2 + 4 + alert.dossier_id.size() + 4 + AlertJsonSizeHint(alert) + 4 + 4 +
              kAlertIdHeader.size() + 4 + alert.alert_id.size() + 4 + kAlertKindHeader.size() + 4 +
              kind.size());
  out.push_back(static_cast<char>(kOutboxFormat));
  out.push_back(static_cast<char>(OutboxKind::kAlert));
  PutString(out, alert.dossier_id);
  // The value's length is known once it is written: reserve its four bytes, fill them after.
  const size_t value_length_at = out.size();
  PutU32(out, 0);
  AppendAlertJson(out, alert);
  PatchU32(out, value_length_at, static_cast<uint32_t>(out.size() - value_length_at - 4));
  PutU32(out, 2);
  PutString(out, kAlertIdHeader);
  PutString(out, alert.alert_id);
  PutString(out, kAlertKindHeader);
  PutString(out, kind);
  return out;
}

}  // namespace iocstream::alert
