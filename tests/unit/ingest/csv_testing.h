// Helpers for the CSV source tests: temporary files and reading a whole file.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <variant>
#include <vector>

#include "iocstream/ingest/csv_source.h"

namespace iocstream::ingest::testing {

// A file under the system temp directory, removed when the object goes out of scope.
class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            ("iocstream-csv-" + std::to_string(::getpid()) + "-" +
             (info != nullptr ? std::string(info->name()) : "x") + "-" +
             std::to_string(counter_++) + ".csv");
    std::ofstream out(path_, std::ios::binary);
    out << content;
  }
  ~TempFile() { std::filesystem::remove(path_); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  [[nodiscard]] std::string path() const { return path_.string(); }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

struct ReadResult {
  std::vector<DossierEvent> events;
  std::vector<RowError> errors;
  std::vector<int64_t> lines;  // last_line() after each row
};

inline ReadResult ReadAll(CsvEventReader& reader) {
  ReadResult out;
  while (auto row = reader.NextRow()) {
    out.lines.push_back(reader.last_line());
    if (auto* events = std::get_if<std::vector<DossierEvent>>(&*row)) {
      for (auto& e : *events) out.events.push_back(std::move(e));
    } else {
      out.errors.push_back(std::get<RowError>(*row));
    }
  }
  return out;
}

}  // namespace iocstream::ingest::testing
