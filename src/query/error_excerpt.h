#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "query/ast.h"

namespace pw::query {

// A line of a query cut to fit a terminal, with a caret line that points to one character.
struct ErrorExcerpt {
    std::string text;   // the line, or the part of it around the column
    std::string caret;  // spaces, then "^" under the column
};

// Cuts the line of `query` that `position` is on to at most `width` terminal columns around
// the column, with "…" at each end where characters were cut. The position's column counts
// characters as the lexer does, and the caret line counts the terminal columns they take,
// so the caret stays under its character after multi-byte UTF-8, wide (East Asian)
// characters and combining marks. Control and bidirectional characters, which a terminal
// would act on, show as U+FFFD, and tabs as spaces. The text is empty when the query has
// no such line.
ErrorExcerpt excerpt_at(std::string_view query, Position position, size_t width = 76);

}  // namespace pw::query
