# Every dependency comes from Debian 12 packages (scripts/install-deps.sh).
find_package(PkgConfig REQUIRED)
pkg_check_modules(RDKAFKA REQUIRED IMPORTED_TARGET rdkafka)
pkg_check_modules(XXHASH REQUIRED IMPORTED_TARGET libxxhash)
# jemalloc for the iocstream binary: RocksDB's recommended allocator (less fragmentation, so a
# bounded RSS, and cheaper small allocations on the per-event path). Not under sanitizers.
pkg_check_modules(JEMALLOC REQUIRED IMPORTED_TARGET jemalloc)
# RocksDB: Debian's package by default (tests, demo). Debian builds it without -DNDEBUG, so its
# asserts, test sync points and skiplist checks all run: fine for tests, slow for production.
# IOCSTREAM_ROCKSDB_DIR names a release build of the same version (scripts/build-rocksdb.sh;
# the production preset sets it), used instead.
set(IOCSTREAM_ROCKSDB_DIR "" CACHE PATH
    "install prefix of a RocksDB release build (scripts/build-rocksdb.sh); empty: the system's")
# find_package caches RocksDB_DIR: forget it when the choice changes in an existing build
# directory, or the old library would stay linked.
if(NOT "${IOCSTREAM_ROCKSDB_DIR}" STREQUAL "${IOCSTREAM_ROCKSDB_DIR_FOUND}")
  unset(RocksDB_DIR CACHE)
  set(IOCSTREAM_ROCKSDB_DIR_FOUND "${IOCSTREAM_ROCKSDB_DIR}" CACHE INTERNAL "")
endif()
if(IOCSTREAM_ROCKSDB_DIR)
  find_package(RocksDB REQUIRED CONFIG PATHS "${IOCSTREAM_ROCKSDB_DIR}" NO_DEFAULT_PATH)
  set(IOCSTREAM_ROCKSDB_BUILD "release build, ${RocksDB_DIR}")
else()
  find_package(RocksDB REQUIRED CONFIG)
  set(IOCSTREAM_ROCKSDB_BUILD "system package, ${RocksDB_DIR}")
endif()
message(STATUS "RocksDB ${RocksDB_VERSION}: ${IOCSTREAM_ROCKSDB_BUILD}")
find_package(prometheus-cpp REQUIRED CONFIG)
find_package(Boost 1.81 REQUIRED CONFIG)
find_package(simdjson REQUIRED CONFIG)
find_package(yaml-cpp REQUIRED CONFIG)
find_package(CLI11 REQUIRED CONFIG)
find_package(spdlog REQUIRED CONFIG)
find_package(date REQUIRED CONFIG)
find_package(Threads REQUIRED)
# Unicode caseless matching (NFKC_Casefold) of department codes in the API's hints.
find_package(ICU REQUIRED COMPONENTS uc)
find_library(LIBCSV_LIBRARY csv REQUIRED)
add_library(libcsv::csv UNKNOWN IMPORTED)
set_target_properties(libcsv::csv PROPERTIES IMPORTED_LOCATION ${LIBCSV_LIBRARY})
if(IOCSTREAM_BUILD_TESTS)
  find_package(GTest REQUIRED CONFIG)
endif()
if(IOCSTREAM_BUILD_BENCHMARKS)
  find_package(benchmark REQUIRED CONFIG)
endif()
find_package(nlohmann_json 3.11 REQUIRED CONFIG)
