#pragma once

// Shared set-up of the store and query tests: a temporary directory, event builders, and a
// log capture for checking what the store reports.

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "events/event.h"
#include "query/compiler.h"
#include "store/store_reader.h"
#include "store/store_sink.h"

namespace pw::store::testing {

// A directory under the system temporary directory, removed with everything in it.
class TempDir {
  public:
    TempDir() {
        std::string pattern = (std::filesystem::temp_directory_path() / "pw-store-XXXXXX").string();
        if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    std::string file(const std::string& name) const { return (path_ / name).string(); }
    const std::filesystem::path& path() const { return path_; }

  private:
    std::filesystem::path path_;
};

// The whole content of the file at `path`, empty when it cannot be read.
inline std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

inline events::Event connection_event(events::Activity activity, int64_t time_ms,
                                      const std::string& uid) {
    events::Event event;
    event.activity = activity;
    event.time_ms = time_ms;
    event.ip_protocol = 6;
    event.source_ip = "10.0.0.5";
    event.source_port = 50000;
    event.target_ip = "93.184.216.34";
    event.target_port = 443;
    event.direction = events::Direction::kOutbound;
    event.connection_uid = uid;
    if (activity == events::Activity::kDisconnect) event.reason = events::EndReason::kFin;
    return event;
}

// The i-th event of a synthetic stream: connect, statistics and disconnect in turn.
inline events::Event numbered_event(uint64_t i) {
    constexpr events::Activity kCycle[] = {
        events::Activity::kConnect, events::Activity::kStatistics, events::Activity::kDisconnect};
    events::Activity activity = kCycle[i % 3];
    events::Event event = connection_event(activity, 1'700'000'000'000 + static_cast<int64_t>(i),
                                           "C" + std::to_string(i / 3));
    event.source_port = static_cast<uint16_t>(1024 + i / 3 % 60000);
    if (activity == events::Activity::kStatistics) {
        event.protocols = {ProtocolId::TLS, ProtocolId::HTTP2};
        event.bytes_out = i * 10;
        event.bytes_in = i * 20;
        event.start_time_ms = event.time_ms - 1;
        event.end_time_ms = event.time_ms;
    }
    event.process = events::Process{static_cast<int64_t>(1000 + i % 7),
                                    "worker",
                                    "/usr/bin/worker",
                                    "worker --serve",
                                    1000,
                                    "alice",
                                    ""};
    return event;
}

// Writes `events` to a new store at `path` and commits them.
inline void write_events(const std::string& path, const std::vector<events::Event>& events) {
    StoreSettings settings;
    settings.path = path;
    StoreSink sink(settings);
    ASSERT_TRUE(sink.is_open());
    for (const auto& event : events) sink.write(event);
    sink.flush();
    ASSERT_EQ(sink.stats().lost, 0u);
}

inline std::vector<StoredEvent> read_all(StoreReader& reader, const query::SqlFilter& filter) {
    std::vector<StoredEvent> result;
    EventCursor cursor = reader.select(filter);
    StoredEvent event;
    while (cursor.next(event)) result.push_back(event);
    return result;
}

inline int64_t count_rows(const std::string& path,
                          const char* sql = "SELECT count(*) FROM events") {
    Database db = Database::open(path, SQLITE_OPEN_READONLY);
    return db.query_int(sql);
}

// Sends every log message to a string while alive; restores the previous logger after.
class LogCapture {
  public:
    LogCapture() : previous_(spdlog::default_logger()) {
        auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(stream_);
        spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
    }
    ~LogCapture() { spdlog::set_default_logger(previous_); }
    LogCapture(const LogCapture&) = delete;
    LogCapture& operator=(const LogCapture&) = delete;

    std::string text() const { return stream_.str(); }

  private:
    std::shared_ptr<spdlog::logger> previous_;
    std::ostringstream stream_;
};

}  // namespace pw::store::testing
