// Repeated keys in the YAML files iocstream reads (calendars, the procedure catalog, CSV
// mappings; config.cc checks its own sections key by key), and files of several documents.
//
// yaml-cpp keeps both entries of a key a mapping repeats and reads the first, so the second is
// ignored without a word: a second `days_off:` block added to a calendar took no day off while
// a reload answered "ok" (a QA trial). These files refuse it instead.
//
// Header-only: used by the rules_config and mapping_config libraries alike. Not thread-safe
// beyond yaml-cpp's own (a Node is read, never changed).
#pragma once

#include <yaml-cpp/yaml.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

namespace iocstream::app {

// The one document of a YAML text or file's documents (yaml-cpp's LoadAll): null when there is
// none; nullopt when a document after the first holds something (`---` then more keys), which
// yaml-cpp's Load ignored without a word (a helper's trial: a config's `---` then `sla:` was
// dropped). Empty documents after the first (a trailing `---`) are ignored.
inline std::optional<YAML::Node> SingleDocument(const std::vector<YAML::Node>& documents) {
  for (size_t i = 1; i < documents.size(); ++i) {
    if (!documents[i].IsNull()) return std::nullopt;
  }
  return documents.empty() ? YAML::Node() : documents.front();
}
inline constexpr const char* kSeveralDocuments =
    "holds several YAML documents (separated by '---'): only the first would be read; merge "
    "them into one";

struct RepeatedKey {
  std::string path;  // where the second entry is: "days_off", "procedures[3].code"
  int line = 0;      // its line in the file, from 1
};

// The first key that a mapping anywhere in `node` gives twice (depth first, in file order),
// or nullopt. Keys that are not scalars are compared by their text as yaml-cpp reads it.
inline std::optional<RepeatedKey> FindRepeatedKey(const YAML::Node& node,
                                                  const std::string& at = "") {
  if (node.IsMap()) {
    std::set<std::string> seen;
    for (const auto& kv : node) {
      const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : YAML::Dump(kv.first);
      const std::string path = at.empty() ? key : at + "." + key;
      if (!seen.insert(key).second) return RepeatedKey{path, kv.first.Mark().line + 1};
      if (auto inner = FindRepeatedKey(kv.second, path)) return inner;
    }
  } else if (node.IsSequence()) {
    size_t i = 0;
    for (const auto& item : node) {
      if (auto inner = FindRepeatedKey(item, at + "[" + std::to_string(i++) + "]")) return inner;
    }
  }
  return std::nullopt;
}

}  // namespace iocstream::app
