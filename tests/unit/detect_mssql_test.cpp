// MSSQL (TDS) and SQL Server Resolution Protocol detection, with packets built from [MS-TDS]
// and [MS-SQLR].

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>

#include "detect/detector.h"

namespace pw::detect {

std::unique_ptr<Detector> make_mssql_detector();

namespace {

using namespace std::string_literals;

std::span<const uint8_t> bytes(const std::string& text) {
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

std::string be16(uint16_t v) { return {static_cast<char>(v >> 8), static_cast<char>(v)}; }
std::string le16(uint16_t v) { return {static_cast<char>(v), static_cast<char>(v >> 8)}; }
std::string le32(uint32_t v) { return le16(v & 0xFFFF) + le16(v >> 16); }

std::string tds(uint8_t type, const std::string& payload, uint8_t status = 0x01) {
    return std::string{static_cast<char>(type), static_cast<char>(status)} +
           be16(static_cast<uint16_t>(8 + payload.size())) + "\x00\x00\x01\x00"s + payload;
}

// VERSION, ENCRYPTION and THREADID options, then the terminator and their data.
std::string prelogin_payload() {
    std::string options = "\x00"s + be16(16) + be16(6) + "\x01"s + be16(22) + be16(1) + "\x03"s +
                          be16(23) + be16(4) + "\xff"s;
    return options + "\x0f\x00\x07\xd0\x00\x00"s + "\x02"s + "\x00\x00\x0b\x40"s;
}

std::string login7_payload() {
    std::string body = le32(0) + le32(0x74000004) + le32(4096) + le32(7) + le32(1234) + le32(0);
    body += std::string(60, '\0');
    std::string out = body;
    out.replace(0, 4, le32(static_cast<uint32_t>(body.size())));
    return out;
}

// The ALL_HEADERS block of TDS 7.2 with a transaction descriptor.
std::string all_headers() { return le32(22) + le32(18) + le16(2) + std::string(12, '\0'); }

std::string utf16(const std::string& text) {
    std::string out;
    for (char c : text) out += std::string{c, '\0'};
    return out;
}

struct Flow {
    Session session;
    std::unique_ptr<Detector> detector = make_mssql_detector();
    Verdict last = Verdict::kContinue;
    uint64_t sent[2] = {0, 0};

    explicit Flow(Transport transport = Transport::kTcp, uint16_t port = 1433)
        : session(transport, address(10), 49152, address(20), port) {}

    static decode::IpAddress address(uint8_t last_byte) {
        const uint8_t raw[4] = {192, 0, 2, last_byte};
        return decode::IpAddress::v4(raw);
    }

    Verdict send(bool from_initiator, const std::string& data) {
        if (last != Verdict::kContinue) return last;
        decode::Packet packet;
        uint64_t& offset = sent[from_initiator ? 0 : 1];
        last = detector->inspect(session, Segment{bytes(data), from_initiator, offset, &packet});
        offset += session.transport() == Transport::kTcp ? data.size() : 1;
        return last;
    }
};

TEST(MssqlDetector, Prelogin) {
    Flow flow;
    EXPECT_EQ(flow.send(true, tds(0x12, prelogin_payload())), Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::MSSQL));
}

TEST(MssqlDetector, Login7WithoutPrelogin) {
    Flow flow;
    EXPECT_EQ(flow.send(true, tds(0x10, login7_payload())), Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::MSSQL));
}

TEST(MssqlDetector, BatchAndResultLaterInAConnection) {
    Flow flow;
    flow.sent[0] = flow.sent[1] = 5000;
    std::string batch = all_headers() + utf16("SEL");
    EXPECT_EQ(flow.send(true, tds(0x01, batch)), Verdict::kContinue);
    EXPECT_EQ(flow.send(false, tds(0x04, "\xfd\x10\x00\xc1\x00\x01\x00\x00\x00"s)), Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::MSSQL));
}

// A client's request seen without the connection's start or any reply: a call of a stored
// procedure by name, with and without ALL_HEADERS, of sp_executesql by number, and a batch.
TEST(MssqlDetector, RequestAloneLaterInAConnection) {
    const std::string name = "proc_GetMyExampleTable";
    const std::string by_name = le16(static_cast<uint16_t>(name.size())) + utf16(name) + le16(0);
    for (const std::string& payload :
         {all_headers() + by_name, by_name, all_headers() + le16(0xFFFF) + le16(10) + le16(0)}) {
        Flow flow;
        flow.sent[0] = flow.sent[1] = 5000;
        EXPECT_EQ(flow.send(true, tds(0x03, payload, 0x09)), Verdict::kDone);
        EXPECT_TRUE(flow.session.has(ProtocolId::MSSQL));
    }
    Flow batch;
    batch.sent[0] = batch.sent[1] = 5000;
    EXPECT_EQ(batch.send(true, tds(0x01, all_headers() + utf16("SELECT 1"))), Verdict::kDone);
}

// A request packet whose header checks out but whose payload does not: a procedure number
// past the built-in ones, a name of other bytes, headers that overrun their block.
TEST(MssqlDetector, RequestAloneNeedsValidPayload) {
    std::string overrun = all_headers();
    overrun[4] = 40;
    for (const std::string& payload :
         {le16(0xFFFF) + le16(99) + le16(0), le16(8) + std::string(16, '\x7f'), overrun}) {
        Flow flow;
        flow.sent[0] = flow.sent[1] = 5000;
        EXPECT_NE(flow.send(true, tds(0x03, payload)), Verdict::kDone);
        EXPECT_FALSE(flow.session.has(ProtocolId::MSSQL));
    }
    // A short segment whose header claims a longer packet.
    std::string longer = tds(0x01, all_headers() + utf16("SELECT 1"));
    longer[2] = 0x41;
    Flow flow;
    flow.sent[0] = flow.sent[1] = 5000;
    EXPECT_NE(flow.send(true, longer), Verdict::kDone);
    EXPECT_FALSE(flow.session.has(ProtocolId::MSSQL));
}

TEST(MssqlDetector, RejectsBrokenHeadersAndOptions) {
    std::string window = tds(0x12, prelogin_payload());
    window[7] = 1;
    Flow a;
    EXPECT_EQ(a.send(true, window), Verdict::kNotMine);
    std::string status = tds(0x12, prelogin_payload(), 0x40);
    Flow b;
    EXPECT_EQ(b.send(true, status), Verdict::kNotMine);
    std::string option = prelogin_payload();
    option[1] = '\x7f';  // VERSION data past the packet
    Flow c;
    EXPECT_EQ(c.send(true, tds(0x12, option)), Verdict::kNotMine);
    Flow text;
    EXPECT_EQ(text.send(true, "\x01\x00\x00\x0chello"s), Verdict::kNotMine);
}

TEST(MssqlResolver, RequestsAndResponse) {
    Flow broadcast(Transport::kUdp, 1434);
    EXPECT_EQ(broadcast.send(true, "\x02"s), Verdict::kDone);
    EXPECT_TRUE(broadcast.session.has(ProtocolId::MSSQL_RESOLVER));
    Flow instance(Transport::kUdp, 1434);
    EXPECT_EQ(instance.send(true, "\x04SQLEXPRESS\0"s), Verdict::kDone);
    EXPECT_TRUE(instance.session.has(ProtocolId::MSSQL_RESOLVER));
    std::string text =
        "ServerName;DB1;InstanceName;SQLEXPRESS;IsClustered;No;Version;15.0.2000.5;"
        "tcp;1433;;";
    Flow response(Transport::kUdp, 1434);
    EXPECT_EQ(response.send(false, "\x05"s + le16(text.size()) + text), Verdict::kDone);
    EXPECT_TRUE(response.session.has(ProtocolId::MSSQL_RESOLVER));
}

TEST(MssqlResolver, RejectsLookalikes) {
    Flow elsewhere(Transport::kUdp, 5000);
    EXPECT_EQ(elsewhere.send(true, "\x03"s), Verdict::kNotMine);
    Flow bad_length(Transport::kUdp, 1434);
    EXPECT_EQ(bad_length.send(false, "\x05\x40\x00ServerName;X;;"s), Verdict::kNotMine);
    Flow bad_name(Transport::kUdp, 1434);
    EXPECT_EQ(bad_name.send(true, "\x04SQL EXPRESS\0"s), Verdict::kNotMine);
}

TEST(MssqlDetector, SurvivesRandomAndTruncatedInput) {
    std::mt19937 random(13);
    std::string samples[] = {tds(0x12, prelogin_payload()), tds(0x10, login7_payload())};
    for (int round = 0; round < 2000; ++round) {
        const std::string& valid = samples[round % 2];
        std::string data = valid.substr(0, random() % (valid.size() + 1));
        for (char& c : data) {
            if (random() % 8 == 0) c = static_cast<char>(random());
        }
        Flow tcp;
        tcp.send(true, data);
        Flow udp(Transport::kUdp, 1434);
        udp.send(round % 3 == 0, data);
    }
}

}  // namespace
}  // namespace pw::detect
