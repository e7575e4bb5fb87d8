// Byte-level encoding primitives shared by the state module's key layout and value codecs:
// big-endian fixed-width integers (order-preserving for unsigned values), LEB128 varints,
// zigzag for signed varints, and a bounds-checked reader for decoding untrusted stored bytes.
// Private to src/state. Free functions and a value-type reader: thread-compatible.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace iocstream::state {

// Store* write at `p`, which must have room (kMaxVarint64Bytes for a varint), and return the
// position after the bytes written: encoders on the write path size a buffer once and fill
// it, instead of appending a few bytes at a time.
inline constexpr size_t kMaxVarint64Bytes = 10;

inline char* StoreFixed32BE(char* p, uint32_t v) {
  p[0] = static_cast<char>(v >> 24);
  p[1] = static_cast<char>(v >> 16);
  p[2] = static_cast<char>(v >> 8);
  p[3] = static_cast<char>(v);
  return p + 4;
}

inline char* StoreFixed64BE(char* p, uint64_t v) {
  p = StoreFixed32BE(p, static_cast<uint32_t>(v >> 32));
  return StoreFixed32BE(p, static_cast<uint32_t>(v));
}

inline char* StoreFixed64LE(char* p, uint64_t v) {
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(p, &v, sizeof(v));  // one store (the loop below was not merged into one)
  } else {
    for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
  }
  return p + 8;
}

inline char* StoreVarint64(char* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}

inline char* StoreBytes(char* p, std::string_view s) {
  if (!s.empty()) std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

inline void AppendFixed32BE(std::string* out, uint32_t v) {
  char b[4];
  StoreFixed32BE(b, v);
  out->append(b, sizeof(b));
}

inline void AppendFixed64BE(std::string* out, uint64_t v) {
  AppendFixed32BE(out, static_cast<uint32_t>(v >> 32));
  AppendFixed32BE(out, static_cast<uint32_t>(v));
}

// Little-endian: for values that are never compared as bytes (event-id hashes).
inline void AppendFixed64LE(std::string* out, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out->append(b, sizeof(b));
}

inline void AppendVarint64(std::string* out, uint64_t v) {
  char b[kMaxVarint64Bytes];
  out->append(b, static_cast<size_t>(StoreVarint64(b, v) - b));
}

constexpr uint64_t ZigZagEncode(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
constexpr int64_t ZigZagDecode(uint64_t v) {
  return static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1));
}

inline void AppendSignedVarint64(std::string* out, int64_t v) {
  AppendVarint64(out, ZigZagEncode(v));
}

inline char* StoreSignedVarint64(char* p, int64_t v) { return StoreVarint64(p, ZigZagEncode(v)); }

// Order-preserving encodings of signed integers: big-endian with the sign bit flipped, so
// that memcmp order equals numeric order (negative values sort first).
inline void AppendOrderedInt32(std::string* out, int32_t v) {
  AppendFixed32BE(out, static_cast<uint32_t>(v) ^ 0x80000000u);
}
inline void AppendOrderedInt64(std::string* out, int64_t v) {
  AppendFixed64BE(out, static_cast<uint64_t>(v) ^ 0x8000000000000000ull);
}
inline char* StoreOrderedInt32(char* p, int32_t v) {
  return StoreFixed32BE(p, static_cast<uint32_t>(v) ^ 0x80000000u);
}
inline char* StoreOrderedInt64(char* p, int64_t v) {
  return StoreFixed64BE(p, static_cast<uint64_t>(v) ^ 0x8000000000000000ull);
}

// Reads the encodings above from a byte range it does not own. Every read checks bounds and
// returns nullopt (or false) on truncation or malformed input: stored bytes are untrusted.
class ByteReader {
 public:
  explicit ByteReader(std::string_view bytes) : data_(bytes) {}

  [[nodiscard]] bool Empty() const { return data_.empty(); }
  [[nodiscard]] size_t Remaining() const { return data_.size(); }
  [[nodiscard]] std::string_view Rest() const { return data_; }

  std::optional<uint8_t> ReadByte() {
    if (data_.empty()) return std::nullopt;
    auto b = static_cast<uint8_t>(data_.front());
    data_.remove_prefix(1);
    return b;
  }

  std::optional<uint32_t> ReadFixed32BE() {
    if (data_.size() < 4) return std::nullopt;
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(data_[i]);
    data_.remove_prefix(4);
    return v;
  }

  std::optional<uint64_t> ReadFixed64BE() {
    auto hi = ReadFixed32BE();
    if (!hi) return std::nullopt;
    auto lo = ReadFixed32BE();
    if (!lo) return std::nullopt;
    return (static_cast<uint64_t>(*hi) << 32) | *lo;
  }

  std::optional<uint64_t> ReadFixed64LE() {
    if (data_.size() < 8) return std::nullopt;
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(data_[i]);
    data_.remove_prefix(8);
    return v;
  }

  std::optional<int32_t> ReadOrderedInt32() {
    auto v = ReadFixed32BE();
    if (!v) return std::nullopt;
    return static_cast<int32_t>(*v ^ 0x80000000u);
  }

  std::optional<int64_t> ReadOrderedInt64() {
    auto v = ReadFixed64BE();
    if (!v) return std::nullopt;
    return static_cast<int64_t>(*v ^ 0x8000000000000000ull);
  }

  // At most 10 bytes; the 10th may only carry the top bit of a 64-bit value.
  std::optional<uint64_t> ReadVarint64() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (data_.empty()) return std::nullopt;
      auto b = static_cast<uint8_t>(data_.front());
      data_.remove_prefix(1);
      if (shift == 63 && b > 1) return std::nullopt;
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return v;
    }
    return std::nullopt;
  }

  std::optional<int64_t> ReadSignedVarint64() {
    auto v = ReadVarint64();
    if (!v) return std::nullopt;
    return ZigZagDecode(*v);
  }

  // A varint length followed by that many bytes. The view points into the reader's input.
  std::optional<std::string_view> ReadLengthPrefixed() {
    auto n = ReadVarint64();
    if (!n || *n > data_.size()) return std::nullopt;
    std::string_view s = data_.substr(0, static_cast<size_t>(*n));
    data_.remove_prefix(static_cast<size_t>(*n));
    return s;
  }

  std::optional<std::string_view> ReadBytes(size_t n) {
    if (n > data_.size()) return std::nullopt;
    std::string_view s = data_.substr(0, n);
    data_.remove_prefix(n);
    return s;
  }

 private:
  std::string_view data_;
};

inline void AppendLengthPrefixed(std::string* out, std::string_view s) {
  AppendVarint64(out, s.size());
  out->append(s);
}

}  // namespace iocstream::state
