// Test helpers for the decode module: field-by-field DossierEvent comparison with readable
// failure messages (DossierEvent has no operator==).
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "iocstream/core/dossier_event.h"
#include "iocstream/decode/rfc3339.h"

namespace iocstream::testing {

inline std::string Show(const std::optional<Instant>& instant) {
  return instant ? FormatRfc3339Utc(*instant) : std::string("(absent)");
}

inline std::string Show(const std::optional<bool>& flag) {
  return flag ? (*flag ? "true" : "false") : "(absent)";
}

// Adds a non-fatal failure for every field that differs.
inline void ExpectSameEvent(const DossierEvent& actual, const DossierEvent& expected) {
  EXPECT_EQ(actual.schema_version, expected.schema_version);
  EXPECT_EQ(actual.event_id, expected.event_id);
  EXPECT_EQ(actual.dossier_id, expected.dossier_id);
  EXPECT_EQ(ToString(actual.type), ToString(expected.type));
  EXPECT_EQ(FormatRfc3339Utc(actual.occurred_at), FormatRfc3339Utc(expected.occurred_at));
  EXPECT_EQ(actual.agency_code, expected.agency_code);
  EXPECT_EQ(actual.commune_code, expected.commune_code);
  EXPECT_EQ(actual.procedure_code, expected.procedure_code);
  EXPECT_EQ(ToString(actual.channel), ToString(expected.channel));
  EXPECT_EQ(ToString(actual.online_level), ToString(expected.online_level));
  EXPECT_EQ(Show(actual.due_at), Show(expected.due_at)) << "due_at";
  EXPECT_EQ(actual.to_agency_code, expected.to_agency_code);
  EXPECT_EQ(Show(actual.step_due_at), Show(expected.step_due_at)) << "step_due_at";
  EXPECT_EQ(Show(actual.new_due_at), Show(expected.new_due_at)) << "new_due_at";
  EXPECT_EQ(Show(actual.result_electronic), Show(expected.result_electronic))
      << "result_electronic";
}

}  // namespace iocstream::testing
