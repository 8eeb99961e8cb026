#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "flow/flow.h"

namespace pw::flow {

// The flows being tracked, with one idle list per transport class so that the flow idle
// the longest is found in constant time, for timeouts and for eviction when full.
//
// The index is an open-addressing hash table of flow pointers with linear probing, kept
// at most half full. A lookup reads the slot array and, for a hit, the flow itself. Each
// flow costs 16 to 32 bytes of index besides its own allocation.
class FlowTable {
  public:
    explicit FlowTable(size_t max_flows);
    ~FlowTable();
    FlowTable(const FlowTable&) = delete;
    FlowTable& operator=(const FlowTable&) = delete;

    Flow* find(const FlowKey& key);

    // Inserts a new flow for `key`. The caller must have made room (see `full`).
    Flow* insert(const FlowKey& key);

    // Moves `flow` to the recent end of its idle list; call on each packet. When its last_us
    // is older than that of the flows there, because the capture's times go backwards, it
    // goes before them.
    void touch(Flow* flow);

    // Moves `flow` to the idle list of `list_class` (kClosed once a TCP teardown completes,
    // so that closed connections expire on their own shorter timeout).
    void move_to(Flow* flow, int list_class);

    // Removes `flow` from the table and returns ownership of it.
    std::unique_ptr<Flow> remove(Flow* flow);

    bool full() const { return count_ >= max_flows_; }
    size_t size() const { return count_; }

    // The flow of `list_class` idle the longest, or nullptr. Flow::idle_next leads on to the
    // ones idle for less time.
    Flow* oldest(int list_class) const { return lists_[list_class].head; }
    // The flow idle the longest over all classes, or nullptr.
    Flow* oldest_overall() const;

    // Calls `visit` for every flow, in no particular order; `visit` must not change the
    // table.
    void for_each(const std::function<void(Flow&)>& visit) const;

    static constexpr int kTcp = 0;
    static constexpr int kUdp = 1;
    static constexpr int kOther = 2;
    static constexpr int kIgmp = 3;
    static constexpr int kClosed = 4;
    static constexpr int kListCount = 5;
    static int transport_class(uint8_t ip_protocol);

  private:
    struct List {
        Flow* head = nullptr;  // idle the longest
        Flow* tail = nullptr;  // most recent
    };
    void unlink(Flow* flow);
    void append(Flow* flow);
    // Links `flow` into its idle list in order of last_us (see touch()).
    void place_by_time(Flow* flow);
    size_t slot_of(const FlowKey& key) const { return key.hash() & (slots_.size() - 1); }
    void grow();

    size_t max_flows_;
    size_t count_ = 0;
    std::vector<Flow*> slots_;  // a power of two of them; nullptr is an empty slot
    List lists_[kListCount];
};

}  // namespace pw::flow
