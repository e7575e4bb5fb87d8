#!/usr/bin/env bash
# Builds iocstream and runs the whole test suite: unit tests, and integration tests against a
# real Kafka broker (KRaft, 127.0.0.1, started and stopped by CTest fixtures) and real RocksDB
# directories. Usage: scripts/test.sh [ctest args...]   (PRESET=debug|release|asan,
# TEST_KAFKA_PORT=port of the test broker, default 29092)
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${PRESET:-release}
./scripts/install-deps.sh
export PATH="${IOCSTREAM_DEPS_DIR:-$HOME/.cache/iocstream}/promtool/usr/bin:$PATH"
./scripts/kafka.sh fetch
# TEST_KAFKA_PORT moves the test broker off 29092 (its controller listens on the next port).
cmake --preset "$preset" ${TEST_KAFKA_PORT:+-DIOCSTREAM_TEST_KAFKA_PORT=$TEST_KAFKA_PORT} >/dev/null
cmake --build --preset "$preset" -j"$(nproc)"
ctest --preset "$preset" --timeout 900 "$@"
