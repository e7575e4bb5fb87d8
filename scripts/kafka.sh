#!/usr/bin/env bash
# Local single-node Apache Kafka broker (KRaft, combined broker+controller) on 127.0.0.1.
#
#   scripts/kafka.sh fetch              resolve the broker jars from Maven Central (cached)
#   scripts/kafka.sh start              format storage if needed, start, wait until it answers
#   scripts/kafka.sh stop               stop the broker cleanly (SIGTERM, then wait)
#   scripts/kafka.sh status             exit 0 if the broker answers
#   scripts/kafka.sh topic NAME [PARTS] create a topic if it does not exist
#   scripts/kafka.sh delete-topic NAME  delete a topic if it exists
#
# Environment: KAFKA_PORT (default 19092), KAFKA_CONTROLLER_PORT (default KAFKA_PORT+1),
# KAFKA_DIR (data, logs and pid; default .cache/kafka/run-$KAFKA_PORT), KAFKA_HEAP (default 768m).
# Several brokers can run at once on different ports (integration tests start their own).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
port=${KAFKA_PORT:-19092}
cport=${KAFKA_CONTROLLER_PORT:-$((port + 1))}
# The jars of tools/kafka/pom.xml, resolved again when the pom changes.
lib="$root/.cache/kafka/lib-$(sha256sum "$root/tools/kafka/pom.xml" | cut -c1-12)"
dir=${KAFKA_DIR:-$root/.cache/kafka/run-$port}
heap=${KAFKA_HEAP:-768m}
bootstrap="127.0.0.1:$port"

java_cmd() { java -Xmx"$heap" -Xms256m -XX:+UseG1GC -Djava.awt.headless=true \
  -Dlog4j2.configurationFile="$dir/log4j2.properties" -cp "$lib/*" "$@"; }

fetch() {
  if [ -f "$lib/.complete" ]; then
    prune_libs
    return 0
  fi
  echo "kafka: resolving broker jars from Maven Central into $lib"
  mkdir -p "$lib"
  mvn -q -B -f "$root/tools/kafka/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$lib" -DincludeScope=runtime
  touch "$lib/.complete"
  prune_libs
}

# Whether a running process has an argument under folder $1 (read by builtins: a grep of
# /proc/*/cmdline would find its own pattern).
on_class_path() {
  local cmdline arg
  for cmdline in /proc/[0-9]*/cmdline; do
    while IFS= read -r -d '' arg; do
      [[ $arg == "$1"/* ]] && return 0
    done 2>/dev/null <"$cmdline"
  done
  return 1
}

# Removes the jar folders of earlier poms (.cache/kafka/lib, lib-<hash>), but for one a running
# process still has on its class path (a broker started before the pom changed).
prune_libs() {
  local old
  for old in "$root/.cache/kafka/lib" "$root/.cache/kafka"/lib-*; do
    [ -d "$old" ] && [ "$old" != "$lib" ] || continue
    if on_class_path "$old"; then continue; fi
    echo "kafka: removing the jars of an earlier pom ($old)"
    rm -rf "$old"
  done
}

write_config() {
  mkdir -p "$dir/data"
  cat >"$dir/server.properties" <<CONF
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=6
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=-1
log.segment.bytes=268435456
CONF
  cat >"$dir/log4j2.properties" <<CONF
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = $dir/broker.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = info
CONF
}

answers() {
  java_cmd org.apache.kafka.tools.TopicCommand --bootstrap-server "$bootstrap" --list \
    >/dev/null 2>&1
}

running_pid() {
  [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null && cat "$dir/pid"
}

# True if something accepts connections on 127.0.0.1:$1.
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
  fetch
  if pid=$(running_pid); then echo "kafka: already running (pid $pid) on $bootstrap"; return 0; fi
  # Another process on the ports (another checkout's broker, say) would answer in its place:
  # the caller would then use a broker it did not start.
  for p in "$port" "$cport"; do
    if port_taken "$p"; then
      echo "kafka: 127.0.0.1:$p is in use by another process (not the broker of $dir):" \
        "stop it, or choose other ports (KAFKA_PORT, KAFKA_CONTROLLER_PORT)" >&2
      exit 1
    fi
  done
  write_config
  if [ ! -f "$dir/data/meta.properties" ]; then
    local cluster_id
    cluster_id=$(java_cmd kafka.tools.StorageTool random-uuid)
    java_cmd kafka.tools.StorageTool format --standalone -t "$cluster_id" \
      -c "$dir/server.properties" >"$dir/format.log" 2>&1 ||
      { cat "$dir/format.log"; exit 1; }
  fi
  nohup java -Xmx"$heap" -Xms256m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$dir/log4j2.properties" -cp "$lib/*" \
    kafka.Kafka "$dir/server.properties" >"$dir/stdout.log" 2>&1 &
  echo $! >"$dir/pid"
  for _ in $(seq 1 120); do
    if ! running_pid >/dev/null; then
      echo "kafka: broker exited; last log lines:" >&2
      tail -30 "$dir/stdout.log" "$dir/broker.log" >&2 || true
      exit 1
    fi
    if answers; then echo "kafka: up on $bootstrap (pid $(cat "$dir/pid"), data $dir)"; return 0; fi
    sleep 1
  done
  echo "kafka: broker did not answer on $bootstrap within 120 s" >&2
  exit 1
}

stop() {
  local pid
  if ! pid=$(running_pid); then echo "kafka: not running on $bootstrap"; return 0; fi
  kill "$pid"
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || { echo "kafka: stopped"; rm -f "$dir/pid"; return 0; }
    sleep 1
  done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$dir/pid"
  echo "kafka: killed after 60 s"
}

topic() {
  local name=$1 parts=${2:-6}
  java_cmd org.apache.kafka.tools.TopicCommand --bootstrap-server "$bootstrap" --create \
    --if-not-exists --topic "$name" --partitions "$parts" --replication-factor 1 >/dev/null
  echo "kafka: topic $name ($parts partitions) ready"
}

delete_topic() {
  java_cmd org.apache.kafka.tools.TopicCommand --bootstrap-server "$bootstrap" --delete \
    --if-exists --topic "$1" >/dev/null
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  status) answers && echo "kafka: up on $bootstrap" ;;
  topic) shift; topic "$@" ;;
  delete-topic) shift; delete_topic "$1" ;;
  *) sed -n '2,15p' "$0"; exit 2 ;;
esac
