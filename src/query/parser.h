#pragma once

#include <string_view>

#include "query/ast.h"

namespace pw::query {

// Parses the search language:
//
//   query      = or-expr END
//   or-expr    = and-expr { "or" and-expr }
//   and-expr   = not-expr { "and" not-expr }
//   not-expr   = "not" not-expr | "(" or-expr ")" | comparison
//   comparison = FIELD OPERATOR value | FIELD "in" ( value | "(" value { "," value } ")" )
//   OPERATOR   = "=" | "!=" | "<" | "<=" | ">" | ">=" | "~"
//   value      = WORD | STRING
//
// Keywords are case-insensitive and are never values unless quoted. Field names and values
// are checked by the compiler. Throws QueryError naming the position and the expected token.
ExpressionPtr parse(std::string_view query);

}  // namespace pw::query
