// Text formats. Documents with a fixed opening (RTF, XML, PLS, a #! line) are recognized
// by it, HTML by its document-level tags anywhere in the head, and scripts without a #!
// line by how many constructs of their language the head contains.

#include <algorithm>
#include <array>
#include <cctype>

#include "common/ascii.h"
#include "content/magic.h"

namespace pw::content {
namespace {

using namespace std::string_view_literals;

char lower(char c) { return ascii_lower(c); }

bool starts_with_ci(std::string_view text, std::string_view prefix) {
    if (text.size() < prefix.size()) return false;
    for (size_t i = 0; i < prefix.size(); ++i) {
        if (lower(text[i]) != prefix[i]) return false;
    }
    return true;
}

std::string_view skip_space(std::string_view text) {
    size_t i = 0;
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    return text.substr(i);
}

std::string_view skip_bom(std::string_view text) {
    return text.starts_with("\xef\xbb\xbf"sv) ? text.substr(3) : text;
}

std::string_view basename_of(std::string_view path) {
    size_t slash = path.rfind('/');
    return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// Reads the interpreter of a "#!" line, looking through /usr/bin/env and its options.
std::string_view shebang_interpreter(std::string_view text) {
    std::string_view line =
        text.substr(2, text.find('\n') == std::string_view::npos ? std::string_view::npos
                                                                 : text.find('\n') - 2);
    auto next_word = [&line]() {
        size_t start = line.find_first_not_of(" \t\r");
        if (start == std::string_view::npos) return std::string_view();
        size_t end = line.find_first_of(" \t\r", start);
        std::string_view word =
            line.substr(start, end == std::string_view::npos ? end : end - start);
        line = end == std::string_view::npos ? std::string_view() : line.substr(end);
        return word;
    };
    std::string_view program = basename_of(next_word());
    if (program != "env") return program;
    for (std::string_view word = next_word(); !word.empty(); word = next_word()) {
        // "env -S", "env -i" and assignments such as "PYTHONIOENCODING=utf8" come first.
        if (word.starts_with('-') || word.find('=') != std::string_view::npos) continue;
        return basename_of(word);
    }
    return {};
}

ProtocolId identify_shebang(std::string_view text) {
    std::string_view program = shebang_interpreter(text);
    // Versioned names: python3.11, pypy3.
    while (!program.empty() &&
           (std::isdigit(static_cast<unsigned char>(program.back())) || program.back() == '.')) {
        program.remove_suffix(1);
    }
    constexpr std::array<std::string_view, 11> kShells = {
        "sh", "bash", "dash", "ash", "ksh", "mksh", "pdksh", "zsh", "csh", "tcsh", "busybox"};
    if (std::find(kShells.begin(), kShells.end(), program) != kShells.end()) {
        return ProtocolId::FILE_SHELL_SCRIPT;
    }
    if (program == "python" || program == "pypy") return ProtocolId::FILE_PY;
    if (program == "node" || program == "nodejs") return ProtocolId::FILE_JS;
    return ProtocolId::kNone;
}

bool is_tag_end(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '>' || c == '/';
}

// Finds `<name` (lower-case) followed by the end of the tag name, ignoring case.
bool has_tag(std::string_view text, std::string_view name) {
    for (size_t at = text.find('<'); at != std::string_view::npos; at = text.find('<', at + 1)) {
        std::string_view rest = text.substr(at + 1);
        if (rest.size() > name.size() && starts_with_ci(rest, name) &&
            is_tag_end(rest[name.size()]))
            return true;
    }
    return false;
}

bool has_anchor(std::string_view text) {
    for (size_t at = text.find('<'); at != std::string_view::npos; at = text.find('<', at + 1)) {
        std::string_view rest = text.substr(at + 1);
        if (rest.size() < 2 || lower(rest[0]) != 'a' ||
            !std::isspace(static_cast<unsigned char>(rest[1])))
            continue;
        if (starts_with_ci(skip_space(rest.substr(1)), "href")) return true;
    }
    return false;
}

// Tags that only open a document.
bool has_document_tag(std::string_view text) {
    constexpr std::array<std::string_view, 6> kTags = {"!doctype html", "html", "head",
                                                       "title",         "body", "frameset"};
    return std::any_of(kTags.begin(), kTags.end(),
                       [text](std::string_view tag) { return has_tag(text, tag); });
}

// Tags that scripts also write into pages from their strings.
bool has_content_tag(std::string_view text) {
    constexpr std::array<std::string_view, 3> kTags = {"script", "style", "table"};
    return has_anchor(text) ||
           std::any_of(kTags.begin(), kTags.end(),
                       [text](std::string_view tag) { return has_tag(text, tag); });
}

bool is_pls(std::string_view text) {
    return starts_with_ci(text, "[playlist]") &&
           (contains_ignoring_case(text, "\nfile1=") || contains_ignoring_case(text, "\nnumberofentries="));
}

}  // namespace

bool looks_like_text(Bytes head) {
    size_t controls = 0;
    for (uint8_t byte : head) {
        if (byte == 0) return false;
        bool allowed = byte >= 0x20 || byte == '\t' || byte == '\n' || byte == '\r' ||
                       byte == '\f' || byte == '\v' || byte == 0x1b;
        if (!allowed) ++controls;
    }
    // A few stray control bytes occur in real text; more mean binary data.
    return controls * 100 <= head.size();
}

ProtocolId identify_text(Bytes head) {
    if (is_torrent(head)) return ProtocolId::FILE_TORRENT;
    if (starts_with(head, "\xff\xfe<\0?\0x\0m\0l\0"sv) ||
        starts_with(head, "\xfe\xff\0<\0?\0x\0m\0l"sv))
        return ProtocolId::XML;
    if (!looks_like_text(head)) return ProtocolId::kNone;

    std::string_view text = skip_bom(as_text(head));
    if (text.starts_with("{\\rtf")) return ProtocolId::APPLICATION_RTF;
    // A "#!" line names the script's language. One the table lacks (Perl, Ruby, awk) leaves
    // the file unlabeled: its text, such as Perl's POD, is no other format.
    if (text.starts_with("#!") && !shebang_interpreter(text).empty()) {
        return identify_shebang(text);
    }
    std::string_view opening = skip_space(text);
    // PHP source, which libmagic also names a PHP script by this opening tag. Its templates
    // contain HTML and its code looks like JavaScript, but the file is neither.
    if (starts_with_ci(opening, "<?php") || opening.starts_with("<?=")) return ProtocolId::kNone;
    // The declaration, or a processing instruction such as <?xml-stylesheet?> before the root.
    if (opening.starts_with("<?xml") && opening.size() > 5 &&
        (is_tag_end(opening[5]) || opening[5] == '-'))
        return ProtocolId::XML;
    // SVG is XML even without the declaration, and its <title> and <a> are not HTML's.
    if (starts_with_ci(opening, "<svg") && opening.size() > 4 && is_tag_end(opening[4]))
        return ProtocolId::XML;
    if (starts_with_ci(opening, "<!doctype svg")) return ProtocolId::XML;
    if (has_document_tag(text)) return ProtocolId::HTML;
    if (is_pls(opening)) return ProtocolId::FILE_PLS;
    // A script that builds markup in its strings stays a script, but a text that starts
    // with markup is HTML.
    bool markup_first = opening.starts_with('<');
    if (markup_first && has_content_tag(text)) return ProtocolId::HTML;
    ProtocolId script = identify_script(text);
    if (script != ProtocolId::kNone) return script;
    return has_content_tag(text) ? ProtocolId::HTML : ProtocolId::kNone;
}

}  // namespace pw::content
