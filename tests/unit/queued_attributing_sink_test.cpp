// The queued attributing sink: events pass on in order on the sink's own thread, flush()
// waits for them, and a connection of this process on loopback is attributed to it.

#include "process/queued_attributing_sink.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

namespace pw::process {
namespace {

class RecordingSink : public events::EventSink {
  public:
    void write(const events::Event& event) override {
        events.push_back(event);
        thread = std::this_thread::get_id();
    }
    void flush() override { ++flushes; }

    std::vector<events::Event> events;
    std::thread::id thread;
    int flushes = 0;
};

// An event whose addresses are not IP addresses, which passes without a lookup.
events::Event unroutable(uint64_t number, events::Activity activity) {
    events::Event event;
    event.activity = activity;
    event.ip_protocol = IPPROTO_TCP;
    event.source_ip = "not-an-address";
    event.target_ip = "not-an-address";
    event.connection_uid = "C" + std::to_string(number);
    return event;
}

TEST(QueuedAttributingSink, PassesEventsInOrder) {
    ProcessAttributor attributor;
    RecordingSink recorded;
    QueuedAttributingSink sink(attributor, {&recorded});
    constexpr uint64_t kConnections = 30'000;
    for (uint64_t i = 0; i < kConnections; ++i) {
        sink.write(unroutable(i, events::Activity::kConnect));
        sink.write(unroutable(i, events::Activity::kDisconnect));
    }
    sink.flush();
    ASSERT_EQ(recorded.events.size(), 2 * kConnections);
    EXPECT_NE(recorded.thread, std::this_thread::get_id());
    EXPECT_EQ(recorded.flushes, 1);
    for (uint64_t i = 0; i < kConnections; ++i) {
        const events::Event& connect = recorded.events[2 * i];
        const events::Event& disconnect = recorded.events[2 * i + 1];
        ASSERT_EQ(connect.connection_uid, "C" + std::to_string(i));
        ASSERT_EQ(connect.activity, events::Activity::kConnect);
        ASSERT_EQ(disconnect.connection_uid, connect.connection_uid);
        ASSERT_EQ(disconnect.activity, events::Activity::kDisconnect);
        ASSERT_TRUE(connect.process.has_value());
        EXPECT_FALSE(connect.process->unattributed_reason.empty());
    }
}

TEST(QueuedAttributingSink, DestructionPassesQueuedEvents) {
    ProcessAttributor attributor;
    RecordingSink recorded;
    {
        QueuedAttributingSink sink(attributor, {&recorded});
        for (uint64_t i = 0; i < 1'000; ++i) sink.write(unroutable(i, events::Activity::kConnect));
    }
    EXPECT_EQ(recorded.events.size(), 1'000u);
}

TEST(QueuedAttributingSink, AttributesOwnLoopbackConnection) {
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(listener, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    ASSERT_EQ(listen(listener, 1), 0);
    socklen_t length = sizeof address;
    getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);
    int client = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_EQ(connect(client, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    sockaddr_in local{};
    length = sizeof local;
    getsockname(client, reinterpret_cast<sockaddr*>(&local), &length);

    events::Event connect_event;
    connect_event.activity = events::Activity::kConnect;
    connect_event.ip_protocol = IPPROTO_TCP;
    connect_event.source_ip = "127.0.0.1";
    connect_event.source_port = ntohs(local.sin_port);
    connect_event.target_ip = "127.0.0.1";
    connect_event.target_port = ntohs(address.sin_port);
    connect_event.connection_uid = "Cloopback";

    ProcessAttributor attributor;
    RecordingSink recorded;
    QueuedAttributingSink sink(attributor, {&recorded});
    sink.write(connect_event);
    sink.flush();
    ASSERT_EQ(recorded.events.size(), 1u);
    ASSERT_TRUE(recorded.events[0].process.has_value());
    EXPECT_EQ(recorded.events[0].process->pid, getpid())
        << recorded.events[0].process->unattributed_reason;
    bool listed = false;
    sink.with_processes([&](const QueuedAttributingSink::ProcessLookup& lookup) {
        const events::Process* process = lookup("Cloopback");
        listed = process != nullptr && process->pid == getpid();
    });
    EXPECT_TRUE(listed);
    close(client);
    close(listener);
}

}  // namespace
}  // namespace pw::process
