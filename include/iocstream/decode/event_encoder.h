// EncodeEvent: DossierEvent → the canonical schema_version 1 JSON payload, for the programs
// that produce events (CSV import, simulator, tests). Contract: docs/event-contract.md.
//
// Pure function: thread-safe.
#pragma once

#include <string>

#include "iocstream/core/dossier_event.h"

namespace iocstream {

// Writes one compact JSON object (no whitespace, no trailing newline) with the fields in
// contract order, and only the fields that are present:
//   - schema_version, event_id, dossier_id, type, occurred_at and agency_code always;
//   - commune_code, procedure_code, to_agency_code when non-empty;
//   - channel, online_level when not kUnknown;
//   - due_at, step_due_at, new_due_at, result_electronic when set.
// Instants are written by FormatRfc3339Utc ("2026-02-10T01:30:00.000Z"). Strings are escaped
// per RFC 8259 (", \, and U+0000–U+001F); other characters are written as UTF-8. Bytes that are
// not valid UTF-8 are replaced by U+FFFD, so the output is always valid JSON: transcode legacy
// encodings (e.g. Windows-1258) before building the event.
//
// For an event that satisfies the contract (EventDecoder accepts what it describes), decoding
// the output gives the same event back field for field. An event that breaks the contract
// (empty event_id, transferred without to_agency_code, ...) is still written, and the decoder
// rejects it: this function does not validate.
[[nodiscard]] std::string EncodeEvent(const DossierEvent& event);

}  // namespace iocstream
