#!/usr/bin/env bash
# Quick start on real data: installs the dependencies, builds iocstream, starts the local
# Kafka broker, imports the three City of Boston 311 exports (real cases with due dates and
# the city's ONTIME/OVERDUE label) into Kafka, runs iocstream on them, and prints the
# per-department summary while /metrics and the HTTP API stay served.
#
#   scripts/demo.sh        run the demo (iocstream keeps running in the background)
#   scripts/demo.sh stop   stop iocstream and the broker
#
# DATA_DIR overrides where the Boston exports are (default: ../shared/data/raw/boston);
# KAFKA_PORT (default 19092) and HTTP_PORT (default 9464) move the broker and iocstream's
# HTTP server, e.g. when another broker already listens on 19092 (`scripts/demo.sh stop` needs
# the same KAFKA_PORT; the run prints the stop command with it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
demo=.cache/demo
bin=build/release/src/app/iocstream
kafka_port=${KAFKA_PORT:-19092}
http_port=${HTTP_PORT:-9464}
export KAFKA_PORT=$kafka_port

# Stops the demo's iocstream (SIGTERM: a clean stop commits, flushes and closes its store) and
# waits for it to exit, so that the broker it talks to is still up while it closes.
stop_iocstream() {
  [ -f $demo/iocstream.pid ] || return 0
  local pid
  pid=$(cat $demo/iocstream.pid)
  # The pid of a demo that ended without this stop (a crash, kill -9, a reboot) may be another
  # program's by now: only an iocstream is stopped.
  if ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "iocstream run"; then
    echo "demo: no iocstream runs as pid $pid any more (it had stopped)"
    rm -f $demo/iocstream.pid
    return 0
  fi
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 1 120); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "demo: iocstream ($pid) still running 60 s after SIGTERM" >&2
    else
      echo "demo: iocstream stopped"
    fi
  fi
  rm -f $demo/iocstream.pid
}

if [ "${1:-}" = "stop" ]; then
  stop_iocstream
  ./scripts/kafka.sh stop
  exit 0
fi

data=${DATA_DIR:-$root/../shared/data/raw/boston}
[ -d "$data" ] || { echo "demo: no Boston data at $data (set DATA_DIR)" >&2; exit 1; }

./scripts/install-deps.sh
./scripts/kafka.sh start
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc)" --target iocstream

# A fresh run: stop an earlier demo, drop its topics and state.
stop_iocstream
for t in boston-311-events boston-311-alerts boston-311-events-dlq; do
  ./scripts/kafka.sh delete-topic $t
done
rm -rf $demo && mkdir -p $demo
# config/boston-demo.yaml with the ports (and its relative paths made absolute, as the copy
# lives elsewhere).
config=$demo/boston-demo.yaml
sed -e "s|127.0.0.1:19092|127.0.0.1:$kafka_port|" -e "s|port: 9464|port: $http_port|" \
  -e "s|dir: ../.cache/demo/state|dir: $root/.cache/demo/state|" \
  -e "s|    - calendars/|    - $root/config/calendars/|" config/boston-demo.yaml >"$config"

echo "== importing the Boston 311 exports into Kafka"
$bin import --config $config --mapping config/mappings/boston-legacy.yaml \
  "$data"/BU-Spark__ds-boston-311-animal-reports/filtered_*.csv
$bin import --config $config --mapping config/mappings/boston-new-crm.yaml \
  "$data"/soham-bhagwat__boston_311_requests/boston_311_requests.csv
$bin import --config $config --mapping config/mappings/boston-sample.yaml \
  "$data"/yashchavan11__boston-311-resolution-time-prediction/raw_sample.csv

echo "== running iocstream on the topic (consumer group, exactly-once state in $demo/state)"
nohup $bin run --config $config --summary-when-caught-up >$demo/run.out 2>$demo/run.log &
echo $! >$demo/iocstream.pid
for _ in $(seq 1 300); do
  grep -q "^consumed" $demo/run.out 2>/dev/null && break
  kill -0 "$(cat $demo/iocstream.pid)" 2>/dev/null || { cat $demo/run.log >&2; exit 1; }
  sleep 1
done
echo
echo "== per-department summary: finished = on_time + late (with a due date; on_time% is their"
echo "   share on time) + no_due (without one); open, of which overdue (past due) and open_no_due;"
echo "   cancelled; no_receipt (finished, receipt never seen); finished + open + cancelled +"
echo "   no_receipt = the dossiers counted (README: KPIs)"
cat $demo/run.out
echo
echo "== a few lines of http://127.0.0.1:$http_port/metrics"
metrics=$(curl -s http://127.0.0.1:$http_port/metrics)
grep -E '^iocstream_events_(consumed|applied|late|duplicate)_total ' <<<"$metrics" || true
grep -E '^iocstream_dossiers_completed\{.*department="PWDx".*\} [1-9]' <<<"$metrics" | head -4 || true
echo
echo "iocstream is still running (pid $(cat $demo/iocstream.pid)); try:"
echo "  curl -s http://127.0.0.1:$http_port/api/v1/kpis"
echo "  curl -s 'http://127.0.0.1:$http_port/api/v1/overdue?limit=3'"
# `scripts/demo.sh stop` finds the broker by KAFKA_PORT (and KAFKA_DIR): name them when they
# are not the defaults, or the printed command would look for a broker on 19092.
stop_env=
[ "$kafka_port" = 19092 ] || stop_env="KAFKA_PORT=$kafka_port "
[ -z "${KAFKA_DIR:-}" ] || stop_env+="KAFKA_DIR=$(printf %q "$KAFKA_DIR") "
echo "Stop it and the broker with: ${stop_env}scripts/demo.sh stop"
