#include "iocstream/ingest/csv_source.h"

#include <csv.h>
// GCC 12 at -O2/-O3 flags date::from_stream's fractional-seconds local (date.h:7261) as maybe
// uninitialized, a false positive inside the library.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <date/date.h>
#include <date/tz.h>
#pragma GCC diagnostic pop

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <istream>
#include <set>
#include <streambuf>
#include <string_view>

#include "iocstream/core/json_string.h"
#include "iocstream/core/utf8.h"

namespace iocstream::ingest {
namespace {

// The event contract's limits (schemas/dossier-event.v1.json): ids 1..128 bytes, codes at most
// 64 bytes, no control characters. Checked here so that a bad row is reported with its file
// and line instead of being dead-lettered later without them.
constexpr size_t kMaxIdBytes = 128;
constexpr size_t kMaxCodeBytes = 64;
constexpr std::string_view kReceivedSuffix = "/received";
constexpr std::string_view kCompletedSuffix = "/completed";
constexpr std::string_view kRejectedSuffix = "/rejected";
constexpr size_t kLongestSuffix = kCompletedSuffix.size();

constexpr size_t kChunkBytes = 64 * 1024;
// A single field this large means an unterminated quote swallowed the rest of the file.
constexpr size_t kMaxFieldBytes = 16 * 1024 * 1024;
constexpr size_t kMaxQuotedValue = 64;  // characters of a bad value quoted in a RowError

// The mapped fields of a row, in the order the reader uses them.
enum Slot : int {
  kIdSlot = 0,
  kOpenSlot,
  kDueSlot,
  kCloseSlot,
  kAgencySlot,
  kCommuneSlot,
  kProcedureSlot,
  kChannelSlot,
  kStatusSlot,
  kSlotCount,
};

struct SlotSpec {
  Slot slot;
  const char* key;  // the CsvColumns member, as named in mapping files
  bool required;
};
constexpr std::array<SlotSpec, kSlotCount> kSlotSpecs = {{
    {kIdSlot, "dossier_id", true},
    {kOpenSlot, "received_at", true},
    {kDueSlot, "due_at", false},
    {kCloseSlot, "completed_at", false},
    {kAgencySlot, "agency", true},
    {kCommuneSlot, "commune", false},
    {kProcedureSlot, "procedure", false},
    {kChannelSlot, "channel", false},
    {kStatusSlot, "status", false},
}};

const std::string& ColumnOf(const CsvColumns& c, Slot slot) {
  switch (slot) {
    case kIdSlot:
      return c.dossier_id;
    case kOpenSlot:
      return c.received_at;
    case kDueSlot:
      return c.due_at;
    case kCloseSlot:
      return c.completed_at;
    case kAgencySlot:
      return c.agency;
    case kCommuneSlot:
      return c.commune;
    case kProcedureSlot:
      return c.procedure;
    case kChannelSlot:
      return c.channel;
    case kStatusSlot:
    case kSlotCount:
      break;
  }
  return c.status;
}

bool HasControlChar(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c < 0x20 || c == 0x7f;
  });
}

std::string Quote(std::string_view value) {
  std::string out = "'";
  if (value.size() > kMaxQuotedValue) {
    out.append(value.substr(0, kMaxQuotedValue));
    out += "...";
  } else {
    out.append(value);
  }
  out += '\'';
  return out;
}

// An istream over a caller's bytes without copying them (date::parse reads from a stream).
class ViewStreamBuf : public std::streambuf {
 public:
  void Reset(std::string_view text) {
    // The get area is only read; streambuf's interface takes char*.
    char* begin = const_cast<char*>(text.data());
    setg(begin, begin, begin + text.size());
  }
};

// Parses timestamps with a list of date::parse formats; see csv_source.h for the rules.
class TimestampParser {
 public:
  TimestampParser(std::vector<std::string> formats, const date::time_zone* zone,
                  bool offset_applied_twice)
      : zone_(zone), offset_applied_twice_(offset_applied_twice) {
    for (std::string& f : formats) {
      const ShorthandFormat* shorthand = FindShorthand(f);
      formats_.push_back(Format{shorthand, std::move(f)});
    }
  }

  std::optional<Instant> Parse(std::string_view text) {
    for (const Format& format : formats_) {
      Parsed p;
      if (!(format.shorthand != nullptr && ParseShorthand(*format.shorthand, text, p)) &&
          !ParseWithDate(format.text, text, p)) {
        continue;
      }
      const auto as_utc = date::sys_time<Micros>(p.local.time_since_epoch());
      if (p.offset) return std::chrono::floor<Millis>(as_utc - *p.offset);
      date::sys_time<Micros> utc = LocalToUtc(p.local);
      if (offset_applied_twice_) utc = LocalToUtc(date::local_time<Micros>(utc.time_since_epoch()));
      return std::chrono::floor<Millis>(utc);
    }
    return std::nullopt;
  }

 private:
  // Microseconds: nanoseconds would overflow silently for years outside 1678..2262.
  using Micros = std::chrono::microseconds;

  // The ISO-like formats most exports use, parsed without iostreams (date::parse costs about
  // 1 us a value). A value the shorthand does not recognise goes to date::parse with the same
  // format, so results never differ (tests/unit/ingest checks both paths on the same values).
  struct ShorthandFormat {
    char date_time_separator;
    bool offset;  // "%z" at the end
  };
  struct Format {
    const ShorthandFormat* shorthand;  // nullptr: always date::parse
    std::string text;
  };
  struct Parsed {
    date::local_time<Micros> local{};
    std::optional<std::chrono::minutes> offset;
  };

  static const ShorthandFormat* FindShorthand(const std::string& format) {
    static constexpr std::array<std::pair<std::string_view, ShorthandFormat>, 4> kKnown = {{
        {"%Y-%m-%d %H:%M:%S", {' ', false}},
        {"%Y-%m-%d %H:%M:%S%z", {' ', true}},
        {"%Y-%m-%dT%H:%M:%S", {'T', false}},
        {"%Y-%m-%dT%H:%M:%S%z", {'T', true}},
    }};
    for (const auto& [text, shorthand] : kKnown) {
      if (format == text) return &shorthand;
    }
    return nullptr;
  }

  // Reads `n` decimal digits at text[pos]; false if there are not n digits.
  static bool Digits(std::string_view text, size_t pos, size_t n, int& out) {
    if (pos + n > text.size()) return false;
    out = 0;
    for (size_t i = pos; i < pos + n; ++i) {
      const char c = text[i];
      if (c < '0' || c > '9') return false;
      out = out * 10 + (c - '0');
    }
    return true;
  }

  // YYYY-MM-DD?HH:MM:SS[.f{1,6}][(+|-)HH[MM]] with every field in range; else false.
  static bool ParseShorthand(const ShorthandFormat& f, std::string_view text, Parsed& p) {
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
    if (text.size() < 19 || !Digits(text, 0, 4, y) || text[4] != '-' || !Digits(text, 5, 2, mo) ||
        text[7] != '-' || !Digits(text, 8, 2, d) || text[10] != f.date_time_separator ||
        !Digits(text, 11, 2, h) || text[13] != ':' || !Digits(text, 14, 2, mi) || text[16] != ':' ||
        !Digits(text, 17, 2, sec)) {
      return false;
    }
    const date::year_month_day ymd{date::year(y), date::month(static_cast<unsigned>(mo)),
                                   date::day(static_cast<unsigned>(d))};
    if (!ymd.ok() || h > 23 || mi > 59 || sec > 59) return false;
    size_t pos = 19;
    int64_t micros = 0;
    if (pos < text.size() && text[pos] == '.') {
      size_t n = 0;
      for (++pos; pos < text.size() && n < 7 && text[pos] >= '0' && text[pos] <= '9'; ++pos) {
        micros = micros * 10 + (text[pos] - '0');
        ++n;
      }
      if (n == 0 || n > 6) return false;
      for (; n < 6; ++n) micros *= 10;
    }
    if (f.offset) {
      int oh = 0, om = 0;
      if (pos >= text.size() || (text[pos] != '+' && text[pos] != '-') ||
          !Digits(text, pos + 1, 2, oh)) {
        return false;
      }
      const int sign = text[pos] == '-' ? -1 : 1;
      pos += 3;
      if (pos < text.size()) {
        if (!Digits(text, pos, 2, om)) return false;
        pos += 2;
      }
      if (oh > 23 || om > 59) return false;
      p.offset = std::chrono::minutes(sign * (oh * 60 + om));
    }
    if (pos != text.size()) return false;
    p.local = date::local_days(ymd) + std::chrono::hours(h) + std::chrono::minutes(mi) +
              std::chrono::seconds(sec) + Micros(micros);
    return true;
  }

  bool ParseWithDate(const std::string& format, std::string_view text, Parsed& p) {
    constexpr std::chrono::minutes kNoOffset = std::chrono::minutes::min();
    buf_.Reset(text);
    in_.clear();
    std::chrono::minutes offset = kNoOffset;
    date::from_stream(in_, format.c_str(), p.local, static_cast<std::string*>(nullptr), &offset);
    if (in_.fail() || in_.peek() != std::istream::traits_type::eof()) return false;
    if (offset != kNoOffset) p.offset = offset;
    return true;
  }

  // Unique, ambiguous (earlier instant) and nonexistent (offset before the gap) local times
  // all take the first offset of the local_info.
  date::sys_time<Micros> LocalToUtc(date::local_time<Micros> local) const {
    const date::local_info info = zone_->get_info(local);
    return date::sys_time<Micros>(local.time_since_epoch()) - info.first.offset;
  }

  std::vector<Format> formats_;
  const date::time_zone* zone_;
  bool offset_applied_twice_;
  ViewStreamBuf buf_;
  std::istream in_{&buf_};
};

// One row as split by libcsv: the values of the mapped columns only.
struct RawRow {
  int64_t line = 0;
  int64_t quoted_line_ends = 0;  // line ends inside its quoted values
  int64_t field_count = 0;
  std::array<std::string, kSlotCount> values;
};

}  // namespace

std::optional<std::string> UnknownTimeFormatField(std::string_view format) {
  // The conversions date::parse reads (date.h, from_stream): any other letter is matched as
  // literal text, so a value never matches it.
  constexpr std::string_view kKnown = "aAbBhcxXCDFdeHIjMmntprRSTYygGUVWuwzZ%";
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%') continue;
    size_t j = i + 1;
    while (j < format.size() && format[j] >= '0' && format[j] <= '9') ++j;  // a width
    if (j < format.size() && (format[j] == 'E' || format[j] == 'O')) ++j;   // a modifier
    if (j >= format.size()) return std::string(format.substr(i));
    if (kKnown.find(format[j]) == std::string_view::npos) {
      return std::string(format.substr(i, j - i + 1));
    }
    i = j;
  }
  return std::nullopt;
}

class CsvEventReader::Impl {
 public:
  Impl(std::string path, std::FILE* file, const CsvMapping& mapping, const date::time_zone* zone)
      : path_(std::move(path)),
        file_(file),
        mapping_(mapping),
        parser_(mapping.time_formats, zone, mapping.offset_applied_twice),
        channels_(mapping.channel_values.begin(), mapping.channel_values.end()),
        cancelled_(mapping.cancelled_statuses.begin(), mapping.cancelled_statuses.end()) {
    chunk_.resize(kChunkBytes);
  }
  ~Impl() {
    if (parser_ready_) csv_free(&csv_);
    if (file_ != nullptr) std::fclose(file_);
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  Status Init() {
    if (csv_init(&csv_, CSV_REPALL_NL) != 0) return IoError(path_ + ": cannot start CSV parser");
    parser_ready_ = true;
    while (!header_done_ && !eof_) {
      if (auto failure = ReadChunk()) {
        if (!header_done_) {
          return utf16_ ? InvalidArgument(path_ + ": " + *failure)
                        : IoError(path_ + ": " + *failure);
        }
        fatal_ = std::move(failure);  // after the header: reported after the rows before it
        if (!header_status_) return header_status_;
        break;
      }
    }
    if (!header_done_) return InvalidArgument(path_ + ": empty file, no header row");
    return header_status_;
  }

  // Next raw row, or nullptr at the end. A fatal error is left in fatal_.
  RawRow* NextRaw() {
    while (next_row_ == row_count_) {
      if (eof_ || fatal_) return nullptr;
      // Reuse the pool from its start; a row split across chunks moves to the front.
      if (fields_in_row_ > 0) std::swap(rows_[0], rows_[row_count_]);
      next_row_ = row_count_ = 0;
      fatal_ = ReadChunk();
    }
    return &rows_[next_row_++];
  }

  CsvRow Convert(const RawRow& row);

  const std::optional<std::string>& fatal() const { return fatal_; }
  // The file ended inside a quoted value of the row on `line`, which took `swallowed` lines
  // after its own (the fatal() error says so).
  struct OpenQuote {
    int64_t line = 0;
    int64_t swallowed = 0;
  };
  const std::optional<OpenQuote>& open_quote() const { return open_quote_; }
  bool at_end() const { return eof_; }
  int64_t next_line() const { return next_line_; }
  bool channel_unmapped() const { return channel_unmapped_; }

 private:
  static void OnField(void* data, size_t len, void* self) {
    static_cast<Impl*>(self)->AddField(static_cast<const char*>(data), len);
  }
  static void OnRowEnd(int terminator, void* self) { static_cast<Impl*>(self)->EndRow(terminator); }

  RawRow& Pending() {
    if (row_count_ == rows_.size()) rows_.emplace_back();
    return rows_[row_count_];
  }

  void AddField(const char* data, size_t len) {
    const std::string_view value = len == 0 ? std::string_view() : std::string_view(data, len);
    // Physical lines inside quoted values, so that row line numbers stay right.
    for (size_t pos = value.find('\n'); pos != std::string_view::npos;
         pos = value.find('\n', pos + 1)) {
      ++newlines_in_row_;
    }
    if (!header_done_) {
      header_.emplace_back(value);
    } else {
      if (fields_in_row_ == 0) {
        for (std::string& v : Pending().values) v.clear();
      }
      if (fields_in_row_ < static_cast<int64_t>(slots_of_column_.size())) {
        for (Slot slot : slots_of_column_[fields_in_row_]) {
          Pending().values[slot].assign(value);
        }
      }
    }
    ++fields_in_row_;
  }

  void EndRow(int terminator) {
    const bool is_line_end = terminator == '\n' || terminator == '\r';
    if (fields_in_row_ == 0) {
      // A blank line, or the LF of a CRLF (CSV_REPALL_NL reports both).
      if (is_line_end && !(terminator == '\n' && last_terminator_ == '\r')) ++next_line_;
      last_terminator_ = terminator;
      return;
    }
    const int64_t line = next_line_;
    next_line_ += newlines_in_row_ + (is_line_end ? 1 : 0);
    last_terminator_ = terminator;
    if (!header_done_) {
      header_done_ = true;
      // Before the rest of the chunk is split: its rows need the column → field map.
      header_status_ = MapHeader();
    } else {
      RawRow& row = Pending();
      row.line = line;
      row.quoted_line_ends = newlines_in_row_;
      row.field_count = fields_in_row_;
      ++row_count_;
    }
    fields_in_row_ = 0;
    newlines_in_row_ = 0;
  }

  // Feeds the next chunk of the file to libcsv. Returns why reading cannot go on, if so.
  std::optional<std::string> ReadChunk() {
    const size_t read = std::fread(chunk_.data(), 1, chunk_.size(), file_);
    if (read < chunk_.size() && std::ferror(file_) != 0) {
      return std::string("read error: ") + std::strerror(errno);
    }
    std::string_view data(chunk_.data(), read);
    if (read > 0) last_byte_ = chunk_[read - 1];
    if (first_chunk_) {
      first_chunk_ = false;
      constexpr std::string_view kBom = "\xEF\xBB\xBF";
      if (data.starts_with(kBom)) data.remove_prefix(kBom.size());
      // UTF-16 (Excel's "Unicode text", PowerShell's `>`): its header was reported as missing
      // the mapped columns, its raw bytes quoted (a helper's finding). Named, as replay names an
      // NDJSON file's.
      if (data.starts_with("\xFF\xFE") || data.starts_with("\xFE\xFF")) {
        utf16_ = true;
        return "UTF-16 text (its byte-order mark): CSV files are read as UTF-8; convert it "
               "first, e.g. iconv -f UTF-16 -t UTF-8 " +
               path_ + " > converted.csv";
      }
    }
    if (!data.empty()) {
      if (csv_parse(&csv_, data.data(), data.size(), OnField, OnRowEnd, this) != data.size()) {
        return std::string("CSV parser failed: ") + csv_strerror(csv_error(&csv_));
      }
      if (csv_get_buffer_size(&csv_) > kMaxFieldBytes) {
        return std::string("field too large: over 16 MiB (unterminated quote?)");
      }
    }
    if (read < chunk_.size()) {
      eof_ = true;
      // A quote still open at the end of the file is an error, not a last value holding every
      // line after it (which converted cleanly when its column was unmapped). libcsv checks it
      // only in strict mode, set for csv_fini alone: the file was read leniently.
      (void)csv_set_opts(&csv_, CSV_REPALL_NL | CSV_STRICT | CSV_STRICT_FINI);
      if (csv_fini(&csv_, OnField, OnRowEnd, this) != 0) {
        // The row is still handed out as read (a header, or a row whose other values are
        // fine); then this error says what it swallowed.
        const int64_t opened_on = next_line_;
        (void)csv_set_opts(&csv_, CSV_REPALL_NL);
        const size_t rows_before = row_count_;
        csv_fini(&csv_, OnField, OnRowEnd, this);
        // The lines the open value took after its row's own: the line ends inside it, but the
        // file's last one (it ends the row's last line and starts none).
        int64_t swallowed = 0;
        if (row_count_ > rows_before) {  // a data row (not the header)
          RawRow& row = rows_[row_count_ - 1];
          if (last_byte_ == '\n' && row.quoted_line_ends > 0) --row.quoted_line_ends;
          swallowed = row.quoted_line_ends;
        }
        open_quote_ = OpenQuote{opened_on, swallowed};
        const std::string what = "a quoted value of the row on line " + std::to_string(opened_on) +
                                 " is still open at the end of the file";
        if (swallowed == 0)
          return what + " (an unterminated quote?): it took no line after its own";
        return what + ": the " + std::to_string(swallowed) + " line(s) after it, lines " +
               std::to_string(opened_on + 1) + " to " + std::to_string(opened_on + swallowed) +
               ", were read into that value, none as a row (an unterminated quote?)";
      }
    }
    return std::nullopt;
  }

  Status MapHeader() {
    slots_of_column_.assign(header_.size(), {});
    for (const SlotSpec& spec : kSlotSpecs) {
      const std::string& name = ColumnOf(mapping_.columns, spec.slot);
      if (name.empty()) continue;
      const auto count = std::count(header_.begin(), header_.end(), name);
      if (count == 0) {
        const std::string what = path_ + ": mapping '" + mapping_.name + "': column '" + name +
                                 "' (" + spec.key + ") is not in the header";
        if (!header_.empty() && header_.front().starts_with('{')) {
          // The message listed the "columns" of an NDJSON file: its first lines, whole.
          return InvalidArgument(what +
                                 ": the file starts with '{', as NDJSON events do (replay "
                                 "those without --mapping)");
        }
        // A few columns, each cut short: a header of a file that is no CSV can be megabytes.
        constexpr size_t kColumnsShown = 40;
        constexpr size_t kColumnChars = 60;
        std::string columns;
        for (size_t i = 0; i < header_.size() && i < kColumnsShown; ++i) {
          // Not in the middle of a UTF-8 character (Vietnamese column names).
          const std::string_view cut = CutUtf8(header_[i], kColumnChars);
          columns += (columns.empty() ? "" : ", ") + std::string(cut);
          if (cut.size() < header_[i].size()) columns += "...";
        }
        if (header_.size() > kColumnsShown) {
          columns += ", ... (" + std::to_string(header_.size()) + " columns)";
        }
        return InvalidArgument(what + " (columns: " + columns + ")");
      }
      if (count > 1) {
        return InvalidArgument(path_ + ": mapping '" + mapping_.name + "': column '" + name +
                               "' (" + spec.key + ") appears " + std::to_string(count) +
                               " times in the header");
      }
      const auto index = std::find(header_.begin(), header_.end(), name) - header_.begin();
      slots_of_column_[index].push_back(spec.slot);
    }
    return {};
  }

  RowError MakeError(const RawRow& row, std::string reason) const {
    if (row.quoted_line_ends > 0) {
      // A stray or unterminated quote makes the lines after it part of one quoted value: say
      // how many, since the row count alone hides them.
      reason += "; its quoted values run over the next " + std::to_string(row.quoted_line_ends) +
                " line(s) (if unexpected: an unterminated or stray quote)";
    }
    return RowError{path_, row.line, std::move(reason)};
  }

  // A time column's value: nullopt if blank; error text if present but unparseable.
  std::variant<std::optional<Instant>, std::string> ReadTime(const RawRow& row, Slot slot,
                                                             const char* what) {
    const std::string_view text = TrimBlanks(row.values[slot]);
    if (text.empty()) return std::optional<Instant>();
    if (auto t = parser_.Parse(text)) {
      if (!InEventRange(*t)) return OutOfRange(what, text);
      return t;
    }
    return std::string("unparseable ") + what + ": " + Quote(text);
  }

  // The instants the event contract admits (decode/event_decoder.h): a row's time outside them
  // is a wrong year, and the business calendar would clamp a deadline computed from it.
  static bool InEventRange(Instant t) { return t >= kEarliestEventTime && t < kLatestEventTime; }
  static std::string OutOfRange(const char* what, std::string_view text) {
    return std::string(what) + " outside 1970-01-01 to 2199-12-31 (UTC): " + Quote(text);
  }

  std::string path_;
  std::FILE* file_;
  CsvMapping mapping_;
  TimestampParser parser_;
  std::map<std::string, Channel, std::less<>> channels_;
  std::set<std::string, std::less<>> cancelled_;

  csv_parser csv_{};
  bool parser_ready_ = false;
  std::vector<char> chunk_;
  bool first_chunk_ = true;
  bool eof_ = false;
  std::optional<std::string> fatal_;
  bool utf16_ = false;  // the file starts with a UTF-16 byte-order mark (refused)
  std::optional<OpenQuote> open_quote_;
  char last_byte_ = 0;  // of the file as read so far

  bool header_done_ = false;
  Status header_status_;
  std::vector<std::string> header_;
  std::vector<std::vector<Slot>> slots_of_column_;  // header index → mapped fields

  // Rows split from the current chunk, reused across chunks: rows_[next_row_, row_count_).
  std::vector<RawRow> rows_;
  size_t row_count_ = 0;
  size_t next_row_ = 0;
  int64_t fields_in_row_ = 0;
  int64_t newlines_in_row_ = 0;
  int64_t next_line_ = 1;  // physical line where the next row starts
  int last_terminator_ = 0;

  bool channel_unmapped_ = false;  // set by Convert for the row it converted
};

CsvRow CsvEventReader::Impl::Convert(const RawRow& row) {
  channel_unmapped_ = false;
  if (row.field_count != static_cast<int64_t>(header_.size())) {
    return MakeError(row, "wrong field count: " + std::to_string(row.field_count) +
                              " fields, the header has " + std::to_string(header_.size()));
  }
  // Text the event encoder would alter (invalid UTF-8 becomes U+FFFD) could merge two
  // dossiers or departments: such a row is refused, as the NDJSON decoder refuses such bytes.
  for (const SlotSpec& spec : kSlotSpecs) {
    if (!IsValidUtf8(row.values[spec.slot])) {
      return MakeError(row, "invalid UTF-8 in column '" + ColumnOf(mapping_.columns, spec.slot) +
                                "' (" + spec.key + ")");
    }
  }
  const std::string_view id = TrimBlanks(row.values[kIdSlot]);
  if (id.empty()) return MakeError(row, "missing dossier id");
  if (HasControlChar(id)) return MakeError(row, "invalid dossier id: control character");
  if (mapping_.id_prefix.size() + id.size() + kLongestSuffix > kMaxIdBytes) {
    return MakeError(row, "dossier id too long: " + Quote(id));
  }

  const std::string_view open_text = TrimBlanks(row.values[kOpenSlot]);
  if (open_text.empty()) return MakeError(row, "missing open time");
  const std::optional<Instant> open = parser_.Parse(open_text);
  if (!open) return MakeError(row, "unparseable open time: " + Quote(open_text));
  if (!InEventRange(*open)) return MakeError(row, OutOfRange("open time", open_text));
  auto due = ReadTime(row, kDueSlot, "due time");
  if (auto* e = std::get_if<std::string>(&due)) return MakeError(row, std::move(*e));
  auto close = ReadTime(row, kCloseSlot, "close time");
  if (auto* e = std::get_if<std::string>(&close)) return MakeError(row, std::move(*e));

  std::string_view agency = TrimBlanks(row.values[kAgencySlot]);
  if (agency.empty()) agency = mapping_.default_agency;
  if (agency.empty()) return MakeError(row, "missing agency");
  struct CodeValue {
    const char* what;
    std::string_view value;
  };
  const std::string_view commune = TrimBlanks(row.values[kCommuneSlot]);
  const std::string_view procedure = TrimBlanks(row.values[kProcedureSlot]);
  for (const CodeValue& code : {CodeValue{"agency", agency}, CodeValue{"commune", commune},
                                CodeValue{"procedure", procedure}}) {
    if (code.value.size() > kMaxCodeBytes) {
      return MakeError(row, std::string(code.what) + " too long: " + Quote(code.value));
    }
    if (HasControlChar(code.value)) {
      return MakeError(row, std::string("invalid ") + code.what + ": control character");
    }
  }

  Channel channel = Channel::kUnknown;
  if (const std::string_view raw = TrimBlanks(row.values[kChannelSlot]); !raw.empty()) {
    if (auto it = channels_.find(raw); it != channels_.end()) {
      channel = it->second;
    } else {
      channel_unmapped_ = true;
    }
  }

  DossierEvent received;
  received.dossier_id.reserve(mapping_.id_prefix.size() + id.size());
  received.dossier_id.append(mapping_.id_prefix).append(id);
  received.event_id.reserve(received.dossier_id.size() + kLongestSuffix);
  received.event_id.append(received.dossier_id).append(kReceivedSuffix);
  received.type = EventType::kReceived;
  received.occurred_at = *open;
  // Looked up as the decoder does: codes new to the process are admitted by the pipeline.
  SetCodeText(received, CodeField::kAgency, agency);
  SetCodeText(received, CodeField::kCommune, commune);
  SetCodeText(received, CodeField::kProcedure, procedure);
  received.channel = channel;
  received.due_at = std::get<std::optional<Instant>>(due);

  std::vector<DossierEvent> events;
  const std::optional<Instant> closed_at = std::get<std::optional<Instant>>(close);
  events.reserve(closed_at ? 2 : 1);
  if (closed_at) {
    const bool cancelled =
        !cancelled_.empty() && cancelled_.contains(TrimBlanks(row.values[kStatusSlot]));
    DossierEvent closing = received;
    closing.event_id.resize(closing.dossier_id.size());
    closing.event_id.append(cancelled ? kRejectedSuffix : kCompletedSuffix);
    closing.type = cancelled ? EventType::kRejected : EventType::kCompleted;
    closing.occurred_at = *closed_at;
    closing.due_at.reset();
    events.push_back(std::move(received));
    events.push_back(std::move(closing));
  } else {
    events.push_back(std::move(received));
  }
  return events;
}

CsvEventReader::CsvEventReader(std::string path, std::unique_ptr<Impl> impl)
    : path_(std::move(path)), impl_(std::move(impl)) {}

CsvEventReader::~CsvEventReader() = default;

Result<std::unique_ptr<CsvEventReader>> CsvEventReader::Open(const std::string& path,
                                                             const CsvMapping& mapping) {
  const std::string what = path + ": mapping '" + mapping.name + "': ";
  for (const SlotSpec& spec : kSlotSpecs) {
    if (spec.required && ColumnOf(mapping.columns, spec.slot).empty()) {
      return InvalidArgument(what + "no column given for " + spec.key);
    }
  }
  if (mapping.time_formats.empty()) return InvalidArgument(what + "no time format");
  // Else every row was refused as "dossier id too long", quoting its short id.
  if (mapping.id_prefix.size() + kLongestSuffix >= kMaxIdBytes) {
    return InvalidArgument(what + "id_prefix of " + std::to_string(mapping.id_prefix.size()) +
                           " bytes leaves no room for an id (prefix + id + '" +
                           std::string(kCompletedSuffix) + "' must fit in " +
                           std::to_string(kMaxIdBytes) + " bytes)");
  }
  // Else every event was dead-lettered (invalid_value) while import said all rows were
  // imported (a helper's finding): refused here, as a row's id or code with one is.
  for (const auto& [key, text] :
       {std::pair<const char*, const std::string&>{"id_prefix", mapping.id_prefix},
        {"default_agency", mapping.default_agency}}) {
    if (HasControlChar(text)) {
      return InvalidArgument(what + key + " " + JsonQuote(text) +
                             " holds a control character (a tab, line feed...), which no "
                             "event's dossier id or agency code may hold");
    }
  }
  if (mapping.time_zone.empty()) return InvalidArgument(what + "no time zone");
  const date::time_zone* zone = nullptr;
  try {
    zone = date::locate_zone(mapping.time_zone);
  } catch (const std::exception&) {
    return InvalidArgument(what + "unknown time zone '" + mapping.time_zone + "'");
  }

  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    const int err = errno;
    return Error{err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                 path + ": " + std::strerror(err)};
  }
  auto impl = std::make_unique<Impl>(path, file, mapping, zone);
  if (Status s = impl->Init(); !s) return s.error();
  return std::unique_ptr<CsvEventReader>(new CsvEventReader(path, std::move(impl)));
}

std::optional<CsvRow> CsvEventReader::NextRow() {
  if (done_) return std::nullopt;
  const RawRow* raw = impl_->NextRaw();
  if (raw == nullptr) {
    done_ = true;
    if (!impl_->fatal()) return std::nullopt;
    last_line_ = impl_->next_line();
    if (const auto& open = impl_->open_quote()) {
      // Its row was returned as read; this stands for the lines its value took, if any (at the
      // first of them), each a row the file may have meant.
      stats_.rows_read += open->swallowed;
      stats_.row_errors += open->swallowed;
      return RowError{path_, open->swallowed > 0 ? open->line + 1 : open->line, *impl_->fatal(),
                      open->swallowed};
    }
    ++stats_.rows_read;
    ++stats_.row_errors;
    if (impl_->at_end()) return RowError{path_, last_line_, *impl_->fatal()};
    // Nothing after this is read: say so, or the rows it leaves out would go unnoticed.
    return RowError{path_, last_line_,
                    *impl_->fatal() + "; the rest of the file, from line " +
                        std::to_string(last_line_) + " on, is not read"};
  }
  ++stats_.rows_read;
  last_line_ = raw->line;
  CsvRow row = impl_->Convert(*raw);
  if (const auto* events = std::get_if<std::vector<DossierEvent>>(&row)) {
    for (const DossierEvent& e : *events) {
      if (e.type == EventType::kReceived) ++stats_.received_events;
      if (e.type == EventType::kCompleted) ++stats_.completed_events;
      if (e.type == EventType::kRejected) ++stats_.rejected_events;
    }
    if (impl_->channel_unmapped()) ++stats_.unmapped_channel_values;
  } else {
    ++stats_.row_errors;
  }
  return row;
}

}  // namespace iocstream::ingest
