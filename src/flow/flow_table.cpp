#include "flow/flow_table.h"

#include <fmt/core.h>

#include "pipeline/inspection.h"

namespace pw::flow {

Flow::Flow() = default;
Flow::~Flow() = default;

std::string Flow::uid_text() const { return fmt::format("C{:016x}", uid); }

FlowTable::FlowTable(size_t max_flows) : max_flows_(max_flows) {
    flows_.reserve(std::min<size_t>(max_flows, 1 << 16));
}

int FlowTable::transport_class(uint8_t ip_protocol) {
    if (ip_protocol == decode::ip_protocol::kTcp) return kTcp;
    if (ip_protocol == decode::ip_protocol::kUdp) return kUdp;
    return kOther;
}

Flow* FlowTable::find(const FlowKey& key) {
    auto it = flows_.find(key);
    return it == flows_.end() ? nullptr : it->second.get();
}

Flow* FlowTable::insert(const FlowKey& key) {
    auto flow = std::make_unique<Flow>();
    flow->key = key;
    flow->idle_list = static_cast<uint8_t>(transport_class(key.ip_protocol));
    Flow* raw = flow.get();
    flows_.emplace(key, std::move(flow));
    append(raw);
    return raw;
}

void FlowTable::touch(Flow* flow) {
    unlink(flow);
    append(flow);
}

void FlowTable::move_to(Flow* flow, int list_class) {
    unlink(flow);
    flow->idle_list = static_cast<uint8_t>(list_class);
    append(flow);
}

std::unique_ptr<Flow> FlowTable::remove(Flow* flow) {
    unlink(flow);
    auto it = flows_.find(flow->key);
    std::unique_ptr<Flow> owned = std::move(it->second);
    flows_.erase(it);
    return owned;
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
    for (const auto& [key, flow] : flows_) visit(*flow);
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
