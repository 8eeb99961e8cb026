#include "capture/pcapng_reader.h"

#include <fmt/format.h>
#include <pcap/dlt.h>

#include <algorithm>
#include <cstring>
#include <limits>

namespace pw::capture {
namespace {

// Block types and the byte-order magic, from the pcapng specification
// (draft-ietf-opsawg-pcapng).
constexpr uint32_t kSectionHeader = 0x0A0D0D0A;
constexpr uint32_t kInterfaceDescription = 0x00000001;
constexpr uint32_t kObsoletePacket = 0x00000002;
constexpr uint32_t kSimplePacket = 0x00000003;
constexpr uint32_t kEnhancedPacket = 0x00000006;
constexpr uint32_t kByteOrderMagic = 0x1A2B3C4D;
constexpr uint16_t kOptionTimestampResolution = 9;
constexpr uint16_t kOptionTimestampOffset = 14;
// Larger blocks are damage, not packets: libpcap's own bound for a block is of this order.
constexpr uint32_t kMaxBlockLength = 16 * 1024 * 1024;

// The DLT_ value that libpcap gives for a file's LINKTYPE_ value, so that frames of this
// reader and of libpcap carry the same link type. Most are equal. The ones that differ
// are those of the table at https://www.tcpdump.org/linktypes.html whose DLT_ values
// vary between systems, which libpcap maps in linktype_to_dlt() (pcap-common.c).
int dlt_of_linktype(int linktype) {
    switch (linktype) {
        case 100:
            return DLT_ATM_RFC1483;
        case 101:
            return DLT_RAW;
        case 102:
            return DLT_SLIP_BSDOS;
        case 103:
            return DLT_PPP_BSDOS;
        default:
            return linktype;
    }
}

}  // namespace

PcapngReader::~PcapngReader() {
    if (owns_file_) std::fclose(file_);
}

bool PcapngReader::open(const std::string& path, std::string& error) {
    FILE* file = std::fopen(path.c_str(), "rb");
    if (file == nullptr) {
        error = std::string("cannot open: ") + std::strerror(errno);
        return false;
    }
    file_ = file;
    owns_file_ = true;
    return open_stream(file, error);
}

bool PcapngReader::open_stream(FILE* stream, std::string& error) {
    file_ = stream;
    pending_.clear();
    pending_at_ = 0;
    // The first block is a section header: its type, its length, the byte-order magic and
    // the version. The bytes read to check them are read again as that block.
    uint8_t head[16];
    const size_t got = read_bytes(head, sizeof head);
    pending_.assign(head, head + got);
    pending_at_ = 0;
    if (got != sizeof head) {
        error = "too short for a pcapng section header";
        return false;
    }
    uint32_t type;
    std::memcpy(&type, head, 4);
    uint32_t magic;
    std::memcpy(&magic, head + 8, 4);
    if (type != kSectionHeader) {
        error = "not a pcapng file (no section header)";
        return false;
    }
    if (magic == kByteOrderMagic) {
        swapped_ = false;
    } else if (__builtin_bswap32(magic) == kByteOrderMagic) {
        swapped_ = true;
    } else {
        error = "not a pcapng file (no byte-order magic)";
        return false;
    }
    const uint16_t major = u16(head + 12);
    const uint16_t minor = u16(head + 14);
    if (major != 1 || (minor != 0 && minor != 2)) {
        error = "unsupported pcapng version " + std::to_string(major) + "." +
                std::to_string(minor) + " (only 1.0 is defined)";
        return false;
    }
    return true;
}

size_t PcapngReader::read_bytes(uint8_t* out, size_t size) {
    size_t done = 0;
    if (pending_at_ < pending_.size()) {
        done = std::min(size, pending_.size() - pending_at_);
        std::memcpy(out, pending_.data() + pending_at_, done);
        pending_at_ += done;
    }
    if (done < size) done += std::fread(out + done, 1, size - done, file_);
    return done;
}

uint32_t PcapngReader::u32(const uint8_t* p) const {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return swapped_ ? __builtin_bswap32(v) : v;
}

uint16_t PcapngReader::u16(const uint8_t* p) const {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return swapped_ ? __builtin_bswap16(v) : v;
}

long PcapngReader::position() const { return file_ != nullptr ? std::ftell(file_) : -1; }

bool PcapngReader::read_block(uint32_t& type, std::string& error) {
    uint8_t head[8];
    size_t got = read_bytes(head, sizeof head);
    if (got == 0) {
        type = 0;
        return true;  // end of file
    }
    if (got != sizeof head) {
        error = "truncated block header";
        return false;
    }
    std::memcpy(&type, head, 4);
    // A new section may change the byte order: its magic follows the length, and starts
    // the block's body.
    uint8_t magic_bytes[4];
    size_t body_read = 0;
    if (type == kSectionHeader) {
        if (read_bytes(magic_bytes, 4) != 4) {
            error = "truncated section header";
            return false;
        }
        uint32_t magic;
        std::memcpy(&magic, magic_bytes, 4);
        swapped_ = magic != kByteOrderMagic;
        interfaces_.clear();
        body_read = 4;
    } else {
        type = u32(head);
    }
    uint32_t length = u32(head + 4);
    if (length < 12 || length % 4 != 0 || length > kMaxBlockLength) {
        error = "invalid block length " + std::to_string(length);
        return false;
    }
    block_.resize(length - 8);  // at least 4 bytes, so the magic fits
    std::memcpy(block_.data(), magic_bytes, body_read);
    const size_t rest = block_.size() - body_read;
    if (read_bytes(block_.data() + body_read, rest) != rest) {
        error = "truncated block";
        return false;
    }
    block_.resize(block_.size() - 4);  // drop the trailing length copy
    return true;
}

bool PcapngReader::parse_interface(const std::vector<uint8_t>& body, std::string& error) {
    Interface interface;
    if (body.size() < 8) {
        interfaces_.push_back(interface);
        return true;
    }
    interface.linktype = dlt_of_linktype(u16(body.data()));
    size_t at = 8;
    while (at + 4 <= body.size()) {
        uint16_t code = u16(&body[at]);
        uint16_t length = u16(&body[at + 2]);
        at += 4;
        if (code == 0 || at + length > body.size()) break;
        if (code == kOptionTimestampResolution && length >= 1) {
            uint8_t value = body[at];
            uint64_t ticks = 1;
            unsigned exponent = value & 0x7F;
            // The high bit selects a power of two instead of a power of ten. A finer
            // resolution than 10^-19 or 2^-63 s leaves a 64-bit timestamp less than two
            // seconds, which no capture uses: the file is damaged.
            const bool binary = (value & 0x80) != 0;
            if (exponent > (binary ? 63u : 19u)) {
                error = fmt::format(
                    "interface {} has the timestamp resolution (if_tsresol) {}^-{} s, finer "
                    "than any 64-bit timestamp can count",
                    interfaces_.size(), binary ? 2 : 10, exponent);
                return false;
            }
            for (unsigned i = 0; i < exponent && ticks < (1ull << 60); ++i) {
                ticks *= (value & 0x80) ? 2 : 10;
            }
            interface.ticks_per_second = ticks;
        } else if (code == kOptionTimestampOffset && length >= 8) {
            uint64_t offset;
            std::memcpy(&offset, &body[at], 8);
            interface.offset_seconds =
                static_cast<int64_t>(swapped_ ? __builtin_bswap64(offset) : offset);
        }
        at += (length + 3u) & ~3u;
    }
    interfaces_.push_back(interface);
    return true;
}

int64_t PcapngReader::to_micros(const Interface& interface, uint64_t timestamp) const {
    uint64_t ticks = interface.ticks_per_second;
    uint64_t seconds = timestamp / ticks;
    uint64_t fraction = timestamp % ticks;
    auto micros =
        static_cast<int64_t>(static_cast<unsigned __int128>(fraction) * 1'000'000 / ticks);
    // A damaged timestamp or offset can exceed what int64 microseconds hold: the seconds
    // are clamped, in 128 bits, so that the sum and the product cannot overflow.
    constexpr __int128 kMaxSeconds = std::numeric_limits<int64_t>::max() / 1'000'000 - 1'000;
    __int128 total = static_cast<__int128>(seconds) + interface.offset_seconds;
    total = std::clamp<__int128>(total, -kMaxSeconds, kMaxSeconds);
    return static_cast<int64_t>(total) * 1'000'000 + micros;
}

int PcapngReader::next(Packet& packet, std::string& error) {
    while (true) {
        uint32_t type = 0;
        if (!read_block(type, error)) return -1;
        if (type == 0) return 0;
        const std::vector<uint8_t>& body = block_;
        if (type == kSectionHeader) {
            // The byte-order magic, then the major and minor version. Only version 1.0 is
            // defined, and some writers wrote 1.0 files as 1.2; libpcap 1.10 and Wireshark 4.0
            // read those two and reject the others, as this reader does.
            if (body.size() < 8) {
                error = "truncated section header";
                return -1;
            }
            const uint16_t major = u16(&body[4]);
            const uint16_t minor = u16(&body[6]);
            if (major != 1 || (minor != 0 && minor != 2)) {
                error = "a section header of pcapng version " + std::to_string(major) + "." +
                        std::to_string(minor) + ", which is not version 1.0";
                return -1;
            }
            continue;
        }
        if (type == kInterfaceDescription) {
            if (!parse_interface(body, error)) return -1;
            continue;
        }
        if (type == kEnhancedPacket || type == kObsoletePacket) {
            if (body.size() < 20) {
                error = "truncated packet block";
                return -1;
            }
            uint32_t interface_id = type == kEnhancedPacket ? u32(body.data()) : u16(body.data());
            if (interface_id >= interfaces_.size()) {
                error = "packet of undescribed interface " + std::to_string(interface_id);
                return -1;
            }
            const Interface& interface = interfaces_[interface_id];
            uint64_t timestamp = (static_cast<uint64_t>(u32(&body[4])) << 32) | u32(&body[8]);
            uint32_t captured = u32(&body[12]);
            if (captured > body.size() - 20) {
                error = "packet block shorter than its captured length";
                return -1;
            }
            packet = {interface.linktype, body.data() + 20, captured, u32(&body[16]),
                      to_micros(interface, timestamp)};
            return 1;
        }
        if (type == kSimplePacket) {
            if (body.size() < 4 || interfaces_.empty()) {
                error = "invalid simple packet block";
                return -1;
            }
            uint32_t wire = u32(body.data());
            auto captured = static_cast<uint32_t>(std::min<size_t>(wire, body.size() - 4));
            packet = {interfaces_[0].linktype, body.data() + 4, captured, wire, 0};
            return 1;
        }
        // Name resolution, statistics, custom and unknown blocks carry no packets.
    }
}

}  // namespace pw::capture
