#pragma once

// Query building blocks shared by the commands that read the store.

#include <cstdint>
#include <string>

#include "query/ast.h"
#include "query/parser.h"

namespace pw::cli {

// A comparison of `field` with one quoted value, as a query would write it.
query::ExpressionPtr comparison(std::string field, query::Operator op, std::string value);

// `left and right`; either may be null, which stands for "no condition".
query::ExpressionPtr both(query::ExpressionPtr left, query::ExpressionPtr right);

// A bound on `time` from the value of --since or --until; null when `text` is empty. Throws
// std::invalid_argument naming `option` when the time is invalid.
query::ExpressionPtr time_bound(const std::string& option, const std::string& text,
                                query::Operator op);

// Warns when `text`, the value of `option` read as `time_ms`, is a bare number that looks
// like seconds rather than milliseconds.
void warn_if_seconds(const std::string& option, const std::string& text, int64_t time_ms);

// Prints the error, then the part of the query line around the column at fault with a caret
// under that column.
void print_query_error(const query::QueryError& error, const std::string& query_text);

}  // namespace pw::cli
