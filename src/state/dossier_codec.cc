#include "state/dossier_codec.h"

#include <algorithm>
#include <array>
#include <optional>
#include <utility>

#include "state/encoding.h"

namespace iocstream::state {
namespace {

using OptionalInstantField = OptionalInstant DossierState::*;

// The order of the presence bits; append only.
constexpr std::array<OptionalInstantField, 17> kOptionalInstants = {
    &DossierState::submitted_at,
    &DossierState::received_at,
    &DossierState::due_at,
    &DossierState::original_due_at,
    &DossierState::rescheduled_due_at,
    &DossierState::step_due_at,
    &DossierState::completed_at,
    &DossierState::returned_at,
    &DossierState::closed_at,
    &DossierState::paused_since,
    &DossierState::warning_at,
    &DossierState::timer_floor,
    nullptr,  // kUnmatchedResumeBit
    &DossierState::hours_left_warning_at,
    &DossierState::transferred_at,
    &DossierState::apology_at,
    &DossierState::timer_floor_since};
constexpr uint64_t kKnownPresenceBits = (uint64_t{1} << kOptionalInstants.size()) - 1;
// The bit of an end of pause seen before its start, which values written before version 3
// hold: read, and turned into a pause mark as it is read (DossierState keeps no field for it:
// 8 bytes less in every cached state); never written. No value of version 3 or later was
// written with it by the rules; one that holds it anyway (only a test fixture did) is read
// without it.
constexpr size_t kUnmatchedResumeBit = 12;
// What the encoder reads for kUnmatchedResumeBit.
constexpr OptionalInstant kNeverPresent;
static_assert(kOptionalInstants[kUnmatchedResumeBit] == nullptr);

using BoolField = bool DossierState::*;
constexpr std::array<BoolField, 5> kBoolFlags = {
    &DossierState::result_electronic, &DossierState::legacy_apology_issued,
    &DossierState::breach_fired, &DossierState::warning_fired, &DossierState::step_breach_fired};
constexpr uint64_t kCurrentUnitIsAgency = uint64_t{1} << kBoolFlags.size();
// Flags added after current_unit_is_agency, in bit order from the bit after it; append only.
constexpr std::array<BoolField, 3> kLaterBoolFlags = {&DossierState::hours_left_warning_fired,
                                                      &DossierState::overdue_by_supplements,
                                                      &DossierState::kpi766_finished_at_request};
constexpr size_t kFirstLaterFlagBit = kBoolFlags.size() + 1;
constexpr uint64_t kKnownFlagBits =
    (uint64_t{1} << (kFirstLaterFlagBit + kLaterBoolFlags.size())) - 1;

// Highest valid value of each enum: decoding rejects others, so that a corrupt byte never
// reaches ToString() as an out-of-range index.
constexpr uint8_t kMaxChannel = static_cast<uint8_t>(Channel::kPostal);
constexpr uint8_t kMaxOnlineLevel = static_cast<uint8_t>(OnlineLevel::kFull);
constexpr uint8_t kMaxStatus = static_cast<uint8_t>(DossierStatus::kUnknown);
constexpr uint8_t kMaxDueSource = static_cast<uint8_t>(DueSource::kCatalog);
constexpr uint8_t kMaxOutcome = static_cast<uint8_t>(Outcome::kNoReceipt);
// In a pause mark's byte: the mark is a start (else an end), and (version 4 on) a payment's or
// a legacy one's (neither: a supplement's).
constexpr uint8_t kStartMarkBit = 1;
constexpr uint8_t kPaymentMarkBit = 2;
constexpr uint8_t kLegacyMarkBit = 4;

uint8_t MarkByte(const PauseMark& mark) {
  uint8_t bits = mark.start ? kStartMarkBit : 0;
  if (mark.kind == PauseKind::kPayment) bits |= kPaymentMarkBit;
  if (mark.kind == PauseKind::kLegacy) bits |= kLegacyMarkBit;
  return bits;
}

// Deltas use wrapping arithmetic so that any pair of instants round-trips without overflow.
int64_t DeltaMillis(Instant t, Instant base) {
  return static_cast<int64_t>(static_cast<uint64_t>(ToEpochMillis(t)) -
                              static_cast<uint64_t>(ToEpochMillis(base)));
}
Instant AddDelta(Instant base, int64_t delta) {
  return FromEpochMillis(static_cast<int64_t>(static_cast<uint64_t>(ToEpochMillis(base)) +
                                              static_cast<uint64_t>(delta)));
}

Error Corrupt(std::string_view what, std::string_view dossier_id) {
  std::string message = "dossier value: ";
  message.append(what);
  if (!dossier_id.empty()) {
    message.append(" (dossier ");
    message.append(dossier_id);
    message.append(")");
  }
  return Error{ErrorCode::kCorruption, std::move(message)};
}

template <typename Enum>
std::optional<Enum> ReadEnum(ByteReader& reader, uint8_t max) {
  auto b = reader.ReadByte();
  if (!b || *b > max) return std::nullopt;
  return static_cast<Enum>(*b);
}

std::optional<int32_t> ReadSigned32(ByteReader& reader) {
  auto v = reader.ReadSignedVarint64();
  if (!v || *v < INT32_MIN || *v > INT32_MAX) return std::nullopt;
  return static_cast<int32_t>(*v);
}

}  // namespace

void EncodeDossier(const DossierState& s, std::string* out) {
  out->clear();
  AppendDossier(s, out);
}

void AppendDossier(const DossierState& s, std::string* out) {
  // The loops over the field tables, unrolled: each member pointer is then a constant and
  // each test a plain load (as loops they were a third of the encoding's instructions).
  auto for_each_instant = [&s]<size_t... I>(std::index_sequence<I...>, auto&& visit) {
    (visit(I, kOptionalInstants[I] != nullptr ? s.*kOptionalInstants[I] : kNeverPresent), ...);
  };
  constexpr auto kInstants = std::make_index_sequence<kOptionalInstants.size()>{};
  uint64_t presence = 0;
  size_t present = 0;
  for_each_instant(kInstants, [&](size_t i, const OptionalInstant& t) {
    if (t.has_value()) {
      presence |= uint64_t{1} << i;
      ++present;
    }
  });
  uint64_t flags = 0;
  [&]<size_t... I>(std::index_sequence<I...>) {
    ((flags |= s.*kBoolFlags[I] ? uint64_t{1} << I : 0), ...);
  }
  (std::make_index_sequence<kBoolFlags.size()>{});
  const bool unit_is_agency = s.current_unit == s.agency_code;
  if (unit_is_agency) flags |= kCurrentUnitIsAgency;
  for (size_t i = 0; i < kLaterBoolFlags.size(); ++i) {
    if (s.*kLaterBoolFlags[i]) flags |= uint64_t{1} << (kFirstLaterFlagBit + i);
  }

  // Version 4 only adds the kind of a pause mark: a value holding marks is written as version
  // 4, so that a version 3 value's marks are known to come from before kinds were kept (they
  // read back as legacy marks); a value without marks is version 3, which it is byte for byte.
  // Version 5 adds what versions 3 and 4 cannot hold: the instant of the apology, and the
  // latest event's status when the status shown differs from it (an open wait). Other values
  // keep their version 3 or 4 bytes, which a reader older than version 5 still reads.
  // Version 6 adds the flag kpi766_finished_at_request, with the layout of version 5: only a
  // value that sets it is written so (a dossier waiting for a supplement under the kpi766
  // policy), and a reader older than version 6 refuses it rather than drop the flag.
  // Version 7 adds the instant timer_floor_since, with the layout of version 5: only a value
  // holding it is written so (late data held a timer), and a reader older than version 7
  // refuses it rather than hold every timer of the dossier.
  const bool version7 = s.timer_floor_since.has_value();
  const bool version6 = s.kpi766_finished_at_request;
  const bool version5 =
      version7 || version6 || s.apology_at.has_value() || s.event_status != s.status;
  const uint8_t version = version7                ? 7
                          : version6              ? 6
                          : version5              ? 5
                          : s.pause_marks.empty() ? 3
                                                  : 4;
  auto fill = [&](char* p) {
    *p++ = static_cast<char>(version);
    p = StoreVarint64(p, presence);
    p = StoreVarint64(p, flags);

    *p++ = static_cast<char>(s.channel);
    *p++ = static_cast<char>(s.online_level);
    *p++ = static_cast<char>(s.status);
    *p++ = static_cast<char>(s.due_source);
    *p++ = static_cast<char>(s.outcome);
    p = StoreSignedVarint64(p, s.partition.value());

    auto store_string = [&p](std::string_view v) {
      p = StoreVarint64(p, v.size());
      p = StoreBytes(p, v);
    };
    store_string(s.agency_code);
    store_string(s.commune_code);
    store_string(s.procedure_code);
    if (!unit_is_agency) store_string(s.current_unit);

    p = StoreSignedVarint64(p, ToEpochMillis(s.first_event_at));
    p = StoreSignedVarint64(p, DeltaMillis(s.last_event_at, s.first_event_at));
    p = StoreSignedVarint64(p, DeltaMillis(s.status_at, s.first_event_at));
    for_each_instant(kInstants, [&](size_t, const OptionalInstant& t) {
      if (t) p = StoreSignedVarint64(p, DeltaMillis(*t, s.first_event_at));
    });

    p = StoreSignedVarint64(p, s.paused_ms);
    p = StoreSignedVarint64(p, s.supplement_requests);
    p = StoreSignedVarint64(p, s.step_breaches);

    p = StoreVarint64(p, s.applied_event_ids.size());
    for (uint64_t id : s.applied_event_ids) p = StoreFixed64LE(p, id);

    p = StoreVarint64(p, s.pauses.size());
    for (const PauseInterval& pause : s.pauses) {
      p = StoreSignedVarint64(p, DeltaMillis(pause.start, s.first_event_at));
      p = StoreSignedVarint64(p, DeltaMillis(pause.end, pause.start));
    }
    p = StoreSignedVarint64(p, s.legal_working_time ? s.legal_working_time->count() : -1);
    p = StoreVarint64(p, s.pause_marks.size());
    for (const PauseMark& mark : s.pause_marks) {
      p = StoreSignedVarint64(p, DeltaMillis(mark.at, s.first_event_at));
      *p++ = static_cast<char>(MarkByte(mark));
    }
    if (version5) *p++ = static_cast<char>(s.event_status);
    return p;
  };

  // The longest possible encoding: the version and enum bytes, and at most kMaxVarint64Bytes
  // for every varint (presence, flags, partition, 4 string lengths, 3 + `present` instants,
  // 3 counters, 3 counts, legal working time, 2 per pause, 1 per pause mark), a byte per
  // pause mark and the latest event's status.
  const size_t varints =
      2 + 1 + 4 + 3 + present + 3 + 3 + 1 + 2 * s.pauses.size() + s.pause_marks.size();
  const size_t strings = s.agency_code.size() + s.commune_code.size() + s.procedure_code.size() +
                         (unit_is_agency ? 0 : s.current_unit.size());
  const size_t most = 1 + 5 + varints * kMaxVarint64Bytes + strings +
                      8 * s.applied_event_ids.size() + s.pause_marks.size() + 1;
  // Most dossiers: encoded on the stack and appended, rather than `out` grown by the longest
  // encoding (zero-filled) and trimmed.
  constexpr size_t kStackBytes = 1024;
  if (most <= kStackBytes) {
    char buffer[kStackBytes];
    out->append(buffer, static_cast<size_t>(fill(buffer) - buffer));
    return;
  }
  const size_t start = out->size();
  out->resize(start + most);
  char* const begin = out->data() + start;
  out->resize(start + static_cast<size_t>(fill(begin) - begin));
}

std::string EncodeDossier(const DossierState& state) {
  std::string out;
  EncodeDossier(state, &out);
  return out;
}

Result<DossierState> DecodeDossier(std::string_view dossier_id, std::string_view bytes) {
  ByteReader r(bytes);
  auto version = r.ReadByte();
  if (!version) return Corrupt("empty", dossier_id);
  if (*version < 1 || *version > kDossierEncodingVersion) {
    return Corrupt("unknown encoding version " + std::to_string(*version), dossier_id);
  }

  DossierState s;
  // Assigned from its bytes: assigning a std::string to a boost::container::string copies it
  // into a temporary std::string first (a heap block for any id over 15 bytes).
  s.dossier_id.assign(dossier_id.data(), dossier_id.size());

  auto presence = r.ReadVarint64();
  auto flags = r.ReadVarint64();
  if (!presence || !flags) return Corrupt("truncated header", dossier_id);
  if ((*presence & ~kKnownPresenceBits) != 0 || (*flags & ~kKnownFlagBits) != 0) {
    return Corrupt("unknown presence or flag bits", dossier_id);
  }
  // transferred_at and overdue_by_supplements came with version 3.
  constexpr uint64_t kVersion3Presence = uint64_t{1} << 14;
  constexpr uint64_t kVersion3Flags = uint64_t{1} << (kFirstLaterFlagBit + 1);
  if (*version < 3 && ((*presence & kVersion3Presence) != 0 || (*flags & kVersion3Flags) != 0)) {
    return Corrupt("presence or flag bits of a later version", dossier_id);
  }
  // apology_at came with version 5.
  constexpr uint64_t kVersion5Presence = uint64_t{1} << 15;
  if (*version < 5 && (*presence & kVersion5Presence) != 0) {
    return Corrupt("presence bits of a later version", dossier_id);
  }
  // kpi766_finished_at_request came with version 6.
  constexpr uint64_t kVersion6Flags = uint64_t{1} << (kFirstLaterFlagBit + 2);
  if (*version < 6 && (*flags & kVersion6Flags) != 0) {
    return Corrupt("flag bits of a later version", dossier_id);
  }
  // timer_floor_since came with version 7.
  constexpr uint64_t kVersion7Presence = uint64_t{1} << 16;
  if (*version < 7 && (*presence & kVersion7Presence) != 0) {
    return Corrupt("presence bits of a later version", dossier_id);
  }
  for (size_t i = 0; i < kBoolFlags.size(); ++i) {
    s.*kBoolFlags[i] = (*flags & (uint64_t{1} << i)) != 0;
  }
  for (size_t i = 0; i < kLaterBoolFlags.size(); ++i) {
    s.*kLaterBoolFlags[i] = (*flags & (uint64_t{1} << (kFirstLaterFlagBit + i))) != 0;
  }

  auto channel = ReadEnum<Channel>(r, kMaxChannel);
  auto online_level = ReadEnum<OnlineLevel>(r, kMaxOnlineLevel);
  auto status = ReadEnum<DossierStatus>(r, kMaxStatus);
  auto due_source = ReadEnum<DueSource>(r, kMaxDueSource);
  auto outcome = ReadEnum<Outcome>(r, kMaxOutcome);
  auto partition = ReadSigned32(r);
  if (!channel || !online_level || !status || !due_source || !outcome || !partition) {
    return Corrupt("truncated or invalid enum / partition", dossier_id);
  }
  s.channel = *channel;
  s.online_level = *online_level;
  s.status = *status;
  s.event_status = *status;  // before version 5: the status shown was the latest event's
  s.due_source = *due_source;
  s.outcome = *outcome;
  s.partition = PartitionId(*partition);

  auto agency = r.ReadLengthPrefixed();
  auto commune = r.ReadLengthPrefixed();
  auto procedure = r.ReadLengthPrefixed();
  if (!agency || !commune || !procedure) return Corrupt("truncated string", dossier_id);
  s.agency_code = Code(*agency);
  s.commune_code = Code(*commune);
  s.procedure_code = Code(*procedure);
  if ((*flags & kCurrentUnitIsAgency) != 0) {
    s.current_unit = s.agency_code;
  } else {
    auto unit = r.ReadLengthPrefixed();
    if (!unit) return Corrupt("truncated string", dossier_id);
    s.current_unit = Code(*unit);
  }

  auto first = r.ReadSignedVarint64();
  auto last = r.ReadSignedVarint64();
  auto status_at = r.ReadSignedVarint64();
  if (!first || !last || !status_at) return Corrupt("truncated instants", dossier_id);
  s.first_event_at = FromEpochMillis(*first);
  s.last_event_at = AddDelta(s.first_event_at, *last);
  s.status_at = AddDelta(s.first_event_at, *status_at);
  OptionalInstant unmatched_resume_at;
  for (size_t i = 0; i < kOptionalInstants.size(); ++i) {
    if ((*presence & (uint64_t{1} << i)) == 0) continue;
    auto delta = r.ReadSignedVarint64();
    if (!delta) return Corrupt("truncated instants", dossier_id);
    (i == kUnmatchedResumeBit ? unmatched_resume_at : s.*kOptionalInstants[i]) =
        AddDelta(s.first_event_at, *delta);
  }

  auto paused_ms = r.ReadSignedVarint64();
  auto supplement_requests = ReadSigned32(r);
  auto step_breaches = ReadSigned32(r);
  if (!paused_ms || !supplement_requests || !step_breaches) {
    return Corrupt("truncated counters", dossier_id);
  }
  s.paused_ms = *paused_ms;
  s.supplement_requests = *supplement_requests;
  s.step_breaches = *step_breaches;

  auto id_count = r.ReadVarint64();
  // Checked against the bytes left before reserving, so a corrupt count cannot allocate.
  if (!id_count || *id_count > r.Remaining() / 8) return Corrupt("bad event id count", dossier_id);
  s.applied_event_ids.reserve(static_cast<size_t>(*id_count));
  for (uint64_t i = 0; i < *id_count; ++i) s.applied_event_ids.push_back(*r.ReadFixed64LE());

  if (*version >= 2) {
    auto pause_count = r.ReadVarint64();
    // Two varints of at least one byte each per pause.
    if (!pause_count || *pause_count > r.Remaining() / 2) {
      return Corrupt("bad pause count", dossier_id);
    }
    s.pauses.reserve(static_cast<size_t>(*pause_count));
    for (uint64_t i = 0; i < *pause_count; ++i) {
      auto start = r.ReadSignedVarint64();
      auto length = r.ReadSignedVarint64();
      if (!start || !length) return Corrupt("truncated pauses", dossier_id);
      const Instant begin = AddDelta(s.first_event_at, *start);
      s.pauses.push_back({begin, AddDelta(begin, *length)});
    }
    auto legal = r.ReadSignedVarint64();
    if (!legal || *legal < -1) return Corrupt("bad legal working time", dossier_id);
    if (*legal >= 0) s.legal_working_time = Millis(*legal);
  }
  if (*version >= 3) {
    auto mark_count = r.ReadVarint64();
    // A varint of at least one byte and a byte per mark.
    if (!mark_count || *mark_count > r.Remaining() / 2) {
      return Corrupt("bad pause mark count", dossier_id);
    }
    s.pause_marks.reserve(static_cast<size_t>(*mark_count));
    for (uint64_t i = 0; i < *mark_count; ++i) {
      auto at = r.ReadSignedVarint64();
      auto bits = r.ReadByte();
      if (!at || !bits) return Corrupt("truncated pause marks", dossier_id);
      const uint8_t known =
          *version >= 4 ? (kStartMarkBit | kPaymentMarkBit | kLegacyMarkBit) : kStartMarkBit;
      constexpr uint8_t kKindBits = kPaymentMarkBit | kLegacyMarkBit;  // one kind at most
      if ((*bits & ~known) != 0 || (*bits & kKindBits) == kKindBits) {
        return Corrupt("bad pause mark byte " + std::to_string(*bits), dossier_id);
      }
      // Version 3 kept no kind: its marks are legacy ones (PauseKind).
      PauseKind kind = PauseKind::kSupplement;
      if (*version < 4 || (*bits & kLegacyMarkBit) != 0) kind = PauseKind::kLegacy;
      if ((*bits & kPaymentMarkBit) != 0) kind = PauseKind::kPayment;
      const PauseMark mark{AddDelta(s.first_event_at, *at), (*bits & kStartMarkBit) != 0, kind};
      // Kept sorted (new marks are inserted in order): anything else is not ours.
      if (!s.pause_marks.empty() && PauseMarkBefore(mark, s.pause_marks.back())) {
        return Corrupt("pause marks out of order", dossier_id);
      }
      s.pause_marks.push_back(mark);
    }
  } else {
    // Before version 3 the pauses were kept as applied: their ends become the marks.
    // Legacy marks, as a version 3 value's.
    for (const PauseInterval& pause : s.pauses) {
      s.pause_marks.push_back({pause.start, true, PauseKind::kLegacy});
      s.pause_marks.push_back({pause.end, false, PauseKind::kLegacy});
    }
    if (s.paused_since) s.pause_marks.push_back({*s.paused_since, true, PauseKind::kLegacy});
    if (unmatched_resume_at) {
      s.pause_marks.push_back({*unmatched_resume_at, false, PauseKind::kLegacy});
    }
    std::stable_sort(s.pause_marks.begin(), s.pause_marks.end(), PauseMarkBefore);
  }

  if (*version >= 5) {
    auto event_status = ReadEnum<DossierStatus>(r, kMaxStatus);
    if (!event_status) return Corrupt("truncated or invalid event status", dossier_id);
    s.event_status = *event_status;
  }

  if (!r.Empty()) return Corrupt("trailing bytes", dossier_id);
  return s;
}

void EncodeAggregate(const AggregateCounters& counters, std::string* out) {
  out->clear();
  out->push_back(static_cast<char>(kAggregateEncodingVersion));
  AppendVarint64(out, counters.values.size());
  for (int64_t v : counters.values) AppendSignedVarint64(out, v);
}

std::string EncodeAggregate(const AggregateCounters& counters) {
  std::string out;
  EncodeAggregate(counters, &out);
  return out;
}

Result<AggregateCounters> DecodeAggregate(std::string_view bytes) {
  auto corrupt = [](const std::string& what) {
    return Error{ErrorCode::kCorruption, "aggregate value: " + what};
  };
  ByteReader r(bytes);
  auto version = r.ReadByte();
  if (!version) return corrupt("empty");
  if (*version != kAggregateEncodingVersion) {
    return corrupt("unknown encoding version " + std::to_string(*version));
  }
  auto count = r.ReadVarint64();
  // Every field takes at least one byte.
  if (!count || *count > r.Remaining()) return corrupt("bad field count");
  AggregateCounters counters;
  for (uint64_t i = 0; i < *count; ++i) {
    auto v = r.ReadSignedVarint64();
    if (!v) return corrupt("truncated");
    if (i < counters.values.size()) counters.values[i] = *v;
  }
  if (!r.Empty()) return corrupt("trailing bytes");
  return counters;
}

}  // namespace iocstream::state
