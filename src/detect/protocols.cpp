#include "detect/protocols.h"

#include "common/ascii.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>

namespace pw {
namespace {

constexpr ProtocolInfo kTable[] = {
#define PROTOCOL(name, id, description) {ProtocolId::name, #name, description},
#include "detect/protocol_table.inc"
#undef PROTOCOL
};

bool equal_ignoring_case(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return ascii_upper(x) == ascii_upper(y);
           });
}

}  // namespace

std::span<const ProtocolInfo> protocol_table() { return kTable; }

const ProtocolInfo* find_protocol(ProtocolId id) {
    for (const auto& info : kTable) {
        if (info.id == id) return &info;
    }
    return nullptr;
}

std::optional<ProtocolId> parse_protocol(std::string_view text) {
    unsigned value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error == std::errc() && end == text.data() + text.size()) {
        const ProtocolInfo* info = find_protocol(static_cast<ProtocolId>(value));
        if (info != nullptr) return info->id;
        return std::nullopt;
    }
    for (const auto& info : kTable) {
        if (equal_ignoring_case(info.name, text)) return info.id;
    }
    return std::nullopt;
}

std::string_view protocol_name(ProtocolId id) {
    const ProtocolInfo* info = find_protocol(id);
    return info != nullptr ? info->name : std::string_view("UNKNOWN");
}

bool is_transfer_content(ProtocolId id) {
    switch (id) {
        case ProtocolId::HTML:
        case ProtocolId::HTML_CSS_BLOCK:
        case ProtocolId::HTML_SCRIPT_BLOCK:
        case ProtocolId::XML:
        case ProtocolId::PAX_EXTENDED_HEADER_DATA:
            return true;
        default:
            break;
    }
    std::string_view name = protocol_name(id);
    for (std::string_view prefix : {"IMAGE_", "FILE_", "VIDEO_", "APPLICATION_"}) {
        if (name.starts_with(prefix)) return true;
    }
    return false;
}

bool is_content_type(ProtocolId id) {
    switch (id) {
        case ProtocolId::ICMP_DATA:
        case ProtocolId::ICMPV6_DATA:
        case ProtocolId::GHOST_RAT_DATA:
        case ProtocolId::SMB_PIPEDATA_UNKNOWN:
        case ProtocolId::SMB_TREE:
        case ProtocolId::SMB3_ENCRYPTED:
        case ProtocolId::TLS_ALPN_H2:
        case ProtocolId::BT_HTTP_TRACKER:
        case ProtocolId::WEBSOCKET:
        case ProtocolId::HTTP2:
            return true;
        default:
            return is_transfer_content(id);
    }
}

}  // namespace pw
