#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace pw::query {

// A place in the query text, both 1-based; columns count characters, not bytes.
struct Position {
    int line = 1;
    int column = 1;
};

// An invalid query. what() is "query:LINE:COLUMN: message".
class QueryError : public std::runtime_error {
  public:
    QueryError(Position position, const std::string& message);
    Position position() const { return position_; }
    const std::string& message() const { return message_; }

  private:
    Position position_;
    std::string message_;
};

enum class Operator { kEqual, kNotEqual, kLess, kLessEqual, kGreater, kGreaterEqual, kGlob, kIn };

const char* operator_text(Operator op);

// A literal as written: a bare word or a quoted string. The compiler gives it a type from the
// field it is compared with.
struct Value {
    std::string text;
    bool quoted = false;
    Position position;
};

struct Comparison {
    std::string field;
    Position field_position;
    Operator op = Operator::kEqual;
    Position operator_position;
    // One value, or the list of `in (...)`.
    std::vector<Value> values;
};

struct Expression {
    enum class Kind { kAnd, kOr, kNot, kComparison };
    Kind kind = Kind::kComparison;
    // Two operands for kAnd and kOr, one for kNot.
    std::vector<std::unique_ptr<Expression>> operands;
    Comparison comparison;
};

using ExpressionPtr = std::unique_ptr<Expression>;

ExpressionPtr make_comparison(Comparison comparison);
ExpressionPtr make_binary(Expression::Kind kind, ExpressionPtr left, ExpressionPtr right);
ExpressionPtr make_not(ExpressionPtr operand);

}  // namespace pw::query
