#include <gtest/gtest.h>

#include <string>

#include "common/ascii.h"

namespace pw {
namespace {

TEST(TerminalSafe, PlainTextUnchanged) {
    EXPECT_EQ(terminal_safe("python3 -m http.server 8000"), "python3 -m http.server 8000");
    EXPECT_EQ(terminal_safe("café ☕ 𝄞"), "café ☕ 𝄞");
}

// A process named to move the cursor up and erase a line of the table.
TEST(TerminalSafe, ControlCodesEscaped) {
    EXPECT_EQ(terminal_safe("\x1b[1A\x1b[2Khidden"), "\\x1b[1A\\x1b[2Khidden");
    EXPECT_EQ(terminal_safe("a\rb\nc\x7f"), "a\\x0db\\x0ac\\x7f");
    EXPECT_EQ(terminal_safe(std::string("a\0b", 3)), "a\\x00b");
}

// C1 controls (8-bit CSI is U+009B), bytes that are not UTF-8 and the backslash itself.
TEST(TerminalSafe, C1InvalidAndBackslashEscaped) {
    EXPECT_EQ(terminal_safe("\xc2\x9b"
                            "2J"),
              "\\xc2\\x9b2J");
    EXPECT_EQ(terminal_safe("\x9b"
                            "2J"),
              "\\x9b2J");
    EXPECT_EQ(terminal_safe("\xe2\x82"), "\\xe2\\x82");
    EXPECT_EQ(terminal_safe("a\\x1b"), "a\\x5cx1b");
}

// U+202E (right-to-left override) would show "evil" reversed, and the rest of the row too.
TEST(TerminalSafe, BidiControlsEscaped) {
    EXPECT_EQ(terminal_safe("a\xe2\x80\xae"
                            "evil"),
              "a\\xe2\\x80\\xaeevil");
    EXPECT_EQ(terminal_safe("\xe2\x81\xa6x"), "\\xe2\\x81\\xa6x");
    EXPECT_EQ(terminal_safe("\xe2\x80\x94"), "\xe2\x80\x94");  // an em dash stays
}

// Overlong forms, UTF-16 surrogates and code points past U+10FFFF are no UTF-8, which
// decoders such as Python's reject.
TEST(Utf8Length, RejectsIllFormedSequences) {
    EXPECT_EQ(utf8_length_at("a", 0), 1u);
    EXPECT_EQ(utf8_length_at("\xc3\xa9", 0), 2u);
    EXPECT_EQ(utf8_length_at("\xe2\x80\x94", 0), 3u);
    EXPECT_EQ(utf8_length_at("\xf0\x9d\x84\x9e", 0), 4u);
    EXPECT_EQ(utf8_length_at("\xc0\xaf", 0), 0u);          // overlong '/'
    EXPECT_EQ(utf8_length_at("\xe0\x80\xaf", 0), 0u);      // overlong '/'
    EXPECT_EQ(utf8_length_at("\xed\xa0\x80", 0), 0u);      // U+D800
    EXPECT_EQ(utf8_length_at("\xf0\x80\x80\xaf", 0), 0u);  // overlong '/'
    EXPECT_EQ(utf8_length_at("\xf4\x90\x80\x80", 0), 0u);  // U+110000
    EXPECT_EQ(utf8_length_at("\xe2\x80", 0), 0u);          // cut short
}

// Each ill-formed part becomes one U+FFFD: a byte that starts no sequence, or the longest
// start of a sequence that breaks off.
TEST(ValidUtf8, ReplacesMaximalSubparts) {
    const std::string kReplacement = "\xef\xbf\xbd";
    EXPECT_TRUE(is_valid_utf8("plain \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
    EXPECT_FALSE(is_valid_utf8("a\xff"));
    EXPECT_EQ(to_valid_utf8("caf\xc3\xa9"), "caf\xc3\xa9");
    EXPECT_EQ(to_valid_utf8("a\xff"
                            "b"),
              "a" + kReplacement + "b");
    // E2 82 begins a three-byte sequence that breaks off at 'z': one replacement.
    EXPECT_EQ(to_valid_utf8("a\xe2\x82z"), "a" + kReplacement + "z");
    // A lone continuation byte and an overlong form's lead are a part each.
    EXPECT_EQ(to_valid_utf8("\x80\xc0\xaf"), kReplacement + kReplacement + kReplacement);
    // ED A0 would be a surrogate: ED alone is the part, then A0.
    EXPECT_EQ(to_valid_utf8("\xed\xa0\x80"), kReplacement + kReplacement + kReplacement);
    EXPECT_EQ(to_valid_utf8("\xf0\x9f\x98"), kReplacement);
}

}  // namespace
}  // namespace pw
