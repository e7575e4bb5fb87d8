#!/usr/bin/env bash
# Instructions per event of `iocstream replay`, by thread, counted by valgrind's callgrind.
#
# Seconds on this machine vary by a fifth from run to run of one binary (the VM's neighbours),
# which hides any change worth less than that; the VM exposes no hardware counters. Callgrind
# counts the instructions each thread executes: the same binary on the same input gives the
# same counts whatever else the machine does, so two builds compare exactly (not their speed:
# a cache miss costs no instruction). It runs about 50 times slower than the program, so the
# input is a small simulated stream (150,000 dossiers, about 690,000 events, the e2e bench's
# shape: 90 days of submissions, 2% duplicates, 1% out of order).
#
#   scripts/bench-instructions.sh                 the production build (builds it)
#   BINARY=/path/to/iocstream scripts/bench-instructions.sh    another build (not rebuilt)
#   DOSSIERS=50000 scripts/bench-instructions.sh  a smaller stream
#   KEEP=DIR scripts/bench-instructions.sh        keep callgrind's files in DIR (one per thread;
#                                                 read them with callgrind_annotate)
#
# Exact from run to run: the pipeline (within 0.1%), the reader and the state writer. The
# RocksDB threads, the outbox relay and the main thread outside the pipeline vary by up to a
# tenth: what they do depends on when flushes, drains and waits happen.
#
# Prints instructions per event for each thread group, and the prefetch instructions of the
# binary's Pipeline::ProcessDecoded (with its lambdas: 0 is GCC having deleted them, see
# include/iocstream/core/prefetch.h), and writes them as JSON ($OUT/instructions.json, default
# bench-results/). Needs valgrind and objdump (scripts/install-deps.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
dossiers=${DOSSIERS:-150000}
out=${OUT:-bench-results}
work=.cache/bench
preset=${PRESET:-production}
mkdir -p "$out" "$work"
if [ -z "${BINARY:-}" ]; then
  ./scripts/install-deps.sh >/dev/null
  [ "$preset" != production ] || ./scripts/build-rocksdb.sh >/dev/null
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j"$(nproc)" >/dev/null
  BINARY=build/$preset/src/app/iocstream
fi
command -v valgrind >/dev/null || { echo "valgrind is missing: run scripts/install-deps.sh" >&2; exit 1; }

ndjson=$work/instructions-sim-$dossiers.ndjson
run=$(mktemp -d "${TMPDIR:-/tmp}/bench-instructions.XXXXXX")
trap 'rm -rf "$run"' EXIT
config=$run/iocstream.yaml
cat >"$config" <<EOF
state:
  dir: $run/state
  commit_interval_ms: 86400000  # commits by size only: a timed one would depend on the speed
http:
  port: 0
timers:
  clock: watermark
calendar:
  files:
    - $root/config/calendars/vn-2025.yaml
    - $root/config/calendars/vn-2026.yaml
procedures:
  catalog: $root/config/procedures/catalog.yaml
EOF
if [ ! -s "$ndjson" ]; then
  "$BINARY" simulate --config "$config" --units config/simulator/phu-tho-units.csv \
    --procedure-pools config/simulator/procedure-pools.csv --dossiers "$dossiers" \
    --ndjson "$ndjson.tmp" --no-progress
  mv "$ndjson.tmp" "$ndjson"
fi
events=$(wc -l <"$ndjson")
# x86-64 prefetch instructions (prefetcht0, prefetchw, ...) in the symbols of ProcessDecoded and
# of its lambdas, should they not be inlined.
prefetches=0
for symbol in $(nm "$BINARY" | awk '$3 ~ /8Pipeline14ProcessDecoded/ { print $3 }'); do
  n=$(objdump -d --no-show-raw-insn --disassemble="$symbol" "$BINARY" |
    grep -cE '^ *[0-9a-f]+:[[:space:]]+prefetch') || true
  prefetches=$((prefetches + n))
done
echo "== $("$BINARY" --version): replay of $events events ($ndjson) under callgrind"
valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$run/cg.%p" \
  "$BINARY" replay --config "$config" --state-dir "$run/state" "$ndjson" >"$run/replay.out" 2>&1 ||
  { tail -20 "$run/replay.out" >&2; exit 1; }
grep -E '^consumed' "$run/replay.out"

# One callgrind file per thread (cg.<pid>-NN; -01 is the main thread, the pipeline's). A thread
# is named by a function only it runs; its count is its "summary:" line. The main thread's
# share inside Pipeline::ProcessDecoded (the pipeline proper: rules, timers, commits) is split
# from its startup and shutdown (config, calendar and catalog YAML, opening the store).
declare -A group=()
for f in "$run"/cg.*-*; do
  total=$(sed -n 's/^summary: //p' "$f")
  name=other
  if [[ $f == *-01 ]]; then
    name=main
  elif grep -q 'NdjsonReader::Run' "$f"; then
    name=reader
  elif grep -q 'CommitWriter::Loop' "$f"; then
    name=state_writer
  elif grep -q 'rocksdb::ThreadPoolImpl::Impl::BGThread' "$f"; then
    name=rocksdb  # before the relay: its flush hook (FileOutboxRelay) runs on these threads
  elif grep -q 'OutboxRelay' "$f"; then
    name=outbox_relay
  fi
  group[$name]=$((${group[$name]:-0} + total))
done
main_file=$(ls "$run"/cg.*-01)
pipeline=$(callgrind_annotate --inclusive=yes --threshold=100 "$main_file" 2>/dev/null |
  awk '/^ *[0-9,]+ .*Pipeline::ProcessDecoded\(/ && !done { gsub(",", "", $1); print $1; done = 1 }')
pipeline=${pipeline:-0}
all=0
for name in "${!group[@]}"; do all=$((all + ${group[$name]})); done
per_event() { awk -v n="$1" -v e="$events" 'BEGIN { printf "%.0f", n / e }'; }
printf '%-28s %12s\n' "thread group" "instr/event"
printf '%-28s %12s\n' "all threads" "$(per_event $all)"
printf '%-28s %12s\n' "pipeline (ProcessDecoded)" "$(per_event "$pipeline")"
printf '%-28s %12s\n' "main, outside the pipeline" "$(per_event $((${group[main]:-0} - pipeline)))"
for name in reader state_writer rocksdb outbox_relay other; do
  [ -n "${group[$name]:-}" ] && printf '%-28s %12s\n' "$name" "$(per_event "${group[$name]}")"
done
echo "prefetch instructions in Pipeline::ProcessDecoded: $prefetches"
{
  printf '{"binary": "%s", "events": %d, "instructions_per_event": {"all": %s, "pipeline": %s' \
    "$("$BINARY" --version)" "$events" "$(per_event $all)" "$(per_event "$pipeline")"
  printf ', "main_outside_pipeline": %s' "$(per_event $((${group[main]:-0} - pipeline)))"
  for name in reader state_writer rocksdb outbox_relay other; do
    [ -n "${group[$name]:-}" ] && printf ', "%s": %s' "$name" "$(per_event "${group[$name]}")"
  done
  printf '}, "prefetches_in_process_decoded": %d}\n' "$prefetches"
} >"$out/instructions.json"
echo "wrote $out/instructions.json"
if [ -n "${KEEP:-}" ]; then
  mkdir -p "$KEEP"
  cp "$run"/cg.* "$KEEP"/
  echo "callgrind files in $KEEP (the main thread's ends in -01)"
fi
