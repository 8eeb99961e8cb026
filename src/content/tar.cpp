#include "content/tar.h"

#include <algorithm>
#include <optional>

namespace pw::content {
namespace {

constexpr size_t kBlock = 512;
constexpr size_t kSizeField = 124;
constexpr size_t kChecksumField = 148;
constexpr size_t kTypeflagField = 156;
// An old GNU sparse member (typeflag 'S') flags at this offset of its header, and of each
// extension block, that another 512-byte block of sparse entries follows before its data
// (GNU tar's manual, "Old GNU Format").
constexpr size_t kSparseExtendedField = 482;
constexpr size_t kExtensionExtendedField = 504;

// Parses an octal field: optional leading spaces, digits, then NUL or space padding.
std::optional<uint64_t> parse_octal(Bytes field) {
    size_t i = 0;
    while (i < field.size() && field[i] == ' ') ++i;
    uint64_t value = 0;
    size_t digits = 0;
    for (; i < field.size() && field[i] >= '0' && field[i] <= '7'; ++i, ++digits) {
        if (value >> 60) return std::nullopt;
        value = value << 3 | (field[i] - '0');
    }
    for (; i < field.size(); ++i) {
        if (field[i] != 0 && field[i] != ' ') return std::nullopt;
    }
    if (digits == 0) return std::nullopt;
    return value;
}

// A member size, in octal or, with the top bit of the first byte set, in base 256 (a GNU
// extension for sizes of 8 GiB and more).
std::optional<uint64_t> parse_size(Bytes field) {
    if ((field[0] & 0x80) == 0) return parse_octal(field);
    uint64_t value = field[0] & 0x7f;
    for (size_t i = 1; i < field.size(); ++i) {
        if (value >> 56) return std::nullopt;
        value = value << 8 | field[i];
    }
    return value;
}

}  // namespace

bool is_tar_header(Bytes header) {
    if (!has_bytes(header, 0, kBlock) || header[0] == 0) return false;
    std::optional<uint64_t> stored = parse_octal(header.subspan(kChecksumField, 8));
    if (!stored) return false;
    // The checksum sums the header's bytes with the checksum field read as spaces. Some
    // old implementations summed signed chars, so both sums are accepted.
    uint64_t unsigned_sum = 0;
    int64_t signed_sum = 0;
    for (size_t i = 0; i < kBlock; ++i) {
        bool in_field = i >= kChecksumField && i < kChecksumField + 8;
        uint8_t byte = in_field ? ' ' : header[i];
        unsigned_sum += byte;
        signed_sum += static_cast<int8_t>(byte);
    }
    return *stored == unsigned_sum || static_cast<int64_t>(*stored) == signed_sum;
}

void TarWalker::feed(Bytes bytes) {
    while (!done_ && !bytes.empty()) {
        if (position_ < next_header_) {
            uint64_t skip = std::min<uint64_t>(bytes.size(), next_header_ - position_);
            position_ += skip;
            bytes = bytes.subspan(static_cast<size_t>(skip));
            continue;
        }
        size_t take = std::min(bytes.size(), kBlock - header_fill_);
        std::copy_n(bytes.begin(), take, header_.begin() + header_fill_);
        header_fill_ += take;
        position_ += take;
        bytes = bytes.subspan(take);
        if (header_fill_ == kBlock) {
            header_fill_ = 0;
            check_header();
        }
    }
}

void TarWalker::check_header() {
    Bytes header(header_);
    if (sparse_data_blocks_) {
        // An extension block of sparse entries, without a checksum of its own.
        if (++headers_ >= kMaxHeaders) {
            done_ = true;
            return;
        }
        if (header[kExtensionExtendedField] != 0) return;
        next_header_ = position_ + *sparse_data_blocks_ * kBlock;
        sparse_data_blocks_.reset();
        if (next_header_ > kMaxHeaderOffset) done_ = true;
        return;
    }
    if (!is_tar_header(header)) {
        // Two zero blocks end an archive; anything else ends what can be followed.
        done_ = true;
        return;
    }
    is_tar_ = true;
    uint8_t typeflag = header[kTypeflagField];
    if (typeflag == 'x' || typeflag == 'g') has_pax_ = true;
    std::optional<uint64_t> size = parse_size(header.subspan(kSizeField, 12));
    if (!size || has_pax_ || ++headers_ >= kMaxHeaders) {
        done_ = true;
        return;
    }
    // Links, directories, devices and FIFOs carry no data, whatever their size field.
    bool has_data = typeflag != '1' && typeflag != '2' && typeflag != '3' && typeflag != '4' &&
                    typeflag != '5' && typeflag != '6';
    uint64_t data_blocks = has_data ? (*size + kBlock - 1) / kBlock : 0;
    if (typeflag == 'S' && header[kSparseExtendedField] != 0) {
        sparse_data_blocks_ = data_blocks;
        next_header_ = position_;
        return;
    }
    next_header_ = position_ + data_blocks * kBlock;
    if (next_header_ > kMaxHeaderOffset) done_ = true;
}

ProtocolId identify_tar(Bytes head) {
    TarWalker walker;
    walker.feed(head);
    if (walker.has_pax_header()) return ProtocolId::PAX_EXTENDED_HEADER_DATA;
    return walker.is_tar() ? ProtocolId::FILE_TAR : ProtocolId::kNone;
}

}  // namespace pw::content
