// A breach alert with every field set as a real one has it, for tests that need an alert.
#pragma once

#include "iocstream/core/dossier_state.h"

namespace iocstream::alert::samples {

inline AlertIntent TypicalAlert() {
  AlertIntent a;
  a.alert_id = "9f1c2b7a4e6d3058";
  a.kind = AlertKind::kDeadlineBreached;
  a.dossier_id = "000.00.12.H56-260210-0001";
  a.agency_code = "000.00.12.H56";
  a.commune_code = "24121";
  a.procedure_code = "1.002835.000.00.00.H56";
  a.channel = Channel::kOnline;
  a.due_at = FromEpochMillis(1771059600000);       // 2026-02-14T09:00:00.000Z
  a.detected_at = FromEpochMillis(1771059600123);  // 2026-02-14T09:00:00.123Z
  return a;
}

}  // namespace iocstream::alert::samples
