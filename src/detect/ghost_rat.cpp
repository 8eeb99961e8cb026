// The Gh0st remote access trojan's framing over TCP. Each message starts with a flag of a
// few printable bytes ("Gh0st" in the original source, other words in its many variants),
// the message's total length and its uncompressed length as 32-bit little-endian numbers,
// then a zlib stream. The flag varies, so any printable flag of 3 to 16 bytes is tried, and
// the total length, the zlib header and a bounded inflate of the stream must all agree.

#include "detect/ghost_rat.h"

#include <zlib.h>

#include <array>

namespace pw::detect {
namespace {

constexpr size_t kMinFlag = 3;
constexpr size_t kMaxFlag = 16;
constexpr uint32_t kMaxTotalLength = 16u << 20;
constexpr uint32_t kMaxPlainLength = 64u << 20;
// Inflating stops after this much input or output: enough to verify a message of a few
// kilobytes whole and to see a longer stream start without error.
constexpr size_t kMaxInflateInput = 64 * 1024;
constexpr size_t kMaxInflateOutput = 256 * 1024;
// A stream cut short must at least get past its first bytes to count as verified.
constexpr size_t kMinPartialInput = 8;
// Segments without a frame at their start a flow may show, one per direction, before the
// detector gives up.
constexpr uint32_t kMaxUnframedSegments = 2;

uint32_t read_le32(std::span<const uint8_t> data, size_t at) {
    return uint32_t{data[at]} | uint32_t{data[at + 1]} << 8 | uint32_t{data[at + 2]} << 16 |
           uint32_t{data[at + 3]} << 24;
}

enum class Inflated { kFailed, kPartial, kWhole };

// Inflates `stream` (at most kMaxInflateInput of it) and checks it against `plain_length`.
// Returns kWhole when the stream ended, used all of `stream` and produced exactly
// plain_length bytes, and kPartial when it inflated without error as far as the bounds
// allowed.
Inflated inflate_payload(std::span<const uint8_t> stream, uint32_t plain_length, bool whole) {
    z_stream z{};
    if (inflateInit(&z) != Z_OK) return Inflated::kFailed;
    size_t input = std::min(stream.size(), kMaxInflateInput);
    z.next_in = const_cast<Bytef*>(stream.data());
    z.avail_in = static_cast<uInt>(input);
    std::array<Bytef, 16 * 1024> out;
    size_t produced = 0;
    int status = Z_OK;
    while (status == Z_OK && produced < kMaxInflateOutput && produced <= plain_length) {
        z.next_out = out.data();
        z.avail_out = static_cast<uInt>(out.size());
        status = inflate(&z, Z_NO_FLUSH);
        produced += out.size() - z.avail_out;
        if (status == Z_BUF_ERROR || (status == Z_OK && z.avail_in == 0)) break;
    }
    size_t consumed = input - z.avail_in;
    inflateEnd(&z);
    if (status == Z_STREAM_END) {
        bool exact = produced == plain_length && consumed == stream.size();
        return exact && whole ? Inflated::kWhole : Inflated::kFailed;
    }
    if (status != Z_OK && status != Z_BUF_ERROR) return Inflated::kFailed;
    if (produced > plain_length) return Inflated::kFailed;
    // A whole message whose stream did not end within the bounds stays unverified, unless
    // the bounds cut it.
    bool bounded = input < stream.size() || produced >= kMaxInflateOutput;
    if (whole && !bounded) return Inflated::kFailed;
    return consumed >= kMinPartialInput ? Inflated::kPartial : Inflated::kFailed;
}

bool printable_flag(std::span<const uint8_t> flag) {
    for (uint8_t c : flag) {
        if (c < 0x21 || c > 0x7E) return false;
    }
    return true;
}

bool zlib_header(uint8_t cmf, uint8_t flags) {
    // Deflate with a 32 KiB window, a header check that makes the pair a multiple of 31, and
    // no preset dictionary (RFC 1950).
    return cmf == 0x78 && (cmf << 8 | flags) % 31 == 0 && (flags & 0x20) == 0;
}

std::optional<GhostFrame> try_flag(std::span<const uint8_t> data, size_t flag_length) {
    size_t header = flag_length + 8;
    if (data.size() < header + 2 || !printable_flag(data.first(flag_length))) return std::nullopt;
    GhostFrame frame;
    frame.flag_length = flag_length;
    frame.total_length = read_le32(data, flag_length);
    frame.plain_length = read_le32(data, flag_length + 4);
    if (frame.total_length < header + 8 || frame.total_length > kMaxTotalLength) {
        return std::nullopt;
    }
    if (frame.plain_length > kMaxPlainLength) return std::nullopt;
    if (!zlib_header(data[header], data[header + 1])) return std::nullopt;
    bool whole = data.size() >= frame.total_length;
    size_t available = std::min<size_t>(data.size(), frame.total_length);
    Inflated inflated =
        inflate_payload(data.subspan(header, available - header), frame.plain_length, whole);
    if (inflated == Inflated::kFailed) return std::nullopt;
    frame.whole = inflated == Inflated::kWhole;
    return frame;
}

class GhostRatState final : public DetectorState {
public:
    uint32_t unframed_segments = 0;
};

class GhostRatDetector final : public Detector {
public:
    std::string_view name() const override { return "ghost_rat"; }
    bool wants(Transport transport) const override { return transport == Transport::kTcp; }

    Verdict inspect(Session& session, const Segment& segment) override {
        std::optional<GhostFrame> frame = parse_ghost_frame(segment.data);
        if (frame) {
            // The framing is the header, and the stream that inflated is the compressed payload.
            session.add(ProtocolId::GHOST_RAT_HEADER);
            session.add(ProtocolId::GHOST_RAT_DATA);
            return Verdict::kDone;
        }
        auto& state = session.state<GhostRatState>(slot);
        return ++state.unframed_segments >= kMaxUnframedSegments ? Verdict::kNotMine
                                                                 : Verdict::kContinue;
    }
};

}  // namespace

std::optional<GhostFrame> parse_ghost_frame(std::span<const uint8_t> data) {
    for (size_t flag_length = kMinFlag; flag_length <= kMaxFlag; ++flag_length) {
        std::optional<GhostFrame> frame = try_flag(data, flag_length);
        if (frame) return frame;
    }
    return std::nullopt;
}

std::unique_ptr<Detector> make_ghost_rat_detector() { return std::make_unique<GhostRatDetector>(); }

}  // namespace pw::detect
