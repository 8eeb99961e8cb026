// The MySQL (and MariaDB) client/server protocol. The server speaks first, with a packet of a
// 3-byte little-endian length and sequence number 0. It holds protocol version 10, a
// NUL-terminated server version, the connection id, the first 8 bytes of the scramble and a
// NUL filler, or it is an ERR packet (0xFF, an error code, a message) when the server rejects
// the client at once. The
// detector then keeps watching for the client's SSLRequest, after which TLS follows.

#include "detect/mysql.h"

namespace pw::detect {
namespace {

constexpr size_t kPacketHeader = 4;
constexpr uint8_t kProtocolVersion = 10;
constexpr uint8_t kErrorMarker = 0xFF;
constexpr size_t kMaxServerVersion = 64;
constexpr uint32_t kClientSsl = 0x0800;
// Bit 0 of the capabilities: CLIENT_LONG_PASSWORD in MySQL, CLIENT_MYSQL in MariaDB. A
// MariaDB peer without it puts its extended capabilities in the last 4 reserved bytes of
// the SSL request (MariaDB's protocol documentation, "SSLRequest packet").
constexpr uint32_t kClientMysql = 0x0001;
constexpr size_t kSslRequestLength = 32;

uint32_t read_le24(std::span<const uint8_t> data, size_t at) {
    return uint32_t{data[at]} | uint32_t{data[at + 1]} << 8 | uint32_t{data[at + 2]} << 16;
}

bool printable(uint8_t c) { return c >= 0x20 && c < 0x7F; }

// The bytes after the packet header when `data` is one whole packet with sequence `sequence`.
std::span<const uint8_t> whole_packet(std::span<const uint8_t> data, uint8_t sequence) {
    if (data.size() < kPacketHeader + 1 || data[3] != sequence) return {};
    if (read_le24(data, 0) + kPacketHeader != data.size()) return {};
    return data.subspan(kPacketHeader);
}

bool is_handshake(std::span<const uint8_t> body) {
    if (body[0] != kProtocolVersion) return false;
    size_t end = 1;
    while (end < body.size() && body[end] != 0) {
        if (!printable(body[end]) || end > kMaxServerVersion) return false;
        ++end;
    }
    // A server version such as "8.0.28" or "5.5.5-10.6.12-MariaDB" starts with a digit.
    if (end == 1 || end == body.size() || body[1] < '0' || body[1] > '9') return false;
    // Connection id (4), auth-plugin-data-part-1 (8), then a filler of 0.
    size_t filler = end + 1 + 4 + 8;
    if (filler >= body.size() || body[filler] != 0) return false;
    // Capability flags (2), character set (1), status flags (2), upper capability flags (2)
    // and the scramble length (1) come next, then 10 reserved bytes of which MariaDB uses
    // the last four for its own capabilities.
    size_t reserved = filler + 1 + 2 + 1 + 2 + 2 + 1;
    if (reserved + 6 <= body.size()) {
        for (size_t i = reserved; i < reserved + 6; ++i) {
            if (body[i] != 0) return false;
        }
    }
    return true;
}

bool is_error(std::span<const uint8_t> body) {
    if (body.size() < 3 + 8 || body[0] != kErrorMarker) return false;
    uint16_t code = static_cast<uint16_t>(body[1] | body[2] << 8);
    // Server error codes start at 1000, and MySQL 8.0 adds codes in the 10000s.
    if (code < 1000 || code >= 20000) return false;
    for (size_t i = 3; i < body.size(); ++i) {
        if (!printable(body[i]) && body[i] < 0x80) return false;
    }
    return true;
}

class MysqlState final : public DetectorState {
public:
    bool recorded = false;
    bool server_is_initiator = false;
};

class MysqlDetector final : public Detector {
public:
    std::string_view name() const override { return "mysql"; }
    bool wants(Transport transport) const override { return transport == Transport::kTcp; }
    bool keeps_inspecting() const override { return true; }

    Verdict inspect(Session& session, const Segment& segment) override {
        auto& state = session.state<MysqlState>(slot);
        if (!state.recorded) {
            if (session.classified()) return Verdict::kNotMine;
            MysqlGreeting greeting = classify_mysql_greeting(segment.data);
            // An ERR packet is only taken for a greeting at the very start of the stream.
            if (greeting == MysqlGreeting::kError && segment.offset != 0) {
                greeting = MysqlGreeting::kNone;
            }
            if (greeting == MysqlGreeting::kNone) return Verdict::kNotMine;
            session.add(ProtocolId::MYSQL);
            if (greeting == MysqlGreeting::kError) return Verdict::kDone;
            state.recorded = true;
            state.server_is_initiator = segment.from_initiator;
            return Verdict::kContinue;
        }
        if (segment.from_initiator == state.server_is_initiator) return Verdict::kContinue;
        // The client's first packet: an SSLRequest hands the rest of the stream to TLS.
        if (is_mysql_ssl_request(segment.data)) session.open_inner_layer();
        return Verdict::kDone;
    }
};

}  // namespace

MysqlGreeting classify_mysql_greeting(std::span<const uint8_t> data) {
    std::span<const uint8_t> body = whole_packet(data, 0);
    if (body.empty()) return MysqlGreeting::kNone;
    if (is_handshake(body)) return MysqlGreeting::kHandshake;
    if (is_error(body)) return MysqlGreeting::kError;
    return MysqlGreeting::kNone;
}

bool is_mysql_ssl_request(std::span<const uint8_t> data) {
    std::span<const uint8_t> body = whole_packet(data, 1);
    if (body.size() != kSslRequestLength) return false;
    uint32_t capabilities = uint32_t{body[0]} | uint32_t{body[1]} << 8 | uint32_t{body[2]} << 16 |
                            uint32_t{body[3]} << 24;
    if ((capabilities & kClientSsl) == 0) return false;
    // Max packet size (4) and character set (1), then 23 reserved zero bytes, of which
    // MariaDB uses the last 4 (kClientMysql).
    const size_t reserved_end =
        (capabilities & kClientMysql) == 0 ? kSslRequestLength - 4 : kSslRequestLength;
    for (size_t i = 9; i < reserved_end; ++i) {
        if (body[i] != 0) return false;
    }
    return true;
}

std::unique_ptr<Detector> make_mysql_detector() { return std::make_unique<MysqlDetector>(); }

}  // namespace pw::detect
