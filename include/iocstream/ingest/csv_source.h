// CSV file source: turns the rows of a city service-request export (Boston 311 and similar)
// into dossier events through a column mapping. Used for backfills, demos and real-data
// replays; the events then take the same decode/process path as Kafka events.
//
// One data row is one dossier. A row yields, in this order:
//   - a `received` event at the open time, carrying the due time when the row has one;
//   - when the row has a close time, a `completed` event at the close time, or a `rejected`
//     event when the row's status is one of the mapping's cancelled values.
// Event ids are deterministic, "<dossier_id>/received", "<dossier_id>/completed" and
// "<dossier_id>/rejected", so importing a file twice changes nothing downstream. Both events
// carry the row's department, commune, channel and procedure, so that either one can create
// the dossier if they arrive out of order. A close time before the open time is kept as it
// is (the rules class it); the reader never reorders or drops data. Events come in file order,
// not event-time order (a row's completed event precedes later rows' received events): a
// caller that needs event-time order sorts them.
//
// Rows that cannot be converted (missing id, open time missing or unparseable, a due or close
// time present but unparseable, a value that breaks the event contract's limits, wrong number
// of fields) are returned as a RowError in place of their events: nothing is dropped
// silently. The ONTIME/OVERDUE label of 311 exports is not read: it is the test oracle's
// input (tools/boston_oracle.py), not the processor's.
//
// Times: each timestamp is parsed with the mapping's formats (date::parse syntax, tried in
// order; a format matches only if it consumes the whole value). A timestamp that carries its
// own UTC offset (%z, e.g. "2025-08-01 13:05:00.25+00") is converted with that offset;
// otherwise it is local time in the mapping's IANA zone. Local times that a DST change makes
// ambiguous take the earlier instant (the offset in force before the change); local times in
// a spring-forward gap use the offset in force before the gap (as Python's fold=0). Instants
// are UTC, truncated to milliseconds.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "iocstream/core/dossier_event.h"
#include "iocstream/core/result.h"

namespace iocstream::ingest {

// Where each field of a dossier is in the CSV: names of header columns (exact,
// case-sensitive). An empty name means the file has no such column.
struct CsvColumns {
  std::string dossier_id;    // required
  std::string received_at;   // required: open time, the clock start
  std::string due_at;        // optional: due time (NgayHenTra); blank value = no due time
  std::string completed_at;  // optional: close time; blank value = still open
  std::string agency;        // required: department / processing unit
  std::string commune;       // optional: commune, ward or neighborhood
  std::string procedure;     // optional: procedure (case type, service name)
  std::string channel;       // optional: channel of submission (raw values: channel_values)
  std::string status;        // optional: only read to recognise cancelled_statuses
};

// The first %-field of `format` that date::parse does not read (e.g. "%f", Python's
// microseconds, or "%Q"), if any: date::parse takes it as literal text, so a mapping with one
// would refuse every row. For mapping loaders, which refuse such a format by its key.
[[nodiscard]] std::optional<std::string> UnknownTimeFormatField(std::string_view format);

// How to read one export schema into dossier events. Plain data (thread-compatible); loaded
// from config/mappings/*.yaml by app/mapping_config.h, documented in config/mappings/README.md.
struct CsvMapping {
  std::string name;  // for messages, e.g. "boston-legacy"
  CsvColumns columns;
  // Prepended to the id column's value to make the dossier id, e.g. "boston:". Exports that
  // share an id space share a prefix, so the same case in two exports is one dossier.
  std::string id_prefix;
  // date::parse formats, tried in order, e.g. "%Y-%m-%d %H:%M:%S" or "%Y-%m-%d %H:%M:%S%z".
  // %S reads fractional seconds of any length up to nanoseconds. At least one.
  std::vector<std::string> time_formats;
  // IANA zone of timestamps without an offset, e.g. "America/New_York" or "UTC". Required.
  std::string time_zone;
  // Repairs exports whose local times were converted from UTC to the zone a second time
  // (the value is the true local time shifted by the zone's UTC offset once more). When set,
  // a value without an offset is read as local time in time_zone, the UTC wall clock of that
  // instant is taken as the true local time, and that is converted. Values with an offset are
  // not affected. See config/mappings/README.md for how to recognise such an export.
  bool offset_applied_twice = false;
  // Raw channel value (trimmed, exact) → channel. Blank or unlisted values → Channel::kUnknown.
  std::map<std::string, Channel> channel_values;
  // Status values (trimmed, exact) for which a close time means the dossier was cancelled
  // (a `rejected` event) rather than completed. A cancelled status without a close time
  // yields no close event.
  std::vector<std::string> cancelled_statuses;
  // Department used when the agency value is blank. Empty: a blank agency is a RowError
  // (the event contract requires an agency).
  std::string default_agency;
};

// A row that could not be converted. reason is "<category>: <detail>" or just "<category>",
// e.g. "unparseable due time: '2025-13-01'", so that callers can count by category (the text
// before ':').
struct RowError {
  std::string file;
  int64_t line = 0;  // 1-based physical line where the row starts (the header is line 1)
  std::string reason;
  // The data rows it stands for: 1, but for a quote left open at the end of the file, the
  // lines its value took after its row's own (each read as no row: from `line` on), 0 when
  // it took none (its row was returned on its own, as read).
  int64_t rows = 1;
};

// One data row's outcome: its events (received first), or why it has none.
using CsvRow = std::variant<std::vector<DossierEvent>, RowError>;

struct CsvReaderStats {
  int64_t rows_read = 0;   // rows NextRow accounted for (RowError::rows each; blank lines are
                           // not rows)
  int64_t row_errors = 0;  // of them, rows in RowErrors (including a final read error)
  int64_t received_events = 0;
  int64_t completed_events = 0;
  int64_t rejected_events = 0;
  int64_t unmapped_channel_values = 0;  // rows whose non-blank channel value is not mapped
};

// Streams one CSV file (RFC 4180: quoted fields with commas, doubled quotes and embedded
// newlines; LF or CRLF line ends; a UTF-8 BOM is ignored) through a CsvMapping. The first
// non-blank row is the header; columns are found by name, so extra or reordered columns are
// fine, and a duplicated header name is an error only if the mapping uses it. Reads the file
// in 64 KiB chunks: memory is bounded by the chunk and the longest row, not the file size. The
// ISO-like formats ("%Y-%m-%d %H:%M:%S", with "T" and/or "%z") take a fast path that gives the
// same results as date::parse; throughput is then bounded by libcsv (~250k Boston rows/s on
// one core).
//
// Not thread-safe: one thread owns a reader.
class CsvEventReader {
 public:
  // Opens `path`, reads the header and checks the mapping against it. Errors: kNotFound (no
  // such file), kIo (cannot read), kInvalidArgument ("PATH: why": empty file, a mapped column
  // missing from the header or appearing twice, an incomplete mapping, an unknown time zone).
  [[nodiscard]] static Result<std::unique_ptr<CsvEventReader>> Open(const std::string& path,
                                                                    const CsvMapping& mapping);
  ~CsvEventReader();
  CsvEventReader(const CsvEventReader&) = delete;
  CsvEventReader& operator=(const CsvEventReader&) = delete;

  // The next data row's events or RowError; nullopt at the end of the file. A read failure
  // mid-file is returned once as a RowError ("read error: ...") and ends the stream.
  [[nodiscard]] std::optional<CsvRow> NextRow();

  // Data rows accounted for so far: one per converted row, RowError::rows per RowError.
  [[nodiscard]] int64_t rows_read() const { return stats_.rows_read; }
  // Physical line (1-based) where the row last returned by NextRow starts; a file source's
  // offset.
  [[nodiscard]] int64_t last_line() const { return last_line_; }
  [[nodiscard]] const CsvReaderStats& stats() const { return stats_; }
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  class Impl;
  CsvEventReader(std::string path, std::unique_ptr<Impl> impl);

  std::string path_;
  std::unique_ptr<Impl> impl_;
  CsvReaderStats stats_;
  int64_t last_line_ = 0;
  bool done_ = false;
};

}  // namespace iocstream::ingest
