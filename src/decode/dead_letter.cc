#include "iocstream/decode/dead_letter.h"

namespace iocstream {
namespace {

// Cuts `text` to at most `max_bytes` without splitting a UTF-8 sequence.
std::string_view CutUtf8(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  size_t end = max_bytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

}  // namespace

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

}  // namespace iocstream
