#include <gtest/gtest.h>

#include <string>

#include "query/compiler.h"
#include "query/parser.h"

namespace pw::query {
namespace {

struct MalformedCase {
    std::string query;
    int line;
    int column;
    std::string message;
};

QueryError error_of(const std::string& query) {
    try {
        compile_query(query, 0);
    } catch (const QueryError& error) {
        return error;
    }
    ADD_FAILURE() << "query was accepted: " << query;
    return QueryError({0, 0}, "");
}

TEST(QueryParser, Precedence) {
    ExpressionPtr e = parse("a = 1 or b = 2 and not c = 3");
    ASSERT_EQ(e->kind, Expression::Kind::kOr);
    EXPECT_EQ(e->operands[0]->comparison.field, "a");
    const Expression& right = *e->operands[1];
    ASSERT_EQ(right.kind, Expression::Kind::kAnd);
    EXPECT_EQ(right.operands[1]->kind, Expression::Kind::kNot);
    EXPECT_EQ(right.operands[1]->operands[0]->comparison.field, "c");
}

TEST(QueryParser, ParenthesesGroup) {
    ExpressionPtr e = parse("(a = 1 or b = 2) and c = 3");
    ASSERT_EQ(e->kind, Expression::Kind::kAnd);
    EXPECT_EQ(e->operands[0]->kind, Expression::Kind::kOr);
}

TEST(QueryParser, KeywordsIgnoreCase) {
    ExpressionPtr e = parse("NOT a = 1 AND b In (1, 2) Or c ~ x*");
    ASSERT_EQ(e->kind, Expression::Kind::kOr);
    const Comparison& in = e->operands[0]->operands[1]->comparison;
    EXPECT_EQ(in.op, Operator::kIn);
    ASSERT_EQ(in.values.size(), 2u);
    EXPECT_EQ(in.values[1].text, "2");
}

TEST(QueryParser, ValuesKeepTheirText) {
    ExpressionPtr e = parse("time > -1h and target_ip in fe80::/10 and process = 'it\\'s'");
    EXPECT_EQ(e->operands[0]->operands[0]->comparison.values[0].text, "-1h");
    EXPECT_EQ(e->operands[0]->operands[1]->comparison.values[0].text, "fe80::/10");
}

TEST(QueryParser, StringEscapes) {
    ExpressionPtr e = parse(R"(process = "a \"b\" \\ c")");
    EXPECT_EQ(e->comparison.values[0].text, R"(a "b" \ c)");
    EXPECT_TRUE(e->comparison.values[0].quoted);
}

// Each escape works in both kinds of quotes.
TEST(QueryParser, EscapesInEitherQuotes) {
    ExpressionPtr e = parse(R"(process = 'it\'s \"x\" \\')");
    EXPECT_EQ(e->comparison.values[0].text, R"(it's "x" \)");
}

// A ']' first in a set is one of its characters, and '[[]' matches a '['.
TEST(QueryCompiler, GlobSetsThatClose) {
    for (const char* query : {"process ~ \"[]x]\"", "process ~ \"[^]]*\"", "process ~ \"[[]x\"",
                              "process ~ \"a[bc]d[ef]\""}) {
        SCOPED_TRACE(query);
        EXPECT_NO_THROW(compile_query(query, 0));
    }
}

TEST(QueryParser, OperatorsWithoutSpaces) {
    ExpressionPtr e = parse("bytes_out>=1MB and target_port!=443");
    EXPECT_EQ(e->operands[0]->comparison.op, Operator::kGreaterEqual);
    EXPECT_EQ(e->operands[0]->comparison.values[0].text, "1MB");
    EXPECT_EQ(e->operands[1]->comparison.op, Operator::kNotEqual);
}

TEST(QueryParser, ErrorFormat) {
    QueryError error = error_of("protocol = TLS and target_port =");
    EXPECT_STREQ(error.what(), "query:1:33: expected a value after '=', found end of query");
}

TEST(QueryParser, MalformedQueries) {
    const MalformedCase cases[] = {
        {"", 1, 1, "expected a field name, 'not' or '(', found end of query"},
        {"protocol TLS", 1, 10,
         "expected an operator (=, !=, <, <=, >, >=, ~, in) after "
         "'protocol', found 'TLS'"},
        {"(protocol = TLS", 1, 16, "expected ')' to close the '(' at column 1, found end of query"},
        {"protocol = TLS target_port = 443", 1, 16,
         "expected 'and', 'or' or end of query, found 'target_port'"},
        {"protocol = \"TLS", 1, 12, "unterminated string; close it with \""},
        {"target_port ! 443", 1, 13, "expected '=' after '!'; the operator is '!='"},
        {"protocol in (SMB, )", 1, 19, "expected a value after ',', found ')'"},
        {"protocol in (SMB SMB2)", 1, 18,
         "expected ',' or ')' in the list after 'in', found 'SMB2'"},
        {"protocol = and", 1, 12, "expected a value after '=', found 'and'"},
        {"protocol = TLS and", 1, 19, "expected a field name, 'not' or '(', found end of query"},
        {"protocol = TLS )", 1, 16, "expected 'and', 'or' or end of query, found ')'"},
        {"= TLS", 1, 1, "expected a field name, 'not' or '(', found '='"},
        {"protocol = TLS\nand target_port =", 2, 18,
         "expected a value after '=', found end of query"},
        {R"(process = 'a\qb')", 1, 13,
         "unknown escape in a string: a backslash may only come before a quote or another "
         "backslash; double it to match a backslash"},
    };
    for (const MalformedCase& c : cases) {
        SCOPED_TRACE(c.query);
        QueryError error = error_of(c.query);
        EXPECT_EQ(error.position().line, c.line);
        EXPECT_EQ(error.position().column, c.column);
        EXPECT_EQ(error.message(), c.message);
    }
}

TEST(QueryParser, InvalidFieldsAndValues) {
    const MalformedCase cases[] = {
        {"nosuch = 1", 1, 1, "unknown field 'nosuch'"},
        {"target_port = abc", 1, 15,
         "expected a port number from 0 to 65535 for 'target_port', found 'abc'"},
        {"target_port = -1", 1, 15, "expected a port number from 0 to 65535"},
        {"source_port in (80, 70000)", 1, 21, "expected a port number from 0 to 65535"},
        {"ip_protocol = 256", 1, 15, "an IP protocol number (0 to 255)"},
        {"activity = 9", 1, 12, "expected connect, disconnect, statistics"},
        {"direction = 7", 1, 13, "expected inbound, outbound or unknown"},
        {"direction_id = -1", 1, 16, "expected inbound, outbound or unknown"},
        {"pid = -5", 1, 7, "expected an integer from 0 for 'pid'"},
        {"process < x", 1, 9, "operator '<' does not apply to 'process'"},
        {"target_port ~ 4*", 1, 13, "operator '~' (glob) applies to text fields"},
        {"target_ip = 10.0.0.300", 1, 13, "expected an IP address or network"},
        {"target_ip in 10.0.0.0/33", 1, 14, "expected an IP address or network"},
        {"target_ip > 10.0.0.0/8", 1, 11, "operator '>' does not apply to the network"},
        {"time > yesterday", 1, 8, "expected an ISO 8601 time"},
        {"time > 2024-02-30", 1, 8, "expected an ISO 8601 time"},
        {"bytes_out > 1XB", 1, 13, "expected a whole number of bytes"},
        {"direction = sideways", 1, 13, "expected inbound, outbound or unknown"},
        {"id = reconnect", 1, 6, "expected connect, disconnect, statistics"},
        {"partial = maybe", 1, 11, "expected true or false"},
        {"protocol > TLS", 1, 10, "operator '>' does not apply to 'protocol'"},
        {"process ~ \"[abc\"", 1, 11, "opens a set with '[' that no ']' closes"},
        {"process ~ \"x[]\"", 1, 11, "opens a set with '[' that no ']' closes"},
        {"process ~ \"[^]\"", 1, 11, "opens a set with '[' that no ']' closes"},
    };
    for (const MalformedCase& c : cases) {
        SCOPED_TRACE(c.query);
        QueryError error = error_of(c.query);
        EXPECT_EQ(error.position().line, c.line);
        EXPECT_EQ(error.position().column, c.column);
        EXPECT_NE(error.message().find(c.message), std::string::npos) << error.message();
    }
}

TEST(QueryParser, ColumnsCountCharacters) {
    // "ü" is two bytes of UTF-8 but one column.
    QueryError error = error_of("process = \"ü\" and x = 1");
    EXPECT_EQ(error.position().column, 19);
}

std::string parenthesized(int levels) {
    return std::string(levels, '(') + "pid = 1" + std::string(levels, ')');
}

std::string repeated(const std::string& text, int count) {
    std::string result;
    for (int i = 0; i < count; ++i) result += text;
    return result;
}

TEST(QueryParser, NestingLimit) {
    QueryError error = error_of(parenthesized(150));
    EXPECT_NE(error.message().find("deeper than 100 levels"), std::string::npos);
}

// The message reads "deeper than 100 levels", so 100 levels pass and the 101st fails at its
// parenthesis.
TEST(QueryParser, HundredLevelsAllowed) {
    EXPECT_NO_THROW(compile_query(parenthesized(100), 0));
    QueryError error = error_of(parenthesized(101));
    EXPECT_NE(error.message().find("deeper than 100 levels"), std::string::npos);
    EXPECT_EQ(error.position().column, 101);
}

// Pairs of `not` cancel out and cost no level, and any run of them parses without
// recursion; an odd run keeps one `not`.
TEST(QueryParser, NotPairsCostNothing) {
    ExpressionPtr even = parse(repeated("not ", 100'000) + "pid = 1");
    EXPECT_EQ(even->kind, Expression::Kind::kComparison);
    ExpressionPtr odd = parse(repeated("not ", 100'001) + "pid = 1");
    ASSERT_EQ(odd->kind, Expression::Kind::kNot);
    EXPECT_EQ(odd->operands[0]->kind, Expression::Kind::kComparison);
    EXPECT_NO_THROW(compile_query(repeated("not ", 100) + "pid = 1", 0));
    EXPECT_NO_THROW(parse(repeated("not not (", 100) + "pid = 1" + std::string(100, ')')));
}

// A run of `not`s of odd length is one level, so 50 of "not (" fill the 100 levels.
TEST(QueryParser, OddNotCountsOneLevel) {
    EXPECT_NO_THROW(parse(repeated("not (", 50) + "pid = 1" + std::string(50, ')')));
    std::string deeper = repeated("not (", 50) + "not not not pid = 1" + std::string(50, ')');
    try {
        parse(deeper);
        FAIL() << "101 levels were accepted";
    } catch (const QueryError& error) {
        EXPECT_NE(error.message().find("deeper than 100 levels"), std::string::npos);
        EXPECT_EQ(error.position().column, 251);  // the first `not` of the last run
    }
}

TEST(QueryParser, ComparisonLimit) {
    std::string query = "pid = 1";
    for (int i = 0; i < 300; ++i) query += " or pid = 1";
    QueryError error = error_of(query);
    EXPECT_NE(error.message().find("more than 256 comparisons"), std::string::npos);
}

TEST(QueryCompiler, NoQueryTextInSql) {
    SqlFilter filter = compile_query(
        "process = \"x'; DROP TABLE events; --\" and target_ip in 10.0.0.0/8 and protocol = TLS",
        0);
    EXPECT_EQ(filter.where.find("DROP"), std::string::npos);
    EXPECT_EQ(filter.where.find("10.0"), std::string::npos);
    EXPECT_EQ(filter.where.find("TLS"), std::string::npos);
    // One text, two network bounds, one protocol id.
    EXPECT_EQ(filter.parameters.size(), 4u);
}

TEST(QueryCompiler, UnknownProtocolWarns) {
    SqlFilter filter = compile_query("protocol = TLZ", 0);
    ASSERT_EQ(filter.warnings.size(), 1u);
    EXPECT_NE(filter.warnings[0].find("'TLZ' is not a protocol"), std::string::npos);
}

TEST(QueryCompiler, LongUnknownFieldShownCut) {
    const std::string field = std::string(62, 'x') + "\xc3\xa9\xc3\xa9" + std::string(100000, 'y');
    try {
        compile_query(field + " = 1", 0);
        ADD_FAILURE() << "an unknown field compiled";
    } catch (const QueryError& error) {
        const std::string message = error.what();
        EXPECT_LT(message.size(), 400u);
        EXPECT_NE(message.find("unknown field '" + std::string(62, 'x') + "\xc3\xa9…'"),
                  std::string::npos)
            << message;
    }
}

TEST(QueryCompiler, TimeInSecondsWarns) {
    SqlFilter seconds = compile_query("time > 1705312810", 0);
    ASSERT_EQ(seconds.warnings.size(), 1u);
    EXPECT_NE(seconds.warnings[0].find("write 1705312810000"), std::string::npos);
    EXPECT_TRUE(compile_query("time > 1705312810000", 0).warnings.empty());
    EXPECT_TRUE(compile_query("time > 2024-01-15", 0).warnings.empty());
    EXPECT_TRUE(compile_query("time > 0", 0).warnings.empty());
    EXPECT_TRUE(compile_query("time > -1h", 1705312810000).warnings.empty());
}

}  // namespace
}  // namespace pw::query
