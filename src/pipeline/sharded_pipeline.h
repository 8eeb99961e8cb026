#pragma once

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <unordered_map>
#include <vector>

#include "decode/decoder.h"
#include "events/event.h"
#include "flow/flow_key.h"
#include "pipeline/pipeline.h"
#include "pipeline/shared_bounds.h"

namespace pw::pipeline {

// Runs the pipeline on one or more threads. With one it calls the pipeline directly. With
// more, the caller's thread reads each frame's IP addresses (the innermost of a tunnel) and
// hashes the pair into a bucket, which names the pipeline that owns the pair. Pipeline 0
// runs on the caller's thread, which analyzes its frames at once. Each of the others runs
// on a worker thread of its own, which gets its frames in batches. Sharding by address
// pair rather than by flow keeps IP fragments and announced data connections (FTP, TFTP)
// with their conversation. The later fragments of a datagram go where its first one went,
// since only the first shows the pair that a tunnel carries. A fragment that comes before
// its first one, or a first fragment too short to show that pair, waits on the caller's
// thread until the datagram shows it.
// NOTE: an FTP data connection to another address than its control connection's may still
// reach another pipeline than its conversation (docs/benchmarks.md).
//
// A bucket gets its owner when a frame first reaches it. It gets a new one only after it
// has had no frame for longer than any state of its pairs can live (the longest idle
// timeout, say), because by then every pipeline has ended that state. The new owner is a
// worker whose queue is short, or else the caller's thread. So the traffic's weight, which
// moves between address pairs during a capture, is spread as it arrives rather than by a
// share fixed at the start.
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
    // (frames of a capture held in memory whole, say). A worker gets its borrowed frames at the latest once
    // the caller has passed kBorrowSpanBytes of later bytes (see the constant).
    void process_frame(int linktype, std::span<const uint8_t> frame, uint32_t wire_length,
                       int64_t time_us, bool borrowed = false);

    // Returns once the workers have analyzed every frame handed to them so far.
    void drain();

    // Sets how many bytes of input are left to give, of `total`, when the caller knows (the
    // rest of the last file). Near the end, the caller's thread takes more new address pairs
    // itself, so that the workers' queues are short when the input ends and it waits little
    // for them.
    void input_left(uint64_t bytes, uint64_t total);

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

    // Gives each new owner in turn, pipeline 0 first, instead of by the queues' lengths, so
    // that pairs split between pipelines the same way in every run. For tests: the
    // owners then no longer follow the load.
    void assign_in_turn() { in_turn_ = true; }

    // The number of pipelines, the caller's included.
    unsigned workers() const { return static_cast<unsigned>(pipelines_.size()); }

    // Address pairs are hashed into this many buckets, each owned by one pipeline at a
    // time. Many more buckets than pairs alive at once, so that most new pairs find a
    // bucket free to go to whichever thread has time.
    static constexpr unsigned kBucketBits = 14;
    static constexpr size_t kShardBuckets = size_t{1} << kBucketBits;
    // Bytes of the input a worker's batch may span before it is handed over: with
    // kQueueDepth batches queued, one analyzed and one filling, a worker reads frames at
    // most about (kQueueDepth + 2) * kBorrowSpanBytes behind the caller.
    static constexpr size_t kBorrowSpanBytes = 512 << 10;
    static constexpr size_t kQueueDepth = 24;
    // A worker gets new address pairs while fewer batches than this wait in its queue, and
    // the caller's thread takes them when every worker has this many. It is half the
    // queue, so that a worker has work for a while and the caller room for a while.
    static constexpr size_t kAssignDepth = kQueueDepth / 2;
    // The end of the input (input_left()) is its last kAssignDepth * kEndBytesPerBatch bytes,
    // or its last 1/kEndShare if that is less. There a worker gets new pairs only while its
    // queue contains fewer batches than kAssignDepth times the share of the end still left.
    // On the benchmark captures a worker analyzes a queued batch in about the time the
    // caller's thread takes to read, route and analyze kEndBytesPerBatch bytes of input.
    static constexpr uint64_t kEndBytesPerBatch = 1 << 20;
    static constexpr uint64_t kEndShare = 8;

  private:
    // A frame of a batch, or with linktype kExpiryTick the moment to look for idle flows.
    // A borrowed frame's bytes are where the caller keeps them, a copied frame's in the
    // batch's part of its worker's copy area.
    struct FrameRef {
        const uint8_t* bytes;
        int64_t time_us;
        uint64_t number;  // the frame's place in the input (Pipeline::process_frame())
        uint32_t length;
        uint32_t wire_length;
        int32_t linktype;
        Pipeline::Part part;
    };
    static constexpr int32_t kExpiryTick = -1;
    // Frames handed to a worker together, so that the queue's lock is taken once per batch.
    // The frames' array is made at its full size once, so that filling a batch never
    // allocates.
    struct Batch {
        std::unique_ptr<FrameRef[]> frames;
        size_t count = 0;
        size_t index = 0;              // which part of its worker's copy area is the batch's
        size_t bytes_used = 0;         // of that part, by copied frames
        uintptr_t first_borrowed = 0;  // the address of the first borrowed frame, 0 for none
        void clear() {
            count = 0;
            bytes_used = 0;
            first_borrowed = 0;
        }
    };
    // The batches a worker can have in flight: kQueueDepth queued, one analyzed and one
    // being filled.
    static constexpr size_t kBatchesPerWorker = kQueueDepth + 2;
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
        // The copies of frames that are not borrowed, a part for each batch. It is made at
        // the first such frame, since a caller that lends every frame needs none.
        std::unique_ptr<uint8_t[]> copies;
        std::deque<std::function<void()>> tasks;  // run after the batches before them
        bool closing = false;
        // True while the worker waits for work, so that the caller hands over a batch that
        // is not full yet rather than leave the worker idle.
        std::atomic<bool> idle{false};
        // full.size(), readable without the lock: a worker out of work watches it for a
        // while before it sleeps (see kSpin in the .cpp).
        std::atomic<size_t> queued{0};
        std::exception_ptr error;
        std::thread thread;
        // True while the worker is kept off the caller's CPU (steer_workers()), until its first
        // batch. It is written before any batch is queued and read under the lock.
        bool steered = false;
    };

    static std::unique_ptr<Batch> make_batch(size_t index);
    // Returns the pipeline that owns the address pair of hash `pair_hash` (address_pair_hash),
    // which a frame at `time_us` reaches now.
    size_t owner_of(uint64_t pair_hash, int64_t time_us) {
        const size_t index = pair_hash >> (64 - kBucketBits);  // the hash's best-mixed bits
        // A bucket's time is never before the last look for idle flows. The flows of a frame
        // that the capture dates before that look are then ended by a later look only,
        // which comes after the frame in the input.
        const uint32_t now = std::max(time_units(time_us), checked_unit_);
        // Runs of frames of one pair are common: the bucket is as the last frame left it.
        if (index == last_bucket_ && now == last_unit_) return last_owner_;
        return owner_of_bucket(index, now);
    }
    size_t owner_of(const decode::IpAddress& a, const decode::IpAddress& b, int64_t time_us) {
        return owner_of(flow::address_pair_hash(a, b), time_us);
    }
    // A frame's destination: `owner` for the whole frame, or, for a Teredo datagram whose
    // inner IPv6 pair another pipeline owns, `owner` for the outer part and `inner_owner`
    // for the inner part.
    struct Destination {
        size_t owner = 0;
        size_t inner_owner = SIZE_MAX;  // SIZE_MAX when the frame goes whole
    };
    // The destination of a frame that is no fragment, with `addresses` from
    // Decoder::addresses(): a packet's or the start of a datagram's.
    Destination destination_of(const decode::Packet& addresses, int64_t time_us);
    // Returns owner_of() for bucket `index` at time unit `now`, read from the bucket itself.
    size_t owner_of_bucket(size_t index, uint32_t now);
    // Finds the destination of a frame that contains an IP fragment, for which
    // Decoder::addresses() gave `fragment` and `addresses`. Returns false for a fragment of
    // a datagram that may be a tunnel's whose first kShowingBytes have not come, which then
    // waits (hold_fragment()).
    bool destination_of_fragment(const decode::FragmentPlace& fragment,
                                 const decode::Packet& addresses, int64_t time_us, Destination& to);
    struct FragmentOwner;  // see fragment_owners_
    // The set of fragment_owners_ that the datagram of `fragment` goes in.
    FragmentOwner* fragment_set(const decode::FragmentPlace& fragment);
    // Returns the entry of the datagram of `fragment`, however old, or nullptr.
    FragmentOwner* kept_entry(const decode::FragmentPlace& fragment);
    // Returns kept_entry() if it is still in time at `time_us`, or nullptr.
    FragmentOwner* kept_destination(const decode::FragmentPlace& fragment, int64_t time_us);
    // Counts `fragment` in `entry`, and frees the entry once every byte of the datagram came.
    static void count_fragment(FragmentOwner& entry, const decode::FragmentPlace& fragment);
    // Keeps `to` as the destination of the datagram whose first fragment is `fragment`.
    void keep_destination(const decode::FragmentPlace& fragment, const Destination& to,
                          int64_t time_us);
    // Returns the worker with the shortest queue if that is under assign_depth_, else 0.
    size_t least_loaded() const;
    // Converts `time_us` to the units of a bucket's time: 2^24 us (about 17 s) since the first
    // frame, at most kLatestUnit (about 4.5 years).
    uint32_t time_units(int64_t time_us) {
        if (!seen_frame_) {
            first_time_us_ = time_us;
            seen_frame_ = true;
        }
        // Times before the first frame count as the first frame's, and times past the range
        // as its end: a bucket then looks busier than it was, never idler.
        const int64_t since = time_us > first_time_us_ ? (time_us - first_time_us_) >> 24 : 0;
        return static_cast<uint32_t>(std::min<int64_t>(since, kLatestUnit));
    }
    // Routes the frames that process_frame() does not route by their own addresses: tunnels,
    // fragments, frames of other shapes and the frame that starts a look for idle flows.
    void process_other_frame(int linktype, std::span<const uint8_t> frame, uint32_t wire_length,
                             int64_t time_us, bool borrowed);
    // Analyzes the frame on the caller's thread (pipeline 0) or queues it for its worker.
    // `number` is the frame's place in the input.
    void route(size_t pipeline, int linktype, std::span<const uint8_t> frame, uint32_t wire_length,
               int64_t time_us, Pipeline::Part part, bool borrowed, uint64_t number);
    void deliver(const Destination& to, int linktype, std::span<const uint8_t> frame,
                 uint32_t wire_length, int64_t time_us, bool borrowed, uint64_t number);
    void enqueue(Worker& worker, int linktype, std::span<const uint8_t> frame, uint32_t wire_length,
                 int64_t time_us, Pipeline::Part part, bool borrowed, uint64_t number);
    // Adds a waiting fragment to the caller's decoder, and once that completes the
    // datagram, sends all its fragments where the pairs it carries are owned.
    void resolve_held(const decode::FragmentPlace& fragment, int linktype,
                      std::span<const uint8_t> frame, uint32_t wire_length, int64_t time_us);
    // Keeps a copy of a fragment whose datagram's destination is not known yet.
    void hold_fragment(const decode::FragmentPlace& fragment, int linktype,
                       std::span<const uint8_t> frame, uint32_t wire_length, int64_t time_us);
    // Sends the waiting fragments of the datagram of `fragment` to `to`. Returns false when
    // none waited.
    bool release_fragments(const decode::FragmentPlace& fragment, const Destination& to);
    // Sends the waiting datagrams whose first fragment arrived before `before_us` (all for
    // INT64_MAX), and the oldest ones while more wait than the bounds allow, by their own
    // pair. Their first fragment is lost or went by long ago, so their own pair is the
    // best guess.
    void release_stale_fragments(int64_t before_us);
    void hand_over_old_borrowed(uintptr_t position);
    // Recomputes borrow_check_low_ and borrow_check_high_ from every worker's batch.
    void plan_borrow_check();
    // Narrows borrow_check_low_ and borrow_check_high_ to the span that a batch whose first
    // borrowed frame is at `first` may grow to.
    void narrow_borrow_check(uintptr_t first);
    void hand_over(Worker& worker);
    void steer_workers();
    // The loop of the worker thread of pipeline `index`.
    void run(size_t index);
    // Runs `task` with each worker's pipeline and index on that worker's thread and waits.
    void for_each_pipeline(const std::function<void(Pipeline&, size_t)>& task);

    std::unique_ptr<events::EventSink> locked_sink_;
    std::unique_ptr<SharedBounds> bounds_;  // of every pipeline, with more than one
    std::vector<std::unique_ptr<Pipeline>> pipelines_;
    // The thread of pipeline i + 1 for each i; pipeline 0 runs on the caller's thread.
    std::vector<std::unique_ptr<Worker>> workers_;
    // Each bucket's owner plus one in the low kOwnerBits (0 for none) and the time of its
    // latest frame in the rest (in time_units()): one word, so that routing a frame reads
    // and writes one place. 9 bits fit the 256 pipelines that --threads allows.
    static constexpr unsigned kOwnerBits = 9;
    static constexpr uint32_t kOwnerMask = (uint32_t{1} << kOwnerBits) - 1;
    static constexpr uint32_t kLatestUnit = (uint32_t{1} << (32 - kOwnerBits)) - 1;
    std::vector<uint32_t> buckets_;
    // A bucket idle for more than this many time units has no state in any pipeline.
    uint32_t hold_units_ = 0;
    size_t assign_depth_ = kAssignDepth;  // lower near the end of the input (input_left())
    bool in_turn_ = false;                // see assign_in_turn()
    size_t next_turn_ = 0;
    uint32_t checked_unit_ = 0;  // time_units() of the last look for idle flows
    // The bucket that owner_of() read last, the time unit it read it at and the bucket's
    // owner, which stay the result while frames of one pair follow each other.
    size_t last_bucket_ = SIZE_MAX;
    uint32_t last_unit_ = 0;
    uint32_t last_owner_ = 0;
    int64_t first_time_us_ = 0;
    int64_t latest_time_us_ = 0;  // of the frame given last
    bool seen_frame_ = false;
    // hand_over_old_borrowed() has nothing to do while borrowed frames lie from
    // borrow_check_low_ to borrow_check_high_: as far as every worker's batch may still span.
    uintptr_t borrow_check_low_ = 0;
    uintptr_t borrow_check_high_ = UINTPTR_MAX;
    // The identity of a datagram's fragments: its IP header's addresses, id and protocol.
    struct DatagramKey {
        decode::IpAddress source;
        decode::IpAddress target;
        uint32_t id = 0;
        uint8_t protocol = 0;
        bool operator==(const DatagramKey&) const = default;
    };
    static DatagramKey key_of(const decode::FragmentPlace& fragment) {
        return {fragment.source, fragment.target, fragment.id, fragment.protocol};
    }
    // Hashes the whole key, each address mixed on its own. Unlike address_pair_hash(), pairs
    // whose addresses add up to the same sum do not collide, so crafted fragments cannot
    // pile up in one place.
    struct DatagramKeyHash {
        size_t operator()(const DatagramKey& key) const;
    };
    // The destinations of datagrams that may be a tunnel's and whose first fragment came,
    // kept as long as a pipeline keeps a datagram's fragments (fragment_wait_us_). A hash
    // of the IP header's addresses, id and protocol picks a set of kFragmentWays entries.
    // A set that is full gives up its oldest entry, whose later fragments then wait as if
    // their first one had not come. The table is made at the first fragment that needs it.
    struct FragmentOwner {
        DatagramKey key;
        bool used = false;
        int64_t time_us = 0;  // of the first fragment
        Destination to;
        // The payload bytes of its fragments that came, and the payload's length once the
        // last fragment came (0 before). When all came the entry is freed, so that a later
        // datagram with the same id does not follow it.
        uint32_t seen = 0;
        uint32_t total = 0;
    };
    // The table starts with 2^kFirstFragmentSetBits sets and doubles, up to
    // 2^kFragmentSetBits, whenever a datagram finds its set full of entries still in time.
    // Most captures have few such datagrams at once, and a large table made at once would
    // cost its every page.
    static constexpr unsigned kFirstFragmentSetBits = 5;
    static constexpr unsigned kFragmentSetBits = 11;
    static constexpr size_t kFragmentWays = 8;
    std::vector<FragmentOwner> fragment_owners_;
    unsigned fragment_set_bits_ = kFirstFragmentSetBits;  // of fragment_owners_
    // Doubles the sets of fragment_owners_. Each set splits in two, so its entries fit.
    void grow_fragment_owners();
    // The fragments that wait for their datagram's destination, of datagrams that may be a
    // tunnel's, by datagram. A datagram's fragments wait as long as a pipeline keeps them
    // (fragment_wait_us_), and all waiting fragments together up to as many frames as
    // kHeldFragmentsPerDatagram times FragmentLimits' datagrams and as many bytes as
    // FragmentLimits allows. Beyond that the datagram that waited longest goes by its own
    // pair.
    struct HeldFragment {
        decode::FragmentPlace place;
        std::vector<uint8_t> bytes;
        int linktype = 0;
        uint32_t wire_length = 0;
        int64_t time_us = 0;
        uint64_t number = 0;
    };
    struct HeldDatagram {
        std::vector<HeldFragment> fragments;  // in the order they came
        uint64_t serial = 0;                  // its entry in held_order_
    };
    // Sends the waiting fragments of `datagram` to `to` and removes the datagram.
    void release_datagram(
        std::unordered_map<DatagramKey, HeldDatagram, DatagramKeyHash>::iterator datagram,
        const Destination& to);
    // A first fragment with this many bytes of its datagram's payload shows the pairs of
    // any tunnel the decoder unwraps, whose headers take about a hundred bytes at most.
    // Real first fragments fill a link's MTU (at least 576 bytes for IPv4). A shorter one
    // waits for the datagram to be whole, as an evasion tool's tiny fragments do.
    static constexpr uint32_t kShowingBytes = 512;
    static constexpr size_t kHeldFragmentsPerDatagram = 4;
    size_t max_held_fragments_ = 0;
    size_t max_held_bytes_ = 0;
    std::unordered_map<DatagramKey, HeldDatagram, DatagramKeyHash> held_;
    // The waiting datagrams by the time of their first waiting fragment, which in a capture
    // whose times go backwards is not the order they came in. An entry whose serial no
    // longer matches its datagram's is left over from a released datagram.
    struct HeldOrder {
        DatagramKey key;
        uint64_t serial;
        int64_t time_us;
    };
    std::multimap<int64_t, HeldOrder> held_order_;
    uint64_t next_held_serial_ = 0;
    size_t held_frames_ = 0;
    size_t held_bytes_ = 0;
    int64_t fragment_wait_us_ = 0;
    cpu_set_t allowed_cpus_{};  // where the process may run, for steer_workers()
    decode::Decoder shard_decoder_;
    std::vector<uint8_t> inner_;  // the IPv6 packet inside a Teredo frame
    uint64_t frames_ = 0;         // given to process_frame() so far
    // When the workers last looked for idle flows, kept as one pipeline would keep it.
    int64_t last_expiry_check_us_ = 0;
    // Set by finish() before the workers are told to close: they then end their flows.
    // Written before the closing flag under each worker's lock, so the workers see it.
    bool finishing_ = false;
};

}  // namespace pw::pipeline
