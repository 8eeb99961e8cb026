// MSSQL: the Tabular Data Stream protocol ([MS-TDS]) over TCP, recognized by a client's
// PRELOGIN or LOGIN7 packet, or, for a capture that starts later, by a SQL batch or remote
// procedure call whose text or procedure name checks out, or by a request packet and a
// tabular result that both have consistent headers; and MSSQL_RESOLVER, the SQL Server
// Resolution Protocol ([MS-SQLR]) over UDP.

#include <memory>
#include <string_view>

#include "detect/detector.h"
#include "detect/le_bytes.h"

namespace pw::detect {
namespace {

constexpr size_t kTdsHeaderSize = 8;
constexpr size_t kMaxTdsPacket = 32768;  // the largest negotiable packet size
// A segment that a longer TDS packet continues after: IPv4's minimum maximum segment size
// (RFC 9293 section 3.7.1), below the packet sizes clients negotiate (512 and up).
constexpr size_t kMinContinuedSegment = 536;

namespace tds_type {
constexpr uint8_t kSqlBatch = 0x01;
constexpr uint8_t kRpc = 0x03;
constexpr uint8_t kTabularResult = 0x04;
constexpr uint8_t kAttention = 0x06;
constexpr uint8_t kBulkLoad = 0x07;
constexpr uint8_t kTransactionManager = 0x0E;
constexpr uint8_t kLogin7 = 0x10;
constexpr uint8_t kSspi = 0x11;
constexpr uint8_t kPrelogin = 0x12;
}  // namespace tds_type

constexpr uint8_t kStatusEndOfMessage = 0x01;
constexpr uint8_t kStatusKnownBits = 0x1F;  // EOM, ignore, event notification, resets
constexpr uint8_t kPreloginTerminator = 0xFF;
constexpr uint8_t kPreloginVersion = 0x00;
constexpr uint8_t kMaxPreloginOption = 0x08;  // FEDAUTHREQUIRED
constexpr size_t kMaxPreloginOptions = 16;

struct TdsHeader {
    uint8_t type = 0;
    uint8_t status = 0;
    size_t length = 0;
};

std::optional<TdsHeader> parse_tds_header(std::span<const uint8_t> d) {
    if (d.size() < kTdsHeaderSize) return std::nullopt;
    TdsHeader h{d[0], d[1], bytes::be16(d, 2)};
    if ((h.status & ~kStatusKnownBits) != 0) return std::nullopt;
    if (h.length < kTdsHeaderSize || h.length > kMaxTdsPacket) return std::nullopt;
    if (d[7] != 0) return std::nullopt;  // Window, always zero
    return h;
}

// PRELOGIN option list: (token, offset, length) entries up to 0xFF, the first VERSION, each
// pointing inside the packet past the list itself.
bool valid_prelogin(std::span<const uint8_t> payload) {
    size_t pos = 0;
    for (size_t i = 0; i < kMaxPreloginOptions; ++i) {
        if (pos >= payload.size()) return false;
        uint8_t token = payload[pos];
        if (token == kPreloginTerminator) return i > 0;
        if ((i == 0 && token != kPreloginVersion) || token > kMaxPreloginOption) return false;
        if (!bytes::has(payload, pos, 5)) return false;
        size_t offset = bytes::be16(payload, pos + 1);
        size_t length = bytes::be16(payload, pos + 3);
        if (offset + length > payload.size()) return false;
        pos += 5;
        if (offset < pos) return false;
    }
    return false;
}

// LOGIN7 starts with its own length (little-endian) and the TDS version the client asks for.
// A login that fits one packet fills it; a longer one continues in the next packets.
bool valid_login7(std::span<const uint8_t> payload, size_t packet_payload, bool eom) {
    constexpr uint32_t kMinLogin7 = 36;
    constexpr uint32_t kMaxLogin7 = 128 * 1024;
    if (payload.size() < 8) return false;
    uint32_t length = bytes::le32(payload, 0);
    uint8_t major = bytes::le32(payload, 4) >> 24;  // 0x70 (7.0) to 0x74 (7.4)
    if (length < kMinLogin7 || length > kMaxLogin7 || major < 0x70 || major > 0x74) return false;
    return eom ? length == packet_payload : length > packet_payload;
}

// Skips the ALL_HEADERS block that starts SQL batches and remote procedure calls from TDS
// 7.2 on ([MS-TDS]). The block is a total length that counts itself, then headers that
// fill the total exactly, each with its own length (at least 6) and a type from 1 to 3.
// Leaves `at` alone when the block is absent (TDS 7.1 and earlier), and returns false when
// it is invalid.
bool skip_all_headers(std::span<const uint8_t> payload, size_t& at) {
    constexpr uint32_t kMaxTotal = 1024;
    if (!bytes::has(payload, 0, 4)) return false;
    const uint32_t total = bytes::le32(payload, 0);
    // A name length or text in the first bytes reads as a total far above the block's.
    if (total > kMaxTotal) return true;
    if (total < 4 + 6 || !bytes::has(payload, 0, total)) return false;
    size_t pos = 4;
    while (pos < total) {
        if (!bytes::has(payload, pos, 6)) return false;
        const uint32_t length = bytes::le32(payload, pos);
        const uint16_t type = bytes::le16(payload, pos + 4);
        if (length < 6 || length > total - pos || type < 1 || type > 3) return false;
        pos += length;
    }
    at = total;
    return true;
}

// True when `count` UTF-16LE code units from `at` are printable ASCII, tabs or line
// breaks: the text of a SQL statement or a procedure name.
bool is_ascii_utf16(std::span<const uint8_t> payload, size_t at, size_t count) {
    if (!bytes::has(payload, at, count * 2)) return false;
    for (size_t i = 0; i < count; ++i) {
        const uint8_t low = payload[at + 2 * i];
        const uint8_t high = payload[at + 2 * i + 1];
        const bool text = (low >= 0x20 && low <= 0x7E) || low == '\t' || low == '\r' || low == '\n';
        if (high != 0 || !text) return false;
    }
    return true;
}

// True when the start of a SQL batch's or an RPC's payload, as far as `payload` goes, is
// what clients send. After any ALL_HEADERS, a batch has its statement text. An RPC names
// its procedure by a length and that many UTF-16 characters, or by 0xFFFF and the number
// of a built-in procedure (1 to 15).
bool valid_request_start(uint8_t type, std::span<const uint8_t> payload) {
    constexpr size_t kMinCharacters = 4;
    constexpr size_t kMaxProcedureName = 128;
    constexpr uint16_t kLastProcedureId = 15;  // sp_cursor (1) to sp_unprepare (15)
    size_t at = 0;
    if (!skip_all_headers(payload, at)) return false;
    if (type == tds_type::kSqlBatch) return is_ascii_utf16(payload, at, kMinCharacters);
    if (!bytes::has(payload, at, 2)) return false;
    const uint16_t name_length = bytes::le16(payload, at);
    if (name_length == 0xFFFF) {
        if (!bytes::has(payload, at + 2, 2)) return false;
        const uint16_t id = bytes::le16(payload, at + 2);
        return id >= 1 && id <= kLastProcedureId;
    }
    if (name_length < kMinCharacters || name_length > kMaxProcedureName) return false;
    const size_t available = (payload.size() - at - 2) / 2;
    return available >= kMinCharacters &&
           is_ascii_utf16(payload, at + 2, std::min<size_t>(name_length, available));
}

bool is_request_type(uint8_t type) {
    return type == tds_type::kSqlBatch || type == tds_type::kRpc || type == tds_type::kAttention ||
           type == tds_type::kBulkLoad || type == tds_type::kTransactionManager ||
           type == tds_type::kSspi;
}

// SQL Server Resolution Protocol messages.
constexpr uint8_t kClntBcastEx = 0x02;
constexpr uint8_t kClntUcastEx = 0x03;
constexpr uint8_t kClntUcastInst = 0x04;
constexpr uint8_t kSvrResp = 0x05;
constexpr uint8_t kClntUcastDac = 0x0F;
constexpr uint16_t kResolverPort = 1434;
constexpr size_t kMaxInstanceName = 32;
constexpr std::string_view kServerNameKey = "ServerName;";

bool is_instance_name(std::span<const uint8_t> d) {
    // A NUL-terminated name of printable characters.
    if (d.size() < 2 || d.size() > kMaxInstanceName + 1 || d.back() != 0) return false;
    for (size_t i = 0; i + 1 < d.size(); ++i) {
        if (d[i] < 0x21 || d[i] > 0x7E) return false;
    }
    return true;
}

bool is_resolver_message(std::span<const uint8_t> d, uint16_t responder_port) {
    if (d.empty()) return false;
    switch (d[0]) {
        case kClntBcastEx:
        case kClntUcastEx:
            // A single byte says little by itself: only to the resolver's port.
            return d.size() == 1 && responder_port == kResolverPort;
        case kClntUcastInst:
            return is_instance_name(d.subspan(1));
        case kClntUcastDac:
            return d.size() >= 3 && d[1] == 0x01 && is_instance_name(d.subspan(2));
        case kSvrResp: {
            if (d.size() < 3 + kServerNameKey.size()) return false;
            if (bytes::le16(d, 1) != d.size() - 3) return false;
            std::string_view text(reinterpret_cast<const char*>(d.data()) + 3, d.size() - 3);
            return text.starts_with(kServerNameKey);
        }
        default:
            return false;
    }
}

struct MssqlState : DetectorState {
    bool request_seen = false;
    bool result_seen = false;
};

class MssqlDetector final : public Detector {
  public:
    std::string_view name() const override { return "mssql"; }
    bool wants(Transport t) const override { return t == Transport::kTcp || t == Transport::kUdp; }

    Verdict inspect(Session& session, const Segment& segment) override {
        if (session.classified()) return Verdict::kNotMine;
        if (session.transport() == Transport::kUdp) {
            if (!is_resolver_message(segment.data, session.responder_port())) {
                return Verdict::kNotMine;
            }
            session.add(ProtocolId::MSSQL_RESOLVER);
            return Verdict::kDone;
        }

        auto header = parse_tds_header(segment.data);
        if (!header) return drop(session, Verdict::kNotMine);
        auto payload = segment.data.subspan(kTdsHeaderSize);
        size_t packet_payload = header->length - kTdsHeaderSize;
        payload = payload.first(std::min(payload.size(), packet_payload));
        bool eom = (header->status & kStatusEndOfMessage) != 0;

        // 1. The client's first packet opens the connection.
        if (segment.from_initiator && segment.offset == 0) {
            if (header->type == tds_type::kPrelogin && eom && valid_prelogin(payload)) {
                return found(session);
            }
            if (header->type == tds_type::kLogin7 && valid_login7(payload, packet_payload, eom)) {
                return found(session);
            }
        }

        // 2. Later in a connection: a SQL batch or a remote procedure call that checks out
        // alone. A later packet of a long message starts inside its data, so it fails. The
        // packet fits its segment, or fills a segment of a full size and goes on in the next.
        const bool fits =
            header->length <= segment.data.size() || segment.data.size() >= kMinContinuedSegment;
        if (segment.from_initiator && fits &&
            (header->type == tds_type::kSqlBatch || header->type == tds_type::kRpc) &&
            valid_request_start(header->type, payload)) {
            return found(session);
        }

        // 3. Or a request and a tabular result, each one whole packet filling its segment.
        auto& st = session.state<MssqlState>(slot);
        bool whole = header->length == segment.data.size();
        if (whole && segment.from_initiator && is_request_type(header->type)) {
            st.request_seen = true;
        } else if (whole && !segment.from_initiator && header->type == tds_type::kTabularResult) {
            st.result_seen = true;
        } else {
            return drop(session, Verdict::kNotMine);
        }
        if (st.request_seen && st.result_seen) return found(session);
        return Verdict::kContinue;
    }

  private:
    Verdict found(Session& session) {
        session.add(ProtocolId::MSSQL);
        return drop(session, Verdict::kDone);
    }
    Verdict drop(Session& session, Verdict verdict) {
        session.drop_state(slot);
        return verdict;
    }
};

}  // namespace

std::unique_ptr<Detector> make_mssql_detector() { return std::make_unique<MssqlDetector>(); }

}  // namespace pw::detect
