#include "pipeline/pipeline.h"

#include <pcap/dlt.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "flow/connection_start.h"
#include "pipeline/inspection.h"
#include "pipeline/tunnels.h"

namespace pw::pipeline {
namespace {

using decode::Packet;
using flow::Flow;
using flow::FlowTable;
using flow::Side;

constexpr int64_t kMicrosPerSecond = 1'000'000;

// How far from the end of its sender's data a reset may be and still end the connection.
// Behind it by up to the data the receiver may not have acknowledged yet (an estimate of
// a large window), and ahead by a little data the capture may have missed. A reset's
// sequence number is normally that end exactly (RFC 5961, section 3.2).
constexpr int64_t kResetBehindBytes = 1 << 20;
constexpr int64_t kResetAheadBytes = 64 << 10;

// Saturates at a quarter of int64_t's range, so that adding a time to it cannot overflow:
// the command line allows at most 100 years, but Settings may come from elsewhere.
int64_t seconds_to_us(double seconds) {
    constexpr int64_t kLongest = INT64_MAX / 4;
    const double us = seconds * static_cast<double>(kMicrosPerSecond);
    if (!(us < static_cast<double>(kLongest))) return kLongest;  // NaN too
    return us > 0 ? static_cast<int64_t>(us) : 0;
}

// Ports below this are the usual well-known and registered service range that marks the
// responder when a flow is picked up without its start.
constexpr uint16_t kServicePortLimit = 1024;

bool looks_like_service(uint16_t port, uint16_t other) {
    return port != 0 && port < kServicePortLimit && other >= kServicePortLimit;
}

bool is_opening_syn(const Packet& packet) {
    return packet.ip_protocol == decode::ip_protocol::kTcp &&
           (packet.tcp_flags & decode::tcp_flag::kSyn) &&
           !(packet.tcp_flags & decode::tcp_flag::kAck);
}

// A SYN-ACK without RST or FIN. A stack sends one only in reply to a SYN.
bool is_syn_ack(const Packet& packet) {
    using namespace decode::tcp_flag;
    return packet.ip_protocol == decode::ip_protocol::kTcp &&
           (packet.tcp_flags & (kSyn | kAck | kRst | kFin)) == (kSyn | kAck);
}

bool is_icmp_request(const Packet& packet) {
    return flow::icmp_role(packet.ip_protocol, packet.icmp_type) == flow::IcmpRole::kRequest;
}

}  // namespace

Pipeline::Pipeline(Settings settings, std::vector<events::EventSink*> sinks)
    : settings_(std::move(settings)),
      sinks_(std::move(sinks)),
      memory_(settings_.max_memory_bytes),
      decoder_(settings_.fragments),
      table_(settings_.max_flows),
      detectors_(detect::make_detectors()) {
    idle_timeout_us_[FlowTable::kTcp] = seconds_to_us(settings_.tcp_idle_timeout_s);
    idle_timeout_us_[FlowTable::kUdp] = seconds_to_us(settings_.udp_idle_timeout_s);
    idle_timeout_us_[FlowTable::kOther] = seconds_to_us(settings_.other_idle_timeout_s);
    idle_timeout_us_[FlowTable::kIgmp] = seconds_to_us(settings_.igmp_idle_timeout_s);
    idle_timeout_us_[FlowTable::kClosed] = seconds_to_us(settings_.tcp_closed_linger_s);
    statistics_interval_us_ = seconds_to_us(settings_.statistics_interval_s);
    if (detectors_.size() > kMaxDetectors) {
        throw std::logic_error("more detectors are registered than kMaxDetectors allows");
    }
    for (size_t slot = 0; slot < detectors_.size(); ++slot) {
        const detect::Detector& detector = *detectors_[slot];
        if (detector.slot != slot) throw std::logic_error("a detector's slot is not its index");
        registered_.set(slot);
        if (detector.keeps_inspecting()) keeps_inspecting_.set(slot);
        for (size_t transport = 0; transport < kTransportCount; ++transport) {
            if (!detector.wants(static_cast<detect::Transport>(transport))) {
                unwanted_[transport].set(slot);
            }
        }
    }
}

Pipeline::~Pipeline() = default;

void Pipeline::process_frame(int linktype, std::span<const uint8_t> frame, uint32_t wire_length,
                             int64_t time_us, Part part, uint64_t number) {
    frame_number_ = number != 0 ? number : frame_number_ + 1;
    // Every frame moves the capture's clock, a fragment that waits for the rest of its
    // datagram or a malformed frame too. So the looks fall on the same frames however the
    // frames are shared between pipelines.
    if (expiry_due(time_us)) expire_idle(time_us);
    Packet& packet = frame_packet_;
    decode::DecodeResult result = decoder_.decode(linktype, frame, wire_length, time_us, packet);
    if (part == Part::kInner) {
        // The frame and its outer flow count where the outer part went.
        if (result == decode::DecodeResult::kPacket) process_udp_tunnel(packet, time_us);
        return;
    }
    ++summary_.frames;
    summary_.bytes += wire_length;
    switch (result) {
        case decode::DecodeResult::kPacket:
            ++summary_.packets;
            process_packet(packet);
            if (part == Part::kWhole) process_udp_tunnel(packet, time_us);
            break;
        case decode::DecodeResult::kHeld:
            ++summary_.fragments_held;
            break;
        case decode::DecodeResult::kNotTracked:
            ++summary_.not_tracked;
            break;
        case decode::DecodeResult::kMalformed:
            ++summary_.malformed;
            break;
    }
    enforce_flow_bound(time_us);
    enforce_memory_bound(time_us);
}

void Pipeline::process_udp_tunnel(const Packet& outer, int64_t time_us) {
    std::span<const uint8_t> inner = udp_tunnel_payload(outer);
    if (inner.empty()) return;
    // The payload may live in the decoder's reassembly buffer, which the next decode reuses.
    tunnel_buffer_.assign(inner.begin(), inner.end());
    Packet& packet = tunnel_packet_;
    if (decoder_.decode(DLT_IPV6, tunnel_buffer_, static_cast<uint32_t>(tunnel_buffer_.size()),
                        time_us, packet) == decode::DecodeResult::kPacket) {
        process_packet(packet);
    }
}

void Pipeline::expire_idle(int64_t now_us) {
    expire(now_us);
    last_expiry_check_us_ = now_us;
}

void Pipeline::process_packet(const Packet& packet) {
    bool sender_is_low = false;
    flow::FlowKey key = flow::FlowKey::of(packet, sender_is_low);
    Flow* flow = table_.find(key);

    if (flow != nullptr && is_opening_syn(packet) &&
        flow::syn_starts_new_connection(flow->tcp, flow->side_of(sender_is_low), packet.seq,
                                        packet.time_us - flow->last_us)) {
        end_replaced_connection(flow);
        flow = nullptr;
    } else if (flow != nullptr && is_syn_ack(packet) &&
               flow::syn_ack_starts_new_connection(flow->tcp, flow->side_of(sender_is_low),
                                                   packet.seq, packet.ack)) {
        end_replaced_connection(flow);
        flow = nullptr;
    }
    if (flow == nullptr) {
        flow = create_flow(key, sender_is_low, packet);
    } else if (flow->connect_pending && is_icmp_request(packet)) {
        // The first request decides which end initiated an ICMP flow (see orient()).
        if (flow->side_of(sender_is_low) == flow::kResponder) reverse(*flow);
        emit_connect(*flow);
    }

    Side side = flow->side_of(sender_is_low);
    ++flow->packets[side];
    flow->statistics_current = false;
    flow->bytes[side] += packet.payload_length;
    flow->last_us = std::max(flow->last_us, packet.time_us);
    table_.touch(flow);

    if (packet.ip_protocol == decode::ip_protocol::kTcp) {
        // A header cut by the snapshot length shows no sequence numbers to follow, at most
        // the flags that end the connection.
        if (packet.tcp_header_cut) {
            end_tcp_by_flags(*flow, side, packet.tcp_flags);
        } else {
            update_tcp(*flow, side, packet);
        }
        feed_tcp(*flow, side, packet);
    } else if (flow->inspection != nullptr) {
        // Datagram transports: each datagram is one segment. ICMP and IGMP messages are
        // inspected even without payload, since their headers identify them.
        bool carries_data = !packet.payload.empty();
        bool header_protocol = packet.ip_protocol != decode::ip_protocol::kUdp;
        if (carries_data || header_protocol) {
            detect::Segment segment{packet.payload, side == flow::kInitiator,
                                    flow->datagrams[side]++, &packet};
            inspect(*flow, segment);
        }
    }

    if (statistics_interval_us_ > 0 &&
        packet.time_us - flow->last_statistics_us >= statistics_interval_us_) {
        emit_statistics(*flow, packet.time_us);
    }
}

void Pipeline::emit_statistics(Flow& flow, int64_t now_us) {
    flow.last_statistics_us = now_us;
    // NOTE: a statistics event names the initiator, so an ICMP flow still waiting for a
    // request takes its current orientation for good here, and a later request from
    // the responder does not reverse it.
    if (flow.connect_pending) emit_connect(flow);
    emit(flow, events::Activity::kStatistics, now_us);
    flow.statistics_current = true;
}

void Pipeline::emit_due_statistics(int64_t now_us) {
    // A connection that sends nothing for longer than the interval still gets its
    // statistics each interval, at the looks for idle flows, so that a long quiet
    // connection is not left with its connect event alone. Only a flow idle for an
    // interval can be due, and the idle lists start with those. The event carries the
    // moment it fell due rather than that of the look, which comes with the next frame.
    // After a gap in the capture longer than the interval, one event covers it.
    // NOTE: each look visits every flow idle for longer than the interval, which costs
    // time in proportion to them when many connections stay open and quiet.
    for (int list = 0; list < FlowTable::kListCount; ++list) {
        if (list == FlowTable::kClosed) continue;  // their disconnect comes soon
        for (Flow* flow = table_.oldest(list);
             flow != nullptr && now_us - flow->last_us >= statistics_interval_us_;
             flow = flow->idle_next) {
            const int64_t due = flow->last_statistics_us + statistics_interval_us_;
            if (now_us < due) continue;
            emit_statistics(*flow, due);
            // The start of the interval that contains now_us, so that the next event is due
            // one interval on from there.
            flow->last_statistics_us =
                due + (now_us - due) / statistics_interval_us_ * statistics_interval_us_;
        }
    }
}

bool Pipeline::leaves_flow_to_others(const Flow& oldest, int64_t now_us) const {
    if (shared_ == nullptr) return false;
    const size_t slack = shared_->pipelines * SharedBounds::kFlowSlack;
    if (shared_->flows.load(std::memory_order_relaxed) >= shared_->max_flows + slack) {
        return false;
    }
    return shared_->max_idle_elsewhere(shared_index_) > now_us - oldest.last_us;
}

void Pipeline::enforce_flow_bound(int64_t now_us) {
    // Near the bound every pipeline publishes its oldest flow's idle time after each frame,
    // so that the others' are current when one finds the table full.
    if (shared_ == nullptr || !shared_->flows_near_bound()) return;
    publish_oldest_idle(now_us);
    while (shared_->flows.load(std::memory_order_relaxed) > shared_->max_flows) {
        Flow* oldest = table_.oldest_overall();
        if (oldest == nullptr) break;
        if (now_us - oldest->last_us < shared_->max_idle_elsewhere(shared_index_)) break;
        summary_.anomalies.add(decode::Anomaly::kFlowTableFull);
        ++summary_.flows_evicted;
        end_flow(oldest, events::EndReason::kEvicted);
        publish_oldest_idle(now_us);
    }
}

bool Pipeline::take_flow_place() {
    if (shared_ == nullptr) return !table_.full();
    size_t flows = shared_->flows.load(std::memory_order_relaxed);
    do {
        if (flows >= shared_->max_flows) return false;
    } while (!shared_->flows.compare_exchange_weak(flows, flows + 1, std::memory_order_relaxed));
    return true;
}

Flow* Pipeline::create_flow(const flow::FlowKey& key, bool sender_is_low, const Packet& packet) {
    // When the table is full the flow idle the longest ends. With shared bounds another
    // pipeline may hold it, or take the place this one frees. So this one ends its flows
    // until it gets a place, has none left or another's oldest is older, and then goes
    // over the bound by this flow.
    while (!take_flow_place()) {
        Flow* oldest = table_.oldest_overall();
        if (oldest == nullptr || leaves_flow_to_others(*oldest, packet.time_us)) {
            if (shared_ != nullptr) shared_->flows.fetch_add(1, std::memory_order_relaxed);
            break;
        }
        summary_.anomalies.add(decode::Anomaly::kFlowTableFull);
        ++summary_.flows_evicted;
        end_flow(oldest, events::EndReason::kEvicted);
        if (shared_ == nullptr) break;
    }
    Flow* flow = table_.insert(key);
    flow->number = next_flow_number_;
    next_flow_number_ += flow_number_step_;
    flow->first_us = flow->last_us = flow->last_statistics_us = packet.time_us;
    orient(*flow, sender_is_low, packet);
    ++summary_.flows;
    set_direction(*flow);

    // A stable id: the same capture gives the same ids, whatever the threads, which keeps
    // golden files stable. The frame's number separates connections of one flow key that
    // start at the same time.
    size_t hash = key.hash() ^ (static_cast<size_t>(packet.time_us) * 0x9E3779B97F4A7C15ull) ^
                  (frame_number_ << 1);
    flow->uid = hash;

    match_expectation(*flow);
    start_inspection(*flow);
    if (!flow->connect_pending) emit_connect(*flow);
    return flow;
}

void Pipeline::end_replaced_connection(Flow* flow) {
    // Zeek, too, ends a connection whose port pair a new SYN reuses, closed or not (it logs
    // the weird active_connection_reuse). One still open ends as an idle one would, since
    // its initiator went away without closing it: a crash, a reboot, a NAT that gave the
    // port to another host.
    events::EndReason reason = events::EndReason::kTimeout;
    if (flow->tcp.closed()) {
        reason = flow->tcp.rst_seen ? events::EndReason::kRst : events::EndReason::kFin;
    } else {
        ++summary_.flows_timed_out;
    }
    end_flow(flow, reason);
}

void Pipeline::set_direction(Flow& flow) {
    flow.direction = events::Direction::kUnknown;
    if (is_local(flow.source())) {
        flow.direction = events::Direction::kOutbound;
    } else if (is_local(flow.target())) {
        flow.direction = events::Direction::kInbound;
    }
}

void Pipeline::reverse(Flow& flow) {
    flow.initiator_is_low = !flow.initiator_is_low;
    std::swap(flow.packets[flow::kInitiator], flow.packets[flow::kResponder]);
    std::swap(flow.bytes[flow::kInitiator], flow.bytes[flow::kResponder]);
    std::swap(flow.datagrams[flow::kInitiator], flow.datagrams[flow::kResponder]);
    set_direction(flow);
    if (flow.inspection != nullptr) flow.inspection->session.reverse();
}

void Pipeline::emit_connect(Flow& flow) {
    flow.connect_pending = false;
    emit(flow, events::Activity::kConnect, flow.first_us);
}

void Pipeline::orient(Flow& flow, bool sender_is_low, const Packet& packet) {
    // The SYN sender initiates a TCP connection. For a flow picked up later, the side on a
    // service port is the responder, and otherwise the first sender is the initiator.
    bool sender_initiates = true;
    bool tcp = packet.ip_protocol == decode::ip_protocol::kTcp;
    bool syn = tcp && (packet.tcp_flags & decode::tcp_flag::kSyn);
    bool ack = tcp && (packet.tcp_flags & decode::tcp_flag::kAck);
    bool icmp = packet.ip_protocol == decode::ip_protocol::kIcmp ||
                packet.ip_protocol == decode::ip_protocol::kIcmpv6;
    flow::IcmpRole role = flow::icmp_role(packet.ip_protocol, packet.icmp_type);
    if (syn) {
        sender_initiates = !ack;
    } else if (icmp && role != flow::IcmpRole::kRequest && !flow::is_group_address(packet.target) &&
               packet.source != packet.target) {
        // An ICMP flow contains every message between two addresses, and the requester
        // initiates it, as Zeek pairs an ICMP request with its reply. A response or an
        // error comes from the responder, and another message leaves the question open.
        // Either way the connect event waits for the first request, which decides. A
        // message to a group address is its sender's own, since no reply comes from one,
        // and the two ends of a host's messages to itself cannot be distinguished.
        sender_initiates = role != flow::IcmpRole::kResponse;
        flow.connect_pending = true;
    } else {
        flow.mid_stream = tcp;
        if (looks_like_service(packet.source_port, packet.target_port)) sender_initiates = false;
    }
    flow.initiator_is_low = sender_initiates ? sender_is_low : !sender_is_low;
}

void Pipeline::update_tcp(Flow& flow, Side side, const Packet& packet) {
    uint8_t flags = packet.tcp_flags;
    flow::TcpState& tcp = flow.tcp;
    const Side other = side == flow::kInitiator ? flow::kResponder : flow::kInitiator;
    if (flags & decode::tcp_flag::kSyn) {
        // The first SYN's ISN stays, because a SYN of another ISN either started a new
        // connection (see process_packet()) or came before any reply. The first SYN-ACK
        // acknowledges the SYN it replies to. The client takes that SYN-ACK and responds to a
        // later one of another ISN with a challenge ACK (RFC 5961, section 4). So a later one
        // changes nothing here either, or a server could misalign the streams with it.
        if (!tcp.isn_known[side]) {
            set_initial_sequence(flow, side, packet.seq);
            if (flags & decode::tcp_flag::kAck) set_initial_sequence(flow, other, packet.ack - 1);
            if (packet.window_scale != decode::kNoWindowScale) {
                tcp.set_window_shift(side, packet.window_scale);
            }
        } else if (side == flow::kInitiator && !(flags & decode::tcp_flag::kAck)) {
            // A SYN of another ISN that stayed in the connection (see process_packet()).
            tcp.other_syn = packet.seq;
        }
    } else if (side == flow::kInitiator && (flags & decode::tcp_flag::kAck) &&
               tcp.isn_known[other] && tcp.next_sequence[other] == tcp.isn[other] + 1 &&
               packet.ack - 1 != tcp.isn[other]) {
        // The handshake's ACK of another SYN-ACK than the first one seen, which the client
        // did not get: while the responder has sent nothing but its SYN-ACK, the ACK names
        // the ISN that the client took.
        set_initial_sequence(flow, other, packet.ack - 1);
        tcp.next_sequence[other] = packet.ack;
    }
    bool was_closed = tcp.closed();
    if (flags & decode::tcp_flag::kRst) {
        // A reset far from where its sender's data ends is forged or stray: the receiver would
        // drop it, and the connection goes on (RFC 5961, section 3).
        const int64_t distance = static_cast<int32_t>(packet.seq - tcp.next_sequence[side]);
        if (!tcp.sequence_known[side] ||
            (distance >= -kResetBehindBytes && distance <= kResetAheadBytes)) {
            tcp.rst_seen = true;
        } else {
            summary_.anomalies.add(decode::Anomaly::kTcpSegmentOutsideWindow);
        }
    } else {
        const uint32_t end = packet.seq + static_cast<uint32_t>(packet.payload.size()) +
                             ((flags & decode::tcp_flag::kSyn) ? 1 : 0) +
                             ((flags & decode::tcp_flag::kFin) ? 1 : 0);
        if (!tcp.sequence_known[side] || static_cast<int32_t>(end - tcp.next_sequence[side]) > 0) {
            tcp.next_sequence[side] = end;
        }
        tcp.sequence_known[side] = true;
        tcp.window[side] = packet.window;
        if ((flags & decode::tcp_flag::kSyn) && tcp.window_scaled()) {
            // A SYN's window is not scaled (RFC 7323, section 2.2), so it is stored divided
            // by the shift, and receive_window() scales it back.
            const uint32_t unit = uint32_t{1} << tcp.window_shift(side);
            tcp.window[side] = static_cast<uint16_t>((packet.window + unit - 1) / unit);
        }
    }
    if (flags & decode::tcp_flag::kFin) tcp.fin_seen[side] = true;
    if (!was_closed && flow.tcp.closed()) table_.move_to(&flow, FlowTable::kClosed);
}

void Pipeline::end_tcp_by_flags(Flow& flow, Side side, uint8_t flags) {
    const bool was_closed = flow.tcp.closed();
    if (flags & decode::tcp_flag::kRst) flow.tcp.rst_seen = true;
    if (flags & decode::tcp_flag::kFin) flow.tcp.fin_seen[side] = true;
    if (!was_closed && flow.tcp.closed()) table_.move_to(&flow, FlowTable::kClosed);
}

void Pipeline::set_initial_sequence(Flow& flow, Side side, uint32_t isn) {
    flow.tcp.isn_known[side] = true;
    flow.tcp.isn[side] = isn;
    if (side == flow::kInitiator) flow.tcp.other_syn = isn;
    if (flow.inspection != nullptr) flow.inspection->streams[side].set_initial_sequence(isn);
}

void Pipeline::feed_tcp(Flow& flow, Side side, const Packet& packet) {
    if (flow.inspection == nullptr || packet.payload.empty()) return;
    // The data of a SYN other than the one that opened the connection: its receiver sends
    // a challenge ACK and drops the segment (RFC 5961, section 4), so none of it is read.
    if ((packet.tcp_flags & decode::tcp_flag::kSyn) &&
        (!flow.tcp.isn_known[side] || packet.seq != flow.tcp.isn[side])) {
        return;
    }
    uint32_t seq = packet.seq;
    if (packet.tcp_flags & decode::tcp_flag::kSyn) ++seq;  // SYN occupies one number
    const StreamSource source{&flow, side == flow::kInitiator, &packet};
    flow.inspection->streams[side].add(seq, packet.payload, settings_.reassembly,
                                       stream_deliver(source));
    release_inspection();
}

flow::StreamReassembler::Deliver Pipeline::stream_deliver(const StreamSource& source) {
    // Two pointers, which std::function keeps without allocating: a lambda that captured
    // the flow, the side and the packet one by one cost a heap allocation per segment.
    return [this, &source](std::span<const uint8_t> data, uint64_t offset) {
        if (source.flow->inspection == nullptr) return;
        inspect(*source.flow, detect::Segment{data, source.from_initiator, offset, source.packet});
    };
}

bool Pipeline::is_local(const decode::IpAddress& address) const {
    if (settings_.is_local_address && settings_.is_local_address(address)) return true;
    return std::any_of(settings_.local_networks.begin(), settings_.local_networks.end(),
                       [&](const Cidr& cidr) { return cidr.contains(address); });
}

void Pipeline::expire(int64_t now_us) {
    decoder_.expire_fragments(now_us);
    for (int list = 0; list < FlowTable::kListCount; ++list) {
        int64_t timeout = idle_timeout_us_[list];
        while (Flow* oldest = table_.oldest(list)) {
            if (now_us - oldest->last_us < timeout) break;
            if (list == FlowTable::kClosed) {
                end_flow(oldest,
                         oldest->tcp.rst_seen ? events::EndReason::kRst : events::EndReason::kFin);
            } else {
                ++summary_.flows_timed_out;
                end_flow(oldest, events::EndReason::kTimeout);
            }
        }
    }
    // After the timeouts, whose disconnect events carry the final statistics.
    if (statistics_interval_us_ > 0) emit_due_statistics(now_us);
    std::erase_if(expectations_, [&](const Expectation& e) { return e.expires_us < now_us; });
}

void Pipeline::finish() {
    std::vector<Flow*> flows;
    flows.reserve(table_.size());
    table_.for_each([&](Flow& flow) { flows.push_back(&flow); });
    std::sort(flows.begin(), flows.end(),
              [](const Flow* a, const Flow* b) { return a->number < b->number; });
    for (Flow* flow : flows) {
        events::EndReason reason = events::EndReason::kEndOfInput;
        if (flow->tcp.closed()) {
            reason = flow->tcp.rst_seen ? events::EndReason::kRst : events::EndReason::kFin;
        }
        end_flow(flow, reason);
    }
    decoder_.end_fragments();
    publish_memory(memory_in_use(), true);
    if (shared_ != nullptr) publish_oldest_idle(0);
    for (events::EventSink* sink : sinks_) sink->flush();
}

Summary Pipeline::summary() const {
    Summary summary = summary_;
    summary.anomalies.merge(decoder_.anomalies());
    summary.memory = memory_.report();
    return summary;
}

}  // namespace pw::pipeline
