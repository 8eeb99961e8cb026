// Feeds both directions of a TCP stream to the stream reassembler, segment by segment with
// arbitrary sequence numbers, flags and overlaps, and checks what it promises. Pieces come
// in order and contiguous unless a gap is counted, and the buffer stays within its limits.
//
// Input: one byte of limits, then records of [flags][seq: 4 bytes][length][data].

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "flow/reassembly_memory.h"
#include "flow/tcp_reassembly.h"

namespace {

using pw::flow::ReassemblyLimits;
using pw::flow::ReassemblyMemory;
using pw::flow::StreamReassembler;

constexpr uint8_t kSyn = 0x01;
constexpr uint8_t kResponder = 0x02;
constexpr uint8_t kStop = 0x04;
constexpr uint8_t kEvict = 0x08;
constexpr uint8_t kFlush = 0x10;

uint32_t load_be32(const uint8_t* bytes) {
    return uint32_t{bytes[0]} << 24 | uint32_t{bytes[1]} << 16 | uint32_t{bytes[2]} << 8 | bytes[3];
}

struct Checked {
    StreamReassembler stream;
    uint64_t expected_offset = 0;
    uint64_t gaps_seen = 0;

    // Checks each delivered piece: it starts where the last one ended, or later when the
    // reassembler counted a gap to get there.
    StreamReassembler::Deliver checker() {
        return [this](std::span<const uint8_t> data, uint64_t offset) {
            if (data.empty()) std::abort();
            if (offset != expected_offset) {
                if (offset < expected_offset || stream.gaps() == gaps_seen) std::abort();
            }
            gaps_seen = stream.gaps();
            expected_offset = offset + data.size();
        };
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    ReassemblyLimits limits;
    limits.max_buffered_segments = 1 + (data[0] & 0x0f);
    limits.max_buffered_bytes = 64u << (data[0] >> 4);
    ReassemblyMemory memory;
    Checked sides[2];
    for (Checked& side : sides) side.stream.set_memory(&memory);

    size_t at = 1;
    while (at + 6 <= size) {
        uint8_t flags = data[at];
        uint32_t seq = load_be32(data + at + 1);
        size_t length = data[at + 5];
        at += 6;
        if (length > size - at) length = size - at;
        std::span<const uint8_t> payload(data + at, length);
        at += length;

        Checked& side = sides[(flags & kResponder) ? 1 : 0];
        if (flags & kSyn) side.stream.set_initial_sequence(seq);
        side.stream.add(seq, payload, limits, side.checker());
        if (side.stream.buffered_bytes() > limits.max_buffered_bytes) std::abort();
        if (flags & kEvict) memory.evict_oldest();
        if (flags & kFlush) side.stream.flush(side.checker());
        if (flags & kStop) side.stream.stop();
        if (side.stream.delivered() != side.expected_offset) std::abort();
    }
    for (Checked& side : sides) side.stream.flush(side.checker());
    if (memory.bytes() != 0) std::abort();  // every buffered byte was delivered or freed
    return 0;
}
