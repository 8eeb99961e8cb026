#include "detect/session.h"

#include <algorithm>
#include <array>
#include <new>

namespace pw::detect {

Transport transport_of(uint8_t ip_protocol) {
    switch (ip_protocol) {
        case decode::ip_protocol::kTcp:
            return Transport::kTcp;
        case decode::ip_protocol::kUdp:
            return Transport::kUdp;
        case decode::ip_protocol::kIcmp:
            return Transport::kIcmp;
        case decode::ip_protocol::kIcmpv6:
            return Transport::kIcmpv6;
        case decode::ip_protocol::kIgmp:
            return Transport::kIgmp;
        default:
            return Transport::kOther;
    }
}

namespace {

// Freed detector states by size class, in steps of kStateAlignment bytes up to
// kCachedClasses of them; at most kMaxCachedStates of each class are kept.
constexpr size_t kStateAlignment = 16;
constexpr size_t kCachedClasses = 64;
constexpr size_t kMaxCachedStates = 4096;

struct StateCache {
    std::array<std::vector<void*>, kCachedClasses> free;
    ~StateCache();
};
thread_local StateCache state_cache;
// False once the thread's cache is destroyed: states freed after that go to the heap.
thread_local bool state_cache_alive = true;

StateCache::~StateCache() {
    state_cache_alive = false;
    for (std::vector<void*>& list : free) {
        for (void* state : list) ::operator delete(state);
    }
}

size_t size_class(size_t size) { return (size + kStateAlignment - 1) / kStateAlignment; }

}  // namespace

void* DetectorState::operator new(size_t size) {
    size_t index = size_class(size);
    if (index >= kCachedClasses || !state_cache_alive) return ::operator new(size);
    std::vector<void*>& list = state_cache.free[index];
    if (list.empty()) return ::operator new(index * kStateAlignment);
    void* state = list.back();
    list.pop_back();
    return state;
}

void DetectorState::operator delete(void* state, size_t size) {
    size_t index = size_class(size);
    if (index < kCachedClasses && state_cache_alive) {
        std::vector<void*>& list = state_cache.free[index];
        if (list.size() < kMaxCachedStates) {
            list.push_back(state);
            return;
        }
    }
    ::operator delete(state);
}

Session::Session(Transport transport, const decode::IpAddress& initiator,
                 uint16_t initiator_port, const decode::IpAddress& responder,
                 uint16_t responder_port)
    : transport_(transport),
      initiator_(initiator),
      responder_(responder),
      initiator_port_(initiator_port),
      responder_port_(responder_port) {}

void Session::reverse() {
    std::swap(initiator_, responder_);
    std::swap(initiator_port_, responder_port_);
    for (Skip& skip : skips_) skip.from_initiator = !skip.from_initiator;
}

void Session::add(ProtocolId id) {
    if (id == ProtocolId::kNone || has(id) || count_ == protocols_.size()) return;
    protocols_[count_++] = id;
    if (!is_content_type(id)) classified_ = true;
}

bool Session::has(ProtocolId id) const {
    return std::find(protocols_.begin(), protocols_.begin() + count_, id) !=
           protocols_.begin() + count_;
}

void Session::skip_until(size_t slot, bool from_initiator, uint64_t until) {
    for (Skip& skip : skips_) {
        if (skip.slot == slot && skip.from_initiator == from_initiator) {
            skip.until = until;
            return;
        }
    }
    skips_.push_back({slot, from_initiator, until});
}

bool Session::skips(size_t slot, bool from_initiator, uint64_t end) const {
    return std::any_of(skips_.begin(), skips_.end(), [&](const Skip& skip) {
        return skip.slot == slot && skip.from_initiator == from_initiator && end <= skip.until;
    });
}

}  // namespace pw::detect
