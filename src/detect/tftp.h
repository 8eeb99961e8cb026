#pragma once

#include <cstdint>
#include <span>

namespace pw::detect::tftp {

// TFTP opcodes (RFC 1350, and RFC 2347 for OACK).
enum Opcode : uint16_t {
    kReadRequest = 1,
    kWriteRequest = 2,
    kData = 3,
    kAck = 4,
    kError = 5,
    kOptionAck = 6,
};

// One datagram read as a TFTP packet. `valid` is false when the bytes break the layout of
// the opcode they start with.
struct Packet {
    bool valid = false;
    uint16_t opcode = 0;
    uint16_t block = 0;                // DATA and ACK
    std::span<const uint8_t> payload;  // DATA: the file bytes
};

// Reads a request strictly: filename NUL, mode (netascii, octet or mail, in any case) NUL,
// then RFC 2347 option name and value pairs, each NUL-terminated, to the datagram's end.
// NUL padding after the last field is allowed.
Packet parse(std::span<const uint8_t> datagram);

// Reads a request more loosely: any printable ASCII or NUL bytes before a NUL-delimited mode that
// ends the datagram. Some clients and probes send an empty or NUL-filled file name.
bool is_loose_request(std::span<const uint8_t> datagram);

}  // namespace pw::detect::tftp
