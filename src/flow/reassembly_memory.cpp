#include "flow/reassembly_memory.h"

#include "flow/tcp_reassembly.h"

namespace pw::flow {

size_t ReassemblyMemory::evict_oldest() {
    if (head_ == nullptr) return 0;
    return head_->drop_buffered();
}

void ReassemblyMemory::link(StreamReassembler* stream) {
    StreamReassembler::Pending& pending = *stream->pending_;
    pending.memory_prev = tail_;
    pending.memory_next = nullptr;
    if (tail_ != nullptr) tail_->pending_->memory_next = stream;
    tail_ = stream;
    if (head_ == nullptr) head_ = stream;
    pending.linked = true;
    ++streams_;
}

void ReassemblyMemory::unlink(StreamReassembler* stream) {
    StreamReassembler::Pending& pending = *stream->pending_;
    if (pending.memory_prev != nullptr) {
        pending.memory_prev->pending_->memory_next = pending.memory_next;
    } else {
        head_ = pending.memory_next;
    }
    if (pending.memory_next != nullptr) {
        pending.memory_next->pending_->memory_prev = pending.memory_prev;
    } else {
        tail_ = pending.memory_prev;
    }
    pending.memory_prev = pending.memory_next = nullptr;
    pending.linked = false;
    --streams_;
}

}  // namespace pw::flow
