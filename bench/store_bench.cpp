// Insert rate and query latency of the event store, on a store of one million events.
//
// The store is built once at PROTOWATCH_BENCH_STORE (default
// /tmp/protowatch-bench-1m.db) and reused while it contains the expected number of events.
// Delete the file to rebuild it. Results are in docs/store.md.

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "query/compiler.h"
#include "query/literals.h"
#include "store/sqlite.h"
#include "store/store_reader.h"
#include "store/store_sink.h"

namespace {

using namespace pw;

constexpr uint64_t kSessions = 333'334;  // three events each: just over one million
constexpr int64_t kFirstTime = 1'700'000'000'000;
constexpr int64_t kSpanMs = 7 * 86'400'000LL;

struct Choice {
    ProtocolId protocol;
    uint16_t port;
    int weight;
};

// A mix of protocols roughly like a workstation's: mostly TLS and DNS, some SMB.
constexpr Choice kMix[] = {{ProtocolId::TLS, 443, 40}, {ProtocolId::HTTP, 80, 15},
                           {ProtocolId::DNS, 53, 25},  {ProtocolId::SMB2, 445, 5},
                           {ProtocolId::SSH, 22, 5},   {ProtocolId::TLS, 8443, 10}};
constexpr const char* kProcesses[] = {"firefox", "python3", "python3.11", "curl", "sshd",
                                      "smbd",    "chrome",  "systemd",    "apt",  "node"};

// Writes the three events of session `n`, generated from `random`.
void write_session(store::StoreSink& sink, std::mt19937_64& random, uint64_t n) {
    int pick = static_cast<int>(random() % 100);
    const Choice* choice = &kMix[0];
    for (const Choice& c : kMix) {
        if (pick < c.weight) {
            choice = &c;
            break;
        }
        pick -= c.weight;
    }
    int64_t start = kFirstTime + static_cast<int64_t>(n * (kSpanMs / kSessions));
    int64_t end = start + static_cast<int64_t>(random() % 60'000);
    events::Event event;
    event.ip_protocol = choice->protocol == ProtocolId::DNS ? 17 : 6;
    event.source_ip = "192.168.1." + std::to_string(10 + random() % 20);
    event.source_port = static_cast<uint16_t>(32768 + random() % 28000);
    uint64_t target = random();
    event.target_ip = target % 3 == 0 ? "10.1." + std::to_string(target % 256) + ".7"
                                      : "203.0." + std::to_string(target % 113) + "." +
                                            std::to_string(target % 251);
    event.target_port = choice->port;
    event.direction = events::Direction::kOutbound;
    event.connection_uid = "C" + std::to_string(n);
    event.device = "bench-host";
    uint64_t process = random() % 400;
    const char* name = kProcesses[process % std::size(kProcesses)];
    event.process = events::Process{static_cast<int64_t>(1000 + process),
                                    name,
                                    std::string("/usr/bin/") + name,
                                    name,
                                    1000,
                                    "alice",
                                    ""};

    event.activity = events::Activity::kConnect;
    event.time_ms = start;
    sink.write(event);
    event.activity = events::Activity::kStatistics;
    event.time_ms = end;
    event.protocols = {choice->protocol};
    event.bytes_out = random() % 5'000'000;
    event.bytes_in = random() % 50'000'000;
    event.packets_out = event.bytes_out / 1000 + 1;
    event.packets_in = event.bytes_in / 1000 + 1;
    event.start_time_ms = start;
    event.end_time_ms = end;
    sink.write(event);
    event.activity = events::Activity::kDisconnect;
    event.protocols.clear();
    event.reason = events::EndReason::kFin;
    sink.write(event);
}

std::string bench_store_path() {
    const char* path = std::getenv("PROTOWATCH_BENCH_STORE");
    return path != nullptr ? path : "/tmp/protowatch-bench-1m.db";
}

int64_t stored_events(const std::string& path) {
    if (!std::filesystem::exists(path)) return 0;
    store::Database db = store::Database::open(path, SQLITE_OPEN_READONLY);
    return db.query_int("SELECT count(*) FROM events");
}

// Builds the million-event store; its time is the insert rate of a store as it grows.
void BM_BuildMillionEventStore(benchmark::State& state) {
    std::string path = bench_store_path();
    for (auto _ : state) {
        if (stored_events(path) == static_cast<int64_t>(3 * kSessions)) {
            state.SkipWithError("the store exists; delete it to measure the build");
            return;
        }
        for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
        std::mt19937_64 random(42);
        store::StoreSink sink({.path = path});
        for (uint64_t n = 0; n < kSessions; ++n) write_session(sink, random, n);
        sink.flush();
    }
    state.SetItemsProcessed(static_cast<int64_t>(3 * kSessions));
}
BENCHMARK(BM_BuildMillionEventStore)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();

// Inserts batches of 999 events (333 sessions) into a new store, each batch one transaction.
void BM_InsertIntoNewStore(benchmark::State& state) {
    std::string path = bench_store_path() + ".new";
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
    std::mt19937_64 random(7);
    uint64_t n = 0;
    {
        store::StoreSink sink({.path = path});
        for (auto _ : state) {
            for (int i = 0; i < 333; ++i) write_session(sink, random, n++);
            sink.flush();
        }
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * 999);
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
}
BENCHMARK(BM_InsertIntoNewStore)->Unit(benchmark::kMillisecond)->UseRealTime();

// Inserts batches of 999 events into the million-event store, each batch one transaction.
void BM_InsertIntoMillionEventStore(benchmark::State& state) {
    std::string path = bench_store_path();
    std::mt19937_64 random(7);
    store::StoreSink sink({.path = path});
    uint64_t n = kSessions;
    for (auto _ : state) {
        for (int i = 0; i < 333; ++i) write_session(sink, random, n++);
        sink.flush();
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * 999);
    // Leave the store as the query benchmarks expect it.
    store::Database db = store::Database::open(path, SQLITE_OPEN_READWRITE);
    db.execute("BEGIN");
    for (const char* sql :
         {"DELETE FROM event_protocols WHERE event_id > ?", "DELETE FROM events WHERE id > ?"}) {
        store::Statement trim = db.prepare(sql);
        trim.bind(1, static_cast<int64_t>(3 * kSessions));
        trim.step();
    }
    db.execute("COMMIT");
}
BENCHMARK(BM_InsertIntoMillionEventStore)->Unit(benchmark::kMillisecond)->UseRealTime();

// Streams every row of a query, as search does, and reports the rows per run.
void run_query(benchmark::State& state, const std::string& query, uint64_t limit) {
    store::StoreReader reader = store::StoreReader::open(bench_store_path());
    query::SqlFilter filter = query::compile_query(query, kFirstTime + kSpanMs);
    int64_t rows = 0;
    for (auto _ : state) {
        rows = 0;
        store::EventCursor cursor = reader.select(filter, limit);
        store::StoredEvent event;
        while (cursor.next(event)) ++rows;
        benchmark::DoNotOptimize(rows);
    }
    state.counters["rows"] = static_cast<double>(rows);
}

void BM_Query(benchmark::State& state, const char* query) { run_query(state, query, 0); }
void BM_QueryFirstPage(benchmark::State& state, const char* query) { run_query(state, query, 100); }

BENCHMARK_CAPTURE(BM_Query, connection, "connection_uid = C123456")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Query, last_hour, "time > -1h")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Query, pid, "pid = 1042")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Query, smb2, "protocol = SMB2")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Query, tls_443, "protocol = TLS and target_port = 443")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Query, cidr, "target_ip in 10.1.0.0/16 and id = statistics")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Query, smb_big, "protocol in (SMB, SMB2) and bytes_out > 4MB")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Query, glob, "process ~ \"python*\" and id = statistics")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_QueryFirstPage, all, "time > 0")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_QueryFirstPage, tls_443, "protocol = TLS and target_port = 443")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Query, full_dump, "time > 0")->Unit(benchmark::kMillisecond)->Iterations(1);

// search --correlate over the SMB2 sessions: one statistics row and two lookups each.
void BM_CorrelateSmb2(benchmark::State& state) {
    store::StoreReader reader = store::StoreReader::open(bench_store_path());
    query::SqlFilter filter = query::compile_query("protocol = SMB2 and id = statistics", 0);
    int64_t sessions = 0;
    for (auto _ : state) {
        sessions = 0;
        store::EventCursor cursor = reader.select(filter);
        store::StoredEvent event;
        while (cursor.next(event)) {
            auto connect =
                reader.find_session_event(event.event, event.sequence, events::Activity::kConnect);
            auto disconnect = reader.find_session_event(event.event, event.sequence,
                                                        events::Activity::kDisconnect);
            sessions += connect && disconnect ? 1 : 0;
        }
    }
    state.counters["sessions"] = static_cast<double>(sessions);
}
BENCHMARK(BM_CorrelateSmb2)->Unit(benchmark::kMillisecond);

}  // namespace
