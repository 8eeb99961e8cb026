#include "common/ascii.h"
#include "content/transfer.h"

#include <algorithm>
#include <cctype>

namespace pw::content {
namespace {

constexpr size_t kTagTail = 7;  // length of "<script", the longer of the two tags

bool is_tag_end(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '>' || c == '/';
}

// Finds "<name" followed by a character that ends a tag name, ignoring case. `name` is
// lower-case.
bool has_open_tag(std::string_view text, std::string_view name) {
    for (size_t at = text.find('<'); at != std::string_view::npos; at = text.find('<', at + 1)) {
        if (at + 1 + name.size() >= text.size()) return false;
        bool equal = true;
        for (size_t i = 0; i < name.size() && equal; ++i) {
            equal = ascii_lower(text[at + 1 + i]) == name[i];
        }
        if (equal && is_tag_end(text[at + 1 + name.size()])) return true;
    }
    return false;
}

}  // namespace

TransferScanner::TransferScanner(std::string_view media_type) : media_type_(media_type) {}

bool TransferScanner::feed(std::span<const uint8_t> bytes, detect::Session& session) {
    if (done_ || bytes.empty()) return !done_;
    const uint64_t before = total_;
    total_ += bytes.size();
    if (head_.size() < kMaxHeadBytes) {
        size_t take = std::min(bytes.size(), kMaxHeadBytes - head_.size());
        head_.append(reinterpret_cast<const char*>(bytes.data()), take);
    }
    follow_structure(bytes, session);
    if (!identified_ && head_.size() >= kMaxHeadBytes) identify_head(session);
    if (identified_ && is_markup_ && markup_end_ < total_ && markup_end_ < kMaxScanBytes) {
        // identify_head() has scanned the head; the rest of these bytes follow it.
        size_t from = static_cast<size_t>(std::max(markup_end_, before) - before);
        size_t to = static_cast<size_t>(std::min<uint64_t>(total_, kMaxScanBytes) - before);
        if (from < to) {
            scan_markup({reinterpret_cast<const char*>(bytes.data()) + from, to - from}, session);
        }
        markup_end_ = before + to;
    }
    update_done();
    return !done_;
}

void TransferScanner::finish(detect::Session& session) {
    if (!identified_ && !head_.empty()) identify_head(session);
    done_ = true;
}

void TransferScanner::identify_head(detect::Session& session) {
    identified_ = true;
    auto head =
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(head_.data()), head_.size());
    ProtocolId id = identify(head);
    if (id == ProtocolId::PAX_EXTENDED_HEADER_DATA) session.add(ProtocolId::FILE_TAR);
    session.add(id);
    // A script served under a JavaScript media type counts as one even when its text has
    // too few constructs to recognize, or markup in its strings. An image or an archive
    // served under that type does not.
    bool text_or_unknown =
        id == ProtocolId::kNone || id == ProtocolId::FILE_JS || id == ProtocolId::HTML;
    if (text_or_unknown && is_javascript_media_type(media_type_)) {
        session.add(ProtocolId::FILE_JS);
    }
    if (id == ProtocolId::HTML) {
        is_markup_ = true;
        scan_markup(head_, session);
        markup_end_ = head_.size();
    }
}

void TransferScanner::follow_structure(std::span<const uint8_t> bytes, detect::Session& session) {
    if (!ole_.done()) {
        ole_.feed(bytes);
        session.add(ole_.result());
    }
    if (!tar_.done()) {
        tar_.feed(bytes);
        if (tar_.is_tar()) session.add(ProtocolId::FILE_TAR);
        if (tar_.has_pax_header()) session.add(ProtocolId::PAX_EXTENDED_HEADER_DATA);
    }
}

void TransferScanner::scan_markup(std::string_view text, detect::Session& session) {
    // A tag split between the previous bytes and these lies in the joint: the previous
    // tail and the first bytes here. A tag wholly here is found in `text` itself. The
    // joint lives on the stack, so that no segment allocates.
    char joint_bytes[2 * kTagTail + 1];
    size_t joint_size = markup_tail_.copy(joint_bytes, kTagTail);
    joint_size += text.copy(joint_bytes + joint_size, kTagTail + 1);
    const std::string_view joint(joint_bytes, joint_size);
    auto has_tag = [&](std::string_view name) {
        return has_open_tag(joint, name) || has_open_tag(text, name);
    };
    if (!found_script_ && has_tag("script")) {
        found_script_ = true;
        session.add(ProtocolId::HTML_SCRIPT_BLOCK);
    }
    if (!found_style_ && has_tag("style")) {
        found_style_ = true;
        session.add(ProtocolId::HTML_CSS_BLOCK);
    }
    if (text.size() >= kTagTail) {
        markup_tail_.assign(text.substr(text.size() - kTagTail));
    } else {
        markup_tail_.append(text);
        markup_tail_.erase(0, markup_tail_.size() - std::min(markup_tail_.size(), kTagTail));
    }
}

void TransferScanner::update_done() {
    bool markup_done =
        !is_markup_ || markup_end_ >= kMaxScanBytes || (found_script_ && found_style_);
    done_ = identified_ && ole_.done() && tar_.done() && markup_done;
}

}  // namespace pw::content
