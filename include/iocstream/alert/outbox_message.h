// Outbox messages: what the pipeline writes into the state store's outbox column family in
// the same batch as the state that produced it, and what the outbox relay publishes.
//
// Two kinds share the outbox so that neither alerts nor dead letters can be lost between
// the state commit and the broker: alerts (to the alerts topic) and dead letters (original
// bytes to the dead-letter topic). Plain values and pure functions: thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "iocstream/core/dossier_state.h"
#include "iocstream/core/result.h"

namespace iocstream::alert {

enum class OutboxKind : uint8_t { kAlert = 0, kDeadLetter = 1 };

struct OutboxMessage {
  OutboxKind kind = OutboxKind::kAlert;
  std::string key;
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Length-prefixed binary encoding (format byte 1 first): any message, e.g. a dead letter.
[[nodiscard]] std::string EncodeOutboxMessage(const OutboxMessage& message);
// Either format: 1 (EncodeOutboxMessage) gives the message as it was encoded, 2
// (EncodeAlertOutbox) gives AlertMessage of the alert it holds. ErrorCode::kCorruption on
// truncated or trailing bytes, an unknown format, alert kind or channel, a completion flag
// other than 0 or 1, or an instant outside years ±32767.
[[nodiscard]] Result<OutboxMessage> DecodeOutboxMessage(std::string_view bytes);
// For an alert entry (either format), appends the value of its message (AlertToJson of the
// alert) to `out` and returns true, without building the rest of the message; for a dead
// letter returns false and leaves `out` as it was (decode it with DecodeOutboxMessage).
// Errors as DecodeOutboxMessage's (`out` unchanged). `bytes` must not be within `out`.
[[nodiscard]] Result<bool> AppendAlertValue(std::string_view bytes, std::string& out);

// The alert event published on the alerts topic (key = dossier id), one compact JSON object
// with its members in this order:
// {"schema":"dossier-alert.v1","alert_id","kind","dossier_id","agency_code","commune_code",
//  "procedure_code","channel","due_at","detected_at","completed_at"?}; instants RFC 3339 UTC
// with milliseconds ("2026-02-14T09:00:00.123Z"). The bytes are those nlohmann::json wrote when
// the payload was built with it (tests/unit/alert keeps that as the reference): strings escaped
// as AppendJsonString does (iocstream/core/json_string.h), and invalid UTF-8 replaced by U+FFFD
// as nlohmann does it (one for a cut-off sequence: "\xE1\xBB-" gives U+FFFD and "-").
[[nodiscard]] std::string AlertToJson(const AlertIntent& alert);
// Appends AlertToJson(alert) to `out`.
void AppendAlertToJson(const AlertIntent& alert, std::string& out);
// The outbox entry of an alert (kind kAlert, key = dossier id, value = AlertToJson, headers
// "iocstream.alert.id" and "iocstream.alert.kind").
[[nodiscard]] OutboxMessage AlertMessage(const AlertIntent& alert);
// What the pipeline stores per alert (format 2): the alert's fields, not its message, about
// 100 bytes instead of the 400 of EncodeOutboxMessage(AlertMessage(alert)). The outbox is
// written, flushed and compacted by RocksDB before the relay deletes it, so its bytes were a
// third of all the state store wrote in a replay; the relay builds the message (the JSON) when
// it decodes the entry. DecodeOutboxMessage of it is AlertMessage(alert). Builds before
// format 2 cannot read it: stop cleanly (the relay drains the outbox) before running one on
// a state directory this build wrote.
[[nodiscard]] std::string EncodeAlertOutbox(const AlertIntent& alert);

}  // namespace iocstream::alert
