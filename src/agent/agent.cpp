#include "agent/agent.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include "agent/agent_state.h"

namespace pw::agent {
namespace {

// Exit status when events could not be stored, as `analyze` returns it.
constexpr int kExitOutputFailed = 3;
// How long one poll of the interfaces waits, which bounds how late a stop request is seen.
constexpr std::chrono::milliseconds kPollTimeout{200};
// How often drops are read, idle flows expired and the state snapshot taken.
constexpr std::chrono::milliseconds kSnapshotInterval{1000};

int64_t now_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

Agent::Agent(AgentConfig config) : config_(std::move(config)) {
    started_ = std::chrono::steady_clock::now();
    started_ms_ = now_us() / 1000;

    // The capture opens first: the hook may drop privileges, and every thread the store,
    // the address list and the attributor start must run with the reduced set.
    capture_ = std::make_unique<capture::LiveCapture>(config_.interfaces, config_.capture);
    if (config_.after_capture_open) config_.after_capture_open();

    local_addresses_ = std::make_unique<host::LocalAddresses>();
    config_.settings.is_local_address = [addresses = local_addresses_.get()](
                                            const decode::IpAddress& address) {
        return addresses->contains(address);
    };

    // Sinks, in the order events reach them: attribution adds `process`, then the outputs.
    std::vector<events::EventSink*> outputs;
    if (!config_.json_path.empty()) {
        json_ = std::make_unique<events::JsonLinesSink>(config_.json_path);
        outputs.push_back(json_.get());
    }
    store_ = store::open_store_sink(config_.store);
    if (store_ != nullptr && config_.recording) {
        recording_ = std::make_unique<policy::RecordingFilter>(*store_, *config_.recording);
        outputs.push_back(recording_.get());
    } else if (store_ != nullptr) {
        outputs.push_back(store_.get());
    }
    std::vector<events::EventSink*> sinks = outputs;
    if (config_.attribute_processes) {
        attributor_ = std::make_unique<process::ProcessAttributor>(config_.attribution);
        attributing_ = std::make_unique<process::AttributingSink>(*attributor_, outputs);
        sinks = {attributing_.get()};
    }
    pipeline_ =
        std::make_unique<pipeline::ShardedPipeline>(config_.settings, sinks, config_.threads);
}

Agent::~Agent() = default;

void Agent::set_recording_rules(policy::RecordingRules rules) {
    if (recording_ != nullptr) recording_->set_rules(std::move(rules));
}

int Agent::run(const std::function<bool()>& should_stop) {
    spdlog::info("agent started");
    // `status` and `netstat` have a reply from the start, not only after the first second.
    take_snapshot(now_us());
    auto next_snapshot = std::chrono::steady_clock::now() + kSnapshotInterval;
    auto visit = [&](const capture::Frame& frame) {
        if (!pipeline::Pipeline::supports_link_type(frame.linktype)) {
            ++unsupported_frames_;
            return;
        }
        pipeline_->process_frame(frame.linktype, frame.data, frame.wire_length, frame.time_us);
    };
    while (!should_stop()) {
        capture_->poll(kPollTimeout, visit);
        if (std::chrono::steady_clock::now() < next_snapshot) continue;
        next_snapshot += kSnapshotInterval;
        if (capture_->update_drops()) {
            // Every flow open now may miss the dropped packets.
            ++drop_intervals_;
            pipeline_->mark_open_flows_partial();
        }
        int64_t time = now_us();
        pipeline_->expire_idle(time);  // a quiet interface brings no packet time
        take_snapshot(time);
    }

    spdlog::info("stopping: ending every open connection and flushing the store");
    capture_->update_drops();
    pipeline_->finish();
    take_snapshot(now_us());
    if (json_ != nullptr && !json_->ok()) return kExitOutputFailed;
    if (store_ != nullptr && store_->stats().lost > 0) return kExitOutputFailed;
    return 0;
}

void Agent::take_snapshot(int64_t time_us) {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    StatusInputs inputs;
    inputs.summary = pipeline_->current_summary();
    inputs.interfaces = capture_->counters();
    inputs.unsupported_frames = unsupported_frames_;
    inputs.drop_intervals = drop_intervals_;
    inputs.cpu_us = (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1'000'000LL +
                    usage.ru_utime.tv_usec + usage.ru_stime.tv_usec;
    inputs.uptime_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - started_)
                           .count();
    inputs.started_ms = started_ms_;
    inputs.now_ms = time_us / 1000;
    if (store_ != nullptr) inputs.store = store_->stats();
    if (attributor_ != nullptr) inputs.attribution = attributor_->stats();

    nlohmann::json status = status_json(inputs);
    std::vector<pipeline::OpenFlow> flows = pipeline_->open_flows();
    nlohmann::json connections;
    // The attributing sink's table changes as workers write events, so it is read while
    // they cannot.
    pipeline_->with_sinks_locked([&] {
        connections = connections_json(
            flows, time_us, [this](const std::string& uid) -> const events::Process* {
                return attributing_ != nullptr ? attributing_->process_of(uid) : nullptr;
            });
    });
    std::lock_guard lock(snapshot_mutex_);
    status_ = std::move(status);
    connections_ = std::move(connections);
}

nlohmann::json Agent::status() const {
    std::lock_guard lock(snapshot_mutex_);
    return status_;
}

nlohmann::json Agent::connections() const {
    std::lock_guard lock(snapshot_mutex_);
    return connections_;
}

}  // namespace pw::agent
