// NetBIOS over TCP/IP: the name service (NETBIOS_NS, UDP 137) and the datagram service
// (NETBIOS_DGM, UDP 138, whose datagrams carry SMB mailslot messages, recorded as SMB too).
// The session service (NBTSS, TCP 139) frames SMB and is followed by the SMB detector with
// the helpers defined here.

#include "detect/netbios.h"

#include <algorithm>
#include <array>
#include <memory>

#include "detect/detector.h"
#include "detect/le_bytes.h"
#include "detect/smb.h"

namespace pw::detect {
namespace netbios {
namespace {

constexpr size_t kMaxScopeBytes = 255;

}  // namespace

std::optional<SessionHeader> parse_session_header(std::span<const uint8_t> h) {
    if (h.size() < kSessionHeaderSize) return std::nullopt;
    SessionHeader header;
    header.type = h[0];
    if (header.type == session_type::kMessage) {
        header.length = size_t{h[1]} << 16 | size_t{h[2]} << 8 | h[3];
        return header;
    }
    if (header.type < session_type::kRequest || header.type > session_type::kKeepAlive) {
        return std::nullopt;
    }
    if ((h[1] & 0xFE) != 0) return std::nullopt;  // only the length extension bit is defined
    header.length = size_t{h[1] & 0x01u} << 16 | size_t{h[2]} << 8 | h[3];
    return header;
}

bool valid_session_control(const SessionHeader& header, std::span<const uint8_t> trailer) {
    if (trailer.size() != header.length) return false;
    switch (header.type) {
        case session_type::kRequest: {
            auto called = encoded_name_size(trailer);
            if (!called) return false;
            auto calling = encoded_name_size(trailer.subspan(*called));
            return calling && *called + *calling == trailer.size();
        }
        case session_type::kPositiveResponse:
        case session_type::kKeepAlive:
            return trailer.empty();
        case session_type::kNegativeResponse:
            // Not listening on called name (0x80), for calling name (0x81), not present
            // (0x82), insufficient resources (0x83), unspecified error (0x8F).
            return trailer.size() == 1 &&
                   ((trailer[0] >= 0x80 && trailer[0] <= 0x83) || trailer[0] == 0x8F);
        case session_type::kRetargetResponse:
            return trailer.size() == 6;
        default:
            return false;
    }
}

std::optional<size_t> encoded_name_size(std::span<const uint8_t> data) {
    if (data.size() < 1 + netbios::kEncodedNameChars + 1 || data[0] != netbios::kEncodedNameChars) {
        return std::nullopt;
    }
    for (size_t i = 1; i <= netbios::kEncodedNameChars; ++i) {
        if (data[i] < 'A' || data[i] > 'P') return std::nullopt;
    }
    // Scope labels follow, each with its length byte, up to the zero length of the root.
    size_t pos = 1 + netbios::kEncodedNameChars;
    while (pos < data.size() && data[pos] != 0) {
        if (data[pos] > 63) return std::nullopt;
        pos += 1 + data[pos];
        if (pos > kMaxScopeBytes) return std::nullopt;
    }
    if (pos >= data.size()) return std::nullopt;
    return pos + 1;
}

}  // namespace netbios

namespace {

// Name service (RFC 1002 section 4.2): a 12-byte header, then resource records whose names
// are encoded NetBIOS names.
constexpr size_t kNsHeaderSize = 12;
constexpr uint16_t kNsTypeNb = 0x0020;
constexpr uint16_t kNsTypeNbstat = 0x0021;
constexpr uint16_t kNsClassIn = 0x0001;
// More records than this in one packet is not NetBIOS name service traffic.
constexpr uint16_t kMaxNsRecords = 8;

// Datagram service (RFC 1002 section 4.4).
constexpr uint8_t kDgmDirectUnique = 0x10;
constexpr uint8_t kDgmBroadcast = 0x12;
constexpr uint8_t kDgmError = 0x13;
constexpr uint8_t kDgmQueryRequest = 0x14;
constexpr uint8_t kDgmNegativeQueryResponse = 0x16;
constexpr size_t kDgmHeaderSize = 10;      // type, flags, id, source address and port
constexpr size_t kDgmDataHeaderSize = 14;  // plus datagram length and packet offset

// Datagrams a UDP flow may show before the detector gives up on it (a fuzzed or unrelated
// first datagram does not rule the flow out at once).
constexpr uint64_t kMaxDatagramsExamined = 8;

bool is_ns_opcode(uint8_t opcode) {
    // Query (0), registration (5), release (6), WACK (7), refresh (8, and 9 as sent by some
    // implementations), multi-homed registration (15).
    return opcode == 0 || (opcode >= 5 && opcode <= 9) || opcode == 15;
}

bool is_ns_header(std::span<const uint8_t> d) {
    if (d.size() < kNsHeaderSize) return false;
    uint16_t flags = bytes::be16(d, 2);
    bool response = (flags & 0x8000) != 0;
    if (!is_ns_opcode((flags >> 11) & 0x0F)) return false;
    if ((flags & 0x0060) != 0) return false;               // reserved NM_FLAGS bits
    if (!response && (flags & 0x000F) != 0) return false;  // requests carry no RCODE
    uint16_t counts[4] = {bytes::be16(d, 4), bytes::be16(d, 6), bytes::be16(d, 8),
                          bytes::be16(d, 10)};
    uint32_t total = 0;
    for (uint16_t count : counts) {
        if (count > kMaxNsRecords) return false;
        total += count;
    }
    return total > 0;
}

// Checks the first record, question or resource record alike: an encoded name, then its
// type and class. Damaged name service packets (corrupted on the way, or sent by fuzzers
// and scanners) are still this protocol, so one damaged field of the five is tolerated as
// long as most of the name's characters are right.
bool is_ns_record(std::span<const uint8_t> d) {
    constexpr size_t kPlainNameSize = 1 + netbios::kEncodedNameChars + 1;
    constexpr size_t kMinGoodChars = 24;
    constexpr size_t kAllGoodChars = 28;
    if (d.size() < kPlainNameSize + 4) return false;
    size_t good_chars = 0;
    for (size_t i = 1; i <= netbios::kEncodedNameChars; ++i)
        good_chars += d[i] >= 'A' && d[i] <= 'P';
    if (good_chars < kMinGoodChars) return false;

    auto name = netbios::encoded_name_size(d);
    size_t pos = name ? *name : kPlainNameSize;
    if (!bytes::has(d, pos, 4)) return false;
    uint16_t type = bytes::be16(d, pos);
    int damaged = 0;
    damaged += d[0] != netbios::kEncodedNameChars;
    damaged += good_chars < kAllGoodChars;
    damaged += !name && d[kPlainNameSize - 1] != 0;
    damaged += type != kNsTypeNb && type != kNsTypeNbstat;
    damaged += bytes::be16(d, pos + 2) != kNsClassIn;
    return damaged <= 1;
}

bool is_name_service(std::span<const uint8_t> d) {
    return is_ns_header(d) && is_ns_record(d.subspan(kNsHeaderSize));
}

struct DatagramResult {
    bool carries_smb = false;
};

// True when the datagram header names the packet's own source address and port, as an
// unrouted datagram's does: evidence enough when fields after it are damaged.
bool header_names_sender(std::span<const uint8_t> d, const decode::Packet* packet) {
    if (packet == nullptr || packet->source.is_v6) return false;
    return std::equal(d.begin() + 4, d.begin() + 8, packet->source.bytes.begin()) &&
           bytes::be16(d, 8) == packet->source_port;
}

bool contains_smb1(std::span<const uint8_t> d) {
    constexpr std::array<uint8_t, 4> kMagic = {0xFF, 'S', 'M', 'B'};
    return std::search(d.begin(), d.end(), kMagic.begin(), kMagic.end()) != d.end();
}

std::optional<DatagramResult> parse_datagram_service(std::span<const uint8_t> d,
                                                     const decode::Packet* packet) {
    if (d.size() < kDgmHeaderSize) return std::nullopt;
    uint8_t type = d[0];
    if (type < kDgmDirectUnique || type > kDgmNegativeQueryResponse) return std::nullopt;
    if ((d[1] & 0xF0) != 0) return std::nullopt;  // reserved flag bits

    if (type == kDgmError) {
        // Error codes: destination name not present (0x82), invalid source (0x83) or
        // destination (0x84) name format.
        return d.size() == kDgmHeaderSize + 1 && d[10] >= 0x82 && d[10] <= 0x84
                   ? std::optional<DatagramResult>(DatagramResult{})
                   : std::nullopt;
    }
    if (type >= kDgmQueryRequest) {
        auto name = netbios::encoded_name_size(d.subspan(kDgmHeaderSize));
        if (!name || kDgmHeaderSize + *name != d.size()) return std::nullopt;
        return DatagramResult{};
    }

    // Direct unique, direct group and broadcast datagrams: the length counts the names and
    // the user data; a fragment may carry less than the whole.
    // A capture's snapshot length can cut the datagram: the length is checked against its
    // size on the wire.
    if (d.size() < kDgmDataHeaderSize) return std::nullopt;
    size_t wire_size = packet ? std::max<size_t>(d.size(), packet->payload_length) : d.size();
    size_t length = bytes::be16(d, 10);
    if (length > wire_size - kDgmDataHeaderSize) return std::nullopt;
    auto names = d.subspan(kDgmDataHeaderSize);
    auto source = netbios::encoded_name_size(names);
    auto target = source ? netbios::encoded_name_size(names.subspan(*source)) : std::nullopt;
    DatagramResult result;
    if (target) {
        result.carries_smb = smb::starts_smb1(names.subspan(*source + *target));
        return result;
    }
    if (!header_names_sender(d, packet)) return std::nullopt;
    result.carries_smb = contains_smb1(names);
    return result;
}

class NetbiosDetector final : public Detector {
  public:
    std::string_view name() const override { return "netbios"; }
    bool wants(Transport t) const override { return t == Transport::kUdp; }

    Verdict inspect(Session& session, const Segment& segment) override {
        if (session.classified()) return Verdict::kNotMine;
        if (is_name_service(segment.data)) {
            session.add(ProtocolId::NETBIOS_NS);
            return Verdict::kDone;
        }
        if (auto dgm = parse_datagram_service(segment.data, segment.packet)) {
            session.add(ProtocolId::NETBIOS_DGM);
            if (dgm->carries_smb) session.add(ProtocolId::SMB);
            return Verdict::kDone;
        }
        return segment.offset + 1 >= kMaxDatagramsExamined ? Verdict::kNotMine : Verdict::kContinue;
    }
};

}  // namespace

std::unique_ptr<Detector> make_netbios_detector() { return std::make_unique<NetbiosDetector>(); }

}  // namespace pw::detect
