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

// Length-prefixed binary encoding (version byte first).
[[nodiscard]] std::string EncodeOutboxMessage(const OutboxMessage& message);
// ErrorCode::kCorruption on truncated or unknown bytes.
[[nodiscard]] Result<OutboxMessage> DecodeOutboxMessage(std::string_view bytes);

// The alert event published on the alerts topic (key = dossier id), one compact JSON object
// with its members in this order:
// {"schema":"dossier-alert.v1","alert_id","kind","dossier_id","agency_code","commune_code",
//  "procedure_code","channel","due_at","detected_at","completed_at"?}; instants RFC 3339 UTC
// with milliseconds ("2026-02-14T09:00:00.123Z"). The bytes are those nlohmann::json wrote when
// the payload was built with it (tests/unit/alert keeps that as the reference): strings escaped
// as AppendJsonString does (iocstream/core/json_string.h), and invalid UTF-8 replaced by U+FFFD
// as nlohmann does it (one for a cut-off sequence: "\xE1\xBB-" gives U+FFFD and "-").
[[nodiscard]] std::string AlertToJson(const AlertIntent& alert);
// The outbox entry of an alert (kind kAlert, key = dossier id, value = AlertToJson, headers
// "iocstream.alert.id" and "iocstream.alert.kind").
[[nodiscard]] OutboxMessage AlertMessage(const AlertIntent& alert);
// EncodeOutboxMessage(AlertMessage(alert)), byte for byte, written straight into one string
// without the intermediate OutboxMessage: what the pipeline stores per alert.
[[nodiscard]] std::string EncodeAlertOutbox(const AlertIntent& alert);

}  // namespace iocstream::alert
