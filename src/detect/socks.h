#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace pw::detect::socks {

// The outcome of reading one handshake message from the front of a direction's bytes.
struct Parsed {
    enum Status : uint8_t { kInvalid, kIncomplete, kComplete } status = kInvalid;
    size_t length = 0;  // bytes of the message when complete
    uint8_t code = 0;   // the message's command, method or reply code
};

// SOCKS 4 and 4a. The request is VN 4, CD, port, IPv4 address and user id NUL. In SOCKS 4a
// the address is 0.0.0.x with x nonzero, and the host name NUL follows. The reply is VN 0,
// CD 90-93, port and address. `code` is CD.
Parsed parse_socks4_request(std::span<const uint8_t> data);
Parsed parse_socks4_reply(std::span<const uint8_t> data);

// SOCKS 5 (RFC 1928). The greeting lists the authentication methods the client offers;
// `code` is the number of methods. The method selection's `code` is the chosen method.
Parsed parse_socks5_greeting(std::span<const uint8_t> data);
Parsed parse_socks5_method(std::span<const uint8_t> data);
// True when the greeting at the front of `greeting` offers `method`.
bool offers_method(std::span<const uint8_t> greeting, uint8_t method);
// The request (`code` is CMD) and the reply (`code` is REP) share one layout: version,
// code, reserved zero, address type 1 (IPv4), 3 (length-prefixed name) or 4 (IPv6), port.
Parsed parse_socks5_request(std::span<const uint8_t> data);
Parsed parse_socks5_reply(std::span<const uint8_t> data);

// The username/password subnegotiation (RFC 1929): the request VER 1, ULEN, UNAME, PLEN,
// PASSWD; the response VER 1, STATUS (`code`, 0 for success).
Parsed parse_password_request(std::span<const uint8_t> data);
Parsed parse_password_reply(std::span<const uint8_t> data);

}  // namespace pw::detect::socks
