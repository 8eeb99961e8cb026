// The deep packet inspection step of the pipeline: handing segments to the detectors
// within the per-flow bounds, and following the flows that control connections announce.

#include <spdlog/spdlog.h>

#include <bit>

#include "pipeline/inspection.h"
#include "pipeline/pipeline.h"

namespace pw::pipeline {

using flow::Flow;

namespace {

// A TCP segment shorter than this counts toward the inspection bound by its bytes.
constexpr size_t kSmallSegmentBytes = 64;
// Inspection::small_bytes, 16 bits, never reaches twice this.
static_assert(2 * kSmallSegmentBytes <= UINT16_MAX);

TransportClass transport_class(uint8_t ip_protocol) {
    if (ip_protocol == decode::ip_protocol::kTcp) return TransportClass::kTcp;
    if (ip_protocol == decode::ip_protocol::kUdp) return TransportClass::kUdp;
    return TransportClass::kOther;
}

TransportInspection& counts_of(Summary& summary, const Flow& flow) {
    auto index = static_cast<size_t>(transport_class(flow.key.ip_protocol));
    return summary.inspection_by_transport[index];
}

}  // namespace

void Pipeline::start_inspection(Flow& flow) {
    ++counts_of(summary_, flow).flows;
    ++inspections_;
    {
        HeapChange change(inspection_heap_);
        flow.inspection =
            std::make_unique<Inspection>(detect::transport_of(flow.key.ip_protocol), flow.source(),
                                         flow.source_port(), flow.target(), flow.target_port());
    }
    Inspection& inspection = *flow.inspection;
    for (auto& stream : inspection.streams) stream.set_memory(&memory_.reassembly());
    inspection.finished = unwanted_[static_cast<size_t>(inspection.session.transport())];
    inspection.session.set_mid_stream(flow.mid_stream);
    if (flow.expected_protocol != ProtocolId::kNone) {
        inspection.session.add(flow.expected_protocol);
    }
}

void Pipeline::inspect(Flow& flow, const detect::Segment& segment, bool again) {
    Inspection& inspection = *flow.inspection;
    detect::Session& session = inspection.session;
    uint64_t end = segment.offset + segment.data.size();

    // The detectors not finished, in slot order (the registry's), a word of slots at a time.
    bool any_left = false;
    bool inspected = false;
    for (size_t word = 0; word < DetectorSet::kWords; ++word) {
        uint64_t pending = ~inspection.finished.word(word) & registered_.word(word);
        while (pending != 0) {
            size_t slot = word * 64 + static_cast<size_t>(std::countr_zero(pending));
            pending &= pending - 1;
            if (session.classified() && !keeps_inspecting_.test(slot)) {
                inspection.finished.set(slot);
                continue;
            }
            if (session.transport() == detect::Transport::kTcp &&
                session.skips(slot, segment.from_initiator, end)) {
                any_left = true;
                continue;
            }
            if (!inspected) {
                // A segment counts once, and only when some detector reads it.
                inspected = true;
                if (!inspection.inspected_any) ++summary_.flows_inspected;
                inspection.inspected_any = true;
                ++summary_.segments_inspected;
                ++counts_of(summary_, flow).packets;
            }
            ++summary_.detector_calls;
            summary_.bytes_inspected += segment.data.size();
            HeapChange change(inspection_heap_);
            detect::Verdict verdict = detectors_[slot]->inspect(session, segment);
            if (verdict != detect::Verdict::kContinue) {
                inspection.finished.set(slot);
                session.drop_state(slot);
            } else {
                any_left = true;
            }
        }
    }

    // Only segments that a detector read count toward the bound. A body or a file that the
    // detectors skip, once they have judged it, costs no inspection, so the messages after
    // it on a long connection (HTTP keep-alive, an SMB session) are still read. TCP
    // segments shorter than kSmallSegmentBytes count together, one for each
    // kSmallSegmentBytes of their data, so that a sender that splits a request into tiny
    // segments does not end inspection before the request is whole.
    if (inspected) {
        if (session.transport() == detect::Transport::kTcp &&
            segment.data.size() < kSmallSegmentBytes) {
            inspection.small_bytes += static_cast<uint16_t>(segment.data.size());
            if (inspection.small_bytes >= kSmallSegmentBytes) {
                inspection.small_bytes -= kSmallSegmentBytes;
                ++inspection.segments;
            }
        } else {
            ++inspection.segments;
        }
    }

    std::vector<detect::ExpectedFlow> announced = session.take_expected();
    for (const detect::ExpectedFlow& expected : announced) {
        if (expectations_.size() >= settings_.max_expected_flows)
            expectations_.erase(expectations_.begin());
        int64_t timeout_us = static_cast<int64_t>(settings_.expected_flow_timeout_s * 1e6);
        expectations_.push_back({expected, segment.packet->time_us + timeout_us});
    }
    if (announced.capacity() > 0) {
        // A detector made the list: its heap leaves the inspection's.
        HeapChange change(inspection_heap_);
        announced = {};
    }

    if (session.take_inner_layer()) {
        // The bytes after this segment belong to a tunnelled protocol: every detector that
        // wants the transport looks again, with a fresh bound.
        session.clear_skips();
        HeapChange change(inspection_heap_);
        for (const auto& detector : detectors_) session.drop_state(detector->slot);
        inspection.finished = unwanted_[static_cast<size_t>(session.transport())];
        inspection.segments = 0;
        inspection.small_bytes = 0;
        inspection.sides_with_data = 0;
        // At most once per segment, even when a detector opens an inner layer again in its
        // second reading: the detectors that look again start from scratch.
        if (session.take_inner_layer_here() && !again) inspect(flow, segment, true);
        return;
    }

    inspection.sides_with_data |= segment.from_initiator ? 1 : 2;
    uint32_t bound = detect::kMaxSegmentsClassified;
    // HTTP2 counts as a content type, so that the detectors of an h2c upgrade's HTTP keep
    // going, but a flow of h2c with prior knowledge carries its files through the whole
    // connection as a classified flow does.
    if (!session.classified() && !session.has(ProtocolId::HTTP2)) {
        bound = session.mid_stream() && inspection.sides_with_data != 3
                    ? detect::kMaxSegmentsOneSided
                    : detect::kMaxSegmentsUnclassified;
    }
    if (!any_left || inspection.segments >= bound) stop_inspection(flow);
}

void Pipeline::stop_inspection(Flow& flow) {
    if (flow.inspection == nullptr) return;
    Inspection& inspection = *flow.inspection;
    {
        HeapChange change(inspection_heap_);
        for (const auto& detector : detectors_) {
            if (!inspection.finished.test(detector->slot)) detector->finish(inspection.session);
        }
    }
    auto protocols = inspection.session.protocols();
    flow.set_protocols(protocols);
    for (auto& stream : inspection.streams) {
        summary_.tcp_gaps += stream.gaps();
        stream.stop();
    }
    // Inspection may end while one of its streams is delivering data: the stream is then
    // still running, so it is freed only once the packet is done (release_inspection()).
    {
        // The assignment frees an inspection retired before, if one is still waiting.
        HeapChange change(inspection_heap_);
        retired_inspection_ = std::move(flow.inspection);
    }
    --inspections_;
}

void Pipeline::release_inspection() {
    if (retired_inspection_ == nullptr) return;
    {
        HeapChange change(inspection_heap_);
        retired_inspection_.reset();
    }
    // A detector's heap that outlived its inspection, or was freed outside the measured
    // calls, would make the measure drift. With no inspection left, nothing is held.
    if (inspections_ == 0) inspection_heap_ = 0;
}

void Pipeline::match_expectation(Flow& flow) {
    auto matches = [&](const detect::ExpectedFlow& e, const decode::IpAddress& client,
                       uint16_t client_port, const decode::IpAddress& server,
                       uint16_t server_port) {
        return e.ip_protocol == flow.key.ip_protocol && e.client == client && e.server == server &&
               (e.client_port == 0 || e.client_port == client_port) &&
               (e.server_port == 0 || e.server_port == server_port);
    };
    for (auto it = expectations_.begin(); it != expectations_.end(); ++it) {
        const detect::ExpectedFlow& e = it->flow;
        // Either orientation: a data connection picked up mid-stream may have been
        // oriented the other way.
        if (matches(e, flow.source(), flow.source_port(), flow.target(), flow.target_port()) ||
            matches(e, flow.target(), flow.target_port(), flow.source(), flow.source_port())) {
            flow.expected_protocol = e.protocol;
            expectations_.erase(it);
            return;
        }
    }
}

}  // namespace pw::pipeline
