#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "decode/decoder.h"
#include "events/event.h"
#include "pipeline/pipeline.h"

namespace pw::pipeline {

// Runs the pipeline on one or more threads. With one it calls the pipeline directly. With
// more, the caller's thread reads each frame's IP addresses (the innermost of a tunnel) and
// picks the pipeline that owns that address pair from a table of hash buckets fixed at the
// start. Pipeline 0 runs on the caller's thread, which analyzes its frames at once. Each of
// the others runs on a worker thread of its own, which gets its frames in batches. The
// caller's thread owns fewer buckets than a worker, since reading the input is its work
// too. Sharding by address pair rather than by flow keeps IP fragments and announced data
// connections (FTP, TFTP) with their conversation.
//
// Events reach the sinks under one lock, so a sink needs no locking of its own. Each
// connection's events keep their order; events of different connections interleave.
class ShardedPipeline {
  public:
    // `threads` pipelines, one on the caller's thread and the others on threads of their own.
    ShardedPipeline(Settings settings, std::vector<events::EventSink*> sinks, unsigned threads);
    ~ShardedPipeline();
    ShardedPipeline(const ShardedPipeline&) = delete;
    ShardedPipeline& operator=(const ShardedPipeline&) = delete;

    // Analyzes one frame. With `borrowed`, the workers read the frame's bytes where they
    // are instead of a copy: the caller keeps them valid until drain() or finish() returns
    // (a frame of a mapped file, say). A worker gets its borrowed frames at the latest once
    // the caller has passed kBorrowSpanBytes of later bytes (see the constant).
    void process_frame(int linktype, std::span<const uint8_t> frame, uint32_t wire_length,
                       int64_t time_us, bool borrowed = false);

    // Returns once the workers have analyzed every frame handed to them so far.
    void drain();

    // Ends every flow of every worker and waits for the workers. Rethrows the first error a
    // worker met. Call once at the end of the input.
    void finish();

    // The sum of the workers' summaries. Call after finish().
    Summary summary() const;

    // The live hooks of a running pipeline, as Pipeline has them. Each runs on every
    // pipeline's thread after the frames handed to that pipeline so far, and returns once
    // every pipeline ran it. Call them from the thread that calls process_frame().
    void expire_idle(int64_t now_us);
    void mark_open_flows_partial();
    std::vector<OpenFlow> open_flows();
    Summary current_summary();

    // Runs `task` while no worker writes to the sinks, so that it may read a sink's state.
    void with_sinks_locked(const std::function<void()>& task);

    // How far behind the frame given last the workers may still read borrowed frames, in
    // bytes of the input: 0 with one thread.
    uint64_t borrow_lag_bytes() const {
        return workers_.empty() ? 0 : (kQueueDepth + 2) * kBorrowSpanBytes;
    }

    // The number of pipelines, the caller's included.
    unsigned workers() const { return static_cast<unsigned>(pipelines_.size()); }

    // Address pairs are hashed into this many buckets, each owned by one pipeline.
    static constexpr size_t kShardBuckets = 256;
    // The share of the buckets that the caller's thread owns, against 1 for each worker
    // thread. NOTE: an estimate from one capture (bench/compare's, on a 2-core x86_64
    // machine), where reading the frames and handing them over took about 40% as long as
    // analyzing them. Traffic of other shapes may balance the threads less well.
    static constexpr double kReaderShare = 0.4;
    // Bytes of the input a worker's batch may span before it is handed over: with
    // kQueueDepth batches queued, one analyzed and one filling, a worker reads frames at
    // most about (kQueueDepth + 2) * kBorrowSpanBytes behind the caller. A mapped file
    // keeps that many bytes resident behind its reading position (capture/pcap_reader.cpp).
    static constexpr size_t kBorrowSpanBytes = 512 << 10;
    static constexpr size_t kQueueDepth = 24;

  private:
    // A frame of a batch, or with linktype kExpiryTick the moment to look for idle flows.
    // A borrowed frame's bytes are at `borrowed`, a copied frame's at `offset` in the batch.
    struct FrameRef {
        const uint8_t* borrowed;
        uint32_t offset;
        uint32_t length;
        uint32_t wire_length;
        int32_t linktype;
        int64_t time_us;
        Pipeline::Part part;
    };
    static constexpr int32_t kExpiryTick = -1;
    // Frames handed to a worker together, so that the queue's lock is taken once per batch.
    struct Batch {
        std::vector<uint8_t> bytes;
        std::vector<FrameRef> frames;
        uintptr_t first_borrowed = 0;  // the address of the first borrowed frame, 0 for none
        void clear() {
            bytes.clear();
            frames.clear();
            first_borrowed = 0;
        }
    };
    // The batches queued for a worker, oldest first: a ring of kQueueDepth slots. Unlike a
    // std::deque, which frees and allocates a block each time the queue moves past one, it
    // never allocates after construction.
    class BatchQueue {
      public:
        BatchQueue() : slots_(kQueueDepth) {}
        size_t size() const { return size_; }
        bool empty() const { return size_ == 0; }
        // Call only when size() < kQueueDepth.
        void push_back(std::unique_ptr<Batch> batch) {
            slots_[(head_ + size_) % kQueueDepth] = std::move(batch);
            ++size_;
        }
        // Call only when !empty().
        std::unique_ptr<Batch> pop_front() {
            std::unique_ptr<Batch> batch = std::move(slots_[head_]);
            head_ = (head_ + 1) % kQueueDepth;
            --size_;
            return batch;
        }

      private:
        std::vector<std::unique_ptr<Batch>> slots_;
        size_t head_ = 0;
        size_t size_ = 0;
    };
    struct Worker {
        std::mutex mutex;
        std::condition_variable work;               // batches, tasks or closing for the worker
        std::condition_variable room;               // the reader may queue batches again
        BatchQueue full;                            // waiting for the worker
        std::vector<std::unique_ptr<Batch>> empty;  // done with, for the reader to reuse
        std::unique_ptr<Batch> filling;             // the reader's current batch
        std::deque<std::function<void()>> tasks;    // run after the batches before them
        bool closing = false;
        // True while the worker waits for work, so that the caller hands over a batch that
        // is not full yet rather than leave the worker idle.
        std::atomic<bool> idle{false};
        std::exception_ptr error;
        std::thread thread;
    };

    static std::unique_ptr<Batch> make_batch();
    // The pipeline that owns the address pair.
    size_t owner_of(const decode::IpAddress& a, const decode::IpAddress& b) const;
    // Analyzes the frame on the caller's thread (pipeline 0) or queues it for its worker.
    void route(size_t pipeline, int linktype, std::span<const uint8_t> frame, uint32_t wire_length,
               int64_t time_us, Pipeline::Part part, bool borrowed);
    void enqueue(Worker& worker, int linktype, std::span<const uint8_t> frame, uint32_t wire_length,
                 int64_t time_us, Pipeline::Part part, bool borrowed);
    void hand_over_old_borrowed(uintptr_t position);
    void hand_over(Worker& worker);
    // The loop of the worker thread of pipeline `index`.
    void run(size_t index);
    // Runs `task` with each worker's pipeline and index on that worker's thread and waits.
    void for_each_pipeline(const std::function<void(Pipeline&, size_t)>& task);

    std::unique_ptr<events::EventSink> locked_sink_;
    std::vector<std::unique_ptr<Pipeline>> pipelines_;
    // The thread of pipeline i + 1 for each i; pipeline 0 runs on the caller's thread.
    std::vector<std::unique_ptr<Worker>> workers_;
    std::array<uint8_t, kShardBuckets> owners_{};  // the pipeline of each bucket
    decode::Decoder shard_decoder_;
    std::vector<uint8_t> inner_;  // the IPv6 packet inside a Teredo frame
    // When the workers last looked for idle flows, kept as one pipeline would keep it.
    int64_t last_expiry_check_us_ = 0;
    // Set by finish() before the workers are told to close: they then end their flows.
    // Written before the closing flag under each worker's lock, so the workers see it.
    bool finishing_ = false;
};

}  // namespace pw::pipeline
