// Guards prefetch::Line against the optimiser (the test prefetch_codegen, prefetch_codegen.cmake).
//
// GCC counts __builtin_prefetch as no side effect: a function or lambda that only prefetches is
// found pure, and its calls, whose result nobody uses, are deleted at -O2. That silently removed
// every prefetch of Pipeline::ProcessDecoded until session 33; prefetch::Line's empty volatile
// asm is what keeps them now. Nothing fails when a prefetch is missing (they are hints), so this
// file, always compiled with -O2 and never linked, reproduces the loops that lost theirs, and
// the test counts the prefetch instructions of each function in its disassembly. With a bare
// __builtin_prefetch in Line, GCC 12 deletes all of them.
//
// The count each function must have is in tests/unit/core/CMakeLists.txt; a change here that
// changes it must change it there too.
#include <cstddef>
#include <span>
#include <string>

#include "iocstream/core/prefetch.h"

namespace iocstream::prefetch_codegen {

struct Entry {  // 128 bytes: two cache lines
  long counts[16];
};

struct Event {  // 72 bytes: Bytes asks for two lines
  std::string dossier_id;
  std::string event_id;
  long at;
};

// A lambda that only asks for lines of the element kAhead places ahead, one for reading and
// one for writing, called each turn of the loop: 2 prefetches.
long LineAhead(std::span<Entry* const> entries) {
  constexpr std::size_t kAhead = 4;
  auto prefetch_entry = [&](std::size_t j) {
    if (j >= entries.size()) return;
    prefetch::Line(entries[j]);
    prefetch::Line<true>(&entries[j]->counts[8]);
  };
  long sum = 0;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    prefetch_entry(i + kAhead);
    sum += entries[i]->counts[0]++;
  }
  return sum;
}

// Pipeline::ProcessDecoded's event loop: two stages ahead, the lines of an entry (for writing)
// and of an event, then the heap bytes of the event's ids. prefetch_objects: 2 + 2 lines
// (Bytes of 128 and of 72 bytes); prefetch_texts: 2 lines (Text). 6 prefetches.
long ProcessDecodedShape(std::span<Entry* const> entries, std::span<const Event> events) {
  constexpr std::size_t kAhead = 4;
  auto prefetch_objects = [&](std::size_t j) {
    if (j >= events.size()) return;
    prefetch::Bytes<true>(entries[j], sizeof(Entry));
    prefetch::Bytes(&events[j], sizeof(Event));
  };
  auto prefetch_texts = [&](std::size_t j) {
    if (j >= events.size()) return;
    prefetch::Text(events[j].dossier_id);
    prefetch::Text(events[j].event_id);
  };
  long sum = 0;
  for (std::size_t i = 0; i < events.size(); ++i) {
    prefetch_objects(i + 2 * kAhead);
    prefetch_texts(i + kAhead);
    entries[i]->counts[0] += static_cast<long>(events[i].dossier_id.size());
    sum += events[i].at + static_cast<long>(events[i].event_id.size());
  }
  return sum;
}

// StateStore's reads: a lambda that asks for the bytes of a record whose size is known only at
// run time (a loop of Line inside): 1 prefetch.
long BytesOfRuntimeSize(std::span<const char* const> records, std::span<const std::size_t> sizes) {
  constexpr std::size_t kAhead = 4;
  auto prefetch_record = [&](std::size_t j) {
    if (j >= records.size()) return;
    prefetch::Bytes(records[j], sizes[j]);
  };
  long sum = 0;
  for (std::size_t i = 0; i < records.size(); ++i) {
    prefetch_record(i + kAhead);
    sum += records[i][0];
  }
  return sum;
}

}  // namespace iocstream::prefetch_codegen
