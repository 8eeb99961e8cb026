#include "flow/connection_start.h"

#include <algorithm>

namespace pw::flow {

bool syn_starts_new_connection(const TcpState& tcp, Side side, uint32_t seq, int64_t idle_us) {
    if (tcp.isn_known[side] && seq == tcp.isn[side]) return false;  // a retransmission
    if (tcp.closed()) return true;
    const Side other = side == kInitiator ? kResponder : kInitiator;
    if (!tcp.sequence_known[other]) {
        // No reply to the attempt has come yet. SYNs of other ISNs that come while it is
        // still retransmitted are a flood or another client sharing the port, and the
        // SYN-ACK will show which SYN it acknowledges (see Pipeline::update_tcp()).
        return idle_us >= kUnansweredSynIdleUs;
    }
    if (!tcp.sequence_known[side]) {
        // While the other end has sent nothing but its SYN, this SYN is the second half of
        // a simultaneous open (RFC 9293, section 3.5), or the SYN that the other end's
        // SYN-ACK acknowledged, seen late.
        return !(tcp.isn_known[other] && tcp.next_sequence[other] == tcp.isn[other] + 1);
    }
    if (tcp.sequence_known[other]) {
        // Inside the receiver's window the SYN is an error within the connection, which the
        // receiver responds to with a reset or a challenge ACK (RFC 9293, section 3.10.7.4, and
        // RFC 5961, section 4).
        // NOTE: the window is the field's value, unscaled, because the window scale option
        // is not decoded. A SYN beyond it but inside a scaled window, or a forged SYN
        // outside the window, starts a new connection too.
        const uint32_t window = std::max<uint32_t>(tcp.window[other], 1);
        if (seq - tcp.next_sequence[side] < window) return false;
    }
    return true;
}

}  // namespace pw::flow
