#pragma once

#include <cstdint>
#include <vector>

#include "store/store_reader.h"

namespace pw::fleet {

// The `limit` earliest events of a fleet search, which is what `protowatch search --limit`
// prints from one store. Agents reply concurrently, so the earliest events of the fleet
// are known only once every agent finished. This keeps at most `limit` events and returns
// them in order at the end.
class EarliestEvents {
  public:
    explicit EarliestEvents(uint64_t limit) : limit_(limit) {}

    // Keeps `event` when it is among the `limit` earliest so far; the latest one kept then
    // makes room for it.
    void add(store::StoredEvent event);

    // Removes and returns the events kept, ordered by time, then device, then arrival. An
    // agent sends its events in store order, so arrival keeps that order within one device.
    std::vector<store::StoredEvent> take();

  private:
    struct Entry {
        store::StoredEvent event;
        uint64_t arrival = 0;
    };
    static bool earlier(const Entry& left, const Entry& right);

    uint64_t limit_;
    uint64_t arrivals_ = 0;
    std::vector<Entry> heap_;  // a max-heap on `earlier`: the latest event kept is on top
};

}  // namespace pw::fleet
