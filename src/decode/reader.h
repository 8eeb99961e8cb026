#pragma once

// Bounds-checked reads from captured bytes. Nothing here reads past the end of the span it
// was given: a read out of range yields 0, so a parser that forgot a length check gets a
// wrong value, never undefined behaviour. Parsers still check `has()` before each header
// so that a short header is counted as its named anomaly.

#include <cstddef>
#include <cstdint>
#include <span>

namespace pw::decode::detail {

class ByteReader {
public:
    explicit ByteReader(std::span<const uint8_t> bytes) : bytes_(bytes) {}

    size_t size() const { return bytes_.size(); }
    // True when `count` bytes starting at `offset` are all there.
    bool has(size_t offset, size_t count) const {
        return offset <= bytes_.size() && count <= bytes_.size() - offset;
    }
    bool has(size_t count) const { return count <= bytes_.size(); }

    uint8_t u8(size_t offset) const { return offset < bytes_.size() ? bytes_[offset] : 0; }
    uint16_t be16(size_t offset) const {
        return has(offset, 2) ? static_cast<uint16_t>(bytes_[offset] << 8 | bytes_[offset + 1]) : 0;
    }
    uint32_t be32(size_t offset) const {
        return has(offset, 4) ? static_cast<uint32_t>(be16(offset)) << 16 | be16(offset + 2) : 0;
    }
    uint16_t le16(size_t offset) const {
        return has(offset, 2) ? static_cast<uint16_t>(bytes_[offset + 1] << 8 | bytes_[offset]) : 0;
    }
    uint32_t le32(size_t offset) const {
        return has(offset, 4) ? static_cast<uint32_t>(le16(offset + 2)) << 16 | le16(offset) : 0;
    }
    // The bytes at `offset`, at most `count` of them (fewer when the span ends first).
    std::span<const uint8_t> sub(size_t offset, size_t count = SIZE_MAX) const {
        if (offset >= bytes_.size()) return {};
        return bytes_.subspan(offset,
                              count < bytes_.size() - offset ? count : bytes_.size() - offset);
    }
    // A pointer to `count` bytes at `offset`, or nullptr when they are not all there.
    const uint8_t* ptr(size_t offset, size_t count) const {
        return has(offset, count) ? bytes_.data() + offset : nullptr;
    }

private:
    std::span<const uint8_t> bytes_;
};

}  // namespace pw::decode::detail
