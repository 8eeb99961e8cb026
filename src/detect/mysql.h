#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "detect/detector.h"

namespace pw::detect {

std::unique_ptr<Detector> make_mysql_detector();

enum class MysqlGreeting : uint8_t {
    kNone,
    kHandshake,  // a protocol version 10 Initial Handshake packet
    kError,      // an ERR packet in place of the handshake (host not allowed, too many
                 // connections)
};

// Classifies `data`, which must be exactly one whole packet, as the server's first packet.
MysqlGreeting classify_mysql_greeting(std::span<const uint8_t> data);

// True when `data` is exactly the client's SSLRequest: a 32-byte packet with sequence
// number 1 and the CLIENT_SSL capability, after which the connection switches to TLS.
bool is_mysql_ssl_request(std::span<const uint8_t> data);

}  // namespace pw::detect
