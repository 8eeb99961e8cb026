#include "cli/query_helpers.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <iostream>
#include <optional>
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
    std::optional<int64_t> time = query::parse_time(text, query::now_ms());
    if (!time) {
        throw std::invalid_argument(
            fmt::format("{}: invalid time '{}'; expected {}", option, text, query::kTimeForms));
    }
    // The bound goes on as an ISO time, which the query compiler does not warn about again
    // under a position in a query the user did not write.
    warn_if_seconds(option, text, *time);
    return comparison("time", op, query::format_time(*time));
}

void warn_if_seconds(const std::string& option, const std::string& text, int64_t time_ms) {
    // As in queries: a bare number below 10^11 ms is before March 1973, so it was most
    // likely meant as seconds.
    const bool digits_only = text.find_first_not_of("0123456789") == std::string::npos;
    if (digits_only && time_ms > 0 && time_ms < 100'000'000'000) {
        spdlog::warn(
            "{} {} is read as milliseconds since 1970, which is {}; for seconds write "
            "{}000 or an ISO time",
            option, text, query::format_time(time_ms), text);
    }
}

void print_query_error(const query::QueryError& error, const std::string& query_text) {
    // The message quotes the token at fault, which may hold characters a terminal acts on.
    std::cerr << terminal_safe(error.what()) << '\n';
    query::ErrorExcerpt excerpt = query::excerpt_at(query_text, error.position());
    if (excerpt.text.empty()) return;
    std::cerr << "  " << excerpt.text << '\n' << "  " << excerpt.caret << '\n';
}

}  // namespace pw::cli
