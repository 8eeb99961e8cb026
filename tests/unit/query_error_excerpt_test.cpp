#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "query/error_excerpt.h"
#include "query/parser.h"

namespace pw::query {
namespace {

const std::string kEllipsis = "…";

// The characters of `text` as the terminal shows them, one string per UTF-8 character.
std::vector<std::string> characters(const std::string& text) {
    std::vector<std::string> result;
    for (char c : text) {
        if ((static_cast<unsigned char>(c) & 0xc0) == 0x80 && !result.empty()) {
            result.back() += c;
        } else {
            result.push_back(std::string(1, c));
        }
    }
    return result;
}

// The character that the caret points to.
std::string pointed(const ErrorExcerpt& excerpt) {
    std::vector<std::string> displayed = characters(excerpt.text);
    size_t index = excerpt.caret.size() - 1;
    EXPECT_EQ(excerpt.caret.back(), '^');
    EXPECT_EQ(excerpt.caret.find_first_not_of(' '), index);
    return index < displayed.size() ? displayed[index] : "end";
}

TEST(QueryErrorExcerpt, ShortLineWhole) {
    ErrorExcerpt excerpt = excerpt_at("pid = 1 and", {1, 9});
    EXPECT_EQ(excerpt.text, "pid = 1 and");
    EXPECT_EQ(excerpt.caret, "        ^");
    EXPECT_EQ(excerpt_at("pid =", {1, 6}).caret, "     ^");
}

// Columns far into a long line, as in an error at column 401 or 2707, get a window around
// them with the caret under the character at fault and both cut ends marked.
TEST(QueryErrorExcerpt, LongLineWindowAroundColumn) {
    std::string query =
        std::string(400, 'a') + "X" + std::string(2305, 'b') + "Y" + std::string(500, 'c');
    for (int column : {401, 2707}) {
        ErrorExcerpt excerpt = excerpt_at(query, {1, column}, 76);
        std::vector<std::string> displayed = characters(excerpt.text);
        EXPECT_EQ(displayed.size(), 78u) << column;
        EXPECT_EQ(displayed.front(), kEllipsis) << column;
        EXPECT_EQ(displayed.back(), kEllipsis) << column;
        EXPECT_EQ(pointed(excerpt), column == 401 ? "X" : "Y");
    }
}

TEST(QueryErrorExcerpt, ColumnNearEitherEnd) {
    std::string query = "Q" + std::string(299, 'a');
    ErrorExcerpt start = excerpt_at(query, {1, 1}, 76);
    EXPECT_EQ(start.text.substr(0, 2), "Qa");
    EXPECT_EQ(characters(start.text).back(), kEllipsis);
    EXPECT_EQ(start.caret, "^");

    // An error at the end of the query points just past its last character.
    ErrorExcerpt end = excerpt_at(query, {1, 301}, 76);
    std::vector<std::string> displayed = characters(end.text);
    EXPECT_EQ(displayed.front(), kEllipsis);
    EXPECT_EQ(displayed.back(), "a");
    EXPECT_EQ(pointed(end), "end");
    EXPECT_EQ(end.caret.size(), displayed.size() + 1);
}

TEST(QueryErrorExcerpt, MultiByteCharactersAlign) {
    std::string query = "process = \"üüü\" and x = 1";
    ErrorExcerpt excerpt = excerpt_at(query, {1, 21});
    EXPECT_EQ(excerpt.text, query);
    EXPECT_EQ(pointed(excerpt), "x");
    std::string long_query = std::string(200, 'a') + std::string(100 * 2, ' ');
    for (int i = 0; i < 100; ++i) long_query.replace(200 + 2 * i, 2, "é");
    long_query += "Z";
    EXPECT_EQ(pointed(excerpt_at(long_query, {1, 301}, 40)), "Z");
}

// Wide characters take two terminal columns and combining marks none, so the caret line
// counts columns, not characters, and the window counts columns too.
TEST(QueryErrorExcerpt, WideAndCombiningCharactersAlign) {
    std::string wide = "name = \"漢字テスト\" and x = 1";  // 5 characters of 2 columns
    ErrorExcerpt excerpt = excerpt_at(wide, {1, 20});      // the x
    EXPECT_EQ(excerpt.text, wide);
    EXPECT_EQ(excerpt.caret, std::string(24, ' ') + "^");

    // e and U+0301 COMBINING ACUTE ACCENT, twice: 4 characters in 2 columns.
    std::string combining =
        "name = \"e\xcc\x81"
        "e\xcc\x81\" and x = 1";
    excerpt = excerpt_at(combining, {1, 19});  // the x
    EXPECT_EQ(excerpt.text, combining);
    EXPECT_EQ(excerpt.caret, std::string(16, ' ') + "^");

    std::string emoji = "\xf0\x9f\x98\x80 x";  // U+1F600, 2 columns
    EXPECT_EQ(excerpt_at(emoji, {1, 3}).caret, "   ^");

    // 100 wide characters fit 20 to a window of 40 columns, the ellipsis included.
    std::string long_wide;
    for (int i = 0; i < 100; ++i) long_wide += "漢";
    long_wide += "Z";
    excerpt = excerpt_at(long_wide, {1, 101}, 40);
    EXPECT_EQ(excerpt.text.substr(0, 3), kEllipsis);
    EXPECT_EQ(excerpt.text.substr(excerpt.text.size() - 1), "Z");
    EXPECT_LE(characters(excerpt.text).size(), 21u);
    EXPECT_EQ(excerpt.caret.size() - 1, 1 + 2 * (characters(excerpt.text).size() - 2));
}

TEST(QueryErrorExcerpt, LineOfThePosition) {
    ErrorExcerpt excerpt = excerpt_at("pid = 1\nand bad", {2, 5});
    EXPECT_EQ(excerpt.text, "and bad");
    EXPECT_EQ(pointed(excerpt), "b");
    EXPECT_TRUE(excerpt_at("pid = 1", {3, 1}).text.empty());
}

// Characters a terminal would act on keep their column but are not sent to it.
TEST(QueryErrorExcerpt, ControlCharactersReplaced) {
    ErrorExcerpt excerpt = excerpt_at("process = \"\x1b[2J\"\tx", {1, 18});
    EXPECT_EQ(excerpt.text.find('\x1b'), std::string::npos);
    EXPECT_NE(excerpt.text.find("\xef\xbf\xbd[2J\" x"), std::string::npos) << excerpt.text;
    EXPECT_EQ(pointed(excerpt), "x");
}

// The excerpt points where the parser's error does.
TEST(QueryErrorExcerpt, PointsAtParserError) {
    std::string query;
    for (int i = 0; i < 60; ++i) query += "pid = 1 and ";
    query += "pid = and pid = 2";
    try {
        parse(query);
        FAIL() << "the query was accepted";
    } catch (const QueryError& error) {
        EXPECT_EQ(error.position().column, 727);
        ErrorExcerpt excerpt = excerpt_at(query, error.position());
        EXPECT_EQ(pointed(excerpt), "a");
        EXPECT_NE(excerpt.text.find("pid = and"), std::string::npos) << excerpt.text;
    }
}

}  // namespace
}  // namespace pw::query
