// GameOver Zeus, the peer-to-peer variant of the Zeus banking trojan. Sources for the layout:
// Dennis Schwarz's ZeusGameover.py (Arbor Networks ASERT, February 2013) builds and parses
// the messages, and CERT Polska's report "ZeuS-P2P monitoring and analysis" (v2013-06)
// lists the message types. A message is a 44-byte header (a random byte that is never zero,
// a TTL, the length of the trailing padding, the type, a 20-byte session id and the sender's
// 20-byte bot id), the payload, then that many random bytes.
//
// Over UDP, requests and replies come in pairs: version (0x00, 0x01), peer list (0x02, 0x03)
// and data (0x04, 0x05). Over TCP, a resource update (0x64) is answered by 0x66 and a
// resource request (0x68) by 0x6A, and a proxy message (0xCC) carries an HTTP request. A flow
// is taken only on a request and its reply with the same session id, or on a proxy message
// whose payload starts with an HTTP method, so one random header match is never enough.
//
// NOTE: that a reply repeats its request's session id is inferred from the field's name and
// is not stated by either source. This reads messages whose whole length is XOR-chained, but
// the 2013 script encrypts them with RC4 keyed with the receiver's bot id, which cannot be
// read passively: such traffic is not detected.

#include "detect/zeus.h"

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace pw::detect {
namespace {

// Version reply: binary version (4), configuration version (4), TCP port (2).
constexpr size_t kVersionReplyPayload = 10;
// Peer list reply entries: a byte, the bot id (20), IPv4 address and port (6), IPv6 address
// and port (18).
constexpr size_t kPeerEntry = 45;
constexpr uint8_t kResourceUpdate = 0x64;
constexpr uint8_t kResourceRequest = 0x68;
constexpr uint8_t kProxy = 0xCC;
constexpr size_t kMaxPending = 4;
constexpr uint32_t kMaxDatagrams = 8;

bool udp_request(uint8_t type) { return type == 0x00 || type == 0x02 || type == 0x04; }
bool udp_reply(uint8_t type) { return type == 0x01 || type == 0x03 || type == 0x05; }

bool valid_udp_reply_payload(const ZeusHeader& header) {
    if (header.type == 0x01) return header.payload_length >= kVersionReplyPayload;
    if (header.type == 0x03) {
        return header.payload_length > 0 && header.payload_length % kPeerEntry == 0;
    }
    return true;
}

// Decodes `count` plain bytes of `message` from `offset` on.
std::string decode_bytes(std::span<const uint8_t> message, size_t offset, size_t count) {
    std::string plain;
    plain.reserve(count);
    for (size_t i = offset; i < message.size() && i < offset + count; ++i) {
        plain.push_back(static_cast<char>(i == 0 ? message[0] : message[i] ^ message[i - 1]));
    }
    return plain;
}

bool starts_with_http_method(std::string_view text) {
    for (std::string_view method : {"GET ", "POST ", "HEAD ", "PUT "}) {
        if (text.starts_with(method)) return true;
    }
    return false;
}

struct Pending {
    ZeusHeader header;
    bool from_initiator = false;
};

class ZeusState final : public DetectorState {
public:
    std::vector<Pending> pending;
    uint32_t datagrams = 0;
    std::optional<ZeusHeader> tcp_request;
};

bool answers(const Pending& request, const ZeusHeader& reply, bool reply_from_initiator,
             uint8_t type_step) {
    return request.from_initiator != reply_from_initiator &&
           reply.type == request.header.type + type_step &&
           reply.session_id == request.header.session_id &&
           reply.source_id != request.header.source_id;
}

class ZeusDetector final : public Detector {
public:
    std::string_view name() const override { return "zeus"; }
    bool wants(Transport transport) const override {
        return transport == Transport::kTcp || transport == Transport::kUdp;
    }

    Verdict inspect(Session& session, const Segment& segment) override {
        Verdict verdict = session.transport() == Transport::kTcp ? inspect_tcp(session, segment)
                                                                 : inspect_udp(session, segment);
        if (verdict == Verdict::kDone) session.add(ProtocolId::ZEUS_P2P);
        return verdict;
    }

private:
    Verdict inspect_udp(Session& session, const Segment& segment) {
        size_t length = segment.data.size();
        if (segment.packet != nullptr && segment.packet->payload_length > length) {
            length = segment.packet->payload_length;
        }
        std::optional<ZeusHeader> header = decode_zeus_header(segment.data, length);
        bool request = header && udp_request(header->type);
        bool reply = header && udp_reply(header->type) && valid_udp_reply_payload(*header);
        auto& state = session.state<ZeusState>(slot);
        bool first = state.datagrams++ == 0;
        if (reply) {
            for (const Pending& pending : state.pending) {
                if (answers(pending, *header, segment.from_initiator, 1)) return Verdict::kDone;
            }
        } else if (request) {
            if (state.pending.size() == kMaxPending) state.pending.erase(state.pending.begin());
            state.pending.push_back({*header, segment.from_initiator});
        } else if (first) {
            return Verdict::kNotMine;
        }
        return state.datagrams >= kMaxDatagrams ? Verdict::kNotMine : Verdict::kContinue;
    }

    Verdict inspect_tcp(Session& session, const Segment& segment) {
        // Each direction's first segment starts a message, and its XOR chain.
        if (segment.offset != 0) return Verdict::kNotMine;
        std::optional<ZeusHeader> header = decode_zeus_header(segment.data, segment.data.size());
        if (!header) return Verdict::kNotMine;
        auto& state = session.state<ZeusState>(slot);
        if (segment.from_initiator) {
            if (header->type == kProxy) {
                std::string payload = decode_bytes(segment.data, kZeusHeaderLength, 8);
                return header->payload_length > 0 && starts_with_http_method(payload)
                           ? Verdict::kDone
                           : Verdict::kNotMine;
            }
            if (header->type != kResourceUpdate && header->type != kResourceRequest) {
                return Verdict::kNotMine;
            }
            state.tcp_request = header;
            return Verdict::kContinue;
        }
        if (!state.tcp_request) return Verdict::kNotMine;
        Pending request{*state.tcp_request, true};
        return answers(request, *header, false, 2) ? Verdict::kDone : Verdict::kNotMine;
    }
};

}  // namespace

std::optional<ZeusHeader> decode_zeus_header(std::span<const uint8_t> message, size_t length) {
    if (message.size() < kZeusHeaderLength || length < message.size()) return std::nullopt;
    std::string plain = decode_bytes(message, 0, kZeusHeaderLength);
    ZeusHeader header;
    header.random = static_cast<uint8_t>(plain[0]);
    header.ttl = static_cast<uint8_t>(plain[1]);
    header.padding = static_cast<uint8_t>(plain[2]);
    header.type = static_cast<uint8_t>(plain[3]);
    std::copy_n(plain.begin() + 4, 20, header.session_id.begin());
    std::copy_n(plain.begin() + 24, 20, header.source_id.begin());
    if (header.random == 0 || length < kZeusHeaderLength + header.padding) return std::nullopt;
    header.payload_length = length - kZeusHeaderLength - header.padding;
    return header;
}

std::unique_ptr<Detector> make_zeus_detector() { return std::make_unique<ZeusDetector>(); }

}  // namespace pw::detect
