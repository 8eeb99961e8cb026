#pragma once

// DCE/RPC PDU checks shared by the MSRPC detector and the SMB detector (which finds DCE/RPC
// in named-pipe reads, writes and transactions).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace pw::detect::msrpc {

// Connection-oriented (version 5) PDU header, C706 section 12.6.
inline constexpr size_t kCoHeaderSize = 16;
// Connectionless (version 4) PDU header, C706 section 12.5.
inline constexpr size_t kClHeaderSize = 80;

namespace co_type {
inline constexpr uint8_t kRequest = 0;
inline constexpr uint8_t kResponse = 2;
inline constexpr uint8_t kFault = 3;
inline constexpr uint8_t kBind = 11;
inline constexpr uint8_t kBindAck = 12;
inline constexpr uint8_t kBindNak = 13;
inline constexpr uint8_t kAlterContext = 14;
inline constexpr uint8_t kAlterContextResponse = 15;
inline constexpr uint8_t kAuth3 = 16;
inline constexpr uint8_t kOrphaned = 19;
}  // namespace co_type

struct CoHeader {
    uint8_t type = 0;
    uint8_t flags = 0;
    bool little_endian = true;
    uint16_t frag_length = 0;
    uint16_t auth_length = 0;
    uint32_t call_id = 0;
};

// Parses and checks the connection-oriented header at the start of `data`: version 5.0 or
// 5.1, a connection-oriented packet type, a valid data representation and a fragment length
// that holds the header, the type's fixed fields and the authentication trailer.
std::optional<CoHeader> parse_co_header(std::span<const uint8_t> data);

// True when `pdu` (the start of a PDU whose header is `header`; it may be cut short) is a bind
// or alter_context that presents the endpoint mapper interface in one of its contexts.
bool presents_endpoint_mapper(std::span<const uint8_t> pdu, const CoHeader& header);

struct ClPdu {
    bool endpoint_mapper = false;  // the interface is the endpoint mapper
};

// Checks that `datagram` is one connectionless PDU: version 4, a connectionless packet
// type, a valid data representation and a body length that fills the datagram.
std::optional<ClPdu> parse_cl_pdu(std::span<const uint8_t> datagram);

}  // namespace pw::detect::msrpc
