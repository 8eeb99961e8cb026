// Ending flows and turning them into network events.

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <span>

#include "pipeline/inspection.h"
#include "pipeline/pipeline.h"

namespace pw::pipeline {

using flow::Flow;

void Pipeline::end_flow(Flow* flow, events::EndReason reason) {
    const auto protocols_of = [flow] {
        return flow->inspection != nullptr ? flow->inspection->session.protocols()
                                           : flow->protocol_list();
    };
    // The flush below may still add protocols, which the last statistics event lacks.
    std::array<ProtocolId, detect::kMaxProtocolsPerFlow> before{};
    size_t before_count = 0;
    if (flow->statistics_current) {
        const std::span<const ProtocolId> current = protocols_of();
        before_count = std::min(current.size(), before.size());
        std::copy_n(current.begin(), before_count, before.begin());
    }
    if (flow->inspection != nullptr) {
        // Hand the detectors whatever reassembly still holds before they finish.
        for (int side = 0; side < 2 && flow->inspection != nullptr; ++side) {
            decode::Packet last;
            last.time_us = flow->last_us;
            const StreamSource source{flow, side == flow::kInitiator, &last};
            flow->inspection->streams[side].flush(stream_deliver(source));
        }
        stop_inspection(*flow);
        release_inspection();
    }
    if (flow->connect_pending) emit_connect(*flow);
    // At the last packet, unless a statistics event of the quiet flow came later. A last
    // statistics event that still contains every count and protocol is not repeated.
    const int64_t end_us = std::max(flow->last_us, flow->last_statistics_us);
    const std::span<const ProtocolId> after = protocols_of();
    if (!flow->statistics_current ||
        !std::equal(after.begin(), after.end(), before.begin(), before.begin() + before_count)) {
        emit(*flow, events::Activity::kStatistics, end_us);
    }
    emit(*flow, events::Activity::kDisconnect, end_us, reason);
    for (ProtocolId id : flow->protocol_list()) ++summary_.flows_by_protocol[id];
    table_.remove(flow);
    if (shared_ != nullptr) shared_->flows.fetch_sub(1, std::memory_order_relaxed);
}

void Pipeline::emit(const Flow& flow, events::Activity activity, int64_t time_us,
                    events::EndReason reason) {
    ++summary_.events;
    if (sinks_.empty()) return;  // nothing reads the event: skip building it
    events::Event event;
    event.activity = activity;
    event.time_ms = time_us / 1000;
    event.ip_protocol = flow.key.ip_protocol;
    event.source_ip = flow.source().to_string();
    event.source_port = flow.source_port();
    event.target_ip = flow.target().to_string();
    event.target_port = flow.target_port();
    event.direction = flow.direction;
    event.connection_uid = flow.uid_text();
    event.device = settings_.device;
    event.reason = reason;
    if (activity == events::Activity::kStatistics) {
        if (flow.inspection != nullptr) {
            auto protocols = flow.inspection->session.protocols();
            event.protocols.assign(protocols.begin(), protocols.end());
        } else {
            auto protocols = flow.protocol_list();
            event.protocols.assign(protocols.begin(), protocols.end());
        }
        // Out is what the device sent: the responder's bytes when the device is the target.
        bool device_is_target = flow.direction == events::Direction::kInbound;
        int out = device_is_target ? flow::kResponder : flow::kInitiator;
        int in = 1 - out;
        event.bytes_out = flow.bytes[out];
        event.bytes_in = flow.bytes[in];
        event.packets_out = flow.packets[out];
        event.packets_in = flow.packets[in];
        event.start_time_ms = flow.first_us / 1000;
        event.end_time_ms = flow.last_us / 1000;
        event.partial = flow.mid_stream || flow.capture_loss;
    }
    for (events::EventSink* sink : sinks_) sink->write(event);
}

}  // namespace pw::pipeline
