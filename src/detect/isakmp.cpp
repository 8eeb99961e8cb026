// ISAKMP, IKEv1 (RFC 2408, RFC 2409) and IKEv2 (RFC 7296), on UDP 500 and, behind the
// four-byte non-ESP marker of RFC 3948, on UDP 4500. The 28-byte header must carry a known
// version, an exchange type and flags of that version, and a length equal to the datagram's;
// the first payload header must fit in that length. On other ports (strongSwan 5.9, set to
// another port, sends its messages there behind the marker) the initiator's SPI must be set
// and the payload headers must chain to the message's end.

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

// IKEv2's Encrypted and Encrypted Fragment payloads (RFC 7296, RFC 7383) come last: their
// next-payload field names the first payload inside.
constexpr uint8_t kEncryptedPayload = 46;
constexpr uint8_t kEncryptedFragmentPayload = 53;

// True when the payload headers of a whole message, from the header's next-payload field,
// end exactly at `wire_length`, the last with no next payload unless it is encrypted.
bool payloads_chain_to_end(std::span<const uint8_t> message, size_t wire_length) {
    if (message.size() < wire_length) return true;  // cut by the capture: not checked
    uint8_t next = message[16];
    size_t at = kHeaderLength;
    while (next != 0 && at < wire_length) {
        if (at + 4 > wire_length) return false;
        const size_t length = size_t{message[at + 2]} << 8 | message[at + 3];
        if (length < 4 || at + length > wire_length) return false;
        const bool encrypted = next == kEncryptedPayload || next == kEncryptedFragmentPayload;
        next = message[at];
        at += length;
        if (encrypted) return at == wire_length;
    }
    return next == 0 && at == wire_length;
}

// A message on a port other than 500 and 4500.
bool is_isakmp_elsewhere(std::span<const uint8_t> message, size_t wire_length) {
    if (!is_isakmp_message(message, wire_length)) return false;
    if (read_be32(message, 0) == 0 && read_be32(message, 4) == 0) return false;
    const bool encrypted_v1 = message[17] == 0x10 && (message[19] & 0x01) != 0;
    return encrypted_v1 || payloads_chain_to_end(message, wire_length);
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

        std::span<const uint8_t> data = segment.data;
        size_t wire_length = data.size();
        if (segment.packet != nullptr && segment.packet->payload_length > wire_length) {
            wire_length = segment.packet->payload_length;
        }
        bool marked =
            data.size() >= 4 && data[0] == 0 && data[1] == 0 && data[2] == 0 && data[3] == 0;
        if (!ike_port && !nat_port) {
            const bool ike = marked ? is_isakmp_elsewhere(data.subspan(4), wire_length - 4)
                                    : is_isakmp_elsewhere(data, wire_length);
            if (!ike) return Verdict::kNotMine;
            session.add(ProtocolId::ISAKMP);
            return Verdict::kDone;
        }
        if (is_isakmp_message(data, wire_length)) {
            session.add(ProtocolId::ISAKMP);
            return Verdict::kDone;
        }
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
