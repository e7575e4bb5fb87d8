// The check of a file iocstream reads whole at start or reload: the config, the calendars, the
// procedure catalog, CSV mappings and the simulator's tables.
//
// Such a file is read on the thread that needs it (a reload: the pipeline's, between two poll
// batches) and parsed in memory. A FIFO as a calendar file blocked a running instance's reload
// until something was written into it: nothing consumed, SIGTERM unanswered meanwhile; and
// /dev/zero as one grew the process by gigabytes (a helper's trial). So only regular files are
// read, up to a size no such file comes near (the national procedure catalog is 0.5 MiB).
//
// Header-only: used by the rules_config and mapping_config libraries alike. Thread-safe (it
// only asks the file system).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

#include "iocstream/core/result.h"

namespace iocstream::app {

// Bytes an input file may hold (16 MiB).
inline constexpr std::uintmax_t kMaxInputFileBytes = std::uintmax_t{16} << 20;

// Whether `path` (symbolic links followed) is a regular file of at most `max_bytes`, to be read
// as `what` ("calendar file", "mapping file"...). Errors: kNotFound when there is no such file;
// kInvalidArgument for a directory, a FIFO, socket or device, or a larger file (configuration
// mistakes: exit 1, not retried by the service unit); kIo when its type cannot be read.
[[nodiscard]] inline Status CheckInputFile(const std::string& path, std::string_view what,
                                           std::uintmax_t max_bytes = kMaxInputFileBytes) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (st.type() == fs::file_type::not_found) {  // also a path through a file (ENOTDIR)
    return Error{ErrorCode::kNotFound, path + ": no such " + std::string(what)};
  }
  if (ec) {
    return Error{ErrorCode::kIo,
                 path + ": cannot read the " + std::string(what) + ": " + ec.message()};
  }
  if (fs::is_directory(st)) return InvalidArgument(path + ": is a directory, not a file");
  if (!fs::is_regular_file(st)) {
    return InvalidArgument(path + ": not a regular file (a pipe, FIFO, socket or device): the " +
                           std::string(what) + " must be a file, read whole");
  }
  const std::uintmax_t size = fs::file_size(path, ec);
  if (ec) {
    return Error{ErrorCode::kIo,
                 path + ": cannot read the " + std::string(what) + ": " + ec.message()};
  }
  if (size > max_bytes) {
    return InvalidArgument(path + ": " + std::to_string(size) + " bytes, more than a " +
                           std::string(what) + " may hold (" + std::to_string(max_bytes) +
                           "): is it the right file?");
  }
  return {};
}

}  // namespace iocstream::app
