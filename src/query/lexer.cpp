#include "query/lexer.h"

#include <fmt/format.h>

namespace pw::query {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool ends_word(char c) {
    return is_space(c) || c == '(' || c == ')' || c == ',' || c == '"' || c == '\'' || c == '=' ||
           c == '!' || c == '<' || c == '>' || c == '~';
}

class Scanner {
  public:
    explicit Scanner(std::string_view text) : text_(text) {}

    bool done() const { return offset_ >= text_.size(); }
    char peek(size_t ahead = 0) const {
        return offset_ + ahead < text_.size() ? text_[offset_ + ahead] : '\0';
    }
    Position position() const { return position_; }

    char advance() {
        char c = text_[offset_++];
        if (c == '\n') {
            ++position_.line;
            position_.column = 1;
        } else if ((static_cast<unsigned char>(c) & 0xc0) != 0x80) {
            // UTF-8 continuation bytes belong to the character before them.
            ++position_.column;
        }
        return c;
    }

  private:
    std::string_view text_;
    size_t offset_ = 0;
    Position position_;
};

Token scan_string(Scanner& scanner) {
    Token token{TokenKind::kString, "", scanner.position()};
    char quote = scanner.advance();
    while (true) {
        if (scanner.done()) {
            throw QueryError(token.position,
                             fmt::format("unterminated string; close it with {}", quote));
        }
        const Position at = scanner.position();
        char c = scanner.advance();
        if (c == quote) return token;
        if (c == '\\') {
            const char next = scanner.peek();
            if (next != '"' && next != '\'' && next != '\\') {
                throw QueryError(at,
                                 "unknown escape in a string: a backslash may only come "
                                 "before a quote or another backslash; double it to "
                                 "match a backslash");
            }
            c = scanner.advance();
        }
        token.text += c;
    }
}

Token scan_operator(Scanner& scanner) {
    Token token{TokenKind::kOperator, "", scanner.position()};
    char c = scanner.advance();
    token.text = c;
    if ((c == '<' || c == '>' || c == '!') && scanner.peek() == '=') {
        token.text += scanner.advance();
    } else if (c == '!') {
        throw QueryError(token.position, "expected '=' after '!'; the operator is '!='");
    }
    return token;
}

}  // namespace

std::vector<Token> tokenize(std::string_view query) {
    std::vector<Token> tokens;
    Scanner scanner(query);
    while (true) {
        while (!scanner.done() && is_space(scanner.peek())) scanner.advance();
        if (scanner.done()) break;
        char c = scanner.peek();
        Position start = scanner.position();
        if (c == '(' || c == ')' || c == ',') {
            scanner.advance();
            TokenKind kind = c == '('   ? TokenKind::kLeftParen
                             : c == ')' ? TokenKind::kRightParen
                                        : TokenKind::kComma;
            tokens.push_back({kind, std::string(1, c), start});
        } else if (c == '"' || c == '\'') {
            tokens.push_back(scan_string(scanner));
        } else if (ends_word(c)) {
            tokens.push_back(scan_operator(scanner));
        } else {
            Token word{TokenKind::kWord, "", start};
            while (!scanner.done() && !ends_word(scanner.peek())) word.text += scanner.advance();
            tokens.push_back(std::move(word));
        }
    }
    tokens.push_back({TokenKind::kEnd, "", scanner.position()});
    return tokens;
}

std::string describe(const Token& token) {
    switch (token.kind) {
        case TokenKind::kEnd:
            return "end of query";
        case TokenKind::kString:
            return fmt::format("string \"{}\"", token.text);
        default:
            return fmt::format("'{}'", token.text);
    }
}

}  // namespace pw::query
