#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <vector>

#include "flow/reassembly_memory.h"

namespace pw::flow {

// Bounds on the data one direction of a TCP stream may hold while it waits for a gap to
// fill.
struct ReassemblyLimits {
    size_t max_buffered_bytes = 64 * 1024;
    size_t max_buffered_segments = 64;
};

// Puts one direction of a TCP stream back in sequence order for inspection. Data already
// delivered is trimmed from retransmissions and overlaps, and of two overlapping buffered
// copies the first wins. Out-of-order segments wait within the limits, and without a
// handshake the first data seen sets the start. When the buffer exceeds
// its limits the gap is skipped and counted, so memory stays bounded. A segment more than
// 8 MiB ahead is dropped unless the next such segment continues it.
class StreamReassembler {
  public:
    using Deliver = std::function<void(std::span<const uint8_t> data, uint64_t offset)>;

    StreamReassembler() = default;
    ~StreamReassembler();
    // The memory account links streams by address, so a stream stays where it is.
    StreamReassembler(const StreamReassembler&) = delete;
    StreamReassembler& operator=(const StreamReassembler&) = delete;

    // Counts this stream's out-of-order data in `memory`, which must outlive the stream.
    void set_memory(ReassemblyMemory* memory);

    // Sets the initial sequence number from a SYN: data starts at isn + 1. It has no effect
    // once data has been delivered or buffered.
    void set_initial_sequence(uint32_t isn);

    // Adds a segment's data; calls `deliver` for each piece that is now in order. `offset`
    // is the piece's position in the stream, counted from the first byte.
    void add(uint32_t seq, std::span<const uint8_t> data, const ReassemblyLimits& limits,
             const Deliver& deliver);

    // Delivers what is still buffered, skipping the gaps (at the end of the flow).
    void flush(const Deliver& deliver);

    // Frees the buffer and ignores all further data (inspection has ended).
    void stop();

    // Discards the out-of-order data and counts a gap; the stream goes on with the data
    // that follows what was delivered. Returns the bytes freed.
    size_t drop_buffered();

    // Bytes held for out-of-order data, with an estimate of the container's bookkeeping.
    size_t memory_bytes() const;

    uint64_t gaps() const { return gaps_; }
    uint64_t delivered() const { return delivered_; }
    size_t buffered_bytes() const { return pending_ != nullptr ? pending_->bytes : 0; }
    bool stopped() const { return stopped_; }

  private:
    // The out-of-order data of a stream, allocated when a segment first arrives ahead of
    // the stream and freed once none is left, so that a stream in order costs no more
    // than its counters. It also carries the stream's place in the memory account.
    struct Pending {
        // Segments keyed by their distance ahead of next_seq_ at insertion time, stored as
        // absolute stream offsets so that wrap-around needs no special case.
        std::map<uint64_t, std::vector<uint8_t>> segments;
        size_t bytes = 0;            // data bytes in `segments`
        size_t accounted_bytes = 0;  // this stream's share of ReassemblyMemory::bytes_
        bool linked = false;         // on the memory account's list
        StreamReassembler* memory_prev = nullptr;
        StreamReassembler* memory_next = nullptr;
    };

    void deliver_in_order(const Deliver& deliver);
    void skip_to_first_buffered(const Deliver& deliver);
    void update_memory();
    void clear_pending();
    bool has_pending() const { return pending_ != nullptr && !pending_->segments.empty(); }

    bool started_ = false;
    bool stopped_ = false;
    bool has_jump_ = false;   // a segment far ahead came last, ending at jump_end_
    uint32_t next_seq_ = 0;   // sequence number of the next byte to deliver
    uint64_t delivered_ = 0;  // bytes delivered so far (the stream offset of next_seq_)
    uint32_t gaps_ = 0;
    uint32_t jump_end_ = 0;
    std::unique_ptr<Pending> pending_;

    friend class ReassemblyMemory;
    ReassemblyMemory* memory_ = nullptr;
};

}  // namespace pw::flow
