#!/usr/bin/env bash
# Builds iocstream and runs the whole test suite: unit tests, and integration tests against a
# real Kafka broker (KRaft, 127.0.0.1, started and stopped by CTest fixtures) and real RocksDB
# directories. Usage: scripts/test.sh [ctest args...]   (PRESET=debug|release|asan)
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${PRESET:-release}
./scripts/install-deps.sh
export PATH="${IOCSTREAM_DEPS_DIR:-$HOME/.cache/iocstream}/promtool/usr/bin:$PATH"
./scripts/kafka.sh fetch
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j"$(nproc)"
ctest --preset "$preset" --timeout 900 "$@"
