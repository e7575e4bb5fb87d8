#!/usr/bin/env bash
# Builds RocksDB as a release library (assertions off, hardware CRC32C) for the `production`
# preset, from the same upstream source as Debian's package, and installs it under
#   ${IOCSTREAM_DEPS_DIR:-$HOME/.cache/iocstream}/rocksdb-<version>
# Idempotent: an existing install is kept. Prints the install prefix on its last line.
#
# Why: Debian 12's librocksdb (7.8.3-2) is configured with CMAKE_BUILD_TYPE=None, so it is
# compiled without -DNDEBUG. Every RocksDB assert, test sync point and skiplist invariant
# check runs in production: the memtable insert alone re-compares each new key with its
# neighbours on every level (InlineSkipList::Insert), and checksums use the software CRC32C
# (PORTABLE build without SSE4.2). The project's tests keep linking Debian's library (an
# assertion-checked RocksDB is what tests want); benchmarks and deployments use this one.
#
# The version is Debian's package's, which the tests run against (the production build
# compiles against this prefix's own headers); the tarball is Debian's orig.tar.gz, checked
# against the SHA-256 in its signed .dsc.
# ROCKSDB_TARBALL=/path/to/rocksdb_7.8.3.orig.tar.gz builds offline.
set -euo pipefail

version=7.8.3
sha256=b85408a374770897332bf15e51620a5f35720dd416a4749e3899057f9cfaf84d
url=https://deb.debian.org/debian/pool/main/r/rocksdb/rocksdb_${version}.orig.tar.gz
deps=${IOCSTREAM_DEPS_DIR:-$HOME/.cache/iocstream}
prefix=$deps/rocksdb-$version

if [ -f "$prefix/lib/cmake/rocksdb/RocksDBConfig.cmake" ]; then
  echo "build-rocksdb: $prefix already built" >&2
  echo "$prefix"
  exit 0
fi

installed=$(dpkg-query -W -f='${Version}' librocksdb-dev 2>/dev/null || true)
case "$installed" in
  "$version"-*) ;;
  *) echo "build-rocksdb: librocksdb-dev is '${installed:-not installed}', expected $version-*" \
       "(the version the tests run against; run scripts/install-deps.sh)" >&2
     exit 1 ;;
esac

mkdir -p "$deps"
work=$(mktemp -d "${TMPDIR:-/tmp}/iocstream-rocksdb.XXXXXX")
# Installed into a staging folder next to the prefix, then renamed into place (atomic on one
# filesystem): an interrupted build leaves nothing the check above takes for a finished one.
stage=$(mktemp -d "$deps/.rocksdb-$version.stage.XXXXXX")
trap 'rm -rf "$work" "$stage"' EXIT
tarball=${ROCKSDB_TARBALL:-$work/rocksdb.tar.gz}
if [ -z "${ROCKSDB_TARBALL:-}" ]; then
  echo "build-rocksdb: downloading $url" >&2
  curl -fsSL --retry 3 -o "$tarball" "$url"
fi
[ -f "$tarball" ] || { echo "build-rocksdb: no file $tarball" >&2; exit 1; }
echo "$sha256  $tarball" | sha256sum -c --quiet - ||
  { echo "build-rocksdb: checksum mismatch for $tarball" >&2; exit 1; }
tar -xzf "$tarball" -C "$work"

# Release flags as upstream's own Makefile builds them (-O2, NDEBUG, frame pointers kept).
# PORTABLE keeps the library runnable on any x86-64 CPU; FORCE_SSE42 still uses the CRC32C
# instruction (every x86-64 CPU since 2008). Compression libraries as Debian's build has them.
echo "build-rocksdb: building RocksDB $version into $prefix (about 20 minutes on 2 cores)" >&2
cmake -S "$work/rocksdb-$version" -B "$work/build" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" \
  -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_INSTALL_LIBDIR=lib \
  -DPORTABLE=ON -DFORCE_SSE42=ON -DFAIL_ON_WARNINGS=OFF \
  -DWITH_LZ4=ON -DWITH_ZSTD=ON -DWITH_ZLIB=ON -DWITH_SNAPPY=ON -DWITH_BZ2=ON -DWITH_LIBURING=OFF \
  -DWITH_GFLAGS=OFF -DWITH_JEMALLOC=OFF -DWITH_TESTS=OFF -DWITH_BENCHMARK_TOOLS=OFF \
  -DWITH_CORE_TOOLS=OFF -DWITH_TOOLS=OFF -DWITH_TRACE_TOOLS=OFF -DROCKSDB_BUILD_SHARED=OFF \
  >"$work/configure.log" 2>&1 || { cat "$work/configure.log" >&2; exit 1; }
cmake --build "$work/build" -j"$(nproc)" --target rocksdb >"$work/build.log" 2>&1 ||
  { tail -50 "$work/build.log" >&2; exit 1; }
cmake --install "$work/build" --prefix "$stage" >/dev/null
rm -rf "$prefix"
mv "$stage" "$prefix"
echo "build-rocksdb: done" >&2
echo "$prefix"
