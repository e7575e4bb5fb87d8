// CSV column mappings: one YAML file per export schema (config/mappings/*.yaml, every key
// documented in config/mappings/README.md) loaded into an ingest::CsvMapping. Loading checks
// every key, the channel names and the time zone, and reports errors as "FILE: KEY: why".
// Free functions without shared state: thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "iocstream/core/result.h"
#include "iocstream/ingest/csv_source.h"

namespace iocstream::app {

// Loads a mapping file. The mapping's name is its `name` key, else the file name without
// extension. Errors: kNotFound (no such file), kInvalidArgument ("FILE: KEY: why": not YAML,
// a required key missing, an unknown key, a wrong type, an unknown channel or time zone).
[[nodiscard]] Result<ingest::CsvMapping> LoadCsvMapping(const std::string& path);

// The same from YAML text; `source` names it in messages (and is the default name).
[[nodiscard]] Result<ingest::CsvMapping> ParseCsvMapping(std::string_view yaml,
                                                         const std::string& source);

}  // namespace iocstream::app
