#include "flow/connection_start.h"

#include <algorithm>

namespace pw::flow {

namespace {

// ICMP message types: RFC 792, RFC 950 (address mask), RFC 1256 (router discovery) and
// RFC 8335 (extended echo).
namespace icmp4 {
constexpr uint8_t kEchoReply = 0;
constexpr uint8_t kUnreachable = 3;
constexpr uint8_t kSourceQuench = 4;
constexpr uint8_t kRedirect = 5;
constexpr uint8_t kEchoRequest = 8;
constexpr uint8_t kRouterAdvertisement = 9;
constexpr uint8_t kRouterSolicitation = 10;
constexpr uint8_t kTimeExceeded = 11;
constexpr uint8_t kParameterProblem = 12;
constexpr uint8_t kTimestampRequest = 13;
constexpr uint8_t kTimestampReply = 14;
constexpr uint8_t kInformationRequest = 15;
constexpr uint8_t kInformationReply = 16;
constexpr uint8_t kAddressMaskRequest = 17;
constexpr uint8_t kAddressMaskReply = 18;
constexpr uint8_t kExtendedEchoRequest = 42;
constexpr uint8_t kExtendedEchoReply = 43;
}  // namespace icmp4

// ICMPv6 message types: RFC 4443, RFC 2710 (multicast listener discovery), RFC 4861
// (neighbour discovery), RFC 4620 (node information), RFC 3122 (inverse neighbour
// discovery), RFC 6275 (mobility), RFC 3810 (MLDv2) and RFC 8335 (extended echo).
namespace icmp6 {
// Types 0 to 127 are error messages (RFC 4443, section 2.1).
constexpr uint8_t kLastError = 127;
constexpr uint8_t kEchoRequest = 128;
constexpr uint8_t kEchoReply = 129;
constexpr uint8_t kListenerQuery = 130;
constexpr uint8_t kListenerReport = 131;
constexpr uint8_t kRouterSolicitation = 133;
constexpr uint8_t kRouterAdvertisement = 134;
constexpr uint8_t kNeighborSolicitation = 135;
constexpr uint8_t kNeighborAdvertisement = 136;
constexpr uint8_t kRedirect = 137;
constexpr uint8_t kNodeInformationQuery = 139;
constexpr uint8_t kNodeInformationResponse = 140;
constexpr uint8_t kInverseSolicitation = 141;
constexpr uint8_t kInverseAdvertisement = 142;
constexpr uint8_t kListenerReportV2 = 143;
constexpr uint8_t kHomeAgentDiscoveryRequest = 144;
constexpr uint8_t kHomeAgentDiscoveryReply = 145;
constexpr uint8_t kMobilePrefixSolicitation = 146;
constexpr uint8_t kMobilePrefixAdvertisement = 147;
constexpr uint8_t kExtendedEchoRequest = 160;
constexpr uint8_t kExtendedEchoReply = 161;
}  // namespace icmp6

IcmpRole icmp4_role(uint8_t type) {
    using namespace icmp4;
    switch (type) {
        case kEchoRequest:
        case kRouterSolicitation:
        case kTimestampRequest:
        case kInformationRequest:
        case kAddressMaskRequest:
        case kExtendedEchoRequest:
            return IcmpRole::kRequest;
        case kEchoReply:
        case kRouterAdvertisement:
        case kTimestampReply:
        case kInformationReply:
        case kAddressMaskReply:
        case kExtendedEchoReply:
        case kUnreachable:
        case kSourceQuench:
        case kRedirect:
        case kTimeExceeded:
        case kParameterProblem:
            return IcmpRole::kResponse;
        default:
            return IcmpRole::kOther;
    }
}

IcmpRole icmp6_role(uint8_t type) {
    using namespace icmp6;
    if (type <= kLastError) return IcmpRole::kResponse;
    switch (type) {
        case kEchoRequest:
        case kListenerQuery:
        case kRouterSolicitation:
        case kNeighborSolicitation:
        case kNodeInformationQuery:
        case kInverseSolicitation:
        case kHomeAgentDiscoveryRequest:
        case kMobilePrefixSolicitation:
        case kExtendedEchoRequest:
            return IcmpRole::kRequest;
        case kEchoReply:
        case kListenerReport:
        case kRouterAdvertisement:
        case kNeighborAdvertisement:
        case kRedirect:
        case kNodeInformationResponse:
        case kInverseAdvertisement:
        case kListenerReportV2:
        case kHomeAgentDiscoveryReply:
        case kMobilePrefixAdvertisement:
        case kExtendedEchoReply:
            return IcmpRole::kResponse;
        default:
            return IcmpRole::kOther;
    }
}

}  // namespace

bool syn_starts_new_connection(const TcpState& tcp, Side side, uint32_t seq, int64_t idle_us) {
    if (tcp.isn_known[side] && seq == tcp.isn[side]) return false;  // a retransmission
    if (tcp.closed()) return true;

    // The responder of an open connection does not start another on its ports. A bare SYN
    // from its side is forged or stray, or the second half of a simultaneous open (RFC 9293,
    // section 3.5). Honoring a forged one would let a server hide the rest of what it serves
    // in a connection reported the wrong way round. Only where no handshake was seen, so
    // that which end initiated is a guess, may it be the real client's SYN.
    if (side == kResponder && (tcp.isn_known[kInitiator] || tcp.isn_known[kResponder])) {
        return false;
    }

    const Side other = side == kInitiator ? kResponder : kInitiator;
    if (!tcp.sequence_known[other]) {
        // No reply to the attempt has come yet. SYNs of other ISNs that come while it is
        // still retransmitted are a flood or another client sharing the port, and the
        // SYN-ACK will show which SYN it acknowledges (see Pipeline::update_tcp()).
        return idle_us >= kUnansweredSynIdleUs;
    }
    if (!tcp.sequence_known[side]) {
        // While the other end has sent nothing but its SYN-ACK, this SYN is the one that
        // the SYN-ACK acknowledged, seen late.
        return !(tcp.isn_known[other] && tcp.next_sequence[other] == tcp.isn[other] + 1);
    }

    // On an established connection the SYN is an error within the connection, and the
    // receiver replies to it with a challenge ACK (RFC 9293, section 3.10.7.4, and RFC 5961,
    // section 4). A client that really connects again then resets the old connection, or
    // gets a SYN-ACK from a responder that forgot it (syn_ack_starts_new_connection()).
    if (idle_us < kQuietConnectionSynIdleUs) return false;
    // NOTE: after a minute of quiet, a SYN outside the receiver's window starts a new
    // connection without waiting for the SYN-ACK. A capture that missed the SYN-ACK then
    // still shows the new connection, but a forged SYN splits the connection too.
    const uint32_t window = std::max<uint32_t>(tcp.receive_window(other), 1);
    return seq - tcp.next_sequence[side] >= window;
}

bool syn_ack_starts_new_connection(const TcpState& tcp, Side side, uint32_t seq, uint32_t ack) {
    if (side != kResponder || !tcp.isn_known[kInitiator] || !tcp.isn_known[kResponder]) {
        return false;
    }
    if (seq == tcp.isn[kResponder] || tcp.other_syn == tcp.isn[kInitiator] ||
        ack - 1 != tcp.other_syn) {
        return false;
    }
    // Established: data went past the handshake. While only the handshake was seen, a
    // second SYN-ACK is handled within it (see Pipeline::update_tcp()).
    return tcp.next_sequence[kInitiator] != tcp.isn[kInitiator] + 1 ||
           tcp.next_sequence[kResponder] != tcp.isn[kResponder] + 1;
}

IcmpRole icmp_role(uint8_t ip_protocol, uint8_t type) {
    if (ip_protocol == decode::ip_protocol::kIcmp) return icmp4_role(type);
    if (ip_protocol == decode::ip_protocol::kIcmpv6) return icmp6_role(type);
    return IcmpRole::kOther;
}

bool is_group_address(const decode::IpAddress& address) {
    const auto& bytes = address.bytes;
    if (address.is_v6) return bytes[0] == 0xff;        // ff00::/8
    const bool multicast = (bytes[0] & 0xf0) == 0xe0;  // 224.0.0.0/4
    const bool broadcast =
        bytes[0] == 0xff && bytes[1] == 0xff && bytes[2] == 0xff && bytes[3] == 0xff;
    return multicast || broadcast;
}

}  // namespace pw::flow
