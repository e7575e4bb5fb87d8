#include "app/api.h"

#include <unicode/normalizer2.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <initializer_list>
#include <map>
#include <string_view>

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

// Whether texts are the same as `asked` but for case (and Unicode composition): see Caseless.
// Each text is folded once, however often it is asked about (a state holds few departments
// and units, in many rows and dossiers). For the hints of a 404 only.
class CaselessMatch {
 public:
  // `asked` without the spaces around it (`?department=%20ISD`, a name pasted with its
  // blank, got no hint: a helper's finding).
  explicit CaselessMatch(std::string_view asked) : asked_(Caseless(TrimBlanks(asked))) {}
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
                                              const std::optional<std::string>& department) {
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
      "agency_code of its receipt), and no dossier in the partitions this instance "
      "handles was received by it";
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
                                              const std::optional<std::string>& department) {
  if (!department || ctx.aggregates == nullptr) return std::nullopt;
  return UnknownDepartment(ctx, ctx.aggregates->Snapshot(), department);
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

}  // namespace

void RegisterApi(HttpServer& server, ApiContext ctx) {
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
  server.HandlePrefix("GET", "/api/v1/dossiers/", [shared](const HttpRequest& req) {
    if (auto unknown = UnknownQueryParameter(req, {})) return *unknown;
    if (auto not_serving = NotServing(*shared)) return *not_serving;
    const std::string id = req.path.substr(std::string_view("/api/v1/dossiers/").size());
    if (id.empty()) return JsonErrorResponse(400, "missing dossier id");
    // No dossier has a longer id (the decoder dead-letters its events): said without echoing
    // the id, which may be anything up to the request line's limit.
    if (id.size() > kMaxIdBytes) {
      return JsonErrorResponse(400, "dossier id of " + std::to_string(id.size()) +
                                        " bytes: dossier ids are at most " +
                                        std::to_string(kMaxIdBytes) + " bytes");
    }
    auto state = shared->store->GetDossier(id);
    if (!state) return JsonErrorResponse(500, state.error().message);
    if (!*state) {
      if (shared->owned_partitions && shared->key_partitions > 0) {
        const PartitionId home(Pipeline::HashPartition(id, shared->key_partitions));
        if (!shared->owned_partitions().contains(home)) {
          return JsonErrorResponse(
              404, "no dossier " + id + " on this instance: its id belongs to partition " +
                       std::to_string(home.value()) +
                       ", which this instance does not handle now (another instance of the "
                       "consumer group does, or partitions are not assigned yet): ask that one");
        }
      }
      return JsonErrorResponse(404, "no dossier " + id);
    }
    if (shared->owned_partitions && !shared->owned_partitions().contains((*state)->partition)) {
      return JsonErrorResponse(404, "dossier " + id + " is in partition " +
                                        std::to_string((*state)->partition.value()) +
                                        ", which this instance does not handle now (another "
                                        "instance of the consumer group does, or partitions "
                                        "are not assigned yet): ask that one");
    }
    const auto loaded = shared->rules ? shared->rules() : nullptr;
    nlohmann::ordered_json body = DossierJson(**state, RequestClocks(*shared).For(**state),
                                              loaded ? &loaded->calendar : nullptr);
    body["stale"] = Held(*shared).contains((*state)->partition);
    return Json(body);
  });
  server.Handle("GET", "/api/v1/overdue", [shared](const HttpRequest& req) {
    if (auto unknown = UnknownQueryParameter(req, {"department", "limit", "after"})) {
      return *unknown;
    }
    if (auto not_serving = NotServing(*shared)) return *not_serving;
    const auto limit_or = QueryLimit(req, 100, 10000);
    if (!limit_or) return JsonErrorResponse(400, "limit: expected an integer from 1 to 10000");
    const size_t limit = *limit_or;
    const std::optional<std::string> department = DepartmentFilter(req);
    if (auto unknown = UnknownDepartment(*shared, department)) return *unknown;
    // ?after=<dossier id>: the page after that id (items come in dossier id order; a page
    // that leaves items out names the last one it holds in "next_after").
    const auto after_it = req.query.find("after");
    const std::optional<std::string> after =
        after_it != req.query.end() ? std::optional(after_it->second) : std::nullopt;
    if (after && after->empty()) {
      return JsonErrorResponse(400, "after: expected the dossier id that ended the last page");
    }
    DossierClocks clocks = RequestClocks(*shared);
    const auto loaded = shared->rules ? shared->rules() : nullptr;
    const rules::BusinessCalendar* calendar = loaded ? &loaded->calendar : nullptr;
    const std::optional<std::set<PartitionId>> owned =
        shared->owned_partitions ? std::optional(shared->owned_partitions()) : std::nullopt;
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
    Status s = shared->store->ForEachDossier([&](const DossierState& d) {
      if (!rules::IsOpen(d) || !d.due_at || !(d.breach_fired || d.overdue_by_supplements) ||
          d.kpi766_finished_at_request) {
        return true;  // (as the metrics: without a due time, "no deadline")
      }
      if (department && d.agency_code != *department) return true;
      if (owned && !owned->contains(d.partition)) return true;  // another instance's now
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
    });
    if (!s) return JsonErrorResponse(500, s.error().message);
    // `as_of` is when the list was made; `clock` says what its items were judged by (with
    // "watermark", each dossier's partition's watermark, not as_of).
    nlohmann::ordered_json body = {{"as_of", FormatRfc3339Utc(clocks.now())},
                                   {"clock", shared->watermark_clock ? "watermark" : "wall"},
                                   {"stale", !Held(*shared).empty()},
                                   {"total", total},
                                   {"items", std::move(items)}};
    body["next_after"] = more ? nlohmann::ordered_json(last) : nlohmann::ordered_json(nullptr);
    return Json(body);
  });
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
  server.Handle("GET", "/api/v1/kpis", [shared](const HttpRequest& req) {
    if (auto unknown = UnknownQueryParameter(req, {"department"})) return *unknown;
    if (auto not_serving = NotServing(*shared)) return *not_serving;
    // One department: the total is then that department's.
    const std::optional<std::string> only = DepartmentFilter(req);
    // One snapshot for the check and the answer: a department is known by the rows it is in.
    const aggregate::AggregateTable::Rows snapshot = shared->aggregates->Snapshot();
    if (auto unknown = UnknownDepartment(*shared, snapshot, only)) return *unknown;
    const auto rows = aggregate::AggregateTable::FoldPartitions(snapshot);
    nlohmann::ordered_json departments = nlohmann::ordered_json::object();
    AggregateCounters total;
    for (const auto& [department, c] : PerDepartment(rows)) {
      if (only && department != *only) continue;
      departments[department] = KpisJson(aggregate::ComputeKpis(c));
      total += c;
    }
    nlohmann::ordered_json j;
    j["indicator"] = "Decision 766/QĐ-TTg 2.1: records processed early or on time";
    j["stale"] = !Held(*shared).empty();
    j["total"] = KpisJson(aggregate::ComputeKpis(total));
    j["departments"] = std::move(departments);
    return Json(j);
  });
}

}  // namespace iocstream::app
