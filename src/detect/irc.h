#pragma once

#include <cstdint>
#include <string_view>

namespace pw::detect::irc {

// The evidence one line gives that a flow is IRC (RFC 1459, RFC 2812, IRCv3 capabilities).
enum class Evidence : uint8_t {
    kNone,       // not an IRC message
    kShared,     // an IRC message that FTP and POP3 clients send too (USER x, PASS x)
    kKeepAlive,  // PING x or PONG x, which other text protocols send too (Speedtest's)
    kWeak,       // an IRC message, but too short to decide alone (NICK x, JOIN #c)
    kStrong,     // a message no other protocol sends: a numeric reply, a prefixed command,
                 // PRIVMSG/NOTICE with text, CAP negotiation, a full USER registration
};

// Classifies one line, without its CRLF or LF.
Evidence classify_line(std::string_view line);

}  // namespace pw::detect::irc
