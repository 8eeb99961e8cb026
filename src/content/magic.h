#pragma once

// Checks that identify() combines, one per family of formats. Each takes the leading bytes
// of an object and checks every length before it reads.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "detect/protocols.h"

namespace pw::content {

using Bytes = std::span<const uint8_t>;

inline bool has_bytes(Bytes data, size_t offset, size_t count) {
    return offset <= data.size() && count <= data.size() - offset;
}

inline bool starts_with(Bytes data, std::string_view prefix, size_t offset = 0) {
    if (!has_bytes(data, offset, prefix.size())) return false;
    for (size_t i = 0; i < prefix.size(); ++i) {
        if (data[offset + i] != static_cast<uint8_t>(prefix[i])) return false;
    }
    return true;
}

// Callers check has_bytes(data, offset, width) first.
inline uint16_t load_le16(Bytes data, size_t offset) {
    return static_cast<uint16_t>(data[offset] | data[offset + 1] << 8);
}
inline uint32_t load_le32(Bytes data, size_t offset) {
    return static_cast<uint32_t>(data[offset]) | static_cast<uint32_t>(data[offset + 1]) << 8 |
           static_cast<uint32_t>(data[offset + 2]) << 16 |
           static_cast<uint32_t>(data[offset + 3]) << 24;
}
inline uint32_t load_be32(Bytes data, size_t offset) {
    return static_cast<uint32_t>(data[offset]) << 24 |
           static_cast<uint32_t>(data[offset + 1]) << 16 |
           static_cast<uint32_t>(data[offset + 2]) << 8 | static_cast<uint32_t>(data[offset + 3]);
}

inline std::string_view as_text(Bytes data) {
    return {reinterpret_cast<const char*>(data.data()), data.size()};
}

// Images, archives, compressed data and video: formats with a magic number at offset 0.
ProtocolId identify_binary(Bytes head);

// Text formats: markup, scripts, playlists, documents and bencoded metainfo.
ProtocolId identify_text(Bytes head);

// True for a bencoded dictionary with the keys of BitTorrent metainfo (BEP 3).
bool is_torrent(Bytes head);

// Recognizes VBScript, Python or JavaScript source without a #! line by its constructs.
ProtocolId identify_script(std::string_view text);

// True when `head` looks like text: no NUL or other control bytes beyond a few.
bool looks_like_text(Bytes head);

}  // namespace pw::content
