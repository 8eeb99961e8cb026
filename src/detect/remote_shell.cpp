// TELNET, RLOGIN and RSH. All three carry a terminal session in clear text, so each is
// recognized by its connection setup: Telnet's option negotiation, and the NUL-terminated
// user names that the BSD r-commands send before any terminal data.
#include "detect/remote_shell.h"

#include <algorithm>
#include <array>
#include <string>

#include "detect/detector.h"

namespace pw::detect {
namespace remote_shell {
namespace {

constexpr uint8_t kIac = 0xFF;
constexpr uint8_t kSe = 0xF0;
constexpr uint8_t kSb = 0xFA;
constexpr uint8_t kWill = 0xFB;
constexpr uint8_t kDont = 0xFE;

// Maximum user name length the handshakes accept as well formed. Linux limits names to 32
// bytes, and the margin admits directory-service names.
constexpr size_t kMaxUserName = 64;
constexpr size_t kMaxTerminal = 64;
// Command bytes after which an rsh command still without its NUL counts as present.
constexpr size_t kCommandEvidence = 64;

// Telnet option codes assigned by IANA: 0-49, 138-140 and EXOPL (255).
bool is_telnet_option(uint8_t option) {
    return option <= 49 || (option >= 138 && option <= 140) || option == 255;
}

bool is_user_char(uint8_t c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.' || c == '$' || c == '@';
}

bool is_terminal_char(uint8_t c) { return is_user_char(c) || c == '+'; }

bool is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

// Reads a NUL-terminated field of at most `max` bytes that satisfy `accept` from `pos`.
// Returns kYes and moves `pos` past the NUL, kIncomplete at the end of the data, or kNo.
template <class Accept>
Match read_field(std::span<const uint8_t> data, size_t& pos, size_t min, size_t max,
                 Accept accept) {
    size_t start = pos;
    while (pos < data.size() && data[pos] != 0) {
        if (!accept(data[pos]) || pos - start >= max) return Match::kNo;
        ++pos;
    }
    if (pos == data.size()) return Match::kIncomplete;
    if (pos - start < min) return Match::kNo;
    ++pos;
    return Match::kYes;
}

Match read_user(std::span<const uint8_t> data, size_t& pos) {
    return read_field(data, pos, 1, kMaxUserName, is_user_char);
}

// Whether `name` is a common terminal type ($TERM). An rsh client without a stderr
// channel sends an empty port field, a lone NUL (BSD rcmd), and then its handshake has
// rlogin's shape, with the command in place of the terminal.
bool is_terminal_type(std::string_view name) {
    constexpr std::array<std::string_view, 16> kPrefixes = {
        "xterm", "vt",  "linux", "screen",  "tmux",   "rxvt",  "dumb",   "network",
        "ansi",  "sun", "putty", "konsole", "cons25", "eterm", "dtterm", "st-256color"};
    return std::any_of(kPrefixes.begin(), kPrefixes.end(),
                       [name](std::string_view prefix) { return name.starts_with(prefix); });
}

// Checks "terminal/speed" followed by NUL, such as "xterm/38400", or a known terminal type
// alone, which netkit's rlogin sends when its input is not a terminal.
Match read_terminal(std::span<const uint8_t> data, size_t& pos) {
    size_t start = pos;
    while (pos < data.size() && data[pos] != '/' && data[pos] != 0) {
        if (!is_terminal_char(data[pos]) || pos - start >= kMaxTerminal) return Match::kNo;
        ++pos;
    }
    if (pos == data.size()) return Match::kIncomplete;
    if (pos == start) return Match::kNo;
    if (data[pos] == 0) {
        std::string_view name(reinterpret_cast<const char*>(data.data()) + start, pos - start);
        ++pos;
        return is_terminal_type(name) ? Match::kYes : Match::kNo;
    }
    ++pos;
    return read_field(data, pos, 1, 7, is_digit);
}

}  // namespace

TelnetScan scan_telnet(std::span<const uint8_t> data) {
    TelnetScan scan;
    size_t pos = 0;
    while (pos + 1 < data.size() && data[pos] == kIac) {
        uint8_t command = data[pos + 1];
        if (command >= kWill && command <= kDont) {
            if (pos + 2 >= data.size()) break;
            if (!is_telnet_option(data[pos + 2])) {
                scan.rejected = scan.negotiations == 0;
                break;
            }
            ++scan.negotiations;
            pos += 3;
        } else if (command == kSb) {
            if (pos + 2 >= data.size()) break;
            if (!is_telnet_option(data[pos + 2])) {
                scan.rejected = scan.negotiations == 0;
                break;
            }
            // The subnegotiation ends at IAC SE; a doubled IAC inside it is a data byte.
            size_t end = pos + 3;
            while (end + 1 < data.size() && !(data[end] == kIac && data[end + 1] == kSe)) {
                end += data[end] == kIac && data[end + 1] == kIac ? 2 : 1;
            }
            if (end + 1 >= data.size()) break;
            ++scan.negotiations;
            pos = end + 2;
        } else if (command > kSe && command < kSb) {
            pos += 2;  // NOP, DM, BRK, IP, AO, AYT, EC, EL, GA: valid but no evidence
        } else {
            scan.rejected = scan.negotiations == 0;
            break;
        }
    }
    return scan;
}

Match match_rlogin(std::span<const uint8_t> head) {
    if (head.empty()) return Match::kIncomplete;
    if (head[0] != 0) return Match::kNo;
    size_t pos = 1;
    for (int field = 0; field < 2; ++field) {
        Match user = read_user(head, pos);
        if (user != Match::kYes) return user;
    }
    return read_terminal(head, pos);
}

RshHandshake match_rsh(std::span<const uint8_t> head) {
    RshHandshake result;
    size_t pos = 0;
    result.match = read_field(head, pos, 1, 5, is_digit);
    if (result.match != Match::kYes) return result;
    uint32_t port = 0;
    for (size_t i = 0; i + 1 < pos; ++i) port = port * 10 + (head[i] - '0');
    if (port > 0xFFFF) {
        result.match = Match::kNo;
        return result;
    }
    result.stderr_port = static_cast<uint16_t>(port);
    for (int field = 0; field < 2; ++field) {
        result.match = read_user(head, pos);
        if (result.match != Match::kYes) return result;
    }
    size_t command_start = pos;
    auto printable = [](uint8_t c) { return c >= 0x20 || c == '\t'; };
    result.match = read_field(head, pos, 1, SIZE_MAX, printable);
    if (result.match == Match::kIncomplete && pos - command_start >= kCommandEvidence) {
        result.match = Match::kYes;
    }
    return result;
}

bool is_open_user_field(std::span<const uint8_t> head, bool prefix_digits, size_t min_run) {
    size_t pos = 0;
    if (prefix_digits) {
        while (pos < head.size() && pos < 5 && is_digit(head[pos])) ++pos;
        if (pos == 0) return false;
    }
    if (pos >= head.size() || head[pos] != 0) return false;
    ++pos;
    size_t run = 0;
    for (; pos < head.size(); ++pos, ++run) {
        if (!is_user_char(head[pos])) return false;
    }
    return run >= min_run;
}

}  // namespace remote_shell

namespace {

using remote_shell::Match;

constexpr uint16_t kRloginPort = 513;
constexpr uint16_t kRshPort = 514;
// Client bytes kept for the r-command handshakes: far more than a well-formed one needs.
constexpr size_t kHeadBytes = 512;
// Segments in which a Telnet negotiation may still appear in a flow first seen mid-stream.
constexpr uint32_t kTelnetSegments = 8;

struct RemoteShellState : DetectorState {
    std::string client_head;
    uint32_t segments = 0;
    bool telnet = true;
    bool rlogin = true;
    bool rsh = true;
    bool negotiated_by_initiator = false;
    bool negotiated_by_responder = false;
};

std::span<const uint8_t> bytes_of(const std::string& text) {
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

// True when most bytes are text a terminal session carries (printable, CR, LF, TAB, BS, ESC).
bool looks_like_terminal_text(std::span<const uint8_t> data) {
    // The control characters that count as text: NUL, BEL, BS, TAB, LF, CR and ESC.
    constexpr uint32_t kTextControls = 1u << 0 | 1u << 0x07 | 1u << 0x08 | 1u << '\t' |
                                       1u << '\n' | 1u << '\r' | 1u << 0x1B;
    // Bytes are counted a chunk at a time with no branch per byte, and the scan stops
    // after the first chunk that passes the limit.
    constexpr size_t kChunk = 256;
    const size_t max_other = data.size() / 10;  // the maximum that keeps other * 10 <= size
    size_t other = 0;
    for (size_t start = 0; start < data.size(); start += kChunk) {
        const size_t end = std::min(data.size(), start + kChunk);
        for (size_t i = start; i < end; ++i) {
            const uint8_t c = data[i];
            const bool control = c < 0x20 && (kTextControls >> (c & 0x1F) & 1u) == 0;
            other += (control || c == 0x7F) ? 1 : 0;
        }
        if (other > max_other) return false;
    }
    return true;
}

class RemoteShellDetector final : public Detector {
  public:
    std::string_view name() const override { return "remote_shell"; }
    bool wants(Transport transport) const override { return transport == Transport::kTcp; }

    Verdict inspect(Session& session, const Segment& segment) override {
        auto& state = session.state<RemoteShellState>(slot);
        ++state.segments;
        if (state.telnet && check_telnet(session, state, segment)) return finish_with(session);
        if ((state.rlogin || state.rsh) && check_r_commands(session, state, segment)) {
            return finish_with(session);
        }
        if (!state.telnet && !state.rlogin && !state.rsh) {
            session.drop_state(slot);
            return Verdict::kNotMine;
        }
        return Verdict::kContinue;
    }

  private:
    Verdict finish_with(Session& session) {
        session.drop_state(slot);
        return Verdict::kDone;
    }

    // Returns true once the flow is labeled TELNET.
    static bool check_telnet(Session& session, RemoteShellState& state, const Segment& segment) {
        const auto data = segment.data;
        if (data.empty()) return false;
        if (data[0] != remote_shell::kIac) {
            if (!looks_like_terminal_text(data) || state.segments >= kTelnetSegments) {
                state.telnet = false;
            }
            return false;
        }
        remote_shell::TelnetScan scan = remote_shell::scan_telnet(data);
        if (scan.rejected) {
            state.telnet = false;
            return false;
        }
        if (scan.negotiations == 1) {
            // One negotiation is three bytes of evidence: wait for the peer's own.
            (segment.from_initiator ? state.negotiated_by_initiator
                                    : state.negotiated_by_responder) = true;
        }
        if (scan.negotiations >= 2 ||
            (state.negotiated_by_initiator && state.negotiated_by_responder)) {
            session.add(ProtocolId::TELNET);
            return true;
        }
        if (state.segments >= kTelnetSegments) state.telnet = false;
        return false;
    }

    // Returns true once the flow is labeled RLOGIN or RSH. Only the client's bytes count,
    // because the server replies after the handshake with a single status byte.
    static bool check_r_commands(Session& session, RemoteShellState& state,
                                 const Segment& segment) {
        if (!segment.from_initiator) {
            if (state.client_head.empty()) state.rlogin = state.rsh = false;
            return false;
        }
        size_t room = kHeadBytes - state.client_head.size();
        size_t take = std::min(room, segment.data.size());
        state.client_head.append(reinterpret_cast<const char*>(segment.data.data()), take);
        const auto head = bytes_of(state.client_head);
        const bool head_full = state.client_head.size() == kHeadBytes;

        if (state.rlogin) {
            Match match = remote_shell::match_rlogin(head);
            // A user name that runs past any real one is a malformed handshake, but still an
            // rlogin client's: accepted on the rlogin port only.
            if (match == Match::kNo && session.responder_port() == kRloginPort &&
                remote_shell::is_open_user_field(head, false, kMaxUserNameEvidence)) {
                match = Match::kYes;
            }
            if (match == Match::kYes) {
                session.add(ProtocolId::RLOGIN);
                return true;
            }
            if (match == Match::kNo || head_full) state.rlogin = false;
        }
        if (state.rsh) {
            remote_shell::RshHandshake rsh = remote_shell::match_rsh(head);
            if (rsh.match == Match::kNo && session.responder_port() == kRshPort &&
                remote_shell::is_open_user_field(head, true, kMaxUserNameEvidence)) {
                rsh.match = Match::kYes;
                rsh.stderr_port = 0;
            }
            if (rsh.match == Match::kYes && is_rsh_endpoint(session)) {
                session.add(ProtocolId::RSH);
                announce_stderr(session, rsh.stderr_port);
                return true;
            }
            if (rsh.match != Match::kIncomplete || head_full) state.rsh = false;
        }
        return false;
    }

    // rexec (port 512) sends the same four fields with a password in place of a user name,
    // so the shape alone does not tell rsh apart. rsh runs on port 514, or from a reserved
    // source port, which rshd demands of its clients.
    static bool is_rsh_endpoint(const Session& session) {
        uint16_t client_port = session.initiator_port();
        return session.responder_port() == kRshPort || (client_port >= 512 && client_port < 1024);
    }

    // rshd opens the stderr connection back to the client's announced port.
    static void announce_stderr(Session& session, uint16_t port) {
        if (port == 0) return;
        ExpectedFlow flow;
        flow.client = session.responder();
        flow.server = session.initiator();
        flow.server_port = port;
        flow.ip_protocol = decode::ip_protocol::kTcp;
        flow.protocol = ProtocolId::RSH;
        session.expect(flow);
    }

    static constexpr size_t kMaxUserNameEvidence = remote_shell::kMaxUserName + 1;
};

}  // namespace

std::unique_ptr<Detector> make_remote_shell_detector() {
    return std::make_unique<RemoteShellDetector>();
}

}  // namespace pw::detect
