#include "query/parser.h"

#include <fmt/format.h>

#include <cctype>
#include <optional>

#include "query/lexer.h"

namespace pw::query {
namespace {

// Nesting of parentheses and `not` beyond this many levels is rejected before it can
// exhaust the stack. Each parenthesis is a level, and so is a run of `not`s of odd length.
constexpr int kMaxDepth = 100;
// Bounds that keep the compiled SQL within SQLite's expression depth limit (1000 by default).
constexpr int kMaxComparisons = 256;
constexpr size_t kMaxListValues = 200;

bool is_keyword(const Token& token, std::string_view keyword) {
    if (token.kind != TokenKind::kWord || token.text.size() != keyword.size()) return false;
    for (size_t i = 0; i < keyword.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(token.text[i])) != keyword[i]) return false;
    }
    return true;
}

bool is_any_keyword(const Token& token) {
    return is_keyword(token, "and") || is_keyword(token, "or") || is_keyword(token, "not") ||
           is_keyword(token, "in");
}

std::optional<Operator> to_operator(const std::string& text) {
    if (text == "=") return Operator::kEqual;
    if (text == "!=") return Operator::kNotEqual;
    if (text == "<") return Operator::kLess;
    if (text == "<=") return Operator::kLessEqual;
    if (text == ">") return Operator::kGreater;
    if (text == ">=") return Operator::kGreaterEqual;
    if (text == "~") return Operator::kGlob;
    return std::nullopt;
}

class Parser {
  public:
    explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

    ExpressionPtr parse_query() {
        ExpressionPtr expression = parse_or();
        if (peek().kind != TokenKind::kEnd) {
            fail(fmt::format("expected 'and', 'or' or end of query, found {}", describe(peek())));
        }
        return expression;
    }

  private:
    const Token& peek() const { return tokens_[index_]; }
    const Token& advance() { return tokens_[index_++]; }

    [[noreturn]] void fail(const std::string& message) const {
        throw QueryError(peek().position, message);
    }

    ExpressionPtr parse_or() {
        ExpressionPtr left = parse_and();
        while (is_keyword(peek(), "or")) {
            advance();
            left = make_binary(Expression::Kind::kOr, std::move(left), parse_and());
        }
        return left;
    }

    ExpressionPtr parse_and() {
        ExpressionPtr left = parse_not();
        while (is_keyword(peek(), "and")) {
            advance();
            left = make_binary(Expression::Kind::kAnd, std::move(left), parse_not());
        }
        return left;
    }

    ExpressionPtr parse_not() {
        // Pairs of `not` cancel out, so a run of them is read in a loop and becomes one `not`
        // when its length is odd and none when it is even.
        const Token& first = peek();
        bool negated = false;
        while (is_keyword(peek(), "not")) {
            advance();
            negated = !negated;
        }
        if (negated) enter_level(first);
        ExpressionPtr result;
        if (peek().kind == TokenKind::kLeftParen) {
            enter_level(peek());
            Position open = advance().position;
            result = parse_or();
            if (peek().kind != TokenKind::kRightParen) {
                fail(fmt::format("expected ')' to close the '(' at column {}, found {}",
                                 open.column, describe(peek())));
            }
            advance();
            --depth_;
        } else if (peek().kind == TokenKind::kWord && !is_any_keyword(peek())) {
            result = parse_comparison();
        } else {
            fail(fmt::format("expected a field name, 'not' or '(', found {}", describe(peek())));
        }
        if (!negated) return result;
        --depth_;
        return make_not(std::move(result));
    }

    // Counts one level of nesting at `token`, a '(' or the first `not` of a run.
    void enter_level(const Token& token) {
        if (++depth_ > kMaxDepth) {
            throw QueryError(token.position,
                             fmt::format("the query nests 'not' and parentheses deeper than {} "
                                         "levels",
                                         kMaxDepth));
        }
    }

    ExpressionPtr parse_comparison() {
        if (++comparisons_ > kMaxComparisons) {
            fail(fmt::format("the query has more than {} comparisons", kMaxComparisons));
        }
        Comparison comparison;
        const Token& field = advance();
        comparison.field = field.text;
        comparison.field_position = field.position;
        comparison.operator_position = peek().position;
        std::optional<Operator> op =
            peek().kind == TokenKind::kOperator ? to_operator(peek().text) : std::nullopt;
        if (op) {
            advance();
            comparison.op = *op;
            comparison.values.push_back(parse_value(fmt::format("'{}'", operator_text(*op))));
        } else if (is_keyword(peek(), "in")) {
            advance();
            comparison.op = Operator::kIn;
            parse_in_values(comparison.values);
        } else {
            fail(
                fmt::format("expected an operator (=, !=, <, <=, >, >=, ~, in) after '{}', "
                            "found {}",
                            field.text, describe(peek())));
        }
        return make_comparison(std::move(comparison));
    }

    void parse_in_values(std::vector<Value>& values) {
        if (peek().kind != TokenKind::kLeftParen) {
            values.push_back(parse_value("'in'"));
            return;
        }
        advance();
        values.push_back(parse_value("'('"));
        while (peek().kind == TokenKind::kComma) {
            advance();
            if (values.size() == kMaxListValues) {
                fail(fmt::format("the list after 'in' has more than {} values", kMaxListValues));
            }
            values.push_back(parse_value("','"));
        }
        if (peek().kind != TokenKind::kRightParen) {
            fail(fmt::format("expected ',' or ')' in the list after 'in', found {}",
                             describe(peek())));
        }
        advance();
    }

    Value parse_value(const std::string& after) {
        const Token& token = peek();
        bool is_value = token.kind == TokenKind::kString ||
                        (token.kind == TokenKind::kWord && !is_any_keyword(token));
        if (!is_value)
            fail(fmt::format("expected a value after {}, found {}", after, describe(token)));
        advance();
        return Value{token.text, token.kind == TokenKind::kString, token.position};
    }

    std::vector<Token> tokens_;
    size_t index_ = 0;
    int depth_ = 0;
    int comparisons_ = 0;
};

}  // namespace

QueryError::QueryError(Position position, const std::string& message)
    : std::runtime_error(fmt::format("query:{}:{}: {}", position.line, position.column, message)),
      position_(position),
      message_(message) {}

const char* operator_text(Operator op) {
    switch (op) {
        case Operator::kEqual:
            return "=";
        case Operator::kNotEqual:
            return "!=";
        case Operator::kLess:
            return "<";
        case Operator::kLessEqual:
            return "<=";
        case Operator::kGreater:
            return ">";
        case Operator::kGreaterEqual:
            return ">=";
        case Operator::kGlob:
            return "~";
        case Operator::kIn:
            return "in";
    }
    return "?";
}

ExpressionPtr make_comparison(Comparison comparison) {
    auto expression = std::make_unique<Expression>();
    expression->kind = Expression::Kind::kComparison;
    expression->comparison = std::move(comparison);
    return expression;
}

ExpressionPtr make_binary(Expression::Kind kind, ExpressionPtr left, ExpressionPtr right) {
    auto expression = std::make_unique<Expression>();
    expression->kind = kind;
    expression->operands.push_back(std::move(left));
    expression->operands.push_back(std::move(right));
    return expression;
}

ExpressionPtr make_not(ExpressionPtr operand) {
    auto expression = std::make_unique<Expression>();
    expression->kind = Expression::Kind::kNot;
    expression->operands.push_back(std::move(operand));
    return expression;
}

ExpressionPtr parse(std::string_view query) { return Parser(tokenize(query)).parse_query(); }

}  // namespace pw::query
