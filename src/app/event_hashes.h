// EventHashes: hashes of a decoded event's keys, for Pipeline::ProcessDecoded.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "iocstream/decode/event_decoder.h"

namespace iocstream::app {

// Hashes of a decoded event's keys, computed on the thread that decodes the records (the
// replay's file reader, `run`'s decoder) so that the pipeline thread, the bound of a replay,
// does not (about 190 instructions per event), and so that its dossier-cache lookups, with
// the hash at hand, are short enough for several of their cache misses to overlap. Zero for
// a record that did not decode.
struct EventHashes {
  uint64_t dossier_id = 0;  // ShortHash(dossier_id): the dossier cache's hash
  uint64_t event_id = 0;    // rules::EventIdHash(event_id)
  uint32_t murmur2 = 0;     // Kafka's murmur2 of dossier_id (Pipeline::Murmur2)
};
// out[i]: the hashes of decoded[i] (out.size() == decoded.size()). Defined with the Pipeline
// (pipeline.cc). Any thread.
void HashDecoded(std::span<const DecodeResult> decoded, std::span<EventHashes> out);
// The same into `hashes`, which ends with decoded.size() of them.
inline void HashDecoded(std::span<const DecodeResult> decoded, std::vector<EventHashes>& hashes) {
  hashes.resize(decoded.size());
  HashDecoded(decoded, std::span<EventHashes>(hashes));
}

}  // namespace iocstream::app
