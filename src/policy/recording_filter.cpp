#include "policy/recording_filter.h"

#include <algorithm>

namespace pw::policy {

RecordingFilter::RecordingFilter(events::EventSink& downstream, RecordingRules rules)
    : downstream_(downstream), rules_(std::make_shared<const RecordingRules>(std::move(rules))) {}

void RecordingFilter::write(const events::Event& event) {
    if (event.activity != events::Activity::kStatistics) {
        downstream_.write(event);
        return;
    }
    std::shared_ptr<const RecordingRules> rules = this->rules();

    events::Event recorded;
    bool keep = rules->enabled;
    if (keep && event.protocols.empty()) {
        keep = rules->unidentified;
        recorded = event;
    } else if (keep) {
        recorded = event;
        std::erase_if(recorded.protocols, [&](ProtocolId id) {
            return std::find(rules->protocols.begin(), rules->protocols.end(), id) ==
                   rules->protocols.end();
        });
        keep = !recorded.protocols.empty();
    }
    if (!keep) {
        std::lock_guard lock(mutex_);
        ++dropped_;
        return;
    }
    downstream_.write(recorded);
}

void RecordingFilter::set_rules(RecordingRules rules) {
    auto shared = std::make_shared<const RecordingRules>(std::move(rules));
    std::lock_guard lock(mutex_);
    rules_ = std::move(shared);
}

std::shared_ptr<const RecordingRules> RecordingFilter::rules() const {
    std::lock_guard lock(mutex_);
    return rules_;
}

uint64_t RecordingFilter::dropped() const {
    std::lock_guard lock(mutex_);
    return dropped_;
}

}  // namespace pw::policy
