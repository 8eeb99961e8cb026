#include "query/error_excerpt.h"

#include <algorithm>
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

void append_shown(std::string& text, std::string_view character) {
    if (character == "\t") {
        text += ' ';
    } else if (terminal_safe(character) != character) {
        text += "\xef\xbf\xbd";  // U+FFFD REPLACEMENT CHARACTER
    } else {
        text += character;
    }
}

}  // namespace

ErrorExcerpt excerpt_at(std::string_view query, Position position, size_t width) {
    ErrorExcerpt excerpt;
    std::optional<std::string_view> line = line_of(query, position.line);
    if (!line || width == 0) return excerpt;
    std::vector<std::string_view> characters = split_characters(*line);
    const size_t count = characters.size();

    // The window of `width` characters, as 1-based columns [start, end). The column after
    // the last character is where an error at the end of the query points.
    const size_t column =
        std::clamp<size_t>(static_cast<size_t>(std::max(position.column, 1)), 1, count + 1);
    size_t start = column > width / 2 ? column - width / 2 : 1;
    const size_t end = std::min(count + 1, start + width);
    start = end > width ? std::max<size_t>(1, std::min(start, end - width)) : 1;

    const bool cut_before = start > 1;
    const bool cut_after = end <= count;
    if (cut_before) excerpt.text += "…";
    for (size_t i = start; i < end; ++i) append_shown(excerpt.text, characters[i - 1]);
    if (cut_after) excerpt.text += "…";
    excerpt.caret = std::string(column - start + (cut_before ? 1 : 0), ' ') + "^";
    return excerpt;
}

}  // namespace pw::query
