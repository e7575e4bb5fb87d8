#include "iocstream/decode/event_encoder.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "decode/byte_scan.h"
#include "decode/rfc3339_writer.h"

namespace iocstream {
namespace {

// Length of the well-formed UTF-8 sequence starting at bytes[0] (Unicode 15, table 3-7), or 0
// if it is not one (stray continuation byte, overlong form, surrogate, above U+10FFFF, cut off).
size_t Utf8SequenceLength(const unsigned char* bytes, size_t available) {
  const unsigned char lead = bytes[0];
  auto in = [&](size_t i, unsigned char low, unsigned char high) {
    return i < available && bytes[i] >= low && bytes[i] <= high;
  };
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return in(1, 0x80, 0xBF) ? 2 : 0;
  if (lead >= 0xE0 && lead <= 0xEF) {
    const unsigned char low = lead == 0xE0 ? 0xA0 : 0x80;
    const unsigned char high = lead == 0xED ? 0x9F : 0xBF;
    return in(1, low, high) && in(2, 0x80, 0xBF) ? 3 : 0;
  }
  if (lead >= 0xF0 && lead <= 0xF4) {
    const unsigned char low = lead == 0xF0 ? 0x90 : 0x80;
    const unsigned char high = lead == 0xF4 ? 0x8F : 0xBF;
    return in(1, low, high) && in(2, 0x80, 0xBF) && in(3, 0x80, 0xBF) ? 4 : 0;
  }
  return 0;
}

// Appends `text` as a JSON string. Runs of bytes that need no escaping (the common case: codes
// and ids) are copied with one append.
void AppendJsonString(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  size_t run_start = 0;
  size_t i = 0;
  while (i < text.size()) {
    if (i + 8 <= text.size()) {
      const uint64_t word = decode_internal::LoadWord(text.data() + i);
      if (!decode_internal::HasByteBelow(word, 0x20) && !decode_internal::HasByte(word, '"') &&
          !decode_internal::HasByte(word, '\\') && !decode_internal::HasNonAscii(word)) {
        i += 8;
        continue;
      }
    }
    const unsigned char c = bytes[i];
    if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
      ++i;
      continue;
    }
    size_t length = 0;
    if (c >= 0x80) {
      length = Utf8SequenceLength(bytes + i, text.size() - i);
      if (length != 0) {
        i += length;
        continue;
      }
    }
    out.append(text.data() + run_start, i - run_start);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          const char escape[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
          out.append(escape, sizeof(escape));
        } else {
          out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER for one invalid byte
        }
    }
    ++i;
    run_start = i;
  }
  out.append(text.data() + run_start, i - run_start);
  out.push_back('"');
}

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
  std::string out;
  out.reserve(320 + event.event_id.size() + event.dossier_id.size() + event.agency_code.size() +
              event.commune_code.size() + event.procedure_code.size() +
              event.to_agency_code.size());
  out += R"({"schema_version":)";
  out += std::to_string(event.schema_version);
  AppendString(out, R"(,"event_id":)", event.event_id);
  AppendString(out, R"(,"dossier_id":)", event.dossier_id);
  AppendString(out, R"(,"type":)", ToString(event.type));
  AppendInstant(out, R"(,"occurred_at":)", event.occurred_at);
  AppendString(out, R"(,"agency_code":)", event.agency_code);
  if (!event.commune_code.empty()) AppendString(out, R"(,"commune_code":)", event.commune_code);
  if (!event.procedure_code.empty()) {
    AppendString(out, R"(,"procedure_code":)", event.procedure_code);
  }
  if (event.channel != Channel::kUnknown) {
    AppendString(out, R"(,"channel":)", ToString(event.channel));
  }
  if (event.online_level != OnlineLevel::kUnknown) {
    AppendString(out, R"(,"online_level":)", ToString(event.online_level));
  }
  if (event.due_at) AppendInstant(out, R"(,"due_at":)", *event.due_at);
  if (!event.to_agency_code.empty()) {
    AppendString(out, R"(,"to_agency_code":)", event.to_agency_code);
  }
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
