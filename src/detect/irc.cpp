// IRC (RFC 1459, RFC 2812, IRCv3). Its messages are text lines, and a few of its commands
// (USER, PASS, QUIT, LIST, MODE) are FTP, POP3 and NNTP commands as well. The detector
// therefore decides on a message only IRC sends, or on two IRC messages that together are
// unambiguous.
#include "detect/irc.h"

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "detect/detector.h"

namespace pw::detect {
namespace irc {
namespace {

// Commands of RFC 2812 and IRCv3 that no other common text protocol uses.
constexpr std::array<std::string_view, 26> kIrcCommands = {
    "NICK",     "JOIN",    "PART",  "PING",         "PONG",   "WHO",    "WHOIS",
    "WHOWAS",   "TOPIC",   "NAMES", "KICK",         "INVITE", "AWAY",   "ISON",
    "USERHOST", "OPER",    "KILL",  "WALLOPS",      "MOTD",   "LUSERS", "SQUERY",
    "SERVLIST", "SERVICE", "SQUIT", "AUTHENTICATE", "TAGMSG",
};
// IRC commands that FTP, POP3 or NNTP also define.
constexpr std::array<std::string_view, 10> kSharedCommands = {
    "USER", "PASS", "QUIT", "LIST", "MODE", "STATS", "TIME", "INFO", "VERSION", "ADMIN",
};
constexpr std::array<std::string_view, 8> kCapSubcommands = {
    "LS", "LIST", "REQ", "ACK", "NAK", "END", "NEW", "DEL",
};

template <size_t N>
bool contains(const std::array<std::string_view, N>& words, std::string_view word) {
    return std::find(words.begin(), words.end(), word) != words.end();
}

struct Message {
    std::string_view prefix;
    std::string_view command;
    std::vector<std::string_view> middle;  // parameters before the trailing one
    bool has_trailing = false;
};

// Splits a line into prefix, command and parameters (RFC 2812 section 2.3.1), after any
// IRCv3 message tags. Returns false when the line has no command.
bool parse(std::string_view line, Message& message) {
    auto skip_spaces = [&line] {
        while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    };
    auto take_word = [&line] {
        size_t end = std::min(line.find(' '), line.size());
        std::string_view word = line.substr(0, end);
        line.remove_prefix(end);
        return word;
    };
    skip_spaces();
    if (!line.empty() && line.front() == '@') {
        take_word();
        skip_spaces();
    }
    if (!line.empty() && line.front() == ':') {
        line.remove_prefix(1);
        message.prefix = take_word();
        if (message.prefix.empty()) return false;
        skip_spaces();
    }
    message.command = take_word();
    if (message.command.empty()) return false;
    for (;;) {
        skip_spaces();
        if (line.empty()) break;
        if (line.front() == ':') {
            message.has_trailing = true;
            break;
        }
        message.middle.push_back(take_word());
    }
    return true;
}

bool is_upper_word(std::string_view word) {
    return !word.empty() && word.size() <= 16 &&
           std::all_of(word.begin(), word.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

bool is_numeric(std::string_view word) {
    return word.size() == 3 &&
           std::all_of(word.begin(), word.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
           word != "000";
}

// RFC 2812 nickname syntax, with the longer lengths that current servers allow.
bool is_nickname(std::string_view word) {
    auto special = [](char c) {
        return std::string_view("[]\\`_^{|}").find(c) != std::string_view::npos;
    };
    auto letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
    if (word.empty() || word.size() > 32 || !(letter(word[0]) || special(word[0]))) return false;
    return std::all_of(word.begin(), word.end(), [&](char c) {
        return letter(c) || special(c) || (c >= '0' && c <= '9') || c == '-';
    });
}

size_t parameter_count(const Message& message) {
    return message.middle.size() + (message.has_trailing ? 1 : 0);
}

Evidence classify_unprefixed(const Message& message) {
    const std::string_view command = message.command;
    const size_t parameters = parameter_count(message);
    if (command == "PRIVMSG" || command == "NOTICE") {
        return message.middle.size() == 1 && message.has_trailing ? Evidence::kStrong
                                                                  : Evidence::kNone;
    }
    if (command == "CAP") {
        // A client writes "CAP LS 302"; a server without a prefix writes "CAP * LS :...".
        for (size_t i = 0; i < std::min<size_t>(message.middle.size(), 2); ++i) {
            if (contains(kCapSubcommands, message.middle[i])) return Evidence::kStrong;
        }
        return Evidence::kNone;
    }
    if (command == "USER") {
        // The registration form is "USER user mode unused :realname"; FTP and POP3 send
        // one parameter.
        if (parameters >= 4) return Evidence::kStrong;
        return parameters == 1 ? Evidence::kShared : Evidence::kWeak;
    }
    if (command == "NICK") {
        if (parameters != 1) return Evidence::kNone;
        return message.has_trailing || is_nickname(message.middle[0]) ? Evidence::kWeak
                                                                      : Evidence::kNone;
    }
    if (command == "JOIN") {
        if (message.has_trailing) return Evidence::kWeak;
        if (message.middle.empty()) return Evidence::kNone;
        char first = message.middle[0][0];
        return std::string_view("#&+!0").find(first) != std::string_view::npos ? Evidence::kWeak
                                                                               : Evidence::kNone;
    }
    if (contains(kIrcCommands, command)) {
        if (parameters == 0) return Evidence::kNone;
        return command == "PING" || command == "PONG" ? Evidence::kKeepAlive : Evidence::kWeak;
    }
    if (contains(kSharedCommands, command)) return Evidence::kShared;
    return Evidence::kNone;
}

}  // namespace

Evidence classify_line(std::string_view line) {
    Message message;
    if (!parse(line, message)) return Evidence::kNone;
    if (!message.prefix.empty()) {
        // ":server 001 nick :Welcome" or ":nick!user@host PRIVMSG #channel :text".
        if (is_numeric(message.command)) {
            return parameter_count(message) >= 1 ? Evidence::kStrong : Evidence::kNone;
        }
        bool known = contains(kIrcCommands, message.command) ||
                     contains(kSharedCommands, message.command) || message.command == "PRIVMSG" ||
                     message.command == "NOTICE" || message.command == "CAP" ||
                     message.command == "ERROR";
        return known && parameter_count(message) >= 1 ? Evidence::kStrong : Evidence::kNone;
    }
    if (!is_upper_word(message.command)) return Evidence::kNone;
    return classify_unprefixed(message);
}

}  // namespace irc

namespace {

using irc::Evidence;

// IRC lines are at most 512 bytes (RFC 2812) plus up to 8191 bytes of IRCv3 tags; a line
// longer than this is not examined.
constexpr size_t kMaxLineBytes = 1024;
constexpr uint32_t kMaxSegments = 16;
constexpr uint32_t kMaxLines = 32;

struct IrcState : DetectorState {
    std::string partial[2];             // the unfinished line of each direction
    bool skipping[2] = {false, false};  // inside a line too long to examine
    uint32_t segments = 0;
    uint32_t lines = 0;
    uint32_t weak = 0;
    uint32_t shared = 0;
    uint32_t keep_alive = 0;
};

// True for bytes IRC text may carry: printable, UTF-8 or Latin-1, CR, LF, TAB and the
// mIRC formatting controls (bold, color, reset, reverse, italics, strike, underline) and
// the CTCP delimiter.
bool is_irc_byte(uint8_t c) {
    if (c >= 0x20 || c == '\r' || c == '\n' || c == '\t') return true;
    return c == 0x01 || c == 0x02 || c == 0x03 || c == 0x0F || c == 0x16 || c == 0x1D ||
           c == 0x1E || c == 0x1F;
}

class IrcDetector final : public Detector {
  public:
    std::string_view name() const override { return "irc"; }
    bool wants(Transport transport) const override { return transport == Transport::kTcp; }

    Verdict inspect(Session& session, const Segment& segment) override {
        const auto data = segment.data;
        if (!std::all_of(data.begin(), data.end(), is_irc_byte)) return reject(session);
        auto& state = session.state<IrcState>(slot);
        if (++state.segments > kMaxSegments) return reject(session);
        const int side = segment.from_initiator ? 0 : 1;
        std::string& partial = state.partial[side];
        for (uint8_t byte : data) {
            if (byte != '\n') {
                if (state.skipping[side]) continue;
                if (partial.size() == kMaxLineBytes) {
                    state.skipping[side] = true;
                    partial.clear();
                    continue;
                }
                partial.push_back(static_cast<char>(byte));
                continue;
            }
            if (!state.skipping[side] && take_line(state, partial)) {
                session.add(ProtocolId::IRC);
                session.drop_state(slot);
                return Verdict::kDone;
            }
            state.skipping[side] = false;
            partial.clear();
            if (state.lines >= kMaxLines) return reject(session);
        }
        return Verdict::kContinue;
    }

  private:
    // Counts one complete line. Returns true once the lines seen decide the flow is IRC.
    static bool take_line(IrcState& state, std::string_view line) {
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty()) return false;
        ++state.lines;
        switch (irc::classify_line(line)) {
            case Evidence::kStrong:
                return true;
            case Evidence::kWeak:
                ++state.weak;
                break;
            case Evidence::kShared:
                ++state.shared;
                break;
            case Evidence::kKeepAlive:
                ++state.keep_alive;
                break;
            case Evidence::kNone:
                break;
        }
        // Keep-alives count only together with another IRC message.
        return state.weak >= 2 || (state.weak >= 1 && (state.shared >= 1 || state.keep_alive >= 1));
    }

    Verdict reject(Session& session) {
        session.drop_state(slot);
        return Verdict::kNotMine;
    }
};

}  // namespace

std::unique_ptr<Detector> make_irc_detector() { return std::make_unique<IrcDetector>(); }

}  // namespace pw::detect
