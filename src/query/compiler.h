#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "query/ast.h"

namespace pw::query {

using SqlParameter = std::variant<int64_t, std::string, std::vector<uint8_t>>;

// A WHERE clause over the events table. `where` contains only column names and operators
// from the field table and one `?` per parameter; no text of the query reaches it.
struct SqlFilter {
    std::string where = "1";
    std::vector<SqlParameter> parameters;
    // Notes for the user that do not make the query invalid (an unknown protocol name).
    std::vector<std::string> warnings;
};

// Compiles a parsed query. Relative times count back from `now_ms`. Throws QueryError naming
// the field or value at fault.
SqlFilter compile(const Expression& expression, int64_t now_ms);

// Parses and compiles `query`.
SqlFilter compile_query(std::string_view query, int64_t now_ms);

}  // namespace pw::query
