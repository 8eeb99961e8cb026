#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "query/ast.h"

namespace pw::query {

enum class TokenKind {
    kWord,    // a field name, keyword or bare value: anything up to a space, ( ) , or operator
    kString,  // "..." or '...', with \" \' and \\ escapes
    kOperator,
    kLeftParen,
    kRightParen,
    kComma,
    kEnd,
};

struct Token {
    TokenKind kind = TokenKind::kEnd;
    // The word, the string's unescaped content or the operator's characters.
    std::string text;
    Position position;
};

// Splits a query into tokens ending with a kEnd token. Throws QueryError on an unterminated
// string or a stray '!'.
std::vector<Token> tokenize(std::string_view query);

// Describes a token for an error message: "'and'", "string \"x\"", "end of query".
std::string describe(const Token& token);

}  // namespace pw::query
