// NTP versions 1 to 4 over UDP. Layouts: the 48-byte packet header of RFC 5905 section 7.3
// (and of RFC 1305 and RFC 1119 before it), the mode 6 control messages of RFC 1305
// appendix B and RFC 9327, and ntpd's mode 7 private messages.

#include <cstdint>

#include "detect/detector.h"

namespace pw::detect {
namespace {

constexpr uint16_t kNtpPort = 123;
constexpr size_t kHeaderSize = 48;
constexpr size_t kControlHeaderSize = 12;
constexpr size_t kPrivateHeaderSize = 8;
constexpr uint8_t kModeClient = 3;
constexpr uint8_t kModeControl = 6;
constexpr uint8_t kModePrivate = 7;
// Stratum 16 means unsynchronized, and 17 to 255 are reserved (RFC 5905 section 7.3).
constexpr uint8_t kMaxStratum = 16;
// Datagrams per direction tried before the flow is given up, so that one malformed
// packet first does not hide the exchange after it.
constexpr uint64_t kMaxDatagrams = 4;

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t be32(const uint8_t* p) { return uint32_t{be16(p)} << 16 | be16(p + 2); }

// NTP timestamps count seconds from 1900 (RFC 5905 section 6), 2,208,988,800 s before the
// Unix epoch, in 32 bits that wrap in 2036.
constexpr uint32_t kNtpEpochToUnixSeconds = 2'208'988'800u;
// How far a sender's clock may be from the capturing host's for its timestamps to count.
constexpr int64_t kMaxClockSkewSeconds = 7 * 24 * 3600;
constexpr size_t kReceiveTimestamp = 32;
constexpr size_t kTransmitTimestamp = 40;
constexpr uint8_t kModeServer = 4;

// Modes 1 to 5 (and mode 0 of NTP version 1, which had no mode field). After the header
// come optional extension fields (RFC 7822) and a MAC, all in 4-byte words.
bool is_time_packet(std::span<const uint8_t> p, uint8_t version, uint8_t mode) {
    if (p.size() < kHeaderSize) return false;
    if (mode == 0 && version != 1) return false;
    uint8_t stratum = p[1];
    int8_t poll = static_cast<int8_t>(p[2]);
    int8_t precision = static_cast<int8_t>(p[3]);
    if (stratum > kMaxStratum) return false;
    if ((p.size() - kHeaderSize) % 4 != 0) return false;
    // A client's request may leave every field but the first octet unset (SNTP, RFC 4330),
    // and some clients fill them with junk.
    if (mode == kModeClient) return true;
    // Poll intervals are 2^4 to 2^17 s; servers echo the client's, from 0 to 17, and
    // symmetric peers at times send negative values. Precision is a negative power of two
    // in seconds.
    if (poll < -8 || poll > 17) return false;
    return precision <= 0 && precision >= -32;
}

// Mode 6: response, error and more bits with a 5-bit opcode, then sequence, status,
// association id, offset and count, and `count` bytes of data padded to 4 bytes.
bool is_control_message(std::span<const uint8_t> p) {
    if (p.size() < kControlHeaderSize) return false;
    uint8_t opcode = p[1] & 0x1f;
    size_t count = be16(p.data() + 10);
    if (opcode == 0 || opcode > 31) return false;
    if (kControlHeaderSize + count > p.size()) return false;
    // A request carries no more data than a short variable list; offsets are 0 in it.
    bool response = (p[1] & 0x80) != 0;
    if (!response && be16(p.data() + 8) != 0) return false;
    return count <= 468;  // the largest data field of one mode 6 packet
}

// Mode 7: response and more bits with the version, the authenticated bit and sequence, an
// implementation number (0 universal, 2 XNTPD old, 3 XNTPD), a request code, then the
// item count and item size (ntpd's ntp_request.h).
bool is_private_message(std::span<const uint8_t> p) {
    if (p.size() < kPrivateHeaderSize) return false;
    uint8_t implementation = p[2];
    if (implementation != 0 && implementation != 2 && implementation != 3) return false;
    size_t items = be16(p.data() + 4) & 0x0fff;
    size_t item_size = be16(p.data() + 6) & 0x0fff;
    // An error code (0 to 5) sits above the item count, zero bits above the item size.
    if ((p[4] >> 4) > 5 || (p[6] & 0xf0) != 0) return false;
    return kPrivateHeaderSize + items * item_size <= p.size();
}

// True when the timestamp at `offset` of a time packet is within kMaxClockSkewSeconds of
// the capture time. The 32-bit difference is taken modulo 2^32, so era 1 (from 2036)
// compares as era 0 does.
bool near_capture_time(std::span<const uint8_t> p, size_t offset, int64_t time_us) {
    const auto now = static_cast<uint32_t>(time_us / 1'000'000) + kNtpEpochToUnixSeconds;
    const auto difference = static_cast<int32_t>(be32(p.data() + offset) - now);
    return difference >= -kMaxClockSkewSeconds && difference <= kMaxClockSkewSeconds;
}

// Away from port 123 only a time packet whose clock reading matches the capture's counts:
// a server's receive and transmit timestamps, or the transmit timestamp of the other modes.
// Clients that hide their clock (chrony 4.3 sends a random transmit timestamp) are found by the
// server's reply.
bool is_ntp_elsewhere(std::span<const uint8_t> p, int64_t time_us) {
    if (p.size() < kHeaderSize) return false;
    const uint8_t version = (p[0] >> 3) & 0x07;
    const uint8_t mode = p[0] & 0x07;
    if (version < 1 || version > 4 || mode == 0 || mode >= kModeControl) return false;
    if (!is_time_packet(p, version, mode)) return false;
    if (!near_capture_time(p, kTransmitTimestamp, time_us)) return false;
    return mode != kModeServer || near_capture_time(p, kReceiveTimestamp, time_us);
}

bool is_ntp(std::span<const uint8_t> p) {
    if (p.empty()) return false;
    uint8_t version = (p[0] >> 3) & 0x07;
    uint8_t mode = p[0] & 0x07;
    if (version < 1 || version > 4) return false;
    if (mode == kModeControl) return is_control_message(p);
    if (mode == kModePrivate) return is_private_message(p);
    return is_time_packet(p, version, mode);
}

class NtpDetector final : public Detector {
  public:
    std::string_view name() const override { return "ntp"; }
    bool wants(Transport transport) const override { return transport == Transport::kUdp; }

    Verdict inspect(Session& session, const Segment& segment) override {
        if (session.classified()) return Verdict::kNotMine;
        // The header has too little fixed structure to tell NTP from other 48-byte
        // datagrams by itself, so away from port 123 the timestamps must match the capture.
        const bool ntp_port =
            session.initiator_port() == kNtpPort || session.responder_port() == kNtpPort;
        const bool ntp = ntp_port ? is_ntp(segment.data)
                                  : segment.packet != nullptr &&
                                        is_ntp_elsewhere(segment.data, segment.packet->time_us);
        if (!ntp && ntp_port) {
            return segment.offset + 1 < kMaxDatagrams ? Verdict::kContinue : Verdict::kNotMine;
        }
        if (!ntp) {
            // Elsewhere only a client's first request may fail, waiting for the reply.
            const bool first_request =
                segment.from_initiator && segment.offset == 0 && segment.data.size() >= kHeaderSize;
            return first_request ? Verdict::kContinue : Verdict::kNotMine;
        }
        session.add(ProtocolId::NTP);
        return Verdict::kDone;
    }
};

}  // namespace

std::unique_ptr<Detector> make_ntp_detector() { return std::make_unique<NtpDetector>(); }

}  // namespace pw::detect
