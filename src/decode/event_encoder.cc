#include "iocstream/decode/event_encoder.h"

#include <cstddef>
#include <string>
#include <string_view>

#include "decode/rfc3339_writer.h"
#include "iocstream/core/json_string.h"

namespace iocstream {
namespace {

// `key` is the member's prefix including punctuation, e.g. R"(,"event_id":)".
void AppendString(std::string& out, std::string_view key, std::string_view value) {
  out += key;
  AppendJsonString(out, value);
}

void AppendInstant(std::string& out, std::string_view key, Instant value) {
  char text[decode_internal::kMaxRfc3339Chars + 2];
  text[0] = '"';
  const size_t length = decode_internal::WriteRfc3339Utc(value, text + 1);
  text[length + 1] = '"';
  out += key;
  out.append(text, length + 2);
}

}  // namespace

std::string EncodeEvent(const DossierEvent& event) {
  // A code new to the process is written from its text (CodeText).
  const std::string_view agency = CodeText(event, CodeField::kAgency);
  const std::string_view commune = CodeText(event, CodeField::kCommune);
  const std::string_view procedure = CodeText(event, CodeField::kProcedure);
  const std::string_view to_agency = CodeText(event, CodeField::kToAgency);
  std::string out;
  out.reserve(320 + event.event_id.size() + event.dossier_id.size() + agency.size() +
              commune.size() + procedure.size() + to_agency.size());
  out += R"({"schema_version":)";
  out += std::to_string(event.schema_version);
  AppendString(out, R"(,"event_id":)", event.event_id);
  AppendString(out, R"(,"dossier_id":)", event.dossier_id);
  AppendString(out, R"(,"type":)", ToString(event.type));
  AppendInstant(out, R"(,"occurred_at":)", event.occurred_at);
  AppendString(out, R"(,"agency_code":)", agency);
  if (!commune.empty()) AppendString(out, R"(,"commune_code":)", commune);
  if (!procedure.empty()) AppendString(out, R"(,"procedure_code":)", procedure);
  if (event.channel != Channel::kUnknown) {
    AppendString(out, R"(,"channel":)", ToString(event.channel));
  }
  if (event.online_level != OnlineLevel::kUnknown) {
    AppendString(out, R"(,"online_level":)", ToString(event.online_level));
  }
  if (event.due_at) AppendInstant(out, R"(,"due_at":)", *event.due_at);
  if (!to_agency.empty()) AppendString(out, R"(,"to_agency_code":)", to_agency);
  if (event.step_due_at) AppendInstant(out, R"(,"step_due_at":)", *event.step_due_at);
  if (event.new_due_at) AppendInstant(out, R"(,"new_due_at":)", *event.new_due_at);
  if (event.result_electronic) {
    out += R"(,"result_electronic":)";
    out += *event.result_electronic ? "true" : "false";
  }
  out.push_back('}');
  return out;
}

}  // namespace iocstream
