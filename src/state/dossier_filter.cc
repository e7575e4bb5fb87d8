#include "state/dossier_filter.h"

#include <algorithm>
#include <array>
#include <atomic>

#include "iocstream/core/hash.h"
#include "iocstream/core/prefetch.h"

namespace iocstream::state {
namespace {

// The salts of the Parquet split block Bloom filter (parquet-format BloomFilter.md): bit i of a
// block is chosen by the top five bits of key * kSalt[i].
constexpr std::array<uint32_t, 8> kSalt = {0x47b6137bU, 0x44974d91U, 0x8824ad5bU, 0xa2b7289dU,
                                           0x705495c7U, 0x2df1424bU, 0x9efc4947U, 0x5c6bfb31U};

struct Probe {
  uint64_t block;
  uint32_t key;
};

Probe ProbeOf(uint64_t h, uint64_t blocks) {
  // The high half picks the block (multiply-shift instead of a modulo), the low half the bits.
  return {((h >> 32) * blocks) >> 32, static_cast<uint32_t>(h)};
}

}  // namespace

DossierFilter::DossierFilter(size_t bytes)
    : words_(std::max<size_t>(bytes / (kWordsPerBlock * sizeof(uint32_t)), 1) * kWordsPerBlock),
      blocks_(words_.size() / kWordsPerBlock) {}

uint64_t DossierFilter::Hash(std::string_view dossier_id) noexcept { return ShortHash(dossier_id); }

void DossierFilter::Insert(std::string_view dossier_id) noexcept { InsertHashed(Hash(dossier_id)); }

void DossierFilter::InsertHashed(uint64_t hash) noexcept {
  const Probe p = ProbeOf(hash, blocks_);
  uint32_t* block = words_.data() + p.block * kWordsPerBlock;
  for (size_t i = 0; i < kWordsPerBlock; ++i) {
    const uint32_t bit = uint32_t{1} << ((p.key * kSalt[i]) >> 27);
    std::atomic_ref<uint32_t> word(block[i]);
    // Most inserts of a known id find the bits set already: no locked write then.
    if ((word.load(std::memory_order_relaxed) & bit) == 0) {
      word.fetch_or(bit, std::memory_order_relaxed);
    }
  }
}

void DossierFilter::PrefetchHashed(uint64_t hash) const noexcept {
  prefetch::Line(words_.data() + ProbeOf(hash, blocks_).block * kWordsPerBlock);
}

bool DossierFilter::MayContain(std::string_view dossier_id) const noexcept {
  return MayContainHashed(Hash(dossier_id));
}

bool DossierFilter::MayContainHashed(uint64_t hash) const noexcept {
  const Probe p = ProbeOf(hash, blocks_);
  // atomic_ref needs a non-const object; the words are only read here.
  auto* block = const_cast<uint32_t*>(words_.data() + p.block * kWordsPerBlock);
  for (size_t i = 0; i < kWordsPerBlock; ++i) {
    const uint32_t bit = uint32_t{1} << ((p.key * kSalt[i]) >> 27);
    if ((std::atomic_ref<uint32_t>(block[i]).load(std::memory_order_relaxed) & bit) == 0) {
      return false;
    }
  }
  return true;
}

}  // namespace iocstream::state
