// SSH, by the identification string each side sends first (RFC 4253 section 4.2):
// "SSH-protoversion-softwareversion SP comments CR LF", at most 255 characters. A server
// may send other lines before it; a client may not. SSH 1 used the same string.

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>

#include "detect/detector.h"

namespace pw::detect {
namespace {

constexpr size_t kMaxLine = 255;
// Lines a server may send before its identification string that this detector reads.
constexpr uint32_t kMaxLinesBefore = 8;

enum class Line : uint8_t { kIdentification, kOther, kInvalid, kIncomplete };

bool is_digit(uint8_t c) { return c >= '0' && c <= '9'; }
bool is_printable(uint8_t c) { return c >= 0x20 && c < 0x7f; }

// True when `line` (without its line end) starts "SSH-protoversion-softwareversion".
bool is_identification(std::string_view line) {
    if (line.substr(0, 4) != "SSH-") return false;
    // protoversion: digits '.' digits, then '-' and a non-empty softwareversion.
    size_t i = 4;
    size_t major = i;
    while (i < line.size() && is_digit(line[i])) ++i;
    if (i == major || i >= line.size() || line[i] != '.') return false;
    size_t minor = ++i;
    while (i < line.size() && is_digit(line[i])) ++i;
    if (i == minor || i >= line.size() || line[i] != '-') return false;
    return i + 1 < line.size() && line[i + 1] != ' ';
}

// Classifies the line at the start of `text`, setting `length` to its size with the line
// ending when it is complete. Some servers pad the string with NUL bytes, with or without
// CR LF after them; the string is judged without the padding.
Line read_line(std::string_view text, size_t& length) {
    size_t end = text.find('\n');
    size_t printable = 0;
    while (printable < text.size() && is_printable(static_cast<uint8_t>(text[printable])))
        ++printable;
    if (end == std::string_view::npos) {
        // A CR at the end may be the first half of the line's CR LF.
        if (printable + 1 == text.size() && text.back() == '\r') ++printable;
        if (printable < text.size()) {
            bool padding = text[printable] == '\0';
            return padding && is_identification(text.substr(0, printable)) ? Line::kIdentification
                                                                           : Line::kInvalid;
        }
        if (text.size() > kMaxLine) return Line::kInvalid;
        return Line::kIncomplete;
    }
    length = end + 1;
    size_t stop = end > 0 && text[end - 1] == '\r' ? end - 1 : end;
    if (end > kMaxLine) return Line::kInvalid;
    std::string_view line = text.substr(0, stop);
    if (printable < stop) {
        bool padding = line.find_first_not_of('\0', printable) == std::string_view::npos;
        return padding && is_identification(line.substr(0, printable)) ? Line::kIdentification
                                                                       : Line::kInvalid;
    }
    if (is_identification(line)) return Line::kIdentification;
    return line.substr(0, 4) == "SSH-" ? Line::kInvalid : Line::kOther;
}

struct SshState : DetectorState {
    std::array<std::string, 2> pending;  // the start of each direction's stream
    std::array<uint32_t, 2> lines{};
    std::array<bool, 2> failed{};
    std::array<bool, 2> seen{};
};

class SshDetector final : public Detector {
  public:
    std::string_view name() const override { return "ssh"; }
    bool wants(Transport transport) const override { return transport == Transport::kTcp; }
    // A client that speaks another protocol to an SSH server still gets the server's
    // identification string, so the responder's first bytes are read even when another
    // detector has classified the flow from the client's.
    bool keeps_inspecting() const override { return true; }
    Verdict inspect(Session& session, const Segment& segment) override;
};

Verdict SshDetector::inspect(Session& session, const Segment& segment) {
    auto& state = session.state<SshState>(slot);
    int index = segment.from_initiator ? 0 : 1;
    bool first_of_direction = !state.seen[index];
    state.seen[index] = true;
    if (session.classified()) {
        // Only the responder's first bytes, once, on a flow another detector classified.
        if (session.has(ProtocolId::SSH) || index == 0 || !first_of_direction)
            return Verdict::kNotMine;
    }
    if (state.failed[index]) return Verdict::kContinue;

    std::string& text = state.pending[index];
    size_t room = kMaxLine * (kMaxLinesBefore + 1) - text.size();
    size_t take = std::min(room, segment.data.size());
    text.append(reinterpret_cast<const char*>(segment.data.data()), take);

    while (!state.failed[index]) {
        size_t length = 0;
        Line line = read_line(text, length);
        if (line == Line::kIdentification) {
            session.add(ProtocolId::SSH);
            return Verdict::kDone;
        }
        if (line == Line::kIncomplete) break;
        // Only a server (the responder) may send other lines first, and only to a client
        // that identified itself.
        bool other_allowed = index == 1 && !state.failed[0];
        if (line == Line::kInvalid || !other_allowed || ++state.lines[index] > kMaxLinesBefore) {
            state.failed[index] = true;
            text.clear();
            break;
        }
        text.erase(0, length);
    }
    if (session.classified()) return Verdict::kNotMine;
    // A client that did not identify itself may still meet a server that does, so the
    // flow is given up only when both directions failed.
    if (state.failed[0] && state.failed[1]) return Verdict::kNotMine;
    return Verdict::kContinue;
}

}  // namespace

std::unique_ptr<Detector> make_ssh_detector() { return std::make_unique<SshDetector>(); }

}  // namespace pw::detect
