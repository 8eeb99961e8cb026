#include "pipeline/sharded_pipeline.h"

#include <pcap/dlt.h>
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <iterator>
#include <string>

#include "flow/flow_key.h"
#include "pipeline/tunnels.h"

namespace pw::pipeline {
namespace {

// A batch goes to its worker when it has this many frames or bytes (of copied frames).
constexpr size_t kBatchFrames = 1024;
constexpr size_t kBatchBytes = 256 * 1024;
// The longest frame in a capture file (libpcap's maximum captured length).
constexpr size_t kMaxFrameBytes = 262144;
// The bytes of copied frames a batch may hold: it is handed over once past kBatchBytes.
constexpr size_t kBatchCopyBytes = kBatchBytes + kMaxFrameBytes;
// A reader that waited for room in a worker's queue goes on once the queue is down to
// this, so that it is woken once per few batches, not once per batch.
constexpr size_t kRefillDepth = ShardedPipeline::kQueueDepth - 4;
// An idle worker gets the frames of its batch once there are this many, so that it does
// not wait while the caller's thread analyzes its own frames, nor wake for every frame.
constexpr size_t kIdleBatchFrames = 128;
// Frames ahead whose first bytes a worker prefetches while it analyzes one.
constexpr size_t kPrefetchFrames = 2;
// How often a caller that waits for room in a worker's queue looks at the shared bounds.
constexpr auto kBoundWait = std::chrono::microseconds(200);
// How long a worker out of work watches its queue before it sleeps. Waking a sleeping
// thread costs the caller a system call, and on a virtual machine the sleeping CPU a
// round trip through the hypervisor. A worker that slept after each batch made the caller
// pay that per batch whenever the caller's thread analyzed a run of its own frames.
constexpr auto kSpin = std::chrono::microseconds(50);

// Tells the CPU that this is a wait loop, which lets a sibling hardware thread run.
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

// Whether a datagram that carries `protocol` (FragmentPlace::carried) may be a tunnel's,
// whose later fragments go where the first one's inner pair is owned. TCP and ICMP are
// never unwrapped.
bool may_be_tunnel(uint8_t protocol) {
    switch (protocol) {
        case decode::ip_protocol::kTcp:
        case decode::ip_protocol::kIcmp:
        case decode::ip_protocol::kIgmp:
        case decode::ip_protocol::kIcmpv6:
            return false;
        default:
            return true;
    }
}

// Passes every event to the wrapped sinks under one lock.
class LockedSink : public events::EventSink {
  public:
    explicit LockedSink(std::vector<events::EventSink*> sinks) : sinks_(std::move(sinks)) {}
    void write(const events::Event& event) override {
        std::lock_guard lock(mutex_);
        for (events::EventSink* sink : sinks_) sink->write(event);
    }
    void flush() override {
        std::lock_guard lock(mutex_);
        for (events::EventSink* sink : sinks_) sink->flush();
    }
    void run_locked(const std::function<void()>& task) {
        std::lock_guard lock(mutex_);
        task();
    }

  private:
    std::mutex mutex_;
    std::vector<events::EventSink*> sinks_;
};

void add(Summary& total, const Summary& part) {
    total.frames += part.frames;
    total.packets += part.packets;
    total.bytes += part.bytes;
    total.not_tracked += part.not_tracked;
    total.malformed += part.malformed;
    total.fragments_held += part.fragments_held;
    total.flows += part.flows;
    total.flows_timed_out += part.flows_timed_out;
    total.flows_evicted += part.flows_evicted;
    total.flows_inspected += part.flows_inspected;
    total.segments_inspected += part.segments_inspected;
    total.detector_calls += part.detector_calls;
    total.bytes_inspected += part.bytes_inspected;
    for (size_t i = 0; i < kTransportClasses; ++i) {
        total.inspection_by_transport[i].flows += part.inspection_by_transport[i].flows;
        total.inspection_by_transport[i].packets += part.inspection_by_transport[i].packets;
    }
    total.tcp_gaps += part.tcp_gaps;
    total.events += part.events;
    for (const auto& [id, count] : part.flows_by_protocol) total.flows_by_protocol[id] += count;
    total.anomalies.merge(part.anomalies);
    // The pipelines share one bound, and each records the peak of their memory together.
    total.memory.limit_bytes = std::max(total.memory.limit_bytes, part.memory.limit_bytes);
    total.memory.peak_bytes = std::max(total.memory.peak_bytes, part.memory.peak_bytes);
    total.memory.flows_evicted += part.memory.flows_evicted;
    total.memory.fragment_sets_evicted += part.memory.fragment_sets_evicted;
    total.memory.reassembly_buffers_evicted += part.memory.reassembly_buffers_evicted;
    total.memory.reassembly_bytes_evicted += part.memory.reassembly_bytes_evicted;
}

}  // namespace

ShardedPipeline::ShardedPipeline(Settings settings, std::vector<events::EventSink*> sinks,
                                 unsigned threads)
    : shard_decoder_(settings.fragments) {
    threads = std::max(threads, 1u);
    if (threads == 1) {
        pipelines_.push_back(std::make_unique<Pipeline>(std::move(settings), std::move(sinks)));
        return;
    }
    // Only sinks that exist need the lock: a pipeline with no sink skips building events.
    std::vector<events::EventSink*> pipeline_sinks;
    if (!sinks.empty()) {
        locked_sink_ = std::make_unique<LockedSink>(std::move(sinks));
        pipeline_sinks.push_back(locked_sink_.get());
    }
    // The flow table and memory bounds hold for all pipelines together.
    bounds_ =
        std::make_unique<SharedBounds>(settings.max_flows, settings.max_memory_bytes, threads);
    for (unsigned i = 0; i < threads; ++i) {
        pipelines_.push_back(std::make_unique<Pipeline>(settings, pipeline_sinks));
        pipelines_.back()->share_bounds(*bounds_, i);
        pipelines_.back()->number_flows_from(i + 1, threads);
    }
    // A bucket may change owner once idle past every timeout of what a pipeline keeps per
    // address pair (flows, announced data connections, IP fragments), plus two expiry
    // checks. The pipelines look for idle flows at the same moments, at most one check
    // interval apart, so by then the old owner has ended all of it.
    const double longest_s =
        std::max({settings.tcp_idle_timeout_s, settings.udp_idle_timeout_s,
                  settings.other_idle_timeout_s, settings.igmp_idle_timeout_s,
                  settings.tcp_closed_linger_s, settings.expected_flow_timeout_s,
                  static_cast<double>(settings.fragments.timeout_us) / 1e6});
    // A later fragment waits for its first one as long as a pipeline would keep it, and a
    // first fragment's destination is kept as long.
    fragment_wait_us_ = settings.fragments.timeout_us;
    max_held_fragments_ = settings.fragments.max_datagrams * kHeldFragmentsPerDatagram;
    max_held_bytes_ = settings.fragments.max_bytes;
    const double hold_us = longest_s * 1e6 + 2.0 * Pipeline::kExpiryCheckIntervalUs;
    // A hold past the last unit never ends: owners then stay as first given.
    const double hold_units = hold_us / (1 << 24) + 2;
    hold_units_ = hold_units < kLatestUnit ? static_cast<uint32_t>(hold_units) : kLatestUnit;
    buckets_.assign(kShardBuckets, 0);
    for (unsigned i = 1; i < threads; ++i) {
        workers_.push_back(std::make_unique<Worker>());
        // Every batch a worker can have in flight (queued, being analyzed and being filled),
        // made now, so that handing frames over never allocates.
        Worker& worker = *workers_.back();
        worker.filling = make_batch(0);
        for (size_t batch = 1; batch < kBatchesPerWorker; ++batch) {
            worker.empty.push_back(make_batch(batch));
        }
    }
    for (unsigned i = 1; i < threads; ++i) {
        workers_[i - 1]->thread = std::thread([this, i] {
            // Named for top and perf, which show each thread by its name.
            pthread_setname_np(pthread_self(), ("pw-worker-" + std::to_string(i)).c_str());
            run(i);
        });
    }
    steer_workers();
}

void ShardedPipeline::steer_workers() {
    // A new thread often starts queued behind its busy creator on the creator's CPU, and
    // runs only once the scheduler moves it, milliseconds later. So each worker is moved
    // to the CPUs the process may use other than the caller's, and takes all of them
    // again with its first batch, which comes only after this.
    if (sched_getaffinity(0, sizeof allowed_cpus_, &allowed_cpus_) != 0) return;
    cpu_set_t elsewhere = allowed_cpus_;
    const int caller_cpu = sched_getcpu();
    if (caller_cpu < 0 || !CPU_ISSET(caller_cpu, &elsewhere)) return;
    CPU_CLR(caller_cpu, &elsewhere);
    if (CPU_COUNT(&elsewhere) == 0) return;
    for (auto& worker : workers_) {
        worker->steered = pthread_setaffinity_np(worker->thread.native_handle(), sizeof elsewhere,
                                                 &elsewhere) == 0;
    }
}

std::unique_ptr<ShardedPipeline::Batch> ShardedPipeline::make_batch(size_t index) {
    auto batch = std::make_unique<Batch>();
    // A batch is handed over once it has kBatchFrames frames, so that it never has more.
    batch->frames = std::make_unique_for_overwrite<FrameRef[]>(kBatchFrames);
    batch->index = index;
    return batch;
}

ShardedPipeline::~ShardedPipeline() {
    // An exception between construction and finish() must not leave threads running.
    for (auto& worker : workers_) {
        {
            std::lock_guard lock(worker->mutex);
            worker->closing = true;
        }
        worker->work.notify_one();
        if (worker->thread.joinable()) worker->thread.join();
    }
}

size_t ShardedPipeline::least_loaded() const {
    size_t best = 0;
    size_t shortest = assign_depth_;
    for (size_t i = 0; i < workers_.size(); ++i) {
        const size_t queued = workers_[i]->queued.load(std::memory_order_relaxed);
        if (queued < shortest) {
            best = i + 1;
            shortest = queued;
        }
    }
    return best;
}

void ShardedPipeline::input_left(uint64_t bytes, uint64_t total) {
    const uint64_t end = std::min(kAssignDepth * kEndBytesPerBatch, total / kEndShare);
    if (end == 0 || bytes >= end) {
        assign_depth_ = kAssignDepth;
        return;
    }
    // At most kAssignDepth * bytes < kAssignDepth * end, which cannot overflow.
    assign_depth_ = static_cast<size_t>(kAssignDepth * bytes / end);
}

size_t ShardedPipeline::owner_of_bucket(size_t index, uint32_t now) {
    uint32_t& bucket = buckets_[index];
    const uint32_t seen = bucket >> kOwnerBits;
    uint32_t owner = (bucket & kOwnerMask) - 1;  // UINT32_MAX for none
    // Idle counts up to the last look for idle flows, not to this frame: the pipelines end
    // a flow only at such a look, which a capture whose time jumps may not have had yet.
    if (owner == UINT32_MAX || (checked_unit_ > seen && checked_unit_ - seen > hold_units_)) {
        owner = static_cast<uint32_t>(in_turn_ ? next_turn_++ % pipelines_.size() : least_loaded());
        bucket = now << kOwnerBits | (owner + 1);
    } else if (now > seen) {
        bucket = now << kOwnerBits | (owner + 1);
    }
    last_bucket_ = index;
    last_unit_ = bucket >> kOwnerBits;
    last_owner_ = owner;
    return owner;
}

void ShardedPipeline::process_frame(int linktype, std::span<const uint8_t> frame,
                                    uint32_t wire_length, int64_t time_us, bool borrowed) {
    ++frames_;
    latest_time_us_ = time_us;
    if (workers_.empty()) {
        pipelines_.front()->process_frame(linktype, frame, wire_length, time_us);
        return;
    }
    if (borrowed) {
        const auto position = reinterpret_cast<uintptr_t>(frame.data());
        if (position < borrow_check_low_ || position > borrow_check_high_) {
            hand_over_old_borrowed(position);
        }
    }
    const uint8_t* source = nullptr;
    const uint8_t* target = nullptr;
    bool v6 = false;
    if (time_us - last_expiry_check_us_ < Pipeline::kExpiryCheckIntervalUs &&
        decode::Decoder::shard_addresses(linktype, frame, source, target, v6)) {
        // Most frames: neither a tunnel nor a fragment, so their own addresses decide.
        route(owner_of(flow::address_pair_hash(source, target, v6), time_us), linktype, frame,
              wire_length, time_us, Pipeline::Part::kWhole, borrowed, frames_);
        return;
    }
    process_other_frame(linktype, frame, wire_length, time_us, borrowed);
}

void ShardedPipeline::process_other_frame(int linktype, std::span<const uint8_t> frame,
                                          uint32_t wire_length, int64_t time_us, bool borrowed) {
    const bool expiry_due = time_us - last_expiry_check_us_ >= Pipeline::kExpiryCheckIntervalUs;
    decode::Packet addresses;
    decode::FragmentPlace fragment;
    const decode::DecodeResult result =
        shard_decoder_.addresses(linktype, frame, wire_length, addresses, &fragment);
    Destination to;
    bool waits = false;
    if (fragment.found) {
        waits = !destination_of_fragment(fragment, addresses, time_us, to);
    } else if (result == decode::DecodeResult::kPacket) {
        to = destination_of(addresses, time_us);
    }
    if (expiry_due) {
        // One pipeline looks for idle flows when a frame arrives a check interval after
        // the last look, whatever the frame holds, so every pipeline looks at that moment
        // of the input too.
        last_expiry_check_us_ = time_us;
        checked_unit_ = time_units(time_us);
        // Fragments that waited here as long as a pipeline keeps them go first, so that
        // this look times them out as one pipeline's would have.
        if (!held_.empty()) release_stale_fragments(time_us - fragment_wait_us_);
        shard_decoder_.expire_fragments(time_us);  // the datagrams it reassembles itself
        pipelines_.front()->expire_idle(time_us);
        for (auto& worker : workers_) {
            Batch& batch = *worker->filling;
            batch.frames[batch.count++] = {
                nullptr, time_us, 0, 0, 0, kExpiryTick, Pipeline::Part::kWhole};
            if (batch.count >= kBatchFrames) hand_over(*worker);
        }
    }
    if (waits) {
        hold_fragment(fragment, linktype, frame, wire_length, time_us);
        resolve_held(fragment, linktype, frame, wire_length, time_us);
        return;
    }
    // The fragments that came before the first go ahead of it, so that the datagram is
    // complete at the same frame as with one pipeline.
    if (fragment.found && fragment.first && !held_.empty() && release_fragments(fragment, to)) {
        // The datagram's other fragments are in the caller's decoder (resolve_held()). This
        // one completes or extends the set there, so that it does not wait for its timeout.
        decode::Packet ignored;
        shard_decoder_.decode(linktype, frame, wire_length, time_us, ignored);
    }
    deliver(to, linktype, frame, wire_length, time_us, borrowed, frames_);
}

ShardedPipeline::Destination ShardedPipeline::destination_of(const decode::Packet& addresses,
                                                             int64_t time_us) {
    Destination to;
    to.owner = owner_of(addresses.source, addresses.target, time_us);
    // A Teredo frame's inner IPv6 flow belongs to the pipeline of the inner addresses. The
    // start of the IPv6 packet is enough to find them, which a first fragment has.
    uint32_t inner_length = 0;
    std::span<const uint8_t> inner = udp_tunnel_start(addresses, inner_length);
    if (inner.empty()) return to;
    inner_.assign(inner.begin(), inner.end());
    decode::Packet inner_addresses;
    if (shard_decoder_.addresses(DLT_IPV6, inner_, inner_length, inner_addresses) ==
        decode::DecodeResult::kPacket) {
        const size_t inner_owner =
            owner_of(inner_addresses.source, inner_addresses.target, time_us);
        if (inner_owner != to.owner) to.inner_owner = inner_owner;
    }
    return to;
}

bool ShardedPipeline::destination_of_fragment(const decode::FragmentPlace& fragment,
                                              const decode::Packet& addresses, int64_t time_us,
                                              Destination& to) {
    // The fragments of a datagram go where the pairs that the datagram carries are owned.
    // Only the first fragment shows a tunnel's inner pair (or a Teredo datagram's inner
    // IPv6 pair), so its destination is kept for the later fragments, in whatever order
    // they come.
    const bool tunnel = may_be_tunnel(fragment.carried);
    if (fragment.first && (!tunnel || fragment.length >= kShowingBytes)) {
        to = destination_of(addresses, time_us);
        if (tunnel && !fragment.last) keep_destination(fragment, to, time_us);
        return true;
    }
    if (fragment.first) {
        // Too short to show the pairs: the datagram waits to be reassembled. An entry of its
        // key belongs to an earlier datagram with the same id.
        if (FragmentOwner* stale = kept_destination(fragment, time_us)) stale->used = false;
        return false;
    }
    if (FragmentOwner* kept = kept_destination(fragment, time_us)) {
        to = kept->to;
        count_fragment(*kept, fragment);
        return true;
    }
    if (!tunnel) {
        to.owner = owner_of(fragment.source, fragment.target, time_us);
        return true;
    }
    return false;
}

void ShardedPipeline::resolve_held(const decode::FragmentPlace& fragment, int linktype,
                                   std::span<const uint8_t> frame, uint32_t wire_length,
                                   int64_t time_us) {
    // The caller's decoder reassembles the datagram as a pipeline would. Once it is whole,
    // it shows every pair the datagram carries.
    decode::Packet whole;
    if (shard_decoder_.decode(linktype, frame, wire_length, time_us, whole) !=
        decode::DecodeResult::kPacket) {
        return;
    }
    release_fragments(fragment, destination_of(whole, time_us));
}

ShardedPipeline::FragmentOwner* ShardedPipeline::fragment_set(
    const decode::FragmentPlace& fragment) {
    if (fragment_owners_.empty()) fragment_owners_.resize(kFragmentWays << fragment_set_bits_);
    const uint64_t hash = DatagramKeyHash{}(key_of(fragment));
    return &fragment_owners_[(hash >> (64 - fragment_set_bits_)) * kFragmentWays];
}

void ShardedPipeline::grow_fragment_owners() {
    std::vector<FragmentOwner> old = std::move(fragment_owners_);
    ++fragment_set_bits_;
    fragment_owners_.assign(kFragmentWays << fragment_set_bits_, FragmentOwner{});
    for (const FragmentOwner& entry : old) {
        if (!entry.used) continue;
        const uint64_t hash = DatagramKeyHash{}(entry.key);
        FragmentOwner* set = &fragment_owners_[(hash >> (64 - fragment_set_bits_)) * kFragmentWays];
        *std::find_if(set, set + kFragmentWays,
                      [](const FragmentOwner& way) { return !way.used; }) = entry;
    }
}

size_t ShardedPipeline::DatagramKeyHash::operator()(const DatagramKey& key) const {
    // Each 8-byte half of each address gets its own odd multiplier, and mix64() mixes the
    // sum into every bit.
    auto half = [](const decode::IpAddress& address, size_t at) {
        uint64_t word = 0;
        std::memcpy(&word, address.bytes.data() + at, sizeof word);
        return word;
    };
    return flow::detail::mix64(
        half(key.source, 0) * 0x9e3779b97f4a7c15ull + half(key.source, 8) * 0xc2b2ae3d27d4eb4full +
        half(key.target, 0) * 0x165667b19e3779f9ull + half(key.target, 8) * 0x27d4eb2f165667c5ull +
        (uint64_t{key.id} << 8 | key.protocol));
}

ShardedPipeline::FragmentOwner* ShardedPipeline::kept_entry(const decode::FragmentPlace& fragment) {
    if (fragment_owners_.empty()) return nullptr;
    FragmentOwner* set = fragment_set(fragment);
    const DatagramKey key = key_of(fragment);
    for (size_t way = 0; way < kFragmentWays; ++way) {
        if (set[way].used && set[way].key == key) return &set[way];
    }
    return nullptr;
}

ShardedPipeline::FragmentOwner* ShardedPipeline::kept_destination(
    const decode::FragmentPlace& fragment, int64_t time_us) {
    FragmentOwner* entry = kept_entry(fragment);
    if (entry == nullptr || time_us - entry->time_us > fragment_wait_us_) return nullptr;
    return entry;
}

void ShardedPipeline::keep_destination(const decode::FragmentPlace& fragment, const Destination& to,
                                       int64_t time_us) {
    FragmentOwner* set = fragment_set(fragment);
    // The datagram's own entry (a first fragment sent again), else a free or outdated one.
    // A full set makes the table grow, and once it may not, gives up its oldest entry.
    FragmentOwner* place = kept_entry(fragment);
    const auto free_place = [&] {
        for (size_t way = 0; way < kFragmentWays && place == nullptr; ++way) {
            if (!set[way].used || time_us - set[way].time_us > fragment_wait_us_) {
                place = &set[way];
            }
        }
    };
    free_place();
    while (place == nullptr && fragment_set_bits_ < kFragmentSetBits) {
        grow_fragment_owners();
        set = fragment_set(fragment);
        free_place();
    }
    if (place == nullptr) {
        place = std::min_element(
            set, set + kFragmentWays,
            [](const FragmentOwner& a, const FragmentOwner& b) { return a.time_us < b.time_us; });
    }
    *place = {key_of(fragment), true, time_us, to};
    count_fragment(*place, fragment);
}

void ShardedPipeline::count_fragment(FragmentOwner& entry, const decode::FragmentPlace& fragment) {
    entry.seen += fragment.length;
    if (fragment.last) entry.total = fragment.offset + fragment.length;
    // Copies of a fragment count twice, so an entry may go early. A copy that comes later
    // then waits as if its first fragment had not come.
    if (entry.total != 0 && entry.seen >= entry.total) entry.used = false;
}

void ShardedPipeline::hold_fragment(const decode::FragmentPlace& fragment, int linktype,
                                    std::span<const uint8_t> frame, uint32_t wire_length,
                                    int64_t time_us) {
    const DatagramKey key = key_of(fragment);
    auto [datagram, added] = held_.try_emplace(key);
    if (added) {
        datagram->second.serial = next_held_serial_++;
        held_order_.emplace(time_us, HeldOrder{key, datagram->second.serial, time_us});
        // Entries of released datagrams stay until they reach the front. Behind a datagram
        // that waits long they would pile up, so they go once they outnumber the rest.
        if (held_order_.size() > 2 * held_.size() + 1024) {
            std::erase_if(held_order_, [this](const auto& entry) {
                auto found = held_.find(entry.second.key);
                return found == held_.end() || found->second.serial != entry.second.serial;
            });
        }
    }
    HeldFragment& copy = datagram->second.fragments.emplace_back();
    copy.place = fragment;
    copy.bytes.assign(frame.begin(), frame.end());
    copy.linktype = linktype;
    copy.wire_length = wire_length;
    copy.time_us = time_us;
    copy.number = frames_;
    ++held_frames_;
    held_bytes_ += frame.size();
    if (held_frames_ > max_held_fragments_ || held_bytes_ > max_held_bytes_) {
        release_stale_fragments(INT64_MIN);
    }
}

bool ShardedPipeline::release_fragments(const decode::FragmentPlace& fragment,
                                        const Destination& to) {
    auto datagram = held_.find(key_of(fragment));
    if (datagram == held_.end()) return false;
    // The first fragment's entry, if kept, counts the fragments that waited for it.
    if (FragmentOwner* entry = kept_entry(fragment)) {
        for (const HeldFragment& waiting : datagram->second.fragments) {
            count_fragment(*entry, waiting.place);
        }
    }
    release_datagram(datagram, to);
    return true;
}

void ShardedPipeline::release_datagram(
    std::unordered_map<DatagramKey, HeldDatagram, DatagramKeyHash>::iterator datagram,
    const Destination& to) {
    for (const HeldFragment& waiting : datagram->second.fragments) {
        deliver(to, waiting.linktype, waiting.bytes, waiting.wire_length, waiting.time_us, false,
                waiting.number);
        --held_frames_;
        held_bytes_ -= waiting.bytes.size();
    }
    held_.erase(datagram);
}

void ShardedPipeline::release_stale_fragments(int64_t before_us) {
    while (!held_order_.empty()) {
        const HeldOrder oldest = held_order_.begin()->second;
        auto datagram = held_.find(oldest.key);
        if (datagram == held_.end() || datagram->second.serial != oldest.serial) {
            held_order_.erase(held_order_.begin());  // released already
            continue;
        }
        if (oldest.time_us >= before_us && held_frames_ <= max_held_fragments_ &&
            held_bytes_ <= max_held_bytes_) {
            return;
        }
        Destination own;
        own.owner = owner_of(oldest.key.source, oldest.key.target, oldest.time_us);
        release_datagram(datagram, own);
        held_order_.erase(held_order_.begin());
    }
}

void ShardedPipeline::route(size_t pipeline, int linktype, std::span<const uint8_t> frame,
                            uint32_t wire_length, int64_t time_us, Pipeline::Part part,
                            bool borrowed, uint64_t number) {
    if (pipeline == 0) {
        // At once, while the frame's first bytes are still in the cache from finding its
        // owner. The workers' queues keep them busy meanwhile.
        pipelines_.front()->process_frame(linktype, frame, wire_length, time_us, part, number);
    } else {
        enqueue(*workers_[pipeline - 1], linktype, frame, wire_length, time_us, part, borrowed,
                number);
    }
}

void ShardedPipeline::deliver(const Destination& to, int linktype, std::span<const uint8_t> frame,
                              uint32_t wire_length, int64_t time_us, bool borrowed,
                              uint64_t number) {
    if (to.inner_owner == SIZE_MAX) {
        route(to.owner, linktype, frame, wire_length, time_us, Pipeline::Part::kWhole, borrowed,
              number);
        return;
    }
    route(to.owner, linktype, frame, wire_length, time_us, Pipeline::Part::kOuter, borrowed,
          number);
    route(to.inner_owner, linktype, frame, wire_length, time_us, Pipeline::Part::kInner, borrowed,
          number);
}

void ShardedPipeline::enqueue(Worker& worker, int linktype, std::span<const uint8_t> frame,
                              uint32_t wire_length, int64_t time_us, Pipeline::Part part,
                              bool borrowed, uint64_t number) {
    if (!borrowed && frame.size() > kMaxFrameBytes) {
        // Too long for a batch's part of the copy area, which only a damaged or hostile
        // capture has. The worker reads it where it is, and the caller waits for that.
        enqueue(worker, linktype, frame, wire_length, time_us, part, true, number);
        drain();
        return;
    }
    Batch& batch = *worker.filling;
    const uint8_t* bytes = frame.data();
    if (borrowed) {
        if (batch.first_borrowed == 0) {
            batch.first_borrowed = reinterpret_cast<uintptr_t>(bytes);
            narrow_borrow_check(batch.first_borrowed);
        }
    } else {
        // Made at the first copied frame, for every batch: the pages of a part become
        // resident once a frame is copied there.
        if (worker.copies == nullptr) {
            worker.copies =
                std::make_unique_for_overwrite<uint8_t[]>(kBatchesPerWorker * kBatchCopyBytes);
        }
        uint8_t* copy = worker.copies.get() + batch.index * kBatchCopyBytes + batch.bytes_used;
        std::copy(frame.begin(), frame.end(), copy);
        batch.bytes_used += frame.size();
        bytes = copy;
    }
    batch.frames[batch.count++] = {
        bytes, time_us, number, static_cast<uint32_t>(frame.size()), wire_length, linktype, part};
    if (batch.count >= kBatchFrames || batch.bytes_used >= kBatchBytes ||
        (batch.count >= kIdleBatchFrames && worker.idle.load(std::memory_order_relaxed))) {
        hand_over(worker);
    }
}

void ShardedPipeline::hand_over_old_borrowed(uintptr_t position) {
    // A worker whose frames are rare in this part of the input would otherwise keep old
    // borrowed frames in its batch while the caller reads on. Addresses far apart in either
    // direction are frames of another buffer or mapping.
    for (auto& worker : workers_) {
        uintptr_t first = worker->filling->first_borrowed;
        if (first == 0) continue;
        uintptr_t distance = position > first ? position - first : first - position;
        if (distance > kBorrowSpanBytes) hand_over(*worker);
    }
}

void ShardedPipeline::plan_borrow_check() {
    borrow_check_low_ = 0;
    borrow_check_high_ = UINTPTR_MAX;
    for (auto& worker : workers_) {
        if (worker->filling->first_borrowed != 0)
            narrow_borrow_check(worker->filling->first_borrowed);
    }
}

void ShardedPipeline::narrow_borrow_check(uintptr_t first) {
    borrow_check_low_ =
        std::max(borrow_check_low_, first > kBorrowSpanBytes ? first - kBorrowSpanBytes : 0);
    borrow_check_high_ = std::min(borrow_check_high_, first + kBorrowSpanBytes);
}

void ShardedPipeline::hand_over(Worker& worker) {
    std::unique_lock lock(worker.mutex);
    const auto has_room = [&] { return worker.full.size() <= kRefillDepth; };
    if (worker.full.size() >= kQueueDepth) {
        // The caller's pipeline keeps to the shared bounds while it waits.
        while (!worker.room.wait_for(lock, kBoundWait, has_room)) {
            lock.unlock();
            pipelines_.front()->keep_bounds(latest_time_us_);
            lock.lock();
        }
    }
    worker.full.push_back(std::move(worker.filling));
    worker.queued.store(worker.full.size(), std::memory_order_release);
    // Never empty: of kBatchesPerWorker batches, at most kQueueDepth are queued and one is
    // with the worker.
    worker.filling = std::move(worker.empty.back());
    worker.empty.pop_back();
    lock.unlock();
    worker.work.notify_one();
    plan_borrow_check();
}

void ShardedPipeline::run(size_t index) {
    Worker& worker = *workers_[index - 1];
    Pipeline& pipeline = *pipelines_[index];
    bool failed = false;
    while (true) {
        std::unique_ptr<Batch> batch;
        if (worker.queued.load(std::memory_order_acquire) == 0) {
            // Out of work: watch for a batch a while before sleeping. Tasks and closing are
            // rare, and the wait below handles them.
            worker.idle.store(true, std::memory_order_relaxed);
            const auto until = std::chrono::steady_clock::now() + kSpin;
            while (worker.queued.load(std::memory_order_acquire) == 0 &&
                   std::chrono::steady_clock::now() < until) {
                for (int i = 0; i < 16; ++i) cpu_relax();
            }
        }
        {
            std::unique_lock lock(worker.mutex);
            if (worker.full.empty() && worker.tasks.empty() && !worker.closing) {
                worker.idle.store(true, std::memory_order_relaxed);
                worker.work.wait(lock, [&] {
                    return !worker.full.empty() || !worker.tasks.empty() || worker.closing;
                });
                worker.idle.store(false, std::memory_order_relaxed);
            }
            if (worker.full.empty() && !worker.tasks.empty()) {
                // The batches handed over before the task are done, as the caller expects.
                std::function<void()> task = std::move(worker.tasks.front());
                worker.tasks.pop_front();
                lock.unlock();
                task();
                continue;
            }
            if (worker.full.empty()) break;  // closing, and nothing left
            worker.idle.store(false, std::memory_order_relaxed);
            if (worker.steered) {
                worker.steered = false;  // see steer_workers()
                sched_setaffinity(0, sizeof allowed_cpus_, &allowed_cpus_);
            }
            batch = worker.full.pop_front();
            worker.queued.store(worker.full.size(), std::memory_order_relaxed);
            if (worker.full.size() <= kRefillDepth) worker.room.notify_one();
        }
        if (!failed) {
            try {
                const FrameRef* frames = batch->frames.get();
                const size_t count = batch->count;
                for (size_t i = 0; i < count; ++i) {
                    const FrameRef& frame = frames[i];
                    // The caller's thread last touched the next frames' headers: ask for them
                    // now, so that the wait overlaps with the work on this frame.
                    if (i + kPrefetchFrames < count &&
                        frames[i + kPrefetchFrames].bytes != nullptr) {
                        const uint8_t* ahead = frames[i + kPrefetchFrames].bytes;
                        __builtin_prefetch(ahead);
                        __builtin_prefetch(ahead + 64);
                    }
                    if (frame.linktype == kExpiryTick) {
                        pipeline.expire_idle(frame.time_us);
                        continue;
                    }
                    pipeline.process_frame(frame.linktype, {frame.bytes, frame.length},
                                           frame.wire_length, frame.time_us, frame.part,
                                           frame.number);
                }
            } catch (...) {
                // Keep draining so that the reader never waits on a dead worker.
                std::lock_guard lock(worker.mutex);
                worker.error = std::current_exception();
                failed = true;
            }
        }
        batch->clear();
        std::lock_guard lock(worker.mutex);
        worker.empty.push_back(std::move(batch));
    }
    if (failed || !finishing_) return;
    try {
        pipeline.finish();  // on the worker's thread, so that workers end their flows at once
    } catch (...) {
        std::lock_guard lock(worker.mutex);
        worker.error = std::current_exception();
    }
}

void ShardedPipeline::finish() {
    if (workers_.empty()) {
        pipelines_.front()->finish();
        return;
    }
    release_stale_fragments(INT64_MAX);
    finishing_ = true;
    for (auto& worker : workers_) {
        if (worker->filling->count > 0) hand_over(*worker);
        {
            std::lock_guard lock(worker->mutex);
            worker->closing = true;
        }
        worker->work.notify_one();
    }
    // The caller's pipeline ends its flows while the workers end theirs.
    std::exception_ptr error;
    try {
        pipelines_.front()->finish();
    } catch (...) {
        error = std::current_exception();
    }
    for (auto& each : workers_) {
        Worker& worker = *each;
        worker.thread.join();
        if (worker.error && !error) error = worker.error;
    }
    if (error) std::rethrow_exception(error);
}

void ShardedPipeline::for_each_pipeline(const std::function<void(Pipeline&, size_t)>& task) {
    // After finish() the workers are gone and their pipelines idle, so the caller runs it.
    if (workers_.empty() || finishing_) {
        for (size_t i = 0; i < pipelines_.size(); ++i) task(*pipelines_[i], i);
        return;
    }
    std::mutex done_mutex;
    std::condition_variable done;
    size_t remaining = workers_.size();
    std::exception_ptr error;
    for (size_t i = 1; i < pipelines_.size(); ++i) {
        Worker& worker = *workers_[i - 1];
        if (worker.filling->count > 0) hand_over(worker);
        Pipeline& pipeline = *pipelines_[i];
        {
            std::lock_guard lock(worker.mutex);
            worker.tasks.push_back([&, i] {
                std::exception_ptr failure;
                try {
                    task(pipeline, i);
                } catch (...) {
                    failure = std::current_exception();
                }
                std::lock_guard done_lock(done_mutex);
                if (failure && !error) error = failure;
                if (--remaining == 0) done.notify_all();
            });
        }
        worker.work.notify_one();
    }
    // The caller's own pipeline runs the task meanwhile; every frame of it is done already.
    std::exception_ptr own_failure;
    try {
        task(*pipelines_.front(), 0);
    } catch (...) {
        own_failure = std::current_exception();
    }
    std::unique_lock lock(done_mutex);
    done.wait(lock, [&] { return remaining == 0; });
    if (own_failure) std::rethrow_exception(own_failure);
    if (error) std::rethrow_exception(error);
}

void ShardedPipeline::drain() {
    for_each_pipeline([](Pipeline&, size_t) {});
}

void ShardedPipeline::expire_idle(int64_t now_us) {
    if (!held_.empty()) release_stale_fragments(now_us - fragment_wait_us_);
    for_each_pipeline([now_us](Pipeline& pipeline, size_t) { pipeline.expire_idle(now_us); });
}

void ShardedPipeline::mark_open_flows_partial() {
    for_each_pipeline([](Pipeline& pipeline, size_t) { pipeline.mark_open_flows_partial(); });
}

std::vector<OpenFlow> ShardedPipeline::open_flows() {
    // One list per worker, so that the workers fill them without a lock.
    std::vector<std::vector<OpenFlow>> parts(pipelines_.size());
    for_each_pipeline(
        [&parts](Pipeline& pipeline, size_t index) { parts[index] = pipeline.open_flows(); });
    std::vector<OpenFlow> flows;
    for (std::vector<OpenFlow>& part : parts) {
        std::move(part.begin(), part.end(), std::back_inserter(flows));
    }
    return flows;
}

Summary ShardedPipeline::current_summary() {
    std::vector<Summary> parts(pipelines_.size());
    for_each_pipeline(
        [&parts](Pipeline& pipeline, size_t index) { parts[index] = pipeline.summary(); });
    Summary total;
    for (const Summary& part : parts) add(total, part);
    return total;
}

void ShardedPipeline::with_sinks_locked(const std::function<void()>& task) {
    if (locked_sink_ == nullptr) {
        task();
        return;
    }
    static_cast<LockedSink&>(*locked_sink_).run_locked(task);
}

Summary ShardedPipeline::summary() const {
    Summary total;
    for (const auto& pipeline : pipelines_) add(total, pipeline->summary());
    return total;
}

}  // namespace pw::pipeline
