// Decode throughput: EventDecoder::Decode on realistic dossier events, plus the encoders (dossier
// events, and the alert payloads the pipeline writes to its outbox) and the RFC 3339 helpers.
// items_per_second is events (alerts, timestamps) per second on one core; build with
// -DCMAKE_BUILD_TYPE=Release to get meaningful figures.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "iocstream/alert/outbox_message.h"
#include "iocstream/decode/event_decoder.h"
#include "iocstream/decode/event_encoder.h"
#include "iocstream/decode/rfc3339.h"

namespace iocstream {
namespace {

// A receipt as a provincial one-stop system would publish it (~350 bytes): local time with
// +07:00, a localised procedure code, a UUID event id.
constexpr char kRealisticEvent[] =
    R"({"schema_version":1,"event_id":"0f8fad5b-d9cb-469f-a165-70867728950e",)"
    R"("dossier_id":"000.00.12.H56-260210-0001","type":"received",)"
    R"("occurred_at":"2026-02-10T08:30:00.123+07:00","agency_code":"000.00.12.H56",)"
    R"("commune_code":"24121","procedure_code":"1.002835.000.00.00.H56","channel":"online",)"
    R"("online_level":"full","due_at":"2026-02-13T17:00:00+07:00"})";
constexpr char kRealisticKey[] = "000.00.12.H56-260210-0001";

// 4096 different events (ids, types, times, codes) so branch predictors cannot learn one input.
std::vector<std::pair<std::string, std::string>> VariedEvents() {
  static constexpr const char* kTypes[] = {
      "received",  "transferred",    "supplement_requested", "supplement_received",
      "completed", "result_returned"};
  std::vector<std::pair<std::string, std::string>> events;
  char buffer[768];
  for (int i = 0; i < 4096; ++i) {
    const char* type = kTypes[i % 6];
    const bool transferred = i % 6 == 1;
    char dossier[64];
    std::snprintf(dossier, sizeof(dossier), "000.00.%02d.H56-2602%02d-%04d", i % 40, 1 + i % 28, i);
    std::snprintf(buffer, sizeof(buffer),
                  R"({"schema_version":1,"event_id":"%08x-d9cb-469f-a165-%012x","dossier_id":"%s",)"
                  R"("type":"%s","occurred_at":"2026-02-%02dT%02d:%02d:%02d.%03d+07:00",)"
                  R"("agency_code":"000.00.%02d.H56","commune_code":"%05d",)"
                  R"("procedure_code":"1.00%04d.000.00.00.H56","channel":"%s","online_level":"%s",)"
                  R"("due_at":"2026-03-%02dT17:00:00+07:00"%s%s})",
                  i * 2654435761u, i, dossier, type, 1 + i % 28, 7 + i % 10, i % 60, (i * 7) % 60,
                  i % 1000, i % 40, 24000 + i % 102, i % 5000, i % 3 == 0 ? "in_person" : "online",
                  i % 2 == 0 ? "full" : "partial", 1 + i % 28,
                  transferred ? R"(,"to_agency_code":"000.00.15.H56")" : "",
                  transferred ? R"(,"step_due_at":"2026-02-11T17:00:00+07:00")" : "");
    events.emplace_back(buffer, dossier);
  }
  return events;
}

// Argument 0: JsonParsing::kOnDemandFirst (the default); 1: kDom (the DOM for every payload).
JsonParsing ParsingOf(const benchmark::State& state) {
  return state.range(0) == 0 ? JsonParsing::kOnDemandFirst : JsonParsing::kDom;
}

void BM_DecodeRealistic(benchmark::State& state) {
  EventDecoder decoder(ParsingOf(state));
  const std::string_view payload(kRealisticEvent);
  for (auto _ : state) {
    DecodeResult result = decoder.Decode(payload, kRealisticKey);
    if (!result.has_value()) state.SkipWithError(result.error().detail.c_str());
    benchmark::DoNotOptimize(result);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(payload.size()));
  state.counters["payload_bytes"] = static_cast<double>(payload.size());
}
BENCHMARK(BM_DecodeRealistic)->ArgName("dom")->Arg(0)->Arg(1);

void BM_DecodeVaried(benchmark::State& state) {
  const auto events = VariedEvents();
  EventDecoder decoder(ParsingOf(state));
  size_t i = 0;
  int64_t bytes = 0;
  for (auto _ : state) {
    const auto& [payload, key] = events[i++ & 4095];
    DecodeResult result = decoder.Decode(payload, key);
    if (!result.has_value()) state.SkipWithError(result.error().detail.c_str());
    benchmark::DoNotOptimize(result);
    bytes += static_cast<int64_t>(payload.size());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(bytes);
}
BENCHMARK(BM_DecodeVaried)->ArgName("dom")->Arg(0)->Arg(1);

// The dead-letter path: a bad timestamp is found after most of the work is done.
void BM_DecodeRejectedTimestamp(benchmark::State& state) {
  std::string payload(kRealisticEvent);
  payload.replace(payload.find("2026-02-10T08"), 10, "2026-02-30");
  EventDecoder decoder;
  for (auto _ : state) {
    DecodeResult result = decoder.Decode(payload, kRealisticKey);
    benchmark::DoNotOptimize(result);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodeRejectedTimestamp);

void BM_EncodeEvent(benchmark::State& state) {
  EventDecoder decoder;
  const DossierEvent event = decoder.Decode(kRealisticEvent, kRealisticKey).value();
  for (auto _ : state) {
    std::string payload = EncodeEvent(event);
    benchmark::DoNotOptimize(payload);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EncodeEvent);

void BM_ParseRfc3339(benchmark::State& state) {
  for (auto _ : state) {
    auto instant = ParseRfc3339("2026-02-10T08:30:00.123+07:00");
    benchmark::DoNotOptimize(instant);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseRfc3339);

void BM_FormatRfc3339Utc(benchmark::State& state) {
  const Instant instant = FromEpochMillis(1770687000123);
  for (auto _ : state) {
    std::string text = FormatRfc3339Utc(instant);
    benchmark::DoNotOptimize(text);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FormatRfc3339Utc);

// 1024 alerts as the rules raise them: 16-hex-digit ids, every kind and channel, a third of
// them for completed dossiers.
std::vector<AlertIntent> VariedAlerts() {
  std::vector<AlertIntent> alerts;
  char buffer[64];
  for (int i = 0; i < 1024; ++i) {
    AlertIntent a;
    std::snprintf(buffer, sizeof(buffer), "%016llx",
                  static_cast<unsigned long long>(i) * 0x9E3779B97F4A7C15ULL);
    a.alert_id = buffer;
    a.kind = static_cast<AlertKind>(i % 6);
    std::snprintf(buffer, sizeof(buffer), "000.00.%02d.H56-2602%02d-%04d", i % 40, 1 + i % 28, i);
    a.dossier_id = buffer;
    std::snprintf(buffer, sizeof(buffer), "000.00.%02d.H56", i % 40);
    a.agency_code = buffer;
    a.commune_code = i % 5 == 0 ? "" : std::to_string(24000 + i % 102);
    std::snprintf(buffer, sizeof(buffer), "1.00%04d.000.00.00.H56", i % 5000);
    a.procedure_code = buffer;
    a.channel = static_cast<Channel>(i % 4);
    a.due_at = FromEpochMillis(1771059600000 + int64_t{i} * 3'600'000);
    a.detected_at = a.due_at + Millis{i * 7};
    if (i % 3 == 0) a.completed_at = a.due_at + Millis{int64_t{i} * 60'000};
    alerts.push_back(std::move(a));
  }
  return alerts;
}

void BM_AlertToJson(benchmark::State& state) {
  const auto alerts = VariedAlerts();
  size_t i = 0;
  for (auto _ : state) {
    std::string payload = alert::AlertToJson(alerts[i++ & 1023]);
    benchmark::DoNotOptimize(payload);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AlertToJson);

// What Pipeline::QueueAlerts does per alert: the outbox entry's bytes from the AlertIntent.
void BM_AlertOutboxEntry(benchmark::State& state) {
  const auto alerts = VariedAlerts();
  size_t i = 0;
  for (auto _ : state) {
    std::string entry = alert::EncodeAlertOutbox(alerts[i++ & 1023]);
    benchmark::DoNotOptimize(entry);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AlertOutboxEntry);

// The message's encoding (format 1: AlertMessage, then EncodeOutboxMessage), which the
// pipeline stored per alert before EncodeAlertOutbox.
void BM_AlertOutboxEntryViaMessage(benchmark::State& state) {
  const auto alerts = VariedAlerts();
  size_t i = 0;
  for (auto _ : state) {
    std::string entry = alert::EncodeOutboxMessage(alert::AlertMessage(alerts[i++ & 1023]));
    benchmark::DoNotOptimize(entry);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AlertOutboxEntryViaMessage);

// What the outbox relay does per alert entry: the message (JSON value, headers) from it.
void BM_AlertOutboxDecode(benchmark::State& state) {
  const auto alerts = VariedAlerts();
  std::vector<std::string> entries;
  entries.reserve(alerts.size());
  for (const AlertIntent& a : alerts) entries.push_back(alert::EncodeAlertOutbox(a));
  size_t i = 0;
  for (auto _ : state) {
    auto message = alert::DecodeOutboxMessage(entries[i++ % entries.size()]);
    benchmark::DoNotOptimize(message);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AlertOutboxDecode);

}  // namespace
}  // namespace iocstream
