// HTTP/2 with prior knowledge (RFC 9113 section 3.3): the client's connection preface
// "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n". A capture picked up mid-connection may show the
// server's SETTINGS frame before the client's preface, so a direction that starts with
// frames keeps the flow in play until the preface arrives. The HTTP detector recognizes the
// h2c upgrade from HTTP/1.1 (RFC 7540 section 3.2). This one then follows the frames: the
// client's from its preface, and the server's from the SETTINGS frame after its 101
// response.
//
// After the preface the frames of both directions are followed for a while, because a
// DATA frame that contains a DNS message means DNS over HTTPS (RFC 8484) sent in the clear,
// and the bodies of the streams carry files.

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "detect/detector.h"
#include "detect/http2_frames.h"

namespace pw::detect {
namespace {

using http::FrameWalker;

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr size_t kFrameHeader = 9;

std::string_view as_text(std::span<const uint8_t> data) {
    return {reinterpret_cast<const char*>(data.data()), data.size()};
}
constexpr uint8_t kSettings = 4;
constexpr uint8_t kMaxFrameType = 9;  // CONTINUATION, the highest type RFC 9113 defines
// Segments the detector reads waiting for the preface.
constexpr uint32_t kMaxSegmentsBeforePreface = 8;

// True when `data` starts with the header of a frame that could open a direction: any
// defined type within the default maximum frame size, and for SETTINGS stream 0 and a
// whole number of 6-byte settings (RFC 9113 section 6.5).
bool starts_with_frame(std::span<const uint8_t> data) {
    if (data.size() < kFrameHeader) return false;
    uint32_t length = static_cast<uint32_t>(data[0]) << 16 | data[1] << 8 | data[2];
    uint8_t type = data[3];
    uint32_t stream =
        (static_cast<uint32_t>(data[5] & 0x7f) << 24) | data[6] << 16 | data[7] << 8 | data[8];
    if (type > kMaxFrameType || length > (1u << 14)) return false;
    if (type == kSettings) return stream == 0 && length % 6 == 0;
    return true;
}

bool starts_with_settings(std::span<const uint8_t> data) {
    return starts_with_frame(data) && data[3] == kSettings;
}

// True when `data`, the start of a request, contains the HTTP2-Settings header that every
// h2c upgrade request carries (RFC 7540 section 3.2.1). The header's value names no
// protocol, so the Upgrade header's "h2c" token, in lower or upper case, is looked for
// first.
bool asks_h2c_upgrade(std::span<const uint8_t> data) {
    std::string_view text = as_text(data);
    if (text.find("h2c") == std::string_view::npos && text.find("H2C") == std::string_view::npos) {
        return false;
    }
    constexpr std::string_view kHeader = "\r\nhttp2-settings:";
    auto same = [](char a, char b) {
        return (a >= 'A' && a <= 'Z' ? static_cast<char>(a - 'A' + 'a') : a) == b;
    };
    return std::search(text.begin(), text.end(), kHeader.begin(), kHeader.end(), same) !=
           text.end();
}

constexpr std::string_view kSwitching = "HTTP/1.1 101";

// Returns where the server's frames start in a segment of an upgraded connection: after
// the head of the 101 response the segment starts with, or at its start once `switched`
// (the 101 response came in an earlier segment).
std::optional<size_t> server_frames_start(std::span<const uint8_t> data, bool switched) {
    if (switched && starts_with_settings(data)) return 0;
    constexpr std::string_view kHeadEnd = "\r\n\r\n";
    std::string_view text = as_text(data);
    if (!text.starts_with(kSwitching)) return std::nullopt;
    const size_t end = text.find(kHeadEnd);
    if (end == std::string_view::npos) return std::nullopt;
    const size_t start = end + kHeadEnd.size();
    if (!starts_with_settings(data.subspan(start))) return std::nullopt;
    return start;
}

bool could_be_http1(std::span<const uint8_t> data) {
    // Upper-case letters start every method and "HTTP/": the flow may still upgrade.
    return !data.empty() && data[0] >= 'A' && data[0] <= 'Z';
}

struct Http2State : DetectorState {
    std::array<std::string, 2> start;  // a preface split over segments
    uint32_t segments = 0;
    bool preface_seen = false;
    std::array<FrameWalker, 2> frames;
    // The direction started with a frame before the preface came (a server's SETTINGS):
    // its walker follows it from its first byte.
    std::array<bool, 2> frames_first{};
    // An h2c upgrade request was seen. `walking` marks the directions whose frames began.
    bool upgrade = false;
    bool switched = false;  // the server's 101 response was seen
    std::array<bool, 2> walking{};
};

class Http2Detector final : public Detector {
  public:
    std::string_view name() const override { return "http2"; }
    bool wants(Transport transport) const override { return transport == Transport::kTcp; }
    // Follows the frames after the preface, which only this detector recognizes.
    bool keeps_inspecting() const override { return true; }
    Verdict inspect(Session& session, const Segment& segment) override;
    void finish(Session& session) override;

  private:
    Verdict look_for_preface(Session& session, Http2State& state, const Segment& segment);
    Verdict follow_upgrade(Session& session, Http2State& state, const Segment& segment);
    Verdict follow_frames(Session& session, Http2State& state, const Segment& segment);
};

Verdict Http2Detector::inspect(Session& session, const Segment& segment) {
    auto& state = session.state<Http2State>(slot);
    if (state.preface_seen) return follow_frames(session, state, segment);
    if (!state.upgrade && segment.from_initiator && segment.offset == 0 &&
        could_be_http1(segment.data) && asks_h2c_upgrade(segment.data)) {
        state.upgrade = true;
    }
    if (state.upgrade) return follow_upgrade(session, state, segment);
    if (session.classified()) return Verdict::kNotMine;
    return look_for_preface(session, state, segment);
}

Verdict Http2Detector::follow_upgrade(Session& session, Http2State& state, const Segment& segment) {
    const int direction = segment.from_initiator ? 0 : 1;
    if (!state.walking[direction]) {
        std::optional<size_t> start;
        if (direction == 0 && as_text(segment.data).starts_with(kPreface)) {
            start = kPreface.size();
        } else if (direction == 1) {
            start = server_frames_start(segment.data, state.switched);
            if (as_text(segment.data).starts_with(kSwitching)) {
                state.switched = true;
            } else if (!state.switched && as_text(segment.data).starts_with("HTTP/")) {
                return Verdict::kNotMine;  // the server responded in HTTP/1.1
            }
        }
        if (!start) {
            const bool waiting = !state.walking[0] && !state.walking[1];
            if (waiting && ++state.segments >= kMaxSegmentsBeforePreface) return Verdict::kNotMine;
            return Verdict::kContinue;
        }
        state.walking[direction] = true;
        state.frames[direction].set_start(segment.offset + *start);
    }
    return follow_frames(session, state, segment);
}

Verdict Http2Detector::look_for_preface(Session& session, Http2State& state,
                                        const Segment& segment) {
    int direction = segment.from_initiator ? 0 : 1;
    std::string& start = state.start[direction];
    if (segment.offset == 0 || !start.empty()) {
        size_t take = std::min(segment.data.size(), kPreface.size() - start.size());
        start.append(reinterpret_cast<const char*>(segment.data.data()), take);
        if (start == kPreface) {
            session.add(ProtocolId::HTTP2);
            state.preface_seen = true;
            state.frames[direction].set_start(kPreface.size());
            return follow_frames(session, state, segment);
        }
        if (!kPreface.starts_with(start)) start.clear();
    }
    if (segment.offset == 0 && starts_with_frame(segment.data))
        state.frames_first[direction] = true;
    if (state.frames_first[direction]) {
        state.frames[direction].feed(segment.data, segment.offset, session);
    }
    if (++state.segments >= kMaxSegmentsBeforePreface) return Verdict::kNotMine;
    if (starts_with_frame(segment.data) || could_be_http1(segment.data) || !start.empty())
        return Verdict::kContinue;
    return Verdict::kNotMine;
}

Verdict Http2Detector::follow_frames(Session& session, Http2State& state, const Segment& segment) {
    int direction = segment.from_initiator ? 0 : 1;
    FrameWalker& walker = state.frames[direction];
    walker.feed(segment.data, segment.offset, session);
    if (walker.found_dns()) {
        session.add(ProtocolId::DNS);
        return Verdict::kDone;
    }
    bool done = state.frames[0].done() && state.frames[1].done();
    return done ? Verdict::kDone : Verdict::kContinue;
}

void Http2Detector::finish(Session& session) {
    auto* state = session.find_state<Http2State>(slot);
    if (state == nullptr) return;
    for (FrameWalker& walker : state->frames) walker.finish(session);
}

}  // namespace

std::unique_ptr<Detector> make_http2_detector() { return std::make_unique<Http2Detector>(); }

}  // namespace pw::detect
