// BitTorrent: over TCP the peer wire handshake (BEP 3), including the one that follows a
// Message Stream Encryption exchange negotiated to plaintext. Over UDP the DHT's bencoded
// KRPC messages (BEP 5), uTP (BEP 29), UDP tracker connect requests (BEP 15) and Local
// Service Discovery announcements (BEP 14).

#include "detect/bittorrent.h"

#include <algorithm>
#include <string_view>

namespace pw::detect {
namespace {

constexpr std::string_view kHandshake =
    "\x13"
    "BitTorrent protocol";
constexpr std::string_view kLsdRequest = "BT-SEARCH * HTTP/1.1\r\n";
constexpr uint64_t kTrackerProtocolId = 0x41727101980;
// Message Stream Encryption opens with a 96-byte Diffie-Hellman key and up to 512 bytes of
// padding, and the plaintext handshake can follow within the next few segments.
constexpr size_t kMinMseOpening = 96;
constexpr size_t kMaxMseOpening = 96 + 512;
constexpr uint32_t kMaxMseSegments = 12;
constexpr size_t kMaxHandshakeSearch = 2048;
constexpr int kMaxBencodeDepth = 16;
constexpr size_t kUtpHeader = 20;
// Two packets one side sends within this time have timestamps this close.
constexpr uint32_t kMaxUtpTimestampStep = 120u * 1000 * 1000;
// Sequence and acknowledgement numbers between two packets of a flow move by less than this.
constexpr uint16_t kMaxUtpNumberStep = 64;
// Implementations advertise receive windows of about a megabyte.
constexpr uint32_t kMaxUtpWindow = 64u << 20;

std::string_view as_text(std::span<const uint8_t> data) {
    return {reinterpret_cast<const char*>(data.data()), data.size()};
}

uint32_t read_be32(std::span<const uint8_t> d, size_t at) {
    return uint32_t{d[at]} << 24 | uint32_t{d[at + 1]} << 16 | uint32_t{d[at + 2]} << 8 | d[at + 3];
}

struct BencodedString {
    size_t start = 0;  // of the bytes
    size_t length = 0;
    size_t end = 0;  // after the bytes
};

std::optional<BencodedString> read_string(std::span<const uint8_t> d, size_t pos) {
    size_t length = 0;
    size_t digits = 0;
    while (pos < d.size() && d[pos] >= '0' && d[pos] <= '9') {
        if (++digits > 7) return std::nullopt;
        length = length * 10 + (d[pos] - '0');
        ++pos;
    }
    if (digits == 0 || pos >= d.size() || d[pos] != ':') return std::nullopt;
    ++pos;
    if (d.size() - pos < length) return std::nullopt;
    return BencodedString{pos, length, pos + length};
}

// Returns the position after the bencoded value at `pos`, or nullopt when it is malformed
// or does not end within `d`.
std::optional<size_t> skip_value(std::span<const uint8_t> d, size_t pos, int depth) {
    if (pos >= d.size() || depth > kMaxBencodeDepth) return std::nullopt;
    uint8_t lead = d[pos];
    if (lead == 'i') {
        size_t end = pos + 1;
        if (end < d.size() && d[end] == '-') ++end;
        size_t digits_start = end;
        while (end < d.size() && d[end] >= '0' && d[end] <= '9') ++end;
        if (end == digits_start || end >= d.size() || d[end] != 'e') return std::nullopt;
        return end + 1;
    }
    if (lead == 'l' || lead == 'd') {
        ++pos;
        while (pos < d.size() && d[pos] != 'e') {
            if (lead == 'd') {
                std::optional<BencodedString> key = read_string(d, pos);
                if (!key) return std::nullopt;
                pos = key->end;
            }
            std::optional<size_t> next = skip_value(d, pos, depth + 1);
            if (!next) return std::nullopt;
            pos = *next;
        }
        if (pos >= d.size()) return std::nullopt;
        return pos + 1;
    }
    std::optional<BencodedString> text = read_string(d, pos);
    if (!text) return std::nullopt;
    return text->end;
}

bool is_tracker_connect(std::span<const uint8_t> d) {
    if (d.size() != 16) return false;
    uint64_t protocol_id = 0;
    for (size_t i = 0; i < 8; ++i) protocol_id = protocol_id << 8 | d[i];
    return protocol_id == kTrackerProtocolId && d[8] == 0 && d[9] == 0 && d[10] == 0 && d[11] == 0;
}

bool is_lsd_announce(std::span<const uint8_t> d) {
    std::string_view text = as_text(d);
    return text.starts_with(kLsdRequest) && text.find("\r\nInfohash: ") != std::string_view::npos;
}

// The distance from `from` to `to` in either direction, modulo 2^16.
uint16_t number_distance(uint16_t from, uint16_t to) {
    uint16_t forward = static_cast<uint16_t>(to - from);
    uint16_t backward = static_cast<uint16_t>(from - to);
    return std::min(forward, backward);
}

// True when `later` can follow `earlier` in one uTP connection.
bool utp_follows(const UtpHeader& earlier, bool earlier_from_initiator, const UtpHeader& later,
                 bool later_from_initiator) {
    constexpr uint8_t kSyn = 4;
    uint16_t id_step = static_cast<uint16_t>(later.connection_id - earlier.connection_id);
    if (earlier_from_initiator == later_from_initiator) {
        // One side sends with one connection id, which is one more than its SYN's, stamps
        // each packet anew and numbers its packets one after another.
        if (id_step != 0 && !(id_step == 1 && earlier.type == kSyn)) return false;
        uint32_t elapsed = later.timestamp_us - earlier.timestamp_us;
        if (elapsed == 0 || elapsed > kMaxUtpTimestampStep) return false;
        if (static_cast<uint16_t>(later.seq_nr - earlier.seq_nr) > kMaxUtpNumberStep) {
            return false;
        }
        return earlier.type == kSyn ||
               number_distance(earlier.ack_nr, later.ack_nr) <= kMaxUtpNumberStep;
    }
    // The two sides' ids differ by one, except where the SYN's id is sent back, and one side
    // acknowledges the other's sequence numbers.
    if (id_step != 0 && id_step != 1 && id_step != 0xFFFF) return false;
    return number_distance(later.ack_nr, earlier.seq_nr) <= kMaxUtpNumberStep ||
           number_distance(earlier.ack_nr, later.seq_nr) <= kMaxUtpNumberStep;
}

class BittorrentState final : public DetectorState {
public:
    uint32_t segments = 0;
    bool mse = false;
    std::optional<UtpHeader> utp;
    bool utp_from_initiator = false;
};

class BittorrentDetector final : public Detector {
public:
    std::string_view name() const override { return "bittorrent"; }
    bool wants(Transport transport) const override {
        return transport == Transport::kTcp || transport == Transport::kUdp;
    }

    Verdict inspect(Session& session, const Segment& segment) override {
        Verdict verdict = session.transport() == Transport::kTcp ? inspect_tcp(session, segment)
                                                                 : inspect_udp(session, segment);
        if (verdict == Verdict::kDone) session.add(ProtocolId::P2P_BITTORRENT);
        return verdict;
    }

private:
    Verdict inspect_tcp(Session& session, const Segment& segment) {
        std::string_view text = as_text(segment.data);
        if (text.starts_with(kHandshake)) return Verdict::kDone;
        auto& state = session.state<BittorrentState>(slot);
        if (state.segments++ == 0) {
            size_t size = segment.data.size();
            state.mse = segment.from_initiator && segment.offset == 0 && size >= kMinMseOpening &&
                        size <= kMaxMseOpening;
            return state.mse ? Verdict::kContinue : Verdict::kNotMine;
        }
        if (text.substr(0, kMaxHandshakeSearch).find(kHandshake) != std::string_view::npos) {
            return Verdict::kDone;
        }
        return state.segments >= kMaxMseSegments ? Verdict::kNotMine : Verdict::kContinue;
    }

    Verdict inspect_udp(Session& session, const Segment& segment) {
        std::span<const uint8_t> data = segment.data;
        if (is_dht_message(data) || is_tracker_connect(data) || is_lsd_announce(data)) {
            return Verdict::kDone;
        }
        std::optional<UtpHeader> utp = parse_utp(data);
        if (!utp) return Verdict::kNotMine;
        auto& state = session.state<BittorrentState>(slot);
        if (state.utp &&
            utp_follows(*state.utp, state.utp_from_initiator, *utp, segment.from_initiator)) {
            return Verdict::kDone;
        }
        state.utp = utp;
        state.utp_from_initiator = segment.from_initiator;
        return Verdict::kContinue;
    }
};

}  // namespace

bool is_dht_message(std::span<const uint8_t> d) {
    if (d.size() < 12 || d[0] != 'd') return false;
    size_t pos = 1;
    uint8_t type = 0;
    bool transaction = false;
    bool query_name = false;
    bool arguments = false;
    bool response = false;
    bool error = false;
    while (pos < d.size() && d[pos] != 'e') {
        std::optional<BencodedString> key = read_string(d, pos);
        if (!key) return false;
        pos = key->end;
        if (pos >= d.size()) return false;
        uint8_t lead = d[pos];
        std::optional<size_t> end = skip_value(d, pos, 1);
        if (!end) return false;
        if (key->length == 1) {
            bool string = lead >= '0' && lead <= '9';
            switch (d[key->start]) {
                case 'y': {
                    std::optional<BencodedString> value = read_string(d, pos);
                    if (!value || value->length != 1) return false;
                    type = d[value->start];
                    break;
                }
                case 't':
                    transaction = string;
                    break;
                case 'q':
                    query_name = string;
                    break;
                case 'a':
                    arguments = lead == 'd';
                    break;
                case 'r':
                    response = lead == 'd';
                    break;
                case 'e':
                    error = lead == 'l';
                    break;
                default:
                    break;
            }
        }
        pos = *end;
    }
    if (pos + 1 != d.size() || !transaction) return false;
    return (type == 'q' && query_name && arguments) || (type == 'r' && response) ||
           (type == 'e' && error);
}

std::optional<UtpHeader> parse_utp(std::span<const uint8_t> d) {
    if (d.size() < kUtpHeader) return std::nullopt;
    uint8_t type = d[0] >> 4;
    if ((d[0] & 0x0F) != 1 || type > 4) return std::nullopt;
    // Extensions: 1 selective ack (a bit mask of at least 32 bits, in whole bytes of four),
    // 2 extension bits (8 bytes). Later implementations add a few more small ones.
    size_t pos = kUtpHeader;
    uint8_t extension = d[1];
    for (int count = 0; extension != 0; ++count) {
        if (count == 4 || extension > 4 || d.size() - pos < 2) return std::nullopt;
        uint8_t next = d[pos];
        size_t length = d[pos + 1];
        if (length == 0 || length > 32 || d.size() - pos - 2 < length) return std::nullopt;
        if (extension == 1 && length % 4 != 0) return std::nullopt;
        if (extension == 2 && length != 8) return std::nullopt;
        pos += 2 + length;
        extension = next;
    }
    // Only ST_DATA carries a payload.
    bool payload = pos < d.size();
    if (payload != (type == 0)) return std::nullopt;
    UtpHeader header;
    header.type = type;
    header.connection_id = static_cast<uint16_t>(d[2] << 8 | d[3]);
    header.timestamp_us = read_be32(d, 4);
    header.window = read_be32(d, 12);
    header.seq_nr = static_cast<uint16_t>(d[16] << 8 | d[17]);
    header.ack_nr = static_cast<uint16_t>(d[18] << 8 | d[19]);
    if (header.window > kMaxUtpWindow) return std::nullopt;
    return header;
}

std::unique_ptr<Detector> make_bittorrent_detector() {
    return std::make_unique<BittorrentDetector>();
}

}  // namespace pw::detect
