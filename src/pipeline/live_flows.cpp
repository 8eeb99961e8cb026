// The pipeline's hooks for live capture: the agent marks flows partial after capture drops
// and shows the open flows in `netstat`.

#include <algorithm>

#include "pipeline/inspection.h"
#include "pipeline/pipeline.h"

namespace pw::pipeline {

void Pipeline::mark_open_flows_partial() {
    table_.for_each([](flow::Flow& flow) {
        flow.capture_loss = true;
        flow.statistics_current = false;
    });
}

std::vector<OpenFlow> Pipeline::open_flows() const {
    // In creation order: the table's own order depends on its hash.
    std::vector<const flow::Flow*> flows;
    flows.reserve(table_.size());
    table_.for_each([&](flow::Flow& flow) { flows.push_back(&flow); });
    std::sort(flows.begin(), flows.end(),
              [](const flow::Flow* a, const flow::Flow* b) { return a->number < b->number; });

    std::vector<OpenFlow> result;
    result.reserve(flows.size());
    for (const flow::Flow* flow : flows) {
        OpenFlow open;
        open.connection_uid = flow->uid_text();
        open.ip_protocol = flow->key.ip_protocol;
        open.source = flow->source();
        open.source_port = flow->source_port();
        open.target = flow->target();
        open.target_port = flow->target_port();
        open.direction = flow->direction;
        open.closed = flow->tcp.closed();
        auto protocols = flow->inspection != nullptr ? flow->inspection->session.protocols()
                                                     : flow->protocol_list();
        open.protocols.assign(protocols.begin(), protocols.end());
        // The same orientation as statistics events: out is what the device sent.
        int out =
            flow->direction == events::Direction::kInbound ? flow::kResponder : flow::kInitiator;
        open.bytes_out = flow->bytes[out];
        open.bytes_in = flow->bytes[1 - out];
        open.first_us = flow->first_us;
        open.last_us = flow->last_us;
        result.push_back(std::move(open));
    }
    return result;
}

}  // namespace pw::pipeline
