#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "decode/packet.h"
#include "detect/protocols.h"
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
    uint32_t syn_sequence = 0;  // the initiator's ISN, to tell a reused port from a retry

    bool closed() const { return rst_seen || (fin_seen[0] && fin_seen[1]); }
};

struct Flow {
    FlowKey key;
    decode::IpAddress source;  // initiator
    decode::IpAddress target;  // responder
    uint16_t source_port = 0;
    uint16_t target_port = 0;
    bool initiator_is_low = true;  // whether the initiator is the key's low endpoint
    bool mid_stream = false;       // the flow was first seen without its start
    bool capture_loss = false;     // the capture dropped packets while the flow was open

    uint64_t number = 0;  // order of creation, from 1
    int64_t first_us = 0;
    int64_t last_us = 0;
    int64_t last_statistics_us = 0;

    std::array<uint64_t, 2> packets{};  // by Side
    std::array<uint64_t, 2> bytes{};    // transport payload bytes on the wire, by Side
    std::array<uint32_t, 2> datagrams{};  // segments with data seen, by Side (non-TCP)

    TcpState tcp;

    std::vector<ProtocolId> protocols;
    // The protocol a control connection announced for this flow (FTP_DATA...), if any.
    ProtocolId expected_protocol = ProtocolId::kNone;
    events::Direction direction = events::Direction::kUnknown;
    // Null once inspection has ended; it holds the TCP reassembly too, which only feeds it.
    std::unique_ptr<pipeline::Inspection> inspection;
    uint64_t uid = 0;  // the connection_uid, written "C" and 16 hex digits

    // The table's idle list the flow is on, and its links there, ordered by last activity.
    uint8_t idle_list = 0;
    Flow* idle_prev = nullptr;
    Flow* idle_next = nullptr;

    Flow();
    ~Flow();

    // The connection_uid events carry: "C" and 16 hex digits.
    std::string uid_text() const;

    Side side_of(bool sender_is_low) const {
        return sender_is_low == initiator_is_low ? kInitiator : kResponder;
    }
};

}  // namespace pw::flow
