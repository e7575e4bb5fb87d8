// XXH3-64, the hash of iocstream's ids and records (xxHash, libxxhash).
//
// ShortHash: for short keys (dossier ids, event ids, alert ids: 10 to 40 bytes), compiled into
// the caller (xxHash's XXH_INLINE_ALL mode: the XXH symbols it makes are static and renamed,
// beside the library's). The same function, bit for bit, as the library's XXH3_64bits, so
// hashes kept in the state (applied event ids, alert ids) and those rebuilt from it (the
// dossier filter, built again from the stored ids at each start) do not depend on which one
// computed them. Inlined, a 19-byte id is hashed without the call through the library's PLT
// and its length dispatch. Any length is hashed right: FileSourceName hashes a file's whole
// first record with it, once per replay.
//
// SeededLongHash: for long inputs (record payloads of hundreds of bytes), the library's
// XXH3_64bits_withSeed_dispatch: AVX2 code where the CPU has it (the plain function is built
// for SSE2 only), the same values as XXH3_64bits_withSeed.
//
// Include this header rather than <xxhash.h>: it includes the library's declarations first,
// then the inlined copies (xxHash supports that order, not the reverse). After it, a call of
// XXH3_64bits (and the other XXH names) in the including file is the inlined copy (xxHash's
// macros rename them); the *_dispatch functions stay the library's. Link libxxhash
// (iocstream::core does) for SeededLongHash. Both functions are pure: thread-safe.
#pragma once

#include <cstdint>
#include <string_view>

// The library's functions, the dispatching ones named explicitly (*_dispatch).
#define XXH_DISPATCH_DISABLE_REPLACE 1
#include <xxh_x86dispatch.h>
// Then the inlined copies.
#define XXH_INLINE_ALL
#include <xxhash.h>
#undef XXH_INLINE_ALL

namespace iocstream {

// XXH3-64 (seed 0) of `bytes`.
[[nodiscard]] inline uint64_t ShortHash(std::string_view bytes) noexcept {
  return XXH3_64bits(bytes.data(), bytes.size());
}

// XXH3-64 of `bytes` seeded with `seed`.
[[nodiscard]] inline uint64_t SeededLongHash(uint64_t seed, std::string_view bytes) noexcept {
  return XXH3_64bits_withSeed_dispatch(bytes.data(), bytes.size(), seed);
}

}  // namespace iocstream
