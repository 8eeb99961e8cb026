// Cisco's Hot Standby Router Protocol. Routers multicast it from UDP port 1985 (2029 for
// HSRPv2 over IPv6) to 224.0.0.2, 224.0.0.102 or ff02::66, so a flow has one direction and
// often a single datagram: each datagram must pass on its own. The port only gates the check.

#include "detect/hsrp.h"

namespace pw::detect {
namespace {

constexpr uint16_t kPort = 1985;
constexpr uint16_t kIpv6Port = 2029;
constexpr size_t kV1Length = 20;
// Messages without a group (advertisements) that may precede a flow's first group message.
constexpr uint32_t kMaxInterfaceStateOnly = 8;

// HSRPv1 (RFC 2281): version 0, op code Hello, Coup or Resign, a state of the RFC's list,
// zero reserved octet, and authentication data that is text padded with NULs.
bool is_v1(std::span<const uint8_t> d) {
    if (d.size() != kV1Length || d[0] != 0 || d[1] > 2) return false;
    uint8_t state = d[2];
    bool known_state =
        state == 0 || state == 1 || state == 2 || state == 4 || state == 8 || state == 16;
    if (!known_state || d[7] != 0) return false;
    uint8_t hello = d[3];
    uint8_t hold = d[4];
    if (hello != 0 && hold < hello) return false;
    bool padding = false;
    for (size_t i = 8; i < 16; ++i) {
        if (d[i] == 0) {
            padding = true;
        } else if (padding || d[i] < 0x20 || d[i] > 0x7E) {
            return false;
        }
    }
    return true;
}

// The Group State TLV's value (40 octets): version 2, op code, state (1 Initial to 6 Active),
// IP version, group number below 4096, then identifier, priority, timers and virtual address.
bool valid_group_state(std::span<const uint8_t> v) {
    if (v[0] != 2 || v[1] > 2 || v[2] > 6) return false;
    if (v[3] != 4 && v[3] != 6) return false;
    return (uint16_t{v[4]} << 8 | v[5]) < 4096;
}

// HSRPv1 Advertise: version 0, op code 3, then TLVs with 16-bit types and lengths (the
// length counts the TLV's own header) that fill the datagram.
bool is_v1_advertise(std::span<const uint8_t> d) {
    if (d.size() < 6 || d[0] != 0 || d[1] != 3) return false;
    size_t pos = 2;
    while (pos < d.size()) {
        if (d.size() - pos < 4) return false;
        uint16_t type = static_cast<uint16_t>(d[pos] << 8 | d[pos + 1]);
        size_t length = size_t{d[pos + 2]} << 8 | d[pos + 3];
        if (type == 0 || length < 4 || length > d.size() - pos) return false;
        pos += length;
    }
    return true;
}

// HSRPv2: a sequence of TLVs that fills the datagram, each of a known type and its length.
HsrpMessage classify_v2(std::span<const uint8_t> d) {
    size_t pos = 0;
    bool group = false;
    bool any = false;
    while (pos < d.size()) {
        if (d.size() - pos < 2) return HsrpMessage::kNone;
        uint8_t type = d[pos];
        size_t length = d[pos + 1];
        if (d.size() - pos - 2 < length) return HsrpMessage::kNone;
        std::span<const uint8_t> value = d.subspan(pos + 2, length);
        switch (type) {
            case 1:  // Group State
                if (length != 40 || !valid_group_state(value)) return HsrpMessage::kNone;
                group = true;
                break;
            case 2:  // Interface State: active and passive group counts
                if (length != 4) return HsrpMessage::kNone;
                break;
            case 3:  // Text Authentication
                if (length != 8) return HsrpMessage::kNone;
                break;
            case 4:  // MD5 Authentication
                if (length != 28) return HsrpMessage::kNone;
                break;
            default:
                return HsrpMessage::kNone;
        }
        any = true;
        pos += 2 + length;
    }
    if (group) return HsrpMessage::kGroup;
    return any ? HsrpMessage::kInterfaceState : HsrpMessage::kNone;
}

class HsrpState final : public DetectorState {
public:
    uint32_t interface_state_only = 0;
};

class HsrpDetector final : public Detector {
public:
    std::string_view name() const override { return "hsrp"; }
    bool wants(Transport transport) const override { return transport == Transport::kUdp; }

    Verdict inspect(Session& session, const Segment& segment) override {
        uint16_t a = session.initiator_port();
        uint16_t b = session.responder_port();
        if (a != kPort && b != kPort && a != kIpv6Port && b != kIpv6Port) return Verdict::kNotMine;
        switch (classify_hsrp(segment.data)) {
            case HsrpMessage::kGroup:
                session.add(ProtocolId::HSRP);
                return Verdict::kDone;
            case HsrpMessage::kInterfaceState: {
                auto& state = session.state<HsrpState>(slot);
                return ++state.interface_state_only >= kMaxInterfaceStateOnly ? Verdict::kNotMine
                                                                              : Verdict::kContinue;
            }
            case HsrpMessage::kNone:
                break;
        }
        return Verdict::kNotMine;
    }
};

}  // namespace

HsrpMessage classify_hsrp(std::span<const uint8_t> datagram) {
    if (is_v1(datagram)) return HsrpMessage::kGroup;
    if (is_v1_advertise(datagram)) return HsrpMessage::kInterfaceState;
    return classify_v2(datagram);
}

std::unique_ptr<Detector> make_hsrp_detector() { return std::make_unique<HsrpDetector>(); }

}  // namespace pw::detect
