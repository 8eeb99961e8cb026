#include "decode/fragments.h"

#include <algorithm>
#include <cstring>

namespace pw::decode {

size_t FragmentKeyHash::operator()(const FragmentKey& key) const {
    // FNV-1a over the fields; the table is bounded, so a simple hash is enough.
    uint64_t hash = 1469598103934665603ULL;
    auto mix = [&hash](uint8_t byte) {
        hash ^= byte;
        hash *= 1099511628211ULL;
    };
    for (uint8_t byte : key.source.bytes) mix(byte);
    for (uint8_t byte : key.target.bytes) mix(byte);
    for (int shift = 0; shift < 32; shift += 8) mix(static_cast<uint8_t>(key.id >> shift));
    mix(key.protocol);
    mix(key.source.is_v6 ? 1 : 0);
    return static_cast<size_t>(hash);
}

size_t FragmentReassembler::memory_bytes() const {
    return data_bytes_ + range_count_ * sizeof(Range) + index_.size() * sizeof(Datagram);
}

void FragmentReassembler::drop(Iterator it) {
    data_bytes_ -= it->second.data.size();
    range_count_ -= it->second.ranges.size();
    index_.erase(it->second.key);
    order_.erase(it);
}

bool FragmentReassembler::evict_oldest() {
    if (order_.empty()) return false;
    drop(order_.begin());
    return true;
}

void FragmentReassembler::expire(int64_t time_us, AnomalyCounters& anomalies) {
    // The list is in time order (find_or_create()), so the front is the oldest datagram
    // and the scan stops at the first one still in time.
    while (!order_.empty() && time_us - order_.begin()->first > limits_.timeout_us) {
        anomalies.add(Anomaly::kFragmentTimeout);
        drop(order_.begin());
    }
}

void FragmentReassembler::drop_incomplete(AnomalyCounters& anomalies) {
    while (!order_.empty()) {
        anomalies.add(Anomaly::kFragmentIncomplete);
        drop(order_.begin());
    }
}

FragmentReassembler::Iterator FragmentReassembler::find_or_create(const FragmentKey& key,
                                                                  int64_t time_us,
                                                                  AnomalyCounters& anomalies) {
    if (auto found = index_.find(key); found != index_.end()) return found->second;
    if (limits_.max_datagrams == 0) {
        anomalies.add(Anomaly::kFragmentTableFull);
        return order_.end();
    }
    while (index_.size() >= limits_.max_datagrams) {
        anomalies.add(Anomaly::kFragmentTableFull);
        drop(order_.begin());
    }
    // Datagrams are kept in order of their first fragments' times, so that expire() finds
    // every datagram past the timeout at the front. A fragment may come later than frames
    // after it, because a sharded pipeline delivers the fragments that waited for their
    // datagram's destination only then. Its datagram then goes before those of later times.
    auto it = order_.emplace(time_us, Datagram{});  // after datagrams of the same time
    it->second.key = key;
    index_.emplace(key, it);
    return it;
}

bool FragmentReassembler::make_room(Iterator keep, size_t bytes, AnomalyCounters& anomalies) {
    // Evict the oldest other datagrams until `bytes` more fit under max_bytes.
    while (data_bytes_ + bytes > limits_.max_bytes) {
        auto victim = order_.begin();
        if (victim == keep) ++victim;
        if (victim == order_.end()) return false;
        anomalies.add(Anomaly::kFragmentTableFull);
        drop(victim);
    }
    return true;
}

bool FragmentReassembler::store(Datagram& datagram, const Fragment& fragment) {
    // Copy the fragment into the holes it covers, keeping bytes held already, and merge
    // its range into the list. Returns true when it overlapped what was held.
    const uint32_t begin = fragment.offset;
    const uint32_t end = fragment.offset + fragment.wire_length;
    const uint32_t captured_end = begin + static_cast<uint32_t>(fragment.data.size());
    bool overlap = false;

    uint32_t cursor = begin;
    auto fill = [&](uint32_t from, uint32_t to) {  // a hole [from, to) this fragment fills
        if (from >= to) return;
        uint32_t copy_end = std::min(to, captured_end);
        if (from < copy_end) {
            std::memcpy(datagram.data.data() + from, fragment.data.data() + (from - begin),
                        copy_end - from);
        }
        if (copy_end < to) {
            datagram.captured_end = std::min(datagram.captured_end, std::max(from, copy_end));
        }
    };
    for (const Range& range : datagram.ranges) {
        if (range.second <= cursor) continue;
        if (range.first >= end) break;
        overlap = true;
        fill(cursor, std::min(range.first, end));
        cursor = std::max(cursor, range.second);
        if (cursor >= end) break;
    }
    if (cursor < end) fill(cursor, end);

    // Merge [begin, end) into the sorted ranges.
    Range merged{begin, end};
    std::vector<Range> ranges;
    ranges.reserve(datagram.ranges.size() + 1);
    bool placed = false;
    for (const Range& range : datagram.ranges) {
        if (range.second < merged.first) {
            ranges.push_back(range);
        } else if (range.first > merged.second) {
            if (!placed) {
                ranges.push_back(merged);
                placed = true;
            }
            ranges.push_back(range);
        } else {
            merged.first = std::min(merged.first, range.first);
            merged.second = std::max(merged.second, range.second);
        }
    }
    if (!placed) ranges.push_back(merged);
    range_count_ += ranges.size();
    range_count_ -= datagram.ranges.size();
    datagram.ranges = std::move(ranges);
    return overlap;
}

FragmentReassembler::Result FragmentReassembler::add(const Fragment& fragment, int64_t time_us,
                                                     AnomalyCounters& anomalies,
                                                     Reassembled& done) {
    // 1. Check the fragment on its own: all but the last carry a multiple of 8 bytes.
    const uint64_t end = uint64_t{fragment.offset} + fragment.wire_length;
    if (fragment.more && (fragment.wire_length == 0 || fragment.wire_length % 8 != 0)) {
        anomalies.add(Anomaly::kBadFragment);
        return Result::kDropped;
    }
    auto existing = index_.find(fragment.key);
    if (end + fragment.header_length > limits_.max_datagram_size) {
        anomalies.add(Anomaly::kFragmentTooLarge);
        if (existing != index_.end()) drop(existing->second);
        return Result::kDropped;
    }

    // 2. Find its datagram and check it against what the datagram knows of its length.
    Iterator it = find_or_create(fragment.key, time_us, anomalies);
    if (it == order_.end()) return Result::kDropped;
    Datagram& datagram = it->second;
    const uint32_t held_end = datagram.ranges.empty() ? 0 : datagram.ranges.back().second;
    const bool inconsistent =
        fragment.more ? datagram.have_total && end > datagram.total
                      : (datagram.have_total && end != datagram.total) || held_end > end;
    if (inconsistent) {
        anomalies.add(Anomaly::kBadFragment);
        drop(it);
        return Result::kDropped;
    }
    if (!fragment.more) {
        datagram.total = static_cast<uint32_t>(end);
        datagram.have_total = true;
    }

    // 3. Make room for its bytes and store them.
    const size_t grow = end > datagram.data.size() ? end - datagram.data.size() : 0;
    if (!make_room(it, grow, anomalies)) {
        anomalies.add(Anomaly::kFragmentTableFull);
        drop(it);
        return Result::kDropped;
    }
    if (grow > 0) {
        datagram.data.resize(end);
        data_bytes_ += grow;
    }
    if (store(datagram, fragment)) anomalies.add(Anomaly::kFragmentOverlap);
    if (fragment.offset == 0) {
        datagram.next_header = fragment.next_header;
        datagram.header_length = fragment.header_length;
    }

    // 4. Complete when one range covers the whole payload.
    if (!datagram.have_total || datagram.ranges.size() != 1 ||
        datagram.ranges[0] != Range{0, datagram.total}) {
        return Result::kHeld;
    }
    done.wire_length = datagram.total;
    done.header_length = datagram.header_length;
    done.next_header = datagram.next_header;
    const uint32_t captured = std::min(datagram.captured_end, datagram.total);
    released_.push_back(std::move(datagram.data));
    datagram.data.clear();
    data_bytes_ -= released_.back().size();
    done.data = std::span<const uint8_t>(released_.back()).first(captured);
    drop(it);
    return Result::kComplete;
}

}  // namespace pw::decode
