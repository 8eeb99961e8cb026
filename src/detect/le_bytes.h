#pragma once

// Unaligned little- and big-endian loads for the binary protocol detectors. Callers check the
// length first: these read exactly the bytes at `offset` and do no bounds checking.

#include <cstddef>
#include <cstdint>
#include <span>

namespace pw::detect::bytes {

inline uint16_t le16(std::span<const uint8_t> d, size_t offset) {
    return static_cast<uint16_t>(d[offset] | d[offset + 1] << 8);
}
inline uint32_t le32(std::span<const uint8_t> d, size_t offset) {
    return static_cast<uint32_t>(d[offset]) | static_cast<uint32_t>(d[offset + 1]) << 8 |
           static_cast<uint32_t>(d[offset + 2]) << 16 | static_cast<uint32_t>(d[offset + 3]) << 24;
}
inline uint64_t le64(std::span<const uint8_t> d, size_t offset) {
    return static_cast<uint64_t>(le32(d, offset)) | static_cast<uint64_t>(le32(d, offset + 4))
                                                        << 32;
}
inline uint16_t be16(std::span<const uint8_t> d, size_t offset) {
    return static_cast<uint16_t>(d[offset] << 8 | d[offset + 1]);
}
inline uint32_t be32(std::span<const uint8_t> d, size_t offset) {
    return static_cast<uint32_t>(d[offset]) << 24 | static_cast<uint32_t>(d[offset + 1]) << 16 |
           static_cast<uint32_t>(d[offset + 2]) << 8 | static_cast<uint32_t>(d[offset + 3]);
}

// True when `d` holds `offset + count` bytes, without overflow.
inline bool has(std::span<const uint8_t> d, size_t offset, size_t count) {
    return offset <= d.size() && count <= d.size() - offset;
}

}  // namespace pw::detect::bytes
