#include "query/error_excerpt.h"

#include <locale.h>

#include <algorithm>
#include <cwchar>
#include <optional>
#include <vector>

#include "common/ascii.h"

namespace pw::query {
namespace {

// The characters of `line` as the lexer counts them: a byte that is not a UTF-8
// continuation byte starts a character, and the continuation bytes after it belong to it.
std::vector<std::string_view> split_characters(std::string_view line) {
    std::vector<std::string_view> characters;
    size_t start = 0;
    for (size_t i = 1; i <= line.size(); ++i) {
        if (i < line.size() && (static_cast<unsigned char>(line[i]) & 0xc0) == 0x80) continue;
        characters.push_back(line.substr(start, i - start));
        start = i;
    }
    return characters;
}

// The line with 1-based number `number`, or nothing when the query has fewer lines.
std::optional<std::string_view> line_of(std::string_view query, int number) {
    size_t start = 0;
    for (int line = 1; line < number; ++line) {
        size_t end = query.find('\n', start);
        if (end == std::string_view::npos) return std::nullopt;
        start = end + 1;
    }
    size_t end = query.find('\n', start);
    return query.substr(start,
                        end == std::string_view::npos ? std::string_view::npos : end - start);
}

// Returns how a character is shown: a tab as a space, and what a terminal would act on as
// U+FFFD. A backslash, which terminal_safe() escapes only to keep its escapes unambiguous,
// stays.
std::string_view shown(std::string_view character) {
    if (character == "\t") return " ";
    if (character == "\\") return character;
    if (terminal_safe(character) != character) return "\xef\xbf\xbd";  // U+FFFD
    return character;
}

// Returns the terminal columns that a shown character takes, as glibc's wcwidth() gives
// them in the C.UTF-8 locale: 2 for a wide (East Asian) character or an emoji, 0 for a
// combining mark or a zero-width space, else 1. Without that locale every character
// counts as 1.
size_t columns_of(std::string_view character) {
    static const locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", locale_t{});
    if (character.size() == 1 || utf8 == locale_t{}) return 1;
    // This thread alone reads characters in that locale, and only for this call.
    const locale_t previous = uselocale(utf8);
    std::mbstate_t state{};
    wchar_t code = 0;
    const size_t length = std::mbrtowc(&code, character.data(), character.size(), &state);
    const int width = length == character.size() ? wcwidth(code) : 1;
    uselocale(previous);
    return width < 0 ? 1 : static_cast<size_t>(width);
}

}  // namespace

ErrorExcerpt excerpt_at(std::string_view query, Position position, size_t width) {
    ErrorExcerpt excerpt;
    std::optional<std::string_view> line = line_of(query, position.line);
    if (!line || width == 0) return excerpt;
    std::vector<std::string_view> characters = split_characters(*line);
    const size_t count = characters.size();
    std::vector<size_t> columns(count);
    for (size_t i = 0; i < count; ++i) {
        characters[i] = shown(characters[i]);
        columns[i] = columns_of(characters[i]);
    }

    // The window of characters [start, end), as 1-based character numbers, that takes at
    // most `width` terminal columns: up to half of them before the pointed character, and
    // more when the line ends sooner after it. The position after the last character is
    // where an error at the end of the query points.
    const size_t column =
        std::clamp<size_t>(static_cast<size_t>(std::max(position.column, 1)), 1, count + 1);
    size_t start = column;
    size_t end = column;
    size_t used = 0;
    while (start > 1 && used + columns[start - 2] <= width / 2) used += columns[--start - 1];
    while (end <= count && used + columns[end - 1] <= width) used += columns[end++ - 1];
    while (start > 1 && used + columns[start - 2] <= width) used += columns[--start - 1];

    const bool cut_before = start > 1;
    const bool cut_after = end <= count;
    size_t caret_column = cut_before ? 1 : 0;  // "…" takes one column
    if (cut_before) excerpt.text += "…";
    for (size_t i = start; i < end; ++i) {
        excerpt.text += characters[i - 1];
        if (i < column) caret_column += columns[i - 1];
    }
    if (cut_after) excerpt.text += "…";
    excerpt.caret = std::string(caret_column, ' ') + "^";
    return excerpt;
}

}  // namespace pw::query
