#include "pipeline/sharded_pipeline.h"

#include <pcap/dlt.h>
#include <pthread.h>

#include <algorithm>
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
// A reader that waited for room in a worker's queue goes on once the queue is down to
// this, so that it is woken once per few batches, not once per batch.
constexpr size_t kRefillDepth = ShardedPipeline::kQueueDepth - 4;
// An idle worker gets the frames of its batch once there are this many, so that it does
// not wait while the caller's thread analyzes its own frames, nor wake for every frame.
constexpr size_t kIdleBatchFrames = 128;
// Frames ahead whose first bytes a worker prefetches while it analyzes one.
constexpr size_t kPrefetchFrames = 2;

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
    // Each worker has its share of the bound; their peaks may fall at different times, so
    // the sum is an upper bound of the whole's peak.
    total.memory.limit_bytes += part.memory.limit_bytes;
    total.memory.peak_bytes += part.memory.peak_bytes;
    total.memory.flows_evicted += part.memory.flows_evicted;
    total.memory.fragment_sets_evicted += part.memory.fragment_sets_evicted;
    total.memory.reassembly_buffers_evicted += part.memory.reassembly_buffers_evicted;
    total.memory.reassembly_bytes_evicted += part.memory.reassembly_bytes_evicted;
}

}  // namespace

ShardedPipeline::ShardedPipeline(Settings settings, std::vector<events::EventSink*> sinks,
                                 unsigned threads) {
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
    // The caller's thread owns the first buckets, each worker thread an equal part of the
    // rest. The hash spreads address pairs evenly over the buckets.
    const double total_share = kReaderShare + (threads - 1);
    const auto reader_buckets = static_cast<size_t>(kShardBuckets * kReaderShare / total_share);
    std::vector<size_t> buckets_of(threads, 0);
    for (size_t bucket = 0; bucket < kShardBuckets; ++bucket) {
        size_t owner = bucket < reader_buckets ? 0 : 1 + (bucket - reader_buckets) % (threads - 1);
        owners_[bucket] = static_cast<uint8_t>(owner);
        ++buckets_of[owner];
    }
    // The flow table and memory bounds hold for all pipelines together, shared out as the
    // buckets are.
    for (unsigned i = 0; i < threads; ++i) {
        auto share = [&buckets_of, i](size_t total) {
            auto part = static_cast<unsigned __int128>(total) * buckets_of[i] / kShardBuckets;
            return std::max<size_t>(1, static_cast<size_t>(part));
        };
        Settings own = settings;
        own.max_flows = share(settings.max_flows);
        if (settings.max_memory_bytes > 0) own.max_memory_bytes = share(settings.max_memory_bytes);
        pipelines_.push_back(std::make_unique<Pipeline>(std::move(own), pipeline_sinks));
        pipelines_.back()->number_flows_from(i + 1, threads);
    }
    for (unsigned i = 1; i < threads; ++i) {
        workers_.push_back(std::make_unique<Worker>());
        // Every batch a worker can have in flight (queued, being analyzed and being filled),
        // made now, so that handing frames over never allocates.
        Worker& worker = *workers_.back();
        worker.filling = make_batch();
        for (size_t batch = 0; batch < kQueueDepth + 1; ++batch) {
            worker.empty.push_back(make_batch());
        }
    }
    for (unsigned i = 1; i < threads; ++i) {
        workers_[i - 1]->thread = std::thread([this, i] {
            // Named for top and perf, which show each thread by its name.
            pthread_setname_np(pthread_self(), ("pw-worker-" + std::to_string(i)).c_str());
            run(i);
        });
    }
}

std::unique_ptr<ShardedPipeline::Batch> ShardedPipeline::make_batch() {
    auto batch = std::make_unique<Batch>();
    // A batch is handed over once it has kBatchFrames frames or kBatchBytes bytes, so
    // that it never grows beyond this. Pages of the bytes become resident only once a
    // copied frame is written there.
    batch->frames.reserve(kBatchFrames);
    batch->bytes.reserve(kBatchBytes + kMaxFrameBytes);
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

size_t ShardedPipeline::owner_of(const decode::IpAddress& a, const decode::IpAddress& b) const {
    return owners_[flow::address_pair_hash(a, b) % kShardBuckets];
}

void ShardedPipeline::process_frame(int linktype, std::span<const uint8_t> frame,
                                    uint32_t wire_length, int64_t time_us, bool borrowed) {
    if (workers_.empty()) {
        pipelines_.front()->process_frame(linktype, frame, wire_length, time_us);
        return;
    }
    const auto position = reinterpret_cast<uintptr_t>(frame.data());
    if (borrowed) hand_over_old_borrowed(position);
    const bool expiry_due = time_us - last_expiry_check_us_ >= Pipeline::kExpiryCheckIntervalUs;
    decode::IpAddress source;
    decode::IpAddress target;
    if (!expiry_due && decode::Decoder::shard_addresses(linktype, frame, source, target)) {
        // Most frames: neither a tunnel nor a fragment, so their own addresses decide.
        route(owner_of(source, target), linktype, frame, wire_length, time_us,
              Pipeline::Part::kWhole, borrowed);
        return;
    }
    decode::Packet addresses;
    size_t owner = 0;
    decode::DecodeResult result = shard_decoder_.addresses(linktype, frame, addresses);
    if (result == decode::DecodeResult::kPacket || result == decode::DecodeResult::kHeld) {
        owner = owner_of(addresses.source, addresses.target);
    }
    if (result == decode::DecodeResult::kPacket && expiry_due) {
        // One pipeline looks for idle flows when a packet arrives a check interval after
        // the last look; every pipeline looks at that moment of the input too.
        last_expiry_check_us_ = time_us;
        pipelines_.front()->expire_idle(time_us);
        for (auto& worker : workers_) {
            worker->filling->frames.push_back(
                {nullptr, 0, 0, 0, kExpiryTick, time_us, Pipeline::Part::kWhole});
            if (worker->filling->frames.size() >= kBatchFrames) hand_over(*worker);
        }
    }
    // A Teredo frame's inner IPv6 flow belongs to the pipeline of the inner addresses.
    if (result == decode::DecodeResult::kPacket) {
        std::span<const uint8_t> inner = udp_tunnel_payload(addresses);
        decode::Packet inner_addresses;
        if (!inner.empty()) {
            inner_.assign(inner.begin(), inner.end());
            if (shard_decoder_.addresses(DLT_IPV6, inner_, inner_addresses) ==
                decode::DecodeResult::kPacket) {
                size_t inner_owner = owner_of(inner_addresses.source, inner_addresses.target);
                if (inner_owner != owner) {
                    route(owner, linktype, frame, wire_length, time_us, Pipeline::Part::kOuter,
                          borrowed);
                    route(inner_owner, linktype, frame, wire_length, time_us,
                          Pipeline::Part::kInner, borrowed);
                    return;
                }
            }
        }
    }
    route(owner, linktype, frame, wire_length, time_us, Pipeline::Part::kWhole, borrowed);
}

void ShardedPipeline::route(size_t pipeline, int linktype, std::span<const uint8_t> frame,
                            uint32_t wire_length, int64_t time_us, Pipeline::Part part,
                            bool borrowed) {
    if (pipeline == 0) {
        // At once, while the frame's first bytes are still in the cache from finding its
        // owner. The workers' queues keep them busy meanwhile.
        pipelines_.front()->process_frame(linktype, frame, wire_length, time_us, part);
    } else {
        enqueue(*workers_[pipeline - 1], linktype, frame, wire_length, time_us, part, borrowed);
    }
}

void ShardedPipeline::enqueue(Worker& worker, int linktype, std::span<const uint8_t> frame,
                              uint32_t wire_length, int64_t time_us, Pipeline::Part part,
                              bool borrowed) {
    Batch& batch = *worker.filling;
    if (borrowed && batch.first_borrowed == 0) {
        batch.first_borrowed = reinterpret_cast<uintptr_t>(frame.data());
    }
    batch.frames.push_back(
        {borrowed ? frame.data() : nullptr, static_cast<uint32_t>(batch.bytes.size()),
         static_cast<uint32_t>(frame.size()), wire_length, linktype, time_us, part});
    if (!borrowed) batch.bytes.insert(batch.bytes.end(), frame.begin(), frame.end());
    if (batch.frames.size() >= kBatchFrames || batch.bytes.size() >= kBatchBytes ||
        (batch.frames.size() >= kIdleBatchFrames && worker.idle.load(std::memory_order_relaxed))) {
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

void ShardedPipeline::hand_over(Worker& worker) {
    std::unique_lock lock(worker.mutex);
    if (worker.full.size() >= kQueueDepth) {
        worker.room.wait(lock, [&] { return worker.full.size() <= kRefillDepth; });
    }
    worker.full.push_back(std::move(worker.filling));
    if (!worker.empty.empty()) {
        worker.filling = std::move(worker.empty.back());
        worker.empty.pop_back();
    } else {
        worker.filling = make_batch();
    }
    lock.unlock();
    worker.work.notify_one();
}

void ShardedPipeline::run(size_t index) {
    Worker& worker = *workers_[index - 1];
    Pipeline& pipeline = *pipelines_[index];
    bool failed = false;
    while (true) {
        std::unique_ptr<Batch> batch;
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
            batch = worker.full.pop_front();
            if (worker.full.size() <= kRefillDepth) worker.room.notify_one();
        }
        if (!failed) {
            try {
                const std::vector<FrameRef>& frames = batch->frames;
                auto bytes_of = [&batch](const FrameRef& frame) {
                    return frame.borrowed != nullptr ? frame.borrowed
                                                     : batch->bytes.data() + frame.offset;
                };
                for (size_t i = 0; i < frames.size(); ++i) {
                    const FrameRef& frame = frames[i];
                    // The caller's thread last touched the next frames' headers: ask for them
                    // now, so that the wait overlaps with the work on this frame.
                    if (i + kPrefetchFrames < frames.size()) {
                        const uint8_t* ahead = bytes_of(frames[i + kPrefetchFrames]);
                        __builtin_prefetch(ahead);
                        __builtin_prefetch(ahead + 64);
                    }
                    if (frame.linktype == kExpiryTick) {
                        pipeline.expire_idle(frame.time_us);
                        continue;
                    }
                    pipeline.process_frame(frame.linktype, {bytes_of(frame), frame.length},
                                           frame.wire_length, frame.time_us, frame.part);
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
    finishing_ = true;
    for (auto& worker : workers_) {
        if (!worker->filling->frames.empty()) hand_over(*worker);
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
        if (!worker.filling->frames.empty()) hand_over(worker);
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
