#!/usr/bin/env bash
# Installs every build, test and runtime dependency of iocstream from Debian 12 packages.
# Idempotent: safe to rerun; only missing packages are installed.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git clang-format clang-tidy
  librdkafka-dev librocksdb-dev prometheus-cpp-dev libboost1.81-dev
  libsimdjson-dev libyaml-cpp-dev libcli11-dev libspdlog-dev libfmt-dev
  libhowardhinnant-date-dev libcsv-dev libxxhash-dev libicu-dev libjemalloc-dev nlohmann-json3-dev libgtest-dev libgmock-dev libbenchmark-dev
  openjdk-17-jre-headless maven curl python3 time valgrind
  binutils  # objdump, which counts the prefetch instructions (tests, bench-instructions.sh)
  systemd  # systemd-analyze, which checks the shipped unit (tests)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "install-deps: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all ${#packages[@]} packages present"
fi

# promtool (Prometheus's checker; the metrics tests run it on /metrics output) and the
# Prometheus server (the monitoring test scrapes iocstream with it and evaluates the shipped
# rules and every dashboard query) from Debian's prometheus package, unpacked into the cache
# rather than installed: the package would also install and start a Prometheus server
# listening on every interface. scripts/test.sh puts them on PATH.
promtool_dir=${IOCSTREAM_DEPS_DIR:-$HOME/.cache/iocstream}/promtool
if [ ! -x "$promtool_dir/usr/bin/promtool" ] || [ ! -x "$promtool_dir/usr/bin/prometheus" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && { apt-get download prometheus >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get download prometheus >/dev/null; }; })
  mkdir -p "$tmp/x"
  dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/x"
  mkdir -p "$promtool_dir/usr/bin"
  for program in promtool prometheus; do
    cp "$tmp/x/usr/bin/$program" "$promtool_dir/usr/bin/$program.partial"
    mv "$promtool_dir/usr/bin/$program.partial" "$promtool_dir/usr/bin/$program"
  done
  echo "install-deps: promtool and prometheus unpacked into $promtool_dir/usr/bin"
fi
