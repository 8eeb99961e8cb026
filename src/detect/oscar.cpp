// OSCAR, the AOL and ICQ messaging protocol. Every message travels in a FLAP frame, and a
// connection's first frame on each side is the sign-on frame on channel 1 that carries FLAP
// version 1. Frames of one direction number themselves consecutively.
#include "detect/oscar.h"

#include <algorithm>

#include "detect/detector.h"

namespace pw::detect {
namespace oscar {
namespace {

constexpr uint8_t kFlapMarker = 0x2A;
constexpr size_t kHeaderBytes = 6;
// Channels: 1 sign-on, 2 SNAC data, 3 error, 4 sign-off, 5 keep-alive.
constexpr uint8_t kMaxChannel = 5;

uint16_t read_u16(std::span<const uint8_t> data, size_t at) {
    return static_cast<uint16_t>(data[at] << 8 | data[at + 1]);
}

}  // namespace

FlapRun scan_flaps(std::span<const uint8_t> data) {
    FlapRun run;
    run.in_sequence = true;
    size_t pos = 0;
    while (pos < data.size()) {
        if (data[pos] != kFlapMarker) return run;
        if (pos + 1 < data.size() && (data[pos + 1] == 0 || data[pos + 1] > kMaxChannel)) {
            return run;
        }
        if (pos + kHeaderBytes > data.size()) {
            run.header_cut = true;
            break;
        }
        uint8_t channel = data[pos + 1];
        uint16_t sequence = read_u16(data, pos + 2);
        size_t length = read_u16(data, pos + 4);
        size_t body = pos + kHeaderBytes;
        if (run.frames == 0) {
            run.first_sequence = sequence;
            run.sign_on = channel == 1 && length >= 4 && body + 4 <= data.size() &&
                          read_u16(data, body) == 0 && read_u16(data, body + 2) == 1;
        } else if (sequence != static_cast<uint16_t>(run.last_sequence + 1)) {
            run.in_sequence = false;
        }
        if (body + length > data.size()) {
            run.missing = body + length - data.size();
            break;
        }
        run.last_sequence = sequence;
        ++run.frames;
        pos = body + length;
    }
    run.valid = true;
    run.exact = pos == data.size() && run.frames > 0;
    return run;
}

}  // namespace oscar

namespace {

constexpr uint32_t kMaxSegments = 8;

struct OscarState : DetectorState {
    uint32_t segments = 0;
    size_t skip[2] = {0, 0};        // bytes of a frame that an earlier segment started
    bool lost[2] = {false, false};  // frame boundaries of this side are unknown
    bool has_last[2] = {false, false};
    uint16_t last_sequence[2] = {0, 0};
};

class OscarDetector final : public Detector {
  public:
    std::string_view name() const override { return "oscar"; }
    bool wants(Transport transport) const override { return transport == Transport::kTcp; }

    Verdict inspect(Session& session, const Segment& segment) override {
        auto& state = session.state<OscarState>(slot);
        const int side = segment.from_initiator ? 0 : 1;
        if (++state.segments > kMaxSegments) return reject(session);
        if (state.lost[side]) return Verdict::kContinue;
        auto data = segment.data;
        size_t skipped = std::min(state.skip[side], data.size());
        state.skip[side] -= skipped;
        data = data.subspan(skipped);
        if (data.empty()) return Verdict::kContinue;

        oscar::FlapRun run = oscar::scan_flaps(data);
        if (!run.valid) return reject(session);
        state.skip[side] = run.missing;
        state.lost[side] = run.header_cut;
        if (run.exact) {
            // A sign-on frame, two frames numbered in order, or a frame that continues the
            // numbering of this side's previous segment.
            bool continues =
                state.has_last[side] &&
                run.first_sequence == static_cast<uint16_t>(state.last_sequence[side] + 1);
            if (run.sign_on || (run.frames >= 2 && run.in_sequence) ||
                (continues && run.in_sequence)) {
                session.add(ProtocolId::OSCAR);
                session.drop_state(slot);
                return Verdict::kDone;
            }
            state.has_last[side] = true;
            state.last_sequence[side] = run.last_sequence;
        } else {
            state.has_last[side] = false;
        }
        return Verdict::kContinue;
    }

  private:
    Verdict reject(Session& session) {
        session.drop_state(slot);
        return Verdict::kNotMine;
    }
};

}  // namespace

std::unique_ptr<Detector> make_oscar_detector() { return std::make_unique<OscarDetector>(); }

}  // namespace pw::detect
