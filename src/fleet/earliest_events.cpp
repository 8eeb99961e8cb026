#include "fleet/earliest_events.h"

#include <algorithm>
#include <tuple>

namespace pw::fleet {

bool EarliestEvents::earlier(const Entry& left, const Entry& right) {
    return std::tie(left.event.event.time_ms, left.event.event.device, left.arrival) <
           std::tie(right.event.event.time_ms, right.event.event.device, right.arrival);
}

void EarliestEvents::add(store::StoredEvent event) {
    if (limit_ == 0) return;
    Entry entry{std::move(event), arrivals_++};
    if (heap_.size() < limit_) {
        heap_.push_back(std::move(entry));
        std::push_heap(heap_.begin(), heap_.end(), earlier);
        return;
    }
    if (!earlier(entry, heap_.front())) return;
    std::pop_heap(heap_.begin(), heap_.end(), earlier);
    heap_.back() = std::move(entry);
    std::push_heap(heap_.begin(), heap_.end(), earlier);
}

std::vector<store::StoredEvent> EarliestEvents::take() {
    std::sort_heap(heap_.begin(), heap_.end(), earlier);
    std::vector<store::StoredEvent> events;
    events.reserve(heap_.size());
    for (Entry& entry : heap_) events.push_back(std::move(entry.event));
    heap_.clear();
    return events;
}

}  // namespace pw::fleet
