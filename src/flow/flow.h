#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "decode/packet.h"
#include "detect/protocols.h"
#include "detect/session.h"
#include "events/event.h"
#include "flow/flow_key.h"

namespace pw::pipeline {
struct Inspection;
}

namespace pw::flow {

// Side of a flow: 0 is the initiator (the event's source), 1 the responder (its target).
enum Side : uint8_t { kInitiator = 0, kResponder = 1 };

// What the flow table knows of a TCP connection's handshake and teardown.
struct TcpState {
    bool fin_seen[2] = {false, false};
    bool rst_seen = false;
    // Whether a segment of each side came, and the sequence number after the last byte that
    // side sent. A reset counts only near it, as a receiver takes one only in its window.
    bool sequence_known[2] = {false, false};
    // Whether each side's SYN or SYN-ACK came, and its ISN, to tell a retransmitted SYN from
    // one that opens a new connection on the same ports.
    bool isn_known[2] = {false, false};
    // The shift counts of both sides' window scale options, a nibble each with the
    // initiator's low, or kShiftUnknown without one. One byte fits the struct's padding.
    uint8_t window_shifts = kShiftUnknown << 4 | kShiftUnknown;
    uint32_t isn[2] = {0, 0};
    uint32_t next_sequence[2] = {0, 0};
    // The sequence number of the initiator's last SYN of another ISN, or its ISN when none
    // came. A SYN-ACK to that SYN starts a new connection (syn_ack_starts_new_connection()).
    uint32_t other_syn = 0;
    // The window field each side sent last. A SYN's field, which is never scaled, is kept
    // divided by its sender's scale, rounded up, once both ends have announced theirs.
    uint16_t window[2] = {0, 0};

    static constexpr uint8_t kShiftUnknown = 0x0F;

    bool closed() const { return rst_seen || (fin_seen[0] && fin_seen[1]); }

    uint8_t window_shift(Side side) const { return (window_shifts >> (4 * side)) & 0x0F; }
    void set_window_shift(Side side, uint8_t shift) {
        const int bits = 4 * side;
        window_shifts = static_cast<uint8_t>((window_shifts & ~(0x0F << bits)) |
                                             (std::min<uint8_t>(shift, kShiftUnknown) << bits));
    }
    // Windows are scaled only when both ends' SYNs carried the option (RFC 7323, section
    // 2.2).
    bool window_scaled() const {
        return window_shift(kInitiator) != kShiftUnknown &&
               window_shift(kResponder) != kShiftUnknown;
    }
    // The receive window that `side` announced last, in bytes.
    uint32_t receive_window(Side side) const {
        return window_scaled() ? uint32_t{window[side]} << window_shift(side) : window[side];
    }
};

struct Flow {
    FlowKey key;
    bool initiator_is_low = true;  // whether the initiator is the key's low endpoint
    bool mid_stream = false;       // the flow was first seen without its start
    bool capture_loss = false;     // the capture dropped packets while the flow was open
    // The connect event waits until an ICMP request shows which end initiated the flow
    // (see Pipeline::orient()).
    bool connect_pending = false;
    // A statistics event was emitted and no packet, protocol or capture loss came since, so
    // ending the flow needs no further one (Pipeline::end_flow()).
    bool statistics_current = false;
    events::Direction direction = events::Direction::kUnknown;
    // The protocol a control connection announced for this flow (FTP_DATA...), if any.
    ProtocolId expected_protocol = ProtocolId::kNone;
    // The table's idle list the flow is on.
    uint8_t idle_list = 0;
    uint8_t protocol_count = 0;

    TcpState tcp;
    std::array<uint32_t, 2> datagrams{};  // segments with data seen, by Side (non-TCP)

    uint64_t number = 0;  // order of creation, from 1
    int64_t first_us = 0;
    int64_t last_us = 0;
    // The time of the last statistics event. After one emitted while the flow was quiet,
    // the start of the interval in which it was emitted (Pipeline::emit_due_statistics()).
    int64_t last_statistics_us = 0;

    std::array<uint64_t, 2> packets{};  // by Side
    std::array<uint64_t, 2> bytes{};    // transport payload bytes on the wire, by Side

    // The protocols found once inspection has ended (while it lasts, its session has them).
    std::array<ProtocolId, detect::kMaxProtocolsPerFlow> protocols{};
    // Null once inspection has ended; it holds the TCP reassembly too, which only feeds it.
    std::unique_ptr<pipeline::Inspection> inspection;
    uint64_t uid = 0;  // the connection_uid, written "C" and 16 hex digits

    // Links on the table's idle list, ordered by last activity.
    Flow* idle_prev = nullptr;
    Flow* idle_next = nullptr;

    Flow();
    ~Flow();

    // The connection_uid events carry: "C" and 16 hex digits.
    std::string uid_text() const;

    // The initiator (the event's source) and the responder (its target).
    const decode::IpAddress& source() const { return initiator_is_low ? key.low_ip : key.high_ip; }
    const decode::IpAddress& target() const { return initiator_is_low ? key.high_ip : key.low_ip; }
    uint16_t source_port() const { return initiator_is_low ? key.low_port : key.high_port; }
    uint16_t target_port() const { return initiator_is_low ? key.high_port : key.low_port; }

    std::span<const ProtocolId> protocol_list() const { return {protocols.data(), protocol_count}; }
    void set_protocols(std::span<const ProtocolId> found);

    Side side_of(bool sender_is_low) const {
        return sender_is_low == initiator_is_low ? kInitiator : kResponder;
    }
};

}  // namespace pw::flow
