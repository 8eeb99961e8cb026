#include "content/ole.h"

#include <algorithm>
#include <string_view>

namespace pw::content {
namespace {

using namespace std::string_view_literals;

constexpr size_t kHeaderSize = 512;
constexpr size_t kEntrySize = 128;
constexpr uint32_t kMaxRegularSector = 0xfffffff9;  // larger values are markers (MS-CFB 2.1)

struct Clsid {
    std::string_view bytes;  // as stored: the first three fields little-endian
    ProtocolId id;
};

// The root entry's CLSID as the applications write it: PowerPoint 97 and later
// {64818D10-4F9B-11CF-86EA-00AA00B929E8}, PowerPoint 4.0
// {00044851-0000-0000-C000-000000000046}, Publisher {00021201-0000-0000-C000-000000000046}
// and Visio {00021A14-0000-0000-C000-000000000046}.
constexpr Clsid kClsids[] = {
    {"\x10\x8d\x81\x64\x9b\x4f\xcf\x11\x86\xea\x00\xaa\x00\xb9\x29\xe8"sv,
     ProtocolId::APPLICATION_MSPOWERPOINT},
    {"\x51\x48\x04\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46"sv,
     ProtocolId::APPLICATION_MSPOWERPOINT},
    {"\x01\x12\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46"sv,
     ProtocolId::APPLICATION_MSPUBLISHER},
    {"\x14\x1a\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46"sv,
     ProtocolId::APPLICATION_MSVISIO},
};

struct EntryName {
    std::string_view name;
    uint8_t type;  // 1 storage, 2 stream
    ProtocolId id;
};

// Streams and storages that only these applications create (MS-PPT 2.1.1 and 2.1.2 for
// PowerPoint; "PP40" is PowerPoint 4.0's document stream).
constexpr EntryName kEntryNames[] = {
    {"PowerPoint Document", 2, ProtocolId::APPLICATION_MSPOWERPOINT},
    {"Current User", 2, ProtocolId::APPLICATION_MSPOWERPOINT},
    {"PP40", 2, ProtocolId::APPLICATION_MSPOWERPOINT},
    {"Quill", 1, ProtocolId::APPLICATION_MSPUBLISHER},
    {"VisioDocument", 2, ProtocolId::APPLICATION_MSVISIO},
};

// Compares a directory entry's UTF-16LE name, whose byte length at offset 64 counts the
// terminating NUL, with an ASCII name.
bool entry_name_is(Bytes entry, std::string_view name) {
    if (load_le16(entry, 64) != (name.size() + 1) * 2) return false;
    for (size_t i = 0; i < name.size(); ++i) {
        if (entry[2 * i] != static_cast<uint8_t>(name[i]) || entry[2 * i + 1] != 0) return false;
    }
    return true;
}

}  // namespace

void OleScanner::feed(Bytes bytes) {
    while (!done_ && !bytes.empty()) {
        if (position_ < kHeaderSize) {
            size_t take = std::min<size_t>(bytes.size(), kHeaderSize - position_);
            std::copy_n(bytes.begin(), take, header_.begin() + position_);
            position_ += take;
            bytes = bytes.subspan(take);
            if (position_ == kHeaderSize) parse_header();
            continue;
        }
        bool in_directory =
            position_ >= directory_offset_ && position_ < directory_offset_ + sector_size_;
        if (position_ >= kMaxNameScanBytes && !in_directory) {
            if (position_ >= directory_offset_ + sector_size_) {
                done_ = true;
                break;
            }
            // Skip to the directory without looking at what lies before it.
            uint64_t skip = std::min<uint64_t>(bytes.size(), directory_offset_ - position_);
            position_ += skip;
            bytes = bytes.subspan(static_cast<size_t>(skip));
            continue;
        }
        size_t take = std::min(bytes.size(), kEntrySize - entry_fill_);
        std::copy_n(bytes.begin(), take, entry_.begin() + entry_fill_);
        entry_fill_ += take;
        position_ += take;
        bytes = bytes.subspan(take);
        if (entry_fill_ == kEntrySize) {
            check_entry();
            entry_fill_ = 0;
        }
    }
}

void OleScanner::parse_header() {
    Bytes header(header_);
    if (!starts_with(header, "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"sv)) {
        done_ = true;
        return;
    }
    uint16_t major = load_le16(header, 26);
    uint16_t byte_order = load_le16(header, 28);
    uint16_t sector_shift = load_le16(header, 30);
    uint32_t first_directory = load_le32(header, 48);
    bool valid = byte_order == 0xfffe &&
                 ((major == 3 && sector_shift == 9) || (major == 4 && sector_shift == 12));
    if (!valid || first_directory > kMaxRegularSector) {
        done_ = true;
        return;
    }
    sector_size_ = uint64_t{1} << sector_shift;
    // Sector n starts after the header sector: at (n + 1) sector sizes.
    directory_offset_ = (uint64_t{first_directory} + 1) * sector_size_;
    if (directory_offset_ > kMaxDirectoryOffset) directory_offset_ = kMaxDirectoryOffset;
}

void OleScanner::check_entry() {
    Bytes entry(entry_);
    uint64_t entry_offset = position_ - kEntrySize;
    uint8_t type = entry[66];
    if (entry_offset == directory_offset_ && type == 5) {
        for (const Clsid& clsid : kClsids) {
            if (starts_with(entry, clsid.bytes, 80)) {
                result_ = clsid.id;
                done_ = true;
                return;
            }
        }
    }
    for (const EntryName& name : kEntryNames) {
        if (type == name.type && entry_name_is(entry, name.name)) {
            result_ = name.id;
            done_ = true;
            return;
        }
    }
    if (entry_offset + kEntrySize >= directory_offset_ + sector_size_ &&
        position_ >= kMaxNameScanBytes) {
        done_ = true;
    }
}

ProtocolId identify_ole(Bytes head) {
    OleScanner scanner;
    scanner.feed(head);
    return scanner.result();
}

}  // namespace pw::content
