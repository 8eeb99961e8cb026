#include "query/compiler.h"

#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <charconv>

#include "detect/protocols.h"
#include "query/fields.h"
#include "query/literals.h"
#include "query/parser.h"
#include "store/ip_address.h"

namespace pw::query {
namespace {

std::string lowercase(std::string_view text) {
    std::string result(text);
    for (char& c : result) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return result;
}

std::string uppercase(std::string_view text) {
    std::string result(text);
    for (char& c : result) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return result;
}

std::optional<int64_t> parse_integer(std::string_view text) {
    int64_t value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc() || end != text.data() + text.size()) {
        return std::nullopt;
    }
    return value;
}

struct NamedValue {
    std::string_view name;
    int64_t value;
};

constexpr NamedValue kDirections[] = {{"unknown", 0}, {"inbound", 1}, {"outbound", 2}};
constexpr NamedValue kActivities[] = {{"connect", 1}, {"disconnect", 2}, {"statistics", 3}};
constexpr NamedValue kIpProtocols[] = {
    {"icmp", 1}, {"igmp", 2}, {"tcp", 6}, {"udp", 17}, {"icmpv6", 58}, {"sctp", 132}};
constexpr NamedValue kBooleans[] = {{"false", 0}, {"true", 1}};

std::optional<int64_t> parse_named(std::string_view text, std::span<const NamedValue> names,
                                   bool allow_numbers) {
    std::string lower = lowercase(text);
    for (const NamedValue& named : names) {
        if (lower == named.name) return named.value;
    }
    if (!allow_numbers) return std::nullopt;
    return parse_integer(text);
}

bool allows_ordering(FieldType type) {
    return type == FieldType::kInteger || type == FieldType::kPort || type == FieldType::kCount ||
           type == FieldType::kBytes ||
           type == FieldType::kTime || type == FieldType::kIpProtocol ||
           type == FieldType::kAddress;
}

class Compiler {
  public:
    explicit Compiler(int64_t now_ms) : now_ms_(now_ms) {}

    SqlFilter finish(const Expression& expression) {
        filter_.where = compile(expression);
        return std::move(filter_);
    }

  private:
    std::string compile(const Expression& expression) {
        switch (expression.kind) {
            case Expression::Kind::kAnd:
            case Expression::Kind::kOr: {
                // A chain of one operator (a or b or c...) parses as a tree that leans left,
                // as deep as the chain is long. Written with a pair of parentheses per node,
                // a chain of a hundred comparisons overflows SQLite's parser stack, so the
                // chain is written flat inside one pair. Parameters are appended as the text
                // grows, so the operands are compiled from left to right.
                std::vector<const Expression*> chain;
                collect_chain(expression, expression.kind, chain);
                const char* word = expression.kind == Expression::Kind::kAnd ? " AND " : " OR ";
                std::string text = "(";
                for (size_t i = 0; i < chain.size(); ++i) {
                    if (i > 0) text += word;
                    text += compile(*chain[i]);
                }
                return text + ")";
            }
            case Expression::Kind::kNot: {
                // A comparison with a NULL column (bytes_out of a connect event) is NULL, and
                // NOT NULL is NULL again. Counting NULL as false first makes `not` the opposite.
                // Pairs of `not` cancel out, since each level would take room on the stack of
                // SQLite's parser, which holds about 20 of them.
                const Expression* operand = expression.operands[0].get();
                bool negated = true;
                while (operand->kind == Expression::Kind::kNot) {
                    negated = !negated;
                    operand = operand->operands[0].get();
                }
                return fmt::format("{}ifnull({}, 0)", negated ? "NOT " : "", compile(*operand));
            }
            case Expression::Kind::kComparison:
                return compile_comparison(expression.comparison);
        }
        return "0";
    }

    // The operands of the chain of `kind` operators rooted at `expression`, left to right.
    static void collect_chain(const Expression& expression, Expression::Kind kind,
                              std::vector<const Expression*>& chain) {
        if (expression.kind != kind) {
            chain.push_back(&expression);
            return;
        }
        for (const auto& operand : expression.operands) collect_chain(*operand, kind, chain);
    }

    std::string placeholder(SqlParameter parameter) {
        filter_.parameters.push_back(std::move(parameter));
        return "?";
    }

    std::string placeholders(std::vector<SqlParameter> values) {
        std::string list;
        for (auto& value : values) {
            if (!list.empty()) list += ", ";
            list += placeholder(std::move(value));
        }
        return list;
    }

    const Field& resolve_field(const Comparison& comparison) {
        const Field* field = find_field(lowercase(comparison.field));
        if (field == nullptr) {
            // No field name is long: a longer word is shown cut, so that the message stays
            // one line.
            constexpr size_t kShownLength = 64;
            std::string field_text = comparison.field;
            if (field_text.size() > kShownLength) {
                size_t cut = kShownLength;
                // Not inside a UTF-8 sequence: continuation bytes are 10xxxxxx.
                while (cut > 0 && (static_cast<unsigned char>(field_text[cut]) & 0xC0) == 0x80)
                    --cut;
                field_text = field_text.substr(0, cut) + "…";
            }
            throw QueryError(comparison.field_position,
                             fmt::format("unknown field '{}'; expected a field of the event such "
                                         "as time, protocol, source_ip, target_port, process, "
                                         "pid, user, direction or bytes_out",
                                         field_text));
        }
        return *field;
    }

    std::string compile_comparison(const Comparison& comparison) {
        const Field& field = resolve_field(comparison);
        // SQLite refuses a GLOB pattern longer than SQLITE_LIMIT_LIKE_PATTERN_LENGTH (50,000
        // bytes by default) only when a row is compared; refuse it here, with its place.
        constexpr size_t kMaxPatternBytes = 10'000;
        if (comparison.op == Operator::kGlob && !comparison.values.empty() &&
            comparison.values[0].text.size() > kMaxPatternBytes) {
            throw QueryError(comparison.values[0].position,
                             fmt::format("the pattern after '~' is {} bytes long; patterns may "
                                         "have at most {} bytes",
                                         comparison.values[0].text.size(), kMaxPatternBytes));
        }
        if (comparison.op == Operator::kGlob && !comparison.values.empty() &&
            has_unclosed_set(comparison.values[0].text)) {
            throw QueryError(comparison.values[0].position,
                             "the pattern after '~' opens a set with '[' that no ']' closes; "
                             "close it, or write [[] for a literal '['");
        }
        Operator op = comparison.op;
        bool ordering = op == Operator::kLess || op == Operator::kLessEqual ||
                        op == Operator::kGreater || op == Operator::kGreaterEqual;
        if (ordering && !allows_ordering(field.type)) {
            throw QueryError(comparison.operator_position,
                             fmt::format("operator '{}' does not apply to '{}'; use =, !=, ~ or in",
                                         operator_text(op), field.name));
        }
        switch (field.type) {
            case FieldType::kText:
                return compile_text(field, comparison);
            case FieldType::kAddress:
                return compile_address(field, comparison);
            case FieldType::kProtocol:
                return compile_protocol(comparison);
            default:
                return compile_number(field, comparison);
        }
    }

    // True when a '[' of the glob `pattern` starts a set that no ']' ends, which SQLite's
    // GLOB then matches against nothing. A ']' first in a set, after '[' or '[^', is one of
    // its characters.
    static bool has_unclosed_set(std::string_view pattern) {
        for (size_t i = 0; i < pattern.size(); ++i) {
            if (pattern[i] != '[') continue;
            size_t end = i + 1;
            if (end < pattern.size() && pattern[end] == '^') ++end;
            if (end < pattern.size() && pattern[end] == ']') ++end;
            while (end < pattern.size() && pattern[end] != ']') ++end;
            if (end == pattern.size()) return true;
            i = end;
        }
        return false;
    }

    [[noreturn]] static void reject_glob(const Field& field, const Comparison& comparison) {
        throw QueryError(
            comparison.operator_position,
            fmt::format("operator '~' (glob) applies to text fields; '{}' is not one", field.name));
    }

    std::string compare(std::string_view column, Operator op, std::vector<SqlParameter> values) {
        if (op == Operator::kIn)
            return fmt::format("{} IN ({})", column, placeholders(std::move(values)));
        std::string value = placeholder(std::move(values.front()));
        switch (op) {
            // IS NOT also matches a NULL column, as `not field = value` does.
            case Operator::kNotEqual:
                return fmt::format("{} IS NOT {}", column, value);
            case Operator::kGlob:
                return fmt::format("{} GLOB {}", column, value);
            default:
                return fmt::format("{} {} {}", column, operator_text(op), value);
        }
    }

    std::string compile_text(const Field& field, const Comparison& comparison) {
        std::vector<SqlParameter> values;
        for (const Value& value : comparison.values) values.emplace_back(value.text);
        return compare(field.column, comparison.op, std::move(values));
    }

    int64_t number_value(const Field& field, const Value& value) {
        std::optional<int64_t> number;
        std::string_view expected;
        switch (field.type) {
            case FieldType::kBytes:
                if (auto size = parse_exact_size(value.text); size && *size <= INT64_MAX) {
                    number = *size;
                }
                expected = "a whole number of bytes such as 1500, 64KB, 1.5MB or 2GiB";
                break;
            case FieldType::kTime:
                number = parse_time(value.text, now_ms_);
                expected = kTimeForms;
                // Zeek and osquery write times in seconds. Milliseconds below 10^11 are
                // before March 1973, so such a bare number was most likely meant as seconds.
                if (number && *number > 0 && *number < 100'000'000'000 &&
                    parse_integer(value.text)) {
                    filter_.warnings.push_back(fmt::format(
                        "query:{}:{}: {} is read as milliseconds since 1970, which is {}; "
                        "for seconds write {}000 or an ISO time",
                        value.position.line, value.position.column, value.text,
                        format_time(*number), value.text));
                }
                break;
            case FieldType::kDirection:
                number = parse_named(value.text, kDirections, true);
                if (number && (*number < 0 || *number > 2)) number.reset();
                expected = "inbound, outbound or unknown (or 1, 2, 0)";
                break;
            case FieldType::kActivity:
                number = parse_named(value.text, kActivities, true);
                if (number && (*number < 1 || *number > 3)) number.reset();
                expected = "connect, disconnect, statistics, or 1, 2, 3";
                break;
            case FieldType::kIpProtocol:
                number = parse_named(value.text, kIpProtocols, true);
                if (number && (*number < 0 || *number > 255)) number.reset();
                expected = "tcp, udp, icmp, icmpv6, igmp, sctp, or an IP protocol number (0 to 255)";
                break;
            case FieldType::kCount:
                number = parse_integer(value.text);
                if (number && *number < 0) number.reset();
                expected = "an integer from 0";
                break;
            case FieldType::kPort:
                number = parse_integer(value.text);
                if (number && (*number < 0 || *number > 65535)) number.reset();
                expected = "a port number from 0 to 65535";
                break;
            case FieldType::kBoolean:
                number = parse_named(value.text, kBooleans, false);
                expected = "true or false";
                break;
            default:
                number = parse_integer(value.text);
                expected = "an integer";
                break;
        }
        if (!number) {
            throw QueryError(value.position, fmt::format("expected {} for '{}', found '{}'",
                                                         expected, field.name, value.text));
        }
        return *number;
    }

    std::string compile_number(const Field& field, const Comparison& comparison) {
        if (comparison.op == Operator::kGlob) reject_glob(field, comparison);
        std::vector<SqlParameter> values;
        for (const Value& value : comparison.values)
            values.emplace_back(number_value(field, value));
        return compare(field.column, comparison.op, std::move(values));
    }

    std::string address_term(const Field& field, const Comparison& comparison, const Value& value) {
        auto blob = [](const store::AddressBytes& bytes) {
            return SqlParameter(std::vector<uint8_t>(bytes.begin(), bytes.end()));
        };
        if (auto address = store::parse_address(value.text)) {
            Operator op = comparison.op == Operator::kIn ? Operator::kEqual : comparison.op;
            return fmt::format("{} {} {}", field.column, operator_text(op),
                               placeholder(blob(*address)));
        }
        auto network = store::parse_network(value.text);
        if (!network) {
            throw QueryError(value.position,
                             fmt::format("expected an IP address or network (10.0.0.1, "
                                         "10.0.0.0/8, fd00::/8) for '{}', found '{}'",
                                         field.name, value.text));
        }
        if (comparison.op != Operator::kEqual && comparison.op != Operator::kIn) {
            throw QueryError(comparison.operator_position,
                             fmt::format("operator '{}' does not apply to the network '{}'; use "
                                         "in or =",
                                         operator_text(comparison.op), value.text));
        }
        std::string first = placeholder(blob(network->first));
        std::string range = fmt::format("{} BETWEEN {} AND {}", field.column, first,
                                        placeholder(blob(network->last)));
        // IPv4 addresses are stored mapped into ::ffff:0:0/96. An IPv6 network larger than
        // that range (::/0, ::/8) means IPv6 addresses: it matches IPv4 ones only when
        // written as that range or inside it (::ffff:10.0.0.0/104).
        store::AddressBytes mapped_first{};
        mapped_first[10] = 0xff;
        mapped_first[11] = 0xff;
        store::AddressBytes mapped_last = mapped_first;
        std::fill(mapped_last.begin() + 12, mapped_last.end(), 0xff);
        const bool contains_mapped =
            network->first <= mapped_first && network->last >= mapped_last &&
            (network->first != mapped_first || network->last != mapped_last);
        if (!contains_mapped) return range;
        // Placeholders are numbered in the order they are made, so each is made on its own.
        std::string low = placeholder(blob(mapped_first));
        std::string high = placeholder(blob(mapped_last));
        return fmt::format("({} AND {} NOT BETWEEN {} AND {})", range, field.column, low, high);
    }

    std::string compile_address(const Field& field, const Comparison& comparison) {
        if (comparison.op == Operator::kGlob) {
            return compare(field.text_column, Operator::kGlob, {comparison.values[0].text});
        }
        if (comparison.op == Operator::kNotEqual) {
            Comparison equal = comparison;
            equal.op = Operator::kEqual;
            return fmt::format("NOT ifnull({}, 0)", address_term(field, equal, equal.values[0]));
        }
        std::string terms;
        for (const Value& value : comparison.values) {
            if (!terms.empty()) terms += " OR ";
            terms += address_term(field, comparison, value);
        }
        return comparison.values.size() == 1 ? terms : "(" + terms + ")";
    }

    void add_protocol_ids(const Comparison& comparison, const Value& value,
                          std::vector<SqlParameter>& ids) {
        if (comparison.op == Operator::kGlob) {
            std::string pattern = uppercase(value.text);
            for (const ProtocolInfo& info : protocol_table()) {
                if (sqlite3_strglob(pattern.c_str(), std::string(info.name).c_str()) == 0) {
                    ids.emplace_back(int64_t{static_cast<uint16_t>(info.id)});
                }
            }
            return;
        }
        if (auto id = parse_protocol(value.text)) {
            ids.emplace_back(int64_t{static_cast<uint16_t>(*id)});
            return;
        }
        filter_.warnings.push_back(fmt::format(
            "query:{}:{}: '{}' is not a protocol of the table (see `protowatch protocols`); it "
            "matches no event",
            value.position.line, value.position.column, value.text));
    }

    std::string compile_protocol(const Comparison& comparison) {
        std::vector<SqlParameter> ids;
        for (const Value& value : comparison.values) add_protocol_ids(comparison, value, ids);
        // No protocol id is negative, so this matches no event.
        if (ids.empty()) ids.emplace_back(int64_t{-1});
        std::string subquery =
            fmt::format("SELECT event_id FROM event_protocols WHERE protocol_id IN ({})",
                        placeholders(std::move(ids)));
        const char* membership = comparison.op == Operator::kNotEqual ? "NOT IN" : "IN";
        return fmt::format("events.id {} ({})", membership, subquery);
    }

    int64_t now_ms_;
    SqlFilter filter_;
};

// SQLite's parser has a stack of fixed size (YYSTACKDEPTH, 100 entries in Debian's
// build), which a query that nests not, and, or and parentheses about fifteen levels deep
// fills. Parsing the clause once in an empty in-memory database finds that before any store
// is read, so that it is reported as a fault of the query. Other failures (the columns do
// not exist there) come after parsing and are ignored.
void check_sql_parses(const std::string& where, const Expression& expression) {
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_MEMORY, nullptr) !=
        SQLITE_OK) {
        sqlite3_close(db);
        return;
    }
    std::string sql = "SELECT 1 WHERE " + where;
    sqlite3_stmt* statement = nullptr;
    bool overflow = sqlite3_prepare_v2(db, sql.c_str(), -1, &statement, nullptr) != SQLITE_OK &&
                    std::string_view(sqlite3_errmsg(db)).find("stack overflow") !=
                        std::string_view::npos;
    sqlite3_finalize(statement);
    sqlite3_close(db);
    if (!overflow) return;
    Position start = expression.kind == Expression::Kind::kComparison
                         ? expression.comparison.field_position
                         : Position{};
    throw QueryError(start,
                     "the query nests 'not', 'and', 'or' and parentheses too deeply for the "
                     "event store's SQL engine; write it with fewer levels, for example "
                     "'not (a or b)' as 'not a and not b'");
}

}  // namespace

SqlFilter compile(const Expression& expression, int64_t now_ms) {
    SqlFilter filter = Compiler(now_ms).finish(expression);
    check_sql_parses(filter.where, expression);
    return filter;
}

SqlFilter compile_query(std::string_view query, int64_t now_ms) {
    ExpressionPtr expression = parse(query);
    return compile(*expression, now_ms);
}

}  // namespace pw::query
