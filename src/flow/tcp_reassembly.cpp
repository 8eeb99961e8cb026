#include "flow/tcp_reassembly.h"

namespace pw::flow {
namespace {

// A segment this far ahead of the expected sequence number is not a reordering. It is a
// jump (capture loss or a stream picked up again) when the next such segment continues
// it, and otherwise forged or damaged (StreamReassembler::add()).
constexpr int64_t kMaxJump = 8 * 1024 * 1024;

// Bookkeeping of one buffered segment, an estimate for 64-bit glibc: the map node (tree
// links, key and vector) and the allocator's headers of the node and of the data.
constexpr size_t kSegmentOverheadBytes = 96;

}  // namespace

StreamReassembler::~StreamReassembler() {
    clear_pending();
    update_memory();
}

void StreamReassembler::set_memory(ReassemblyMemory* memory) {
    if (memory_ != nullptr && pending_ != nullptr) {
        if (pending_->linked) memory_->unlink(this);
        memory_->bytes_ -= pending_->accounted_bytes;
        pending_->accounted_bytes = 0;
    }
    memory_ = memory;
    update_memory();
}

size_t StreamReassembler::memory_bytes() const {
    if (pending_ == nullptr) return 0;
    return pending_->bytes + pending_->segments.size() * kSegmentOverheadBytes;
}

void StreamReassembler::clear_pending() {
    if (pending_ == nullptr) return;
    pending_->segments.clear();
    pending_->bytes = 0;
}

void StreamReassembler::update_memory() {
    if (pending_ == nullptr) return;
    if (memory_ != nullptr) {
        size_t held = memory_bytes();
        memory_->bytes_ = memory_->bytes_ - pending_->accounted_bytes + held;
        pending_->accounted_bytes = held;
        if (has_pending() && !pending_->linked) {
            memory_->link(this);
        } else if (!has_pending() && pending_->linked) {
            memory_->unlink(this);
        }
    }
    if (!has_pending()) pending_.reset();
}

void StreamReassembler::set_initial_sequence(uint32_t isn) {
    // A SYN with a new ISN before any data (a retried connect) moves the start; once data
    // has been delivered, a stray SYN changes nothing.
    if (started_ && (delivered_ > 0 || has_pending())) return;
    started_ = true;
    next_seq_ = isn + 1;
}

void StreamReassembler::add(uint32_t seq, std::span<const uint8_t> data,
                            const ReassemblyLimits& limits, const Deliver& deliver) {
    if (stopped_ || data.empty()) return;
    if (!started_) {
        started_ = true;
        next_seq_ = seq;
    }

    // Signed distance modulo 2^32, so that sequence wrap-around is handled.
    int64_t ahead = static_cast<int32_t>(seq - next_seq_);
    if (ahead < 0) {
        // A retransmission or an overlap: drop what was already delivered.
        uint64_t old = static_cast<uint64_t>(-ahead);
        if (old >= data.size()) return;
        data = data.subspan(old);
        seq += static_cast<uint32_t>(old);
        ahead = 0;
    }
    if (ahead > kMaxJump) {
        // The receiver would drop a segment this far outside its window, so one alone must
        // not hide the rest of the stream. After capture loss, the next far segment starts
        // where this one ended: the stream resumes there, and this one is lost with the gap.
        const uint32_t end = seq + static_cast<uint32_t>(data.size());
        if (!has_jump_ || seq != jump_end_) {
            has_jump_ = true;
            jump_end_ = end;
            return;
        }
        has_jump_ = false;
        ++gaps_;
        clear_pending();
        next_seq_ = seq;
        ahead = 0;
    } else {
        has_jump_ = false;
    }

    if (ahead == 0) {
        uint64_t offset = delivered_;
        delivered_ += data.size();
        next_seq_ += static_cast<uint32_t>(data.size());
        deliver(data, offset);
        deliver_in_order(deliver);
        update_memory();
        return;
    }

    if (pending_ == nullptr) pending_ = std::make_unique<Pending>();
    uint64_t offset = delivered_ + static_cast<uint64_t>(ahead);
    auto [it, inserted] = pending_->segments.try_emplace(offset, data.begin(), data.end());
    if (inserted) pending_->bytes += data.size();
    // Skipping one gap may not be enough: a large segment beyond a second gap can still
    // hold more than the limit.
    // The stream may stop while it delivers (inspection ended), which frees the buffer.
    while (has_pending() && (pending_->bytes > limits.max_buffered_bytes ||
                             pending_->segments.size() > limits.max_buffered_segments)) {
        skip_to_first_buffered(deliver);
    }
    update_memory();
}

void StreamReassembler::deliver_in_order(const Deliver& deliver) {
    while (has_pending()) {
        auto it = pending_->segments.begin();
        if (it->first > delivered_) return;
        std::vector<uint8_t> bytes = std::move(it->second);
        uint64_t start = it->first;
        pending_->segments.erase(it);
        pending_->bytes -= bytes.size();
        uint64_t end = start + bytes.size();
        if (end <= delivered_) continue;  // wholly covered by data already delivered
        std::span<const uint8_t> fresh(bytes);
        fresh = fresh.subspan(delivered_ - start);
        uint64_t offset = delivered_;
        delivered_ += fresh.size();
        next_seq_ += static_cast<uint32_t>(fresh.size());
        deliver(fresh, offset);
    }
}

void StreamReassembler::skip_to_first_buffered(const Deliver& deliver) {
    if (!has_pending()) return;
    uint64_t first = pending_->segments.begin()->first;
    if (first > delivered_) {
        ++gaps_;
        next_seq_ += static_cast<uint32_t>(first - delivered_);
        delivered_ = first;
    }
    deliver_in_order(deliver);
}

void StreamReassembler::flush(const Deliver& deliver) {
    while (has_pending()) skip_to_first_buffered(deliver);
    update_memory();
}

void StreamReassembler::stop() {
    stopped_ = true;
    clear_pending();
    update_memory();
}

size_t StreamReassembler::drop_buffered() {
    if (!has_pending()) return 0;
    size_t freed = memory_bytes();
    ++gaps_;
    clear_pending();
    update_memory();
    return freed;
}

}  // namespace pw::flow
