// ICMP (RFC 792), ICMPv6 (RFC 4443) and IGMP (RFC 1112, 2236, 3376): the IP protocol
// number names the protocol, and echo messages that carry data add ICMP_DATA or
// ICMPV6_DATA. Error messages, whose body quotes the packet that caused them, and
// neighbour discovery or multicast listener messages, whose body is options and
// addresses, do not count as data. A flow covers every message between two addresses, so
// an empty ping, an error or a neighbour advertisement may come before echo data: the
// detector looks for echo data in the first kMaxMessages messages, which bounds the
// inspection of long ICMP flows.

#include <cstdint>

#include "detect/detector.h"

namespace pw::detect {
namespace {

constexpr uint8_t kEchoReply = 0;
constexpr uint8_t kEchoRequest = 8;
constexpr uint8_t kEchoRequestV6 = 128;
constexpr uint8_t kEchoReplyV6 = 129;
// The messages of a flow that are looked at for echo data.
constexpr uint32_t kMaxMessages = 64;

class IcmpState final : public DetectorState {
  public:
    uint32_t messages = 0;
};

class IcmpDetector final : public Detector {
  public:
    std::string_view name() const override { return "icmp"; }
    bool wants(Transport transport) const override {
        return transport == Transport::kIcmp || transport == Transport::kIcmpv6 ||
               transport == Transport::kIgmp;
    }
    bool keeps_inspecting() const override { return true; }
    Verdict inspect(Session& session, const Segment& segment) override {
        const decode::Packet* packet = segment.packet;
        // The decoder's payload for these transports is the message body after the
        // 8-byte header (type, code, checksum and the type's 4 header bytes).
        bool has_data = !segment.data.empty() && packet != nullptr;
        switch (session.transport()) {
            case Transport::kIcmp:
                session.add(ProtocolId::ICMP);
                if (has_data &&
                    (packet->icmp_type == kEchoRequest || packet->icmp_type == kEchoReply)) {
                    session.add(ProtocolId::ICMP_DATA);
                    return Verdict::kDone;
                }
                return another_message(session);
            case Transport::kIcmpv6:
                session.add(ProtocolId::ICMPV6);
                if (has_data &&
                    (packet->icmp_type == kEchoRequestV6 || packet->icmp_type == kEchoReplyV6)) {
                    session.add(ProtocolId::ICMPV6_DATA);
                    return Verdict::kDone;
                }
                return another_message(session);
            case Transport::kIgmp:
                session.add(ProtocolId::IGMP);
                return Verdict::kDone;
            default:
                return Verdict::kNotMine;
        }
    }

  private:
    // Counts a message without echo data, and ends the search after kMaxMessages.
    Verdict another_message(Session& session) {
        auto& state = session.state<IcmpState>(slot);
        return ++state.messages >= kMaxMessages ? Verdict::kDone : Verdict::kContinue;
    }
};

}  // namespace

std::unique_ptr<Detector> make_icmp_detector() { return std::make_unique<IcmpDetector>(); }

}  // namespace pw::detect
