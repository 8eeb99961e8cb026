// Flow tracking through the whole pipeline, with IPv4 frames built in the test.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <pcap/dlt.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "pipeline/pipeline.h"

namespace pw::pipeline {
namespace {

using events::Activity;
using events::EndReason;
using events::Event;

struct Collect : events::EventSink {
    std::vector<Event> events;
    void write(const Event& event) override { events.push_back(event); }

    std::vector<Event> of(Activity activity) const {
        std::vector<Event> out;
        for (const Event& e : events) {
            if (e.activity == activity) out.push_back(e);
        }
        return out;
    }
};

void put16(std::vector<uint8_t>& b, size_t at, uint16_t v) {
    b[at] = static_cast<uint8_t>(v >> 8);
    b[at + 1] = static_cast<uint8_t>(v);
}
void put32(std::vector<uint8_t>& b, size_t at, uint32_t v) {
    put16(b, at, static_cast<uint16_t>(v >> 16));
    put16(b, at + 2, static_cast<uint16_t>(v));
}

// A raw IPv4 frame (no link header) carrying TCP or UDP.
std::vector<uint8_t> ipv4(uint8_t protocol, const char* src, uint16_t sport, const char* dst,
                          uint16_t dport, const std::string& payload, uint8_t flags = 0,
                          uint32_t seq = 0, uint32_t ack = 0, uint16_t window = 65535) {
    size_t transport = protocol == 6 ? 20 : 8;
    std::vector<uint8_t> b(20 + transport + payload.size(), 0);
    b[0] = 0x45;
    put16(b, 2, static_cast<uint16_t>(b.size()));
    b[8] = 64;
    b[9] = protocol;
    inet_pton(AF_INET, src, &b[12]);
    inet_pton(AF_INET, dst, &b[16]);
    put16(b, 20, sport);
    put16(b, 22, dport);
    if (protocol == 6) {
        put32(b, 24, seq);
        put32(b, 28, ack);
        b[32] = 0x50;
        b[33] = flags;
        put16(b, 34, window);
    } else {
        put16(b, 24, static_cast<uint16_t>(8 + payload.size()));
    }
    std::copy(payload.begin(), payload.end(), b.begin() + 20 + static_cast<long>(transport));
    return b;
}

// A raw IPv4 frame carrying an ICMP message of `type` (code 0), with `body` after the
// message's 8-byte header.
std::vector<uint8_t> icmp4(const char* src, const char* dst, uint8_t type,
                           const std::string& body = "") {
    std::vector<uint8_t> b(20 + 8 + body.size(), 0);
    b[0] = 0x45;
    put16(b, 2, static_cast<uint16_t>(b.size()));
    b[8] = 64;
    b[9] = 1;
    inet_pton(AF_INET, src, &b[12]);
    inet_pton(AF_INET, dst, &b[16]);
    b[20] = type;
    std::copy(body.begin(), body.end(), b.begin() + 28);
    return b;
}

// A raw IPv6 frame carrying an ICMPv6 message of `type` (code 0), with `body` after the
// message's 8-byte header.
std::vector<uint8_t> icmp6(const char* src, const char* dst, uint8_t type,
                           const std::string& body = "") {
    std::vector<uint8_t> b(40 + 8 + body.size(), 0);
    b[0] = 0x60;
    put16(b, 4, static_cast<uint16_t>(8 + body.size()));
    b[6] = 58;
    b[7] = 255;
    inet_pton(AF_INET6, src, &b[8]);
    inet_pton(AF_INET6, dst, &b[24]);
    b[40] = type;
    std::copy(body.begin(), body.end(), b.begin() + 48);
    return b;
}

// ICMP (RFC 792) and ICMPv6 (RFC 4443, RFC 4861) message types.
constexpr uint8_t kEchoReply = 0, kUnreachable = 3, kEchoRequest = 8;
constexpr uint8_t kEchoRequestV6 = 128, kEchoReplyV6 = 129, kNeighborAdvertisement = 136;

constexpr uint8_t kSyn = 0x02, kAck = 0x10, kFin = 0x01, kRst = 0x04, kPsh = 0x08;
constexpr int64_t kSecond = 1'000'000;

struct Harness {
    Collect sink;
    Pipeline pipeline;
    explicit Harness(Settings settings = {}) : pipeline(std::move(settings), {&sink}) {}
    void feed(const std::vector<uint8_t>& frame, int64_t time_us) {
        pipeline.process_frame(DLT_RAW, frame, static_cast<uint32_t>(frame.size()), time_us);
    }
};

void handshake_and_close(Harness& h, int64_t t, const char* client, uint16_t port) {
    h.feed(ipv4(6, client, port, "198.51.100.1", 80, "", kSyn, 100), t);
    h.feed(ipv4(6, "198.51.100.1", 80, client, port, "", kSyn | kAck, 500), t + 1);
    h.feed(ipv4(6, client, port, "198.51.100.1", 80, "abc", kAck | kPsh, 101), t + 2);
    h.feed(ipv4(6, client, port, "198.51.100.1", 80, "", kFin | kAck, 104), t + 3);
    h.feed(ipv4(6, "198.51.100.1", 80, client, port, "", kFin | kAck, 501), t + 4);
}

// The handshake of 192.0.2.1:40000 with 198.51.100.1:80 from kSecond on, whose SYN-ACK
// advertises a window of `server_window`, and 4 bytes from the client.
void open_with_data(Harness& h, uint16_t server_window) {
    h.feed(ipv4(6, "192.0.2.1", 40000, "198.51.100.1", 80, "", kSyn, 100), kSecond);
    h.feed(
        ipv4(6, "198.51.100.1", 80, "192.0.2.1", 40000, "", kSyn | kAck, 500, 101, server_window),
        kSecond + 1);
    h.feed(ipv4(6, "192.0.2.1", 40000, "198.51.100.1", 80, "abcd", kAck | kPsh, 101, 501),
           kSecond + 2);
}

TEST(PipelineFlow, SynSenderIsSource) {
    Harness h;
    handshake_and_close(h, kSecond, "192.0.2.1", 40000);
    h.pipeline.finish();
    ASSERT_EQ(h.sink.events.size(), 3u);
    EXPECT_EQ(h.sink.events[0].activity, Activity::kConnect);
    EXPECT_EQ(h.sink.events[1].activity, Activity::kStatistics);
    EXPECT_EQ(h.sink.events[2].activity, Activity::kDisconnect);
    const Event& stats = h.sink.events[1];
    EXPECT_EQ(stats.source_ip, "192.0.2.1");
    EXPECT_EQ(stats.source_port, 40000);
    EXPECT_EQ(stats.target_port, 80);
    EXPECT_EQ(stats.packets_out, 3u);
    EXPECT_EQ(stats.packets_in, 2u);
    EXPECT_EQ(stats.bytes_out, 3u);
    EXPECT_EQ(stats.bytes_in, 0u);
    EXPECT_EQ(h.sink.events[2].reason, EndReason::kFin);
}

TEST(PipelineFlow, SynAckFirstOrientsToReceiver) {
    Harness h;
    h.feed(ipv4(6, "198.51.100.1", 80, "192.0.2.1", 40000, "", kSyn | kAck, 500), kSecond);
    h.pipeline.finish();
    EXPECT_EQ(h.sink.events[0].source_ip, "192.0.2.1");
    EXPECT_EQ(h.sink.events[0].target_port, 80);
}

TEST(PipelineFlow, MidStreamServicePortIsTarget) {
    Harness h;
    h.feed(ipv4(6, "198.51.100.1", 443, "192.0.2.1", 40000, "data", kAck, 9), kSecond);
    h.pipeline.finish();
    Event stats = h.sink.of(Activity::kStatistics).at(0);  // of() returns a temporary
    EXPECT_EQ(stats.source_ip, "192.0.2.1");
    EXPECT_EQ(stats.target_port, 443);
    EXPECT_TRUE(stats.partial);
    EXPECT_EQ(stats.bytes_in, 4u);
    EXPECT_EQ(h.sink.of(Activity::kDisconnect).at(0).reason, EndReason::kEndOfInput);
}

TEST(PipelineFlow, UdpServicePortIsTarget) {
    Harness h;
    h.feed(ipv4(17, "198.51.100.1", 53, "192.0.2.1", 50000, "answer"), kSecond);
    h.pipeline.finish();
    EXPECT_EQ(h.sink.events[0].source_ip, "192.0.2.1");
    EXPECT_EQ(h.sink.events[0].target_port, 53);
}

TEST(PipelineFlow, RstEndsConnection) {
    Harness h;
    h.feed(ipv4(6, "192.0.2.1", 40000, "198.51.100.1", 80, "", kSyn, 1), kSecond);
    h.feed(ipv4(6, "198.51.100.1", 80, "192.0.2.1", 40000, "", kRst | kAck, 0), kSecond + 5);
    h.pipeline.finish();
    EXPECT_EQ(h.sink.of(Activity::kDisconnect).at(0).reason, EndReason::kRst);
}

// A reset far outside its sender's sequence space does not end the connection: the
// receiver would drop it, and the exchange goes on to a close by FIN.
TEST(PipelineFlow, ResetOutsideWindowIgnored) {
    Harness h;
    h.feed(ipv4(6, "192.0.2.1", 40000, "198.51.100.1", 80, "", kSyn, 1000), kSecond);
    h.feed(ipv4(6, "198.51.100.1", 80, "192.0.2.1", 40000, "", kSyn | kAck, 5000), kSecond + 1);
    h.feed(ipv4(6, "192.0.2.1", 40000, "198.51.100.1", 80, "GET", kAck | kPsh, 1001), kSecond + 2);
    h.feed(ipv4(6, "192.0.2.1", 40000, "198.51.100.1", 80, "", kRst, 1004 + 200'000), kSecond + 3);
    h.feed(ipv4(6, "198.51.100.1", 80, "192.0.2.1", 40000, "", kFin | kAck, 5001), kSecond + 4);
    h.feed(ipv4(6, "192.0.2.1", 40000, "198.51.100.1", 80, "", kFin | kAck, 1004), kSecond + 5);
    h.pipeline.finish();
    EXPECT_EQ(h.sink.of(Activity::kDisconnect).size(), 1u);
    EXPECT_EQ(h.sink.of(Activity::kDisconnect).at(0).reason, EndReason::kFin);
    EXPECT_EQ(h.pipeline.summary().anomalies.get(decode::Anomaly::kTcpSegmentOutsideWindow), 1u);
}

// A request split into one-byte segments, more of them than the inspection bound, is still
// identified: small segments count toward the bound by their bytes.
TEST(PipelineFlow, TinySegmentsStillIdentified) {
    Harness h;
    int64_t t = kSecond;
    h.feed(ipv4(6, "192.0.2.1", 40000, "198.51.100.1", 80, "", kSyn, 100), t++);
    h.feed(ipv4(6, "198.51.100.1", 80, "192.0.2.1", 40000, "", kSyn | kAck, 500), t++);
    // The request line alone is longer than the bound counts segments.
    const std::string request =
        "GET /downloads/releases/2026/archive-of-the-month.html HTTP/1.1\r\n"
        "Host: www.example.com\r\n\r\n";
    ASSERT_GT(request.find("\r\n"), detect::kMaxSegmentsUnclassified);
    for (size_t i = 0; i < request.size(); ++i) {
        h.feed(ipv4(6, "192.0.2.1", 40000, "198.51.100.1", 80, request.substr(i, 1), kAck | kPsh,
                    static_cast<uint32_t>(101 + i)),
               t++);
    }
    h.pipeline.finish();
    const std::vector<Event> stats = h.sink.of(Activity::kStatistics);
    ASSERT_EQ(stats.size(), 1u);
    const std::vector<ProtocolId>& protocols = stats[0].protocols;
    EXPECT_NE(std::find(protocols.begin(), protocols.end(), ProtocolId::HTTP), protocols.end());
}

bool has_protocol(const Event& event, ProtocolId id) {
    return std::find(event.protocols.begin(), event.protocols.end(), id) != event.protocols.end();
}

// A capture that starts during a download: `body_segments` full segments of a body from
// the server, then the client's `next` request, and the server's response to it.
std::vector<Event> download_seen_midway(int body_segments, const std::string& next,
                                        const std::string& response) {
    Harness h;
    int64_t t = kSecond;
    uint32_t server_seq = 5000;
    const std::string body(1400, 'x');
    for (int i = 0; i < body_segments; ++i) {
        h.feed(ipv4(6, "198.51.100.1", 443, "192.0.2.1", 40000, body, kAck, server_seq, 900), t++);
        server_seq += static_cast<uint32_t>(body.size());
    }
    h.feed(ipv4(6, "192.0.2.1", 40000, "198.51.100.1", 443, next, kAck | kPsh, 900, server_seq),
           t++);
    h.feed(ipv4(6, "198.51.100.1", 443, "192.0.2.1", 40000, response, kAck | kPsh, server_seq,
                900 + static_cast<uint32_t>(next.size())),
           t++);
    h.pipeline.finish();
    return h.sink.of(Activity::kStatistics);
}

// Longer than the bound of an unclassified flow, shorter than that of one direction alone.
constexpr int kBodySegments = 200;
static_assert(kBodySegments > detect::kMaxSegmentsUnclassified &&
              kBodySegments < detect::kMaxSegmentsOneSided);

TEST(PipelineFlow, MidDownloadHttpFoundAtNextRequest) {
    const std::vector<Event> stats =
        download_seen_midway(kBodySegments, "GET /next.html HTTP/1.1\r\nHost: a\r\n\r\n",
                             "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    ASSERT_EQ(stats.size(), 1u);
    EXPECT_TRUE(stats[0].partial);
    EXPECT_TRUE(has_protocol(stats[0], ProtocolId::HTTP));
}

TEST(PipelineFlow, MidDownloadTlsFoundAtNextRecord) {
    // The client's next request: one application data record that fills its segment.
    std::string record = "\x17\x03\x03";
    record += '\0';
    record += '\x20';
    record += std::string(32, '\x5a');
    const std::vector<Event> stats = download_seen_midway(kBodySegments, record, record);
    ASSERT_EQ(stats.size(), 1u);
    EXPECT_TRUE(has_protocol(stats[0], ProtocolId::TLS));
}

// A body longer than the bound of a classified flow, which the detectors skip once they
// have judged it, does not end the inspection: the file after it on the same keep-alive
// connection is still examined.
TEST(PipelineFlow, SkippedBodyLeavesBoundForNextFile) {
    Harness h;
    int64_t t = kSecond;
    h.feed(ipv4(6, "192.0.2.1", 40000, "198.51.100.1", 80, "", kSyn, 100), t++);
    h.feed(ipv4(6, "198.51.100.1", 80, "192.0.2.1", 40000, "", kSyn | kAck, 500), t++);
    uint32_t client_seq = 101;
    uint32_t server_seq = 501;
    auto request = [&](const std::string& path) {
        const std::string text = "GET " + path + " HTTP/1.1\r\nHost: a\r\n\r\n";
        h.feed(ipv4(6, "192.0.2.1", 40000, "198.51.100.1", 80, text, kAck | kPsh, client_seq,
                    server_seq),
               t++);
        client_seq += static_cast<uint32_t>(text.size());
    };
    auto send = [&](const std::string& data) {
        h.feed(ipv4(6, "198.51.100.1", 80, "192.0.2.1", 40000, data, kAck, server_seq, client_seq),
               t++);
        server_seq += static_cast<uint32_t>(data.size());
    };

    constexpr uint32_t kSegments = detect::kMaxSegmentsClassified + 100;
    const std::string chunk(1400, 'x');
    request("/big.txt");
    send("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kSegments * chunk.size()) +
         "\r\n\r\n");
    for (uint32_t i = 0; i < kSegments; ++i) send(chunk);

    request("/image.png");
    const std::string png("\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02", 24);
    send("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(png.size()) + "\r\n\r\n" + png);
    h.pipeline.finish();
    const std::vector<Event> stats = h.sink.of(Activity::kStatistics);
    ASSERT_EQ(stats.size(), 1u);
    EXPECT_TRUE(has_protocol(stats[0], ProtocolId::HTTP));
    EXPECT_TRUE(has_protocol(stats[0], ProtocolId::IMAGE_PNG));
}

TEST(PipelineFlow, BothDirectionsKeepTheShortBound) {
    // Once both directions sent data, an unclassified flow is inspected no longer than
    // one seen from its start.
    Harness h;
    int64_t t = kSecond;
    uint32_t seq[2] = {900, 5000};
    const std::string opaque(1400, '\x01');
    for (int i = 0; i < kBodySegments; ++i) {
        bool client = i % 2 == 0;
        uint32_t& own = seq[client ? 0 : 1];
        h.feed(client ? ipv4(6, "192.0.2.1", 40000, "198.51.100.1", 443, opaque, kAck, own)
                      : ipv4(6, "198.51.100.1", 443, "192.0.2.1", 40000, opaque, kAck, own),
               t++);
        own += static_cast<uint32_t>(opaque.size());
    }
    h.pipeline.finish();
    EXPECT_LE(h.pipeline.summary().detector_calls,
              detect::kMaxSegmentsUnclassified * detect::make_detectors().size());
}

TEST(PipelineFlow, ClosedConnectionLingersThenEnds) {
    Settings settings;
    settings.tcp_closed_linger_s = 5;
    Harness h(settings);
    handshake_and_close(h, kSecond, "192.0.2.1", 40000);
    // A late ACK inside the linger time still counts to the connection.
    h.feed(ipv4(6, "192.0.2.1", 40000, "198.51.100.1", 80, "", kAck, 105), 2 * kSecond);
    EXPECT_TRUE(h.sink.of(Activity::kDisconnect).empty());
    h.feed(ipv4(17, "192.0.2.9", 5000, "198.51.100.9", 5001, "x"), 20 * kSecond);
    auto ends = h.sink.of(Activity::kDisconnect);
    ASSERT_EQ(ends.size(), 1u);
    EXPECT_EQ(ends[0].reason, EndReason::kFin);
    EXPECT_EQ(h.sink.of(Activity::kStatistics).at(0).packets_out, 4u);
}

TEST(PipelineFlow, PortReuseStartsNewConnection) {
    Harness h;
    handshake_and_close(h, kSecond, "192.0.2.1", 40000);
    h.feed(ipv4(6, "192.0.2.1", 40000, "198.51.100.1", 80, "", kSyn, 7777), 2 * kSecond);
    h.pipeline.finish();
    EXPECT_EQ(h.sink.of(Activity::kConnect).size(), 2u);
    auto ends = h.sink.of(Activity::kDisconnect);
    ASSERT_EQ(ends.size(), 2u);
    EXPECT_NE(ends[0].connection_uid, ends[1].connection_uid);
}

// A client that lost its connection (a crash, a reboot, a NAT that gave its port to another
// host) sends a SYN with a new ISN on the same ports, and the server, which dropped the old
// connection too, replies with a SYN-ACK. The old connection ends as an idle one would,
// and the new one gets its own handshake, counts and inspection. The SYN itself, which only
// the SYN-ACK shows to be new, counts to the old one.
TEST(PipelineFlow, SynAckToNewSynStartsNew) {
    Harness h;
    const char* client = "192.0.2.1";
    const char* server = "198.51.100.1";
    const std::string request = "GET /index.html HTTP/1.1\r\nHost: www.example.com\r\n\r\n";
    h.feed(ipv4(6, client, 40000, server, 80, "", kSyn, 100), kSecond);
    h.feed(ipv4(6, server, 80, client, 40000, "", kSyn | kAck, 500, 101), kSecond + 1);
    h.feed(ipv4(6, client, 40000, server, 80, std::string("\x01\x02\x03\x04", 4), kAck | kPsh, 101,
                501),
           kSecond + 2);
    h.feed(ipv4(6, server, 80, client, 40000, "", kAck, 501, 105), kSecond + 3);
    h.feed(ipv4(6, client, 40000, server, 80, "", kSyn, 90'000), 31 * kSecond);
    h.feed(ipv4(6, server, 80, client, 40000, "", kSyn | kAck, 7000, 90'001), 31 * kSecond + 1);
    h.feed(ipv4(6, client, 40000, server, 80, request, kAck | kPsh, 90'001, 7001),
           31 * kSecond + 2);
    h.pipeline.finish();

    ASSERT_EQ(h.sink.of(Activity::kConnect).size(), 2u);
    const std::vector<Event> stats = h.sink.of(Activity::kStatistics);
    const std::vector<Event> ends = h.sink.of(Activity::kDisconnect);
    ASSERT_EQ(stats.size(), 2u);
    ASSERT_EQ(ends.size(), 2u);
    EXPECT_NE(ends[0].connection_uid, ends[1].connection_uid);
    EXPECT_EQ(ends[0].reason, EndReason::kTimeout);
    EXPECT_EQ(stats[0].packets_out, 3u);
    EXPECT_EQ(stats[0].packets_in, 2u);
    EXPECT_EQ(stats[0].bytes_out, 4u);
    EXPECT_FALSE(has_protocol(stats[0], ProtocolId::HTTP));
    EXPECT_EQ(stats[1].source_ip, client);
    EXPECT_EQ(stats[1].packets_out, 1u);
    EXPECT_EQ(stats[1].packets_in, 1u);
    EXPECT_EQ(stats[1].bytes_out, request.size());
    EXPECT_FALSE(stats[1].partial);
    EXPECT_TRUE(has_protocol(stats[1], ProtocolId::HTTP));
    EXPECT_EQ(ends[1].reason, EndReason::kEndOfInput);
}

// After a minute of quiet, a SYN outside the window starts a new connection by itself, so
// that a capture that missed the SYN-ACK still shows the new connection.
TEST(PipelineFlow, SynOnQuietConnectionStartsNew) {
    Harness h;
    open_with_data(h, 1000);
    h.feed(ipv4(6, "192.0.2.1", 40000, "198.51.100.1", 80, "", kSyn, 90'000), 30 * kSecond);
    EXPECT_EQ(h.sink.of(Activity::kConnect).size(), 1u);
    h.feed(ipv4(6, "192.0.2.1", 40000, "198.51.100.1", 80, "", kSyn, 90'000), 91 * kSecond);
    h.pipeline.finish();
    ASSERT_EQ(h.sink.of(Activity::kConnect).size(), 2u);
    EXPECT_EQ(h.sink.of(Activity::kDisconnect).at(0).reason, EndReason::kTimeout);
}

// A client that reconnects while the server still has the old connection gets a
// challenge ACK for its SYN, resets the old connection with it and sends its SYN again
// (RFC 5961 section 4): the reset ends the old connection and the SYN starts the new one.
TEST(PipelineFlow, ResetThenSynStartsNewConnection) {
    Harness h;
    const char* client = "192.0.2.1";
    const char* server = "198.51.100.1";
    h.feed(ipv4(6, client, 40000, server, 80, "", kSyn, 100), kSecond);
    h.feed(ipv4(6, server, 80, client, 40000, "", kSyn | kAck, 500, 101), kSecond + 1);
    h.feed(ipv4(6, client, 40000, server, 80, "abcd", kAck | kPsh, 101, 501), kSecond + 2);
    h.feed(ipv4(6, server, 80, client, 40000, "", kAck, 501, 105), kSecond + 3);
    h.feed(ipv4(6, client, 40000, server, 80, "", kSyn, 90'000), 5 * kSecond);
    h.feed(ipv4(6, server, 80, client, 40000, "", kAck, 501, 105), 5 * kSecond + 1);
    h.feed(ipv4(6, client, 40000, server, 80, "", kRst, 105), 5 * kSecond + 2);
    h.feed(ipv4(6, client, 40000, server, 80, "", kSyn, 90'000), 6 * kSecond);
    h.feed(ipv4(6, server, 80, client, 40000, "", kSyn | kAck, 7000, 90'001), 6 * kSecond + 1);
    h.pipeline.finish();
    ASSERT_EQ(h.sink.of(Activity::kConnect).size(), 2u);
    EXPECT_EQ(h.sink.of(Activity::kDisconnect).at(0).reason, EndReason::kRst);
}

// A SYN forged into an active download, from either side, outside the window or not, and
// with data of its own, changes nothing, and so does a SYN-ACK to no SYN. A real receiver
// replies to it with a challenge ACK and drops it (RFC 5961 section 4), and the download
// goes on in the same connection. So the connection stays whole, and its file type is found.
TEST(PipelineFlow, ForgedSynDoesNotHideDownload) {
    const char* client = "192.0.2.1";
    const char* server = "198.51.100.1";
    const std::string request = "GET /a.zip HTTP/1.1\r\nHost: www.example.com\r\n\r\n";
    const std::string headers =
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
        "Content-Length: 30\r\n\r\n";
    const std::string body("PK\x03\x04\x14\0\0\0\x08\0abcdefghijklmnopqrst", 30);
    struct Forgery {
        const char* name;
        bool from_client;
        uint32_t seq_offset;  // from the forger's next sequence number
        std::string data;
        uint8_t flags = kSyn;
    };
    const Forgery forgeries[] = {
        {"client, far ahead", true, 50'000'000, ""},
        {"client, one behind", true, 0xFFFFFFFF, ""},
        {"server, with junk at the body's place", false, 0xFFFFFFFF, std::string(30, '\0')},
        {"server, a SYN-ACK to no SYN", false, 50'000'000, "", kSyn | kAck},
    };
    for (const Forgery& forgery : forgeries) {
        SCOPED_TRACE(forgery.name);
        Harness h;
        const uint32_t client_next = 101 + static_cast<uint32_t>(request.size());
        const uint32_t server_next = 501 + static_cast<uint32_t>(headers.size());
        h.feed(ipv4(6, client, 40000, server, 80, "", kSyn, 100), kSecond);
        h.feed(ipv4(6, server, 80, client, 40000, "", kSyn | kAck, 500, 101), kSecond + 1);
        h.feed(ipv4(6, client, 40000, server, 80, request, kAck | kPsh, 101, 501), kSecond + 2);
        h.feed(ipv4(6, server, 80, client, 40000, headers, kAck | kPsh, 501, client_next),
               kSecond + 3);
        if (forgery.from_client) {
            h.feed(ipv4(6, client, 40000, server, 80, forgery.data, kSyn,
                        client_next + forgery.seq_offset),
                   kSecond + 4);
        } else {
            // One behind, so that its data, after the SYN's own number, falls where the body's
            // bytes go.
            h.feed(ipv4(6, server, 80, client, 40000, forgery.data, forgery.flags,
                        server_next + forgery.seq_offset, 77'777),
                   kSecond + 4);
        }
        h.feed(ipv4(6, server, 80, client, 40000, body, kAck | kPsh, server_next, client_next),
               kSecond + 5);
        h.feed(ipv4(6, client, 40000, server, 80, "", kAck, client_next,
                    server_next + static_cast<uint32_t>(body.size())),
               kSecond + 6);
        h.pipeline.finish();
        ASSERT_EQ(h.sink.of(Activity::kConnect).size(), 1u);
        const Event stats = h.sink.of(Activity::kStatistics).at(0);
        EXPECT_TRUE(has_protocol(stats, ProtocolId::HTTP));
        EXPECT_TRUE(has_protocol(stats, ProtocolId::FILE_ZIP));
    }
}

// A bare SYN from the responder of an open connection whose handshake was seen is forged
// or stray: the connection and what it carries stay whole and the right way round.
TEST(PipelineFlow, SynFromResponderStaysInConnection) {
    Harness h;
    h.feed(ipv4(6, "192.0.2.1", 40000, "198.51.100.1", 80, "", kSyn, 100), kSecond);
    h.feed(ipv4(6, "198.51.100.1", 80, "192.0.2.1", 40000, "", kSyn | kAck, 500, 101), kSecond + 1);
    h.feed(ipv4(6, "192.0.2.1", 40000, "198.51.100.1", 80, "abcd", kAck | kPsh, 101, 501),
           kSecond + 2);
    h.feed(ipv4(6, "198.51.100.1", 80, "192.0.2.1", 40000, "", kSyn, 3'000'000), kSecond + 3);
    h.feed(ipv4(6, "198.51.100.1", 80, "192.0.2.1", 40000, "efgh", kAck | kPsh, 501, 105),
           kSecond + 4);
    h.pipeline.finish();

    const std::vector<Event> connects = h.sink.of(Activity::kConnect);
    ASSERT_EQ(connects.size(), 1u);
    EXPECT_EQ(connects[0].source_ip, "192.0.2.1");
    const std::vector<Event> stats = h.sink.of(Activity::kStatistics);
    ASSERT_EQ(stats.size(), 1u);
    EXPECT_EQ(stats[0].bytes_in, 4u);
}

// A second SYN-ACK of another ISN does not move where the server's data starts: the client
// took the first.
TEST(PipelineFlow, LaterSynAckKeepsStream) {
    Harness h;
    const std::string request = "GET /index.html HTTP/1.1\r\nHost: www.example.com\r\n\r\n";
    const std::string body = "<!DOCTYPE html><html><body>hello</body></html>";
    const std::string response = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: " +
                                 std::to_string(body.size()) + "\r\n\r\n" + body;
    h.feed(ipv4(6, "192.0.2.1", 40000, "198.51.100.1", 80, "", kSyn, 100), kSecond);
    h.feed(ipv4(6, "198.51.100.1", 80, "192.0.2.1", 40000, "", kSyn | kAck, 500, 101), kSecond + 1);
    h.feed(ipv4(6, "198.51.100.1", 80, "192.0.2.1", 40000, "", kSyn | kAck, 900'000, 101),
           kSecond + 2);
    h.feed(ipv4(6, "192.0.2.1", 40000, "198.51.100.1", 80, request, kAck | kPsh, 101, 501),
           kSecond + 3);
    h.feed(ipv4(6, "198.51.100.1", 80, "192.0.2.1", 40000, response, kAck | kPsh, 501,
                static_cast<uint32_t>(101 + request.size())),
           kSecond + 4);
    h.pipeline.finish();

    const std::vector<Event> stats = h.sink.of(Activity::kStatistics);
    ASSERT_EQ(stats.size(), 1u);
    EXPECT_TRUE(has_protocol(stats[0], ProtocolId::HTTP));
    EXPECT_TRUE(has_protocol(stats[0], ProtocolId::HTML));
    EXPECT_EQ(h.pipeline.summary().tcp_gaps, 0u);
}

// SYNs of other ISNs before any reply to an attempt (a SYN flood, or another client
// sharing the port) stay with the attempt, and the SYN-ACK shows which SYN it acknowledges,
// where the client's data starts.
TEST(PipelineFlow, UnansweredSynsShareAttempt) {
    Harness h;
    const std::string request = "GET /index.html HTTP/1.1\r\nHost: www.example.com\r\n\r\n";
    h.feed(ipv4(6, "192.0.2.1", 40000, "198.51.100.1", 80, "", kSyn, 5'000'000), kSecond);
    h.feed(ipv4(6, "192.0.2.1", 40000, "198.51.100.1", 80, "", kSyn, 100), kSecond + 200'000);
    h.feed(ipv4(6, "192.0.2.1", 40000, "198.51.100.1", 80, "", kSyn, 7'000'000), kSecond + 400'000);
    h.feed(ipv4(6, "198.51.100.1", 80, "192.0.2.1", 40000, "", kSyn | kAck, 500, 101),
           kSecond + 500'000);
    h.feed(ipv4(6, "192.0.2.1", 40000, "198.51.100.1", 80, request, kAck | kPsh, 101, 501),
           kSecond + 600'000);
    h.pipeline.finish();
    ASSERT_EQ(h.sink.of(Activity::kConnect).size(), 1u);
    const std::vector<Event> stats = h.sink.of(Activity::kStatistics);
    ASSERT_EQ(stats.size(), 1u);
    EXPECT_EQ(stats[0].packets_out, 4u);
    EXPECT_EQ(stats[0].packets_in, 1u);
    EXPECT_TRUE(has_protocol(stats[0], ProtocolId::HTTP));
}

// After a minute without packets, a SYN of another ISN on an unanswered attempt is a new
// attempt.
TEST(PipelineFlow, IdleUnansweredSynStartsNew) {
    Harness h;
    h.feed(ipv4(6, "192.0.2.1", 40000, "198.51.100.1", 80, "", kSyn, 100), kSecond);
    h.feed(ipv4(6, "192.0.2.1", 40000, "198.51.100.1", 80, "", kSyn, 5'000'000), 100 * kSecond);
    h.pipeline.finish();
    ASSERT_EQ(h.sink.of(Activity::kConnect).size(), 2u);
    EXPECT_EQ(h.sink.of(Activity::kDisconnect).at(0).reason, EndReason::kTimeout);
}

TEST(PipelineFlow, RetransmittedSynStaysInConnection) {
    Harness h;
    h.feed(ipv4(6, "192.0.2.1", 40000, "198.51.100.1", 80, "", kSyn, 100), kSecond);
    h.feed(ipv4(6, "192.0.2.1", 40000, "198.51.100.1", 80, "", kSyn, 100), 2 * kSecond);
    h.feed(ipv4(6, "198.51.100.1", 80, "192.0.2.1", 40000, "", kSyn | kAck, 500, 101),
           2 * kSecond + 1);
    h.feed(ipv4(6, "192.0.2.1", 40000, "198.51.100.1", 80, "abcd", kAck | kPsh, 101, 501),
           2 * kSecond + 2);
    // A retransmission of the SYN after the handshake keeps its ISN too.
    h.feed(ipv4(6, "192.0.2.1", 40000, "198.51.100.1", 80, "", kSyn, 100), 3 * kSecond);
    h.pipeline.finish();
    ASSERT_EQ(h.sink.of(Activity::kConnect).size(), 1u);
    EXPECT_EQ(h.sink.of(Activity::kStatistics).at(0).packets_out, 4u);
}

// After a minute of quiet, a SYN inside the receiver's window is still an error within the
// connection, which a receiver responds to with a challenge ACK (RFC 9293 section 3.10.7.4,
// RFC 5961 section 4), not a new connection. One beyond the window is new.
TEST(PipelineFlow, SynInsideWindowStaysInConnection) {
    Harness h;
    open_with_data(h, 1000);
    h.feed(ipv4(6, "192.0.2.1", 40000, "198.51.100.1", 80, "", kSyn, 105 + 500), 70 * kSecond);
    EXPECT_EQ(h.sink.of(Activity::kConnect).size(), 1u);
    h.feed(ipv4(6, "192.0.2.1", 40000, "198.51.100.1", 80, "", kSyn, 105 + 50'000), 140 * kSecond);
    h.pipeline.finish();
    const std::vector<Event> connects = h.sink.of(Activity::kConnect);
    ASSERT_EQ(connects.size(), 2u);
    // The last statistics of the first connection, after the periodic ones of its quiet.
    uint64_t packets_out = 0;
    for (const Event& e : h.sink.of(Activity::kStatistics)) {
        if (e.connection_uid == connects[0].connection_uid) packets_out = e.packets_out;
    }
    EXPECT_EQ(packets_out, 3u);
}

// `frame` (from ipv4()) with a window scale option of `shift` after its TCP header.
std::vector<uint8_t> with_window_scale(std::vector<uint8_t> frame, uint8_t shift) {
    const uint8_t option[] = {0x01, 0x03, 0x03, shift};  // NOP, window scale
    frame.insert(frame.begin() + 40, std::begin(option), std::end(option));
    frame[32] = 0x60;  // a 24-byte TCP header
    put16(frame, 2, static_cast<uint16_t>(frame.size()));
    return frame;
}

// With both SYNs carrying the window scale option, the receiver's window is scaled (RFC
// 7323). After a minute of quiet, a SYN 50,000 bytes ahead falls inside a window field of
// 1,000 scaled by 2^7, and one 200,000 bytes ahead does not. Without the client's option,
// 50,000 is already beyond.
TEST(PipelineFlow, SynInsideScaledWindowStays) {
    for (bool client_scales : {true, false}) {
        SCOPED_TRACE(client_scales ? "both scale" : "only the server scales");
        Harness h;
        auto syn = ipv4(6, "192.0.2.1", 40000, "198.51.100.1", 80, "", kSyn, 100);
        h.feed(client_scales ? with_window_scale(syn, 7) : syn, kSecond);
        h.feed(with_window_scale(ipv4(6, "198.51.100.1", 80, "192.0.2.1", 40000, "", kSyn | kAck,
                                      500, 101, 65535),
                                 7),
               kSecond + 1);
        h.feed(ipv4(6, "192.0.2.1", 40000, "198.51.100.1", 80, "abcd", kAck | kPsh, 101, 501),
               kSecond + 2);
        h.feed(ipv4(6, "198.51.100.1", 80, "192.0.2.1", 40000, "", kAck, 501, 105, 1000),
               kSecond + 3);
        h.feed(ipv4(6, "192.0.2.1", 40000, "198.51.100.1", 80, "", kSyn, 105 + 50'000),
               70 * kSecond);
        EXPECT_EQ(h.sink.of(Activity::kConnect).size(), client_scales ? 1u : 2u);
        if (!client_scales) continue;
        h.feed(ipv4(6, "192.0.2.1", 40000, "198.51.100.1", 80, "", kSyn, 105 + 200'000),
               140 * kSecond);
        h.pipeline.finish();
        EXPECT_EQ(h.sink.of(Activity::kConnect).size(), 2u);
    }
}

// The window field of a SYN-ACK is not scaled (RFC 7323 section 2.2): until the server
// sends again, its window is the field's value, 1,000 bytes, even with scaling agreed.
TEST(PipelineFlow, SynAckWindowIsNotScaled) {
    Harness h;
    h.feed(with_window_scale(ipv4(6, "192.0.2.1", 40000, "198.51.100.1", 80, "", kSyn, 100), 7),
           kSecond);
    h.feed(with_window_scale(
               ipv4(6, "198.51.100.1", 80, "192.0.2.1", 40000, "", kSyn | kAck, 500, 101, 1000), 7),
           kSecond + 1);
    h.feed(ipv4(6, "192.0.2.1", 40000, "198.51.100.1", 80, "abcd", kAck | kPsh, 101, 501),
           kSecond + 2);
    h.feed(ipv4(6, "192.0.2.1", 40000, "198.51.100.1", 80, "", kSyn, 105 + 900), 70 * kSecond);
    EXPECT_EQ(h.sink.of(Activity::kConnect).size(), 1u);
    h.feed(ipv4(6, "192.0.2.1", 40000, "198.51.100.1", 80, "", kSyn, 105 + 5'000), 140 * kSecond);
    h.pipeline.finish();
    EXPECT_EQ(h.sink.of(Activity::kConnect).size(), 2u);
}

// Both ends send a SYN at once (RFC 9293 section 3.5): one connection.
TEST(PipelineFlow, SimultaneousOpenIsOneConnection) {
    Harness h;
    h.feed(ipv4(6, "192.0.2.1", 40000, "198.51.100.1", 50000, "", kSyn, 100), kSecond);
    h.feed(ipv4(6, "198.51.100.1", 50000, "192.0.2.1", 40000, "", kSyn, 900), kSecond + 1);
    h.feed(ipv4(6, "192.0.2.1", 40000, "198.51.100.1", 50000, "", kSyn | kAck, 100, 901),
           kSecond + 2);
    h.feed(ipv4(6, "198.51.100.1", 50000, "192.0.2.1", 40000, "", kSyn | kAck, 900, 101),
           kSecond + 3);
    h.pipeline.finish();
    EXPECT_EQ(h.sink.of(Activity::kConnect).size(), 1u);
    EXPECT_EQ(h.sink.of(Activity::kConnect).at(0).source_ip, "192.0.2.1");
}

TEST(PipelineFlow, UdpIdleTimeout) {
    Settings settings;
    settings.udp_idle_timeout_s = 30;
    Harness h(settings);
    h.feed(ipv4(17, "192.0.2.1", 5000, "198.51.100.1", 6000, "one"), kSecond);
    h.feed(ipv4(17, "192.0.2.1", 5000, "198.51.100.1", 6000, "two"), 100 * kSecond);
    h.pipeline.finish();
    auto ends = h.sink.of(Activity::kDisconnect);
    ASSERT_EQ(ends.size(), 2u);
    EXPECT_EQ(ends[0].reason, EndReason::kTimeout);
    EXPECT_EQ(ends[1].reason, EndReason::kEndOfInput);
}

// An IGMPv2 membership report (RFC 2236) from `host` for `group`, sent to the group.
std::vector<uint8_t> igmp_report(const char* host, const char* group) {
    std::vector<uint8_t> b(20 + 8, 0);
    b[0] = 0x45;
    put16(b, 2, static_cast<uint16_t>(b.size()));
    b[8] = 1;
    b[9] = 2;
    inet_pton(AF_INET, host, &b[12]);
    inet_pton(AF_INET, group, &b[16]);
    b[20] = 0x16;  // version 2 membership report
    inet_pton(AF_INET, group, &b[24]);
    return b;
}

// Reports that a host repeats at each query, 125 s apart by default, stay one flow while
// the membership lasts. ICMP messages as far apart are flows of their own.
TEST(PipelineFlow, IgmpReportsStayOneFlow) {
    Harness h;
    for (int64_t at : {1, 126, 251, 376}) {
        h.feed(igmp_report("192.0.2.7", "239.1.2.3"), at * kSecond);
        h.feed(icmp4("192.0.2.7", "198.51.100.1", kEchoRequest), at * kSecond);
    }
    h.feed(igmp_report("192.0.2.7", "239.1.2.3"), 700 * kSecond);  // after 324 s
    h.pipeline.finish();
    // The packets of each IGMP flow, from its last statistics event.
    std::map<std::string, uint64_t> igmp_packets;
    for (const Event& statistics : h.sink.of(Activity::kStatistics)) {
        if (statistics.ip_protocol == 2) {
            igmp_packets[statistics.connection_uid] =
                statistics.packets_out + statistics.packets_in;
        }
    }
    std::vector<uint64_t> counts;
    for (const auto& [uid, packets] : igmp_packets) counts.push_back(packets);
    std::sort(counts.begin(), counts.end());
    EXPECT_EQ(counts, (std::vector<uint64_t>{1, 4}));
    size_t icmp_flows = 0;
    for (const Event& end : h.sink.of(Activity::kDisconnect)) {
        if (end.ip_protocol == 1) ++icmp_flows;
    }
    EXPECT_EQ(icmp_flows, 4u);
}

// A raw IPv4 frame of IP protocol `protocol` with `payload` right after the IP header.
std::vector<uint8_t> ip_only(uint8_t protocol, const char* src, const char* dst,
                             const std::string& payload) {
    std::vector<uint8_t> b(20 + payload.size(), 0);
    b[0] = 0x45;
    put16(b, 2, static_cast<uint16_t>(b.size()));
    b[8] = 255;
    b[9] = protocol;
    inet_pton(AF_INET, src, &b[12]);
    inet_pton(AF_INET, dst, &b[16]);
    std::copy(payload.begin(), payload.end(), b.begin() + 20);
    return b;
}

// VRRP advertisements (IP protocol 112) from a router to their group, and SCTP both ways:
// each a flow of its addresses, counted as any other.
TEST(PipelineFlow, OtherIpProtocolsAreFlows) {
    Harness h;
    for (int64_t at : {1, 2, 3}) {
        h.feed(ip_only(112, "192.0.2.1", "224.0.0.18", std::string(20, 'v')), at * kSecond);
    }
    h.feed(ip_only(132, "192.0.2.5", "198.51.100.9", std::string(28, 's')), 4 * kSecond);
    h.feed(ip_only(132, "198.51.100.9", "192.0.2.5", std::string(16, 's')), 5 * kSecond);
    h.pipeline.finish();
    std::map<uint8_t, Event> last;
    for (const Event& statistics : h.sink.of(Activity::kStatistics)) {
        last[statistics.ip_protocol] = statistics;
    }
    ASSERT_EQ(last.count(112), 1u);
    EXPECT_EQ(last[112].packets_out, 3u);
    EXPECT_EQ(last[112].bytes_out, 60u);
    EXPECT_EQ(last[112].target_port, 0);
    ASSERT_EQ(last.count(132), 1u);
    EXPECT_EQ(last[132].source_ip, "192.0.2.5");
    EXPECT_EQ(last[132].packets_out, 1u);
    EXPECT_EQ(last[132].packets_in, 1u);
    EXPECT_EQ(last[132].bytes_in, 16u);
}

TEST(PipelineFlow, FullTableEvictsOldest) {
    Settings settings;
    settings.max_flows = 2;
    Harness h(settings);
    h.feed(ipv4(17, "192.0.2.1", 50001, "198.51.100.1", 6000, "a"), kSecond);
    h.feed(ipv4(17, "192.0.2.2", 50001, "198.51.100.1", 6000, "b"), kSecond + 1);
    h.feed(ipv4(17, "192.0.2.3", 50001, "198.51.100.1", 6000, "c"), kSecond + 2);
    auto ends = h.sink.of(Activity::kDisconnect);
    ASSERT_EQ(ends.size(), 1u);
    EXPECT_EQ(ends[0].source_ip, "192.0.2.1");
    EXPECT_EQ(ends[0].reason, EndReason::kEvicted);
    EXPECT_EQ(h.pipeline.summary().flows_evicted, 1u);
    EXPECT_EQ(h.pipeline.summary().anomalies.get(decode::Anomaly::kFlowTableFull), 1u);
}

TEST(PipelineFlow, PeriodicStatisticsAreCumulative) {
    Settings settings;
    settings.statistics_interval_s = 10;
    Harness h(settings);
    for (int i = 0; i < 5; ++i) {
        h.feed(ipv4(17, "192.0.2.1", 5000, "198.51.100.1", 6000, "xx"), (1 + i * 6) * kSecond);
    }
    h.pipeline.finish();
    auto stats = h.sink.of(Activity::kStatistics);
    ASSERT_GE(stats.size(), 2u);
    EXPECT_LT(stats.front().packets_out, stats.back().packets_out);
    EXPECT_EQ(stats.back().packets_out, 5u);
    EXPECT_EQ(stats.back().bytes_out, 10u);
    EXPECT_EQ(h.sink.events.front().activity, Activity::kConnect);
    EXPECT_EQ(h.sink.events.back().activity, Activity::kDisconnect);
}

TEST(PipelineFlow, QuietConnectionGetsStatistics) {
    Settings settings;
    settings.statistics_interval_s = 60;
    settings.udp_idle_timeout_s = 600;
    Harness h(settings);
    // One flow sends at 0 s and 200 s; another's packet every 10 s moves the clock on.
    h.feed(ipv4(17, "192.0.2.1", 5000, "198.51.100.1", 6000, "quiet"), kSecond);
    for (int second = 10; second < 200; second += 10) {
        h.feed(ipv4(17, "192.0.2.2", 7000, "198.51.100.2", 8000, "tick"), (1 + second) * kSecond);
    }
    h.feed(ipv4(17, "192.0.2.1", 5000, "198.51.100.1", 6000, "again"), 201 * kSecond);
    h.pipeline.finish();
    std::vector<Event> quiet;
    for (const Event& e : h.sink.of(Activity::kStatistics)) {
        if (e.source_ip == "192.0.2.1") quiet.push_back(e);
    }
    // Due at 61, 121 and 181 s while quiet, and at the end (its packet at 201 s came 20 s
    // after the last one).
    ASSERT_EQ(quiet.size(), 4u);
    EXPECT_EQ(quiet[0].time_ms, 61'000);
    EXPECT_EQ(quiet[1].time_ms, 121'000);
    EXPECT_EQ(quiet[2].time_ms, 181'000);
    EXPECT_EQ(quiet[0].packets_out, 1u);
    EXPECT_EQ(quiet[0].end_time_ms, 1'000);  // its last packet, not the moment of the event
    EXPECT_EQ(quiet[3].packets_out, 2u);
}

TEST(PipelineFlow, QuietFlowEndsAfterItsStatistics) {
    Settings settings;
    settings.statistics_interval_s = 60;
    Harness h(settings);
    h.feed(ipv4(17, "192.0.2.1", 5000, "198.51.100.1", 6000, "quiet"), kSecond);
    h.feed(ipv4(17, "192.0.2.2", 7000, "198.51.100.2", 8000, "tick"), 100 * kSecond);
    h.pipeline.finish();
    std::vector<Event> quiet;
    for (const Event& e : h.sink.events) {
        if (e.source_ip == "192.0.2.1") quiet.push_back(e);
    }
    // Connect, the statistics due at 61 s, which hold the final counts and so are not
    // repeated, and the disconnect, which comes no earlier.
    ASSERT_EQ(quiet.size(), 3u);
    EXPECT_EQ(quiet[1].activity, Activity::kStatistics);
    EXPECT_EQ(quiet[1].time_ms, 61'000);
    EXPECT_EQ(quiet[1].packets_out, 1u);
    EXPECT_EQ(quiet[2].activity, Activity::kDisconnect);
    EXPECT_EQ(quiet[2].time_ms, 61'000);
    EXPECT_EQ(quiet[2].end_time_ms, 0);  // a disconnect carries no statistics
}

TEST(PipelineFlow, PacketAfterStatisticsGetsFinalOne) {
    Settings settings;
    settings.statistics_interval_s = 60;
    Harness h(settings);
    h.feed(ipv4(17, "192.0.2.1", 5000, "198.51.100.1", 6000, "quiet"), kSecond);
    h.feed(ipv4(17, "192.0.2.2", 7000, "198.51.100.2", 8000, "tick"), 100 * kSecond);
    h.feed(ipv4(17, "192.0.2.1", 5000, "198.51.100.1", 6000, "late"), 101 * kSecond);
    h.pipeline.finish();
    std::vector<Event> statistics;
    for (const Event& e : h.sink.of(Activity::kStatistics)) {
        if (e.source_ip == "192.0.2.1") statistics.push_back(e);
    }
    ASSERT_EQ(statistics.size(), 2u);
    EXPECT_EQ(statistics[0].packets_out, 1u);
    EXPECT_EQ(statistics[1].packets_out, 2u);
    EXPECT_EQ(statistics[1].time_ms, 101'000);
}

TEST(PipelineFlow, LocalNetworkSetsDirection) {
    Settings settings;
    settings.local_networks.push_back(Cidr::parse("198.51.100.0/24"));
    Harness h(settings);
    h.feed(ipv4(17, "192.0.2.1", 5000, "198.51.100.1", 6000, "hello"), kSecond);
    h.feed(ipv4(17, "198.51.100.1", 6000, "192.0.2.1", 5000, "hi"), kSecond + 1);
    h.pipeline.finish();
    Event stats = h.sink.of(Activity::kStatistics).at(0);  // of() returns a temporary
    EXPECT_EQ(stats.direction, events::Direction::kInbound);
    // The device is the target: what it sent is the responder's data.
    EXPECT_EQ(stats.bytes_out, 2u);
    EXPECT_EQ(stats.bytes_in, 5u);
}

TEST(PipelineFlow, SameCaptureSameUids) {
    Harness a, b;
    handshake_and_close(a, kSecond, "192.0.2.1", 40000);
    handshake_and_close(b, kSecond, "192.0.2.1", 40000);
    a.pipeline.finish();
    b.pipeline.finish();
    EXPECT_EQ(a.sink.events[0].connection_uid, b.sink.events[0].connection_uid);
}

TEST(PipelineFlow, TeredoTracksOuterAndInner) {
    // An IPv6 ICMPv6 echo request (8-byte message, 4 data bytes) inside UDP to port 3544.
    std::string inner(40 + 12, '\0');
    inner[0] = 0x60;
    inner[5] = 12;  // payload length
    inner[6] = 58;  // next header: ICMPv6
    inner[7] = 64;
    const uint8_t source[16] = {0x20, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    const uint8_t target[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
    std::copy(source, source + 16, inner.begin() + 8);
    std::copy(target, target + 16, inner.begin() + 24);
    inner[40] = static_cast<char>(128);  // echo request
    Harness h;
    h.feed(ipv4(17, "192.0.2.1", 50000, "198.51.100.1", 3544, inner), kSecond);
    h.pipeline.finish();
    auto stats = h.sink.of(Activity::kStatistics);
    ASSERT_EQ(stats.size(), 2u);
    EXPECT_EQ(stats[0].ip_protocol, 17);
    EXPECT_EQ(stats[1].ip_protocol, 58);
    EXPECT_EQ(stats[1].source_ip, "2001::1");
    EXPECT_EQ(stats[1].target_ip, "2001:db8::2");
}

// A neighbour advertisement replies to a solicitation, so its receiver is the initiator, and
// the ping that receiver sends next comes from the source of the flow.
TEST(PipelineFlow, IcmpAdvertisementFirstOrientsToReceiver) {
    Harness h;
    h.feed(icmp6("2001:db8::2", "2001:db8::1", kNeighborAdvertisement, std::string(24, 'n')),
           kSecond);
    h.feed(icmp6("2001:db8::1", "2001:db8::2", kEchoRequestV6, "ping"), kSecond + 1);
    h.feed(icmp6("2001:db8::2", "2001:db8::1", kEchoReplyV6, "ping"), kSecond + 2);
    h.pipeline.finish();
    ASSERT_EQ(h.sink.of(Activity::kConnect).size(), 1u);
    for (const Event& event : h.sink.events) {
        EXPECT_EQ(event.source_ip, "2001:db8::1");
        EXPECT_EQ(event.target_ip, "2001:db8::2");
    }
    Event stats = h.sink.of(Activity::kStatistics).at(0);  // of() returns a temporary
    EXPECT_EQ(stats.packets_out, 1u);
    EXPECT_EQ(stats.packets_in, 2u);
    EXPECT_EQ(stats.bytes_out, 4u);
    EXPECT_EQ(stats.bytes_in, 28u);
}

// An error seen first points at the host it reports to, but an echo request from the host
// that sent the error decides: the requester initiates. The connect event waits for the
// request, and every event of the flow names the same initiator.
TEST(PipelineFlow, IcmpRequestAfterErrorSetsInitiator) {
    Harness h;
    h.feed(icmp4("198.51.100.1", "192.0.2.1", kUnreachable, std::string(28, 'q')), kSecond);
    EXPECT_TRUE(h.sink.events.empty());
    h.feed(icmp4("198.51.100.1", "192.0.2.1", kEchoRequest, "ping"), 2 * kSecond);
    h.feed(icmp4("192.0.2.1", "198.51.100.1", kEchoReply, "ping"), 2 * kSecond + 1);
    h.pipeline.finish();

    ASSERT_EQ(h.sink.events.size(), 3u);
    const Event& connect = h.sink.events[0];
    EXPECT_EQ(connect.activity, Activity::kConnect);
    EXPECT_EQ(connect.time_ms, kSecond / 1000);
    for (const Event& event : h.sink.events) {
        EXPECT_EQ(event.source_ip, "198.51.100.1");
        EXPECT_EQ(event.target_ip, "192.0.2.1");
    }
    const Event& stats = h.sink.events[1];
    EXPECT_EQ(stats.packets_out, 2u);
    EXPECT_EQ(stats.packets_in, 1u);
    EXPECT_EQ(stats.bytes_out, 32u);
    EXPECT_EQ(stats.bytes_in, 4u);
    EXPECT_TRUE(has_protocol(stats, ProtocolId::ICMP_DATA));
}

TEST(PipelineFlow, IcmpReplyOnlyOrientsToReceiver) {
    Harness h;
    h.feed(icmp4("198.51.100.1", "192.0.2.1", kEchoReply, "pong"), kSecond);
    h.pipeline.finish();
    ASSERT_EQ(h.sink.events.size(), 3u);
    for (const Event& event : h.sink.events) {
        EXPECT_EQ(event.source_ip, "192.0.2.1");
        EXPECT_EQ(event.target_ip, "198.51.100.1");
    }
    EXPECT_EQ(h.sink.events[0].activity, Activity::kConnect);
    EXPECT_EQ(h.sink.events[1].packets_in, 1u);
}

// No one sends from a multicast address, so an advertisement to one is the sender's own.
TEST(PipelineFlow, IcmpToMulticastKeepsSender) {
    Harness h;
    h.feed(icmp6("fe80::2", "ff02::1", kNeighborAdvertisement, std::string(24, 'n')), kSecond);
    ASSERT_EQ(h.sink.events.size(), 1u);
    EXPECT_EQ(h.sink.events[0].activity, Activity::kConnect);
    EXPECT_EQ(h.sink.events[0].source_ip, "fe80::2");
    h.pipeline.finish();
}

// Once a statistics event has named the initiator, a later request does not change it.
TEST(PipelineFlow, IcmpOrientationFixedByStatistics) {
    Settings settings;
    settings.statistics_interval_s = 10;
    Harness h(settings);
    h.feed(icmp4("198.51.100.1", "192.0.2.1", kUnreachable, std::string(28, 'q')), kSecond);
    h.feed(icmp4("198.51.100.1", "192.0.2.1", kUnreachable, std::string(28, 'q')), 12 * kSecond);
    ASSERT_EQ(h.sink.events.size(), 2u);
    EXPECT_EQ(h.sink.events[0].activity, Activity::kConnect);
    EXPECT_EQ(h.sink.events[1].activity, Activity::kStatistics);
    h.feed(icmp4("198.51.100.1", "192.0.2.1", kEchoRequest, "ping"), 13 * kSecond);
    h.pipeline.finish();
    ASSERT_EQ(h.sink.of(Activity::kConnect).size(), 1u);
    for (const Event& event : h.sink.events) {
        EXPECT_EQ(event.source_ip, "192.0.2.1");
        EXPECT_EQ(event.target_ip, "198.51.100.1");
    }
    EXPECT_EQ(h.sink.of(Activity::kStatistics).back().packets_in, 3u);
}

TEST(Cidr, ParsesAndMatches) {
    Cidr v4 = Cidr::parse("10.0.0.0/8");
    uint8_t inside[4] = {10, 1, 2, 3}, outside[4] = {11, 0, 0, 1};
    EXPECT_TRUE(v4.contains(decode::IpAddress::v4(inside)));
    EXPECT_FALSE(v4.contains(decode::IpAddress::v4(outside)));
    Cidr v6 = Cidr::parse("2001:db8::/32");
    uint8_t address[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    EXPECT_TRUE(v6.contains(decode::IpAddress::v6(address)));
    EXPECT_FALSE(v6.contains(decode::IpAddress::v4(inside)));
}

TEST(Cidr, RejectsInvalid) {
    EXPECT_THROW(Cidr::parse("10.0.0.0/33"), std::invalid_argument);
    EXPECT_THROW(Cidr::parse("not-an-ip"), std::invalid_argument);
    EXPECT_THROW(Cidr::parse("10.0.0.0/"), std::invalid_argument);
}

}  // namespace
}  // namespace pw::pipeline
