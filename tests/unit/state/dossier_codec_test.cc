#include "state/dossier_codec.h"

#include <gtest/gtest.h>

#include <boost/pfr.hpp>
#include <limits>
#include <random>
#include <utility>

namespace iocstream::state {
namespace {

// Index of the first field (declaration order) in which a and b differ, or -1. Compares every
// field of DossierState, including ones added after this test was written.
template <typename T>
int FirstDifferentField(const T& a, const T& b) {
  auto ta = boost::pfr::structure_tie(a);
  auto tb = boost::pfr::structure_tie(b);
  int found = -1;
  [&]<size_t... I>(std::index_sequence<I...>) {
    ((found < 0 && !(std::get<I>(ta) == std::get<I>(tb)) ? (found = static_cast<int>(I)) : 0), ...);
  }
  (std::make_index_sequence<boost::pfr::tuple_size_v<T>>{});
  return found;
}

// Index of the first field of `s` that still has its default value, or -1.
template <typename T>
int FirstDefaultField(const T& s) {
  const T defaults{};
  auto ts = boost::pfr::structure_tie(s);
  auto td = boost::pfr::structure_tie(defaults);
  int found = -1;
  [&]<size_t... I>(std::index_sequence<I...>) {
    ((found < 0 && std::get<I>(ts) == std::get<I>(td) ? (found = static_cast<int>(I)) : 0), ...);
  }
  (std::make_index_sequence<boost::pfr::tuple_size_v<T>>{});
  return found;
}

Instant At(int64_t ms) { return FromEpochMillis(ms); }

DossierState FullState() {
  DossierState s;
  s.dossier_id = "000.00.11.H57-250701-0001";
  s.partition = PartitionId(7);
  s.agency_code = "000.00.11.H57";
  s.commune_code = "24841";
  s.procedure_code = "1.001234.000.00.00.H57";
  s.current_unit = "000.00.12.H57";
  s.channel = Channel::kOnline;
  s.online_level = OnlineLevel::kFull;
  s.status = DossierStatus::kCompleted;
  s.event_status = DossierStatus::kCompleted;
  s.due_source = DueSource::kCatalog;
  s.outcome = Outcome::kLate;
  const int64_t t0 = 1'751'328'000'000;  // 2025-07-01T00:00:00Z
  s.submitted_at = At(t0 - 3'600'000);
  s.received_at = At(t0);
  s.due_at = At(t0 + 10 * 86'400'000LL);
  s.original_due_at = At(t0 + 9 * 86'400'000LL);
  s.warning_at = At(t0 + 8 * 86'400'000LL);
  s.hours_left_warning_at = At(t0 + 9 * 86'400'000LL - 3'600'000);
  s.timer_floor = At(t0 + 7 * 86'400'000LL);
  s.timer_floor_since = At(t0 + 7 * 86'400'000LL - 3'600'000);
  s.rescheduled_due_at = At(t0 + 12 * 86'400'000LL);
  s.step_due_at = At(t0 + 5 * 86'400'000LL);
  s.completed_at = At(t0 + 11 * 86'400'000LL);
  s.returned_at = At(t0 + 13 * 86'400'000LL);
  s.closed_at = At(t0 + 14 * 86'400'000LL);
  s.paused_since = At(t0 + 2 * 86'400'000LL);
  s.paused_ms = 86'400'000;
  s.pauses = {{At(t0 + 86'400'000LL), At(t0 + 2 * 86'400'000LL)},
              {At(t0 + 3 * 86'400'000LL), At(t0 + 3 * 86'400'000LL + 3'600'000)}};
  s.legal_working_time = Millis(15 * 8 * 3'600'000LL);
  s.supplement_requests = 2;
  s.step_breaches = 1;
  s.result_electronic = true;
  s.legacy_apology_issued = true;
  s.breach_fired = true;
  s.warning_fired = true;
  s.step_breach_fired = true;
  s.hours_left_warning_fired = true;
  s.overdue_by_supplements = true;
  s.kpi766_finished_at_request = true;
  s.status_at = At(t0 + 11 * 86'400'000LL);
  s.first_event_at = At(t0 - 3'600'000);
  s.last_event_at = At(t0 + 13 * 86'400'000LL);
  s.applied_event_ids = {0x0123456789abcdefULL, 0, std::numeric_limits<uint64_t>::max()};
  s.transferred_at = At(t0 + 4 * 86'400'000LL);
  s.apology_at = At(t0 + 9 * 86'400'000LL - 7'200'000);
  s.pause_marks = {{At(t0 - 7'200'000), false},  // sorted (PauseMarkBefore), as the rules keep them
                   {At(t0 + 86'400'000LL), true},
                   {At(t0 + 2 * 86'400'000LL), false},
                   {At(t0 + 2 * 86'400'000LL), true}};
  return s;
}

// FullState() as encoding versions 3 and 4 stored it: no apology instant (the flag says the
// apology was judged before the deadline on arrival), the status the latest event's.
DossierState FullStateVersion4() {
  DossierState s = FullState();
  s.apology_at.reset();
  s.kpi766_finished_at_request = false;
  s.timer_floor_since.reset();
  return s;
}

// FullState() as encoding version 2 stored it: no transfer instant, no pause marks, no
// overdue_by_supplements.
DossierState FullStateVersion2() {
  DossierState s = FullStateVersion4();
  s.overdue_by_supplements = false;
  s.transferred_at.reset();
  s.pause_marks.clear();
  return s;
}

TEST(DossierCodecTest, FixtureSetsEveryField) {
  // When DossierState gains a field, set it in FullState(): the round trip below then proves
  // that the codec stores it.
  EXPECT_EQ(FirstDefaultField(FullState()), -1) << "field index of DossierState";
}

TEST(DossierCodecTest, FullStateRoundTrips) {
  const DossierState s = FullState();
  auto bytes = EncodeDossier(s);
  EXPECT_EQ(static_cast<uint8_t>(bytes[0]), 7);  // holds timer_floor_since: version 7
  auto decoded = DecodeDossier(s.dossier_id, bytes);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().message;
  EXPECT_EQ(FirstDifferentField(*decoded, s), -1) << "field index of DossierState";
}

// Pause marks carry their kind from version 4 on: a value holding marks is written as version
// 4, its mark bytes 2 more for a payment's and 4 more for a legacy one's (PauseKind::kLegacy).
TEST(DossierCodecTest, PauseMarkKindsRoundTripAsVersion4) {
  DossierState s = FullStateVersion4();
  const Instant last = s.pause_marks.back().at;
  s.pause_marks.push_back({last, true, PauseKind::kPayment});  // after the supplement's start
  s.pause_marks.push_back({last, true, PauseKind::kLegacy});
  s.pause_marks.push_back({last + std::chrono::hours(3), false, PauseKind::kPayment});
  const std::string bytes = EncodeDossier(s);
  EXPECT_EQ(static_cast<uint8_t>(bytes[0]), 4);
  auto decoded = DecodeDossier(s.dossier_id, bytes);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().message;
  EXPECT_EQ(FirstDifferentField(*decoded, s), -1) << "field index of DossierState";
  EXPECT_EQ(decoded->pause_marks, s.pause_marks);
  EXPECT_EQ(static_cast<uint8_t>(bytes.back()), 2);  // the last: a payment's end
  DossierState supplements = s;
  for (PauseMark& m : supplements.pause_marks) m.kind = PauseKind::kSupplement;
  const std::string as_supplements = EncodeDossier(supplements);
  EXPECT_EQ(static_cast<uint8_t>(as_supplements[0]), 4);
  ASSERT_EQ(as_supplements.size(), bytes.size());
  std::vector<int> differ;  // the kinds' three mark bytes
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (bytes[i] != as_supplements[i]) differ.push_back(bytes[i] - as_supplements[i]);
  }
  EXPECT_EQ(differ, (std::vector<int>{2, 4, 2}));
}

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (char c : bytes) {
    out.push_back(kDigits[static_cast<uint8_t>(c) >> 4]);
    out.push_back(kDigits[static_cast<uint8_t>(c) & 0xf]);
  }
  return out;
}

std::string Unhex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

// Version 2 bytes of FullStateVersion2() and of an empty state, as the version 2 encoder
// wrote them.
constexpr std::string_view kFullStateVersion2 =
    "02ff7f5f02030402030e0d3030302e30302e31312e48353705323438343116312e3030313233342e303030"
    "2e30302e30302e4835370d3030302e30302e31322e48353780e68cb1f86580eaccb208808ae78d070080ba"
    "b703809ab4bb0680aa81e90580fa99e00780eab59f03808ae78d0780eaccb20880daff8409809a9da80180"
    "bace960580ca9bc40480dae8f10380f0c9e50580f0b252040203efcdab89674523010000000000000000ff"
    "ffffffffffffff0280aaea5580f0b252808ad0fa0180bab70380b0fe9b03";

// Version 3 bytes of FullStateVersion4(), as the first version 3 encoder wrote them (before pause
// marks had a kind).
constexpr std::string_view kFullStateVersion3 =
    "03ffff01df0102030402030e0d3030302e30302e31312e48353705323438343116312e3030313233342e30"
    "30302e30302e30302e4835370d3030302e30302e31322e48353780e68cb1f86580eaccb208808ae78d0700"
    "80bab703809ab4bb0680aa81e90580fa99e00780eab59f03808ae78d0780eaccb20880daff8409809a9da8"
    "0180bace960580ca9bc40480dae8f10380f0c9e50580fa82cd0280f0b252040203efcdab89674523010000"
    "000000000000ffffffffffffffff0280aaea5580f0b252808ad0fa0180bab70380b0fe9b0304ffb9b70300"
    "80aaea5501809a9da80100809a9da80101";

// Version 4 bytes of FullStateVersion4(): kFullStateVersion3's, but for the version byte, and
// without the instant of presence bit 12 (an end of pause seen before its start): only values
// converted from version 2 held one, and since it is read as a pause mark, not kept
// (DossierState has no field for it), no value written since holds it.
constexpr std::string_view kFullStateVersion4 =
    "04ffdf01df0102030402030e0d3030302e30302e31312e48353705323438343116312e3030313233342e30"
    "30302e30302e30302e4835370d3030302e30302e31322e48353780e68cb1f86580eaccb208808ae78d0700"
    "80bab703809ab4bb0680aa81e90580fa99e00780eab59f03808ae78d0780eaccb20880daff8409809a9da8"
    "0180bace960580ca9bc40480f0c9e50580fa82cd0280f0b252040203efcdab89674523010000000000000000"
    "ffffffffffffffff0280aaea5580f0b252808ad0fa0180bab70380b0fe9b0304ffb9b7030080aaea550180"
    "9a9da80100809a9da80101";

TEST(DossierCodecTest, EncodingIsByteStable) {
  // Stored values outlive the code that wrote them: an encoder rewrite must produce the same
  // bytes unless it bumps the version. These are version 3 bytes of an empty state, as the
  // first version 3 encoder wrote them (a value without pause marks is still version 3), and
  // FullStateVersion4()'s, which holds supplement marks: version 4.
  EXPECT_EQ(Hex(EncodeDossier(FullStateVersion4())), kFullStateVersion4);
  EXPECT_EQ(Hex(EncodeDossier(DossierState{})), "03002000000900000000000000000000000000000100");
  // The reused-buffer overload replaces what the buffer held.
  std::string buffer(500, 'x');
  EncodeDossier(DossierState{}, &buffer);
  EXPECT_EQ(buffer, EncodeDossier(DossierState{}));
}

// A dossier whose status shown differs from the latest event's (a supplement still awaited
// after a payment received) is written as version 5: the bytes of version 4 and the latest
// event's status. Values whose two statuses agree keep their version 3 or 4 bytes, and values
// of those versions read the latest event's status as the one stored.
TEST(DossierCodecTest, Version5CarriesTheLatestEventsStatus) {
  DossierState s = FullStateVersion4();
  s.status = DossierStatus::kWaitingSupplement;
  s.event_status = DossierStatus::kInProgress;
  const std::string bytes = EncodeDossier(s);
  EXPECT_EQ(static_cast<uint8_t>(bytes[0]), 5);
  auto decoded = DecodeDossier(s.dossier_id, bytes);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().message;
  EXPECT_EQ(FirstDifferentField(*decoded, s), -1) << "field index of DossierState";

  DossierState agreed = s;
  agreed.event_status = agreed.status;
  const std::string v4 = EncodeDossier(agreed);
  EXPECT_EQ(static_cast<uint8_t>(v4[0]), 4);
  EXPECT_EQ(bytes.substr(1), v4.substr(1) + '\x01');  // kInProgress
  std::string relabelled = v4;
  relabelled[0] = '\x05';
  auto short5 = DecodeDossier(s.dossier_id, relabelled);
  ASSERT_FALSE(short5.has_value()) << "version 5 without the latest event's status";
  relabelled += '\x0a';  // no such status
  ASSERT_FALSE(DecodeDossier(s.dossier_id, relabelled).has_value()) << "invalid status";

  // Version 4 bytes, as a build before version 5 wrote them: the status was the latest event's.
  auto read = DecodeDossier(s.dossier_id, v4);
  ASSERT_TRUE(read.has_value()) << read.error().message;
  EXPECT_EQ(read->status, DossierStatus::kWaitingSupplement);
  EXPECT_EQ(read->event_status, DossierStatus::kWaitingSupplement);
}

// Under the kpi766 policy a dossier waiting for a supplement counts as finished at the request
// (DossierState::kpi766_finished_at_request): a value that sets the flag is written as version
// 6 (version 5's layout, so a reader older than version 6 refuses it rather than drop the
// flag); any other keeps the bytes of its version.
TEST(DossierCodecTest, Version6CarriesTheKpi766Flag) {
  DossierState s = FullStateVersion4();
  s.status = DossierStatus::kWaitingSupplement;
  s.event_status = DossierStatus::kWaitingSupplement;
  const std::string without = EncodeDossier(s);
  EXPECT_EQ(static_cast<uint8_t>(without[0]), 4);
  s.kpi766_finished_at_request = true;
  const std::string bytes = EncodeDossier(s);
  EXPECT_EQ(static_cast<uint8_t>(bytes[0]), 6);
  auto decoded = DecodeDossier(s.dossier_id, bytes);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().message;
  EXPECT_EQ(FirstDifferentField(*decoded, s), -1) << "field index of DossierState";
  EXPECT_TRUE(decoded->kpi766_finished_at_request);
  std::string relabelled = bytes;
  relabelled[0] = '\x05';  // the same layout, read as version 5: the flag is not known there
  ASSERT_FALSE(DecodeDossier(s.dossier_id, relabelled).has_value());
  auto old = DecodeDossier(s.dossier_id, without);
  ASSERT_TRUE(old.has_value()) << old.error().message;
  EXPECT_FALSE(old->kpi766_finished_at_request);
}

// Version 3 kept no kind: every mark of a version 3 value reads back as a legacy one's
// (PauseKind::kLegacy: a supplement's, or a payment's given while payments paused the clock;
// the rules pair them as they were written), and is written again as version 4 with its kind.
DossierState WithLegacyMarks(DossierState s) {
  for (PauseMark& m : s.pause_marks) m.kind = PauseKind::kLegacy;
  return s;
}

TEST(DossierCodecTest, Version3MarksReadBackAsLegacyMarks) {
  const DossierState s = WithLegacyMarks(FullStateVersion4());
  auto decoded = DecodeDossier(s.dossier_id, Unhex(kFullStateVersion3));
  ASSERT_TRUE(decoded.has_value()) << decoded.error().message;
  EXPECT_EQ(FirstDifferentField(*decoded, s), -1) << "field index of DossierState";
  ASSERT_EQ(decoded->pause_marks.size(), 4u);
  for (const PauseMark& m : decoded->pause_marks) EXPECT_EQ(m.kind, PauseKind::kLegacy);
  // Written again as version 4, each mark byte 4 more (the legacy bit).
  // (Its end of pause before a start, presence bit 12, is not kept in a version 3 value: no
  // value written since version 3 held one; kFullStateVersion4.)
  const std::string again = EncodeDossier(*decoded);
  const std::string v4 = Unhex(kFullStateVersion4);
  ASSERT_EQ(again.size(), v4.size());
  EXPECT_EQ(again[0], '\x04');
  std::vector<int> differ;
  for (size_t i = 1; i < again.size(); ++i) {
    if (again[i] != v4[i]) differ.push_back(again[i] - v4[i]);
  }
  EXPECT_EQ(differ, (std::vector<int>{4, 4, 4, 4}));
  auto decoded_again = DecodeDossier(s.dossier_id, again);
  ASSERT_TRUE(decoded_again.has_value()) << decoded_again.error().message;
  EXPECT_EQ(decoded_again->pause_marks, s.pause_marks);
}

// Before version 3 the applied pauses, the open pause and an unmatched resume were the pause
// state: they come back as the pause marks, and the unmatched resume as an end mark.
// FullState()'s: pauses [1d, 2d) and [3d, 3d + 1h), open since 2d, resumed at 6d (t0 + days).
DossierState WithMarks(DossierState s, std::vector<PauseMark> marks) {
  s.pause_marks = std::move(marks);
  return s;
}
constexpr int64_t kT0 = 1'751'328'000'000;
constexpr int64_t kDay = 86'400'000;

TEST(DossierCodecTest, Version2ValuesStillDecode) {
  const DossierState s = FullStateVersion2();
  auto decoded = DecodeDossier(s.dossier_id, Unhex(kFullStateVersion2));
  ASSERT_TRUE(decoded.has_value()) << decoded.error().message;
  // In time order; at 2d the end before the start.
  constexpr PauseKind kL = PauseKind::kLegacy;  // marks of a store from before kinds were kept
  const DossierState expected = WithMarks(s, {{At(kT0 + kDay), true, kL},
                                              {At(kT0 + 2 * kDay), false, kL},
                                              {At(kT0 + 2 * kDay), true, kL},
                                              {At(kT0 + 3 * kDay), true, kL},
                                              {At(kT0 + 3 * kDay + 3'600'000), false, kL},
                                              {At(kT0 + 6 * kDay), false, kL}});
  EXPECT_EQ(FirstDifferentField(*decoded, expected), -1) << "field index of DossierState";
  EXPECT_EQ(decoded->pause_marks, expected.pause_marks);
}

TEST(DossierCodecTest, Version1ValuesStillDecode) {
  // A version 1 value is a version 2 one without the trailing pauses and legal working time.
  DossierState s = FullStateVersion2();
  s.pauses.clear();
  s.legal_working_time.reset();
  std::string bytes = Unhex(kFullStateVersion2);
  bytes.resize(bytes.size() - 23);  // their count, 2 pauses (4 varints, 17 bytes), legal time (5)
  bytes[0] = 1;
  auto decoded = DecodeDossier(s.dossier_id, bytes);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().message;
  const DossierState expected = WithMarks(s, {{At(kT0 + 2 * kDay), true, PauseKind::kLegacy},
                                              {At(kT0 + 6 * kDay), false, PauseKind::kLegacy}});
  EXPECT_EQ(FirstDifferentField(*decoded, expected), -1) << "field index of DossierState";
}

TEST(DossierCodecTest, EmptyStateRoundTrips) {
  const DossierState s;
  auto decoded = DecodeDossier("", EncodeDossier(s));
  ASSERT_TRUE(decoded.has_value()) << decoded.error().message;
  EXPECT_EQ(FirstDifferentField(*decoded, s), -1);
}

TEST(DossierCodecTest, CurrentUnitEqualToAgencyIsNotRepeated) {
  DossierState s = FullState();
  const size_t with_unit = EncodeDossier(s).size();
  s.current_unit = s.agency_code;
  const auto bytes = EncodeDossier(s);
  EXPECT_EQ(bytes.size() + 1 + s.current_unit.size(), with_unit);  // length byte + bytes
  auto decoded = DecodeDossier(s.dossier_id, bytes);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->current_unit, s.agency_code);
}

TEST(DossierCodecTest, ExtremeInstantsAndCountersRoundTrip) {
  DossierState s = FullState();
  s.first_event_at = At(std::numeric_limits<int64_t>::max());
  s.last_event_at = At(std::numeric_limits<int64_t>::min());
  s.due_at = At(-1);
  s.paused_ms = std::numeric_limits<int64_t>::min();
  s.supplement_requests = std::numeric_limits<int32_t>::min();
  s.step_breaches = std::numeric_limits<int32_t>::max();
  s.partition = PartitionId(-1);
  auto decoded = DecodeDossier(s.dossier_id, EncodeDossier(s));
  ASSERT_TRUE(decoded.has_value()) << decoded.error().message;
  EXPECT_EQ(FirstDifferentField(*decoded, s), -1);
}

TEST(DossierCodecTest, TypicalStateIsCompact) {
  // The typical open dossier: received with a due date, a few events applied.
  DossierState s = FullState();
  s.current_unit = s.agency_code;
  s.rescheduled_due_at.reset();
  s.completed_at.reset();
  s.returned_at.reset();
  s.closed_at.reset();
  s.paused_since.reset();
  s.timer_floor.reset();
  s.timer_floor_since.reset();
  s.transferred_at.reset();
  s.apology_at.reset();
  s.applied_event_ids.resize(2);
  s.pauses.clear();
  s.pause_marks.clear();
  // 3 header + 5 enum + 1 partition bytes; strings 40 + 3 lengths; first_event_at 6 bytes;
  // last_event_at, status_at and 7 optional instants (both warnings) as deltas of hours to
  // days, 4-5 bytes each; counters 6; 2 hashes 1 + 16; no pause 1; legal working time 5; no
  // pause mark 1.
  // With 8-byte instants and fixed-width lengths the same state would take about 220 bytes.
  EXPECT_LE(EncodeDossier(s).size(), 132u);
}

TEST(DossierCodecTest, EveryTruncationIsCorruption) {
  const DossierState s = FullState();
  const auto bytes = EncodeDossier(s);
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto decoded = DecodeDossier(s.dossier_id, std::string_view(bytes).substr(0, n));
    ASSERT_FALSE(decoded.has_value()) << "prefix " << n;
    EXPECT_EQ(decoded.error().code, ErrorCode::kCorruption);
  }
}

TEST(DossierCodecTest, MalformedBytesAreCorruption) {
  const auto bytes = EncodeDossier(FullState());
  auto expect_corrupt = [](const std::string& b, const char* what) {
    auto decoded = DecodeDossier("d", b);
    ASSERT_FALSE(decoded.has_value()) << what;
    EXPECT_EQ(decoded.error().code, ErrorCode::kCorruption) << what;
    EXPECT_NE(decoded.error().message.find("(dossier d)"), std::string::npos);
  };
  expect_corrupt(bytes + "x", "trailing byte");
  for (char v : {'\x00', '\x08'}) {
    std::string version = bytes;
    version[0] = v;
    expect_corrupt(version, "unknown version");
  }
  // The empty state: version, presence 0, flags 0x20 (current_unit_is_agency), ...
  DossierState small;
  const std::string empty = EncodeDossier(small);
  std::string presence = empty;
  presence.replace(1, 1, "\x80\x80\x08");  // presence bit 17: unknown (17 known)
  expect_corrupt(presence, "unknown presence bit");
  // Presence bit 15 (the apology's instant) came with version 5.
  DossierState apologised;
  apologised.apology_at = At(5);
  std::string apology = EncodeDossier(apologised);
  ASSERT_EQ(apology[0], '\x05');
  EXPECT_TRUE(DecodeDossier("d", apology).has_value());
  apology[0] = '\x04';
  apology.pop_back();  // without version 5's status byte
  expect_corrupt(apology, "apology instant in version 4");
  std::string flags = empty;
  flags.replace(2, 1, "\xa0\x04");  // flags: 9 known bits; this sets unknown bit 9
  expect_corrupt(flags, "unknown flag bit");
  // Flag bit 8 (kpi766_finished_at_request) came with version 6.
  std::string later_flag = empty;
  later_flag.replace(2, 1, "\xa0\x02");
  expect_corrupt(later_flag, "kpi766 flag in version 3");
  // A huge applied_event_ids count must be refused before allocating.
  // The empty state ends with four one-byte fields: event id count 0, pause count 0, legal
  // working time -1 and pause mark count 0.
  std::string huge = empty;
  huge.resize(huge.size() - 4);
  huge += "\xff\xff\xff\xff\xff\xff\xff\xff\x7f";
  expect_corrupt(huge, "huge count");
  std::string huge_pauses = empty;
  huge_pauses.resize(huge_pauses.size() - 3);
  huge_pauses += "\xff\xff\xff\xff\x0f\x01\x00";
  expect_corrupt(huge_pauses, "huge pause count");
  std::string bad_legal = empty;
  bad_legal[bad_legal.size() - 2] = '\x03';  // zigzag -2
  expect_corrupt(bad_legal, "legal working time below -1");
  std::string huge_marks = empty;
  huge_marks.resize(huge_marks.size() - 1);
  huge_marks += "\xff\xff\xff\xff\x0f";
  expect_corrupt(huge_marks, "huge pause mark count");
  DossierState marked;
  marked.pause_marks = {{At(0), true}};
  std::string bad_mark = EncodeDossier(marked);
  bad_mark[0] = '\x03';
  bad_mark.back() = '\x02';  // a mark is a start (1) or an end (0): no payment before version 4
  expect_corrupt(bad_mark, "payment pause mark in version 3");
  std::string bad_mark4 = bad_mark;
  bad_mark4[0] = '\x04';
  // Bits 1 (start), 2 (payment) and 4 (legacy) only, not payment and legacy both.
  for (char bits : {'\x06', '\x07', '\x08', '\x80'}) {
    bad_mark4.back() = bits;
    expect_corrupt(bad_mark4, "unknown pause mark bit");
  }
  bad_mark4.back() = '\x05';  // a legacy start: fine in version 4
  EXPECT_TRUE(DecodeDossier("d", bad_mark4).has_value());
  bad_mark4.back() = '\x03';  // a payment's start: fine in version 4
  EXPECT_TRUE(DecodeDossier("d", bad_mark4).has_value());
  DossierState unsorted;
  unsorted.pause_marks = {{At(10), true}, {At(5), false}};
  expect_corrupt(EncodeDossier(unsorted), "pause marks out of order");
  // A version 3 value labelled 2 has bits version 2 did not have.
  expect_corrupt(
      Unhex(kFullStateVersion2).substr(0, 1) + EncodeDossier(FullStateVersion4()).substr(1),
      "version 2 with the bits of version 3");
  // Overlong varint (11 bytes).
  std::string overlong = empty;
  overlong.resize(overlong.size() - 4);
  overlong += std::string(10, '\xff') + "\x01";
  expect_corrupt(overlong, "overlong varint");
}

TEST(DossierCodecTest, InvalidEnumValuesAreCorruption) {
  DossierState s;
  const auto bytes = EncodeDossier(s);
  // version, presence (0), flags (current_unit_is_agency), then 5 enum bytes.
  for (size_t i = 3; i < 8; ++i) {
    std::string b = bytes;
    b[i] = '\x63';
    auto decoded = DecodeDossier("d", b);
    ASSERT_FALSE(decoded.has_value()) << "byte " << i;
    EXPECT_EQ(decoded.error().code, ErrorCode::kCorruption);
  }
}

TEST(DossierCodecTest, RandomCorruptionNeverCrashes) {
  const auto bytes = EncodeDossier(FullState());
  std::mt19937_64 rng(42);
  for (int i = 0; i < 20000; ++i) {
    std::string b = bytes;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) b[rng() % b.size()] = static_cast<char>(rng());
    if (rng() % 4 == 0) b.resize(rng() % b.size());
    auto decoded = DecodeDossier("d", b);
    if (!decoded.has_value()) {
      EXPECT_EQ(decoded.error().code, ErrorCode::kCorruption);
    }
  }
}

TEST(AggregateCodecTest, RoundTrips) {
  AggregateCounters c;
  for (size_t i = 0; i < kAggregateFieldCount; ++i) {
    c.values[i] = static_cast<int64_t>(i * i) - 20;
  }
  c.values[0] = std::numeric_limits<int64_t>::min();
  c.values[1] = std::numeric_limits<int64_t>::max();
  auto decoded = DecodeAggregate(EncodeAggregate(c));
  ASSERT_TRUE(decoded.has_value()) << decoded.error().message;
  EXPECT_EQ(*decoded, c);

  auto zero = DecodeAggregate(EncodeAggregate(AggregateCounters{}));
  ASSERT_TRUE(zero.has_value());
  EXPECT_TRUE(zero->IsZero());
}

TEST(AggregateCodecTest, StoresFieldCountSoFieldsCanBeAppended) {
  // Written by an older build with 3 fields: the rest decode as zero.
  const std::string older = std::string("\x01\x03", 2) + "\x02\x04\x06";
  auto decoded = DecodeAggregate(older);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().message;
  EXPECT_EQ(decoded->values[0], 1);
  EXPECT_EQ(decoded->values[1], 2);
  EXPECT_EQ(decoded->values[2], 3);
  for (size_t i = 3; i < kAggregateFieldCount; ++i) EXPECT_EQ(decoded->values[i], 0);

  // Written by a newer build with one more field: known fields decode, the extra is dropped.
  AggregateCounters c;
  c.values.fill(1);
  std::string newer = EncodeAggregate(c);
  newer[1] = static_cast<char>(kAggregateFieldCount + 1);
  newer += "\x08";
  auto from_newer = DecodeAggregate(newer);
  ASSERT_TRUE(from_newer.has_value()) << from_newer.error().message;
  EXPECT_EQ(*from_newer, c);
}

TEST(AggregateCodecTest, TruncatedOrMalformedIsCorruption) {
  AggregateCounters c;
  c.values.fill(-300);
  const auto bytes = EncodeAggregate(c);
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto decoded = DecodeAggregate(std::string_view(bytes).substr(0, n));
    ASSERT_FALSE(decoded.has_value()) << n;
    EXPECT_EQ(decoded.error().code, ErrorCode::kCorruption);
  }
  auto trailing = DecodeAggregate(bytes + "\x01");
  ASSERT_FALSE(trailing.has_value());
  EXPECT_EQ(trailing.error().code, ErrorCode::kCorruption);
  std::string version = bytes;
  version[0] = 9;
  EXPECT_FALSE(DecodeAggregate(version).has_value());
  EXPECT_FALSE(DecodeAggregate("\x01\xff\xff\xff\xff\x0f").has_value());
}

// Late data holds only the timers due when it arrived (DossierState::timer_floor_since): a
// value holding that instant is written as version 7 (version 5's layout), so that a reader
// older than version 7 refuses it rather than hold every timer; any other keeps the bytes of
// its version, and a version 6 value claiming the instant is corrupt.
TEST(DossierCodecTest, Version7CarriesTheInstantLateDataArrived) {
  EXPECT_EQ(kDossierEncodingVersion, 7);
  DossierState s = FullStateVersion4();
  s.status = DossierStatus::kWaitingSupplement;
  s.event_status = DossierStatus::kWaitingSupplement;
  const std::string without = EncodeDossier(s);
  EXPECT_EQ(static_cast<uint8_t>(without[0]), 4);
  s.timer_floor_since = *s.timer_floor - Millis(3'600'000);
  const std::string bytes = EncodeDossier(s);
  EXPECT_EQ(static_cast<uint8_t>(bytes[0]), 7);
  auto decoded = DecodeDossier(s.dossier_id, bytes);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().message;
  EXPECT_EQ(FirstDifferentField(*decoded, s), -1) << "field index of DossierState";
  std::string relabelled = bytes;
  relabelled[0] = '\x06';
  EXPECT_FALSE(DecodeDossier(s.dossier_id, relabelled).has_value());
}

}  // namespace
}  // namespace iocstream::state
