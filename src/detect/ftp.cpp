// The FTP control connection (RFC 959, with FEAT and OPTS of RFC 2389, AUTH of RFC 4217
// and EPRT and EPSV of RFC 2428), the data connections it announces, and the file type
// of what those data connections carry.

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/ascii.h"
#include "content/transfer.h"
#include "detect/detector.h"
#include "detect/line_reader.h"

namespace pw::detect {
namespace {

constexpr size_t kMaxLine = 1024;

// Commands only FTP clients send (RFC 959 section 4.1 and the extensions above). HELP,
// NOOP, QUIT and AUTH are left out because SMTP clients send them too.
constexpr std::string_view kFtpCommands[] = {
    "USER", "PASS", "ACCT", "CWD",  "CDUP", "SMNT", "REIN", "PORT", "PASV", "TYPE", "STRU", "MODE",
    "RETR", "STOR", "STOU", "APPE", "ALLO", "REST", "RNFR", "RNTO", "ABOR", "DELE", "RMD",  "MKD",
    "PWD",  "LIST", "NLST", "SITE", "SYST", "FEAT", "OPTS", "PBSZ", "PROT", "EPRT", "EPSV", "MDTM",
    "SIZE", "MLSD", "MLST", "LANG", "XPWD", "XCWD", "XMKD", "XRMD", "CLNT"};

using Lines = LineReader<kMaxLine>;

// The control connection speaks Telnet's NVT (RFC 959), where NUL is a no-op
// character (RFC 854) that may appear inside a line.
bool is_text(std::string_view line) {
    return std::all_of(line.begin(), line.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return u == '\t' || u == 0 || (u >= 0x20 && u != 0x7f);
    });
}

bool contains_nocase(std::string_view text, std::string_view word) {
    auto it = std::search(text.begin(), text.end(), word.begin(), word.end(),
                          [](char a, char b) { return ascii_upper(a) == b; });
    return it != text.end();
}

// A reply line: three digits, then a space, a hyphen or the end. Returns 0 otherwise.
int reply_code(std::string_view line) {
    if (line.size() < 3 || !is_text(line)) return 0;
    for (size_t i = 0; i < 3; ++i) {
        if (line[i] < '0' || line[i] > '9') return 0;
    }
    if (line.size() > 3 && line[3] != ' ' && line[3] != '-') return 0;
    int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    return code >= 100 && code < 600 ? code : 0;
}

// The command verb of a client line, upper-cased, when it is an FTP command.
std::string command_of(std::string_view line) {
    if (!is_text(line)) return {};
    std::string verb(line.substr(0, std::min(line.find(' '), line.size())));
    if (verb.size() < 3 || verb.size() > 4) return {};
    for (char& c : verb) c = ascii_upper(c);
    for (std::string_view command : kFtpCommands) {
        if (verb == command) return verb;
    }
    if (verb == "AUTH" || verb == "QUIT" || verb == "NOOP" || verb == "HELP") return verb;
    return {};
}

std::optional<unsigned> parse_number(std::string_view text, unsigned max) {
    unsigned value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || value > max) return {};
    return value;
}

// Finds "h1,h2,h3,h4,p1,p2" in `text` (PORT arguments, or anywhere in a 227 reply, whose
// format RFC 959 leaves open).
bool parse_host_port(std::string_view text, decode::IpAddress& address, uint16_t& port) {
    for (size_t start = 0; start < text.size(); ++start) {
        if (!std::isdigit(static_cast<unsigned char>(text[start]))) continue;
        if (start > 0 && std::isdigit(static_cast<unsigned char>(text[start - 1]))) continue;
        std::array<unsigned, 6> numbers{};
        size_t at = start;
        size_t count = 0;
        for (; count < 6; ++count) {
            size_t end = at;
            while (end < text.size() && std::isdigit(static_cast<unsigned char>(text[end]))) ++end;
            auto value = parse_number(text.substr(at, end - at), 255);
            if (!value) break;
            numbers[count] = *value;
            if (count < 5) {
                if (end >= text.size() || text[end] != ',') break;
                at = end + 1;
            }
        }
        if (count != 6) continue;
        std::array<uint8_t, 4> bytes{};
        for (size_t i = 0; i < 4; ++i) bytes[i] = static_cast<uint8_t>(numbers[i]);
        address = decode::IpAddress::v4(bytes.data());
        port = static_cast<uint16_t>(numbers[4] << 8 | numbers[5]);
        return port != 0;
    }
    return false;
}

// EPRT's argument "|1|132.235.1.2|6275|" or "|2|1080::8:800:200C:417A|5282|", with any
// printable delimiter (RFC 2428 section 2).
bool parse_eprt(std::string_view text, decode::IpAddress& address, uint16_t& port) {
    if (text.size() < 7) return false;
    char delimiter = text[0];
    std::array<std::string_view, 3> fields;
    size_t at = 1;
    for (auto& field : fields) {
        size_t end = text.find(delimiter, at);
        if (end == std::string_view::npos) return false;
        field = text.substr(at, end - at);
        at = end + 1;
    }
    std::string host(fields[1]);
    std::array<uint8_t, 16> bytes{};
    if (fields[0] == "1" && inet_pton(AF_INET, host.c_str(), bytes.data()) == 1) {
        address = decode::IpAddress::v4(bytes.data());
    } else if (fields[0] == "2" && inet_pton(AF_INET6, host.c_str(), bytes.data()) == 1) {
        address = decode::IpAddress::v6(bytes.data());
    } else {
        return false;
    }
    auto value = parse_number(fields[2], 65535);
    if (!value || *value == 0) return false;
    port = static_cast<uint16_t>(*value);
    return true;
}

// The port of a 229 reply: "(|||6446|)" with any delimiter (RFC 2428 section 3).
bool parse_epsv_reply(std::string_view text, uint16_t& port) {
    size_t open = text.find('(');
    size_t close = text.find(')', open);
    if (open == std::string_view::npos || close == std::string_view::npos || close - open < 6)
        return false;
    std::string_view inside = text.substr(open + 1, close - open - 1);
    char delimiter = inside[0];
    if (inside[1] != delimiter || inside[2] != delimiter || inside.back() != delimiter)
        return false;
    auto value = parse_number(inside.substr(3, inside.size() - 4), 65535);
    if (!value || *value == 0) return false;
    port = static_cast<uint16_t>(*value);
    return true;
}

enum class Stage : uint8_t { kDetecting, kControl, kData };

struct FtpState : DetectorState {
    Stage stage = Stage::kDetecting;
    std::array<Lines, 2> lines;
    std::array<uint32_t, 2> line_count{};
    bool greeting = false;          // the server's first reply was 220 (or 120)
    bool names_ftp = false;         // the greeting names FTP
    bool names_smtp = false;        // the greeting names SMTP: a mail server
    uint32_t commands = 0;          // FTP commands from the client, while detecting
    uint32_t ftp_only = 0;          // of them, commands that POP3 and NNTP clients do not send
    uint32_t replies = 0;           // numbered replies from the server, while detecting
    uint32_t ftp_only_replies = 0;  // of them, replies with a code only FTP uses
    bool distinct_command = false;  // a command only FTP clients send, while detecting
    int first_reply = 0;            // the code of the server's first line
    bool rejected = false;
    bool auth_tls = false;  // AUTH TLS or AUTH SSL awaits its reply
    bool open_inner = false;
    int data_direction = -1;  // the direction that carries a data connection's object
    std::optional<content::TransferScanner> scanner;
};

class FtpDetector final : public Detector {
  public:
    std::string_view name() const override { return "ftp"; }
    bool wants(Transport transport) const override { return transport == Transport::kTcp; }
    // Keeps reading its control connections for the data connections they announce, and
    // its data connections for the file type they carry.
    bool keeps_inspecting() const override { return true; }
    Verdict inspect(Session& session, const Segment& segment) override;
    void finish(Session& session) override;

  private:
    static Verdict inspect_data(Session& session, FtpState& state, const Segment& segment);
    static void client_line(FtpState& state, std::string_view line, Session& session,
                            const Segment& segment, bool& label);
    static void server_line(FtpState& state, std::string_view line, Session& session,
                            const Segment& segment, bool& label);
};

// The sender and the receiver of a segment, from its packet when there is one.
void endpoints(const Session& session, const Segment& segment, decode::IpAddress& sender,
               decode::IpAddress& receiver) {
    if (segment.packet != nullptr) {
        sender = segment.packet->source;
        receiver = segment.packet->target;
    } else {
        sender = segment.from_initiator ? session.initiator() : session.responder();
        receiver = segment.from_initiator ? session.responder() : session.initiator();
    }
}

void expect_data(Session& session, const decode::IpAddress& client, const decode::IpAddress& server,
                 uint16_t port) {
    ExpectedFlow flow;
    flow.client = client;
    flow.server = server;
    flow.server_port = port;
    flow.ip_protocol = decode::ip_protocol::kTcp;
    flow.protocol = ProtocolId::FTP_DATA;
    session.expect(flow);
}

// Reply codes that FTP servers send and SMTP (RFC 5321 and its AUTH and STARTTLS
// extensions) and NNTP (RFC 3977, RFC 4643) servers do not: from RFC 959 section 4.2,
// RFC 2228 (AUTH, 232 and 234), RFC 2428 (229) and RFC 3659 (213).
bool is_ftp_only_reply(int code) {
    for (int ftp : {110, 125, 150, 202, 212, 213, 226, 227, 228, 229, 232, 234, 257, 331, 332, 350,
                    425, 426, 532}) {
        if (code == ftp) return true;
    }
    return false;
}

// POP3 (RFC 1939) clients send these FTP command words too.
bool is_pop3_command(std::string_view verb) {
    for (std::string_view command : {"USER", "PASS", "STAT", "LIST", "RETR", "DELE"}) {
        if (verb == command) return true;
    }
    return false;
}

// True for a command that shows an FTP client on its own, in a connection seen mid-stream
// whose server stays silent. The verb must be one that no POP3 (RFC 1939) or NNTP (RFC 3977)
// client sends, written in upper case as FTP clients write it, with the argument RFC 959
// gives it. RETR and DELE count when their argument is a path, since POP3 gives them a
// message number.
bool is_distinct_command(std::string_view line, std::string_view verb) {
    if (verb.empty() || line.substr(0, verb.size()) != verb) return false;
    if (line.size() > verb.size() && line[verb.size()] != ' ') return false;
    std::string_view argument =
        line.size() > verb.size() + 1 ? line.substr(verb.size() + 1) : std::string_view();
    decode::IpAddress address;
    uint16_t port = 0;
    if (verb == "RETR" || verb == "DELE") {
        return !argument.empty() && !std::all_of(argument.begin(), argument.end(), [](char c) {
            return std::isdigit(static_cast<unsigned char>(c));
        });
    }
    if (is_pop3_command(verb) || verb == "MODE") return false;
    if (verb == "TYPE") {
        return !argument.empty() &&
               std::string_view("AEIL").find(argument[0]) != std::string_view::npos;
    }
    if (verb == "PORT") return parse_host_port(argument, address, port);
    if (verb == "EPRT") return parse_eprt(argument, address, port);
    for (std::string_view bare : {"PASV", "EPSV", "CDUP", "PWD", "XPWD", "SYST", "FEAT", "ABOR",
                                  "REIN", "STOU", "NLST", "MLSD", "MLST"}) {
        if (verb == bare) return true;
    }
    return !argument.empty();
}

// True for a line that an NNTP client (RFC 3977) may send too: LIST, and MODE with another
// argument than FTP's S, B or C (NNTP's MODE READER).
bool is_nntp_command(std::string_view line, std::string_view verb) {
    if (verb == "LIST") return true;
    if (verb != "MODE") return false;
    return !(line.size() == 6 && line[4] == ' ' &&
             std::string_view("SBC").find(line[5]) != std::string_view::npos);
}

// A reply that shows an FTP server when it is all a connection seen mid-stream carries:
// 230, user logged in (RFC 959). NNTP's 230 (RFC 3977, NEWNEWS) always comes with a list
// after it.
constexpr int kLoggedIn = 230;

void FtpDetector::client_line(FtpState& state, std::string_view line, Session& session,
                              const Segment& segment, bool& label) {
    bool first = state.line_count[0]++ == 0;
    std::string verb = command_of(line);
    if (state.stage == Stage::kDetecting) {
        if (first && verb.empty()) state.rejected = true;
        bool tls = contains_nocase(line, "TLS") || contains_nocase(line, "SSL");
        bool specific = !verb.empty() && verb != "QUIT" && verb != "NOOP" && verb != "HELP" &&
                        (verb != "AUTH" || tls);
        if (specific) {
            ++state.commands;
            if (!is_pop3_command(verb) && !is_nntp_command(line, verb)) ++state.ftp_only;
            if (is_distinct_command(line, verb)) state.distinct_command = true;
        }
        if (state.greeting && specific && !state.names_smtp) label = true;
    }
    if (verb == "AUTH" && (contains_nocase(line, "TLS") || contains_nocase(line, "SSL")))
        state.auth_tls = true;
    decode::IpAddress sender, receiver, address;
    endpoints(session, segment, sender, receiver);
    uint16_t port = 0;
    std::string_view argument = line.size() > 5 ? line.substr(5) : std::string_view();
    // PORT and EPRT: the server will connect to the address the client gives.
    if (verb == "PORT" && parse_host_port(argument, address, port)) {
        expect_data(session, receiver, address, port);
    } else if (verb == "EPRT" && parse_eprt(argument, address, port)) {
        expect_data(session, receiver, address, port);
    }
}

void FtpDetector::server_line(FtpState& state, std::string_view line, Session& session,
                              const Segment& segment, bool& label) {
    bool first = state.line_count[1]++ == 0;
    int code = reply_code(line);
    if (state.stage == Stage::kDetecting) {
        if (first) {
            // An FTP server's first reply is its greeting: 220, 120 or 421 (RFC 959, section
            // 5.4). Other servers that write numbered replies (NNTP's 200) start otherwise.
            const bool may_greet = code == 220 || code == 120 || code == 421;
            if (code == 0 || (!session.mid_stream() && !may_greet)) {
                state.rejected = true;
                return;
            }
            state.greeting = code == 220 || code == 120;
            state.first_reply = code;
        }
        if (state.greeting && (code == 220 || code == 120)) {
            state.names_smtp = state.names_smtp || contains_nocase(line, "SMTP");
            state.names_ftp = state.names_ftp || contains_nocase(line, "FTP");
            if (state.names_ftp && !state.names_smtp) label = true;
        }
        if (code != 0) ++state.replies;
        // A reply with text after its code, as FTP servers write them.
        if (is_ftp_only_reply(code) && line.size() > 4) ++state.ftp_only_replies;
    }
    if (state.auth_tls && code != 0 && (line.size() == 3 || line[3] == ' ')) {
        state.open_inner = code == 234;
        state.auth_tls = false;
    }
    decode::IpAddress sender, receiver, address;
    endpoints(session, segment, sender, receiver);
    uint16_t port = 0;
    if (code == 227 && parse_host_port(line.substr(4), address, port)) {
        expect_data(session, receiver, address, port);
        // Behind NAT the announced address is the server's private one; the client
        // connects to the address it reached the server on.
        if (!(address == sender)) expect_data(session, receiver, sender, port);
    } else if (code == 229 && parse_epsv_reply(line, port)) {
        expect_data(session, receiver, sender, port);
    }
}

Verdict FtpDetector::inspect_data(Session& session, FtpState& state, const Segment& segment) {
    int index = segment.from_initiator ? 0 : 1;
    if (state.data_direction < 0) state.data_direction = index;
    if (index != state.data_direction) return Verdict::kContinue;
    if (!state.scanner) state.scanner.emplace();
    if (state.scanner->feed(segment.data, session)) return Verdict::kContinue;
    return Verdict::kDone;
}

Verdict FtpDetector::inspect(Session& session, const Segment& segment) {
    auto& state = session.state<FtpState>(slot);
    if (state.stage == Stage::kDetecting) {
        if (session.has(ProtocolId::FTP_DATA)) {
            state.stage = Stage::kData;
        } else if (session.classified()) {
            return Verdict::kNotMine;
        }
    }
    if (state.stage == Stage::kData) {
        Verdict verdict = inspect_data(session, state, segment);
        if (verdict == Verdict::kDone) session.drop_state(slot);
        return verdict;
    }

    int index = segment.from_initiator ? 0 : 1;
    bool label = false;
    state.lines[index].feed(segment.data, [&](std::string_view line) {
        if (index == 0) {
            client_line(state, line, session, segment, label);
        } else {
            server_line(state, line, session, segment, label);
        }
    });
    if (state.stage == Stage::kDetecting) {
        // A capture that began after the greeting: FTP commands followed by numbered
        // replies; with the server's side missing, commands that POP3 does not have; with
        // the client's side missing, replies that only FTP servers send.
        bool server_silent = state.line_count[1] == 0;
        bool client_silent = state.line_count[0] == 0;
        if (!state.greeting && session.mid_stream() && state.ftp_only > 0 && state.replies > 0)
            label = true;
        if (server_silent && state.commands >= 2 && state.ftp_only > 0) label = true;
        if (server_silent && state.distinct_command) label = true;
        if (client_silent && state.ftp_only_replies > 0) label = true;
        if (label) {
            session.add(ProtocolId::FTP);
            state.stage = Stage::kControl;
        } else if (state.rejected || state.names_smtp || !is_text(state.lines[index].unfinished())) {
            return Verdict::kNotMine;
        }
    }
    if (state.open_inner && state.stage == Stage::kControl) {
        session.open_inner_layer();
        return Verdict::kDone;
    }
    return Verdict::kContinue;
}

void FtpDetector::finish(Session& session) {
    auto& state = session.state<FtpState>(slot);
    if (state.stage == Stage::kData && state.scanner) state.scanner->finish(session);
    // A flow that carried one reply and nothing else, from a session seen mid-stream.
    bool lone_reply =
        state.line_count[0] == 0 && state.line_count[1] == 1 && !state.lines[1].has_partial();
    if (state.stage == Stage::kDetecting && lone_reply && state.first_reply == kLoggedIn)
        session.add(ProtocolId::FTP);
}

}  // namespace

std::unique_ptr<Detector> make_ftp_detector() { return std::make_unique<FtpDetector>(); }

}  // namespace pw::detect
