#include "iocstream/decode/event_decoder.h"

#include <simdjson.h>

#include <array>
#include <cmath>
#include <cstring>
#include <new>
#include <optional>
#include <string>

#include "iocstream/core/byte_scan.h"
#include "iocstream/core/json_string.h"
#include "iocstream/decode/rfc3339.h"

namespace iocstream {
namespace {

namespace dom = simdjson::dom;
namespace ondemand = simdjson::ondemand;

constexpr std::array<std::string_view, kDecodeErrorReasonCount> kReasonNames = {
    "malformed_json",
    "not_an_object",
    "missing_field",
    "wrong_type",
    "invalid_value",
    "invalid_timestamp",
    "unsupported_schema_version",
    "key_mismatch",
    "too_large",
    "empty",
    "too_many_codes",
    "event_time_ahead",
    "too_many_pauses",
    "due_before_event",
    "conflicting_receipt",
    "event_id_reused",
    "wrong_partition"};

// Known fields, in validation order (docs/event-contract.md lists them in the same order).
enum Field : int {
  kSchemaVersionField,
  kEventIdField,
  kDossierIdField,
  kTypeField,
  kOccurredAtField,
  kAgencyCodeField,
  kCommuneCodeField,
  kProcedureCodeField,
  kChannelField,
  kOnlineLevelField,
  kDueAtField,
  kToAgencyCodeField,
  kStepDueAtField,
  kNewDueAtField,
  kResultElectronicField,
  kFieldCount,
};
constexpr std::array<std::string_view, kFieldCount> kFieldNames = {
    "schema_version", "event_id",       "dossier_id",     "type",       "occurred_at",
    "agency_code",    "commune_code",   "procedure_code", "channel",    "online_level",
    "due_at",         "to_agency_code", "step_due_at",    "new_due_at", "result_electronic"};
static_assert(kFieldCount <= 32, "presence is a 32-bit mask");

// Known field for a key, or -1. This runs for every key of every message, so it is one table
// lookup by a hash that is perfect on the known names (checked at compile time) and one
// comparison, without a jump table (whose indirect branch mispredicts as keys vary).
constexpr size_t FieldHash(std::string_view key) {
  return (key.size() * 3 + static_cast<unsigned char>(key.front()) +
          static_cast<unsigned char>(key.back()) * 7) &
         31;
}
constexpr std::array<int8_t, 32> kFieldByHash = [] {
  std::array<int8_t, 32> table{};
  table.fill(-1);
  for (int i = 0; i < kFieldCount; ++i) table[FieldHash(kFieldNames[i])] = static_cast<int8_t>(i);
  return table;
}();
constexpr bool FieldHashIsPerfect() {
  for (int i = 0; i < kFieldCount; ++i) {
    if (kFieldByHash[FieldHash(kFieldNames[i])] != i) return false;
  }
  return true;
}
static_assert(FieldHashIsPerfect(), "two field names share a hash: change FieldHash");

int FieldIndex(std::string_view key) {
  if (key.empty()) return -1;
  const int index = kFieldByHash[FieldHash(key)];
  if (index < 0) return -1;
  // Word loads rather than a call to memcmp (the names are 4 to 24 bytes long).
  return byte_scan::Equal(kFieldNames[index], key) ? index : -1;
}

constexpr size_t kMaxQuotedBytes = 64;

// "'value'" for a detail string: at most kMaxQuotedBytes, cut on a UTF-8 boundary, with control
// characters and bytes that are not UTF-8 (a Kafka key is any bytes) shown as '?', so the detail
// stays printable UTF-8 in logs and the dead letter's headers.
std::string Quote(std::string_view value) {
  std::string out;
  out.reserve(std::min(value.size(), kMaxQuotedBytes) + 5);
  out.push_back('\'');
  size_t end = value.size();
  if (end > kMaxQuotedBytes) {
    end = kMaxQuotedBytes;
    while (end > 0 && (static_cast<unsigned char>(value[end]) & 0xC0) == 0x80) --end;
  }
  for (size_t i = 0; i < end;) {
    const auto c = static_cast<unsigned char>(value[i]);
    if (c < 0x80) {
      out.push_back(c < 0x20 || c == 0x7F ? '?' : value[i]);
      ++i;
      continue;
    }
    // The sequence its lead byte announces, if it is well-formed.
    const size_t length = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    const std::string_view sequence = value.substr(i, std::min(length, end - i));
    if (sequence.size() == length && length > 1 && IsValidUtf8(sequence)) {
      out.append(sequence);
      i += length;
    } else {
      out.push_back('?');
      ++i;
    }
  }
  if (end < value.size()) out += "...";
  out.push_back('\'');
  return out;
}

std::string_view JsonTypeName(dom::element_type type) {
  switch (type) {
    case dom::element_type::ARRAY:
      return "array";
    case dom::element_type::OBJECT:
      return "object";
    case dom::element_type::INT64:
    case dom::element_type::UINT64:
    case dom::element_type::DOUBLE:
      return "number";
    case dom::element_type::STRING:
      return "string";
    case dom::element_type::BOOL:
      return "boolean";
    case dom::element_type::NULL_VALUE:
      return "null";
  }
  return "unknown";
}

// True if `value` holds an ASCII control character (U+0000-U+001F, U+007F). Runs over every
// identifier and code of every message, so it tests eight bytes at a time, the last (or only)
// word overlapping or padded with 'A' rather than finished byte by byte: fewer branches that
// depend on the length.
bool HasControlCharacter(std::string_view value) {
  auto has_control = [](uint64_t word) {
    return byte_scan::HasByteBelow(word, 0x20) || byte_scan::HasByte(word, 0x7F);
  };
  const size_t size = value.size();
  if (size < 8) {
    uint64_t word = byte_scan::kEachByte * 'A';
    std::memcpy(&word, value.data(), size);
    return has_control(word);
  }
  for (size_t i = 0; i + 8 < size; i += 8) {
    if (has_control(byte_scan::LoadWord(value.data() + i))) return true;
  }
  return has_control(byte_scan::LoadWord(value.data() + size - 8));
}

DecodeError MakeError(DecodeErrorReason reason, Field field, std::string_view what) {
  std::string detail;
  detail.reserve(kFieldNames[field].size() + 2 + what.size());
  detail += kFieldNames[field];
  detail += ": ";
  detail += what;
  return DecodeError{reason, std::move(detail)};
}

// A known field's value, as the checks read it, from either parser. Its text points into the
// parser's buffers (or the payload): valid until the parser's next document.
struct JsonValue {
  dom::element_type type;  // STRING, INT64 or BOOL from the On-Demand reader; any from the DOM
  std::string_view text;   // STRING: the (unescaped) text
  int64_t integer;         // INT64
  bool boolean;            // BOOL
  double number;           // DOUBLE (from the DOM only)
};

// The known fields of one payload, read in one pass over the object (ReadDom, or the On-Demand
// reader through Add) and then validated in Field order.
class FieldReader {
 public:
  // Every field of `object`: unknown ones ignored (forward compatibility), nulls seen but not
  // present, the first duplicate remembered.
  void ReadDom(dom::object object) {
    for (const dom::key_value_pair field : object) {
      const int index = FieldIndex(field.key);
      if (index < 0) continue;  // unknown: ignored (forward compatibility)
      const uint32_t bit = 1u << index;
      if ((seen_ & bit) != 0) {
        if (duplicate_ < 0) duplicate_ = index;
        continue;
      }
      seen_ |= bit;
      if (field.value.is_null()) continue;
      present_ |= bit;
      JsonValue& value = values_[index];
      value.type = field.value.type();
      switch (value.type) {
        case dom::element_type::STRING:
          value.text = field.value.get_string().value_unsafe();
          break;
        case dom::element_type::INT64:
          value.integer = field.value.get_int64().value_unsafe();
          break;
        case dom::element_type::BOOL:
          value.boolean = field.value.get_bool().value_unsafe();
          break;
        case dom::element_type::DOUBLE:
          value.number = field.value.get_double().value_unsafe();
          // As the payload wrote it, minified, for the message about it.
          if (index == kSchemaVersionField) schema_version_json_ = simdjson::to_string(field.value);
          break;
        default:
          break;
      }
    }
  }

  // Field `index` given with a value of `type` (not null): its slot, to fill. Null if it was
  // given before (the On-Demand reader leaves duplicates to the DOM).
  JsonValue* Add(int index, dom::element_type type) {
    const uint32_t bit = 1u << index;
    if ((seen_ & bit) != 0) return nullptr;
    seen_ |= bit;
    present_ |= bit;
    values_[index].type = type;
    return &values_[index];
  }

  // Whether ReadText checks texts for control characters: not needed when the payload holds
  // neither an escape nor U+007F (JSON forbids raw U+0000-U+001F in strings).
  void SetTextsMayHoldControls(bool may) { texts_may_hold_controls_ = may; }

  // First known field that appears more than once, if any.
  [[nodiscard]] std::optional<Field> DuplicateField() const {
    if (duplicate_ < 0) return std::nullopt;
    return static_cast<Field>(duplicate_);
  }
  // Present and not null.
  [[nodiscard]] bool Has(Field field) const { return (present_ & (1u << field)) != 0; }

  std::optional<DecodeError> RequirePresent(Field field) const {
    if (Has(field)) return std::nullopt;
    const bool is_null = (seen_ & (1u << field)) != 0;
    return MakeError(DecodeErrorReason::kMissingField, field,
                     is_null ? "required, got null" : "required, absent");
  }

  std::optional<DecodeError> ReadSchemaVersion() const {
    if (auto error = RequirePresent(kSchemaVersionField)) return error;
    const JsonValue& value = values_[kSchemaVersionField];
    int64_t version = 0;
    switch (value.type) {
      case dom::element_type::INT64:
        version = value.integer;
        break;
      case dom::element_type::UINT64:  // above INT64_MAX: certainly not a version we know
        return MakeError(DecodeErrorReason::kUnsupportedSchemaVersion, kSchemaVersionField,
                         "too large (supported: 1)");
      case dom::element_type::DOUBLE: {
        // JSON has one number type: 1.0 is the integer 1 (as for JSON Schema's "integer").
        const double number = value.number;
        if (std::trunc(number) != number || std::fabs(number) > 1e15) {
          return MakeError(DecodeErrorReason::kWrongType, kSchemaVersionField,
                           "expected integer, got " + schema_version_json_);
        }
        version = static_cast<int64_t>(number);
        break;
      }
      default:
        return WrongType(kSchemaVersionField, "integer", value.type);
    }
    if (version != kSchemaVersion) {
      return MakeError(DecodeErrorReason::kUnsupportedSchemaVersion, kSchemaVersionField,
                       std::to_string(version) + " is not supported (supported: 1)");
    }
    return std::nullopt;
  }

  // A string field: absent (or null) gives ""; present must be a string of min..max bytes
  // without control characters. Viewed in the parser's buffer (valid until the parser's next
  // document).
  std::optional<DecodeError> ReadText(Field field, size_t min_bytes, size_t max_bytes,
                                      std::string_view& out) const {
    if (!Has(field)) {
      if (min_bytes > 0) return RequirePresent(field);
      return std::nullopt;
    }
    if (auto error = GetString(field, out)) return error;
    if (out.size() < min_bytes || out.size() > max_bytes) {
      std::string what = Quote(out);
      what += " has ";
      what += std::to_string(out.size());
      what += " bytes, allowed ";
      what += std::to_string(min_bytes);
      what += "..";
      what += std::to_string(max_bytes);
      return MakeError(DecodeErrorReason::kInvalidValue, field, what);
    }
    if (texts_may_hold_controls_ && HasControlCharacter(out)) {
      return MakeError(DecodeErrorReason::kInvalidValue, field,
                       Quote(out) + " contains a control character");
    }
    return std::nullopt;
  }
  // The same, copied into `out`.
  std::optional<DecodeError> ReadString(Field field, size_t min_bytes, size_t max_bytes,
                                        std::string& out) const {
    std::string_view text;
    if (auto error = ReadText(field, min_bytes, max_bytes, text)) return error;
    // `out` is empty, often with the capacity of an event decoded into before (DecodeInto).
    // Cleared and appended to rather than assigned: assign() replaces a range, allowing for
    // `text` inside `out`, in about twice the instructions.
    out.clear();
    out.append(text.data(), text.size());
    return std::nullopt;
  }

  // An RFC 3339 instant; absent (or null) leaves `out` unset.
  std::optional<DecodeError> ReadInstant(Field field, std::optional<Instant>& out) const {
    // Three of the four instants of a usual message are absent: tested before a call.
    if (!Has(field)) return std::nullopt;
    return ReadPresentInstant(field, out);
  }

 private:
  std::optional<DecodeError> ReadPresentInstant(Field field, std::optional<Instant>& out) const {
    std::string_view text;
    if (auto error = GetString(field, text)) return error;
    out = ParseRfc3339(text);
    if (!out) {
      return MakeError(DecodeErrorReason::kInvalidTimestamp, field,
                       "not RFC 3339: " + Quote(text) + " (" + Rfc3339Problem(text) + ")");
    }
    // RFC 3339 reaches back to year 0000, no dossier does: an instant before the Unix epoch
    // is a producer's wrong clock or year (a default date, a two-digit year), and as late
    // data it would count in every KPI as a dossier decades overdue.
    if (*out < kEarliestEventTime) {
      return MakeError(DecodeErrorReason::kInvalidTimestamp, field,
                       "before 1970-01-01T00:00:00Z: " + Quote(text));
    }
    // Year 10000 is no RFC 3339 instant either, but the business calendar ends with 2199: a
    // later instant is a wrong year too, and a deadline computed from it would be clamped.
    if (*out >= kLatestEventTime) {
      return MakeError(DecodeErrorReason::kInvalidTimestamp, field,
                       "after 2199-12-31T23:59:59.999Z, the end of the business calendar's "
                       "range: " +
                           Quote(text));
    }
    return std::nullopt;
  }

 public:
  // A wire name parsed by `parse` (ParseEventType, ParseChannel, ...); absent leaves `out`.
  template <typename Enum>
  std::optional<DecodeError> ReadEnum(Field field, std::optional<Enum> (*parse)(std::string_view),
                                      Enum& out) const {
    if (!Has(field)) return std::nullopt;
    std::string_view text;
    if (auto error = GetString(field, text)) return error;
    const std::optional<Enum> parsed = parse(text);
    if (!parsed) {
      return MakeError(DecodeErrorReason::kInvalidValue, field, "unknown name " + Quote(text));
    }
    out = *parsed;
    return std::nullopt;
  }

  std::optional<DecodeError> ReadBool(Field field, std::optional<bool>& out) const {
    if (!Has(field)) return std::nullopt;
    const JsonValue& value = values_[field];
    if (value.type != dom::element_type::BOOL) return WrongType(field, "boolean", value.type);
    out = value.boolean;
    return std::nullopt;
  }

 private:
  std::optional<DecodeError> GetString(Field field, std::string_view& out) const {
    const JsonValue& value = values_[field];
    if (value.type != dom::element_type::STRING) return WrongType(field, "string", value.type);
    out = value.text;
    return std::nullopt;
  }

  static DecodeError WrongType(Field field, std::string_view expected, dom::element_type type) {
    std::string what = "expected ";
    what += expected;
    what += ", got ";
    what += JsonTypeName(type);
    return MakeError(DecodeErrorReason::kWrongType, field, what);
  }

  std::array<JsonValue, kFieldCount> values_;  // of the present fields
  uint32_t seen_ = 0;                          // key appeared (null included)
  uint32_t present_ = 0;                       // key appeared with a non-null value
  int duplicate_ = -1;
  bool texts_may_hold_controls_ = true;
  std::string schema_version_json_;  // a DOUBLE schema_version's JSON
};

// due_before_event: the deadline a received (due_at) or rescheduled (new_due_at) event sets is
// before its own occurred_at. Other events' due fields are not checked: a step deadline
// (step_due_at) may well have passed when a late step is transferred, and a due_at on another
// type sets nothing (the receipt's does).
std::optional<DecodeError> DueBeforeEvent(const DossierEvent& event) {
  Field field = kDueAtField;
  std::optional<Instant> due;
  std::string_view what;
  if (event.type == EventType::kReceived) {
    due = event.due_at;
    what = "the appointment date of a receipt cannot precede the receipt";
  } else if (event.type == EventType::kRescheduled) {
    field = kNewDueAtField;
    due = event.new_due_at;
    what = "the new date a Form 04 apology promises cannot precede the apology";
  }
  if (!due || *due >= event.occurred_at) return std::nullopt;
  std::string detail;
  detail += kFieldNames[field];
  detail += ": ";
  AppendRfc3339Utc(detail, *due);
  detail += " is before occurred_at ";
  AppendRfc3339Utc(detail, event.occurred_at);
  detail += " (";
  detail += what;
  detail += ")";
  return DecodeError{DecodeErrorReason::kDueBeforeEvent, std::move(detail)};
}

// Validates `fields` into `event` (default-constructed); the first error, if any.
std::optional<DecodeError> DecodeFields(const FieldReader& fields, MessageKey key,
                                        DossierEvent& event) {
  if (auto error = fields.ReadSchemaVersion()) return error;
  if (const std::optional<Field> duplicate = fields.DuplicateField()) {
    return MakeError(DecodeErrorReason::kInvalidValue, *duplicate, "given more than once");
  }

  event.schema_version = kSchemaVersion;
  if (auto error = fields.ReadString(kEventIdField, 1, kMaxIdBytes, event.event_id)) {
    return error;
  }
  if (auto error = fields.ReadString(kDossierIdField, 1, kMaxIdBytes, event.dossier_id)) {
    return error;
  }
  if (auto error = fields.RequirePresent(kTypeField)) return error;
  if (auto error = fields.ReadEnum(kTypeField, &ParseEventType, event.type)) {
    return error;
  }
  std::optional<Instant> occurred_at;
  if (auto error = fields.RequirePresent(kOccurredAtField)) return error;
  if (auto error = fields.ReadInstant(kOccurredAtField, occurred_at)) return error;
  event.occurred_at = *occurred_at;
  // The codes, in CodeField order, are checked here and set last, once the whole event is
  // valid.
  std::array<std::string_view, kCodeFieldCount> codes;
  if (auto error = fields.ReadText(kAgencyCodeField, 1, kMaxCodeBytes, codes[0])) return error;
  if (auto error = fields.ReadText(kCommuneCodeField, 0, kMaxCodeBytes, codes[1])) return error;
  if (auto error = fields.ReadText(kProcedureCodeField, 0, kMaxCodeBytes, codes[2])) {
    return error;
  }
  if (auto error = fields.ReadEnum(kChannelField, &ParseChannel, event.channel)) {
    return error;
  }
  if (auto error = fields.ReadEnum(kOnlineLevelField, &ParseOnlineLevel, event.online_level)) {
    return error;
  }
  if (auto error = fields.ReadInstant(kDueAtField, event.due_at)) return error;
  if (auto error = fields.ReadText(kToAgencyCodeField, 0, kMaxCodeBytes, codes[3])) return error;
  if (auto error = fields.ReadInstant(kStepDueAtField, event.step_due_at)) {
    return error;
  }
  if (auto error = fields.ReadInstant(kNewDueAtField, event.new_due_at)) return error;
  if (auto error = fields.ReadBool(kResultElectronicField, event.result_electronic)) {
    return error;
  }

  // Per-type requirements.
  if (event.type == EventType::kTransferred && codes[3].empty()) {
    return MakeError(fields.Has(kToAgencyCodeField) ? DecodeErrorReason::kInvalidValue
                                                    : DecodeErrorReason::kMissingField,
                     kToAgencyCodeField, "required (non-empty) when type is transferred");
  }
  if (event.type == EventType::kRescheduled && !event.new_due_at) {
    return MakeError(DecodeErrorReason::kMissingField, kNewDueAtField,
                     "required when type is rescheduled");
  }

  if (key && key->empty()) {
    // A keyless Kafka record lands in any partition: another instance's, or one that holds
    // no state of its dossier (a helper's trial: phantom dossiers, false breach alerts).
    return DecodeError{
        DecodeErrorReason::kKeyMismatch,
        "key: none (a Kafka record's key must be its dossier_id " + Quote(event.dossier_id) + ")"};
  }
  if (key && *key != event.dossier_id) {
    return DecodeError{DecodeErrorReason::kKeyMismatch,
                       "key: " + Quote(*key) + " is not dossier_id " + Quote(event.dossier_id)};
  }
  // A deadline the event sets cannot precede the event itself: the appointment date of a
  // receipt (Form 01) is given at the receipt, and the new date of a Form 04 apology is promised
  // when it is issued. Such an event comes from a producer that swapped or mistyped the fields
  // (or wrote a local time with the wrong offset): applied, it would start a dossier overdue at
  // its receipt and raise a breach alert for it at once. Equal instants are allowed.
  if (auto error = DueBeforeEvent(event)) return error;
  // Looked up, not interned: a code new to the process is admitted by the pipeline, once the
  // event passed its checks too (see core/dossier_event.h). The event has no new codes yet
  // (it is new or reset), so a held code is only stored, without SetCodeText's call.
  const std::array<Code*, kCodeFieldCount> targets = {&event.agency_code, &event.commune_code,
                                                      &event.procedure_code, &event.to_agency_code};
  for (size_t i = 0; i < codes.size(); ++i) {
    if (const std::optional<Code> held = Code::Find(codes[i])) {
      *targets[i] = *held;
    } else {
      SetCodeText(event, static_cast<CodeField>(i), codes[i]);
    }
  }
  return std::nullopt;
}

// JSON's whitespace.
bool IsJsonBlank(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

// The end of the JSON object or array that `text` starts with (after blanks): the offset just
// past its closing bracket, found by matching brackets outside strings; nullopt when `text`
// does not start with one, or it does not close. Whether the part before is valid JSON is the
// parser's to say.
std::optional<size_t> EndOfFirstValue(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && IsJsonBlank(text[i])) ++i;
  if (i == text.size() || (text[i] != '{' && text[i] != '[')) return std::nullopt;
  size_t depth = 0;
  bool in_string = false;
  for (; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character, whatever it is
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if ((c == '}' || c == ']') && --depth == 0) {
      return i + 1;
    }
  }
  return std::nullopt;
}

// Reads `padded` (size bytes, then simdjson's padding) with simdjson's On-Demand API when it is
// the usual message: an object of known fields, each given once, not null and of the
// contract's JSON type, in a payload without escapes or U+007F. False for anything else: the
// DOM then parses the payload in full, and its result stands (the reference, for valid and
// invalid payloads alike). Taken only where both agree: On-Demand checks what it reads, and
// here it reads every value and the document's end; the first stage (UTF-8, strings, and
// the structure's characters) is the DOM's own. What it saves is the DOM's tape, built and
// then walked, and the copy of every string: about a sixth of the decoder's instructions.
bool ReadOnDemand(ondemand::parser& parser, const char* padded, size_t size, FieldReader& fields) {
  const std::string_view payload(padded, size);
  // Without escapes a string's text is its bytes between the quotes (no copy), and holds no
  // control character (JSON forbids them raw); U+007F is allowed raw, and left to the DOM.
  if (payload.find('\\') != std::string_view::npos ||
      payload.find('\x7f') != std::string_view::npos) {
    return false;
  }
  ondemand::document document;
  if (parser.iterate(padded, size, size + simdjson::SIMDJSON_PADDING).get(document) !=
      simdjson::SUCCESS) {
    return false;
  }
  ondemand::object object;
  if (document.get_object().get(object) != simdjson::SUCCESS) return false;
  for (simdjson::simdjson_result<ondemand::field> next : object) {
    ondemand::field field;
    if (std::move(next).get(field) != simdjson::SUCCESS) return false;
    ondemand::value value = field.value();
    // The value's token and the blanks up to the next token (from the first stage's index).
    std::string_view token = value.raw_json_token();
    // The key's bytes (no escapes) end at its closing quote, which the ':' follows (checked
    // by field()), blanks aside.
    const char* const key = field.key().raw();
    const char* key_end = token.data() - 1;
    while (IsJsonBlank(*key_end)) --key_end;  // to the ':'
    --key_end;
    while (IsJsonBlank(*key_end)) --key_end;  // to the quote
    const int index = FieldIndex(std::string_view(key, static_cast<size_t>(key_end - key)));
    if (index < 0) return false;  // unknown fields are ignored by the DOM, which checks them
    // Every value is read, none skipped: On-Demand's skipping of a value not read counts
    // brackets only (it would pass over a stray ':' or '}').
    if (index == kSchemaVersionField) {
      int64_t version = 0;
      if (value.get_int64().get(version) != simdjson::SUCCESS) return false;
      JsonValue* slot = fields.Add(index, dom::element_type::INT64);
      if (slot == nullptr) return false;
      slot->integer = version;
    } else if (index == kResultElectronicField) {
      bool electronic = false;
      if (value.get_bool().get(electronic) != simdjson::SUCCESS) return false;
      JsonValue* slot = fields.Add(index, dom::element_type::BOOL);
      if (slot == nullptr) return false;
      slot->boolean = electronic;
    } else {
      // A string: its bytes between the quotes (no escapes), not copied. The first stage
      // paired its quotes and checked what lies between; anything after the closing quote
      // but blanks is left to the DOM.
      while (!token.empty() && IsJsonBlank(token.back())) token.remove_suffix(1);
      if (token.size() < 2 || token.front() != '"' || token.back() != '"') return false;
      ondemand::raw_json_string raw;  // read, to move past it
      if (value.get_raw_json_string().get(raw) != simdjson::SUCCESS) return false;
      JsonValue* slot = fields.Add(index, dom::element_type::STRING);
      if (slot == nullptr) return false;
      slot->text = token.substr(1, token.size() - 2);
    }
  }
  // Nothing after the object: only there has the document no current location.
  if (document.current_location().error() != simdjson::OUT_OF_BOUNDS) return false;
  fields.SetTextsMayHoldControls(false);
  return true;
}

}  // namespace

std::string_view ToString(DecodeErrorReason reason) {
  return kReasonNames[static_cast<size_t>(reason)];
}

std::optional<DecodeErrorReason> ParseDecodeErrorReason(std::string_view name) {
  for (size_t i = 0; i < kReasonNames.size(); ++i) {
    if (kReasonNames[i] == name) return static_cast<DecodeErrorReason>(i);
  }
  return std::nullopt;
}

Error ToError(const DecodeError& error) {
  std::string message(ToString(error.reason));
  message += ": ";
  message += error.detail;
  return InvalidArgument(std::move(message));
}

struct EventDecoder::Impl {
  explicit Impl(JsonParsing parsing)
      : parsing(parsing), buffer(new char[kMaxPayloadBytes + simdjson::SIMDJSON_PADDING]) {}

  JsonParsing parsing;
  uint64_t dom_parses = 0;

  // simdjson reads up to SIMDJSON_PADDING bytes past the end of its input, so every payload is
  // copied here first (Kafka's buffers carry no padding).
  std::unique_ptr<char[]> buffer;
  // Grows to the largest payload seen, then reuses its memory. The limit goes through the
  // constructor: set_max_capacity() in simdjson 3.0.1 caps every limit at 32 bytes (fixed
  // upstream by simdjson PR #1970, not in Debian 12's package).
  dom::parser parser{kMaxPayloadBytes};
  // For the usual message (ReadOnDemand); its buffers grow as the DOM parser's do.
  ondemand::parser on_demand{kMaxPayloadBytes};

  std::optional<DecodeError> DecodeInto(std::string_view payload, MessageKey key,
                                        DossierEvent& event);
};

EventDecoder::EventDecoder(JsonParsing parsing) : impl_(std::make_unique<Impl>(parsing)) {}
EventDecoder::~EventDecoder() = default;
uint64_t EventDecoder::dom_parses() const { return impl_->dom_parses; }
EventDecoder::EventDecoder(EventDecoder&&) noexcept = default;
EventDecoder& EventDecoder::operator=(EventDecoder&&) noexcept = default;

std::optional<DecodeError> EventDecoder::Impl::DecodeInto(std::string_view payload, MessageKey key,
                                                          DossierEvent& event) {
  if (payload.empty()) return DecodeError{DecodeErrorReason::kEmpty, "payload: 0 bytes"};
  if (payload.size() > kMaxPayloadBytes) {
    // Blanks after the JSON are not the event's (a line of a CRLF file keeps its CR): the
    // limit is on what comes before them.
    std::string_view content = payload;
    while (!content.empty() && IsJsonBlank(content.back())) content.remove_suffix(1);
    if (content.size() > kMaxPayloadBytes) {
      return DecodeError{DecodeErrorReason::kTooLarge,
                         "payload: " + std::to_string(payload.size()) + " bytes, limit " +
                             std::to_string(kMaxPayloadBytes)};
    }
    payload = content;
  }
  char* padded = buffer.get();
  std::memcpy(padded, payload.data(), payload.size());
  std::memset(padded + payload.size(), 0, simdjson::SIMDJSON_PADDING);

  if (parsing == JsonParsing::kOnDemandFirst) {
    FieldReader fields;
    if (ReadOnDemand(on_demand, padded, payload.size(), fields)) {
      return DecodeFields(fields, key, event);
    }
  }
  ++dom_parses;
  dom::element root;
  const simdjson::error_code parse_error =
      parser.parse(padded, payload.size(), /*realloc_if_needed=*/false).get(root);
  if (parse_error == simdjson::MEMALLOC) {
    // Out of memory is not the message's fault: never dead-letter a good event for it.
    throw std::bad_alloc();
  }
  if (parse_error == simdjson::EMPTY) {
    return DecodeError{DecodeErrorReason::kEmpty, "payload: only whitespace"};
  }
  if (parse_error == simdjson::NUMBER_ERROR) {
    // simdjson's DOM gives no position, and the same error for a number JSON does not allow
    // (01, 1., -) and for one it allows but no 64-bit integer or double holds (which no
    // field of the contract takes either): say both, as a bare "problem while parsing a
    // number" read as though the JSON were cut.
    return DecodeError{DecodeErrorReason::kMalformedJson,
                       "payload: a number that is not JSON (such as 01 or 1.) or is out of "
                       "range (an integer beyond 64 bits, a number beyond 1.8e308)"};
  }
  if (parse_error == simdjson::STRING_ERROR) {
    // simdjson's DOM says only "Problem while parsing a string": the strings' bytes passed the
    // UTF-8 check, so an escape is what it refused (a QA trial's lone surrogate gave no clue).
    return DecodeError{DecodeErrorReason::kMalformedJson,
                       "payload: a string escape that is not JSON or not a character: \\u "
                       "not followed by 4 hex digits, a UTF-16 surrogate not in a pair (such as "
                       "\\ud800 alone), or a \\ before another character than \" \\ / b "
                       "f n r t u"};
  }
  if (parse_error != simdjson::SUCCESS) {
    // simdjson says "improper structure" for both of these, which publishers could not act on.
    if (payload.starts_with("\xEF\xBB\xBF")) {
      return DecodeError{DecodeErrorReason::kMalformedJson,
                         "payload: starts with a UTF-8 byte order mark (EF BB BF); publish JSON "
                         "without it"};
    }
    if (const std::optional<size_t> end = EndOfFirstValue(payload); end && *end < payload.size()) {
      size_t extra = *end;
      while (extra < payload.size() && IsJsonBlank(payload[extra])) ++extra;
      // Only when the value before is valid JSON (the copy in `padded` is not used after).
      std::memset(padded + *end, 0, simdjson::SIMDJSON_PADDING);
      dom::element first;
      if (extra < payload.size() &&
          parser.parse(padded, *end, /*realloc_if_needed=*/false).get(first) == simdjson::SUCCESS) {
        return DecodeError{DecodeErrorReason::kMalformedJson,
                           "payload: content after the JSON " +
                               std::string(first.is_object() ? "object" : "value") + " at byte " +
                               std::to_string(extra) +
                               " (from 0); publish one JSON object per message"};
      }
    }
    return DecodeError{DecodeErrorReason::kMalformedJson,
                       std::string("payload: ") + simdjson::error_message(parse_error)};
  }
  dom::object object;
  if (root.get_object().get(object) != simdjson::SUCCESS) {
    return DecodeError{
        DecodeErrorReason::kNotAnObject,
        std::string("payload: expected an object, got ") + std::string(JsonTypeName(root.type()))};
  }
  FieldReader fields;
  fields.ReadDom(object);
  return DecodeFields(fields, key, event);
}

namespace {

// Resets `event` to a default DossierEvent, keeping its strings' memory. The structured
// binding names every field, so it stops compiling when DossierEvent gains or loses one.
void ResetKeepingCapacity(DossierEvent& event) {
  static const DossierEvent kDefault;
  auto& [event_id, dossier_id, type, occurred_at, agency_code, commune_code, procedure_code,
         channel, online_level, due_at, to_agency_code, step_due_at, new_due_at, result_electronic,
         schema_version, new_codes] = event;
  event_id.clear();
  dossier_id.clear();
  type = kDefault.type;
  occurred_at = kDefault.occurred_at;
  agency_code = kDefault.agency_code;
  commune_code = kDefault.commune_code;
  procedure_code = kDefault.procedure_code;
  channel = kDefault.channel;
  online_level = kDefault.online_level;
  due_at = kDefault.due_at;
  to_agency_code = kDefault.to_agency_code;
  step_due_at = kDefault.step_due_at;
  new_due_at = kDefault.new_due_at;
  result_electronic = kDefault.result_electronic;
  schema_version = kDefault.schema_version;
  new_codes.clear();
}

}  // namespace

void EventDecoder::DecodeInto(std::string_view payload, MessageKey key, DecodeResult& out) {
  if (out.has_value()) {
    ResetKeepingCapacity(out.value());
  } else {
    out = DossierEvent{};
  }
  if (std::optional<DecodeError> error = impl_->DecodeInto(payload, key, out.value())) {
    out = std::move(*error);
  }
}

DecodeResult EventDecoder::Decode(std::string_view payload, MessageKey key) {
  // One result object filled in place and returned by name (NRVO): the event's strings are
  // written once and never moved.
  DecodeResult result{DossierEvent{}};
  if (std::optional<DecodeError> error = impl_->DecodeInto(payload, key, result.value())) {
    result = std::move(*error);
  }
  return result;
}

}  // namespace iocstream
