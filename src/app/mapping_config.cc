#include "app/mapping_config.h"

#include <date/tz.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <functional>
#include <initializer_list>
#include <optional>
#include <set>
#include <utility>

#include "app/input_file.h"
#include "app/yaml_keys.h"

namespace iocstream::app {
namespace {

namespace fs = std::filesystem;

class MappingError {
 public:
  explicit MappingError(std::string source) : source_(std::move(source)) {}
  Error operator()(const std::string& key, const std::string& why) const {
    return InvalidArgument(source_ + ": " + key + ": " + why);
  }

 private:
  std::string source_;
};

std::string Join(const std::set<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

Status CheckKeys(const YAML::Node& node, const std::string& section,
                 const std::set<std::string>& allowed, const MappingError& err) {
  if (!node.IsMap()) return err(section.empty() ? "(top level)" : section, "expected a mapping");
  for (const auto& kv : node) {
    const auto key = kv.first.as<std::string>();
    if (allowed.count(key) == 0) {
      return err(section.empty() ? key : section + "." + key,
                 "unknown key (known: " + Join(allowed) + ")");
    }
  }
  return {};
}

// A string at node[key]; absent or null leaves `out` as it is.
Status ReadString(const YAML::Node& node, const std::string& key_path, const char* key,
                  std::string& out, const MappingError& err) {
  const YAML::Node v = node[key];
  if (!v || v.IsNull()) return {};
  if (!v.IsScalar())
    return err(key_path, "expected a string, got a " + std::string(v.IsMap() ? "mapping" : "list"));
  out = v.as<std::string>();
  return {};
}

Status ReadStringList(const YAML::Node& node, const std::string& key_path,
                      std::vector<std::string>& out, const MappingError& err) {
  if (!node || node.IsNull()) return {};
  if (node.IsScalar()) {
    out.push_back(node.as<std::string>());
    return {};
  }
  if (!node.IsSequence()) return err(key_path, "expected a string or a list of strings");
  for (size_t i = 0; i < node.size(); ++i) {
    if (!node[i].IsScalar()) {
      return err(key_path + "[" + std::to_string(i) + "]", "expected a string");
    }
    out.push_back(node[i].as<std::string>());
  }
  return {};
}

Status ReadColumns(const YAML::Node& node, ingest::CsvColumns& c, const MappingError& err) {
  if (!node) return err("columns", "required (which CSV columns hold the dossier fields)");
  struct Key {
    const char* name;
    std::string* slot;
    const char* required_why;  // nullptr: optional
  };
  const std::initializer_list<Key> keys = {
      {"dossier_id", &c.dossier_id, "the column holding the case / dossier id"},
      {"received_at", &c.received_at, "the column holding the open (received) time"},
      {"due_at", &c.due_at, nullptr},
      {"completed_at", &c.completed_at, nullptr},
      {"agency", &c.agency, "the column holding the department"},
      {"commune", &c.commune, nullptr},
      {"procedure", &c.procedure, nullptr},
      {"channel", &c.channel, nullptr},
      {"status", &c.status, nullptr},
  };
  std::set<std::string> allowed;
  for (const Key& k : keys) allowed.insert(k.name);
  if (Status s = CheckKeys(node, "columns", allowed, err); !s) return s;
  for (const Key& k : keys) {
    const std::string path = std::string("columns.") + k.name;
    if (Status s = ReadString(node, path, k.name, *k.slot, err); !s) return s;
    if (k.required_why != nullptr && k.slot->empty()) {
      return err(path, std::string("required (") + k.required_why + ")");
    }
  }
  return {};
}

Status ReadTime(const YAML::Node& node, ingest::CsvMapping& m, const MappingError& err) {
  if (!node) return err("time", "required (formats and zone of the timestamps)");
  if (Status s = CheckKeys(node, "time", {"formats", "zone", "offset_applied_twice"}, err); !s) {
    return s;
  }
  if (const YAML::Node twice = node["offset_applied_twice"]; twice && !twice.IsNull()) {
    if (!twice.IsScalar() || !YAML::convert<bool>::decode(twice, m.offset_applied_twice)) {
      return err("time.offset_applied_twice", "expected true or false");
    }
  }
  if (Status s = ReadStringList(node["formats"], "time.formats", m.time_formats, err); !s) {
    return s;
  }
  if (m.time_formats.empty()) {
    return err("time.formats", "required (date::parse formats, e.g. \"%Y-%m-%d %H:%M:%S\")");
  }
  for (size_t i = 0; i < m.time_formats.size(); ++i) {
    if (m.time_formats[i].find('%') == std::string::npos) {
      return err("time.formats[" + std::to_string(i) + "]",
                 "not a date::parse format (no %-field): '" + m.time_formats[i] + "'");
    }
    if (const auto field = ingest::UnknownTimeFormatField(m.time_formats[i])) {
      return err("time.formats[" + std::to_string(i) + "]",
                 "'" + *field + "' in '" + m.time_formats[i] +
                     "' is not a date::parse field (it would read no value)");
    }
  }
  if (Status s = ReadString(node, "time.zone", "zone", m.time_zone, err); !s) return s;
  if (m.time_zone.empty()) {
    return err("time.zone", "required (IANA zone of timestamps without an offset, e.g. UTC)");
  }
  try {
    date::locate_zone(m.time_zone);
  } catch (const std::exception&) {
    return err("time.zone", "unknown time zone '" + m.time_zone +
                                "' (an IANA name such as America/New_York or UTC)");
  }
  return {};
}

Status ReadChannels(const YAML::Node& node, ingest::CsvMapping& m, const MappingError& err) {
  if (!node || node.IsNull()) return {};
  if (!node.IsMap()) return err("channel_values", "expected a mapping of raw value: channel");
  for (const auto& kv : node) {
    const auto raw = kv.first.as<std::string>();
    const std::string path = "channel_values." + raw;
    if (!kv.second.IsScalar()) return err(path, "expected a channel name");
    const auto name = kv.second.as<std::string>();
    const std::optional<Channel> channel = ParseChannel(name);
    if (!channel) {
      return err(path,
                 "unknown channel '" + name + "' (known: unknown, in_person, online, postal)");
    }
    m.channel_values[raw] = *channel;
  }
  return {};
}

Result<ingest::CsvMapping> Parse(const YAML::Node& root, const std::string& default_name,
                                 const MappingError& err) {
  if (Status s = CheckKeys(root, "",
                           {"name", "id_prefix", "columns", "time", "channel_values",
                            "cancelled_statuses", "default_agency"},
                           err);
      !s) {
    return s.error();
  }
  ingest::CsvMapping m;
  m.name = default_name;
  for (const auto& [key, slot] : std::initializer_list<std::pair<const char*, std::string*>>{
           {"name", &m.name}, {"id_prefix", &m.id_prefix}, {"default_agency", &m.default_agency}}) {
    if (Status s = ReadString(root, key, key, *slot, err); !s) return s.error();
  }
  if (Status s = ReadColumns(root["columns"], m.columns, err); !s) return s.error();
  if (Status s = ReadTime(root["time"], m, err); !s) return s.error();
  if (Status s = ReadChannels(root["channel_values"], m, err); !s) return s.error();
  if (Status s = ReadStringList(root["cancelled_statuses"], "cancelled_statuses",
                                m.cancelled_statuses, err);
      !s) {
    return s.error();
  }
  if (!m.cancelled_statuses.empty() && m.columns.status.empty()) {
    return err("cancelled_statuses", "needs columns.status (the column they are values of)");
  }
  return m;
}

Result<ingest::CsvMapping> ParseNode(const std::function<std::vector<YAML::Node>()>& load,
                                     const std::string& source, const std::string& default_name) {
  const MappingError err(source);
  YAML::Node root;
  try {
    const std::optional<YAML::Node> single = SingleDocument(load());
    if (!single) return InvalidArgument(source + ": " + kSeveralDocuments);
    root = *single;
  } catch (const YAML::Exception& e) {
    return InvalidArgument(source + ": not valid YAML: " + e.what());
  }
  if (!root || root.IsNull()) return err("(top level)", "empty mapping file");
  if (const auto repeated = FindRepeatedKey(root)) {
    return err(repeated->path, "given twice, line " + std::to_string(repeated->line) +
                                   " (only the first would be read: merge the two)");
  }
  try {
    return Parse(root, default_name, err);
  } catch (const YAML::Exception& e) {
    return err("(value)", e.what());
  }
}

}  // namespace

Result<ingest::CsvMapping> LoadCsvMapping(const std::string& path) {
  if (Status s = CheckInputFile(path, "mapping file"); !s) return s.error();
  return ParseNode([&] { return YAML::LoadAllFromFile(path); }, path,
                   fs::path(path).stem().string());
}

Result<ingest::CsvMapping> ParseCsvMapping(std::string_view yaml, const std::string& source) {
  return ParseNode([&] { return YAML::LoadAll(std::string(yaml)); }, source, source);
}

}  // namespace iocstream::app
