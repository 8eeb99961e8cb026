#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "decode/decoder.h"
#include "detect/detector.h"
#include "events/event.h"
#include "flow/flow_table.h"
#include "pipeline/detector_set.h"
#include "pipeline/memory_bound.h"
#include "pipeline/settings.h"
#include "pipeline/shared_bounds.h"

namespace pw::pipeline {

struct Inspection;

// The transports whose inspection is counted apart, as nDPI's ndpiReader reports them.
enum class TransportClass : uint8_t { kTcp, kUdp, kOther };
inline constexpr size_t kTransportClasses = 3;

// Inspection counts of one transport class.
struct TransportInspection {
    uint64_t flows = 0;    // flows created
    uint64_t packets = 0;  // segments handed to the detectors (see Pipeline::inspect())
};

// The number of detect::Transport values.
inline constexpr size_t kTransportCount = static_cast<size_t>(detect::Transport::kOther) + 1;

// Counts the analyze summary prints.
struct Summary {
    uint64_t frames = 0;       // frames read
    uint64_t packets = 0;      // packets of tracked transports
    uint64_t bytes = 0;        // wire bytes of all frames
    uint64_t not_tracked = 0;  // frames that are not IP, or IP of another transport
    uint64_t malformed = 0;    // frames skipped for an anomaly
    uint64_t fragments_held = 0;
    uint64_t flows = 0;
    uint64_t flows_timed_out = 0;
    uint64_t flows_evicted = 0;
    uint64_t flows_inspected = 0;     // flows that handed data to the detectors
    uint64_t segments_inspected = 0;  // segments handed to the detectors, over all flows
    uint64_t detector_calls = 0;      // Detector::inspect calls, over all flows
    uint64_t bytes_inspected = 0;     // segment bytes those calls were handed
    std::array<TransportInspection, kTransportClasses> inspection_by_transport{};
    uint64_t tcp_gaps = 0;  // stream gaps skipped by reassembly
    uint64_t events = 0;
    std::map<ProtocolId, uint64_t> flows_by_protocol;
    decode::AnomalyCounters anomalies;
    MemoryReport memory;
};

// What the live agent shows of a flow that is still open.
struct OpenFlow {
    std::string connection_uid;
    uint8_t ip_protocol = 0;
    decode::IpAddress source;  // initiator
    uint16_t source_port = 0;
    decode::IpAddress target;
    uint16_t target_port = 0;
    events::Direction direction = events::Direction::kUnknown;
    bool closed = false;                // TCP: FIN both ways or RST seen
    std::vector<ProtocolId> protocols;  // identified so far
    uint64_t bytes_in = 0;              // relative to the device, as in statistics events
    uint64_t bytes_out = 0;
    int64_t first_us = 0;
    int64_t last_us = 0;
};

// The analysis pipeline: decode, flow tracking, TCP reassembly, detection and events. It
// is single-threaded; run one per worker with flows sharded by FlowKey::hash().
class Pipeline {
  public:
    Pipeline(Settings settings, std::vector<events::EventSink*> sinks);
    ~Pipeline();
    Pipeline(const Pipeline&) = delete;
    Pipeline& operator=(const Pipeline&) = delete;

    static bool supports_link_type(int linktype) {
        return decode::Decoder::supports_link_type(linktype);
    }

    // Which flows of a frame to track. A Teredo frame holds two: its own UDP flow and the
    // IPv6 flow inside, which a sharded pipeline may hand to different workers.
    enum class Part : uint8_t { kWhole, kOuter, kInner };

    // `number` is the frame's place in the input, from 1, which goes into the id of a
    // connection that the frame starts. With 0 the pipeline counts the frames it was given.
    // A sharded pipeline numbers every frame of the input, so that ids do not depend on
    // which worker analyzed a frame.
    void process_frame(int linktype, std::span<const uint8_t> frame, uint32_t wire_length,
                       int64_t time_us, Part part = Part::kWhole, uint64_t number = 0);

    // True when a frame at `time_us` makes the pipeline look for idle flows: at most once
    // per kExpiryCheckIntervalUs of capture time.
    bool expiry_due(int64_t time_us) const {
        return time_us - last_expiry_check_us_ >= kExpiryCheckIntervalUs;
    }
    // Ends the flows idle past their timeout at `now_us`. process_frame() calls it when
    // expiry_due(); a sharded pipeline calls it on every worker at the times one pipeline
    // reading the whole input would, so that flows time out alike.
    void expire_idle(int64_t now_us);

    // Idle flows are looked for at most this often (capture time), so that the cost of
    // expiry stays flat however many packets arrive.
    static constexpr int64_t kExpiryCheckIntervalUs = 1'000'000;

    // Ends every flow (reason end_of_input, or fin/rst for closed connections) and flushes
    // the sinks. Call once at the end of the input.
    void finish();

    // The summary so far; the anomaly counts include the decoder's.
    Summary summary() const;

    // Numbers flows first, first + step, first + 2 * step...: each worker of a sharded
    // pipeline takes its own residue, so that no two flows share a number.
    void number_flows_from(uint64_t first, uint64_t step) {
        next_flow_number_ = first;
        flow_number_step_ = step;
    }

    // Makes the pipeline hold its flows and memory against `bounds`, which other pipelines
    // share, instead of against its own settings' max_flows and max_memory_bytes. `index`
    // is the pipeline's place among them, below bounds.pipelines. Call before the first
    // frame; `bounds` must outlive the pipeline.
    void share_bounds(SharedBounds& bounds, size_t index) {
        shared_ = &bounds;
        shared_index_ = index;
    }

    // Ends flows or drops held data while the flows or memory shared with other pipelines
    // are over a bound, as after a frame at `now_us`. A pipeline whose thread waits for
    // another calls it, because the others leave the ending of its older flows to it.
    void keep_bounds(int64_t now_us) {
        enforce_flow_bound(now_us);
        enforce_memory_bound(now_us);
    }

    // For live capture (live_flows.cpp). Marks every open flow partial, after the capture dropped
    // packets.
    void mark_open_flows_partial();
    std::vector<OpenFlow> open_flows() const;

  private:
    struct Expectation {
        detect::ExpectedFlow flow;
        int64_t expires_us;
    };

    void process_packet(const decode::Packet& packet);
    void process_udp_tunnel(const decode::Packet& outer, int64_t time_us);
    flow::Flow* create_flow(const flow::FlowKey& key, bool sender_is_low,
                            const decode::Packet& packet);
    void orient(flow::Flow& flow, bool sender_is_low, const decode::Packet& packet);
    // Sets the direction from the flow's endpoints and the local networks.
    void set_direction(flow::Flow& flow);
    // Makes the responder the initiator, with the counts of each side.
    void reverse(flow::Flow& flow);
    // Emits the connect event, which carries the time of the flow's first packet.
    void emit_connect(flow::Flow& flow);
    // Emits a statistics event of `flow` at `now_us` and restarts its interval.
    void emit_statistics(flow::Flow& flow, int64_t now_us);
    // Emits the statistics of every flow whose interval ran out by `now_us`.
    void emit_due_statistics(int64_t now_us);
    // Ends a TCP connection whose port pair a new connection's SYN reuses.
    void end_replaced_connection(flow::Flow* flow);
    void update_tcp(flow::Flow& flow, flow::Side side, const decode::Packet& packet);
    // Notes the FIN or RST of a segment whose header the snapshot length cut.
    void end_tcp_by_flags(flow::Flow& flow, flow::Side side, uint8_t flags);
    // Records `isn` as the ISN of `side`, where its stream's data starts.
    void set_initial_sequence(flow::Flow& flow, flow::Side side, uint32_t isn);
    void feed_tcp(flow::Flow& flow, flow::Side side, const decode::Packet& packet);
    // The origin of a TCP stream's data: its flow, its direction and the packet (for a
    // flush at the flow's end, a packet that only carries the time).
    struct StreamSource {
        flow::Flow* flow;
        bool from_initiator;
        const decode::Packet* packet;
    };
    // A callback that hands the data a stream delivers to the detectors; `source` must
    // outlive it.
    flow::StreamReassembler::Deliver stream_deliver(const StreamSource& source);
    // Hands the segment to the detectors; `again` is true when an inner layer that starts in
    // this segment has them read it a second time.
    void inspect(flow::Flow& flow, const detect::Segment& segment, bool again = false);
    void start_inspection(flow::Flow& flow);
    void stop_inspection(flow::Flow& flow);
    void release_inspection();
    void match_expectation(flow::Flow& flow);
    void expire(int64_t now_us);
    void end_flow(flow::Flow* flow, events::EndReason reason);
    void emit(const flow::Flow& flow, events::Activity activity, int64_t time_us,
              events::EndReason reason = events::EndReason::kNone);
    bool is_local(const decode::IpAddress& address) const;
    size_t memory_in_use() const;
    // Returns the memory in use by every pipeline that shares the bounds, with this one's
    // counted at `own` bytes. Without shared bounds, returns `own`.
    size_t memory_in_use_by_all(size_t own) const;
    // Adds this pipeline's memory in use to the shared total; with `always`, even when it
    // changed by less than SharedBounds::kMemoryStep.
    void publish_memory(size_t own, bool always);
    // Returns true when a new flow fits in the flow table, counting it in the shared bounds.
    bool take_flow_place();
    // Returns true when another pipeline that shares the flow bound has a flow idle longer
    // than `oldest`, this pipeline's oldest, at `now_us`, and may end it first.
    bool leaves_flow_to_others(const flow::Flow& oldest, int64_t now_us) const;
    // With shared bounds over max_flows, ends this pipeline's oldest flows while they are
    // idle longer than any other pipeline's.
    void enforce_flow_bound(int64_t now_us);
    void enforce_memory_bound(int64_t now_us);
    // Publishes how long the oldest flow has been idle at `now_us`, -1 for none.
    void publish_oldest_idle(int64_t now_us);
    void evict_for_memory(flow::Flow* flow);

    Settings settings_;
    std::vector<events::EventSink*> sinks_;
    MemoryBound memory_;  // before the flows, whose streams it accounts
    decode::Decoder decoder_;
    flow::FlowTable table_;
    std::vector<std::unique_ptr<detect::Detector>> detectors_;  // indexed by slot
    // Per detect::Transport, the detectors that do not inspect it; the detectors that
    // exist; and those whose keeps_inspecting() is true. Computed once, since every
    // segment consults them.
    std::array<DetectorSet, kTransportCount> unwanted_{};
    DetectorSet registered_;
    DetectorSet keeps_inspecting_;
    std::vector<Expectation> expectations_;
    std::vector<uint8_t> tunnel_buffer_;
    // The packets process_frame() and process_udp_tunnel() decode into, kept so that no
    // packet is zeroed per frame on top of what decode() does.
    decode::Packet frame_packet_;
    decode::Packet tunnel_packet_;
    std::unique_ptr<Inspection> retired_inspection_;  // see stop_inspection()
    size_t inspections_ = 0;                          // flows whose inspection has not ended
    // The heap that the inspections and their detectors' states hold, as measured by
    // heap_meter (memory_bound.cpp); 0 in programs that do not count.
    int64_t inspection_heap_ = 0;
    Summary summary_;
    int64_t last_expiry_check_us_ = 0;
    int64_t idle_timeout_us_[flow::FlowTable::kListCount] = {};
    int64_t statistics_interval_us_ = 0;
    uint64_t next_flow_number_ = 1;
    uint64_t frame_number_ = 0;  // of the frame being analyzed (process_frame())
    uint64_t flow_number_step_ = 1;
    SharedBounds* shared_ = nullptr;  // see share_bounds()
    size_t shared_index_ = 0;
    int64_t published_memory_ = 0;  // this pipeline's part of shared_->memory_bytes
};

}  // namespace pw::pipeline
