#!/usr/bin/env bash
# The benchmark suite in one command: builds the production preset (RocksDB in release mode,
# scripts/build-rocksdb.sh, about 20 minutes the first time), starts the local broker,
# fills a topic (and an NDJSON file) with the province simulator, then runs
#   e2e_bench      raw librdkafka consume vs source + decode vs `iocstream run` vs `replay`,
#                  same topic, same run
#   latency_bench  start-to-ready and deadline-to-alert p50/p99 with 1M open dossiers
#   memory_bench   10M dossiers in state: peak RSS, block cache, memtables
#   decode_bench, rules_bench, state_bench   (Google Benchmark micro benchmarks)
# and writes every figure as JSON under bench-results/ (printed as it goes). Benchmarks print
# figures; no test asserts a duration.
#
#   scripts/bench.sh                      the whole suite (30-40 minutes on 2 cores)
#   DOSSIERS=200000 MEMORY_DOSSIERS=1000000 scripts/bench.sh    a smaller run
#   SKIP="memory micro" scripts/bench.sh  leave parts out (e2e latency memory micro)
#   PRESET=release scripts/bench.sh      the same with Debian's RocksDB (built with assertions)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
dossiers=${DOSSIERS:-1000000}
memory_dossiers=${MEMORY_DOSSIERS:-10000000}
latency_dossiers=${LATENCY_DOSSIERS:-1000000}
skip=" ${SKIP:-} "
out=${OUT:-bench-results}
port=${KAFKA_PORT:-19092}
bootstrap=127.0.0.1:$port
work=.cache/bench
preset=${PRESET:-production}
build=build/$preset
bin=$build/src/app/iocstream
mkdir -p "$out" "$work"

./scripts/install-deps.sh
# The broker is stopped at the end unless it was up already (then it is someone's to keep).
if ! KAFKA_PORT=$port ./scripts/kafka.sh status >/dev/null 2>&1; then
  trap 'KAFKA_PORT=$port ./scripts/kafka.sh stop >/dev/null 2>&1 || true' EXIT
fi
KAFKA_PORT=$port ./scripts/kafka.sh start
[ "$preset" != production ] || ./scripts/build-rocksdb.sh >/dev/null
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j"$(nproc)"
echo "== $("$bin" --version)"

topic=bench-sim-$dossiers
ndjson=$work/sim-$dossiers.ndjson
config=$work/simulate-$dossiers.yaml
sed -e "s#^  bootstrap_servers: .*#  bootstrap_servers: $bootstrap#" \
  -e "s#^  events_topic: .*#  events_topic: $topic#" \
  -e "s#^  dir: ../state.*#  dir: $root/$work/sim-state#" \
  -e "s#calendars/#$root/config/calendars/#" -e "s#procedures/catalog#$root/config/procedures/catalog#" \
  config/iocstream.yaml >"$config"

if [[ $skip != *" e2e "* ]]; then
  # The cached stream (file and topic) is the simulator's output for these inputs: it is made
  # again when the simulator or its tables changed since.
  stamp=$(cat src/app/simulator.cc src/app/simulator.h config/simulator/*.csv \
    config/procedures/catalog.yaml config/calendars/*.yaml | sha256sum | cut -c1-16)
  if [ "$(cat "$work/stream-$dossiers.stamp" 2>/dev/null)" != "$stamp" ]; then
    rm -f "$ndjson" "$work/$topic.done"
    echo "$stamp" >"$work/stream-$dossiers.stamp"
  fi
  if [ ! -s "$ndjson" ]; then
    echo "== simulating $dossiers dossiers to $ndjson"
    $bin simulate --config "$config" --units config/simulator/phu-tho-units.csv \
      --procedure-pools config/simulator/procedure-pools.csv --dossiers "$dossiers" \
      --ndjson "$ndjson.tmp" --no-progress
    mv "$ndjson.tmp" "$ndjson"  # whole or absent: a stopped run leaves no partial stream
  fi
  if [ ! -f "$work/$topic.done" ]; then
    echo "== publishing the same stream to topic $topic"
    ./scripts/kafka.sh delete-topic "$topic" >/dev/null 2>&1 || true
    $bin simulate --config "$config" --units config/simulator/phu-tho-units.csv \
      --procedure-pools config/simulator/procedure-pools.csv --dossiers "$dossiers" \
      --topic "$topic" --no-progress
    touch "$work/$topic.done"
  fi
  echo "== e2e_bench"
  # The broker's pid: its CPU per event is measured beside iocstream's (same 2 cores).
  broker_pid=$(cat "${KAFKA_DIR:-.cache/kafka/run-$port}/pid" 2>/dev/null || echo 0)
  # The topic's log and the NDJSON file are read once first: this machine's kernel reclaims
  # page cache left unread for a while (DAMON), and a stage that read them from the disk
  # measured the disk (session 51: a cold file doubled the replay's reader CPU, 4.4 s for 2.1).
  cat "${KAFKA_DIR:-.cache/kafka/run-$port}/data/$topic"-[0-9]*/*.log "$ndjson" >/dev/null
  $build/benchmarks/e2e_bench --bootstrap "$bootstrap" --topic "$topic" \
    --ndjson "$ndjson" --json "$out/e2e.json" --broker-pid "$broker_pid"
fi
if [[ $skip != *" latency "* ]]; then
  echo "== latency_bench ($latency_dossiers open dossiers)"
  $build/benchmarks/latency_bench --bootstrap "$bootstrap" \
    --dossiers "$latency_dossiers" --json "$out/latency.json"
fi
if [[ $skip != *" memory "* ]]; then
  echo "== memory_bench ($memory_dossiers dossiers)"
  $build/benchmarks/memory_bench --dossiers "$memory_dossiers" --json "$out/memory.json"
fi
if [[ $skip != *" micro "* ]]; then
  for b in decode_bench rules_bench state_bench; do
    echo "== $b"
    $build/benchmarks/$b --benchmark_out="$out/$b.json" --benchmark_out_format=json
  done
fi
echo "== figures in $out/"
