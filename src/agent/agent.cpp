#include "agent/agent.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <thread>

#include "agent/agent_state.h"
#include "store/store_options.h"

namespace pw::agent {
namespace {

// Exit status when events could not be stored, as `analyze` returns it.
constexpr int kExitOutputFailed = 3;
// How often the agent's thread checks for a stop and opens interfaces that are due.
constexpr std::chrono::milliseconds kLoopInterval{200};
// How often the status is assembled from the workers' snapshots.
constexpr std::chrono::milliseconds kSnapshotInterval{1000};
// How long `netstat` waits for the workers to list their connections. A worker lists them
// after the packets it is reading, normally within milliseconds.
constexpr std::chrono::milliseconds kConnectionsWait{2000};

int64_t now_ms() { return wall_clock_us() / 1000; }

// Passes events to a sink that is not thread-safe, one writer at a time.
class SerializedSink : public events::EventSink {
  public:
    explicit SerializedSink(events::EventSink& next) : next_(next) {}
    void write(const events::Event& event) override {
        std::lock_guard lock(mutex_);
        next_.write(event);
    }
    void flush() override {
        std::lock_guard lock(mutex_);
        next_.flush();
    }

  private:
    std::mutex mutex_;
    events::EventSink& next_;
};

}  // namespace

Agent::Agent(AgentConfig config) : config_(std::move(config)) {
    started_ = std::chrono::steady_clock::now();
    started_ms_ = now_ms();
    unsigned workers = std::max(config_.threads, 1u);

    // The capture opens first: the hook may drop privileges, and every thread the store,
    // the address list, the attributor and the workers start must run with the reduced set.
    capture_ = std::make_unique<capture::LiveCapture>(config_.interfaces, config_.capture, workers);
    std::vector<std::vector<capture::WorkerHandle>> opened = capture_->open_due();
    if (config_.attribute_processes) {
        try {
            connection_starts_ = std::make_unique<ConnectionStarts>();
        } catch (const std::exception& error) {
            spdlog::warn("opening the capture of connection starts failed: {}; processes are "
                         "looked up at connect events only, which misses more clients that end "
                         "within milliseconds",
                         error.what());
        }
    }
    if (config_.after_capture_open) config_.after_capture_open();

    local_addresses_ = std::make_unique<host::LocalAddresses>();
    config_.settings.is_local_address =
        [addresses = local_addresses_.get()](const decode::IpAddress& address) {
            return addresses->contains(address);
        };

    // Outputs, in the order events reach them; each worker's attribution comes first.
    std::vector<events::EventSink*> outputs;
    if (!config_.json_path.empty()) {
        json_ = std::make_unique<events::JsonLinesSink>(config_.json_path);
        json_serialized_ = std::make_unique<SerializedSink>(*json_);
        outputs.push_back(json_serialized_.get());
    }
    if (!config_.store.disabled) {
        StoreWriterSettings store_settings;
        store_settings.store = store::store_settings(config_.store);
        store_ = std::make_unique<StoreWriter>(std::move(store_settings));
        if (config_.recording) {
            recording_ = std::make_unique<policy::RecordingFilter>(*store_, *config_.recording);
            outputs.push_back(recording_.get());
        } else {
            outputs.push_back(store_.get());
        }
    }
    if (config_.attribute_processes) {
        attributor_ = std::make_unique<process::ProcessAttributor>(config_.attribution);
    }
    // The flow table and memory bounds hold for all workers together.
    if (workers > 1) {
        bounds_ = std::make_unique<pipeline::SharedBounds>(
            config_.settings.max_flows, config_.settings.max_memory_bytes, workers);
    }
    for (unsigned i = 0; i < workers; ++i) {
        workers_.push_back(std::make_unique<CaptureWorker>(
            i, config_.settings, outputs, attributor_.get(), *capture_, bounds_.get()));
    }
    hand_out(std::move(opened));
    take_snapshot();  // `status` has a reply before run() starts
}

Agent::~Agent() {
    if (connection_starts_ != nullptr) connection_starts_->stop();
    for (auto& worker : workers_) worker->stop();
}

void Agent::set_recording_rules(policy::RecordingRules rules) {
    if (recording_ != nullptr) recording_->set_rules(std::move(rules));
}

void Agent::set_capture(std::vector<std::string> interfaces, std::string filter,
                        int buffer_size) {
    capture::LiveOptions options = capture_->options();
    options.filter = std::move(filter);
    options.buffer_size = buffer_size;
    capture_->reconfigure(std::move(interfaces), std::move(options));
}

void Agent::hand_out(std::vector<std::vector<capture::WorkerHandle>> opened) {
    for (size_t i = 0; i < opened.size() && i < workers_.size(); ++i) {
        workers_[i]->add_handles(std::move(opened[i]));
    }
}

int Agent::run(const std::function<bool()>& should_stop) {
    spdlog::info("agent started with {} capture workers", workers_.size());
    if (connection_starts_ != nullptr) connection_starts_->start(*attributor_);
    for (auto& worker : workers_) worker->start();
    take_snapshot();
    auto next_snapshot = std::chrono::steady_clock::now() + kSnapshotInterval;
    while (!should_stop()) {
        std::this_thread::sleep_for(kLoopInterval);
        // Interfaces that appeared, and those that failed and are due for another try.
        hand_out(capture_->open_due());
        if (std::chrono::steady_clock::now() < next_snapshot) continue;
        next_snapshot += kSnapshotInterval;
        take_snapshot();
        // Whole lines reach a reader of --json within a snapshot interval, rather than when
        // stdio's buffer fills.
        if (json_serialized_ != nullptr) json_serialized_->flush();
    }

    spdlog::info("stopping: ending every open connection and flushing the store");
    // Each worker ends its flows and flushes the sinks on its own thread.
    if (store_ != nullptr) store_->wait_when_full();
    if (connection_starts_ != nullptr) connection_starts_->stop();
    for (auto& worker : workers_) worker->stop();
    if (store_ != nullptr) store_->close();
    take_snapshot();
    if (json_ != nullptr && !json_->ok()) return kExitOutputFailed;
    if (store_ != nullptr && store_->stats().store.lost > 0) return kExitOutputFailed;
    return 0;
}

void Agent::take_snapshot() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    StatusInputs inputs;
    for (const auto& worker : workers_) inputs.workers.push_back(worker->snapshot().status);
    inputs.interfaces = capture_->counters();
    uint64_t drops = 0;
    for (const capture::InterfaceCounters& counters : inputs.interfaces) {
        drops += counters.kernel_drops + counters.interface_drops;
    }
    if (drops > drops_seen_) ++drop_intervals_;
    drops_seen_ = drops;
    inputs.drop_intervals = drop_intervals_;
    inputs.cpu_us = (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1'000'000LL +
                    usage.ru_utime.tv_usec + usage.ru_stime.tv_usec;
    inputs.uptime_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - started_)
                           .count();
    inputs.started_ms = started_ms_;
    inputs.now_ms = now_ms();
    if (store_ != nullptr) inputs.store = store_->stats();
    if (attributor_ != nullptr) inputs.attribution = attributor_->stats();

    nlohmann::json status = status_json(inputs);
    std::lock_guard lock(snapshot_mutex_);
    status_ = std::move(status);
}

nlohmann::json Agent::status() const {
    std::lock_guard lock(snapshot_mutex_);
    return status_;
}

size_t Agent::for_each_connection(const std::function<void(const nlohmann::json&)>& row) const {
    const auto deadline = std::chrono::steady_clock::now() + kConnectionsWait;
    size_t count = 0;
    for (const auto& worker : workers_) {
        worker->for_each_connection(deadline, [&](const nlohmann::json& connection) {
            row(connection);
            ++count;
        });
    }
    return count;
}

}  // namespace pw::agent
