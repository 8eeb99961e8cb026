// DCE/RPC detection (MSRPC, NETBIOS_DCE_PM), with PDUs built from C706 chapter 12.

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>

#include "detect/detector.h"
#include "detect/msrpc.h"

namespace pw::detect {

std::unique_ptr<Detector> make_msrpc_detector();

namespace {

using namespace std::string_literals;

std::span<const uint8_t> bytes(const std::string& text) {
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

std::string le16(uint16_t v) { return {static_cast<char>(v), static_cast<char>(v >> 8)}; }
std::string le32(uint32_t v) { return le16(v & 0xFFFF) + le16(v >> 16); }

// The endpoint mapper and another interface (srvsvc), in little-endian wire order.
const std::string kEpm = "\x08\x83\xaf\xe1\x1f\x5d\xc9\x11\x91\xa4\x08\x00\x2b\x14\xa0\xfa"s;
const std::string kSrvsvc = "\xc8\x4f\x32\x4b\x70\x16\xd3\x01\x12\x78\x5a\x47\xbf\x6e\xe1\x88"s;
const std::string kNdr = "\x04\x5d\x88\x8a\xeb\x1c\xc9\x11\x9f\xe8\x08\x00\x2b\x10\x48\x60"s;

std::string pdu(uint8_t type, const std::string& body, uint32_t call_id = 1) {
    std::string header = "\x05\x00"s + static_cast<char>(type) + "\x03\x10\x00\x00\x00"s;
    return header + le16(static_cast<uint16_t>(16 + body.size())) + le16(0) + le32(call_id) + body;
}

std::string bind(const std::vector<std::string>& interfaces) {
    std::string body = le16(4280) + le16(4280) + le32(0);
    body += static_cast<char>(interfaces.size()) + "\x00\x00\x00"s;
    uint16_t id = 0;
    for (const auto& uuid : interfaces) {
        body += le16(id++) + "\x01\x00"s + uuid + le32(3) + kNdr + le32(2);
    }
    return pdu(msrpc::co_type::kBind, body);
}

std::string bind_ack() {
    std::string body = le16(4280) + le16(4280) + le32(0x1234) + le16(4) + "135\0"s;
    body += "\x01\x00\x00\x00"s + le16(0) + le16(0) + kNdr + le32(2);
    return pdu(msrpc::co_type::kBindAck, body);
}

std::string request(uint16_t opnum, const std::string& stub) {
    return pdu(msrpc::co_type::kRequest, le32(stub.size()) + le16(0) + le16(opnum) + stub, 2);
}

struct Flow {
    Session session;
    std::unique_ptr<Detector> detector = make_msrpc_detector();
    Verdict last = Verdict::kContinue;

    explicit Flow(Transport transport = Transport::kTcp, uint16_t port = 135)
        : session(transport, address(10), 49152, address(20), port) {}

    static decode::IpAddress address(uint8_t last_byte) {
        const uint8_t raw[4] = {192, 0, 2, last_byte};
        return decode::IpAddress::v4(raw);
    }

    Verdict send(bool from_initiator, const std::string& data) {
        if (last != Verdict::kContinue) return last;
        decode::Packet packet;
        last = detector->inspect(session, Segment{bytes(data), from_initiator, 0, &packet});
        return last;
    }
};

TEST(MsrpcHeader, ChecksVersionTypeRepresentationAndLength) {
    std::string good = request(0, "abcd");
    EXPECT_TRUE(msrpc::parse_co_header(bytes(good)));
    auto h = msrpc::parse_co_header(bytes(good));
    EXPECT_EQ(h->frag_length, good.size());
    EXPECT_EQ(h->type, msrpc::co_type::kRequest);

    std::string v4 = good;
    v4[0] = 4;
    EXPECT_FALSE(msrpc::parse_co_header(bytes(v4)));
    std::string type = good;
    type[2] = 20;
    EXPECT_FALSE(msrpc::parse_co_header(bytes(type)));
    std::string drep = good;
    drep[4] = 0x20;
    EXPECT_FALSE(msrpc::parse_co_header(bytes(drep)));
    std::string short_frag = good;
    short_frag[8] = 20;  // shorter than a request's fixed fields
    EXPECT_FALSE(msrpc::parse_co_header(bytes(short_frag)));
    std::string auth = good;
    auth[10] = 100;  // an authentication trailer longer than the fragment
    EXPECT_FALSE(msrpc::parse_co_header(bytes(auth)));
}

TEST(MsrpcHeader, FindsTheEndpointMapperInAnyContext) {
    std::string one = bind({kEpm});
    EXPECT_TRUE(msrpc::presents_endpoint_mapper(bytes(one), *msrpc::parse_co_header(bytes(one))));
    std::string second = bind({kSrvsvc, kEpm});
    EXPECT_TRUE(
        msrpc::presents_endpoint_mapper(bytes(second), *msrpc::parse_co_header(bytes(second))));
    std::string other = bind({kSrvsvc});
    EXPECT_FALSE(
        msrpc::presents_endpoint_mapper(bytes(other), *msrpc::parse_co_header(bytes(other))));
    // Cut inside the context list.
    std::string cut = second.substr(0, 60);
    EXPECT_FALSE(msrpc::presents_endpoint_mapper(bytes(cut), *msrpc::parse_co_header(bytes(cut))));
}

TEST(MsrpcDetector, EndpointMapperBind) {
    Flow flow;
    EXPECT_EQ(flow.send(true, bind({kEpm})), Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::MSRPC));
    EXPECT_TRUE(flow.session.has(ProtocolId::NETBIOS_DCE_PM));
}

TEST(MsrpcDetector, OtherInterfaceIsMsrpcOnly) {
    Flow flow(Transport::kTcp, 49668);
    EXPECT_EQ(flow.send(true, bind({kSrvsvc})), Verdict::kContinue);
    EXPECT_EQ(flow.send(false, bind_ack()), Verdict::kContinue);
    EXPECT_EQ(flow.send(true, request(15, std::string(40, 'x'))), Verdict::kContinue);
    EXPECT_TRUE(flow.session.has(ProtocolId::MSRPC));
    EXPECT_FALSE(flow.session.has(ProtocolId::NETBIOS_DCE_PM));
}

TEST(MsrpcDetector, PduSplitAcrossSegments) {
    std::string data = bind({kSrvsvc}) + request(1, "abcdefgh");
    Flow flow;
    for (size_t at = 0; at < data.size(); at += 7) flow.send(true, data.substr(at, 7));
    EXPECT_TRUE(flow.session.has(ProtocolId::MSRPC));
}

TEST(MsrpcDetector, CaptureStartingMidPdu) {
    Flow flow(Transport::kTcp, 49155);
    EXPECT_EQ(flow.send(true, "\xf1\x36\x5c\xd0\xb0\xcc\xa7\x5d"s), Verdict::kContinue);
    EXPECT_EQ(flow.send(false, bind_ack()), Verdict::kContinue);
    EXPECT_TRUE(flow.session.has(ProtocolId::MSRPC));
}

TEST(MsrpcDetector, RejectsOtherProtocols) {
    Flow flow;
    flow.send(true, "GET / HTTP/1.1\r\n\r\n");
    flow.send(false, "HTTP/1.1 400 Bad Request\r\n\r\n");
    EXPECT_EQ(flow.send(true, "GET / HTTP/1.1\r\n\r\n"), Verdict::kNotMine);
    EXPECT_FALSE(flow.session.has(ProtocolId::MSRPC));
}

std::string cl_pdu(const std::string& interface, const std::string& body) {
    std::string header = "\x04\x00\x08\x00\x10\x00\x00\x00"s;
    header += std::string(16, '\x01') + interface + std::string(16, '\x02');
    header += le32(0) + le32(1) + le32(0) + le16(3) + le16(0xFFFF) + le16(0xFFFF);
    header += le16(static_cast<uint16_t>(body.size())) + le16(0) + "\x00\x00"s;
    return header + body;
}

TEST(MsrpcDetector, ConnectionlessOverUdp) {
    Flow flow(Transport::kUdp, 34964);
    EXPECT_EQ(flow.send(true, cl_pdu(kSrvsvc, std::string(84, 'p'))), Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::MSRPC));
    EXPECT_FALSE(flow.session.has(ProtocolId::NETBIOS_DCE_PM));

    Flow epm(Transport::kUdp);
    EXPECT_EQ(epm.send(true, cl_pdu(kEpm, "abc")), Verdict::kDone);
    EXPECT_TRUE(epm.session.has(ProtocolId::NETBIOS_DCE_PM));

    Flow wrong_length(Transport::kUdp);
    EXPECT_EQ(wrong_length.send(true, cl_pdu(kSrvsvc, "abc") + "d"), Verdict::kNotMine);
}

TEST(MsrpcDetector, SurvivesRandomAndTruncatedInput) {
    std::mt19937 random(5);
    std::string valid = bind({kSrvsvc, kEpm}) + bind_ack() + request(3, "zz");
    for (int round = 0; round < 2000; ++round) {
        std::string data = valid.substr(0, random() % (valid.size() + 1));
        for (char& c : data) {
            if (random() % 8 == 0) c = static_cast<char>(random());
        }
        Flow tcp;
        tcp.send(true, data);
        tcp.send(false, data);
        Flow udp(Transport::kUdp);
        udp.send(true, cl_pdu(kEpm, "").substr(0, 80) + data);
    }
}

}  // namespace
}  // namespace pw::detect
