#include "cli/publish_options.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>

#include "fleet/publisher.h"

namespace pw::cli {

CLI::Validator seconds_validator(bool allow_zero);

void add_publish_options(CLI::App& command, PublishOptions& options) {
    CLI::Option* publish =
        command.add_flag("--publish", options.enabled,
                         "After recording, publish every unpublished event of the store to NATS "
                         "JetStream and wait for the acknowledgments");
    command
        .add_option("--publish-timeout", options.timeout_s,
                    "Seconds to wait for JetStream to acknowledge every event; the events left "
                    "stay in the store for the next publish")
        ->capture_default_str()
        ->check(seconds_validator(true));
    add_nats_options(command, options.nats);
    if (CLI::Option* no_store = command.get_option_no_throw("--no-store")) {
        publish->excludes(no_store);
    }
    // Invalid NATS settings are usage errors (exit 2), reported before the capture is read.
    command.parse_complete_callback([&options] {
        if (!options.enabled) return;
        try {
            to_settings(options.nats);
        } catch (const std::invalid_argument& error) {
            throw CLI::ValidationError(error.what());
        }
    });
}

int publish_recorded(const PublishOptions& options, store::StoreSink* store,
                     const std::string& device, const volatile std::sig_atomic_t* stop) {
    if (store == nullptr) {
        throw std::invalid_argument(
            "--publish needs the event store, which is the outbox; remove --no-store");
    }
    store->flush();
    fleet::PublisherOptions publisher_options;
    publisher_options.store_path = store->path();
    publisher_options.device = device;
    if (publisher_options.device.empty()) {
        char host[256] = {};
        if (gethostname(host, sizeof host - 1) == 0) publisher_options.device = host;
    }
    fleet::Publisher publisher(to_settings(options.nats), publisher_options);
    auto timeout = std::chrono::milliseconds(static_cast<int64_t>(options.timeout_s * 1000));
    uint64_t left = publisher.publish_until_caught_up(timeout, stop);
    if (left == 0) {
        spdlog::info("published {} events; JetStream acknowledged every event of {}",
                     publisher.acknowledged(), store->path());
        return 0;
    }
    const std::string cause = publisher.last_error().empty()
                                  ? std::string("NATS did not acknowledge them")
                                  : "the last failure: " + publisher.last_error();
    spdlog::error(
        "{} events of {} remain unpublished {} ({}); they stay in the store and the next "
        "publish sends them",
        left, store->path(),
        *stop != 0 ? "after a signal" : fmt::format("after {} s", options.timeout_s), cause);
    return kExitUnpublished;
}

}  // namespace pw::cli
