// UTF-8 text helpers. Pure functions: thread-safe.
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

}  // namespace iocstream
