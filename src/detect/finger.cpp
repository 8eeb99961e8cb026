// FINGER (RFC 1288). A query is one short line and the reply is text, which is the shape of
// WHOIS and Gopher as well. The detector therefore looks only at connections to the finger
// port, and there it requires a well-formed query followed by a text reply.
#include "detect/finger.h"

#include <string>

#include "detect/detector.h"

namespace pw::detect {
namespace finger {
namespace {

bool is_host_char(uint8_t c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_' || c == ':';
}

bool is_user_char(uint8_t c) { return c > 0x20 && c < 0x7F && c != '@' && c != '/'; }

}  // namespace

bool is_query(std::span<const uint8_t> data) {
    if (data.size() < 2 || data[data.size() - 2] != '\r' || data.back() != '\n') return false;
    auto line = data.first(data.size() - 2);
    size_t pos = 0;
    if (line.size() >= 2 && line[0] == '/' && (line[1] == 'W' || line[1] == 'w')) {
        pos = 2;
        if (pos < line.size() && line[pos] != ' ') return false;
    }
    while (pos < line.size() && line[pos] == ' ') ++pos;
    while (pos < line.size() && is_user_char(line[pos])) ++pos;
    // Each "@host" is a request to forward the query to that host.
    while (pos < line.size() && line[pos] == '@') {
        size_t start = ++pos;
        while (pos < line.size() && is_host_char(line[pos])) ++pos;
        if (pos == start) return false;
    }
    // Some clients pad the query with spaces before CRLF.
    while (pos < line.size() && line[pos] == ' ') ++pos;
    return pos == line.size();
}

bool is_reply_text(std::span<const uint8_t> data) {
    for (uint8_t c : data) {
        bool text = (c >= 0x20 && c != 0x7F) || c == '\r' || c == '\n' || c == '\t' || c == '\f' ||
                    c == 0x07 || c == 0x08 || c == 0x1B;
        if (!text) return false;
    }
    return !data.empty();
}

}  // namespace finger

namespace {

constexpr uint16_t kFingerPort = 79;
// RFC 1288 sets no limit; real queries are a user name and a few hosts long.
constexpr size_t kMaxQueryBytes = 512;

struct FingerState : DetectorState {
    std::string query;
    bool query_complete = false;
};

class FingerDetector final : public Detector {
  public:
    std::string_view name() const override { return "finger"; }
    bool wants(Transport transport) const override { return transport == Transport::kTcp; }

    Verdict inspect(Session& session, const Segment& segment) override {
        if (session.responder_port() != kFingerPort) return Verdict::kNotMine;
        auto& state = session.state<FingerState>(slot);
        if (segment.from_initiator) return read_query(session, state, segment.data);
        // The server speaks only after the whole query.
        if (!state.query_complete || !finger::is_reply_text(segment.data)) {
            return reject(session);
        }
        session.add(ProtocolId::FINGER);
        session.drop_state(slot);
        return Verdict::kDone;
    }

  private:
    Verdict read_query(Session& session, FingerState& state, std::span<const uint8_t> data) {
        // The client sends nothing after its query line.
        if (state.query_complete || state.query.size() + data.size() > kMaxQueryBytes) {
            return reject(session);
        }
        state.query.append(reinterpret_cast<const char*>(data.data()), data.size());
        if (state.query.find('\n') == std::string::npos) return Verdict::kContinue;
        auto query =
            std::span(reinterpret_cast<const uint8_t*>(state.query.data()), state.query.size());
        if (!finger::is_query(query)) return reject(session);
        state.query_complete = true;
        return Verdict::kContinue;
    }

    Verdict reject(Session& session) {
        session.drop_state(slot);
        return Verdict::kNotMine;
    }
};

}  // namespace

std::unique_ptr<Detector> make_finger_detector() { return std::make_unique<FingerDetector>(); }

}  // namespace pw::detect
