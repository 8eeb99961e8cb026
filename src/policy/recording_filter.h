#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "events/event.h"
#include "policy/policy.h"

namespace pw::policy {

// What the recording filter lets through; taken from a policy's [recording] table.
struct RecordingRules {
    bool enabled = true;
    std::vector<ProtocolId> protocols = default_protocols();
    bool unidentified = true;  // statistics of connections without a protocol pass

    static RecordingRules from(const Policy& policy) {
        return {policy.recording_enabled, policy.protocols, policy.record_unidentified};
    }
};

// An event sink in front of another that applies the recording rules. Connect and
// disconnect events always pass. A statistics event passes only while recording is enabled:
// with one of the listed protocols, and then listing only those, or with no protocol when
// `unidentified` is set.
// set_rules() may run on another thread than write().
class RecordingFilter : public events::EventSink {
  public:
    RecordingFilter(events::EventSink& downstream, RecordingRules rules);

    void write(const events::Event& event) override;
    void flush() override { downstream_.flush(); }

    // Takes effect from the next write().
    void set_rules(RecordingRules rules);
    std::shared_ptr<const RecordingRules> rules() const;

    // Statistics events held back since construction.
    uint64_t dropped() const;

  private:
    events::EventSink& downstream_;
    mutable std::mutex mutex_;  // guards rules_ and dropped_, not the downstream write
    std::shared_ptr<const RecordingRules> rules_;
    uint64_t dropped_ = 0;
};

}  // namespace pw::policy
