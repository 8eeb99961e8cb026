// DNS and multicast DNS detection, with messages built from RFC 1035 section 4, RFC 6891,
// RFC 7766 and RFC 6762.

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "detect/detector.h"

namespace pw::detect {

std::unique_ptr<Detector> make_dns_detector();

namespace {

using Bytes = std::vector<uint8_t>;

void put16(Bytes& out, uint16_t value) {
    out.push_back(static_cast<uint8_t>(value >> 8));
    out.push_back(static_cast<uint8_t>(value));
}

void put_name(Bytes& out, const std::string& dotted) {
    size_t start = 0;
    while (start < dotted.size()) {
        size_t dot = dotted.find('.', start);
        if (dot == std::string::npos) dot = dotted.size();
        out.push_back(static_cast<uint8_t>(dot - start));
        out.insert(out.end(), dotted.begin() + start, dotted.begin() + dot);
        start = dot + 1;
    }
    out.push_back(0);
}

Bytes header(uint16_t flags, uint16_t questions, uint16_t answers, uint16_t additional = 0) {
    Bytes out;
    put16(out, 0x1234);
    put16(out, flags);
    put16(out, questions);
    put16(out, answers);
    put16(out, 0);
    put16(out, additional);
    return out;
}

Bytes query(const std::string& name, uint16_t type = 1) {
    Bytes out = header(0x0100, 1, 0);
    put_name(out, name);
    put16(out, type);
    put16(out, 1);
    return out;
}

// A response that answers with an A record whose name points back at the question.
Bytes response(const std::string& name) {
    Bytes out = header(0x8180, 1, 1);
    put_name(out, name);
    put16(out, 1);
    put16(out, 1);
    out.insert(out.end(), {0xc0, 0x0c});  // pointer to offset 12
    put16(out, 1);
    put16(out, 1);
    out.insert(out.end(), {0, 0, 0x0e, 0x10});  // TTL
    put16(out, 4);
    out.insert(out.end(), {192, 0, 2, 7});
    return out;
}

decode::IpAddress v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    const uint8_t raw[4] = {a, b, c, d};
    return decode::IpAddress::v4(raw);
}

struct Flow {
    Session session;
    std::unique_ptr<Detector> detector = make_dns_detector();
    Verdict last = Verdict::kContinue;
    uint64_t counts[2] = {0, 0};

    explicit Flow(Transport transport = Transport::kUdp, uint16_t server_port = 53,
                  decode::IpAddress server = v4(192, 0, 2, 53), uint16_t client_port = 40000)
        : session(transport, v4(192, 0, 2, 1), client_port, server, server_port) {}

    Verdict send(bool from_client, const Bytes& data, uint32_t wire_length = 0) {
        if (last != Verdict::kContinue) return last;
        decode::Packet packet;
        packet.payload_length = wire_length ? wire_length : static_cast<uint32_t>(data.size());
        uint16_t client_port = session.initiator_port();
        uint16_t server_port = session.responder_port();
        packet.source_port = from_client ? client_port : server_port;
        packet.target_port = from_client ? server_port : client_port;
        uint64_t& count = counts[from_client ? 0 : 1];
        last = detector->inspect(session, Segment{data, from_client, count, &packet});
        count += session.transport() == Transport::kTcp ? data.size() : 1;
        return last;
    }
    bool has(ProtocolId id) const { return session.has(id); }
};

Bytes with_length_prefix(const Bytes& message) {
    Bytes out;
    put16(out, static_cast<uint16_t>(message.size()));
    out.insert(out.end(), message.begin(), message.end());
    return out;
}

TEST(DnsDetector, UdpQuery) {
    Flow flow;
    EXPECT_EQ(flow.send(true, query("www.example.com")), Verdict::kDone);
    EXPECT_TRUE(flow.has(ProtocolId::DNS));
    EXPECT_FALSE(flow.has(ProtocolId::MDNS));
}

TEST(DnsDetector, UdpResponseWithCompression) {
    Flow flow;
    EXPECT_EQ(flow.send(false, response("www.example.com")), Verdict::kDone);
    EXPECT_TRUE(flow.has(ProtocolId::DNS));
}

TEST(DnsDetector, QueryWithEdnsOnOtherPort) {
    Bytes message = header(0x0120, 1, 0, 1);
    put_name(message, "example.org");
    put16(message, 28);
    put16(message, 1);
    message.push_back(0);  // OPT: root name, type 41, class = UDP payload size
    put16(message, 41);
    put16(message, 1232);
    message.insert(message.end(), {0, 0, 0, 0});
    put16(message, 0);
    Flow flow(Transport::kUdp, 8053);
    flow.send(true, message);
    EXPECT_TRUE(flow.has(ProtocolId::DNS));
}

// A TXT query padded by an additional record of type 0 and class 0, with zeros as its data,
// as a DNSCrypt client sends to a resolver's port 443. The same record in the answer
// section is still rejected off port 53.
TEST(DnsDetector, PaddedQueryOnOtherPort) {
    auto padded = [](uint16_t answers, uint16_t additional) {
        Bytes message = header(0x0100, 1, answers, additional);
        put_name(message, "2.dnscrypt-cert.example.org");
        put16(message, 16);
        put16(message, 1);
        message.push_back(0);
        put16(message, 0);
        put16(message, 0);
        message.insert(message.end(), {0, 0, 0, 0});
        put16(message, 454);
        message.insert(message.end(), 454, 0);
        return message;
    };
    Flow flow(Transport::kUdp, 443);
    EXPECT_EQ(flow.send(true, padded(0, 1)), Verdict::kDone);
    EXPECT_TRUE(flow.has(ProtocolId::DNS));

    Flow answer(Transport::kUdp, 443);
    EXPECT_EQ(answer.send(true, padded(1, 0)), Verdict::kNotMine);
}

TEST(DnsDetector, TcpWithLengthPrefix) {
    Bytes stream = with_length_prefix(query("example.net", 255));
    Flow flow(Transport::kTcp);
    // The length arrives alone, as some resolvers send it.
    EXPECT_EQ(flow.send(true, Bytes(stream.begin(), stream.begin() + 2)), Verdict::kContinue);
    EXPECT_EQ(flow.send(true, Bytes(stream.begin() + 2, stream.begin() + 9)), Verdict::kContinue);
    EXPECT_EQ(flow.send(true, Bytes(stream.begin() + 9, stream.end())), Verdict::kDone);
    EXPECT_TRUE(flow.has(ProtocolId::DNS));
}

TEST(DnsDetector, TcpRejectsBadLength) {
    Flow flow(Transport::kTcp);
    EXPECT_EQ(flow.send(true, Bytes{0x00, 0x05, 1, 2, 3, 4, 5}), Verdict::kNotMine);
    Flow text(Transport::kTcp, 8080);
    std::string request = "GET / HTTP/1.1\r\n\r\n";
    EXPECT_EQ(text.send(true, Bytes(request.begin(), request.end())), Verdict::kNotMine);
}

// A capture that starts inside a connection may start inside a message: the side with
// framed messages decides, and the other side tries again at its next segment.
TEST(DnsDetector, TcpMidStreamStartsInsideMessage) {
    Flow flow(Transport::kTcp);
    flow.session.set_mid_stream(true);
    const Bytes unframed = query("example.net");
    EXPECT_EQ(flow.send(true, unframed), Verdict::kContinue);
    EXPECT_EQ(flow.send(false, with_length_prefix(response("example.net"))), Verdict::kDone);
    EXPECT_TRUE(flow.has(ProtocolId::DNS));

    Flow client_only(Transport::kTcp);
    client_only.session.set_mid_stream(true);
    EXPECT_EQ(client_only.send(true, unframed), Verdict::kContinue);
    EXPECT_EQ(client_only.send(true, with_length_prefix(query("example.org"))), Verdict::kDone);

    // Text on both sides fails each side's tries, and then the flow.
    Flow text(Transport::kTcp, 8080);
    text.session.set_mid_stream(true);
    const std::string line = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    const Bytes request(line.begin(), line.end());
    for (int i = 0; i < 2; ++i) {
        EXPECT_EQ(text.send(true, request), Verdict::kContinue);
        EXPECT_EQ(text.send(false, request), Verdict::kContinue);
    }
    EXPECT_EQ(text.send(true, request), Verdict::kContinue);
    EXPECT_EQ(text.send(false, request), Verdict::kNotMine);
}

TEST(DnsDetector, MulticastDnsByGroup) {
    Bytes announcement = header(0x8400, 0, 1);
    put_name(announcement, "printer.local");
    put16(announcement, 1);
    put16(announcement, 0x8001);  // cache-flush bit and class IN
    announcement.insert(announcement.end(), {0, 0, 0, 120});
    put16(announcement, 4);
    announcement.insert(announcement.end(), {192, 0, 2, 9});
    Flow flow(Transport::kUdp, 5353, v4(224, 0, 0, 251));
    flow.send(false, announcement);
    EXPECT_TRUE(flow.has(ProtocolId::MDNS));
    EXPECT_FALSE(flow.has(ProtocolId::DNS));
}

TEST(DnsDetector, MulticastDnsQuestionWithUnicastBit) {
    Bytes message = header(0x0000, 1, 0);
    put_name(message, "_ipp._tcp.local");
    put16(message, 12);
    put16(message, 0x8001);
    Flow flow(Transport::kUdp, 5353);
    flow.send(true, message);
    EXPECT_TRUE(flow.has(ProtocolId::MDNS));
}

TEST(DnsDetector, NetbiosAndLlmnrPortsAreNotDns) {
    Flow netbios(Transport::kUdp, 137);
    EXPECT_EQ(netbios.send(true, query("FHEPFCELEHFCEPFFFACACACACACACAAA")), Verdict::kNotMine);
    Flow llmnr(Transport::kUdp, 5355);
    EXPECT_EQ(llmnr.send(true, query("host")), Verdict::kNotMine);
}

// A client may send DNS to port 53 from any port. Only the DNS port decides: a query
// from port 137 or 5355 is DNS, and one from port 5353 is not multicast DNS.
TEST(DnsDetector, ClientPortDoesNotHideDns) {
    for (uint16_t client_port : {137, 5353, 5355}) {
        SCOPED_TRACE(client_port);
        Flow flow(Transport::kUdp, 53, v4(192, 0, 2, 53), client_port);
        EXPECT_EQ(flow.send(true, query("www.example.com")), Verdict::kDone);
        EXPECT_TRUE(flow.has(ProtocolId::DNS));
        EXPECT_FALSE(flow.has(ProtocolId::MDNS));
    }
}

TEST(DnsDetector, PointerLoopsAndForwardPointers) {
    Bytes loop = header(0x0100, 1, 0);
    loop.insert(loop.end(), {0xc0, 0x0c});  // points at itself
    put16(loop, 1);
    put16(loop, 1);
    Flow self(Transport::kUdp, 5300);
    EXPECT_EQ(self.send(true, loop), Verdict::kNotMine);

    Bytes forward = header(0x0100, 1, 0);
    forward.insert(forward.end(), {0xc0, 0x20});
    put16(forward, 1);
    put16(forward, 1);
    Flow ahead(Transport::kUdp, 5300);
    EXPECT_EQ(ahead.send(true, forward), Verdict::kNotMine);
}

TEST(DnsDetector, LabelsAndNamesAreBounded) {
    Bytes long_label = header(0x0100, 1, 0);
    long_label.push_back(0x40);  // 64: a reserved label type, not a length
    long_label.insert(long_label.end(), 64, 'a');
    long_label.push_back(0);
    put16(long_label, 1);
    put16(long_label, 1);
    Flow label(Transport::kUdp, 5300);
    EXPECT_EQ(label.send(true, long_label), Verdict::kNotMine);

    std::string name;
    for (int i = 0; i < 10; ++i) name += std::string(40, 'b') + ".";
    name.pop_back();  // 410 characters: longer than 255
    Flow too_long(Transport::kUdp, 5300);
    EXPECT_EQ(too_long.send(true, query(name)), Verdict::kNotMine);
}

TEST(DnsDetector, StrictAwayFromDnsPort) {
    // The reserved Z bit and an unknown class are rejected off port 53.
    Bytes z = query("example.com");
    z[3] |= 0x40;
    Flow flow(Transport::kUdp, 5300);
    EXPECT_EQ(flow.send(true, z), Verdict::kNotMine);

    Bytes klass = query("example.com");
    klass.back() = 9;
    Flow other(Transport::kUdp, 5300);
    EXPECT_EQ(other.send(true, klass), Verdict::kNotMine);
}

TEST(DnsDetector, MalformedFirstDatagramOnDnsPort) {
    Flow flow;
    EXPECT_EQ(flow.send(true, Bytes(40, 0xaa)), Verdict::kContinue);
    EXPECT_EQ(flow.send(true, query("example.com")), Verdict::kDone);
    EXPECT_TRUE(flow.has(ProtocolId::DNS));
}

TEST(DnsDetector, GivesUpAfterMalformedDatagrams) {
    Flow flow;
    Verdict verdict = Verdict::kContinue;
    for (int i = 0; i < 10 && verdict == Verdict::kContinue; ++i) {
        verdict = flow.send(true, Bytes(40, 0xaa));
    }
    EXPECT_EQ(verdict, Verdict::kNotMine);
    EXPECT_TRUE(flow.session.protocols().empty());
}

TEST(DnsDetector, CutByCaptureLength) {
    Bytes message = response("www.example.com");
    Bytes cut(message.begin(), message.begin() + 40);
    Flow flow(Transport::kUdp, 5300);
    flow.send(false, cut, static_cast<uint32_t>(message.size()));
    EXPECT_TRUE(flow.has(ProtocolId::DNS));

    // The same bytes with nothing cut on the wire are a truncated message.
    Flow whole(Transport::kUdp, 5300);
    whole.send(false, cut);
    EXPECT_FALSE(whole.has(ProtocolId::DNS));
}

TEST(DnsDetector, HeaderCutByCaptureOnDnsPort) {
    // A response's first IP fragment whose capture kept 10 bytes of the DNS header.
    Bytes message = response("www.example.com");
    Bytes head(message.begin(), message.begin() + 10);
    uint32_t wire = 1472;
    Flow flow;
    EXPECT_EQ(flow.send(false, head, wire), Verdict::kDone);
    EXPECT_TRUE(flow.has(ProtocolId::DNS));

    // The ID and the flags alone are enough when both are present.
    Flow flags_only;
    flags_only.send(false, Bytes(message.begin(), message.begin() + 4), wire);
    EXPECT_TRUE(flags_only.has(ProtocolId::DNS));

    // The same bytes were not cut: a 10-byte datagram is not a DNS message.
    Flow whole;
    whole.send(false, head);
    EXPECT_FALSE(whole.has(ProtocolId::DNS));

    // Off the DNS port the header alone proves nothing.
    Flow elsewhere(Transport::kUdp, 5300);
    elsewhere.send(false, head, wire);
    EXPECT_FALSE(elsewhere.has(ProtocolId::DNS));
}

TEST(DnsDetector, CutHeaderMustAgreeWithDirection) {
    // A response header sent to the DNS port, and a query header sent from it.
    Bytes answer = response("www.example.com");
    Flow reversed;
    reversed.send(true, Bytes(answer.begin(), answer.begin() + 10), 1472);
    EXPECT_FALSE(reversed.has(ProtocolId::DNS));

    Bytes question = query("www.example.com");
    Flow from_server;
    from_server.send(false, Bytes(question.begin(), question.begin() + 10), 1472);
    EXPECT_FALSE(from_server.has(ProtocolId::DNS));

    // An unknown opcode, the reserved Z bit, or a question count other than one.
    struct Change {
        size_t byte;
        uint8_t bits;
    };
    for (Change change : {Change{2, 0x28}, Change{3, 0x40}, Change{5, 0x02}}) {
        Bytes odd(answer.begin(), answer.begin() + 10);
        odd[change.byte] |= change.bits;
        Flow flow;
        flow.send(false, odd, 1472);
        EXPECT_FALSE(flow.has(ProtocolId::DNS)) << "byte " << change.byte;
    }
}

TEST(DnsDetector, DamagedQuestionOnDnsPort) {
    // A plain query whose name was damaged: a label length of 65 is invalid.
    Bytes damaged = header(0x0100, 1, 0);
    damaged.push_back(0x41);
    damaged.insert(damaged.end(), {'_', 's', 'i', 'p', 0, 0, 0x21, 0, 1});
    Flow flow;
    EXPECT_EQ(flow.send(true, damaged), Verdict::kDone);
    EXPECT_TRUE(flow.has(ProtocolId::DNS));

    Flow elsewhere(Transport::kUdp, 5300);
    elsewhere.send(true, damaged);
    EXPECT_FALSE(elsewhere.has(ProtocolId::DNS));

    // Record counts in a query, or counts no datagram of this size could hold.
    Bytes counted = damaged;
    counted[9] = 0xaa;  // authority records
    Flow junk;
    junk.send(true, counted);
    EXPECT_FALSE(junk.has(ProtocolId::DNS));

    Bytes reply = damaged;
    reply[2] = 0x81;
    reply[3] = 0x80;
    reply[7] = 0x20;  // 32 answers in 21 bytes
    Flow crowded;
    crowded.send(false, reply);
    EXPECT_FALSE(crowded.has(ProtocolId::DNS));
}

TEST(DnsDetector, RandomBytesDoNotCrash) {
    std::mt19937 random(11);
    Bytes base = response("a.b.c.example.com");
    for (int round = 0; round < 3000; ++round) {
        Bytes mutated = base;
        for (int i = 0; i < 3; ++i) mutated[random() % mutated.size()] = random() & 0xff;
        mutated.resize(random() % (mutated.size() + 1));
        Flow udp(Transport::kUdp, round % 2 ? 53 : 5300);
        udp.send(false, mutated);
        Flow tcp(Transport::kTcp);
        tcp.send(false, with_length_prefix(mutated));
    }
}

}  // namespace
}  // namespace pw::detect
