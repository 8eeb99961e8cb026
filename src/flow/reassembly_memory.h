#pragma once

#include <cstddef>

namespace pw::flow {

class StreamReassembler;

// The out-of-order data that the stream reassemblers of one pipeline hold, in bytes with
// the bookkeeping, and the streams that hold any, in the order they started to. It lets
// the pipeline bound the reassembly buffers of all flows together.
class ReassemblyMemory {
  public:
    ReassemblyMemory() = default;
    ReassemblyMemory(const ReassemblyMemory&) = delete;
    ReassemblyMemory& operator=(const ReassemblyMemory&) = delete;

    size_t bytes() const { return bytes_; }
    // Streams holding out-of-order data.
    size_t streams() const { return streams_; }

    // Discards the out-of-order data of the stream that has kept some the longest, which
    // counts a gap there. Returns the bytes freed, 0 when no stream has any.
    size_t evict_oldest();

  private:
    friend class StreamReassembler;
    void link(StreamReassembler* stream);
    void unlink(StreamReassembler* stream);

    size_t bytes_ = 0;
    size_t streams_ = 0;
    StreamReassembler* head_ = nullptr;  // has held data the longest
    StreamReassembler* tail_ = nullptr;
};

}  // namespace pw::flow
