// Private to the decode module: FormatRfc3339Utc without the std::string, for the encoder,
// which appends timestamps straight into its output.
#pragma once

#include <cstddef>

#include "iocstream/core/types.h"

namespace iocstream::decode_internal {

// Longest output: a signed year (std::chrono::year holds -32767..32767: at most 6 characters)
// and "-MM-DDThh:mm:ss.mmmZ" (20).
inline constexpr size_t kMaxRfc3339Chars = 32;

// Writes FormatRfc3339Utc(instant) to `out` (not NUL-terminated); returns its length.
size_t WriteRfc3339Utc(Instant instant, char* out);

}  // namespace iocstream::decode_internal
