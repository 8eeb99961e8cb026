// TLS, SSL 3.0 and SSL 2.0 over TCP, distinguished by the version the two sides actually use.
//
// Record layer and handshake layouts: RFC 5246 (TLS 1.2) sections 6.2 and 7.4, RFC 8446
// (TLS 1.3) sections 4.1.2 to 4.1.4 and 4.2.1, RFC 7301 (ALPN). SSL 2.0 record and hello
// layouts: the SSL 2.0 specification (Netscape, 1995) and RFC 5246 appendix E.2. DTLS
// runs over UDP, so this detector, which reads TCP only, never labels it.

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

#include "detect/detector.h"

namespace pw::detect {
namespace {

constexpr uint8_t kChangeCipherSpec = 20;
constexpr uint8_t kHeartbeat = 24;
constexpr uint8_t kHandshake = 22;
constexpr uint8_t kApplicationData = 23;
constexpr uint8_t kClientHello = 1;
constexpr uint8_t kServerHello = 2;
constexpr uint16_t kSsl2 = 0x0002;
constexpr uint16_t kSsl3 = 0x0300;
constexpr uint16_t kExtensionAlpn = 16;
constexpr uint16_t kExtensionSupportedVersions = 43;
// A ciphertext record may exceed 2^14 bytes by up to 2048 (RFC 5246 section 6.2.3).
constexpr size_t kMaxRecordLength = 16384 + 2048;
// Handshake bytes kept per direction until the hello they start is complete.
constexpr size_t kMaxHandshakeBytes = 16 * 1024;
// Segment starts, per direction, at which a flow first seen mid-stream is checked for a
// record boundary before the direction is given up.
constexpr uint32_t kMaxSyncAttempts = 8;
// Record headers in one direction, each where the one before ended, that identify TLS
// without a hello.
constexpr uint32_t kRecordsWithoutHello = 2;
// Client segments after a complete ClientHello, with no reply, before the client's offer
// decides the label (a capture that contains one direction only).
constexpr uint32_t kClientSegmentsWithoutReply = 4;

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t be24(const uint8_t* p) { return static_cast<uint32_t>(p[0] << 16 | p[1] << 8 | p[2]); }

// GREASE values (RFC 8701) are 0x?A?A with both bytes equal.
bool is_grease(uint16_t value) {
    return (value & 0x0f0f) == 0x0a0a && (value >> 8) == (value & 0xff);
}

// True for versions a record header carries: 0x0300 (SSL 3.0) to 0x0303 (TLS 1.2, and the
// legacy value TLS 1.3 keeps there), and 0x0304, accepted although RFC 8446 never puts it in
// a record header.
bool is_record_version(uint16_t version) { return version >= 0x0300 && version <= 0x0304; }

// True for a version a hello may select or offer: SSL 3.0, TLS 1.0 to 1.3, TLS 1.3
// drafts (0x7fxx) and Facebook's Fizz drafts (0xfbxx).
bool is_hello_version(uint16_t version) {
    return is_record_version(version) || (version >> 8) == 0x7f || (version >> 8) == 0xfb;
}

bool is_record_header(const uint8_t* p) {
    uint8_t type = p[0];
    if (type < kChangeCipherSpec || type > kHeartbeat) return false;
    if (!is_record_version(be16(p + 1))) return false;
    uint16_t length = be16(p + 3);
    // Only application data may be empty (RFC 5246 section 6.2.1).
    if (length == 0) return type == kApplicationData;
    return length <= kMaxRecordLength;
}

struct Hello {
    uint16_t version = 0;  // legacy_version, or the highest supported_versions entry
    bool alpn_h2 = false;  // a server selected "h2"; a client offered it
};

// Reads the extensions block of a hello. `server` selects the ServerHello forms of
// supported_versions (one version) and ALPN (one protocol).
void parse_extensions(const uint8_t* p, size_t size, bool server, Hello& hello) {
    size_t at = 0;
    while (at + 4 <= size) {
        uint16_t type = be16(p + at);
        size_t length = be16(p + at + 2);
        at += 4;
        if (length > size - at) return;
        const uint8_t* data = p + at;
        if (type == kExtensionSupportedVersions) {
            if (server && length == 2) {
                hello.version = be16(data);
            } else if (!server && length >= 1 && data[0] + 1u <= length) {
                for (size_t i = 1; i + 1 < data[0] + 1u; i += 2) {
                    uint16_t offered = be16(data + i);
                    if (!is_grease(offered) && is_hello_version(offered))
                        hello.version = std::max(hello.version, offered);
                }
            }
        } else if (type == kExtensionAlpn && length >= 2 && be16(data) + 2u <= length) {
            // protocol_name_list: a 2-byte length, then 1-byte-length names.
            size_t end = 2 + be16(data);
            for (size_t i = 2; i < end && i + 1 + data[i] <= end; i += 1 + data[i]) {
                if (data[i] == 2 && data[i + 1] == 'h' && data[i + 2] == '2') hello.alpn_h2 = true;
                if (server) break;
            }
        }
        at += length;
    }
}

// Parses a ClientHello or ServerHello body (after the 4-byte handshake header). Returns
// false when the fixed fields do not fit or have impossible values. Bytes after the fields
// are tolerated, since fuzzed and faulty stacks add some.
bool parse_hello(const uint8_t* p, size_t size, bool server, Hello& hello) {
    if (size < 35) return false;
    hello.version = be16(p);
    if (!is_hello_version(hello.version)) return false;
    size_t at = 34;  // version and the 32-byte random
    size_t session_id = p[at++];
    if (session_id > 32 || at + session_id > size) return false;
    at += session_id;
    if (server) {
        if (at + 3 > size) return false;  // cipher_suite, compression_method
        at += 3;
    } else {
        if (at + 2 > size) return false;
        size_t suites = be16(p + at);
        at += 2;
        if (suites % 2 != 0 || at + suites + 1 > size) return false;
        at += suites;
        size_t methods = p[at++];
        if (at + methods > size) return false;
        at += methods;
    }
    if (at + 2 <= size) {
        size_t extensions = be16(p + at);
        at += 2;
        if (extensions <= size - at) parse_extensions(p + at, extensions, server, hello);
    }
    return true;
}

// SSL 2.0 messages with the 2-byte record header (high bit set). Both hellos must fill
// their record exactly.
enum class Ssl2Message : uint8_t { kNone, kClientHello, kServerHello };

Ssl2Message parse_ssl2(std::span<const uint8_t> data, uint16_t& version) {
    if (data.size() < 11 || (data[0] & 0x80) == 0) return Ssl2Message::kNone;
    size_t length = static_cast<size_t>(data[0] & 0x7f) << 8 | data[1];
    const uint8_t* m = data.data() + 2;
    if (m[0] == 1) {
        // CLIENT-HELLO: version, cipher-specs, session-id and challenge lengths.
        version = be16(m + 1);
        size_t specs = be16(m + 3), session = be16(m + 5), challenge = be16(m + 7);
        bool valid = (version == kSsl2 || is_record_version(version)) && specs > 0 &&
                     specs % 3 == 0 && (session == 0 || session == 16) && challenge >= 16 &&
                     challenge <= 32 && 9 + specs + session + challenge == length;
        return valid ? Ssl2Message::kClientHello : Ssl2Message::kNone;
    }
    if (m[0] == 4 && data.size() >= 13) {
        // SERVER-HELLO: session-id-hit, certificate type, version, then three lengths.
        version = be16(m + 3);
        size_t certificate = be16(m + 5), specs = be16(m + 7), connection = be16(m + 9);
        bool valid = m[1] <= 1 && version == kSsl2 && specs % 3 == 0 && connection >= 16 &&
                     connection <= 32 && 11 + certificate + specs + connection == length;
        return valid ? Ssl2Message::kServerHello : Ssl2Message::kNone;
    }
    return Ssl2Message::kNone;
}

// One direction of the stream, read as a sequence of records.
struct Direction {
    bool synced = false;  // the next byte is a record boundary or inside a known record
    bool lost = false;    // no record boundary found: this direction carries no TLS
    uint32_t sync_attempts = 0;
    uint32_t records = 0;              // valid record headers, each where the last one ended
    bool aligned = false;              // a segment ended exactly where a record ended
    uint16_t record_version = 0;       // the version of the last valid record header
    size_t skip = 0;                   // body bytes of the current non-handshake record
    size_t handshake_left = 0;         // body bytes of the current handshake record
    std::vector<uint8_t> header;       // a record header split between segments
    std::vector<uint8_t> short_start;  // a segment start too short to judge, while unsynced
    std::vector<uint8_t> handshake;    // the first handshake message, while incomplete
    bool hello_done = false;           // the first handshake message was parsed or given up
    uint32_t segments = 0;
    uint64_t next_offset = 0;  // stream offset after the last segment read
};

struct TlsState : DetectorState {
    size_t protocols_seen = 0;  // protocols the flow had at the last call
    std::array<Direction, 2> directions;
    bool client_hello = false;
    bool server_hello = false;
    bool ssl2_client_hello = false;
    uint16_t client_version = 0;  // the highest version the client offered
    uint16_t server_version = 0;  // the version the server selected
    bool server_h2 = false;
    uint32_t client_segments_after_hello = 0;
    uint32_t server_segments_before_hello = 0;  // the server's segments before the ClientHello
    int client_direction = -1;                  // index of the direction that sent the ClientHello
};

class TlsDetector final : public Detector {
  public:
    std::string_view name() const override { return "tls"; }
    bool wants(Transport transport) const override { return transport == Transport::kTcp; }
    Verdict inspect(Session& session, const Segment& segment) override;
    void finish(Session& session) override;

  private:
    static void read_records(TlsState& state, Direction& direction, int index,
                             std::span<const uint8_t> data);
    static void read_handshake(TlsState& state, Direction& direction, int index);
    static void find_boundary(TlsState& state, Direction& direction, int index,
                              std::span<const uint8_t> data);
    static bool try_ssl2(TlsState& state, Direction& direction, int index,
                         std::span<const uint8_t> data);
    static void label_by_versions(Session& session, const TlsState& state);
};

// Labels the flow once the negotiated version (or, failing it, the client's offer) is known.
void TlsDetector::label_by_versions(Session& session, const TlsState& state) {
    if (state.ssl2_client_hello) session.add(ProtocolId::SSL2);
    uint16_t version = state.server_hello ? state.server_version : state.client_version;
    if (version == kSsl2) {
        session.add(ProtocolId::SSL2);
    } else if (version == kSsl3) {
        session.add(ProtocolId::SSL3);
    } else {
        session.add(ProtocolId::TLS);
    }
    if (state.server_hello && state.server_h2) session.add(ProtocolId::TLS_ALPN_H2);
}

bool TlsDetector::try_ssl2(TlsState& state, Direction& direction, int index,
                           std::span<const uint8_t> data) {
    uint16_t version = 0;
    switch (parse_ssl2(data, version)) {
        case Ssl2Message::kClientHello:
            state.client_hello = true;
            state.ssl2_client_hello = true;
            state.client_version = version;
            state.client_direction = index;
            state.server_segments_before_hello = state.directions[1 - index].segments;
            break;
        case Ssl2Message::kServerHello:
            state.server_hello = true;
            state.server_version = kSsl2;
            break;
        case Ssl2Message::kNone:
            return false;
    }
    // The hello is not a TLS record. A client that negotiates SSL 3.0 or TLS continues with
    // records, so the direction looks for a record boundary again at its next segment.
    direction.synced = false;
    direction.hello_done = true;
    direction.sync_attempts = 0;
    return true;
}

void TlsDetector::find_boundary(TlsState& state, Direction& direction, int index,
                                std::span<const uint8_t> data) {
    auto start_records = [&direction] {
        direction.synced = true;
        direction.header.clear();
        direction.skip = direction.handshake_left = 0;
        // A handshake in progress restarts with the handshake message at hand.
        direction.handshake.clear();
    };
    if (!direction.short_start.empty()) {
        // A segment too short to hold a record header may start one that this segment
        // completes.
        std::vector<uint8_t> joined = direction.short_start;
        joined.insert(joined.end(), data.begin(), data.begin() + std::min<size_t>(data.size(), 5));
        std::vector<uint8_t> prefix = std::move(direction.short_start);
        direction.short_start.clear();
        if (joined.size() >= 5 && is_record_header(joined.data())) {
            start_records();
            read_records(state, direction, index, prefix);
            return;
        }
        if (joined.size() < 5) {
            direction.short_start = std::move(joined);
            return;
        }
    }
    if (data.size() >= 5 && is_record_header(data.data())) {
        start_records();
    } else if (!direction.hello_done && try_ssl2(state, direction, index, data)) {
        // An SSL 2.0 hello fills the segment.
    } else {
        if (data.size() < 5) direction.short_start.assign(data.begin(), data.end());
        if (++direction.sync_attempts >= kMaxSyncAttempts) direction.lost = true;
    }
}

void TlsDetector::read_handshake(TlsState& state, Direction& direction, int index) {
    const std::vector<uint8_t>& bytes = direction.handshake;
    if (bytes.size() < 4) return;
    uint8_t type = bytes[0];
    size_t length = be24(bytes.data() + 1);
    bool hello = (type == kClientHello || type == kServerHello) && length <= kMaxHandshakeBytes;
    if (!hello) {
        direction.hello_done = true;  // another message first: a flow seen mid-handshake
        return;
    }
    if (bytes.size() < 4 + length) return;  // wait for the rest
    direction.hello_done = true;
    Hello parsed;
    if (!parse_hello(bytes.data() + 4, length, type == kServerHello, parsed)) return;
    if (type == kClientHello && !state.client_hello) {
        state.client_hello = true;
        state.client_version = parsed.version;
        state.client_direction = index;
        state.server_segments_before_hello = state.directions[1 - index].segments;
    } else if (type == kServerHello && !state.server_hello) {
        state.server_hello = true;
        state.server_version = parsed.version;
        state.server_h2 = parsed.alpn_h2;
    }
}

void TlsDetector::read_records(TlsState& state, Direction& direction, int index,
                               std::span<const uint8_t> data) {
    size_t at = 0;
    while (at < data.size() && direction.synced) {
        if (direction.skip > 0) {
            size_t n = std::min(direction.skip, data.size() - at);
            direction.skip -= n;
            at += n;
            continue;
        }
        if (direction.handshake_left > 0) {
            size_t n = std::min(direction.handshake_left, data.size() - at);
            if (!direction.hello_done && direction.handshake.size() + n <= kMaxHandshakeBytes + 4) {
                direction.handshake.insert(direction.handshake.end(), data.begin() + at,
                                           data.begin() + at + n);
                read_handshake(state, direction, index);
            } else {
                direction.hello_done = true;
            }
            direction.handshake_left -= n;
            at += n;
            continue;
        }
        // A record header, possibly split between segments.
        size_t need = 5 - direction.header.size();
        size_t n = std::min(need, data.size() - at);
        direction.header.insert(direction.header.end(), data.begin() + at, data.begin() + at + n);
        at += n;
        if (direction.header.size() < 5) return;
        const uint8_t* h = direction.header.data();
        if (!is_record_header(h)) {
            // Not where a record should start: either this is not TLS, or the stream left
            // TLS. Look for a boundary again at later segment starts.
            direction.synced = false;
            direction.records = 0;
            direction.header.clear();
            return;
        }
        ++direction.records;
        direction.record_version = be16(h + 1);
        size_t length = be16(h + 3);
        if (h[0] == kHandshake && !direction.hello_done) {
            direction.handshake_left = length;
        } else {
            direction.skip = length;
        }
        direction.header.clear();
    }
    if (direction.synced && direction.skip == 0 && direction.handshake_left == 0 &&
        direction.header.empty() && direction.records > 0)
        direction.aligned = true;
}

Verdict TlsDetector::inspect(Session& session, const Segment& segment) {
    auto& state = session.state<TlsState>(slot);
    if (session.classified()) return Verdict::kNotMine;
    // An application protocol recorded since the last call, on a flow that is still
    // unclassified, means the stream moved to an inner layer (after STARTTLS or a proxy's
    // CONNECT): what this state contains is of the outer one.
    std::span<const ProtocolId> protocols = session.protocols();
    bool inner_layer =
        std::any_of(protocols.begin() + std::min(state.protocols_seen, protocols.size()),
                    protocols.end(), [](ProtocolId id) { return !is_content_type(id); });
    if (inner_layer) state = TlsState();
    state.protocols_seen = protocols.size();
    int index = segment.from_initiator ? 0 : 1;
    Direction& direction = state.directions[index];
    ++direction.segments;
    // Reassembly skipped a gap: record boundaries must be found again.
    if (direction.segments > 1 && segment.offset != direction.next_offset) {
        direction.synced = false;
        direction.header.clear();
        direction.handshake.clear();
        direction.hello_done = direction.hello_done || direction.records > 0;
    }
    direction.next_offset = segment.offset + segment.data.size();
    if (state.client_hello && index == state.client_direction && !state.server_hello)
        ++state.client_segments_after_hello;

    if (!direction.synced && !direction.lost) find_boundary(state, direction, index, segment.data);
    if (direction.synced) read_records(state, direction, index, segment.data);

    if (state.server_hello) {
        label_by_versions(session, state);
        return Verdict::kDone;
    }
    if (state.client_hello) {
        // The server answered with something other than a hello (an alert, or plain text
        // from a server that does not speak TLS on this port), or never answers: the
        // client's offer is all there is.
        const Direction& server = state.directions[1 - state.client_direction];
        bool hello_pending =
            !server.short_start.empty() ||
            (server.synced && !server.hello_done &&
             (!server.handshake.empty() || !server.header.empty() || server.handshake_left > 0));
        bool answered = server.segments > state.server_segments_before_hello && !hello_pending;
        if (answered || state.client_segments_after_hello >= kClientSegmentsWithoutReply) {
            label_by_versions(session, state);
            return Verdict::kDone;
        }
        return Verdict::kContinue;
    }
    const Direction& other = state.directions[1 - index];
    // Without a hello, the record layer is the evidence: headers that chain in one
    // direction, a record that ends exactly where a segment ends, or a record header at a
    // segment start in each direction.
    bool chained = direction.records >= kRecordsWithoutHello ||
                   other.records >= kRecordsWithoutHello || direction.aligned || other.aligned ||
                   (direction.records >= 1 && other.records >= 1);
    if (chained) {
        uint16_t version = std::max(direction.record_version, other.record_version);
        session.add(version == kSsl3 ? ProtocolId::SSL3 : ProtocolId::TLS);
        return Verdict::kDone;
    }
    if (state.directions[0].lost && state.directions[1].lost) return Verdict::kNotMine;
    // The first bytes were not TLS, nor any later segment start, so give up without waiting
    // for the other direction. A flow seen from its middle is the exception: a capture
    // that starts during a long download contains the server's records, whose boundaries
    // seldom fall at a segment start, and the client's next record may come much later.
    // Waiting costs little, because a lost direction is no longer parsed.
    if (direction.lost && other.segments == 0 &&
        (!session.mid_stream() || direction.segments >= kMaxSegmentsOneSided)) {
        return Verdict::kNotMine;
    }
    return Verdict::kContinue;
}

void TlsDetector::finish(Session& session) {
    auto& state = session.state<TlsState>(slot);
    if (session.classified()) return;
    if (state.client_hello || state.server_hello) label_by_versions(session, state);
}

}  // namespace

std::unique_ptr<Detector> make_tls_detector() { return std::make_unique<TlsDetector>(); }

}  // namespace pw::detect
