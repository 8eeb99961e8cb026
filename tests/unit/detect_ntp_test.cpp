// NTP detection, with packets built from RFC 5905 section 7.3, RFC 1305 appendix B (mode
// 6) and ntpd's mode 7 request layout.

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "detect/detector.h"

namespace pw::detect {

std::unique_ptr<Detector> make_ntp_detector();

namespace {

using Bytes = std::vector<uint8_t>;

Bytes time_packet(uint8_t version, uint8_t mode, uint8_t stratum = 2, int8_t poll = 6,
                  int8_t precision = -20) {
    Bytes p(48, 0);
    p[0] = static_cast<uint8_t>(version << 3 | mode);
    p[1] = stratum;
    p[2] = static_cast<uint8_t>(poll);
    p[3] = static_cast<uint8_t>(precision);
    for (size_t i = 16; i < 48; ++i) p[i] = static_cast<uint8_t>(i * 7);  // timestamps
    return p;
}

decode::IpAddress v4(uint8_t last_byte) {
    const uint8_t raw[4] = {192, 0, 2, last_byte};
    return decode::IpAddress::v4(raw);
}

struct Flow {
    Session session;
    std::unique_ptr<Detector> detector = make_ntp_detector();
    Verdict last = Verdict::kContinue;
    uint64_t datagrams = 0;

    explicit Flow(uint16_t client_port = 123, uint16_t server_port = 123)
        : session(Transport::kUdp, v4(1), client_port, v4(2), server_port) {}

    Verdict send(const Bytes& data, bool from_client = true) {
        if (last != Verdict::kContinue) return last;
        decode::Packet packet;
        last = detector->inspect(session, Segment{data, from_client, datagrams++, &packet});
        return last;
    }
    bool ntp() const { return session.has(ProtocolId::NTP); }
};

TEST(NtpDetector, ClientAndServerModes) {
    Flow client(50000);
    EXPECT_EQ(client.send(time_packet(4, 3, 0, 0, 0)), Verdict::kDone);
    EXPECT_TRUE(client.ntp());

    Flow server(50000);
    server.send(time_packet(4, 4), false);
    EXPECT_TRUE(server.ntp());
}

TEST(NtpDetector, OlderVersionsAndSymmetricModes) {
    for (uint8_t version : {1, 2, 3}) {
        Flow flow;
        flow.send(time_packet(version, 1));
        EXPECT_TRUE(flow.ntp()) << int{version};
    }
    Flow v1;
    v1.send(time_packet(1, 0));
    EXPECT_TRUE(v1.ntp());
    Flow broadcast;
    broadcast.send(time_packet(4, 5));
    EXPECT_TRUE(broadcast.ntp());
}

TEST(NtpDetector, MacAfterHeader) {
    Bytes packet = time_packet(4, 3);
    packet.resize(48 + 4 + 16, 0x5a);  // key id and MD5 digest
    Flow flow;
    flow.send(packet);
    EXPECT_TRUE(flow.ntp());
}

TEST(NtpDetector, ControlMessage) {
    // Mode 6 READVAR request: opcode 2, sequence 1, no data.
    Bytes request = {0x16, 0x02, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0};
    Flow flow(40000);
    flow.send(request);
    EXPECT_TRUE(flow.ntp());

    // A response carrying 4 bytes of data.
    Bytes response = {0x16, 0x82, 0x00, 0x01, 0x06, 0x15, 0, 0, 0, 0, 0, 4, 'a', '=', '1', ','};
    Flow reply(40000);
    reply.send(response, false);
    EXPECT_TRUE(reply.ntp());
}

TEST(NtpDetector, PrivateMessage) {
    // Mode 7 request (version 2): implementation XNTPD, request code 42, no items.
    Bytes request = {0x17, 0x00, 0x03, 0x2a, 0x00, 0x00, 0x00, 0x00};
    Flow flow(40000);
    flow.send(request);
    EXPECT_TRUE(flow.ntp());
}

TEST(NtpDetector, RejectsBadHeaders) {
    Flow version;
    EXPECT_NE(version.send(time_packet(0, 3)), Verdict::kDone);
    Flow stratum;
    stratum.send(time_packet(4, 4, 40));
    Flow poll;
    poll.send(time_packet(4, 4, 2, 60));
    Flow short_packet;
    short_packet.send(Bytes(20, 0x23));
    Flow control;
    control.send({0x16, 0x02, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0x01, 0x00});  // count past the end
    Flow implementation;
    implementation.send({0x17, 0x00, 0x09, 0x2a, 0, 0, 0, 0});
    for (Flow* flow : {&version, &stratum, &poll, &short_packet, &control, &implementation}) {
        EXPECT_FALSE(flow->ntp());
    }
}

// Away from port 123 the timestamps must be those of the capture's time.
TEST(NtpDetector, ElsewhereTimestampsMustMatchCapture) {
    constexpr int64_t kCaptureSeconds = 1'765'000'000;  // December 2025
    auto stamped = [](uint8_t mode, int64_t unix_seconds) {
        Bytes p = time_packet(4, mode);
        const auto ntp_seconds = static_cast<uint32_t>(unix_seconds + 2'208'988'800);
        for (size_t offset : {32u, 40u}) {
            for (size_t i = 0; i < 4; ++i) {
                p[offset + i] = static_cast<uint8_t>(ntp_seconds >> (24 - 8 * i));
            }
        }
        return p;
    };
    auto send = [](Flow& flow, const Bytes& data, bool from_client) {
        decode::Packet packet;
        packet.time_us = kCaptureSeconds * 1'000'000;
        flow.last = flow.detector->inspect(flow.session, Segment{data, from_client, 0, &packet});
        return flow.last;
    };
    Flow reply(40000, 11123);
    // A client that sends a random transmit timestamp, then the server's reply.
    EXPECT_EQ(send(reply, time_packet(4, 3), true), Verdict::kContinue);
    EXPECT_EQ(send(reply, stamped(4, kCaptureSeconds + 2), false), Verdict::kDone);
    EXPECT_TRUE(reply.ntp());

    Flow request(40000, 11123);
    EXPECT_EQ(send(request, stamped(3, kCaptureSeconds - 60), true), Verdict::kDone);

    Flow skewed(40000, 11123);
    EXPECT_EQ(send(skewed, stamped(4, kCaptureSeconds - 30 * 86400), false), Verdict::kNotMine);
    Flow wrapped(40000, 11123);
    EXPECT_EQ(send(wrapped, stamped(4, kCaptureSeconds + (int64_t{1} << 31)), false),
              Verdict::kNotMine);
    Flow without_packet(40000, 4000);
    EXPECT_EQ(without_packet.send(time_packet(4, 3), false), Verdict::kNotMine);
    EXPECT_FALSE(without_packet.ntp());
}

TEST(NtpDetector, GivesUpAfterSeveralDatagrams) {
    Flow flow;
    Verdict verdict = Verdict::kContinue;
    for (int i = 0; i < 10 && verdict == Verdict::kContinue; ++i) {
        verdict = flow.send(Bytes(48, 0xff));
    }
    EXPECT_EQ(verdict, Verdict::kNotMine);
}

TEST(NtpDetector, RandomBytesDoNotCrash) {
    std::mt19937 random(5);
    for (int round = 0; round < 2000; ++round) {
        Bytes data(random() % 80);
        for (uint8_t& b : data) b = random() & 0xff;
        Flow flow;
        flow.send(data);
    }
}

}  // namespace
}  // namespace pw::detect
