// EventDecoder: Kafka message bytes (value + key) → a validated DossierEvent, or a DecodeError
// saying why the message goes to the dead-letter topic instead.
//
// The wire format, schema_version 1, is one flat JSON object per message (UTF-8), keyed by
// dossier_id. Contract: schemas/dossier-event.v1.json and docs/event-contract.md. Summary:
//
//   required: schema_version (integer, must be 1), event_id (1..128 bytes), dossier_id
//             (1..128 bytes), type (wire name, core/dossier_event.h), occurred_at (RFC 3339),
//             agency_code (1..64 bytes)
//   optional: commune_code, procedure_code (≤64 bytes), channel, online_level (wire names),
//             due_at (RFC 3339), to_agency_code (≤64 bytes; required and non-empty when type
//             is "transferred"), step_due_at (RFC 3339), new_due_at (RFC 3339; required when
//             type is "rescheduled"), result_electronic (boolean)
//
// - Unknown fields are ignored (forward compatibility). A known field given twice is rejected.
// - null means absent, for every field; a required field that is null is kMissingField.
// - Identifiers and codes are counted in UTF-8 bytes, may hold any Unicode, but no ASCII control
//   characters (U+0000–U+001F, U+007F).
// - Instants are converted to UTC (see rfc3339.h).
// - Validation order is fixed, so one payload always gives the same error: size, JSON syntax,
//   object, schema_version, duplicates, then each field in the order listed above, then the
//   per-type requirements, then the key, then a deadline before its own event
//   (kDueBeforeEvent).
//
// Thread-safety: an EventDecoder is NOT thread-safe. It owns a simdjson parser and a padded
// input buffer that every Decode() reuses: no allocation per message once warmed up, apart
// from the event's own strings and error details. Memory: 64 KiB for the buffer plus parser
// space that grows with the largest payload seen (about 14 bytes per payload byte for the DOM
// and 6 for On-Demand, so under 1.5 MiB). Use one decoder per thread. Free functions here are
// thread-safe.
#pragma once

#include <array>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "iocstream/core/dossier_event.h"
#include "iocstream/core/result.h"
#include "iocstream/core/source_record.h"

namespace iocstream {

// Why a message was not decoded. The names (ToString) are stable: they are a Prometheus label
// value and the iocstream.dlq.reason dead-letter header. Append new reasons; never rename.
enum class DecodeErrorReason : uint8_t {
  kMalformedJson = 0,             // "malformed_json": not JSON, or not valid UTF-8
  kNotAnObject = 1,               // "not_an_object": valid JSON, but not an object at top level
  kMissingField = 2,              // "missing_field": a required field is absent or null
  kWrongType = 3,                 // "wrong_type": e.g. a number where a string is expected
  kInvalidValue = 4,              // "invalid_value": right type, value out of the contract
  kInvalidTimestamp = 5,          // "invalid_timestamp": a string that is not RFC 3339
  kUnsupportedSchemaVersion = 6,  // "unsupported_schema_version": schema_version is not 1
  kKeyMismatch = 7,               // "key_mismatch": the Kafka key is not the dossier_id
  kTooLarge = 8,                  // "too_large": payload over kMaxPayloadBytes
  kEmpty = 9,                     // "empty": zero bytes, or only whitespace
  // "too_many_codes": a code (agency, commune, procedure, to_agency) new to the process when
  // kMaxAdmittedCodes distinct codes are held already (iocstream/core/code.h). Not given by
  // Decode: by the pipeline, as it applies an event whose new code its dossier does not hold.
  kTooManyCodes = 10,
  // "event_time_ahead": occurred_at more than timers.max_time_ahead ahead of both the wall
  // clock and the newest event of its partition (a source with a wrong clock or year). Not
  // given by Decode: by the pipeline, which would otherwise move the partition's watermark
  // there, firing its timers early and making every later event late.
  kEventTimeAhead = 11,
  // "too_many_pauses": a supplement (or counted payment) request or receipt for a dossier that
  // holds rules::kMaxPauseMarks pause marks already. Not given by Decode: by the pipeline,
  // before the rules, which would otherwise grow the dossier's state without bound.
  kTooManyPauses = 12,
  // "due_before_event": the deadline the event sets is before the event itself: a received
  // event's due_at before its occurred_at (the receipt), or a rescheduled event's new_due_at
  // before its occurred_at (the apology). Checked by Decode, after the key.
  kDueBeforeEvent = 13,
  // "conflicting_receipt": a received event (an id not applied to the dossier yet) for a
  // dossier whose receipt is stored, that contradicts it: another agency, commune or procedure
  // (base code), channel or online level, receipt time or due_at. Not given by Decode: by the
  // pipeline, before the rules (rules::ReceiptConflict), which would otherwise relabel the
  // dossier with the second receipt's codes while keeping the first's deadline.
  kConflictingReceipt = 14,
  // "event_id_reused": an event whose event_id the dossier holds as applied, but that says what
  // the dossier does not hold (rules::EventIdReused): another event under an id already used,
  // which the rules would skip as a duplicate. Not given by Decode: by the pipeline, before the
  // rules.
  kEventIdReused = 15,
  // "wrong_partition": a Kafka record on another partition of the events topic than its key's
  // under Kafka's default partitioner for keyed records (murmur2, as `import` publishes and
  // `replay` places dossiers). Not given by Decode: by the pipeline under `run`, which knows the
  // topic's partition count; applied, the dossier's events would be split between partitions
  // (and instances), its timers held by a partition its later events never reach.
  kWrongPartition = 16,
};
inline constexpr int kDecodeErrorReasonCount = 17;

std::string_view ToString(DecodeErrorReason reason);
// Inverse of ToString. nullopt for an unknown name.
std::optional<DecodeErrorReason> ParseDecodeErrorReason(std::string_view name);

// A rejected message. detail is for humans (logs, the iocstream.dlq.detail header): it starts
// with the field name and quotes at most 64 bytes of the offending value, e.g.
// "occurred_at: not RFC 3339: '2026-13-01'". Its wording is not stable; the reason is.
struct DecodeError {
  DecodeErrorReason reason = DecodeErrorReason::kMalformedJson;
  std::string detail;
};

// For callers that report through Result/Error (file sources, CLI): kInvalidArgument with
// "<reason>: <detail>".
Error ToError(const DecodeError& error);

// A DossierEvent or a DecodeError (like Result<DossierEvent>, with a typed error). Test
// has_value() before value(); error() is valid only when !has_value().
class [[nodiscard]] DecodeResult {
 public:
  DecodeResult(DossierEvent event) : v_(std::move(event)) {}  // NOLINT(google-explicit-constructor)
  DecodeResult(DecodeError error) : v_(std::move(error)) {}   // NOLINT(google-explicit-constructor)

  [[nodiscard]] bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  DossierEvent& value() & {
    assert(has_value());
    return std::get<0>(v_);
  }
  const DossierEvent& value() const& {
    assert(has_value());
    return std::get<0>(v_);
  }
  DossierEvent&& value() && {
    assert(has_value());
    return std::get<0>(std::move(v_));
  }
  const DecodeError& error() const {
    assert(!has_value());
    return std::get<1>(v_);
  }
  DossierEvent* operator->() { return &value(); }
  const DossierEvent* operator->() const { return &value(); }
  DossierEvent& operator*() & { return value(); }
  const DossierEvent& operator*() const& { return value(); }

 private:
  std::variant<DossierEvent, DecodeError> v_;
};

// Contract limits (schema_version 1). Lengths are UTF-8 bytes.
inline constexpr int kSchemaVersion = 1;
inline constexpr size_t kMaxPayloadBytes = size_t{64} * 1024;  // larger payloads: kTooLarge
inline constexpr size_t kMaxIdBytes = 128;                     // event_id, dossier_id
inline constexpr size_t kMaxCodeBytes = 64;  // agency/commune/procedure/to_agency codes
// Fields every event must carry, in validation order (the schema's "required" list).
inline constexpr std::array<std::string_view, 6> kRequiredFields = {
    "schema_version", "event_id", "dossier_id", "type", "occurred_at", "agency_code"};

// How an EventDecoder parses JSON. Both give the same result (event, or error reason and
// detail) for every payload; kDom is the reference the tests hold kOnDemandFirst to.
enum class JsonParsing : uint8_t {
  // simdjson's On-Demand API for the usual message (known fields of the contract's types, no
  // escapes): a fifth less time per event (decode_bench: 336 against 424 ns); anything else
  // is parsed as by kDom.
  kOnDemandFirst,
  // A DOM of the whole payload first (simdjson's dom::parser), then the checks.
  kDom,
};

// A message's key as the decoder checks it: a Kafka record's key (empty when the record has
// none), or std::nullopt for a source without keys (files).
using MessageKey = std::optional<std::string_view>;

// The key to check for `record`: its key if it came from Kafka (SourceRecord::keyed).
[[nodiscard]] inline MessageKey KeyOf(const SourceRecord& record) {
  return record.keyed ? MessageKey(record.key) : std::nullopt;
}

class EventDecoder {
 public:
  explicit EventDecoder(JsonParsing parsing = JsonParsing::kOnDemandFirst);
  ~EventDecoder();
  // A moved-from decoder may only be destroyed or assigned to.
  EventDecoder(EventDecoder&&) noexcept;
  EventDecoder& operator=(EventDecoder&&) noexcept;
  EventDecoder(const EventDecoder&) = delete;
  EventDecoder& operator=(const EventDecoder&) = delete;

  // Decodes one message value. key is the Kafka message key, which must equal the decoded
  // dossier_id (kKeyMismatch otherwise, an empty or absent key included); std::nullopt for
  // keyless sources (files; see KeyOf). The payload is copied into the decoder's padded
  // buffer; neither argument is retained. Never throws on bad input (std::bad_alloc aside).
  DecodeResult Decode(std::string_view payload, MessageKey key = std::nullopt);

  // Decode into `out`, with the same result as `out = Decode(payload, key)`, but when `out`
  // holds an event its memory is reused: the strings keep their capacity, so decoding a batch
  // into the results of an earlier one allocates nothing (the identifiers and most codes are
  // longer than std::string's inline buffer: about three allocations per event otherwise).
  void DecodeInto(std::string_view payload, MessageKey key, DecodeResult& out);

  // Payloads this decoder parsed into a DOM: every one under kDom; under kOnDemandFirst those
  // that are not the usual message (see JsonParsing), each read On-Demand first. For tests
  // and benchmarks.
  [[nodiscard]] uint64_t dom_parses() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;  // keeps simdjson out of this header
};

}  // namespace iocstream
