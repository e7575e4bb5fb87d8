#include "iocstream/decode/dead_letter.h"

#include "iocstream/core/utf8.h"

namespace iocstream {

DeadLetter MakeDeadLetter(const DecodeError& error, const TopicPartition& source, Offset offset) {
  return DeadLetter{std::string(ToString(error.reason)), error.detail, source.topic,
                    source.partition.value(), offset.value()};
}

std::vector<std::pair<std::string, std::string>> DeadLetterHeaders(const DeadLetter& letter) {
  std::vector<std::pair<std::string, std::string>> headers;
  headers.reserve(6);
  headers.emplace_back(kDlqReasonHeader, letter.reason);
  headers.emplace_back(kDlqDetailHeader, CutUtf8(letter.detail, kMaxDeadLetterDetailBytes));
  headers.emplace_back(kDlqTopicHeader, letter.source_topic);
  headers.emplace_back(kDlqPartitionHeader, std::to_string(letter.partition));
  headers.emplace_back(kDlqOffsetHeader, std::to_string(letter.offset));
  headers.emplace_back(kDlqSchemaHeader, kDossierEventSchemaId);
  return headers;
}

DeadLetterRecord CutDeadLetterRecord(std::string_view value, std::string_view key,
                                     std::vector<std::pair<std::string, std::string>>& headers,
                                     size_t cap) {
  auto tell = [&headers](std::string_view name, size_t bytes) {
    for (const auto& h : headers) {
      if (h.first == name) return;  // cut before: the header has the original's length
    }
    headers.emplace_back(name, std::to_string(bytes));
  };
  if (value.size() > cap) tell(kDlqValueBytesHeader, value.size());
  if (key.size() > cap) tell(kDlqKeyBytesHeader, key.size());
  return DeadLetterRecord{std::string(key.substr(0, cap)), std::string(value.substr(0, cap))};
}

}  // namespace iocstream
