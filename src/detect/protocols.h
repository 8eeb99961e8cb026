#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace pw {

// A protocol or content type of the table in protocol_table.inc. The enumerator's value is
// the stable numeric id that events carry.
enum class ProtocolId : uint16_t {
    kNone = 0,
#define PROTOCOL(name, id, description) name = id,
#include "detect/protocol_table.inc"
#undef PROTOCOL
};

struct ProtocolInfo {
    ProtocolId id;
    std::string_view name;
    std::string_view description;
};

// Every entry of the table, in the order of protocol_table.inc.
std::span<const ProtocolInfo> protocol_table();

// Returns the entry for `id`, or nullptr when the id is not in the table.
const ProtocolInfo* find_protocol(ProtocolId id);

// Looks a protocol up by its name (case-insensitive) or by its decimal id.
std::optional<ProtocolId> parse_protocol(std::string_view name_or_id);

// Returns the name of `id`, or "UNKNOWN" when the id is not in the table.
std::string_view protocol_name(ProtocolId id);

// True for names that describe what a flow carries (files, markup, ICMP payload, a TLS or
// HTTP feature) rather than the flow's application protocol.
bool is_content_type(ProtocolId id);

// True for the content types of what a transfer carried: files, images, video, documents
// and markup (IMAGE_*, FILE_*, VIDEO_*, APPLICATION_*, HTML, XML...). A subset of
// is_content_type().
bool is_transfer_content(ProtocolId id);

}  // namespace pw
