#include "cli/query_helpers.h"

#include <fmt/format.h>

#include <iostream>
#include <stdexcept>

#include "common/ascii.h"
#include "query/error_excerpt.h"
#include "query/literals.h"

namespace pw::cli {

query::ExpressionPtr comparison(std::string field, query::Operator op, std::string value) {
    query::Comparison c;
    c.field = std::move(field);
    c.op = op;
    c.values.push_back(query::Value{std::move(value), true, {}});
    return query::make_comparison(std::move(c));
}

query::ExpressionPtr both(query::ExpressionPtr left, query::ExpressionPtr right) {
    if (!left) return right;
    if (!right) return left;
    return query::make_binary(query::Expression::Kind::kAnd, std::move(left), std::move(right));
}

query::ExpressionPtr time_bound(const std::string& option, const std::string& text,
                                query::Operator op) {
    if (text.empty()) return nullptr;
    if (!query::parse_time(text, query::now_ms())) {
        throw std::invalid_argument(
            fmt::format("{}: invalid time '{}'; expected {}", option, text, query::kTimeForms));
    }
    return comparison("time", op, text);
}

void print_query_error(const query::QueryError& error, const std::string& query_text) {
    // The message quotes the token at fault, which may hold characters a terminal acts on.
    std::cerr << terminal_safe(error.what()) << '\n';
    query::ErrorExcerpt excerpt = query::excerpt_at(query_text, error.position());
    if (excerpt.text.empty()) return;
    std::cerr << "  " << excerpt.text << '\n' << "  " << excerpt.caret << '\n';
}

}  // namespace pw::cli
