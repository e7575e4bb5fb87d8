#include "iocstream/core/json_string.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace iocstream {
namespace {

TEST(JsonQuoteTest, EscapesSpecialCharacters) {
  EXPECT_EQ(JsonQuote(""), R"("")");
  EXPECT_EQ(JsonQuote("a\"b\\c/d"), R"("a\"b\\c/d")");
  EXPECT_EQ(JsonQuote("\b\f\n\r\t"), R"("\b\f\n\r\t")");
  EXPECT_EQ(JsonQuote(std::string("\x00\x01\x0b\x1f", 4)), R"("\u0000\u0001\u000b\u001f")");
  EXPECT_EQ(JsonQuote("\x7f"), "\"\x7f\"");  // DEL is not a JSON control character
  EXPECT_EQ(JsonQuote("Đắk Lắk"), "\"Đắk Lắk\"");
  EXPECT_EQ(JsonQuote("\xf0\x9f\x98\x80"), "\"\xf0\x9f\x98\x80\"");  // U+1F600, not escaped
}

TEST(JsonQuoteTest, EscapesAtEveryPositionOfLongStrings) {
  // Plain bytes are skipped eight at a time: put each special byte at every offset.
  for (size_t position = 0; position <= 20; ++position) {
    const std::string before(position, 'a');
    const std::string after(20 - position, 'b');
    EXPECT_EQ(JsonQuote(before + "\"" + after), "\"" + before + "\\\"" + after + "\"");
    EXPECT_EQ(JsonQuote(before + "\\" + after), "\"" + before + "\\\\" + after + "\"");
    EXPECT_EQ(JsonQuote(before + "\x01" + after), "\"" + before + "\\u0001" + after + "\"");
    EXPECT_EQ(JsonQuote(before + "ắ" + after), "\"" + before + "ắ" + after + "\"");
    EXPECT_EQ(JsonQuote(before + "\xff" + after), "\"" + before + "\xef\xbf\xbd" + after + "\"");
  }
}

// Plain texts are checked 16 and 8 bytes at a time, the last block overlapping: every length
// from 0 to 70, plain, and with each kind of byte at every position.
TEST(JsonQuoteTest, EveryLengthAndPositionAroundTheBlockChecks) {
  struct Special {
    std::string byte;
    std::string written;
  };
  const std::vector<Special> specials = {{"\"", "\\\""},
                                         {"\\", "\\\\"},
                                         {"\n", "\\n"},
                                         {std::string(1, '\0'), "\\u0000"},
                                         {"\x1f", "\\u001f"},
                                         {"\x7f", "\x7f"},
                                         {"\xc3\xa9", "\xc3\xa9"},
                                         {"\xff", "\xef\xbf\xbd"},
                                         {" ", " "}};
  for (size_t length = 0; length <= 70; ++length) {
    std::string plain;
    for (size_t i = 0; i < length; ++i) plain.push_back(static_cast<char>('!' + (i * 7) % 90));
    for (char& c : plain) {
      if (c == '"' || c == '\\') c = 'x';
    }
    ASSERT_EQ(JsonQuote(plain), "\"" + plain + "\"") << length;
    for (size_t position = 0; position <= length; ++position) {
      for (const Special& special : specials) {
        const std::string text = plain.substr(0, position) + special.byte + plain.substr(position);
        ASSERT_EQ(JsonQuote(text), "\"" + plain.substr(0, position) + special.written +
                                       plain.substr(position) + "\"")
            << length << " " << position;
      }
    }
  }
}

TEST(JsonQuoteTest, ReplacesEachInvalidUtf8Byte) {
  const std::string r = "\xef\xbf\xbd";
  EXPECT_EQ(JsonQuote("a\xff"
                      "b"),
            "\"a" + r + "b\"");
  EXPECT_EQ(JsonQuote("\x80"), "\"" + r + "\"");                          // stray continuation byte
  EXPECT_EQ(JsonQuote("\xc3"), "\"" + r + "\"");                          // truncated sequence
  EXPECT_EQ(JsonQuote("\xe1\xbb"), "\"" + r + r + "\"");                  // truncated, one per byte
  EXPECT_EQ(JsonQuote("\xc0\xaf"), "\"" + r + r + "\"");                  // overlong '/'
  EXPECT_EQ(JsonQuote("\xed\xa0\x80"), "\"" + r + r + r + "\"");          // UTF-16 surrogate
  EXPECT_EQ(JsonQuote("\xf4\x90\x80\x80"), "\"" + r + r + r + r + "\"");  // above U+10FFFF
}

TEST(AppendJsonStringTest, AppendsAndReportsInvalidUtf8) {
  std::string out = "x:";
  EXPECT_TRUE(AppendJsonString(out, "Phường \"1\""));
  EXPECT_EQ(out, R"(x:"Phường \"1\"")");
  EXPECT_TRUE(AppendJsonString(out, std::string("\0", 1)));
  EXPECT_EQ(out, R"(x:"Phường \"1\"""\u0000")");
  EXPECT_FALSE(AppendJsonString(out, "\xd0"));
  EXPECT_EQ(out, "x:\"Phường \\\"1\\\"\"\"\\u0000\"\"\xef\xbf\xbd\"");
}

// IsValidUtf8 agrees with AppendJsonString's report on every kind of input, at every offset of
// the eight-byte scan.
TEST(IsValidUtf8Test, AgreesWithAppendJsonString) {
  const std::vector<std::string> pieces = {"",
                                           "a",
                                           "Phường",
                                           "\xff",
                                           "\x80",
                                           "\xc3",
                                           "\xe1\xbb",
                                           "\xc0\xaf",
                                           "\xed\xa0\x80",
                                           "\xf4\x90\x80\x80",
                                           "\xf0\x9f\x98\x80",
                                           std::string("\0", 1),
                                           "\"quoted\""};
  for (const std::string& piece : pieces) {
    for (size_t pad = 0; pad < 10; ++pad) {
      for (const std::string& text : {std::string(pad, 'x') + piece, piece + std::string(pad, 'y'),
                                      std::string(pad, 'x') + piece + std::string(16, 'z')}) {
        std::string out;
        EXPECT_EQ(IsValidUtf8(text), AppendJsonString(out, text)) << JsonQuote(text);
      }
    }
  }
  EXPECT_TRUE(IsValidUtf8("Sở Tư pháp"));
  EXPECT_FALSE(IsValidUtf8("Caf\xe9"));
}

}  // namespace
}  // namespace iocstream
