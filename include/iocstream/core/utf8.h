// Text helpers, UTF-8 aware. Pure functions: thread-safe.
#pragma once

#include <cstddef>
#include <string_view>

namespace iocstream {

// `text` cut to at most `max_bytes` without splitting a UTF-8 sequence (the cut moves back to
// the start of the sequence it would split). Bytes that are not UTF-8 are cut as they fall.
inline std::string_view CutUtf8(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  size_t end = max_bytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

// The number of UTF-8 code points in `text` (bytes that are not continuation bytes; a byte
// that is not UTF-8 counts as one).
inline size_t CodePoints(std::string_view text) {
  size_t n = 0;
  for (const char c : text) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// `text` without the spaces, tabs, CRs and LFs around it.
inline std::string_view TrimBlanks(std::string_view text) {
  constexpr std::string_view kBlanks = " \t\r\n";
  const size_t begin = text.find_first_not_of(kBlanks);
  if (begin == std::string_view::npos) return {};
  return text.substr(begin, text.find_last_not_of(kBlanks) - begin + 1);
}

}  // namespace iocstream
