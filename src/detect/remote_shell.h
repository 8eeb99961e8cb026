#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace pw::detect::remote_shell {

// How far the start of a stream matches a handshake.
enum class Match : uint8_t {
    kNo,          // the bytes contradict the handshake
    kIncomplete,  // a valid prefix: more bytes are needed
    kYes,         // the whole handshake is present
};

// The leading run of Telnet commands (RFC 854, 855) in a segment.
struct TelnetScan {
    size_t negotiations = 0;  // complete WILL/WONT/DO/DONT and SB ... SE commands
    bool rejected = false;    // the run starts with bytes that no Telnet peer sends
};

// Scans the commands at the start of `data`, which must begin with IAC (0xFF) to count.
TelnetScan scan_telnet(std::span<const uint8_t> data);

// Checks the client's first bytes of an rlogin connection (RFC 1282): an empty string, the
// local and remote user names and "terminal/speed", each terminated by NUL.
Match match_rlogin(std::span<const uint8_t> head);

// The client's first bytes of an rsh connection: the stderr port in decimal, the local and
// remote user names and the command, each terminated by NUL.
struct RshHandshake {
    Match match = Match::kNo;
    uint16_t stderr_port = 0;  // 0 when the client wants no separate stderr connection
};
RshHandshake match_rsh(std::span<const uint8_t> head);

// True when `head` is the start of an rlogin or rsh handshake whose first user name has
// run on for at least `min_run` bytes without its NUL. `prefix_digits` selects rsh, where
// the stderr port comes first, over rlogin, where an empty string comes first.
bool is_open_user_field(std::span<const uint8_t> head, bool prefix_digits, size_t min_run);

}  // namespace pw::detect::remote_shell
