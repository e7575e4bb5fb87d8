#include "app/api.h"

#include <fmt/format.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <future>
#include <initializer_list>
#include <map>
#include <random>
#include <string_view>

#include "app/app_metrics.h"
#include "app/pipeline.h"
#include "app/runtime.h"
#include "app/views.h"
#include "iocstream/core/code.h"
#include "iocstream/core/utf8.h"
#include "iocstream/decode/event_decoder.h"
#include "iocstream/decode/rfc3339.h"
#include "iocstream/rules/dossier_state_machine.h"

namespace iocstream::app {
namespace {

HttpResponse Json(const nlohmann::ordered_json& j, int status = 200) {
  HttpResponse r;
  r.status = status;
  r.body = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

// A 400 naming a query parameter the endpoint does not take (a misspelt `?departement=` was
// ignored, and every department listed), nullopt when all are known.
std::optional<HttpResponse> UnknownQueryParameter(const HttpRequest& req,
                                                  std::initializer_list<std::string_view> known) {
  for (const auto& [key, value] : req.query) {
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    std::string list;
    for (std::string_view k : known) list += (list.empty() ? "" : ", ") + std::string(k);
    return JsonErrorResponse(
        400, "unknown query parameter '" + key + "' (" +
                 (list.empty() ? std::string("this endpoint takes none") : "known: " + list) + ")");
  }
  return std::nullopt;
}

// ?limit=N (1..max); nullopt when present but not a positive integer.
std::optional<size_t> QueryLimit(const HttpRequest& req, size_t fallback, size_t max) {
  auto it = req.query.find("limit");
  if (it == req.query.end()) return fallback;
  size_t v = 0;
  const auto* end = it->second.data() + it->second.size();
  const auto r = std::from_chars(it->second.data(), end, v);
  if (r.ec != std::errc() || r.ptr != end || v == 0 || v > max) return std::nullopt;
  return v;
}

// ?department=: the one department a request keeps, nullopt for every one (absent, or empty
// as a dashboard's "all" sends it).
std::optional<std::string> DepartmentFilter(const HttpRequest& req) {
  auto it = req.query.find("department");
  if (it == req.query.end() || it->second.empty()) return std::nullopt;
  return it->second;
}

// `text` (UTF-8) as `form` normalizes it, in UTF-8; nullopt if ICU fails.
std::optional<std::string> Normalized(const icu::Normalizer2& form, std::string_view text) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::UnicodeString normalized =
      form.normalize(icu::UnicodeString::fromUTF8(
                         icu::StringPiece(text.data(), static_cast<int32_t>(text.size()))),
                     status);
  if (U_FAILURE(status)) return std::nullopt;
  std::string out;
  normalized.toUTF8String(out);
  return out;
}

// `text` case-folded and normalized by Unicode's NFKC_Casefold (ICU), under which two texts
// that differ only in case, composition or compatibility forms are equal: "SỞ TƯ PHÁP",
// "sở tư pháp" and either spelled decomposed (NFD), as well as "ISD" and "isd" (a helper's
// trial found the hint given for ASCII case only, so that a Vietnamese name typed in
// capitals got none). Bytes that are not UTF-8 fold to U+FFFD. nullopt if ICU fails.
std::optional<std::string> Caseless(std::string_view text) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* fold = icu::Normalizer2::getNFKCCasefoldInstance(status);
  if (U_FAILURE(status)) return std::nullopt;
  return Normalized(*fold, text);
}

// `text` composed (Unicode NFC: "ở" as one code point, not "o" + U+031B + U+0309), as
// Vietnamese text is usually stored; nullopt if ICU fails.
std::optional<std::string> Composed(std::string_view text) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(status);
  if (U_FAILURE(status)) return std::nullopt;
  return Normalized(*nfc, text);
}

// `text` without the blanks around it: Unicode's White_Space (ASCII blanks, the no-break
// U+00A0 and U+202F, the U+2000-U+200A spaces, the ideographic U+3000...) and its default
// ignorable code points (zero-width U+200B-U+200D, the byte order mark U+FEFF), as names copied
// from a spreadsheet or a web page carry them (`?department=%C2%A0ISD` got no hint). Bytes
// that are not UTF-8 end the trim.
std::string_view TrimUnicodeBlanks(std::string_view text) {
  auto blank = [](UChar32 c) {
    return c >= 0 &&
           (u_isUWhiteSpace(c) || u_hasBinaryProperty(c, UCHAR_DEFAULT_IGNORABLE_CODE_POINT));
  };
  const auto* bytes = reinterpret_cast<const uint8_t*>(text.data());
  const auto length = static_cast<int32_t>(text.size());
  int32_t begin = 0;
  while (begin < length) {
    int32_t next = begin;
    UChar32 c = 0;
    U8_NEXT(bytes, next, length, c);
    if (!blank(c)) break;
    begin = next;
  }
  int32_t end = length;
  while (end > begin) {
    int32_t previous = end;
    UChar32 c = 0;
    U8_PREV(bytes, begin, previous, c);
    if (!blank(c)) break;
    end = previous;
  }
  return text.substr(static_cast<size_t>(begin), static_cast<size_t>(end - begin));
}

// Whether texts are the same as `asked` but for case (and Unicode composition): see Caseless.
// Each text is folded once, however often it is asked about (a state holds few departments
// and units, in many rows and dossiers). For the hints of a 404 only.
class CaselessMatch {
 public:
  // `asked` without the blanks around it (`?department=%20ISD`, a name pasted with its
  // blank, got no hint: a helper's finding; a no-break space neither).
  explicit CaselessMatch(std::string_view asked) : asked_(Caseless(TrimUnicodeBlanks(asked))) {}
  bool operator()(std::string_view text) {
    auto it = answers_.find(text);
    if (it == answers_.end()) {
      const std::optional<std::string> folded = asked_ ? Caseless(text) : std::nullopt;
      it = answers_.emplace(std::string(text), folded && *folded == *asked_).first;
    }
    return it->second;
  }

 private:
  std::optional<std::string> asked_;
  std::map<std::string, bool, std::less<>> answers_;
};

// Whether a dossier was transferred to `unit` (its current_unit: the receiving unit of its
// latest transfer, which alerts name as agency_code) in the partitions this instance handles:
// the unit as the state spells it, matched as sent or else but for case (Caseless)
// (a QA trial asked for `unit-t`, and got no hint that UNIT-T held transferred dossiers);
// nullopt if none. Asked for a 404's message only: a scan that stops at the first exact match
// (at worst a full one, as every /api/v1/overdue request makes). A failed scan only loses the
// hint. The unit is compared as text: it was first looked up as an interned code (Code::Find),
// but a process interns a stored dossier's codes only as it reads the dossier, so after a
// restart the hint was gone (an operator's trial).
std::optional<std::string> TransferredToUnit(const ApiContext& ctx, std::string_view unit) {
  if (unit.empty() || ctx.store == nullptr) return std::nullopt;
  const std::optional<std::set<PartitionId>> owned =
      ctx.owned_partitions ? std::optional(ctx.owned_partitions()) : std::nullopt;
  std::optional<std::string> found;
  CaselessMatch same(unit);
  const Status s = ctx.store->ForEachDossier([&](const DossierState& d) {
    if (d.current_unit == d.agency_code || !same(d.current_unit)) return true;
    if (owned && !owned->contains(d.partition)) return true;
    found = std::string(d.current_unit);
    return d.current_unit != unit;  // an exact match ends the scan
  });
  return s ? found : std::nullopt;
}

// A 404 for a ?department= that no dossier in the state has (an agency code is matched as
// sent, case and all: `isd` for ISD listed nothing, and an answer of 200 with total 0 read as
// "all clear"), nullopt for a department the state knows, or none asked. Known: the
// departments of the aggregate rows, i.e. of every dossier received in the partitions this
// instance holds, in `rows` (a snapshot the caller may go on to read). The filter matches the
// department that received a dossier, not the unit holding it after a transfer (alerts name
// the latter as agency_code): the message says so, and names a unit that holds transferred
// dossiers as such (a QA trial read the 404 for one as "no such unit").
std::optional<HttpResponse> UnknownDepartment(const ApiContext& ctx,
                                              const aggregate::AggregateTable::Rows& rows,
                                              const std::optional<std::string>& department,
                                              bool group = false) {
  if (!department) return std::nullopt;
  for (const auto& [key, counters] : rows) {
    if (key.agency_code == *department) return std::nullopt;
  }
  std::optional<std::string> other_case;
  CaselessMatch same(*department);
  for (const auto& [key, counters] : rows) {
    if (same(key.agency_code)) {
      other_case = key.agency_code;
      break;
    }
  }
  std::string message =
      "unknown department '" + *department +
      "': ?department= matches the department that received a dossier (the "
      "agency_code of its receipt), and no dossier in " +
      std::string(group ? "the consumer group's partitions (every instance of http.peers "
                          "answered)"
                        : "the partitions this instance handles") +
      " was received by it";
  if (const std::optional<std::string> unit = TransferredToUnit(ctx, *department)) {
    message += "; '" + *unit +
               "' holds dossiers transferred to it (their current_unit, the agency_code of "
               "their alerts), which are listed under the department that received them (none "
               "for a dossier whose receipt has not arrived)";
    if (*unit != *department) message += "; department codes are matched exactly";
  }
  if (other_case) {
    // What differs: the spaces around it (and maybe case), the Unicode form alone (a name
    // typed decomposed, NFD: the hint said "case-sensitive" and suggested what looked like the
    // name asked: a helper's finding), or case.
    const std::optional<std::string> composed = Composed(TrimBlanks(*department));
    if (TrimBlanks(*department) != *department) {
      message += "; department codes are matched exactly, without spaces around them: ";
    } else if (TrimUnicodeBlanks(*department) != *department) {
      // Invisible in the message's quotes: named.
      message +=
          "; department codes are matched exactly, without blanks around them, and this one "
          "has an invisible one around it (a no-break space U+00A0 or another Unicode space, "
          "or a zero-width character): ";
    } else if (composed && *composed == *other_case) {
      message +=
          "; department codes are matched exactly, byte for byte: this one is written with "
          "decomposed accents (Unicode NFD), the department's with composed ones (NFC): ";
    } else {
      message += "; department codes are case-sensitive: ";
    }
    message += "did you mean '" + *other_case + "'?";
  }
  return JsonErrorResponse(404, message);
}
std::optional<HttpResponse> UnknownDepartment(const ApiContext& ctx,
                                              const std::optional<std::string>& department,
                                              bool group = false) {
  if (!department || ctx.aggregates == nullptr) return std::nullopt;
  return UnknownDepartment(ctx, ctx.aggregates->Snapshot(), department, group);
}

// The instants one request judges dossiers' open state at: the wall clock (read once), or
// each partition's watermark when timers run on event time (read once per partition).
DossierClocks RequestClocks(const ApiContext& ctx) {
  return DossierClocks(*ctx.store, ctx.watermark_clock, WallClockNow());
}

// ApiContext::held_partitions, or none.
std::set<PartitionId> Held(const ApiContext& ctx) {
  return ctx.held_partitions ? ctx.held_partitions() : std::set<PartitionId>{};
}

// 503 while the instance does not serve yet (ApiContext::serving), else nullopt.
std::optional<HttpResponse> NotServing(const ApiContext& ctx) {
  if (!ctx.serving || ctx.serving()) return std::nullopt;
  return JsonErrorResponse(503,
                           "not serving yet: the consumer group has not assigned this instance "
                           "its partitions since it started (GET /readyz says when); ask again "
                           "shortly");
}

// ?partitions=0,3,5 (a peer's request, see api.h): the partitions the answer is limited to;
// nullopt when absent, an error for anything but distinct partition numbers.
Result<std::optional<std::set<PartitionId>>> QueryPartitions(const HttpRequest& req) {
  auto it = req.query.find("partitions");
  if (it == req.query.end()) return std::optional<std::set<PartitionId>>();
  std::set<PartitionId> out;
  std::string_view rest = it->second;
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    int32_t v = 0;
    const auto r = std::from_chars(item.data(), item.data() + item.size(), v);
    if (item.empty() || r.ec != std::errc() || r.ptr != item.data() + item.size() || v < 0 ||
        !out.insert(PartitionId(v)).second) {
      return InvalidArgument("partitions: expected distinct partition numbers separated by ','");
    }
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
    if (rest.empty()) {
      return InvalidArgument("partitions: expected distinct partition numbers separated by ','");
    }
  }
  return std::optional(std::move(out));
}

// The partitions an answer shows: those this instance handles (nullopt: every one, where it
// handles all: `serve` of a replay), within `only` when given.
std::optional<std::set<PartitionId>> Shown(const ApiContext& ctx,
                                           const std::optional<std::set<PartitionId>>& only) {
  if (!ctx.owned_partitions) return only;
  std::set<PartitionId> owned = ctx.owned_partitions();
  if (!only) return owned;
  std::set<PartitionId> both;
  std::set_intersection(owned.begin(), owned.end(), only->begin(), only->end(),
                        std::inserter(both, both.end()));
  return both;
}

// Whether an answer for `shown` (nullopt: every partition) shows one held through an outage.
bool AnyHeld(const ApiContext& ctx, const std::optional<std::set<PartitionId>>& shown) {
  const std::set<PartitionId> held = Held(ctx);
  return std::any_of(held.begin(), held.end(),
                     [&](PartitionId p) { return !shown || shown->contains(p); });
}

nlohmann::ordered_json PartitionArray(const std::set<PartitionId>& partitions) {
  nlohmann::ordered_json a = nlohmann::ordered_json::array();
  for (const PartitionId p : partitions) a.push_back(p.value());
  return a;
}

// GET /api/v1/dossiers/{id} as this instance answers it, showing the dossiers of the
// partitions `shown` (Shown: those it handles, within a peer's request; nullopt: every one).
HttpResponse DossierAnswer(const ApiContext& ctx, const std::string& id,
                           const std::optional<std::set<PartitionId>>& shown) {
  auto state = ctx.store->GetDossier(id);
  if (!state) return JsonErrorResponse(500, state.error().message);
  if (!*state) {
    if (shown && ctx.key_partitions > 0) {
      const PartitionId home(Pipeline::HashPartition(id, ctx.key_partitions));
      if (!shown->contains(home)) {
        return JsonErrorResponse(
            404, "no dossier " + id + " on this instance: its id belongs to partition " +
                     std::to_string(home.value()) +
                     ", which this instance does not handle now (another instance of the "
                     "consumer group does, or partitions are not assigned yet): ask that one");
      }
    }
    return JsonErrorResponse(404, "no dossier " + id);
  }
  if (shown && !shown->contains((*state)->partition)) {
    return JsonErrorResponse(404, "dossier " + id + " is in partition " +
                                      std::to_string((*state)->partition.value()) +
                                      ", which this instance does not handle now (another "
                                      "instance of the consumer group does, or partitions "
                                      "are not assigned yet): ask that one");
  }
  const auto loaded = ctx.rules ? ctx.rules() : nullptr;
  nlohmann::ordered_json body =
      DossierJson(**state, RequestClocks(ctx).For(**state), loaded ? &loaded->calendar : nullptr);
  body["stale"] = Held(ctx).contains((*state)->partition);
  return Json(body);
}

// GET /api/v1/overdue as this instance answers it (the request's parameters checked), for the
// partitions `only` (nullopt: those it handles). With `only` (a peer's request), a department
// no dossier here has is not a 404 but an empty answer with "department_known": false (another
// instance may know it), and "partitions" lists the partitions answered for.
HttpResponse OverdueAnswer(const ApiContext& ctx, size_t limit,
                           const std::optional<std::string>& department,
                           const std::optional<std::string>& after,
                           const std::optional<std::set<PartitionId>>& only) {
  bool department_known = true;
  if (auto unknown = UnknownDepartment(ctx, department)) {
    if (!only) return *unknown;
    department_known = false;
  }
  DossierClocks clocks = RequestClocks(ctx);
  const auto loaded = ctx.rules ? ctx.rules() : nullptr;
  const rules::BusinessCalendar* calendar = loaded ? &loaded->calendar : nullptr;
  const std::optional<std::set<PartitionId>> shown = Shown(ctx, only);
  nlohmann::ordered_json items = nlohmann::ordered_json::array();
  size_t total = 0;
  bool more = false;  // items after the page
  std::string last;   // the id of the page's last item
  // A full scan: fine for a worklist screen on a province's open dossiers; an index of
  // overdue dossiers is the next step if it ever shows in latency.
  // Overdue as the KPIs and metrics count it: open and its breach timer fired (by the
  // wall clock or the watermark, as configured), or, under the kpi766 policy, more than one
  // supplement request. Under kpi766 a dossier waiting on the applicant counts as finished
  // (Decision 766, domain.md §1.3): not listed, as it is not counted open.
  Status s = department_known ? ctx.store->ForEachDossier([&](const DossierState& d) {
    if (!rules::IsOpen(d) || !d.due_at || !(d.breach_fired || d.overdue_by_supplements) ||
        d.kpi766_finished_at_request) {
      return true;  // (as the metrics: without a due time, "no deadline")
    }
    if (department && d.agency_code != *department) return true;
    if (shown && !shown->contains(d.partition)) return true;  // another instance's now
    ++total;
    // As views: comparing the state's boost::container::string with a std::string builds a
    // temporary copy of one of them (a heap block per dossier listed).
    if (after && std::string_view(d.dossier_id) <= std::string_view(*after)) return true;
    if (items.size() == limit) {
      more = true;
      return true;  // `total` counts on
    }
    items.push_back(DossierJson(d, clocks.For(d), calendar));
    last.assign(d.dossier_id.data(), d.dossier_id.size());
    return true;
  })
                              : Status{};
  if (!s) return JsonErrorResponse(500, s.error().message);
  // `as_of` is when the list was made; `clock` says what its items were judged by (with
  // "watermark", each dossier's partition's watermark, not as_of).
  nlohmann::ordered_json body = {{"as_of", FormatRfc3339Utc(clocks.now())},
                                 {"clock", ctx.watermark_clock ? "watermark" : "wall"},
                                 {"stale", AnyHeld(ctx, shown)},
                                 {"total", total},
                                 {"items", std::move(items)}};
  body["next_after"] = more ? nlohmann::ordered_json(last) : nlohmann::ordered_json(nullptr);
  if (only) {
    body["department_known"] = department_known;
    body["partitions"] = PartitionArray(shown ? *shown : *only);
  }
  return Json(body);
}

// GET /api/v1/kpis as this instance answers it, for the partitions `only` (nullopt: those it
// handles; its aggregate table holds no other). With `only`, as OverdueAnswer.
HttpResponse KpisAnswer(const ApiContext& ctx, const std::optional<std::string>& department,
                        const std::optional<std::set<PartitionId>>& only) {
  // One snapshot for the check and the answer: a department is known by the rows it is in.
  aggregate::AggregateTable::Rows snapshot = ctx.aggregates->Snapshot();
  const std::optional<std::set<PartitionId>> shown = Shown(ctx, only);
  if (only) {
    std::erase_if(snapshot, [&](const auto& row) { return !shown->contains(row.first.partition); });
  }
  bool department_known = true;
  if (auto unknown = UnknownDepartment(ctx, snapshot, department)) {
    if (!only) return *unknown;
    department_known = false;
  }
  const auto rows = aggregate::AggregateTable::FoldPartitions(snapshot);
  nlohmann::ordered_json departments = nlohmann::ordered_json::object();
  AggregateCounters total;
  for (const auto& [name, c] : PerDepartment(rows)) {
    if (department && name != *department) continue;
    departments[name] = KpisJson(aggregate::ComputeKpis(c));
    total += c;
  }
  nlohmann::ordered_json j;
  j["indicator"] = "Decision 766/QĐ-TTg 2.1: records processed early or on time";
  j["stale"] = AnyHeld(ctx, shown);
  j["total"] = KpisJson(aggregate::ComputeKpis(total));
  j["departments"] = std::move(departments);
  if (only) {
    j["department_known"] = department_known;
    j["partitions"] = PartitionArray(*shown);
  }
  return Json(j);
}

// The consumer group's instances as a request sees them (api.h): who handles which partition.
struct Member {
  std::optional<HttpAuthority> peer;  // nullopt: this instance
  size_t peer_index = 0;              // of `peer` in ApiContext::peers
  std::string name;                   // "host:port" of a peer
  std::set<PartitionId> partitions;   // handled now
  std::set<PartitionId> stale;        // among them, held through a Kafka outage
};
struct Placement {
  std::vector<Member> members;                  // [0]: this instance
  std::vector<std::set<PartitionId>> assigned;  // by member: the partitions it answers for
  std::set<PartitionId> missing;                // no instance answered for them
  nlohmann::ordered_json failed = nlohmann::ordered_json::array();
  size_t answered = 0;
  void Fail(const std::string& peer, const std::string& error) {
    failed.push_back({{"peer", peer}, {"error", error}});
  }
};

std::set<PartitionId> PartitionSet(const nlohmann::ordered_json& array) {
  std::set<PartitionId> out;
  if (!array.is_array()) return out;
  for (const auto& v : array) {
    if (v.is_number_integer()) out.insert(PartitionId(v.get<int32_t>()));
  }
  return out;
}

// Why a peer's answer is not one: its JSON "error", else its status, else the fetch's error.
std::string FetchError(const HttpFetch& f) {
  if (f.status == 0) return f.error;
  const auto j = nlohmann::ordered_json::parse(f.body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_string()) {
    return "HTTP " + std::to_string(f.status) + ": " + j["error"].get<std::string>();
  }
  return "HTTP " + std::to_string(f.status);
}

void CountPeerRequest(const ApiContext& ctx, size_t peer, bool ok) {
  if (ctx.count_peer_request) ctx.count_peer_request(peer, ok);
}

// Whether `a` is an array of partition numbers of a topic of `partitions` (a peer's answer).
bool PartitionArrayOf(const nlohmann::ordered_json& a, int64_t partitions) {
  return a.is_array() && std::all_of(a.begin(), a.end(), [&](const auto& v) {
           return v.is_number_integer() && v.template get<int64_t>() >= 0 &&
                  v.template get<int64_t>() < partitions;
         });
}

// Whether `j` is an answer of /api/v1/peer/partitions, its members of their types: a server
// that is not iocstream (or a newer one) is a failed peer, not a 500 of the merge (a helper's
// fake peer).
bool PartitionsWellFormed(const nlohmann::ordered_json& j) {
  if (!j.is_object()) return false;
  for (const char* key : {"instance", "group", "events_topic"}) {
    if (!j.contains(key) || !j[key].is_string()) return false;
  }
  if (!j.contains("key_partitions") || !j["key_partitions"].is_number_integer()) return false;
  const auto partitions = j["key_partitions"].get<int64_t>();
  return j.contains("partitions") && PartitionArrayOf(j["partitions"], partitions) &&
         j.contains("stale") && PartitionArrayOf(j["stale"], partitions);
}

// Asks the peers which partitions they handle and gives each partition to one instance: this
// one first, then the peers in their order; one that holds it through an outage (stale) only
// when none other handles it.
Placement PlacePartitions(const ApiContext& ctx) {
  Placement p;
  Member self;
  self.stale = Held(ctx);
  if (ctx.owned_partitions) {
    self.partitions = ctx.owned_partitions();
  } else {
    for (int32_t q = 0; q < ctx.key_partitions; ++q) self.partitions.insert(PartitionId(q));
  }
  p.members.push_back(std::move(self));
  std::vector<HttpGetRequest> asks;
  for (const HttpAuthority& peer : ctx.peers) asks.push_back({peer, "/api/v1/peer/partitions"});
  const std::vector<HttpFetch> got = HttpGetAll(asks, ctx.peer_timeout);
  std::set<std::string> instances = {ctx.instance};
  for (size_t i = 0; i < got.size(); ++i) {
    const std::string name = HostPort(ctx.peers[i].host, ctx.peers[i].port);
    const auto j = got[i].status == 200 ? nlohmann::ordered_json::parse(got[i].body, nullptr, false)
                                        : nlohmann::ordered_json();
    const bool answered = PartitionsWellFormed(j);
    CountPeerRequest(ctx, i, answered);
    if (got[i].status != 200) {
      p.Fail(name, FetchError(got[i]));
      continue;
    }
    if (!answered) {
      p.Fail(name, "not an answer of iocstream's GET /api/v1/peer/partitions");
      continue;
    }
    // This instance itself under another name, or a peer listed twice: asked once.
    if (!instances.insert(j["instance"].get<std::string>()).second) continue;
    // Another group's instance (another stream, maybe of as many partitions) would add its
    // dossiers to this group's answers (a helper's trial merged 14,197 received for 2,932).
    const auto group = j["group"].get<std::string>();
    const auto topic = j["events_topic"].get<std::string>();
    if (group != ctx.group_id || topic != ctx.events_topic) {
      p.Fail(name, "an instance of group '" + group + "' on topic '" + topic +
                       "', not of this group '" + ctx.group_id + "' on '" + ctx.events_topic + "'");
      continue;
    }
    if (j["key_partitions"].get<int64_t>() != ctx.key_partitions) {
      p.Fail(name, "its events topic has " + std::to_string(j["key_partitions"].get<int64_t>()) +
                       " partitions, this instance's " + std::to_string(ctx.key_partitions) +
                       ": not the same consumer group's");
      continue;
    }
    p.members.push_back(
        {ctx.peers[i], i, name, PartitionSet(j["partitions"]), PartitionSet(j["stale"])});
  }
  p.assigned.resize(p.members.size());
  for (int32_t q = 0; q < ctx.key_partitions; ++q) {
    const PartitionId part(q);
    std::optional<size_t> chosen;
    for (size_t k = 0; k < p.members.size() && !chosen; ++k) {
      if (p.members[k].partitions.contains(part) && !p.members[k].stale.contains(part)) chosen = k;
    }
    for (size_t k = 0; k < p.members.size() && !chosen; ++k) {
      if (p.members[k].partitions.contains(part)) chosen = k;
    }
    if (chosen) {
      p.assigned[*chosen].insert(part);
    } else {
      p.missing.insert(part);
    }
  }
  return p;
}

// Whether `j` has the shape the merge reads of an answer to `path` (a server that is not
// iocstream, or another version, is a failed peer, not a 500 of the merge: a helper's trial).
bool WellFormed(const std::string& path, const nlohmann::ordered_json& j) {
  const auto has = [&](const char* key, auto&& test) { return j.contains(key) && test(j[key]); };
  const auto kpis = [](const nlohmann::ordered_json& k) { return KpisFromJson(k).has_value(); };
  if (!has("stale", [](const auto& v) { return v.is_boolean(); }) ||
      !has("partitions", [](const auto& v) { return PartitionArrayOf(v, INT32_MAX); }) ||
      (j.contains("department_known") && !j["department_known"].is_boolean())) {
    return false;
  }
  if (path.ends_with("/overdue")) {
    return has("total", [](const auto& v) { return v.is_number_unsigned(); }) &&
           has("next_after", [](const auto& v) { return v.is_null() || v.is_string(); }) &&
           has("items", [](const auto& v) {
             return v.is_array() && std::all_of(v.begin(), v.end(), [](const auto& item) {
                      return item.is_object() && item.contains("dossier_id") &&
                             item["dossier_id"].is_string();
                    });
           });
  }
  if (path.ends_with("/kpis")) {
    return has("total", kpis) && has("departments", [&](const auto& v) {
             return v.is_object() && std::all_of(v.begin(), v.end(), kpis);
           });
  }
  return true;
}

// Each member's answer for its assigned partitions: this instance's from `local`, the peers'
// from GET `path`?`params`&partitions=... (asked while `local` runs). A member that fails
// leaves its partitions missing; one that answers for fewer than asked (the group moved them
// in between) leaves those missing.
std::vector<nlohmann::ordered_json> AskMembers(
    Placement& p, const ApiContext& ctx, const std::string& path, const std::string& params,
    const std::function<HttpResponse(const std::set<PartitionId>&)>& local) {
  std::vector<HttpGetRequest> asks;
  std::vector<size_t> asked;
  for (size_t k = 1; k < p.members.size(); ++k) {
    if (p.assigned[k].empty()) continue;
    asks.push_back({*p.members[k].peer,
                    path + "?" + params + (params.empty() ? "" : "&") +
                        "partitions=" + PercentEncode(JoinPartitions(p.assigned[k], ","))});
    asked.push_back(k);
  }
  auto fetched =
      std::async(std::launch::async, [&asks, &ctx] { return HttpGetAll(asks, ctx.peer_timeout); });
  std::vector<nlohmann::ordered_json> out;
  const auto accept = [&](size_t k, const HttpFetch& f) {
    const std::string name = k == 0 ? std::string("this instance") : p.members[k].name;
    auto j = f.status == 200 ? nlohmann::ordered_json::parse(f.body, nullptr, false)
                             : nlohmann::ordered_json();
    const bool answered = f.status == 200 && j.is_object() && WellFormed(path, j);
    if (k > 0) CountPeerRequest(ctx, p.members[k].peer_index, answered);
    if (!answered) {
      p.Fail(name, f.status == 200 ? "not an answer of iocstream's " + path : FetchError(f));
      p.missing.insert(p.assigned[k].begin(), p.assigned[k].end());
      return;
    }
    // Answered for partitions it was not asked (a misbehaving peer): its counts would be
    // other partitions' or counted twice.
    const std::set<PartitionId> served = PartitionSet(j["partitions"]);
    if (!std::includes(p.assigned[k].begin(), p.assigned[k].end(), served.begin(), served.end())) {
      p.Fail(name, "answered for partitions it was not asked for");
      p.missing.insert(p.assigned[k].begin(), p.assigned[k].end());
      return;
    }
    for (const PartitionId q : p.assigned[k]) {
      if (!served.contains(q)) p.missing.insert(q);
    }
    ++p.answered;
    out.push_back(std::move(j));
  };
  if (!p.assigned[0].empty()) {
    HttpResponse r = local(p.assigned[0]);
    accept(0, HttpFetch{r.status, std::move(r.body), {}});
  }
  const std::vector<HttpFetch> got = fetched.get();
  for (size_t i = 0; i < got.size(); ++i) accept(asked[i], got[i]);
  return out;
}

nlohmann::ordered_json ClusterJson(const Placement& p) {
  return {{"instances_answered", p.answered},
          {"partitions_missing", PartitionArray(p.missing)},
          {"peers_failed", p.failed}};
}

// A merged answer's 503 when no instance answered for any partition.
HttpResponse NoneAnswered(const Placement& p) {
  nlohmann::ordered_json j = {
      {"error", "no instance answered for any partition (see cluster.peers_failed)"},
      {"cluster", ClusterJson(p)}};
  return Json(j, 503);
}

// Whether an answer knows the request's department (a peer's answer says; without a
// department, every one does).
bool KnowsDepartment(const nlohmann::ordered_json& answer) {
  return answer.value("department_known", true);
}

HttpResponse OverdueGathered(const ApiContext& ctx, size_t limit,
                             const std::optional<std::string>& department,
                             const std::optional<std::string>& after) {
  Placement p = PlacePartitions(ctx);
  std::string params = "limit=" + std::to_string(limit);
  if (department) params += "&department=" + PercentEncode(*department);
  if (after) params += "&after=" + PercentEncode(*after);
  std::vector<nlohmann::ordered_json> answers =
      AskMembers(p, ctx, "/api/v1/peer/overdue", params, [&](const std::set<PartitionId>& only) {
        return OverdueAnswer(ctx, limit, department, after, only);
      });
  if (answers.empty()) return NoneAnswered(p);
  // Unknown only if every partition answered: it may be a missing one's (a helper's trial).
  if (department && p.missing.empty() &&
      std::none_of(answers.begin(), answers.end(), KnowsDepartment)) {
    if (auto unknown = UnknownDepartment(ctx, department, /*group=*/true)) return *unknown;
  }
  // Each answer holds the first `limit` items of its partitions after `after`, in id order:
  // the first `limit` of them all are the page's.
  std::vector<nlohmann::ordered_json> items;
  uint64_t total = 0;
  bool more = false;
  bool stale = false;
  for (nlohmann::ordered_json& a : answers) {
    for (nlohmann::ordered_json& item : a["items"]) items.push_back(std::move(item));
    total += a.value("total", uint64_t{0});
    more = more || !a["next_after"].is_null();
    stale = stale || a.value("stale", false);
  }
  const auto id_of = [](const nlohmann::ordered_json& item) {
    return item.value("dossier_id", std::string());
  };
  std::sort(items.begin(), items.end(),
            [&](const auto& a, const auto& b) { return id_of(a) < id_of(b); });
  if (items.size() > limit) {
    more = true;
    items.resize(limit);
  }
  nlohmann::ordered_json page = nlohmann::ordered_json::array();
  for (nlohmann::ordered_json& item : items) page.push_back(std::move(item));
  const std::string last = page.empty() ? std::string() : id_of(page.back());
  nlohmann::ordered_json body = {{"as_of", FormatRfc3339Utc(RequestClocks(ctx).now())},
                                 {"clock", ctx.watermark_clock ? "watermark" : "wall"},
                                 {"stale", stale},
                                 {"total", total},
                                 {"items", std::move(page)}};
  body["next_after"] =
      more && !last.empty() ? nlohmann::ordered_json(last) : nlohmann::ordered_json(nullptr);
  body["cluster"] = ClusterJson(p);
  return Json(body);
}

HttpResponse KpisGathered(const ApiContext& ctx, const std::optional<std::string>& department) {
  Placement p = PlacePartitions(ctx);
  const std::string params = department ? "department=" + PercentEncode(*department) : "";
  const std::vector<nlohmann::ordered_json> answers = AskMembers(
      p, ctx, "/api/v1/peer/kpis", params,
      [&](const std::set<PartitionId>& only) { return KpisAnswer(ctx, department, only); });
  if (answers.empty()) return NoneAnswered(p);
  // Unknown only if every partition answered: it may be a missing one's (a helper's trial).
  if (department && p.missing.empty() &&
      std::none_of(answers.begin(), answers.end(), KnowsDepartment)) {
    if (auto unknown = UnknownDepartment(ctx, department, /*group=*/true)) return *unknown;
  }
  std::map<std::string, aggregate::Kpis> departments;
  aggregate::Kpis total;
  bool stale = false;
  for (const nlohmann::ordered_json& a : answers) {
    // WellFormed: every count there.
    for (const auto& [name, k] : a["departments"].items()) departments[name] += *KpisFromJson(k);
    total += *KpisFromJson(a["total"]);
    stale = stale || a.value("stale", false);
  }
  nlohmann::ordered_json by_department = nlohmann::ordered_json::object();
  for (auto& [name, k] : departments) {
    aggregate::ComputeKpiRates(k);
    by_department[name] = KpisJson(k);
  }
  aggregate::ComputeKpiRates(total);
  nlohmann::ordered_json j;
  j["indicator"] = "Decision 766/QĐ-TTg 2.1: records processed early or on time";
  j["stale"] = stale;
  j["total"] = KpisJson(total);
  j["departments"] = std::move(by_department);
  j["cluster"] = ClusterJson(p);
  return Json(j);
}

// A dossier this instance does not handle: asked of the instance that handles its partition.
HttpResponse DossierGathered(const ApiContext& ctx, const std::string& id, PartitionId home) {
  Placement p = PlacePartitions(ctx);
  size_t owner = 0;
  while (owner < p.members.size() && !p.assigned[owner].contains(home)) ++owner;
  if (owner == p.members.size()) {
    nlohmann::ordered_json j = {
        {"error", "dossier " + id + " belongs to partition " + std::to_string(home.value()) +
                      ", which no instance that answered handles now (see "
                      "cluster.peers_failed; partitions may not be assigned yet)"},
        {"cluster", ClusterJson(p)}};
    return Json(j, 503);
  }
  if (owner == 0) return DossierAnswer(ctx, id, Shown(ctx, std::nullopt));  // given meanwhile
  const std::vector<HttpGetRequest> ask = {
      {*p.members[owner].peer, "/api/v1/peer/dossiers/" + PercentEncode(id) +
                                   "?partitions=" + std::to_string(home.value())}};
  const std::vector<HttpFetch> got = HttpGetAll(ask, ctx.peer_timeout);
  // Its dossier's JSON, or a JSON error: anything else is a failed peer (a helper's fake peer
  // had its HTML page passed on as JSON).
  const auto j = nlohmann::ordered_json::parse(got[0].body, nullptr, false);
  const bool answered =
      j.is_object() && ((got[0].status == 200 && j.contains("dossier_id") &&
                         j["dossier_id"].is_string() && j["dossier_id"].get<std::string>() == id) ||
                        (got[0].status == 404 && j.contains("error") && j["error"].is_string()));
  CountPeerRequest(ctx, p.members[owner].peer_index, answered);
  if (answered) {
    HttpResponse r;
    r.status = got[0].status;
    r.body = got[0].body;
    return r;
  }
  p.Fail(p.members[owner].name, got[0].status == 200 || got[0].status == 404
                                    ? "not an answer of iocstream's /api/v1/peer/dossiers/"
                                    : FetchError(got[0]));
  nlohmann::ordered_json failed = {
      {"error", "dossier " + id + " belongs to partition " + std::to_string(home.value()) +
                    ", handled by " + p.members[owner].name + ", which did not answer"},
      {"cluster", ClusterJson(p)}};
  return Json(failed, 503);
}

// The peers' own requests (/api/v1/peer/...) name the partitions to answer for; the public
// ones take no such parameter. Either way, the partitions asked (nullopt: public), or the
// 400 of a bad or missing list.
Result<std::optional<std::set<PartitionId>>> RequestPartitions(const HttpRequest& req, bool peer) {
  if (!peer) return std::optional<std::set<PartitionId>>();
  auto only = QueryPartitions(req);
  if (!only) return only.error();
  if (!*only || (*only)->empty()) {
    return InvalidArgument("partitions: a peer's request names the partitions it asks for");
  }
  return only;
}

HttpResponse ServeDossier(const ApiContext& ctx, const HttpRequest& req, const std::string& prefix,
                          bool peer) {
  if (auto unknown =
          peer ? UnknownQueryParameter(req, {"partitions"}) : UnknownQueryParameter(req, {})) {
    return *unknown;
  }
  if (auto not_serving = NotServing(ctx)) return *not_serving;
  const auto only = RequestPartitions(req, peer);
  if (!only) return JsonErrorResponse(400, only.error().message);
  const std::string id = req.path.substr(prefix.size());
  if (id.empty()) return JsonErrorResponse(400, "missing dossier id");
  // No dossier has a longer id (the decoder dead-letters its events): said without echoing
  // the id, which may be anything up to the request line's limit.
  if (id.size() > kMaxIdBytes) {
    return JsonErrorResponse(400, "dossier id of " + std::to_string(id.size()) +
                                      " bytes: dossier ids are at most " +
                                      std::to_string(kMaxIdBytes) + " bytes");
  }
  // The partitions handled, asked once: the answer here and the choice to ask a peer see
  // the same assignment.
  const std::optional<std::set<PartitionId>> shown = Shown(ctx, *only);
  HttpResponse here = DossierAnswer(ctx, id, shown);
  // Another instance's partition (its id's, where a running instance's dossiers are): asked
  // of that instance, when peers are known (a peer's request is never passed on).
  if (here.status == 404 && !peer && !ctx.peers.empty() && ctx.key_partitions > 0) {
    const PartitionId home(Pipeline::HashPartition(id, ctx.key_partitions));
    if (shown && !shown->contains(home)) return DossierGathered(ctx, id, home);
  }
  return here;
}

HttpResponse ServeOverdue(const ApiContext& ctx, const HttpRequest& req, bool peer) {
  if (auto unknown =
          peer ? UnknownQueryParameter(req, {"department", "limit", "after", "partitions"})
               : UnknownQueryParameter(req, {"department", "limit", "after"})) {
    return *unknown;
  }
  if (auto not_serving = NotServing(ctx)) return *not_serving;
  const auto limit_or = QueryLimit(req, 100, 10000);
  if (!limit_or) return JsonErrorResponse(400, "limit: expected an integer from 1 to 10000");
  const size_t limit = *limit_or;
  const std::optional<std::string> department = DepartmentFilter(req);
  // ?after=<dossier id>: the page after that id (items come in dossier id order; a page
  // that leaves items out names the last one it holds in "next_after").
  const auto after_it = req.query.find("after");
  const std::optional<std::string> after =
      after_it != req.query.end() ? std::optional(after_it->second) : std::nullopt;
  if (after && after->empty()) {
    return JsonErrorResponse(400, "after: expected the dossier id that ended the last page");
  }
  const auto only = RequestPartitions(req, peer);
  if (!only) return JsonErrorResponse(400, only.error().message);
  if (!peer && !ctx.peers.empty() && ctx.key_partitions > 0) {
    return OverdueGathered(ctx, limit, department, after);
  }
  return OverdueAnswer(ctx, limit, department, after, *only);
}

HttpResponse ServeKpis(const ApiContext& ctx, const HttpRequest& req, bool peer) {
  if (auto unknown = peer ? UnknownQueryParameter(req, {"department", "partitions"})
                          : UnknownQueryParameter(req, {"department"})) {
    return *unknown;
  }
  if (auto not_serving = NotServing(ctx)) return *not_serving;
  // One department: the total is then that department's.
  const std::optional<std::string> department = DepartmentFilter(req);
  const auto only = RequestPartitions(req, peer);
  if (!only) return JsonErrorResponse(400, only.error().message);
  if (!peer && !ctx.peers.empty() && ctx.key_partitions > 0) {
    return KpisGathered(ctx, department);
  }
  return KpisAnswer(ctx, department, *only);
}

HttpResponse ServePartitions(const ApiContext& ctx, const HttpRequest& req) {
  if (auto unknown = UnknownQueryParameter(req, {})) return *unknown;
  if (auto not_serving = NotServing(ctx)) return *not_serving;
  std::set<PartitionId> handled;
  if (ctx.owned_partitions) {
    handled = ctx.owned_partitions();
  } else {
    for (int32_t q = 0; q < ctx.key_partitions; ++q) handled.insert(PartitionId(q));
  }
  nlohmann::ordered_json j = {{"instance", ctx.instance},
                              {"group", ctx.group_id},
                              {"events_topic", ctx.events_topic},
                              {"key_partitions", ctx.key_partitions},
                              {"partitions", PartitionArray(handled)},
                              {"stale", PartitionArray(Held(ctx))}};
  return Json(j);
}

}  // namespace

void RegisterApi(HttpServer& server, ApiContext ctx) {
  // Tells this instance's answers from its peers' (a peer list that names it too).
  std::random_device random;
  ctx.instance = fmt::format("{:08x}{:08x}", random(), random());
  if (!ctx.peers.empty() && ctx.metrics) {
    std::vector<std::string> names;
    for (const HttpAuthority& peer : ctx.peers) names.push_back(HostPort(peer.host, peer.port));
    auto counts = std::make_shared<PeerRequestMetrics>(std::move(names));
    ctx.metrics->RegisterCollectable(counts);
    ctx.count_peer_request = [counts](size_t peer, bool ok) { counts->Count(peer, ok); };
  }
  auto shared = std::make_shared<ApiContext>(std::move(ctx));
  // The probes and /metrics take no parameter either: Prometheus sends none unless a scrape
  // config adds `params:`, which would mean nothing here (refused: its scrapes fail, naming it).
  // Scrapes have a thread of their own: behind a queue of worklist scans they waited past
  // Prometheus' 10 s timeout, or were refused 503, and paged IocstreamDown (a QA finding).
  server.HandlePriority("GET", "/metrics", [shared](const HttpRequest& req) {
    if (auto unknown = UnknownQueryParameter(req, {})) return *unknown;
    HttpResponse r;
    r.content_type = std::string(kPrometheusTextContentType);
    r.body = shared->metrics->Serialize();
    return r;
  });
  // Probes are answered on the server's I/O thread, never queued behind slow requests.
  server.HandleQuick("GET", "/healthz", [](const HttpRequest& req) {
    if (auto unknown = UnknownQueryParameter(req, {})) return *unknown;
    return Json({{"status", "ok"}});
  });
  server.HandleQuick("GET", "/readyz", [shared](const HttpRequest& req) {
    if (auto unknown = UnknownQueryParameter(req, {})) return *unknown;
    const bool ready = !shared->ready || shared->ready();
    return Json({{"ready", ready}}, ready ? 200 : 503);
  });
  // The public routes, answered for the group when peers are known, and the peers' own
  // (/api/v1/peer/..., ?partitions= required), answered for this instance alone, on threads
  // of their own: a worker waiting for a peer never waits behind them (api.h).
  for (const bool peer : {false, true}) {
    const std::string base = peer ? "/api/v1/peer" : "/api/v1";
    auto route = [&](const std::string& path, HttpServer::Handler handler) {
      peer ? server.HandlePeer("GET", base + path, std::move(handler))
           : server.Handle("GET", base + path, std::move(handler));
    };
    const std::string dossiers = base + "/dossiers/";
    auto dossier = [shared, dossiers, peer](const HttpRequest& req) {
      return ServeDossier(*shared, req, dossiers, peer);
    };
    peer ? server.HandlePeerPrefix("GET", dossiers, dossier)
         : server.HandlePrefix("GET", dossiers, dossier);
    route("/overdue",
          [shared, peer](const HttpRequest& req) { return ServeOverdue(*shared, req, peer); });
    route("/kpis",
          [shared, peer](const HttpRequest& req) { return ServeKpis(*shared, req, peer); });
    route("/partitions",
          [shared](const HttpRequest& req) { return ServePartitions(*shared, req); });
  }
  auto reloading = std::make_shared<std::atomic<bool>>(false);
  server.Handle("POST", "/api/v1/admin/reload", [shared, reloading](const HttpRequest& req) {
    if (auto unknown = UnknownQueryParameter(req, {})) return *unknown;
    if (!shared->reload) return JsonErrorResponse(501, "reload is not available here");
    // One at a time: each waits on a server thread, and two held both (a /metrics scrape then
    // waited up to a minute).
    if (reloading->exchange(true)) {
      return JsonErrorResponse(409, "a reload is in progress; ask again when it has answered");
    }
    struct Done {
      std::atomic<bool>& flag;
      ~Done() { flag.store(false); }
    } done{*reloading};
    const std::optional<ReloadOutcome> outcome = shared->reload();
    if (!outcome) {
      return JsonErrorResponse(504,
                               "the reload did not finish in time; it still runs (see the "
                               "log and iocstream_rules_reloads_total)");
    }
    // A bad file is the caller's to fix (422); a failed recompute is the server's (500).
    const int status = !outcome->error ? 200 : outcome->fatal ? 500 : 422;
    return Json(ReloadOutcomeJson(*outcome), status);
  });
}

}  // namespace iocstream::app
