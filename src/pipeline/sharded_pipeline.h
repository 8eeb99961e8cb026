#pragma once

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

// Runs the pipeline on one or more worker threads. With one worker it calls the pipeline
// directly. With more, the caller's thread reads each frame's IP addresses (the innermost
// of a tunnel) and hands the frame to the worker that owns that address pair; each worker
// decodes and analyzes its frames with a Pipeline of its own. Sharding by address pair
// rather than by flow keeps IP fragments and announced data connections (FTP, TFTP) with
// their conversation.
//
// Events reach the sinks under one lock, so a sink needs no locking of its own. Each
// connection's events keep their order; events of different connections interleave.
class ShardedPipeline {
  public:
    ShardedPipeline(Settings settings, std::vector<events::EventSink*> sinks, unsigned workers);
    ~ShardedPipeline();
    ShardedPipeline(const ShardedPipeline&) = delete;
    ShardedPipeline& operator=(const ShardedPipeline&) = delete;

    // Analyzes one frame. With `borrowed`, the workers read the frame's bytes where they
    // are instead of a copy: the caller keeps them valid until drain() or finish() returns
    // (a frame of a mapped file, say).
    void process_frame(int linktype, std::span<const uint8_t> frame, uint32_t wire_length,
                       int64_t time_us, bool borrowed = false);

    // Returns once the workers have analyzed every frame handed to them so far.
    void drain();

    // Ends every flow of every worker and waits for the workers. Rethrows the first error a
    // worker met. Call once at the end of the input.
    void finish();

    // The sum of the workers' summaries. Call after finish().
    Summary summary() const;

    // The live hooks of a running pipeline, as Pipeline has them. Each runs on every worker's
    // thread after the frames handed to that worker so far, and returns once every worker
    // ran it. Call them from the thread that calls process_frame().
    void expire_idle(int64_t now_us);
    void mark_open_flows_partial();
    std::vector<OpenFlow> open_flows();
    Summary current_summary();

    // Runs `task` while no worker writes to the sinks, so that it may read a sink's state.
    void with_sinks_locked(const std::function<void()>& task);

    unsigned workers() const { return static_cast<unsigned>(pipelines_.size()); }

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
        void clear() {
            bytes.clear();
            frames.clear();
        }
    };
    struct Worker {
        std::mutex mutex;
        std::condition_variable work;               // batches, tasks or closing for the worker
        std::condition_variable room;               // the reader may queue batches again
        std::deque<std::unique_ptr<Batch>> full;    // waiting for the worker
        std::vector<std::unique_ptr<Batch>> empty;  // done with, for the reader to reuse
        std::unique_ptr<Batch> filling;             // the reader's current batch
        std::deque<std::function<void()>> tasks;    // run after the batches before them
        bool closing = false;
        std::exception_ptr error;
        std::thread thread;
    };

    static std::unique_ptr<Batch> make_batch();
    void enqueue(size_t index, int linktype, std::span<const uint8_t> frame, uint32_t wire_length,
                 int64_t time_us, Pipeline::Part part, bool borrowed);
    void hand_over(Worker& worker);
    void run(size_t index);
    // Runs `task` with each worker's pipeline and index on that worker's thread and waits.
    void for_each_pipeline(const std::function<void(Pipeline&, size_t)>& task);

    std::unique_ptr<events::EventSink> locked_sink_;
    std::vector<std::unique_ptr<Pipeline>> pipelines_;
    std::vector<std::unique_ptr<Worker>> workers_;
    decode::Decoder shard_decoder_;
    std::vector<uint8_t> inner_;  // the IPv6 packet inside a Teredo frame
    // When the workers last looked for idle flows, kept as one pipeline would keep it.
    int64_t last_expiry_check_us_ = 0;
    // Set by finish() before the workers are told to close: they then end their flows.
    // Written before the closing flag under each worker's lock, so the workers see it.
    bool finishing_ = false;
};

}  // namespace pw::pipeline
