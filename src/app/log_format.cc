#include "app/log_format.h"

#include <spdlog/pattern_formatter.h>

#include <ctime>

namespace iocstream::app {
namespace {

// %* in the pattern: the message, its control characters escaped.
class EscapedMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm& /*time*/,
              spdlog::memory_buf_t& dest) override {
    AppendEscapedLogText(std::string_view(msg.payload.data(), msg.payload.size()), dest);
  }
  [[nodiscard]] std::unique_ptr<custom_flag_formatter> clone() const override {
    return spdlog::details::make_unique<EscapedMessage>();
  }
};

}  // namespace

void AppendEscapedLogText(std::string_view text, spdlog::memory_buf_t& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  size_t plain = 0;  // start of the run of bytes copied as they are
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != 0x7f) continue;
    out.append(text.data() + plain, text.data() + i);
    plain = i + 1;
    switch (c) {
      case '\n':
        out.append(std::string_view("\\n"));
        break;
      case '\r':
        out.append(std::string_view("\\r"));
        break;
      case '\t':
        out.append(std::string_view("\\t"));
        break;
      default: {
        const char escaped[] = {'\\', 'x', kHex[c >> 4], kHex[c & 0xf]};
        out.append(escaped, escaped + sizeof(escaped));
      }
    }
  }
  out.append(text.data() + plain, text.data() + text.size());
}

std::unique_ptr<spdlog::formatter> MakeLogFormatter() {
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<EscapedMessage>('*').set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %*");
  return formatter;
}

}  // namespace iocstream::app
