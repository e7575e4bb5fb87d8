#include "app/simulator.h"

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <string_view>
#include <tuple>
#include <utility>

#include "app/input_file.h"
#include "iocstream/core/prefetch.h"

namespace iocstream::app {
namespace {

using rules::BusinessCalendar;
using rules::DurationUnit;
using rules::LegalDuration;
using rules::PausePolicy;
using rules::ProcedureRule;

constexpr int64_t kMinute = 60 * 1000;
constexpr int64_t kHour = 60 * kMinute;
constexpr int64_t kNoInstant = std::numeric_limits<int64_t>::min();
constexpr size_t kMaxCodeBytes = 64;

// Assumptions without a source (docs/simulator.md, "Assumptions").
constexpr double kElectronicResultOnline = 0.70;   // Decision 766 indicator 4.1 is weak
constexpr double kElectronicResultOffline = 0.20;  // (domain.md §2.3): most results are paper
constexpr double kAutoAcceptFullOnline = 0.30;     // toàn trình: accepted by the portal at once
constexpr double kFullOnlineLevel = 0.55;          // online services that are toàn trình
constexpr double kPromiseKept = 0.80;              // Form 04 new date met

// ---------------------------------------------------------------------------------------------
// Randomness: our own generator and distributions, so a seed means the same stream everywhere
// (std:: distributions are implementation-defined).

// SplitMix64's finaliser: a bijection on 64-bit values with good avalanche.
constexpr uint64_t Mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// The seed of an independent stream: (run seed, kind of stream, index).
constexpr uint64_t StreamSeed(uint64_t seed, uint64_t kind, uint64_t index) {
  return Mix64(Mix64(seed ^ (kind << 56)) ^ Mix64(index));
}
constexpr uint64_t kDayStream = 1;
constexpr uint64_t kDossierStream = 2;

// xoshiro256** (Blackman and Vigna, 2018).
class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (auto& word : s_) {
      seed = Mix64(seed);
      word = seed;
    }
  }
  uint64_t Next() {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, 1), 53 bits.
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  double Uniform(double low, double high) { return low + (high - low) * Uniform(); }
  bool Bernoulli(double p) { return Uniform() < p; }
  double Exponential(double mean) { return -mean * std::log1p(-Uniform()); }
  // Uniform integer in [0, n), n > 0.
  uint64_t Below(uint64_t n) {
    return std::min(n - 1, static_cast<uint64_t>(Uniform() * static_cast<double>(n)));
  }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

// Walker/Vose alias table: O(1) sampling from a fixed discrete distribution.
class AliasTable {
 public:
  AliasTable() = default;
  // `weights` non-negative with a positive sum.
  explicit AliasTable(const std::vector<double>& weights) {
    const size_t n = weights.size();
    prob_.assign(n, 0.0);
    alias_.assign(n, 0);
    double sum = 0;
    for (const double w : weights) sum += w;
    std::vector<double> scaled(n);
    std::vector<uint32_t> small;
    std::vector<uint32_t> large;
    for (size_t i = 0; i < n; ++i) {
      scaled[i] = weights[i] * static_cast<double>(n) / sum;
      (scaled[i] < 1.0 ? small : large).push_back(static_cast<uint32_t>(i));
    }
    while (!small.empty() && !large.empty()) {
      const uint32_t s = small.back();
      small.pop_back();
      const uint32_t l = large.back();
      prob_[s] = scaled[s];
      alias_[s] = l;
      scaled[l] = (scaled[l] + scaled[s]) - 1.0;
      if (scaled[l] < 1.0) {
        large.pop_back();
        small.push_back(l);
      }
    }
    for (const uint32_t i : large) prob_[i] = 1.0;
    for (const uint32_t i : small) prob_[i] = 1.0;  // rounding leftovers
  }
  [[nodiscard]] bool empty() const { return prob_.empty(); }
  uint32_t Sample(Rng& rng) const {
    const auto i = static_cast<uint32_t>(rng.Below(prob_.size()));
    return rng.Uniform() < prob_[i] ? i : alias_[i];
  }

 private:
  std::vector<double> prob_;
  std::vector<uint32_t> alias_;
};

// ---------------------------------------------------------------------------------------------
// CSV files (RFC 4180 quoting, one record per line, UTF-8).

// Splits one CSV line into `fields`; false on an unterminated quote.
bool SplitCsvLine(std::string_view line, std::vector<std::string>& fields) {
  fields.clear();
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  std::string field;
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < line.size() && line[i + 1] == '"') {
          field.push_back('"');
          ++i;
        } else {
          quoted = false;
        }
      } else {
        field.push_back(c);
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.push_back(std::move(field));
      field.clear();
    } else {
      field.push_back(c);
    }
  }
  fields.push_back(std::move(field));
  return !quoted;
}

// A CSV file read as header + rows, with errors that name "FILE:LINE".
class CsvTable {
 public:
  static Result<CsvTable> Read(const std::string& path, const std::vector<std::string>& columns) {
    if (Status s = CheckInputFile(path, "simulator table"); !s) return s.error();
    errno = 0;
    std::ifstream in(path);
    if (!in) {
      // A missing table is bad input (exit 1), as a missing replay file is; others, I/O.
      const int error = errno;
      std::string message = "cannot read " + path + ": " + std::strerror(error);
      if (error == ENOENT) return Error{ErrorCode::kNotFound, std::move(message)};
      return IoError(std::move(message));
    }
    CsvTable t;
    t.path_ = path;
    std::string line;
    std::vector<std::string> fields;
    if (!std::getline(in, line) || !SplitCsvLine(line, fields)) {
      return InvalidArgument(path + ":1: no header line");
    }
    for (const auto& column : columns) {
      const auto it = std::find(fields.begin(), fields.end(), column);
      if (it == fields.end()) return InvalidArgument(path + ":1: no column '" + column + "'");
      t.index_.push_back(static_cast<size_t>(it - fields.begin()));
    }
    size_t line_no = 1;
    while (std::getline(in, line)) {
      ++line_no;
      if (line.empty() || line == "\r") continue;
      if (!SplitCsvLine(line, fields)) return t.Err(line_no, "unterminated quote");
      if (fields.size() < t.index_.size() ||
          *std::max_element(t.index_.begin(), t.index_.end()) >= fields.size()) {
        return t.Err(line_no, "too few fields");
      }
      std::vector<std::string> row;
      row.reserve(t.index_.size());
      for (const size_t i : t.index_) row.push_back(std::move(fields[i]));
      t.rows_.push_back(std::move(row));
      t.lines_.push_back(line_no);
    }
    return t;
  }

  [[nodiscard]] size_t size() const { return rows_.size(); }
  // Field `column` (position in the `columns` given to Read) of row `row`.
  [[nodiscard]] const std::string& at(size_t row, size_t column) const {
    return rows_[row][column];
  }
  [[nodiscard]] Error Err(size_t line_no, const std::string& why) const {
    return InvalidArgument(path_ + ":" + std::to_string(line_no) + ": " + why);
  }
  [[nodiscard]] Error RowErr(size_t row, const std::string& why) const {
    return Err(lines_[row], why);
  }

 private:
  std::string path_;
  std::vector<size_t> index_;
  std::vector<std::vector<std::string>> rows_;
  std::vector<size_t> lines_;
};

template <typename T>
bool ParseNumber(std::string_view text, T& out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

bool IsAsciiCode(std::string_view code) {
  return std::all_of(code.begin(), code.end(),
                     [](char c) { return c > 0x20 && c < 0x7f && c != '"' && c != '\\'; });
}

// ---------------------------------------------------------------------------------------------
// Durations and deadlines.

// A legal duration in working days, for weighting procedures (not for deadlines, which the
// calendar computes): a calendar week has 5 working days, a month about 21.7.
double NominalWorkingDays(const LegalDuration& d) {
  switch (d.unit) {
    case DurationUnit::kWorkingHours:
      return d.amount / 8.0;
    case DurationUnit::kWorkingDays:
      return d.amount;
    case DurationUnit::kCalendarDays:
      return std::ceil(d.amount) * 5.0 / 7.0;
    case DurationUnit::kMonths:
      return std::ceil(d.amount) * 21.7;
  }
  return d.amount;
}

// On-time dossiers use a share u = 0.02 + 0.96 U² of their working-time budget (mean 0.34:
// most finish well before the deadline, "trước hạn"); late ones overrun it by
// L × Exp(0.25) + Exp(2 h) + 1 min. Used both to draw times and to calibrate procedure mixes.
constexpr double kMeanOnTimeShare = 0.02 + 0.96 / 3.0;
constexpr double kMeanLateOverrun = 0.25;

// Weights exp(-d / tau) over durations `days`, with tau chosen so that the weighted mean is
// `target` (bisection on log tau): an exponential tilt toward short procedures. A target at
// or above the plain mean gives equal weights.
std::vector<double> TiltedWeights(const std::vector<double>& days, double target) {
  const double low = *std::min_element(days.begin(), days.end());
  double mean = 0;
  for (const double d : days) mean += d;
  mean /= static_cast<double>(days.size());
  std::vector<double> w(days.size(), 1.0);
  if (!(target < mean) || mean - low < 1e-9) return w;
  auto fill = [&](double tau) {
    double sum = 0;
    double weighted = 0;
    for (size_t i = 0; i < days.size(); ++i) {
      w[i] = std::exp(-(days[i] - low) / tau);
      sum += w[i];
      weighted += w[i] * days[i];
    }
    return weighted / sum;
  };
  double lo = std::log(1e-2);
  double hi = std::log(1e4);
  for (int i = 0; i < 50; ++i) {
    const double mid = 0.5 * (lo + hi);
    (fill(std::exp(mid)) < target ? lo : hi) = mid;
  }
  fill(std::exp(0.5 * (lo + hi)));
  return w;
}

// ---------------------------------------------------------------------------------------------
// Event ids: a UUID-shaped string (RFC 9562 version 8, "custom") that is a bijective function
// of (dossier number, sequence) for a given seed, so ids never collide within a run.
void WriteEventId(uint64_t seed, uint64_t dossier_number, uint32_t sequence, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  const uint64_t key = (dossier_number << 8) | (sequence & 0xff);
  const uint64_t a = Mix64(key ^ Mix64(seed));  // bijective in key: carries the identity
  const uint64_t b = Mix64(a ^ 0x5851f42d4c957f2dULL);
  out.resize(36);
  char* p = out.data();
  int a_bits = 64;
  auto next_a = [&]() {
    a_bits -= 4;
    return kHex[(a >> a_bits) & 0xf];
  };
  int b_bits = 64;
  auto next_b = [&]() {
    b_bits -= 4;
    return kHex[(b >> b_bits) & 0xf];
  };
  for (int i = 0; i < 8; ++i) *p++ = next_a();
  *p++ = '-';
  for (int i = 0; i < 4; ++i) *p++ = next_a();
  *p++ = '-';
  *p++ = '8';  // version 8
  for (int i = 0; i < 3; ++i) *p++ = next_a();
  *p++ = '-';
  *p++ = kHex[8 | ((b >> 62) & 0x3)];  // variant 10xx
  *p++ = next_a();                     // the last 4 bits of a
  for (int i = 0; i < 2; ++i) *p++ = next_b();
  *p++ = '-';
  for (int i = 0; i < 12; ++i) *p++ = next_b();
}

void AppendPadded(std::string& out, uint64_t value, int width) {
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  for (int pad = width - static_cast<int>(end - digits); pad > 0; --pad) out.push_back('0');
  out.append(digits, end);
}

// What a future event needs besides its dossier.
struct PendingEvent {
  int64_t emit_ms;      // output order
  uint64_t order;       // tie-break: order of generation
  int64_t occurred_ms;  // event time
  int64_t aux_ms;       // due_at / step_due_at / new_due_at, or kNoInstant
  uint16_t holder;      // unit that publishes it (agency_code)
  uint16_t to_unit;     // kTransferred: receiving unit
  EventType type;
  uint8_t sequence;  // position in the dossier's events (event id)
  uint8_t flags;
};
constexpr uint8_t kDuplicate = 1;
constexpr uint8_t kOutOfOrder = 2;
constexpr uint8_t kElectronic = 4;
constexpr uint8_t kLate = 8;  // a completion after the deadline iocstream computes

// A monotone priority queue of (key, slot) pairs, smallest key first (ties: smaller slot), for
// keys that never go below the last key popped — the simulator emits in order, and a
// dossier's next event is never before its previous one. A timing wheel of one-minute buckets
// over about 45 days, each made a binary heap when it becomes current, plus a heap for keys
// beyond the wheel: O(1) pushes to later minutes and O(log n) within the current one, where a
// binary heap over all the open dossiers spent most of its time on cache misses. (The current
// minute's bucket was kept sorted, with pushes inserted in place: a million dossiers submitted
// on one day made it thousands long, and the inserts' moves took 70% of the time.) Pops come
// in the same order either way: (key, slot) is unique, a slot having one entry at a time.
class EmitQueue {
 public:
  struct Entry {
    int64_t key;
    uint32_t slot;
    const PendingEvent* event;  // the slot's next event, so it can be prefetched
  };

  EmitQueue() : buckets_(kBuckets) {}

  [[nodiscard]] bool empty() const { return size_ == 0; }

  void Push(int64_t key, uint32_t slot, const PendingEvent* event) {
    ++size_;
    const Entry e{key, slot, event};
    const int64_t minute = MinuteOf(key);
    if (!started_) {
      started_ = true;
      current_ = minute;
    }
    if (minute >= current_ + kBuckets) {
      overflow_.push_back(e);
      std::push_heap(overflow_.begin(), overflow_.end(), Later);
      return;
    }
    std::vector<Entry>& bucket = buckets_[Index(std::max(minute, current_))];
    bucket.push_back(e);
    // The bucket being drained is a heap (earliest at its front).
    if (minute <= current_ && heaped_) std::push_heap(bucket.begin(), bucket.end(), Later);
    ++in_wheel_;
  }

  // The smallest entry; the queue must not be empty.
  const Entry& Top() {
    while (true) {
      std::vector<Entry>& bucket = buckets_[Index(current_)];
      if (!bucket.empty()) {
        if (!heaped_) {
          std::make_heap(bucket.begin(), bucket.end(), Later);
          heaped_ = true;
        }
        return bucket.front();
      }
      // Move on: to the next minute, or straight to the overflow's first key if the wheel is
      // empty; then pull the overflow entries that now fall within the wheel. A drained bucket
      // gives its memory back, so the wheel holds about the live entries, not every minute's
      // peak.
      if (bucket.capacity() > 16) std::vector<Entry>().swap(bucket);
      current_ = in_wheel_ == 0 ? MinuteOf(overflow_.front().key) : current_ + 1;
      heaped_ = false;
      while (!overflow_.empty() && MinuteOf(overflow_.front().key) < current_ + kBuckets) {
        const Entry e = overflow_.front();
        std::pop_heap(overflow_.begin(), overflow_.end(), Later);
        overflow_.pop_back();
        buckets_[Index(MinuteOf(e.key))].push_back(e);
        ++in_wheel_;
      }
    }
  }

  void Pop() {
    Top();
    std::vector<Entry>& bucket = buckets_[Index(current_)];
    std::pop_heap(bucket.begin(), bucket.end(), Later);
    bucket.pop_back();
    --in_wheel_;
    --size_;
  }

 private:
  static constexpr int64_t kBuckets = int64_t{1} << 16;
  static constexpr int64_t kBucketMs = 60 * 1000;

  static int64_t MinuteOf(int64_t key) {
    return key >= 0 ? key / kBucketMs : -((-key + kBucketMs - 1) / kBucketMs);
  }
  static size_t Index(int64_t minute) { return static_cast<size_t>(minute & (kBuckets - 1)); }
  static bool Later(const Entry& a, const Entry& b) {
    return std::tie(a.key, a.slot) > std::tie(b.key, b.slot);
  }

  std::vector<std::vector<Entry>> buckets_;
  std::vector<Entry> overflow_;  // heap, earliest first (std::push_heap with Later)
  int64_t current_ = 0;          // minute of the bucket being drained
  bool started_ = false;
  bool heaped_ = false;  // whether the current bucket is a heap
  size_t size_ = 0;
  size_t in_wheel_ = 0;
};

}  // namespace

double SimulatorUnit::LateShare() const {
  const int64_t finished = on_time + overdue;
  return finished > 0 ? static_cast<double>(overdue) / static_cast<double>(finished) : 0.0;
}

Result<std::vector<SimulatorUnit>> LoadSimulatorUnits(const std::string& path) {
  enum Column {
    kUnitCode,
    kAgency,
    kCommune,
    kLevel,
    kMinistry,
    kReceived,
    kOnTime,
    kOverdue,
    kAvgDays,
    kName
  };
  auto table =
      CsvTable::Read(path, {"unit_code", "agency_code", "commune_code", "level", "ministry",
                            "received", "on_time", "overdue", "avg_processing_days", "name"});
  if (!table) return table.error();
  std::vector<SimulatorUnit> units;
  std::set<std::string> agencies;
  int64_t total = 0;
  for (size_t r = 0; r < table->size(); ++r) {
    SimulatorUnit u;
    u.unit_code = table->at(r, kUnitCode);
    u.agency_code = table->at(r, kAgency);
    u.commune_code = table->at(r, kCommune);
    u.ministry = table->at(r, kMinistry);
    u.name = table->at(r, kName);
    const std::string& level = table->at(r, kLevel);
    if (level != "province" && level != "commune") {
      return table->RowErr(r, "level: expected province or commune, got '" + level + "'");
    }
    u.commune_level = level == "commune";
    if (u.unit_code.empty() || u.unit_code.size() > 32 || !IsAsciiCode(u.unit_code)) {
      return table->RowErr(r, "unit_code: expected 1-32 printable ASCII characters");
    }
    for (const auto* code : {&u.agency_code, &u.commune_code}) {
      if (code->size() > kMaxCodeBytes || !IsAsciiCode(*code)) {
        return table->RowErr(r, "'" + *code + "': codes are at most 64 printable ASCII bytes");
      }
    }
    if (u.agency_code.empty()) return table->RowErr(r, "agency_code: empty");
    if (!agencies.insert(u.agency_code).second) {
      return table->RowErr(r, "agency_code '" + u.agency_code + "' is not unique");
    }
    if (!ParseNumber(table->at(r, kReceived), u.received) ||
        !ParseNumber(table->at(r, kOnTime), u.on_time) ||
        !ParseNumber(table->at(r, kOverdue), u.overdue) ||
        !ParseNumber(table->at(r, kAvgDays), u.avg_processing_days) || u.received < 0 ||
        u.on_time < 0 || u.overdue < 0 || !(u.avg_processing_days >= 0)) {
      return table->RowErr(r,
                           "received, on_time, overdue, avg_processing_days: expected "
                           "non-negative numbers");
    }
    if (u.on_time + u.overdue != u.received) {
      return table->RowErr(r, "on_time + overdue != received");
    }
    total += u.received;
    units.push_back(std::move(u));
  }
  if (total == 0) return InvalidArgument(path + ": no unit received any dossier");
  return units;
}

Result<std::vector<ProcedurePoolEntry>> LoadProcedurePools(const std::string& path) {
  auto table = CsvTable::Read(path, {"code", "level", "ministry"});
  if (!table) return table.error();
  std::vector<ProcedurePoolEntry> pools;
  for (size_t r = 0; r < table->size(); ++r) {
    ProcedurePoolEntry e;
    e.code = table->at(r, 0);
    const std::string& level = table->at(r, 1);
    if (level != "province" && level != "commune") {
      return table->RowErr(r, "level: expected province or commune, got '" + level + "'");
    }
    if (rules::NormaliseProcedureCode(e.code) != e.code) {
      return table->RowErr(r, "code: '" + e.code + "' is not a base procedure code");
    }
    e.commune_level = level == "commune";
    e.ministry = table->at(r, 2);
    pools.push_back(std::move(e));
  }
  return pools;
}

// ---------------------------------------------------------------------------------------------

class ProvinceSimulator::Impl {
 public:
  Impl(SimulatorInputs inputs, SimulatorOptions options)
      : in_(std::move(inputs)), opt_(std::move(options)), cal_(*in_.calendar) {}

  Status Init();
  bool Next(SimulatedEvent& out);
  const SimulatorStats& stats() const { return stats_; }

 private:
  // Procedure mixes of one unit, as indexes into the catalog's rules.
  struct UnitPlan {
    std::vector<uint32_t> online_rules;  // procedures with an online legal time
    AliasTable online;
    std::vector<uint32_t> offline_rules;  // procedures with an in-person legal time
    AliasTable offline;
  };

  // A dossier's first event, before the dossier is drawn.
  struct Head {
    int64_t first_ms;
    uint32_t index;  // order of generation within the day (ties)
    Channel channel;
  };

  // The order of a dossier's events: emission time, then generation. The queue holds one entry
  // per open dossier, its next event; ties between dossiers go to the smaller slot.
  static bool EmitsBefore(const PendingEvent& a, const PendingEvent& b) {
    return std::tie(a.emit_ms, a.order) < std::tie(b.emit_ms, b.order);
  }

  // An open dossier: its attributes and its future events, last to emit first.
  struct DossierSlot {
    // The dossier id, inline: one cache line fewer to fetch per emitted event.
    std::array<char, 56> dossier_id;
    uint8_t dossier_id_size = 0;
    uint64_t number = 0;
    uint32_t rule = 0;
    uint16_t unit = 0;
    Channel channel = Channel::kUnknown;
    OnlineLevel online_level = OnlineLevel::kUnknown;
    bool localised = false;
    std::vector<PendingEvent> events;
  };

  // One event of the dossier being drawn.
  struct Draft {
    int64_t at_ms;
    EventType type;
    uint16_t to_unit = 0;
    int64_t aux_ms = kNoInstant;
    bool electronic = false;
    bool late = false;  // kCompleted: after the deadline
  };

  // A middle event of a dossier, at active time `active`.
  struct Step {
    int64_t active;
    Draft draft;
  };

  // A pause of the clock (supplement, or payment when payments pause): at active (working,
  // unpaused) time `active_ms` since receipt, lasting `wait_ms` of working time.
  struct Pause {
    int64_t active_ms;
    int64_t wait_ms;
    EventType start_type;
    EventType end_type;
    int64_t start_ms = 0;
    int64_t end_ms = 0;
  };

  void PrepareDay(int day);
  void GenerateDossier(const Head& head);
  void DrawProcessing(Rng& rng, const DossierSlot& slot, int64_t received_ms);
  template <typename ActiveToInstantFn>
  void DrawTransfers(Rng& rng, const DossierSlot& slot, int64_t finish_active, int64_t end_active,
                     int64_t due_active, const ActiveToInstantFn& at);
  void QueueDrafts(Rng& rng, uint32_t slot_index);
  int64_t ActiveToInstant(int64_t received_ms, const std::vector<Pause>& pauses,
                          int64_t active_ms) const;
  uint16_t TransferTarget(uint16_t origin, uint16_t avoid, uint32_t rule, Rng& rng) const;
  uint32_t AllocateSlot();
  // Starts fetching the next event to emit and its dossier, which are anywhere in memory,
  // so that the caller's encoding of this event hides the latency.
  void Prefetch() {
    if (queue_.empty()) return;
    const EmitQueue::Entry& next = queue_.Top();
    prefetch::Line(next.event);
    prefetch::Line(&slots_[next.slot]);
  }
  void Emit(SimulatedEvent& out);

  int64_t AddWorking(int64_t from_ms, int64_t working_ms) const {
    return ToEpochMillis(cal_.AddWorkingTime(FromEpochMillis(from_ms), Millis(working_ms)));
  }

  SimulatorInputs in_;
  SimulatorOptions opt_;
  const BusinessCalendar& cal_;
  SimulatorStats stats_;

  AliasTable unit_table_;
  AliasTable province_units_;  // province-level units by volume
  std::vector<uint16_t> province_unit_ids_;
  AliasTable commune_units_;
  std::vector<uint16_t> commune_unit_ids_;
  std::vector<UnitPlan> plans_;
  std::vector<OnlineLevel> rule_level_;       // catalog rule → its online-service level
  std::vector<int16_t> rule_ministry_;        // catalog rule → ministry index, -1 unknown
  std::vector<int32_t> ministry_department_;  // ministry index → province unit, -1 none
  std::vector<std::string> province_prefix_;  // per unit: "H44" of "H44.45"
  std::vector<Code> unit_agency_;             // per unit: its agency_code, interned once
  std::vector<Code> unit_commune_;            // per unit: its commune_code
  std::string procedure_text_;                // a localised procedure code being built
  int64_t day_work_ms_ = 0;
  std::vector<std::pair<int64_t, int64_t>> after_hours_;  // local ms-of-day windows
  int64_t after_hours_total_ = 0;

  // Days.
  std::chrono::local_days first_day_{};
  std::vector<double> day_weight_;
  double weight_total_ = 0;
  double weight_done_ = 0;
  uint64_t dossiers_done_ = 0;
  int next_day_ = 0;
  std::vector<Head> heads_;
  size_t head_pos_ = 0;
  std::string day_stamp_;                   // "yymmdd" of the current day
  std::vector<uint32_t> unit_day_counter_;  // dossier sequence per unit within the day

  // Dossiers and their future events.
  uint64_t next_number_ = 0;
  uint64_t next_order_ = 0;
  std::vector<DossierSlot> slots_;
  std::vector<uint32_t> free_slots_;
  EmitQueue queue_;
  size_t pending_events_ = 0;
  int64_t end_ms_ = 0;  // the stream's end: no event is emitted after it
  std::vector<Draft> drafts_;
  std::vector<Pause> pauses_;
  std::vector<Step> steps_;
  std::string id_buffer_;
};

Status ProvinceSimulator::Impl::Init() {
  if (in_.catalog->size() == 0) return InvalidArgument("simulator: the procedure catalog is empty");
  if (opt_.days < 1) return InvalidArgument("simulator: days must be at least 1");
  if (opt_.tail_days < 0) return InvalidArgument("simulator: tail_days must not be negative");
  if (in_.units.empty() || in_.units.size() > std::numeric_limits<uint16_t>::max()) {
    return InvalidArgument("simulator: expected 1 to 65535 units");
  }
  const std::pair<const char*, double> shares[] = {
      {"duplicates", opt_.duplicate_share},
      {"out-of-order", opt_.out_of_order_share},
      {"online", opt_.online_share},
      {"postal", opt_.postal_share},
      {"online + postal", opt_.online_share + opt_.postal_share},
      {"day-off volume", opt_.day_off_volume},
      {"online after hours", opt_.online_after_hours_share},
      {"refused", opt_.refused_share},
      {"withdrawn", opt_.withdrawn_share},
      {"rejected", opt_.rejected_share},
      {"withdrawn + rejected", opt_.withdrawn_share + opt_.rejected_share},
      {"supplement", opt_.supplement_share},
      {"transfer", opt_.transfer_share},
      {"payment", opt_.payment_share},
      {"apology", opt_.apology_share},
      {"due in event", opt_.due_in_event_share},
      {"localised code", opt_.localised_code_share},
      {"not collected", opt_.not_collected_share},
  };
  for (const auto& [name, share] : shares) {
    if (!(share >= 0.0 && share <= 1.0)) {
      return InvalidArgument(std::string("simulator: the ") + name + " share must be in [0, 1]");
    }
  }

  for (const SimulatorUnit& unit : in_.units) {
    if (unit.unit_code.empty() || unit.unit_code.size() > 32 || unit.agency_code.empty() ||
        unit.agency_code.size() > kMaxCodeBytes || unit.commune_code.size() > kMaxCodeBytes) {
      return InvalidArgument("simulator: unit '" + unit.unit_code +
                             "': unit code 1-32 bytes, agency code 1-64, commune code 0-64");
    }
  }

  // Units by volume.
  const size_t n_units = in_.units.size();
  std::vector<double> volume(n_units);
  std::vector<double> province_volume;
  std::vector<double> commune_volume;
  for (size_t u = 0; u < n_units; ++u) {
    const SimulatorUnit& unit = in_.units[u];
    volume[u] = static_cast<double>(std::max<int64_t>(unit.received, 0));
    if (volume[u] > 0) {
      (unit.commune_level ? commune_volume : province_volume).push_back(volume[u]);
      (unit.commune_level ? commune_unit_ids_ : province_unit_ids_)
          .push_back(static_cast<uint16_t>(u));
    }
    const auto dot = unit.unit_code.find('.');
    province_prefix_.push_back(dot == std::string::npos ? unit.unit_code
                                                        : unit.unit_code.substr(0, dot));
    unit_agency_.emplace_back(unit.agency_code);
    unit_commune_.emplace_back(unit.commune_code);
  }
  if (province_volume.empty() && commune_volume.empty()) {
    return InvalidArgument("simulator: no unit received any dossier");
  }
  unit_table_ = AliasTable(volume);
  if (!province_volume.empty()) province_units_ = AliasTable(province_volume);
  if (!commune_volume.empty()) commune_units_ = AliasTable(commune_volume);

  // Online-service level of each procedure (Decree 42/2022): none without an online legal
  // time, else full for a fixed share of procedures, chosen by a hash of the code.
  const auto& rules = in_.catalog->rules();
  for (const ProcedureRule& rule : rules) {
    uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a
    for (const char c : rule.code) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
    rule_level_.push_back(!rule.online ? OnlineLevel::kNone
                          : static_cast<double>(Mix64(h) >> 11) * 0x1.0p-53 < kFullOnlineLevel
                              ? OnlineLevel::kFull
                              : OnlineLevel::kPartial);
  }

  // Ministries of procedures, and the department that handles each ministry's procedures.
  rule_ministry_.assign(rules.size(), -1);
  std::map<std::string, int16_t> ministry_index;
  auto ministry_of = [&](const std::string& name) {
    const auto [it, inserted] =
        ministry_index.emplace(name, static_cast<int16_t>(ministry_index.size()));
    if (inserted) ministry_department_.push_back(-1);
    return it->second;
  };
  struct PoolRule {
    uint32_t rule;
    bool commune_level;
    int16_t ministry;
  };
  std::vector<PoolRule> pool;
  for (const auto& entry : in_.pools) {
    const ProcedureRule* rule = in_.catalog->Find(entry.code);
    if (rule == nullptr) continue;
    const auto index = static_cast<uint32_t>(rule - rules.data());
    const int16_t m = entry.ministry.empty() ? int16_t{-1} : ministry_of(entry.ministry);
    rule_ministry_[index] = m;
    pool.push_back({index, entry.commune_level, m});
  }
  for (size_t u = 0; u < n_units; ++u) {
    const SimulatorUnit& unit = in_.units[u];
    if (unit.commune_level || unit.ministry.empty() || volume[u] <= 0) continue;
    const int16_t m = ministry_of(unit.ministry);
    const int32_t current = ministry_department_[m];
    if (current < 0 || volume[static_cast<size_t>(current)] < volume[u]) {
      ministry_department_[m] = static_cast<int32_t>(u);
    }
  }

  // Procedure mix per unit: the unit's pool (its level, its ministry if it has one; falling
  // back to the whole level, then to the whole catalog), tilted toward short procedures so
  // that the mean processing time matches the unit's reported one.
  plans_.resize(n_units);
  for (size_t u = 0; u < n_units; ++u) {
    const SimulatorUnit& unit = in_.units[u];
    if (volume[u] <= 0) continue;
    const int16_t own_ministry = unit.ministry.empty() ? int16_t{-1} : ministry_of(unit.ministry);
    std::vector<uint32_t> candidates;
    for (const auto& p : pool) {
      if (p.commune_level == unit.commune_level &&
          (own_ministry < 0 || p.ministry == own_ministry)) {
        candidates.push_back(p.rule);
      }
    }
    if (candidates.empty()) {
      for (const auto& p : pool) {
        if (p.commune_level == unit.commune_level) candidates.push_back(p.rule);
      }
    }
    if (candidates.empty()) {
      for (uint32_t r = 0; r < rules.size(); ++r) candidates.push_back(r);
    }
    std::sort(candidates.begin(), candidates.end());
    candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());

    const double late = unit.LateShare();
    const double ratio = (1.0 - late) * kMeanOnTimeShare + late * (1.0 + kMeanLateOverrun);
    const double target = unit.avg_processing_days * 5.0 / 7.0 / ratio;
    UnitPlan& plan = plans_[u];
    std::vector<double> online_days;
    std::vector<double> offline_days;
    for (const uint32_t r : candidates) {
      if (rules[r].online) {
        plan.online_rules.push_back(r);
        online_days.push_back(NominalWorkingDays(*rules[r].online));
      }
      if (rules[r].in_person) {
        plan.offline_rules.push_back(r);
        offline_days.push_back(NominalWorkingDays(*rules[r].in_person));
      }
    }
    // A unit without procedures of one kind uses the other's (DurationFor falls back from
    // online to in person; an online-only procedure submitted in person is sent as online).
    if (plan.online_rules.empty()) {
      plan.online_rules = plan.offline_rules;
      online_days = offline_days;
    }
    if (plan.offline_rules.empty()) {
      plan.offline_rules = plan.online_rules;
      offline_days = online_days;
    }
    plan.online = AliasTable(TiltedWeights(online_days, target));
    plan.offline = AliasTable(TiltedWeights(offline_days, target));
  }

  // Working time of a day, and the after-hours windows of online submissions: 05:30-23:30
  // outside the working sessions.
  constexpr int64_t kEarliest = 5 * kHour + 30 * kMinute;
  constexpr int64_t kLatest = 23 * kHour + 30 * kMinute;
  std::vector<rules::WorkingSession> sessions = cal_.spec().sessions;
  std::sort(sessions.begin(), sessions.end(),
            [](const auto& a, const auto& b) { return a.start < b.start; });
  int64_t cursor = kEarliest;
  for (const auto& s : sessions) {
    const int64_t begin = Millis(s.start).count();
    const int64_t end = Millis(s.end).count();
    day_work_ms_ += end - begin;
    if (begin > cursor) after_hours_.emplace_back(cursor, std::min(begin, kLatest));
    cursor = std::max(cursor, end);
  }
  if (cursor < kLatest) after_hours_.emplace_back(cursor, kLatest);
  std::erase_if(after_hours_, [](const auto& w) { return w.second <= w.first; });
  for (const auto& [b, e] : after_hours_) after_hours_total_ += e - b;

  // Volume per local day.
  first_day_ = std::chrono::local_days(cal_.LocalDate(opt_.start));
  end_ms_ = ToEpochMillis(cal_.FromLocal(
      std::chrono::local_time<Millis>(first_day_ + std::chrono::days(opt_.days + opt_.tail_days))));
  for (int d = 0; d < opt_.days; ++d) {
    const std::chrono::year_month_day date(first_day_ + std::chrono::days(d));
    day_weight_.push_back(cal_.IsWorkingDay(date) ? 1.0 : opt_.day_off_volume);
    weight_total_ += day_weight_.back();
  }
  if (weight_total_ <= 0) {
    day_weight_.assign(day_weight_.size(), 1.0);
    weight_total_ = static_cast<double>(day_weight_.size());
  }
  unit_day_counter_.assign(n_units, 0);
  stats_.units.assign(n_units, SimulatorUnitTally{});
  return {};
}

void ProvinceSimulator::Impl::PrepareDay(int day) {
  // Cumulative rounding: the day counts add up to exactly opt_.dossiers.
  weight_done_ += day_weight_[static_cast<size_t>(day)];
  const auto until = day + 1 == opt_.days
                         ? opt_.dossiers
                         : static_cast<uint64_t>(std::llround(static_cast<double>(opt_.dossiers) *
                                                              weight_done_ / weight_total_));
  const uint64_t count = std::max(until, dossiers_done_) - dossiers_done_;
  dossiers_done_ += count;

  const std::chrono::local_days local_day = first_day_ + std::chrono::days(day);
  const std::chrono::year_month_day date(local_day);
  const bool working = cal_.IsWorkingDay(date);
  const int64_t midnight_ms =
      ToEpochMillis(cal_.FromLocal(std::chrono::local_time<Millis>(local_day)));
  Rng rng(StreamSeed(opt_.seed, kDayStream, static_cast<uint64_t>(day)));
  heads_.clear();
  head_pos_ = 0;
  heads_.reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    Head h{0, static_cast<uint32_t>(i), Channel::kOnline};
    if (working) {
      const double c = rng.Uniform();
      h.channel = c < opt_.online_share                       ? Channel::kOnline
                  : c < opt_.online_share + opt_.postal_share ? Channel::kPostal
                                                              : Channel::kInPerson;
    }
    if (!working) {
      // Days off: online submissions spread over 07:00-23:00.
      h.first_ms = ToEpochMillis(cal_.FromLocal(std::chrono::local_time<Millis>(
          local_day + Millis(static_cast<int64_t>(rng.Uniform(7.0, 23.0) * kHour)))));
    } else if (h.channel == Channel::kOnline && after_hours_total_ > 0 &&
               rng.Bernoulli(opt_.online_after_hours_share)) {
      int64_t offset = static_cast<int64_t>(rng.Below(static_cast<uint64_t>(after_hours_total_)));
      int64_t tod = 0;
      for (const auto& [b, e] : after_hours_) {
        if (offset < e - b) {
          tod = b + offset;
          break;
        }
        offset -= e - b;
      }
      h.first_ms =
          ToEpochMillis(cal_.FromLocal(std::chrono::local_time<Millis>(local_day + Millis(tod))));
    } else {
      // Office hours, busier in the morning: working offset ∝ U^1.25.
      const double x = std::pow(rng.Uniform(), 1.25);
      h.first_ms = AddWorking(midnight_ms,
                              1 + static_cast<int64_t>(x * static_cast<double>(day_work_ms_ - 2)));
    }
    heads_.push_back(h);
  }
  std::sort(heads_.begin(), heads_.end(), [](const Head& a, const Head& b) {
    return std::tie(a.first_ms, a.index) < std::tie(b.first_ms, b.index);
  });
  std::fill(unit_day_counter_.begin(), unit_day_counter_.end(), 0);
  const auto yy = static_cast<int>(date.year()) % 100;
  day_stamp_.clear();
  AppendPadded(day_stamp_, static_cast<uint64_t>(yy), 2);
  AppendPadded(day_stamp_, static_cast<unsigned>(date.month()), 2);
  AppendPadded(day_stamp_, static_cast<unsigned>(date.day()), 2);
}

int64_t ProvinceSimulator::Impl::ActiveToInstant(int64_t received_ms,
                                                 const std::vector<Pause>& pauses,
                                                 int64_t active_ms) const {
  int64_t base_ms = received_ms;
  int64_t base_active = 0;
  for (const Pause& p : pauses) {
    if (p.active_ms >= active_ms) break;
    base_ms = p.end_ms;
    base_active = p.active_ms;
  }
  return AddWorking(base_ms, active_ms - base_active);
}

uint16_t ProvinceSimulator::Impl::TransferTarget(uint16_t origin, uint16_t avoid, uint32_t rule,
                                                 Rng& rng) const {
  const bool from_commune = in_.units[origin].commune_level;
  // A commune sends a dossier to the department of the procedure's ministry (e.g. land
  // procedures to agriculture and environment); a department asks a commune to verify, or
  // another department to give its opinion.
  if (from_commune) {
    const int16_t m = rule_ministry_[rule];
    if (m >= 0 && ministry_department_[m] >= 0 && ministry_department_[m] != avoid) {
      return static_cast<uint16_t>(ministry_department_[m]);
    }
  }
  bool to_commune = from_commune ? false : rng.Bernoulli(0.5);
  if (commune_unit_ids_.empty()) to_commune = false;
  if (province_unit_ids_.empty()) to_commune = true;
  for (int attempt = 0; attempt < 8; ++attempt) {
    const uint16_t target = to_commune ? commune_unit_ids_[commune_units_.Sample(rng)]
                                       : province_unit_ids_[province_units_.Sample(rng)];
    if (target != origin && target != avoid) return target;
  }
  // Tiny provinces: any other unit with dossiers, else the origin itself.
  for (const auto* ids : {&province_unit_ids_, &commune_unit_ids_}) {
    for (const uint16_t u : *ids) {
      if (u != origin && u != avoid) return u;
    }
  }
  return origin;
}

uint32_t ProvinceSimulator::Impl::AllocateSlot() {
  if (!free_slots_.empty()) {
    const uint32_t s = free_slots_.back();
    free_slots_.pop_back();
    return s;
  }
  slots_.emplace_back();
  return static_cast<uint32_t>(slots_.size() - 1);
}

void ProvinceSimulator::Impl::GenerateDossier(const Head& head) {
  const uint64_t number = next_number_++;
  Rng rng(StreamSeed(opt_.seed, kDossierStream, number));
  const auto unit = static_cast<uint16_t>(unit_table_.Sample(rng));
  const UnitPlan& plan = plans_[unit];
  Channel channel = head.channel;
  const uint32_t rule_index = channel == Channel::kOnline
                                  ? plan.online_rules[plan.online.Sample(rng)]
                                  : plan.offline_rules[plan.offline.Sample(rng)];
  if (channel != Channel::kOnline && !in_.catalog->rules()[rule_index].in_person) {
    channel = Channel::kOnline;  // an online-only procedure in a unit without in-person ones
  }

  const uint32_t slot_index = AllocateSlot();
  DossierSlot& slot = slots_[slot_index];
  slot.number = number;
  slot.rule = rule_index;
  slot.unit = unit;
  slot.channel = channel;
  slot.online_level = rule_level_[rule_index];
  slot.localised = rng.Bernoulli(opt_.localised_code_share);
  // {unit code}-{yyMMdd}-{NNNN}: the production form of MaHoSo (domain.md §3).
  std::string& id = id_buffer_;
  id.assign(in_.units[unit].unit_code);
  id.push_back('-');
  id += day_stamp_;
  id.push_back('-');
  AppendPadded(id, ++unit_day_counter_[unit], 4);
  slot.dossier_id_size = static_cast<uint8_t>(std::min(id.size(), slot.dossier_id.size()));
  std::copy_n(id.data(), slot.dossier_id_size, slot.dossier_id.data());
  ++stats_.units[unit].dossiers;
  ++stats_.dossiers;

  // Intake: online submissions are accepted (or refused) later, by the portal at once for
  // some full-online services; the other channels are received at the counter.
  drafts_.clear();
  int64_t received_ms = head.first_ms;
  if (channel == Channel::kOnline) {
    drafts_.push_back({head.first_ms, EventType::kSubmitted});
    if (rng.Bernoulli(opt_.refused_share)) {
      drafts_.push_back({AddWorking(head.first_ms,
                                    5 * kMinute + static_cast<int64_t>(rng.Exponential(4 * kHour))),
                         EventType::kRefused});
      QueueDrafts(rng, slot_index);
      return;
    }
    received_ms = slot.online_level == OnlineLevel::kFull && rng.Bernoulli(kAutoAcceptFullOnline)
                      ? head.first_ms + static_cast<int64_t>(rng.Uniform(1, 5) * kMinute)
                      : AddWorking(head.first_ms,
                                   5 * kMinute + static_cast<int64_t>(rng.Exponential(3 * kHour)));
  }
  DrawProcessing(rng, slot, received_ms);
  QueueDrafts(rng, slot_index);
}

// The processing of a received dossier, in "active time": working time since receipt with the
// clock's pauses cut out. Outcome first (the unit's late share), then the completion's active
// time against the deadline's, then the other events at positions before the end; active
// times become instants on the business calendar (ActiveToInstant), pauses inserted.
void ProvinceSimulator::Impl::DrawProcessing(Rng& rng, const DossierSlot& slot,
                                             int64_t received_ms) {
  const ProcedureRule& rule = in_.catalog->rules()[slot.rule];
  const std::optional<LegalDuration> duration = rule.DurationFor(slot.channel);
  const int64_t due_ms =
      ToEpochMillis(cal_.DueAt(FromEpochMillis(received_ms), duration.value_or(LegalDuration{})));
  const int64_t budget_ms =
      cal_.WorkingTimeBetween(FromEpochMillis(received_ms), FromEpochMillis(due_ms)).count();
  Draft received{received_ms, EventType::kReceived};
  if (rng.Bernoulli(opt_.due_in_event_share)) received.aux_ms = due_ms;
  drafts_.push_back(received);

  // How it ends, and whether late.
  const double end_draw = rng.Uniform();
  const EventType end_type = end_draw < opt_.withdrawn_share ? EventType::kWithdrawn
                             : end_draw < opt_.withdrawn_share + opt_.rejected_share
                                 ? EventType::kRejected
                                 : EventType::kCompleted;
  const bool late =
      end_type == EventType::kCompleted && rng.Bernoulli(in_.units[slot.unit].LateShare());
  const double on_time_share = 0.02 + 0.96 * std::pow(rng.Uniform(), 2.0);
  const int64_t overrun_ms =
      static_cast<int64_t>(static_cast<double>(budget_ms) * rng.Exponential(kMeanLateOverrun) +
                           rng.Exponential(2.0 * kHour)) +
      kMinute;

  // Pauses of the clock. Under the restart policy the deadline is the full budget again from
  // the supplement's end (domain.md §1.3: only a completed supplement restarts it); a payment
  // wait, and every pause under the other policies, shifts it by the pause, so in active time
  // it stays the budget (rules: ApplyPauseToDue). A payment wait pauses only when iocstream is
  // configured so; a dossier too short to pause gets neither a supplement nor a payment.
  const PausePolicy policy = rule.pause_policy.value_or(in_.default_pause_policy);
  const bool can_pause = budget_ms >= 10 * kMinute;
  const bool supplement = can_pause && rng.Bernoulli(opt_.supplement_share);
  const bool payment = (can_pause || !in_.payment_pauses) && rng.Bernoulli(opt_.payment_share);
  const bool payment_pause = payment && in_.payment_pauses;
  const double supplement_at = rng.Uniform(0.05, 0.5);
  const double payment_at = rng.Uniform(0.5, 0.9);
  const auto supplement_wait = static_cast<int64_t>(
      std::clamp(rng.Exponential(16.0 * kHour), 30.0 * kMinute, 160.0 * kHour));
  const auto payment_wait =
      static_cast<int64_t>(std::clamp(rng.Exponential(8.0 * kHour), 10.0 * kMinute, 80.0 * kHour));

  const bool restart = policy == PausePolicy::kRestart;
  // Pause positions scale the budget under restart, else the processing time.
  auto place_pauses = [&](int64_t span) {
    pauses_.clear();
    if (supplement) {
      pauses_.push_back({static_cast<int64_t>(supplement_at * span), supplement_wait,
                         EventType::kSupplementRequested, EventType::kSupplementReceived});
    }
    if (payment_pause) {
      pauses_.push_back({static_cast<int64_t>(payment_at * span), payment_wait,
                         EventType::kPaymentRequested, EventType::kPaymentReceived});
    }
    for (Pause& p : pauses_) {
      p.start_ms = ActiveToInstant(received_ms, pauses_, p.active_ms);
      p.end_ms = AddWorking(p.start_ms, p.wait_ms);
    }
  };
  int64_t last_pause_active = 0;
  int64_t due_budget = budget_ms;  // working time from the (last) start of the clock to the due
  if (restart) {
    place_pauses(budget_ms);
    if (supplement) {
      // The rules restart a catalog deadline in its own unit from the supplement's end (a
      // due the event carried: its working time), so calendar days and months may span a
      // different working time than the first period did. The supplement is the first pause
      // (place_pauses puts it first, and its position is in the first half of the budget).
      const Pause& restarted = pauses_.front();
      last_pause_active = restarted.active_ms;
      if (received.aux_ms == kNoInstant && duration) {
        const Instant restart_at = FromEpochMillis(restarted.end_ms);
        due_budget = cal_.WorkingTimeBetween(restart_at, cal_.DueAt(restart_at, *duration)).count();
      }
    }
  }
  const int64_t due_active = last_pause_active + due_budget;
  const int64_t finish_active =
      last_pause_active +
      (late ? due_budget + overrun_ms : static_cast<int64_t>(on_time_share * due_budget));
  if (!restart) place_pauses(finish_active);
  // Withdrawals and rejections cut the dossier short at some point of its processing.
  const int64_t end_active =
      end_type == EventType::kCompleted
          ? finish_active
          : static_cast<int64_t>(rng.Uniform(0.05, 0.9) * static_cast<double>(finish_active));
  auto at = [&](int64_t active) { return ActiveToInstant(received_ms, pauses_, active); };

  // Middle events, in order of active time (pause ends follow their starts).
  steps_.clear();
  for (const Pause& p : pauses_) {
    if (p.active_ms >= end_active) continue;
    steps_.push_back({p.active_ms, {p.start_ms, p.start_type}});
    steps_.push_back({p.active_ms, {p.end_ms, p.end_type}});
  }
  if (payment && !payment_pause) {
    const auto requested = static_cast<int64_t>(payment_at * static_cast<double>(finish_active));
    const auto paid =
        requested + static_cast<int64_t>(rng.Uniform(0.2, 0.9) *
                                         static_cast<double>(finish_active * 95 / 100 - requested));
    if (paid < end_active && requested < paid) {
      steps_.push_back({requested, {at(requested), EventType::kPaymentRequested}});
      steps_.push_back({paid, {at(paid), EventType::kPaymentReceived}});
    }
  }
  if (rng.Bernoulli(opt_.transfer_share)) {
    DrawTransfers(rng, slot, finish_active, end_active, due_active, at);
  }
  if (late && rng.Bernoulli(opt_.apology_share)) {
    // Form 04, shortly before the deadline, promising (usually) the actual completion day.
    const int64_t active =
        std::max<int64_t>(0, due_active - std::min<int64_t>(8 * kHour, due_active / 5));
    const int64_t promised_active =
        rng.Bernoulli(kPromiseKept) ? finish_active : due_active + (finish_active - due_active) / 2;
    Draft d{at(active), EventType::kRescheduled};
    d.aux_ms =
        ToEpochMillis(cal_.EndOfWorkingHours(cal_.LocalDate(FromEpochMillis(at(promised_active)))));
    steps_.push_back({active, d});
  }
  std::stable_sort(steps_.begin(), steps_.end(),
                   [](const Step& a, const Step& b) { return a.active < b.active; });
  for (const Step& s : steps_) drafts_.push_back(s.draft);

  const int64_t end_ms = at(end_active);
  if (end_type != EventType::kCompleted) {
    drafts_.push_back({end_ms, end_type});
    return;
  }
  Draft done{end_ms, EventType::kCompleted};
  const bool online = slot.channel == Channel::kOnline;
  done.electronic = rng.Bernoulli(online ? kElectronicResultOnline : kElectronicResultOffline);
  done.late = late;  // tallied when emitted: a completion after the stream's end is not
  drafts_.push_back(done);
  if (!rng.Bernoulli(opt_.not_collected_share)) {
    // An electronic result reaches an online applicant at once; paper waits for the counter.
    const int64_t returned_ms =
        done.electronic && online
            ? end_ms + static_cast<int64_t>(rng.Uniform(1, 120) * kMinute)
            : AddWorking(end_ms, 5 * kMinute + static_cast<int64_t>(rng.Exponential(6 * kHour)));
    drafts_.push_back({returned_ms, EventType::kResultReturned});
  }
}

// One to three transfers between agencies (liên thông): to the competent unit, sometimes on to
// a unit that gives its opinion, and back to the receiving unit that returns the result. Each
// carries the receiving unit's own deadline (step_due_at).
template <typename ActiveToInstantFn>
void ProvinceSimulator::Impl::DrawTransfers(Rng& rng, const DossierSlot& slot,
                                            int64_t finish_active, int64_t end_active,
                                            int64_t due_active, const ActiveToInstantFn& at) {
  const double route = rng.Uniform();
  const int transfers = route < 0.5 ? 1 : route < 0.85 ? 2 : 3;
  std::array<double, 3> positions{rng.Uniform(0.0, 0.15), rng.Uniform(0.25, 0.95),
                                  rng.Uniform(0.25, 0.95)};
  if (positions[2] < positions[1]) std::swap(positions[1], positions[2]);
  uint16_t from = slot.unit;
  for (int k = 0; k < transfers; ++k) {
    const auto active = static_cast<int64_t>(positions[static_cast<size_t>(k)] *
                                             static_cast<double>(finish_active));
    if (active >= end_active) break;
    const bool back = k == transfers - 1 && transfers > 1;
    const uint16_t to = back ? slot.unit : TransferTarget(slot.unit, from, slot.rule, rng);
    Draft d{at(active), EventType::kTransferred, to};
    // A share of the working time left to the dossier's deadline (half a day if none is left).
    const int64_t left = due_active - active;
    d.aux_ms = AddWorking(
        d.at_ms, left > 0 ? static_cast<int64_t>(rng.Uniform(0.5, 0.8) * static_cast<double>(left))
                          : 4 * kHour);
    steps_.push_back({active, d});
    from = to;
  }
}

// Queues the drafted events of a dossier: who publishes each (the unit holding the dossier at
// that time), and the delivery faults.
void ProvinceSimulator::Impl::QueueDrafts(Rng& rng, uint32_t slot_index) {
  std::stable_sort(drafts_.begin(), drafts_.end(),
                   [](const Draft& a, const Draft& b) { return a.at_ms < b.at_ms; });
  DossierSlot& slot = slots_[slot_index];
  uint16_t holder = slot.unit;
  const size_t n = drafts_.size();
  for (size_t i = 0; i < n; ++i) {
    const Draft& d = drafts_[i];
    PendingEvent p{d.at_ms,
                   next_order_++,
                   d.at_ms,
                   d.aux_ms,
                   holder,
                   d.to_unit,
                   d.type,
                   static_cast<uint8_t>(i),
                   static_cast<uint8_t>((d.electronic ? kElectronic : 0) | (d.late ? kLate : 0))};
    if (d.type == EventType::kTransferred) holder = d.to_unit;
    if (rng.Bernoulli(opt_.out_of_order_share)) {
      p.flags |= kOutOfOrder;
      if (i + 1 < n && rng.Bernoulli(0.5)) {
        p.emit_ms = drafts_[i + 1].at_ms + 1;  // after its successor: the pair is swapped
      } else {
        p.emit_ms += static_cast<int64_t>(rng.Uniform(1.0 / 60, 30) * kMinute);  // delayed
      }
    }
    slot.events.push_back(p);
    if (rng.Bernoulli(opt_.duplicate_share)) {
      // A redelivery: mostly a producer retry soon after, sometimes a replay hours later.
      PendingEvent copy = p;
      copy.order = next_order_++;
      copy.flags = static_cast<uint8_t>((p.flags & (kElectronic | kLate)) | kDuplicate);
      copy.emit_ms += rng.Bernoulli(0.8) ? static_cast<int64_t>(rng.Uniform(1.0 / 60, 5) * kMinute)
                                         : static_cast<int64_t>(rng.Uniform(5, 24 * 60) * kMinute);
      slot.events.push_back(copy);
    }
  }
  std::sort(slot.events.begin(), slot.events.end(),
            [](const PendingEvent& a, const PendingEvent& b) { return EmitsBefore(b, a); });
  assert(!slot.events.empty());  // every dossier has an intake event
  const PendingEvent& first = slot.events.back();
  queue_.Push(first.emit_ms, slot_index, &first);
  pending_events_ += slot.events.size();
  stats_.max_pending = std::max(stats_.max_pending, pending_events_);
}

void ProvinceSimulator::Impl::Emit(SimulatedEvent& out) {
  const uint32_t slot_index = queue_.Top().slot;
  queue_.Pop();
  DossierSlot& slot = slots_[slot_index];
  const PendingEvent p = slot.events.back();
  slot.events.pop_back();
  --pending_events_;
  if (slot.events.empty()) {
    free_slots_.push_back(slot_index);
  } else {
    const PendingEvent& next = slot.events.back();
    queue_.Push(next.emit_ms, slot_index, &next);
  }
  Prefetch();
  const ProcedureRule& rule = in_.catalog->rules()[slot.rule];
  DossierEvent& e = out.event;
  WriteEventId(opt_.seed, slot.number, p.sequence, e.event_id);
  e.dossier_id.assign(slot.dossier_id.data(), slot.dossier_id_size);
  e.type = p.type;
  e.occurred_at = FromEpochMillis(p.occurred_ms);
  e.agency_code = unit_agency_[p.holder];
  e.commune_code = unit_commune_[slot.unit];
  const bool intake = p.type == EventType::kSubmitted || p.type == EventType::kReceived;
  e.procedure_code = Code();
  e.channel = Channel::kUnknown;
  e.online_level = OnlineLevel::kUnknown;
  if (intake) {
    procedure_text_.assign(rule.code);
    if (slot.localised) {
      procedure_text_ += ".000.00.00.";
      procedure_text_ += province_prefix_[slot.unit];
    }
    e.procedure_code = Code(procedure_text_);
    e.channel = slot.channel;
    e.online_level = slot.online_level;
  }
  const bool has_aux = p.aux_ms != kNoInstant;
  e.due_at.reset();
  e.step_due_at.reset();
  e.new_due_at.reset();
  e.result_electronic.reset();
  e.to_agency_code = Code();
  switch (p.type) {
    case EventType::kReceived:
      if (has_aux) e.due_at = FromEpochMillis(p.aux_ms);
      break;
    case EventType::kTransferred:
      e.to_agency_code = unit_agency_[p.to_unit];
      if (has_aux) e.step_due_at = FromEpochMillis(p.aux_ms);
      break;
    case EventType::kRescheduled:
      e.new_due_at = FromEpochMillis(p.aux_ms);
      break;
    case EventType::kCompleted:
      e.result_electronic = (p.flags & kElectronic) != 0;
      break;
    default:
      break;
  }
  e.schema_version = 1;
  out.duplicate = (p.flags & kDuplicate) != 0;
  out.out_of_order = (p.flags & kOutOfOrder) != 0;

  ++stats_.events;
  ++stats_.events_by_type[static_cast<size_t>(p.type)];
  if (out.duplicate) ++stats_.duplicates;
  if (out.out_of_order) ++stats_.out_of_order;
  if (p.type == EventType::kCompleted && !out.duplicate) {
    SimulatorUnitTally& tally = stats_.units[slot.unit];
    ++tally.completed;
    if ((p.flags & kLate) != 0) ++tally.late;
  }
}

bool ProvinceSimulator::Impl::Next(SimulatedEvent& out) {
  while (true) {
    if (head_pos_ == heads_.size() && next_day_ < opt_.days) {
      PrepareDay(next_day_++);
      continue;
    }
    const bool more_heads = head_pos_ < heads_.size();
    if (!queue_.empty() && queue_.Top().key <= end_ms_ &&
        (!more_heads || queue_.Top().key <= heads_[head_pos_].first_ms)) {
      Emit(out);
      return true;
    }
    if (!more_heads) {
      // Every submission is generated and nothing else is due by the end: what the queue
      // still holds is after it.
      stats_.open_at_end = slots_.size() - free_slots_.size();
      stats_.events_after_end = pending_events_;
      return false;
    }
    GenerateDossier(heads_[head_pos_++]);
  }
}

Result<std::unique_ptr<ProvinceSimulator>> ProvinceSimulator::Create(SimulatorInputs inputs,
                                                                     SimulatorOptions options) {
  if (inputs.calendar == nullptr || inputs.catalog == nullptr) {
    return InvalidArgument("simulator: a calendar and a procedure catalog are required");
  }
  auto impl = std::make_unique<Impl>(std::move(inputs), std::move(options));
  if (Status s = impl->Init(); !s) return s.error();
  return std::unique_ptr<ProvinceSimulator>(new ProvinceSimulator(std::move(impl)));
}

ProvinceSimulator::ProvinceSimulator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ProvinceSimulator::~ProvinceSimulator() = default;

bool ProvinceSimulator::Next(SimulatedEvent& out) { return impl_->Next(out); }

const SimulatorStats& ProvinceSimulator::stats() const { return impl_->stats(); }

}  // namespace iocstream::app
