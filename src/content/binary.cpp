// Formats with a magic number at offset 0, each confirmed by the header fields that follow
// it where the format has any, so that a short text or a random payload is not mistaken
// for one of them. A field past the end of the head is not held against the format.

#include <algorithm>
#include <array>

#include "content/magic.h"

namespace pw::content {
namespace {

using namespace std::string_view_literals;

template <class T, size_t N>
bool contains(const std::array<T, N>& values, T value) {
    return std::find(values.begin(), values.end(), value) != values.end();
}

bool is_png(Bytes head) {
    if (!starts_with(head, "\x89PNG\r\n\x1a\n"sv)) return false;
    // The first chunk is always IHDR (PNG specification, section 5.6).
    return head.size() < 16 || starts_with(head, "IHDR"sv, 12);
}

bool is_gif(Bytes head) { return starts_with(head, "GIF87a"sv) || starts_with(head, "GIF89a"sv); }

bool is_jpeg(Bytes head) {
    if (!starts_with(head, "\xff\xd8\xff"sv)) return false;
    // SOI is followed by another marker: APPn, DQT, DHT, SOFn or COM.
    return head.size() < 4 || head[3] >= 0xc0;
}

// BITMAPFILEHEADER (14 bytes) followed by a DIB header whose first field is its own size.
bool is_bmp(Bytes head) {
    if (!starts_with(head, "BM"sv) || !has_bytes(head, 0, 18)) return false;
    uint32_t file_size = load_le32(head, 2);
    uint32_t reserved = load_le32(head, 6);
    uint32_t pixel_offset = load_le32(head, 10);
    uint32_t dib_size = load_le32(head, 14);
    constexpr std::array<uint32_t, 8> kDibSizes = {12, 16, 40, 52, 56, 64, 108, 124};
    if (reserved != 0 || !contains(kDibSizes, dib_size)) return false;
    if (pixel_offset < 14 + dib_size) return false;
    if (file_size != 0 && file_size < pixel_offset) return false;
    // BITMAPCOREHEADER has 16-bit width and height, the later headers 32-bit ones.
    size_t planes_at = dib_size == 12 ? 22 : 26;
    if (!has_bytes(head, planes_at, 4)) return true;
    uint16_t planes = load_le16(head, planes_at);
    uint16_t bits = load_le16(head, planes_at + 2);
    constexpr std::array<uint16_t, 8> kBitCounts = {0, 1, 2, 4, 8, 16, 24, 32};
    return planes == 1 && contains(kBitCounts, bits);
}

// Classic TIFF ("II*\0" or "MM\0*", then the first IFD's offset) and BigTIFF ("II+\0",
// then the offset size 8 and a zero).
bool is_tiff(Bytes head) {
    if (!has_bytes(head, 0, 8)) return false;
    if (starts_with(head, "II*\0"sv)) return load_le32(head, 4) >= 8;
    if (starts_with(head, "MM\0*"sv)) return load_be32(head, 4) >= 8;
    if (starts_with(head, "II+\0"sv) || starts_with(head, "MM\0+"sv)) {
        bool little = head[0] == 'I';
        uint8_t offset_size = little ? head[4] : head[5];
        uint8_t high = little ? head[5] : head[4];
        return offset_size == 8 && high == 0 && head[6] == 0 && head[7] == 0;
    }
    return false;
}

// ICONDIR (reserved 0, type 1, image count) and its 16-byte ICONDIRENTRY records.
bool is_ico(Bytes head) {
    if (!has_bytes(head, 0, 6 + 16)) return false;
    uint16_t count = load_le16(head, 4);
    if (load_le16(head, 0) != 0 || load_le16(head, 2) != 1 || count == 0 || count > 256)
        return false;
    const uint32_t directory_end = 6 + 16 * static_cast<uint32_t>(count);
    constexpr std::array<uint16_t, 8> kBitCounts = {0, 1, 2, 4, 8, 16, 24, 32};
    for (uint32_t i = 0; i < count; ++i) {
        size_t entry = 6 + 16 * static_cast<size_t>(i);
        if (!has_bytes(head, entry, 16)) break;
        uint8_t reserved = head[entry + 3];
        uint16_t planes = load_le16(head, entry + 4);
        uint16_t bits = load_le16(head, entry + 6);
        uint32_t size = load_le32(head, entry + 8);
        uint32_t offset = load_le32(head, entry + 12);
        // Some writers put 255 in the reserved byte; 0 is the documented value.
        if (reserved != 0 && reserved != 0xff) return false;
        if (planes > 1 || !contains(kBitCounts, bits)) return false;
        if (size < 8 || size > (1u << 26) || offset < directory_end) return false;
    }
    return true;
}

bool is_zip(Bytes head) {
    // A local file header, an empty archive's end record, or the spanning marker that
    // precedes the first local header of a split archive.
    if (starts_with(head, "PK\x03\x04"sv)) {
        return !has_bytes(head, 4, 2) || load_le16(head, 4) < 100;
    }
    if (starts_with(head, "PK\x05\x06"sv)) return true;
    return starts_with(head, "PK\x07\x08PK\x03\x04"sv) || starts_with(head, "PK00PK\x03\x04"sv);
}

bool is_gzip(Bytes head) {
    // Method 8 (deflate) is the only one defined. The reserved flag bits are not checked:
    // a file with them set is still gzip data, if one that decoders reject.
    return starts_with(head, "\x1f\x8b\x08"sv);
}

bool is_bzip2(Bytes head) {
    if (!starts_with(head, "BZh"sv) || !has_bytes(head, 3, 1)) return false;
    if (head[3] < '1' || head[3] > '9') return false;
    // A block header starts with the digits of pi in BCD, an empty stream's end with
    // those of the square root of pi.
    return head.size() < 10 || starts_with(head, "\x31\x41\x59\x26\x53\x59"sv, 4) ||
           starts_with(head, "\x17\x72\x45\x38\x50\x90"sv, 4);
}

bool is_xz(Bytes head) {
    // Stream flags: a zero byte, then the check type in the low four bits.
    return starts_with(head,
                       "\xfd"
                       "7zXZ\0"sv) &&
           (head.size() < 8 || (head[6] == 0 && (head[7] & 0xf0) == 0));
}

bool is_7z(Bytes head) {
    return starts_with(head, "7z\xbc\xaf\x27\x1c"sv) && (head.size() < 7 || head[6] == 0);
}

bool is_rar(Bytes head) {
    return starts_with(head, "Rar!\x1a\x07\x00"sv) || starts_with(head, "Rar!\x1a\x07\x01\x00"sv);
}

bool is_postscript(Bytes head) {
    // A leading Ctrl-D is what some printer drivers send before the job. libmagic takes "%!"
    // alone as PostScript too, as Ghostscript's own library files begin.
    if (starts_with(head, "%!"sv) || starts_with(head, "\x04%!PS"sv)) return true;
    // DOS EPS binary header: magic, then the offset and length of the PostScript section.
    if (!starts_with(head, "\xc5\xd0\xd3\xc6"sv) || !has_bytes(head, 0, 12)) return false;
    return load_le32(head, 4) >= 30 && load_le32(head, 8) > 0;
}

bool is_ani(Bytes head) { return starts_with(head, "RIFF"sv) && starts_with(head, "ACON"sv, 8); }

// The standard WMF header: type 1 (memory) or 2 (disk), a header size of 9 words, and
// version 0x0100 or 0x0300 (MS-WMF, section 2.3.2.2).
bool is_wmf_header(Bytes head, size_t at) {
    if (!has_bytes(head, at, 18)) return false;
    uint16_t type = load_le16(head, at);
    uint16_t header_words = load_le16(head, at + 2);
    uint16_t version = load_le16(head, at + 4);
    uint32_t size_words = load_le32(head, at + 6);
    uint16_t parameters = load_le16(head, at + 16);
    return (type == 1 || type == 2) && header_words == 9 &&
           (version == 0x0100 || version == 0x0300) && size_words >= 9 && parameters == 0;
}

bool is_wmf(Bytes head) {
    // The placeable header (22 bytes, key 0x9AC6CDD7) ends with the XOR of its first ten
    // 16-bit words.
    if (starts_with(head, "\xd7\xcd\xc6\x9a"sv)) {
        if (!has_bytes(head, 0, 22)) return true;
        uint16_t checksum = 0;
        for (size_t i = 0; i < 20; i += 2) checksum ^= load_le16(head, i);
        return checksum == load_le16(head, 20) && load_le16(head, 4) == 0;
    }
    return is_wmf_header(head, 0);
}

bool is_flv(Bytes head) {
    // Version 1, flags with only the audio (4) and video (1) bits, a 9-byte header.
    if (!starts_with(head, "FLV\x01"sv) || !has_bytes(head, 0, 9)) return false;
    return (head[4] & 0xfa) == 0 && load_be32(head, 5) == 9;
}

// The brands of ftyp that name QuickTime or an ISO base media video format. Audio-only
// (M4A, M4B) and still-image (HEIF, AVIF) brands share the box structure but are not video.
bool is_video_brand(Bytes head, size_t at) {
    constexpr std::array<std::string_view, 24> kVideo = {
        "qt  ", "isom", "iso2", "iso3", "iso4", "iso5", "iso6", "iso8",
        "mp41", "mp42", "avc1", "M4V ", "M4VH", "M4VP", "3gp4", "3gp5",
        "3gp6", "3gp7", "3g2a", "dash", "MSNV", "f4v ", "mmp4", "XAVC"};
    for (std::string_view brand : kVideo) {
        if (starts_with(head, brand, at)) return true;
    }
    return false;
}

bool is_non_video_brand(Bytes head, size_t at) {
    constexpr std::array<std::string_view, 12> kOther = {"M4A ", "M4B ", "M4P ", "F4A ",
                                                         "F4B ", "heic", "heix", "mif1",
                                                         "msf1", "avif", "avis", "crx "};
    for (std::string_view brand : kOther) {
        if (starts_with(head, brand, at)) return true;
    }
    return false;
}

bool is_quicktime(Bytes head) {
    if (!has_bytes(head, 0, 8)) return false;
    uint32_t size = load_be32(head, 0);
    if (starts_with(head, "ftyp"sv, 4)) {
        if (size < 16 || !has_bytes(head, 8, 4) || is_non_video_brand(head, 8)) return false;
        if (is_video_brand(head, 8)) return true;
        for (size_t at = 16; at + 4 <= size && has_bytes(head, at, 4); at += 4) {
            if (is_video_brand(head, at)) return true;
        }
        return false;
    }
    // QuickTime files older than ftyp start with one of these atoms. A size of 1 means a
    // 64-bit size follows; 0 means the atom runs to the end of the file.
    bool sized = size == 0 || size == 1 || size >= 8;
    if (!sized) return false;
    if (starts_with(head, "moov"sv, 4) || starts_with(head, "mdat"sv, 4)) return true;
    if (starts_with(head, "free"sv, 4) || starts_with(head, "skip"sv, 4) ||
        starts_with(head, "wide"sv, 4) || starts_with(head, "pnot"sv, 4)) {
        // These atoms are small and followed by another one: check its type when in view.
        if (size < 8 || size > (1u << 20)) return false;
        if (!has_bytes(head, size + 4, 4)) return true;
        for (std::string_view next :
             {"moov"sv, "mdat"sv, "free"sv, "skip"sv, "wide"sv, "PICT"sv, "ftyp"sv}) {
            if (starts_with(head, next, size + 4)) return true;
        }
    }
    return false;
}

}  // namespace

ProtocolId identify_binary(Bytes head) {
    struct Check {
        bool (*matches)(Bytes);
        ProtocolId id;
    };
    static constexpr Check kChecks[] = {
        {is_png, ProtocolId::IMAGE_PNG},
        {is_gif, ProtocolId::IMAGE_GIF},
        {is_jpeg, ProtocolId::IMAGE_JPEG},
        {is_bmp, ProtocolId::IMAGE_BMP},
        {is_tiff, ProtocolId::IMAGE_TIFF},
        {is_ico, ProtocolId::IMAGE_ICO},
        {is_zip, ProtocolId::FILE_ZIP},
        {is_gzip, ProtocolId::FILE_GZIP},
        {is_bzip2, ProtocolId::FILE_BZIP2},
        {is_xz, ProtocolId::FILE_XZ},
        {is_7z, ProtocolId::FILE_7Z},
        {is_rar, ProtocolId::FILE_RAR},
        {is_postscript, ProtocolId::APPLICATION_POSTSCRIPT},
        {is_ani, ProtocolId::IMAGE_ANI},
        {is_wmf, ProtocolId::IMAGE_WMF},
        {is_flv, ProtocolId::VIDEO_FLV},
        {is_quicktime, ProtocolId::VIDEO_QUICKTIME},
    };
    for (const Check& check : kChecks) {
        if (check.matches(head)) return check.id;
    }
    return ProtocolId::kNone;
}

}  // namespace pw::content
