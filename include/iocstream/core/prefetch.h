// Software prefetch for the loops that read memory picked at random (a dossier among a million
// per event, the encoded dossiers of a commit in key order): they ask for the memory of the
// item a few places ahead while they work on this one. Hints only: they never fault, change
// no state and are thread-safe; a prefetch of memory already in cache costs an instruction.
#pragma once

#include <cstddef>
#include <string>

namespace iocstream::prefetch {

inline constexpr std::size_t kCacheLine = 64;

// The cache line of `p`, for reading (kWrite false) or for writing. Every prefetch goes through
// here: GCC counts __builtin_prefetch as no side effect, so a function or lambda that only
// prefetches is found pure, and its calls, whose result nobody uses, are deleted as dead code.
// GCC 12 -O2 removed every prefetch of Pipeline::ProcessDecoded's event loop that way (its
// `prefetch_objects` and `prefetch_texts` lambdas) until session 33. The empty volatile asm is
// a side effect the compiler keeps, and it emits no instruction.
// Two tests keep it so (tests/unit/core): prefetch_codegen counts the prefetch instructions of
// such loops compiled at -O2, prefetch_calls_through_line fails on a __builtin_prefetch outside
// this file.
template <bool kWrite = false>
inline void Line(const void* p) {
  __builtin_prefetch(p, kWrite);
  asm volatile("" : : "r"(p));
}

// The cache lines of [p, p + bytes), for reading (kWrite false) or for writing.
template <bool kWrite = false>
inline void Bytes(const void* p, std::size_t bytes) {
  const auto* c = static_cast<const char*>(p);
  for (std::size_t off = 0; off < bytes; off += kCacheLine) Line<kWrite>(c + off);
}

// The first line of a string's characters (std::string, boost::container::string): the heap
// block of a long one (an id past the inline buffer, which is a cache miss of its own), the
// string itself for a short one.
template <class String>
inline void Text(const String& s) {
  Line(s.data());
}

}  // namespace iocstream::prefetch
