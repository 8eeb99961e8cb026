// SMTP (RFC 5321) and IMAP (RFC 9051, RFC 3501) by their greetings, commands and replies.
// After the STARTTLS upgrade of either (RFC 3207, RFC 9051 section 6.2.1), the stream is
// handed back to the detectors as an inner layer.

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/ascii.h"
#include "detect/detector.h"
#include "detect/line_reader.h"

namespace pw::detect {
namespace {

// Reply and command lines are at most 512 bytes (RFC 5321 section 4.5.3.1); IMAP lines can
// be longer, and a longer line is skipped rather than kept.
constexpr size_t kMaxLine = 2048;
// Segments of a classified flow read while waiting for STARTTLS.
constexpr uint32_t kMaxSegmentsAfterLabel = 64;

using Lines = LineReader<kMaxLine>;

bool starts_with_nocase(std::string_view text, std::string_view prefix) {
    if (text.size() < prefix.size()) return false;
    for (size_t i = 0; i < prefix.size(); ++i) {
        if (ascii_upper(text[i]) != prefix[i]) return false;
    }
    return true;
}

bool contains_nocase(std::string_view text, std::string_view word) {
    for (size_t i = 0; i + word.size() <= text.size(); ++i) {
        if (starts_with_nocase(text.substr(i), word)) return true;
    }
    return false;
}

bool is_text(std::string_view line) {
    return std::all_of(line.begin(), line.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return u == '\t' || (u >= 0x20 && u != 0x7f);
    });
}

// A reply line: three digits (2yz to 5yz, or 1yz), then a space, a hyphen or the end.
int reply_code(std::string_view line) {
    if (line.size() < 3 || !is_text(line)) return 0;
    for (size_t i = 0; i < 3; ++i) {
        if (line[i] < '0' || line[i] > '9') return 0;
    }
    if (line.size() > 3 && line[3] != ' ' && line[3] != '-') return 0;
    int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    return code >= 100 && code < 600 ? code : 0;
}

// A command word at the start of `line`, followed by a space or the end of the line.
bool is_command(std::string_view line, std::string_view verb) {
    return starts_with_nocase(line, verb) &&
           (line.size() == verb.size() || line[verb.size()] == ' ');
}

// ---------------------------------------------------------------------------------------
// SMTP

enum class Stage : uint8_t { kDetecting, kLabeled, kDone };

struct SmtpState : DetectorState {
    std::array<Lines, 2> lines;
    std::array<uint32_t, 2> line_count{};
    Stage stage = Stage::kDetecting;
    bool greeting = false;       // the server's first reply was 220
    bool hello_pending = false;  // a bare EHLO or HELO awaits its 250 reply
    bool rejected = false;       // a first line that no SMTP peer sends
    bool starttls_sent = false;
    bool open_inner = false;
    uint32_t segments_after_label = 0;
};

// Commands a client may send first on a session already under way (a capture that starts
// after the greeting).
bool is_smtp_transaction_command(std::string_view line) {
    return starts_with_nocase(line, "MAIL FROM:") || starts_with_nocase(line, "RCPT TO:");
}

class SmtpDetector final : public Detector {
  public:
    std::string_view name() const override { return "smtp"; }
    bool wants(Transport transport) const override { return transport == Transport::kTcp; }
    // Keeps reading its own flows for STARTTLS, after which the stream carries TLS.
    bool keeps_inspecting() const override { return true; }
    Verdict inspect(Session& session, const Segment& segment) override;

  private:
    static void server_line(SmtpState& state, std::string_view line, bool& label);
    static void client_line(SmtpState& state, std::string_view line, bool& label);
};

void SmtpDetector::server_line(SmtpState& state, std::string_view line, bool& label) {
    int code = reply_code(line);
    bool first = state.line_count[1]++ == 0;
    if (state.stage != Stage::kDetecting) {
        if (state.starttls_sent && code != 0 && (line.size() == 3 || line[3] == ' ')) {
            state.open_inner = code == 220;
            state.starttls_sent = false;
        }
        return;
    }
    if (first) {
        if (code == 0) {
            state.rejected = true;
            return;
        }
        state.greeting = code == 220;
    }
    // "220 host ESMTP ..." names the protocol; FTP servers also greet with 220.
    if (state.greeting && code == 220 && contains_nocase(line, "SMTP") &&
        !contains_nocase(line, "FTP"))
        label = true;
    if (state.hello_pending && code == 250) label = true;
}

void SmtpDetector::client_line(SmtpState& state, std::string_view line, bool& label) {
    // Binary junk from a client (a scanner's probe) does not show what the server speaks.
    if (!is_text(line)) return;
    bool first = state.line_count[0]++ == 0;
    if (state.stage != Stage::kDetecting) {
        if (is_command(line, "STARTTLS")) state.starttls_sent = true;
        // The upgrade comes before the first transaction, if at all.
        if (is_smtp_transaction_command(line)) state.stage = Stage::kDone;
        return;
    }
    if (state.rejected) return;
    if (is_command(line, "EHLO") || is_command(line, "HELO")) {
        // "EHLO domain" is SMTP; a bare EHLO needs the greeting before it or a 250 after.
        if (state.greeting || line.size() > 5) {
            label = true;
        } else {
            state.hello_pending = true;
        }
        return;
    }
    if (!first || state.rejected) return;
    if (is_smtp_transaction_command(line)) {
        label = true;
    } else {
        state.rejected = true;
    }
}

Verdict SmtpDetector::inspect(Session& session, const Segment& segment) {
    auto& state = session.state<SmtpState>(slot);
    if (state.stage == Stage::kDetecting && session.classified()) return Verdict::kNotMine;
    if (state.stage == Stage::kDone) return Verdict::kNotMine;
    int index = segment.from_initiator ? 0 : 1;
    bool label = false;
    state.lines[index].feed(segment.data, [&](std::string_view line) {
        if (index == 0) {
            client_line(state, line, label);
        } else {
            server_line(state, line, label);
        }
    });
    if (state.stage == Stage::kDetecting) {
        if (label) {
            session.add(ProtocolId::SMTP);
            state.stage = Stage::kLabeled;
            return Verdict::kContinue;
        }
        if (state.rejected) return Verdict::kNotMine;
        // Binary bytes from the server before a line ends: not SMTP. A client may send
        // junk first and still meet an SMTP server, so its bytes decide nothing.
        const Lines& server = state.lines[1];
        if (index == 1 && server.has_partial() && !is_text(server.unfinished()))
            return Verdict::kNotMine;
        return Verdict::kContinue;
    }
    if (state.open_inner) {
        session.open_inner_layer();
        state.stage = Stage::kDone;
        return Verdict::kDone;
    }
    if (state.stage == Stage::kDone || ++state.segments_after_label > kMaxSegmentsAfterLabel)
        return Verdict::kDone;
    return Verdict::kContinue;
}

// ---------------------------------------------------------------------------------------
// IMAP

struct ImapState : DetectorState {
    std::array<Lines, 2> lines;
    std::array<uint32_t, 2> line_count{};
    Stage stage = Stage::kDetecting;
    bool greeting = false;  // "* OK", "* PREAUTH" or "* BYE" came first from the server
    bool rejected = false;
    std::string command_tag;   // the tag of the client's first command, before any greeting
    std::string starttls_tag;  // the tag of a STARTTLS command awaiting its reply
    bool open_inner = false;
    uint32_t segments_after_label = 0;
};

// Commands valid before authentication, and the common ones after it (RFC 9051 section 6).
constexpr std::string_view kImapCommands[] = {
    "CAPABILITY", "NOOP",   "LOGOUT", "STARTTLS", "AUTHENTICATE", "LOGIN",  "SELECT",
    "EXAMINE",    "CREATE", "DELETE", "RENAME",   "SUBSCRIBE",    "LIST",   "LSUB",
    "STATUS",     "APPEND", "CHECK",  "CLOSE",    "EXPUNGE",      "SEARCH", "FETCH",
    "STORE",      "COPY",   "UID",    "ID",       "ENABLE",       "IDLE",   "NAMESPACE"};

// A tag. The grammar allows most printable characters (RFC 9051 section 9), but clients
// send short runs of letters, digits and dots, and the narrower set keeps header lines
// such as "Connection: close" from reading as tagged commands.
bool is_tag(std::string_view tag) {
    if (tag.empty() || tag.size() > 32) return false;
    return std::all_of(tag.begin(), tag.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return std::isalnum(u) || c == '.' || c == '_' || c == '-';
    });
}

// Returns the command of a tagged command line ("a001 LOGIN ..."), or an empty view.
std::string_view tagged_command(std::string_view line, std::string_view& tag) {
    size_t space = line.find(' ');
    if (space == std::string_view::npos || !is_text(line)) return {};
    tag = line.substr(0, space);
    if (!is_tag(tag)) return {};
    std::string_view rest = line.substr(space + 1);
    for (std::string_view command : kImapCommands) {
        if (is_command(rest, command)) return command;
    }
    return {};
}

class ImapDetector final : public Detector {
  public:
    std::string_view name() const override { return "imap"; }
    bool wants(Transport transport) const override { return transport == Transport::kTcp; }
    // Keeps reading its own flows for STARTTLS, after which the stream carries TLS.
    bool keeps_inspecting() const override { return true; }
    Verdict inspect(Session& session, const Segment& segment) override;

  private:
    static void server_line(ImapState& state, std::string_view line, bool& label);
    static void client_line(ImapState& state, std::string_view line, bool& label);
};

// True when `line` is the tagged status response to the command tagged `tag`.
bool is_tagged_status(std::string_view line, std::string_view tag) {
    if (tag.empty() || line.size() <= tag.size() + 1 || line.substr(0, tag.size()) != tag ||
        line[tag.size()] != ' ')
        return false;
    std::string_view status = line.substr(tag.size() + 1);
    return is_command(status, "OK") || is_command(status, "NO") || is_command(status, "BAD");
}

void ImapDetector::server_line(ImapState& state, std::string_view line, bool& label) {
    bool first = state.line_count[1]++ == 0;
    if (state.stage != Stage::kDetecting) {
        if (is_tagged_status(line, state.starttls_tag)) {
            state.open_inner = is_command(line.substr(state.starttls_tag.size() + 1), "OK");
            state.starttls_tag.clear();
        }
        return;
    }
    if (!first || state.rejected || !is_text(line)) {
        if (first) state.rejected = true;
        return;
    }
    // A session seen from its start opens with the server's greeting.
    if (starts_with_nocase(line, "* OK") || starts_with_nocase(line, "* PREAUTH") ||
        starts_with_nocase(line, "* BYE")) {
        state.greeting = true;
        // Most servers name the protocol in the greeting or its capability list.
        if (contains_nocase(line, "IMAP") || !state.command_tag.empty()) label = true;
        return;
    }
    // A session seen later: the server's reply to the client's first command.
    if (!state.command_tag.empty() &&
        (starts_with_nocase(line, "* ") || is_tagged_status(line, state.command_tag))) {
        label = true;
        return;
    }
    state.rejected = true;
}

void ImapDetector::client_line(ImapState& state, std::string_view line, bool& label) {
    bool first = state.line_count[0]++ == 0;
    std::string_view tag;
    std::string_view command = tagged_command(line, tag);
    if (state.stage != Stage::kDetecting) {
        if (command == "STARTTLS") state.starttls_tag = std::string(tag);
        if (command == "LOGIN" || command == "AUTHENTICATE") state.stage = Stage::kDone;
        return;
    }
    // The client's first line decides: a tagged command, which the server's reply confirms.
    if (!first || state.rejected) return;
    if (command.empty()) {
        state.rejected = true;
    } else if (state.greeting) {
        label = true;
    } else {
        state.command_tag = std::string(tag);
    }
}

Verdict ImapDetector::inspect(Session& session, const Segment& segment) {
    auto& state = session.state<ImapState>(slot);
    if (state.stage == Stage::kDetecting && session.classified()) return Verdict::kNotMine;
    if (state.stage == Stage::kDone) return Verdict::kNotMine;
    int index = segment.from_initiator ? 0 : 1;
    bool label = false;
    state.lines[index].feed(segment.data, [&](std::string_view line) {
        if (index == 0) {
            client_line(state, line, label);
        } else {
            server_line(state, line, label);
        }
    });
    if (state.stage == Stage::kDetecting) {
        if (label) {
            session.add(ProtocolId::IMAP);
            state.stage = Stage::kLabeled;
            return Verdict::kContinue;
        }
        if (state.rejected) return Verdict::kNotMine;
        if (state.lines[index].has_partial() && !is_text(state.lines[index].unfinished()))
            return Verdict::kNotMine;
        return Verdict::kContinue;
    }
    if (state.open_inner) {
        session.open_inner_layer();
        state.stage = Stage::kDone;
        return Verdict::kDone;
    }
    if (state.stage == Stage::kDone || ++state.segments_after_label > kMaxSegmentsAfterLabel)
        return Verdict::kDone;
    return Verdict::kContinue;
}

}  // namespace

std::unique_ptr<Detector> make_smtp_detector() { return std::make_unique<SmtpDetector>(); }
std::unique_ptr<Detector> make_imap_detector() { return std::make_unique<ImapDetector>(); }

}  // namespace pw::detect
