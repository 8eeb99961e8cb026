#include "flow/flow_table.h"

#include <fmt/core.h>

#include <algorithm>

#include "pipeline/inspection.h"

namespace pw::flow {

Flow::Flow() = default;
Flow::~Flow() = default;

std::string Flow::uid_text() const { return fmt::format("C{:016x}", uid); }

void Flow::set_protocols(std::span<const ProtocolId> found) {
    protocol_count = static_cast<uint8_t>(std::min(found.size(), protocols.size()));
    std::copy_n(found.begin(), protocol_count, protocols.begin());
}

namespace {

// Slots of a new table: the index grows by doubling as flows arrive.
constexpr size_t kInitialSlots = 1024;

}  // namespace

FlowTable::FlowTable(size_t max_flows) : max_flows_(max_flows), slots_(kInitialSlots, nullptr) {}

FlowTable::~FlowTable() {
    for (Flow* flow : slots_) delete flow;
}

int FlowTable::transport_class(uint8_t ip_protocol) {
    if (ip_protocol == decode::ip_protocol::kTcp) return kTcp;
    if (ip_protocol == decode::ip_protocol::kUdp) return kUdp;
    if (ip_protocol == decode::ip_protocol::kIgmp) return kIgmp;
    return kOther;
}

Flow* FlowTable::find(const FlowKey& key) {
    const size_t mask = slots_.size() - 1;
    for (size_t i = slot_of(key);; i = (i + 1) & mask) {
        Flow* flow = slots_[i];
        if (flow == nullptr || flow->key == key) return flow;
    }
}

Flow* FlowTable::insert(const FlowKey& key) {
    if ((count_ + 1) * 2 > slots_.size()) grow();
    auto flow = std::make_unique<Flow>();
    flow->key = key;
    flow->idle_list = static_cast<uint8_t>(transport_class(key.ip_protocol));
    const size_t mask = slots_.size() - 1;
    size_t i = slot_of(key);
    while (slots_[i] != nullptr) i = (i + 1) & mask;
    slots_[i] = flow.release();
    ++count_;
    append(slots_[i]);
    return slots_[i];
}

void FlowTable::grow() {
    std::vector<Flow*> old(slots_.size() * 2, nullptr);
    old.swap(slots_);
    const size_t mask = slots_.size() - 1;
    for (Flow* flow : old) {
        if (flow == nullptr) continue;
        size_t i = slot_of(flow->key);
        while (slots_[i] != nullptr) i = (i + 1) & mask;
        slots_[i] = flow;
    }
}

void FlowTable::touch(Flow* flow) {
    unlink(flow);
    place_by_time(flow);
}

void FlowTable::move_to(Flow* flow, int list_class) {
    unlink(flow);
    flow->idle_list = static_cast<uint8_t>(list_class);
    place_by_time(flow);
}

void FlowTable::place_by_time(Flow* flow) {
    List& list = lists_[flow->idle_list];
    if (list.tail == nullptr || list.tail->last_us <= flow->last_us) {
        append(flow);  // times that only go forward: every flow
        return;
    }
    // The capture's times went backwards. The scans for idle flows stop at the first flow
    // still in time, so the flow goes before those of later times, and the scans then find
    // every flow past its timeout however the flows are shared between pipelines. It goes
    // to the head when it is the oldest, else at most kMaxOrderSteps places back, which
    // bounds the cost of times that jump back and forth.
    // NOTE: a flow that belongs further back than that stays too late in the list, so it
    // can time out late (README, --threads).
    constexpr int kMaxOrderSteps = 64;
    Flow* before = nullptr;  // the flow to place it after, nullptr for the head
    if (list.head->last_us <= flow->last_us) {
        before = list.tail;
        for (int steps = 0; steps < kMaxOrderSteps && before->last_us > flow->last_us; ++steps) {
            before = before->idle_prev;
        }
    }
    flow->idle_prev = before;
    flow->idle_next = before != nullptr ? before->idle_next : list.head;
    if (flow->idle_next != nullptr) flow->idle_next->idle_prev = flow;
    if (before != nullptr) {
        before->idle_next = flow;
    } else {
        list.head = flow;
    }
}

std::unique_ptr<Flow> FlowTable::remove(Flow* flow) {
    unlink(flow);
    const size_t mask = slots_.size() - 1;
    size_t hole = slot_of(flow->key);
    while (slots_[hole] != flow) hole = (hole + 1) & mask;
    // Backward-shift deletion: move later flows of the probe run into the hole when their
    // home slot is not between the hole and them, so that no lookup stops early.
    for (size_t i = (hole + 1) & mask; slots_[i] != nullptr; i = (i + 1) & mask) {
        size_t home = slot_of(slots_[i]->key);
        if (((i - home) & mask) >= ((i - hole) & mask)) {
            slots_[hole] = slots_[i];
            hole = i;
        }
    }
    slots_[hole] = nullptr;
    --count_;
    return std::unique_ptr<Flow>(flow);
}

Flow* FlowTable::oldest_overall() const {
    Flow* best = nullptr;
    for (const List& list : lists_) {
        if (list.head != nullptr && (best == nullptr || list.head->last_us < best->last_us)) {
            best = list.head;
        }
    }
    return best;
}

void FlowTable::for_each(const std::function<void(Flow&)>& visit) const {
    for (Flow* flow : slots_) {
        if (flow != nullptr) visit(*flow);
    }
}

void FlowTable::unlink(Flow* flow) {
    List& list = lists_[flow->idle_list];
    if (flow->idle_prev != nullptr) {
        flow->idle_prev->idle_next = flow->idle_next;
    } else if (list.head == flow) {
        list.head = flow->idle_next;
    }
    if (flow->idle_next != nullptr) {
        flow->idle_next->idle_prev = flow->idle_prev;
    } else if (list.tail == flow) {
        list.tail = flow->idle_prev;
    }
    flow->idle_prev = flow->idle_next = nullptr;
}

void FlowTable::append(Flow* flow) {
    List& list = lists_[flow->idle_list];
    flow->idle_prev = list.tail;
    flow->idle_next = nullptr;
    if (list.tail != nullptr) list.tail->idle_next = flow;
    list.tail = flow;
    if (list.head == nullptr) list.head = flow;
}

}  // namespace pw::flow
