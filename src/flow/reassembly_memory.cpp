#include "flow/reassembly_memory.h"

#include "flow/tcp_reassembly.h"

namespace pw::flow {

size_t ReassemblyMemory::evict_oldest() {
    if (head_ == nullptr) return 0;
    return head_->drop_buffered();
}

void ReassemblyMemory::link(StreamReassembler* stream) {
    stream->memory_prev_ = tail_;
    stream->memory_next_ = nullptr;
    if (tail_ != nullptr) tail_->memory_next_ = stream;
    tail_ = stream;
    if (head_ == nullptr) head_ = stream;
    stream->linked_ = true;
    ++streams_;
}

void ReassemblyMemory::unlink(StreamReassembler* stream) {
    if (stream->memory_prev_ != nullptr) {
        stream->memory_prev_->memory_next_ = stream->memory_next_;
    } else {
        head_ = stream->memory_next_;
    }
    if (stream->memory_next_ != nullptr) {
        stream->memory_next_->memory_prev_ = stream->memory_prev_;
    } else {
        tail_ = stream->memory_prev_;
    }
    stream->memory_prev_ = stream->memory_next_ = nullptr;
    stream->linked_ = false;
    --streams_;
}

}  // namespace pw::flow
