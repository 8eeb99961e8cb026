// Source code without a #! line: VBScript, Python and JavaScript. Each language has a set
// of constructs that the other two (and prose) rarely contain. A head scores one or two
// points for each kind of construct it holds, each kind counted once, and the language
// that reaches its threshold with the highest score wins.

#include <array>
#include <bitset>
#include <cctype>

#include "common/ascii.h"
#include "content/magic.h"

namespace pw::content {
namespace {

char lower(char c) { return ascii_lower(c); }

bool is_word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

bool starts_with_word_ci(std::string_view text, std::string_view word) {
    if (text.size() < word.size()) return false;
    for (size_t i = 0; i < word.size(); ++i) {
        if (lower(text[i]) != word[i]) return false;
    }
    return text.size() == word.size() || !is_word_char(text[word.size()]);
}

bool starts_with_word(std::string_view text, std::string_view word) {
    return text.starts_with(word) &&
           (text.size() == word.size() || !is_word_char(text[word.size()]));
}

std::string_view trim(std::string_view line) {
    size_t start = line.find_first_not_of(" \t");
    if (start == std::string_view::npos) return {};
    size_t end = line.find_last_not_of(" \t\r");
    return line.substr(start, end - start + 1);
}

std::string_view after_word(std::string_view text, size_t word_length) {
    return trim(text.substr(std::min(word_length, text.size())));
}

bool starts_with_identifier(std::string_view text) {
    return !text.empty() && (std::isalpha(static_cast<unsigned char>(text[0])) || text[0] == '_');
}

// Characters that the searched constructs contain (punctuation, and the x of msgbox), one
// bit each. A line is searched for a construct only when it contains the construct's
// character, which most lines of prose lack. Testing a bit costs less than a search.
enum Mark : uint32_t {
    kDot = 1,       // .
    kParen = 2,     // (
    kEquals = 4,    // =
    kGreater = 8,   // >
    kBrace = 16,    // }
    kDollar = 32,   // $
    kAt = 64,       // @
    kLetterX = 128  // x or X (msgbox)
};

constexpr std::array<uint8_t, 256> kMarks = [] {
    std::array<uint8_t, 256> marks{};
    marks['.'] = kDot;
    marks['('] = kParen;
    marks['='] = kEquals;
    marks['>'] = kGreater;
    marks['}'] = kBrace;
    marks['$'] = kDollar;
    marks['@'] = kAt;
    marks['x'] = kLetterX;
    marks['X'] = kLetterX;
    return marks;
}();

uint32_t marks_of(std::string_view line) {
    uint32_t marks = 0;
    for (char c : line) marks |= kMarks[static_cast<unsigned char>(c)];
    return marks;
}

// The kinds of constructs, each scored once per head, so that a line is searched only for
// the kinds not seen yet.
enum Construct {
    kPyImport,
    kPyFrom,
    kPyModuleImport,
    kPyDef,
    kPyClass,
    kPyMain,
    kPyBlock,
    kPyDocstring,
    kPySelf,
    kJsStrict,
    kJsDeclaration,
    kJsFunction,
    kJsArrow,
    kJsRequire,
    kJsExport,
    kJsImport,
    kJsDom,
    kJsStrictEquality,
    kJsConsole,
    kJsLibrary,
    kJsPrototype,
    kJsTypeof,
    kJsUndefined,
    kJsCallbackEnd,
    kJsDocType,
    kJsClosure,
    kVbDim,
    kVbSet,
    kVbCreateObject,
    kVbWScript,
    kVbOnError,
    kVbOption,
    kVbEnd,
    kVbProcedure,
    kVbIfThen,
    kVbComment,
    kVbMsgBox,
    kConstructCount
};

void score_python_line(std::string_view line, uint32_t marks, bool indented,
                       std::bitset<kConstructCount>& seen) {
    if (!indented && starts_with_word(line, "import") &&
        starts_with_identifier(after_word(line, 6)) && line.find_first_of("{;'\"(") == line.npos)
        seen.set(kPyImport);
    if (!indented && starts_with_word(line, "from") && line.find(" import ") != line.npos &&
        line.find_first_of("'\"") == line.npos) {
        seen.set(kPyFrom);
        // Forms only Python has: a relative import, a future statement, a star import.
        if (line.starts_with("from .") || line.starts_with("from __future__ import") ||
            line.ends_with(" import *"))
            seen.set(kPyModuleImport);
    }
    if (!indented && line.starts_with("__all__ = [")) seen.set(kPyModuleImport);
    std::string_view def = line.starts_with("async ") ? after_word(line, 6) : line;
    if (starts_with_word(def, "def") && starts_with_identifier(after_word(def, 3)) &&
        def.find('(') != def.npos && (def.ends_with(":") || def.ends_with(",")))
        seen.set(kPyDef);
    if (starts_with_word(line, "class") && starts_with_identifier(after_word(line, 5)) &&
        line.ends_with(":"))
        seen.set(kPyClass);
    if (line.starts_with("if __name__ ==")) seen.set(kPyMain);
    for (std::string_view word : {"elif", "except", "try", "finally", "with", "for", "while"}) {
        if (starts_with_word(line, word) && line.ends_with(":")) seen.set(kPyBlock);
    }
    if (line.starts_with("\"\"\"") || line.starts_with("'''")) seen.set(kPyDocstring);
    if (!seen.test(kPySelf) && (marks & kDot) != 0 && line.find("self.") != line.npos)
        seen.set(kPySelf);
}

void score_javascript_line(std::string_view line, uint32_t marks,
                           std::bitset<kConstructCount>& seen) {
    if (line.starts_with("\"use strict\"") || line.starts_with("'use strict'")) seen.set(kJsStrict);
    for (std::string_view word : {"const", "let", "var"}) {
        std::string_view rest = after_word(line, word.size());
        if (starts_with_word(line, word) && (marks & kEquals) != 0 &&
            (starts_with_identifier(rest) || rest.starts_with('{') || rest.starts_with('[') ||
             rest.starts_with('$')))
            seen.set(kJsDeclaration);
    }
    if (!seen.test(kJsFunction) && (marks & kParen) != 0) {
        size_t function = line.find("function");
        if (function != line.npos && line.find('(', function) != line.npos &&
            (function == 0 || !is_word_char(line[function - 1])))
            seen.set(kJsFunction);
    }
    if (!seen.test(kJsArrow) && (marks & kGreater) != 0 && line.find("=>") != line.npos)
        seen.set(kJsArrow);
    if (!seen.test(kJsRequire) && (marks & kParen) != 0 && line.find("require(") != line.npos)
        seen.set(kJsRequire);
    if (line.starts_with("module.exports") || line.starts_with("exports.")) seen.set(kJsExport);
    // ES module statements (ECMA-262's ImportDeclaration and ExportDeclaration).
    for (std::string_view form :
         {"export default", "export function", "export const", "export class",
          "export async function", "export {", "export *"}) {
        if (line.starts_with(form)) seen.set(kJsExport);
    }
    if (starts_with_word(line, "import") &&
        (line.find(" from '") != line.npos || line.find(" from \"") != line.npos ||
         line.starts_with("import '") || line.starts_with("import \"")))
        seen.set(kJsImport);
    if (!seen.test(kJsDom) && (marks & kDot) != 0 &&
        (line.find("document.") != line.npos || line.find("window.") != line.npos))
        seen.set(kJsDom);
    if (!seen.test(kJsStrictEquality) && (marks & kEquals) != 0 &&
        (line.find("===") != line.npos || line.find("!==") != line.npos))
        seen.set(kJsStrictEquality);
    if (!seen.test(kJsConsole) && (marks & kDot) != 0 && line.find("console.") != line.npos)
        seen.set(kJsConsole);
    if (!seen.test(kJsClosure) && (marks & kBrace) != 0 &&
        (line.find("})(") != line.npos || line.find("}());") != line.npos))
        seen.set(kJsClosure);
    // A function expression called at once opens many generated and bundled scripts.
    for (std::string_view opening : {"(function(", "(function (", "!function(", ";(function("}) {
        if (line.starts_with(opening)) seen.set(kJsClosure);
    }
}

// Idioms of browser scripts and their libraries.
void score_javascript_idioms(std::string_view line, uint32_t marks,
                             std::bitset<kConstructCount>& seen) {
    if (!seen.test(kJsLibrary) && (((marks & kDollar) != 0 && (line.find("$(") != line.npos ||
                                                               line.find("$.") != line.npos)) ||
                                   line.find("jQuery") != line.npos))
        seen.set(kJsLibrary);
    if (!seen.test(kJsPrototype) && (marks & kDot) != 0 && line.find(".prototype") != line.npos)
        seen.set(kJsPrototype);
    if (!seen.test(kJsTypeof) && line.find("typeof ") != line.npos) seen.set(kJsTypeof);
    if (!seen.test(kJsUndefined) && line.find("undefined") != line.npos) seen.set(kJsUndefined);
    if (line.ends_with("});")) seen.set(kJsCallbackEnd);
    // JSDoc type annotations: "@param {Object} name".
    if ((marks & kAt) != 0) {
        for (std::string_view tag : {"@param {", "@returns {", "@return {", "@type {"}) {
            if (!seen.test(kJsDocType) && line.find(tag) != line.npos) seen.set(kJsDocType);
        }
    }
}

void score_vbscript_line(std::string_view line, uint32_t marks,
                         std::bitset<kConstructCount>& seen) {
    if (starts_with_word_ci(line, "dim") && starts_with_identifier(after_word(line, 3)))
        seen.set(kVbDim);
    if (starts_with_word_ci(line, "set")) {
        std::string_view rest = after_word(line, 3);
        size_t name = 0;
        while (name < rest.size() && (is_word_char(rest[name]) || rest[name] == '.')) ++name;
        if (name > 0 && trim(rest.substr(name)).starts_with('=')) seen.set(kVbSet);
    }
    if (!seen.test(kVbCreateObject) && (marks & kParen) != 0 &&
        contains_ignoring_case(line, "createobject("))
        seen.set(kVbCreateObject);
    if (!seen.test(kVbWScript) && (marks & kDot) != 0 && contains_ignoring_case(line, "wscript."))
        seen.set(kVbWScript);
    if (starts_with_word_ci(line, "on error")) seen.set(kVbOnError);
    if (starts_with_word_ci(line, "option explicit")) seen.set(kVbOption);
    if (!seen.test(kVbMsgBox) && (marks & kLetterX) != 0 && contains_ignoring_case(line, "msgbox"))
        seen.set(kVbMsgBox);
    if (line.starts_with('\'') || starts_with_word_ci(line, "rem")) seen.set(kVbComment);
}

void score_vbscript_block(std::string_view line, std::bitset<kConstructCount>& seen) {
    if (starts_with_word_ci(line, "end")) {
        std::string_view rest = after_word(line, 3);
        for (std::string_view block : {"if", "sub", "function", "select", "with"}) {
            if (starts_with_word_ci(rest, block)) seen.set(kVbEnd);
        }
    }
    std::string_view procedure = line;
    for (std::string_view scope : {"private", "public"}) {
        if (starts_with_word_ci(procedure, scope)) procedure = after_word(procedure, scope.size());
    }
    for (std::string_view word : {"sub", "function"}) {
        if (starts_with_word_ci(procedure, word) &&
            starts_with_identifier(after_word(procedure, word.size())) &&
            line.find('{') == line.npos)
            seen.set(kVbProcedure);
    }
    if ((starts_with_word_ci(line, "if") || starts_with_word_ci(line, "elseif")) &&
        line.size() > 5 && starts_with_word_ci(line.substr(line.size() - 4), "then") &&
        !is_word_char(line[line.size() - 5]))
        seen.set(kVbIfThen);
}

int score(const std::bitset<kConstructCount>& seen, Construct first, Construct last,
          std::initializer_list<Construct> strong) {
    int total = 0;
    for (int c = first; c <= last; ++c) total += seen.test(c) ? 1 : 0;
    for (Construct c : strong) total += seen.test(c) ? 1 : 0;
    return total;
}

// True when `line`, the first line of a text that is not blank, opens JavaScript source:
// a statement, a comment or a function called at once, rather than prose or a heading.
bool opens_javascript(std::string_view line) {
    for (std::string_view opening :
         {"import ", "import{", "export ", "//", "/*", "'use strict'", "\"use strict\"",
          "(function", "!function", ";(function", "module.exports", "exports.", "const ", "let ",
          "var ", "require("}) {
        if (line.starts_with(opening)) return true;
    }
    return false;
}

}  // namespace

ProtocolId identify_script(std::string_view text) {
    std::bitset<kConstructCount> seen;
    bool javascript_first = false;
    bool first = true;
    while (!text.empty()) {
        size_t end = text.find('\n');
        std::string_view raw = text.substr(0, end);
        text = end == text.npos ? std::string_view() : text.substr(end + 1);
        std::string_view line = trim(raw);
        if (line.empty()) continue;
        if (first) javascript_first = opens_javascript(line);
        first = false;
        bool indented = raw.front() == ' ' || raw.front() == '\t';
        const uint32_t marks = marks_of(line);
        score_python_line(line, marks, indented, seen);
        score_javascript_line(line, marks, seen);
        score_javascript_idioms(line, marks, seen);
        score_vbscript_line(line, marks, seen);
        score_vbscript_block(line, seen);
    }
    // The strong constructs count twice because they are next to unique to their language.
    // Python's module-only imports decide alone, and so do JavaScript's module statements
    // when the text opens as source rather than prose (a README's example).
    struct Candidate {
        ProtocolId id;
        int score;
        int threshold;
    };
    const std::array<Candidate, 3> candidates = {{
        {ProtocolId::FILE_PY, score(seen, kPyImport, kPySelf, {kPyMain, kPyModuleImport}), 2},
        {ProtocolId::FILE_JS,
         score(seen, kJsStrict, kJsClosure, {kJsStrict, kJsClosure, kJsExport, kJsImport}) +
             (javascript_first && (seen.test(kJsExport) || seen.test(kJsImport)) ? 1 : 0),
         3},
        {ProtocolId::FILE_VBS,
         score(seen, kVbDim, kVbMsgBox, {kVbCreateObject, kVbWScript, kVbOnError, kVbOption}), 3},
    }};
    ProtocolId best = ProtocolId::kNone;
    int best_score = 0;
    bool tie = false;
    for (const Candidate& candidate : candidates) {
        if (candidate.score < candidate.threshold) continue;
        if (candidate.score > best_score) {
            best = candidate.id;
            best_score = candidate.score;
            tie = false;
        } else if (candidate.score == best_score) {
            tie = true;
        }
    }
    return tie ? ProtocolId::kNone : best;
}

}  // namespace pw::content
