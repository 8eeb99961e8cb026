// ISAKMP, IKEv1 (RFC 2408, RFC 2409) and IKEv2 (RFC 7296), on UDP 500 and, behind the
// four-byte non-ESP marker of RFC 3948, on UDP 4500. The 28-byte header must carry a known
// version, an exchange type and flags of that version, and a length equal to the datagram's;
// the first payload header must fit in that length.

#include "detect/isakmp.h"

namespace pw::detect {
namespace {

constexpr uint16_t kIkePort = 500;
constexpr uint16_t kNatTraversalPort = 4500;
constexpr size_t kHeaderLength = 28;
// Datagrams of other kinds (NAT keepalives, ESP on port 4500) a flow may carry before its
// first IKE message.
constexpr uint32_t kMaxOtherDatagrams = 4;

uint32_t read_be32(std::span<const uint8_t> data, size_t at) {
    return uint32_t{data[at]} << 24 | uint32_t{data[at + 1]} << 16 | uint32_t{data[at + 2]} << 8 |
           data[at + 3];
}

bool valid_v1_exchange(uint8_t type) {
    // Base, Identity Protection, Authentication Only, Aggressive, Informational (RFC 2408),
    // Quick Mode and New Group Mode (RFC 2409).
    return (type >= 1 && type <= 5) || type == 32 || type == 33;
}

bool valid_v2_exchange(uint8_t type) {
    // IKE_SA_INIT to INFORMATIONAL (RFC 7296), IKE_SESSION_RESUME (RFC 5723),
    // IKE_INTERMEDIATE (RFC 9242), IKE_FOLLOWUP_KE (RFC 9370).
    return (type >= 34 && type <= 38) || type == 43 || type == 44;
}

bool valid_next_payload(bool v2, uint8_t type) {
    if (type == 0 || type >= 128) return true;  // none, or private use
    // IKEv1 types run to 21 (NAT-D and NAT-OA of RFC 3947), IKEv2 types from 33 (SA) to 54.
    return v2 ? (type >= 33 && type <= 54) : type <= 21;
}

class IsakmpState final : public DetectorState {
public:
    uint32_t other_datagrams = 0;
};

class IsakmpDetector final : public Detector {
public:
    std::string_view name() const override { return "isakmp"; }
    bool wants(Transport transport) const override { return transport == Transport::kUdp; }

    Verdict inspect(Session& session, const Segment& segment) override {
        uint16_t a = session.initiator_port();
        uint16_t b = session.responder_port();
        bool ike_port = a == kIkePort || b == kIkePort;
        bool nat_port = a == kNatTraversalPort || b == kNatTraversalPort;
        if (!ike_port && !nat_port) return Verdict::kNotMine;

        std::span<const uint8_t> data = segment.data;
        size_t wire_length = data.size();
        if (segment.packet != nullptr && segment.packet->payload_length > wire_length) {
            wire_length = segment.packet->payload_length;
        }
        if (is_isakmp_message(data, wire_length)) {
            session.add(ProtocolId::ISAKMP);
            return Verdict::kDone;
        }
        bool marked =
            data.size() >= 4 && data[0] == 0 && data[1] == 0 && data[2] == 0 && data[3] == 0;
        if (nat_port && marked && is_isakmp_message(data.subspan(4), wire_length - 4)) {
            session.add(ProtocolId::ISAKMP);
            return Verdict::kDone;
        }
        auto& state = session.state<IsakmpState>(slot);
        return ++state.other_datagrams >= kMaxOtherDatagrams ? Verdict::kNotMine
                                                             : Verdict::kContinue;
    }
};

}  // namespace

bool is_isakmp_message(std::span<const uint8_t> message, size_t wire_length) {
    if (message.size() < kHeaderLength || wire_length < message.size()) return false;
    uint8_t next_payload = message[16];
    uint8_t version = message[17];
    uint8_t exchange = message[18];
    uint8_t flags = message[19];
    bool v2 = version == 0x20;
    if (version != 0x10 && !v2) return false;
    if (v2 ? !valid_v2_exchange(exchange) : !valid_v1_exchange(exchange)) return false;
    // IKEv1 defines the Encryption, Commit and Authentication Only bits, and IKEv2 the
    // Initiator, Version and Response bits.
    if ((flags & (v2 ? 0xC7 : 0xF8)) != 0) return false;
    if (read_be32(message, 24) != wire_length) return false;
    if (!valid_next_payload(v2, next_payload)) return false;

    bool encrypted_v1 = !v2 && (flags & 0x01) != 0;
    if (encrypted_v1) {
        // The payloads are ciphertext padded to the cipher's block, under an SA that exists,
        // so both cookies are set.
        bool cookies = read_be32(message, 0) != 0 || read_be32(message, 4) != 0;
        cookies = cookies && (read_be32(message, 8) != 0 || read_be32(message, 12) != 0);
        return cookies && wire_length > kHeaderLength && (wire_length - kHeaderLength) % 8 == 0;
    }
    if (next_payload == 0) return wire_length == kHeaderLength;
    if (wire_length < kHeaderLength + 4) return false;
    if (message.size() < kHeaderLength + 4) return true;  // the capture ends in the header
    size_t first_length = size_t{message[kHeaderLength + 2]} << 8 | message[kHeaderLength + 3];
    return first_length >= 4 && first_length <= wire_length - kHeaderLength &&
           valid_next_payload(v2, message[kHeaderLength]);
}

std::unique_ptr<Detector> make_isakmp_detector() { return std::make_unique<IsakmpDetector>(); }

}  // namespace pw::detect
