#include "iocstream/alert/outbox_message.h"

#include <date/date.h>

#include <cstring>
#include <nlohmann/json.hpp>

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

std::string Rfc3339(Instant t) { return date::format("%FT%TZ", t); }

}  // namespace

std::string EncodeOutboxMessage(const OutboxMessage& m) {
  std::string out;
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

std::string AlertToJson(const AlertIntent& a) {
  nlohmann::ordered_json j;
  j["schema"] = "dossier-alert.v1";
  j["alert_id"] = a.alert_id;
  j["kind"] = ToString(a.kind);
  j["dossier_id"] = a.dossier_id;
  j["agency_code"] = a.agency_code;
  j["commune_code"] = a.commune_code;
  j["procedure_code"] = a.procedure_code;
  j["channel"] = ToString(a.channel);
  j["due_at"] = Rfc3339(a.due_at);
  j["detected_at"] = Rfc3339(a.detected_at);
  if (a.completed_at) j["completed_at"] = Rfc3339(*a.completed_at);
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

OutboxMessage AlertMessage(const AlertIntent& alert) {
  OutboxMessage m;
  m.kind = OutboxKind::kAlert;
  m.key = alert.dossier_id;
  m.value = AlertToJson(alert);
  m.headers = {{"iocstream.alert.id", alert.alert_id},
               {"iocstream.alert.kind", std::string(ToString(alert.kind))}};
  return m;
}

}  // namespace iocstream::alert
