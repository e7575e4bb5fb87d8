#include "iocstream/core/json_string.h"

#include <cstddef>
#include <cstdint>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "iocstream/core/byte_scan.h"

namespace iocstream {
namespace {

// Length of the well-formed UTF-8 sequence starting at bytes[0] (Unicode 15, table 3-7), or 0
// if it is not one (stray continuation byte, overlong form, surrogate, above U+10FFFF, cut off).
size_t Utf8SequenceLength(const unsigned char* bytes, size_t available) {
  const unsigned char lead = bytes[0];
  auto in = [&](size_t i, unsigned char low, unsigned char high) {
    return i < available && bytes[i] >= low && bytes[i] <= high;
  };
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return in(1, 0x80, 0xBF) ? 2 : 0;
  if (lead >= 0xE0 && lead <= 0xEF) {
    const unsigned char low = lead == 0xE0 ? 0xA0 : 0x80;
    const unsigned char high = lead == 0xED ? 0x9F : 0xBF;
    return in(1, low, high) && in(2, 0x80, 0xBF) ? 3 : 0;
  }
  if (lead >= 0xF0 && lead <= 0xF4) {
    const unsigned char low = lead == 0xF0 ? 0x90 : 0x80;
    const unsigned char high = lead == 0xF4 ? 0x8F : 0xBF;
    return in(1, low, high) && in(2, 0x80, 0xBF) && in(3, 0x80, 0xBF) ? 4 : 0;
  }
  return 0;
}

// Whether byte c needs no escaping and is not part of a multibyte sequence: printable ASCII
// (DEL included) other than '"' and '\'.
bool PlainByte(unsigned char c) { return c >= 0x20 && c != '"' && c != '\\' && c < 0x80; }

// The same for the 8 bytes at p.
bool Plain8(const char* p) {
  const uint64_t word = byte_scan::LoadWord(p);
  return !byte_scan::HasByteBelow(word, 0x20) && !byte_scan::HasByte(word, '"') &&
         !byte_scan::HasByte(word, '\\') && !byte_scan::HasNonAscii(word);
}

// The same for the 16 bytes at p.
bool Plain16(const char* p) {
#if defined(__SSE2__)
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  // A signed comparison: bytes 0x80-0xFF are negative, so one compare finds them and the
  // control characters.
  const __m128i below = _mm_cmplt_epi8(v, _mm_set1_epi8(0x20));
  const __m128i quote = _mm_cmpeq_epi8(v, _mm_set1_epi8('"'));
  const __m128i backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'));
  return _mm_movemask_epi8(_mm_or_si128(below, _mm_or_si128(quote, backslash))) == 0;
#else
  return Plain8(p) && Plain8(p + 8);
#endif
}

// Whether no byte of `text` needs escaping nor is non-ASCII: 16 (or 8) bytes at a time, the last
// block overlapping the one before rather than a loop over the bytes left.
bool IsPlain(std::string_view text) {
  const char* const p = text.data();
  const size_t n = text.size();
  if (n >= 16) {
    for (size_t i = 0; i + 16 < n; i += 16) {
      if (!Plain16(p + i)) return false;
    }
    return Plain16(p + n - 16);
  }
  if (n >= 8) return Plain8(p) && Plain8(p + n - 8);
  for (size_t i = 0; i < n; ++i) {
    if (!PlainByte(static_cast<unsigned char>(p[i]))) return false;
  }
  return true;
}

}  // namespace

// Texts that need no escaping (the common case: codes and ids, 776k alerts of seven strings
// each in a 1M-dossier replay) are checked 16 bytes at a time and copied whole (about 1,200 state
// writer instructions per alert went to the loop below, session 57's callgrind). Otherwise, runs
// of bytes that need no escaping are found eight bytes at a time and copied with one append.
bool AppendJsonString(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  if (IsPlain(text)) {
    out.push_back('"');
    out.append(text);
    out.push_back('"');
    return true;
  }
  bool valid = true;
  out.push_back('"');
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  size_t run_start = 0;
  size_t i = 0;
  while (i < text.size()) {
    if (i + 8 <= text.size() && Plain8(text.data() + i)) {
      i += 8;
      continue;
    }
    const unsigned char c = bytes[i];
    if (PlainByte(c)) {
      ++i;
      continue;
    }
    size_t length = 0;
    if (c >= 0x80) {
      length = Utf8SequenceLength(bytes + i, text.size() - i);
      if (length != 0) {
        i += length;
        continue;
      }
    }
    out.append(text.data() + run_start, i - run_start);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          const char escape[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
          out.append(escape, sizeof(escape));
        } else {
          out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER for one invalid byte
          valid = false;
        }
    }
    ++i;
    run_start = i;
  }
  out.append(text.data() + run_start, i - run_start);
  out.push_back('"');
  return valid;
}

bool IsValidUtf8(std::string_view text) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  size_t i = 0;
  while (i < text.size()) {
    if (i + 8 <= text.size() && !byte_scan::HasNonAscii(byte_scan::LoadWord(text.data() + i))) {
      i += 8;
      continue;
    }
    const size_t length = Utf8SequenceLength(bytes + i, text.size() - i);
    if (length == 0) return false;
    i += length;
  }
  return true;
}

std::string JsonQuote(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  AppendJsonString(out, text);
  return out;
}

}  // namespace iocstream
