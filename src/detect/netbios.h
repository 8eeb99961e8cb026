#pragma once

// NetBIOS over TCP/IP (RFC 1001, RFC 1002) structures shared by the NetBIOS detector (name and
// datagram services over UDP) and the SMB detector (session service framing over TCP).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace pw::detect::netbios {

// Session service packet types (RFC 1002 section 4.3.1).
namespace session_type {
inline constexpr uint8_t kMessage = 0x00;
inline constexpr uint8_t kRequest = 0x81;
inline constexpr uint8_t kPositiveResponse = 0x82;
inline constexpr uint8_t kNegativeResponse = 0x83;
inline constexpr uint8_t kRetargetResponse = 0x84;
inline constexpr uint8_t kKeepAlive = 0x85;
}  // namespace session_type

inline constexpr size_t kSessionHeaderSize = 4;
// Characters of a first-level encoded name: two per byte of the 16-byte NetBIOS name.
inline constexpr size_t kEncodedNameChars = 32;

struct SessionHeader {
    uint8_t type = 0;
    size_t length = 0;  // of what follows the four header bytes
};

// Parses a session service header. Session messages take a 24-bit length so that the same
// parser serves SMB's direct TCP transport on port 445, whose header differs from NetBIOS's
// only in allowing lengths above 17 bits; the control packets keep RFC 1002's 17 bits.
std::optional<SessionHeader> parse_session_header(std::span<const uint8_t> header);

// True when `trailer` (the bytes after the header, complete) is valid for the control packet
// `header` describes: two encoded names for a session request, an error code for a negative
// response, an address and port for a retarget, nothing for the others.
bool valid_session_control(const SessionHeader& header, std::span<const uint8_t> trailer);

// Returns the size of the encoded NetBIOS name at the start of `data` (RFC 1002 section
// 4.1: a 32-byte first-level encoding in 'A'..'P', then scope labels, then a zero byte), or
// nullopt when it is not one or is cut short.
std::optional<size_t> encoded_name_size(std::span<const uint8_t> data);

}  // namespace pw::detect::netbios
