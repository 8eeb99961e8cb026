// NetBIOS name and datagram service detection, and the session service helpers, with packets
// built from RFC 1002.

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>

#include "detect/detector.h"
#include "detect/netbios.h"

namespace pw::detect {

std::unique_ptr<Detector> make_netbios_detector();

namespace {

using namespace std::string_literals;

std::span<const uint8_t> bytes(const std::string& text) {
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

std::string be16(uint16_t v) { return {static_cast<char>(v >> 8), static_cast<char>(v)}; }

std::string encoded_name(const std::string& name, char suffix = ' ') {
    std::string padded = name + std::string(15 - name.size(), ' ') + suffix;
    std::string out = "\x20"s;
    for (char c : padded) {
        out += static_cast<char>('A' + ((c >> 4) & 0x0F));
        out += static_cast<char>('A' + (c & 0x0F));
    }
    return out + '\0';
}

// A broadcast name query for WORKGROUP<1D>.
std::string name_query() {
    return be16(0x8a3d) + be16(0x0110) + be16(1) + be16(0) + be16(0) + be16(0) +
           encoded_name("WORKGROUP", '\x1d') + be16(0x0020) + be16(0x0001);
}

// A positive registration response.
std::string registration_response() {
    return be16(0x8a3e) + be16(0xAD80) + be16(0) + be16(1) + be16(0) + be16(0) +
           encoded_name("HOST") + be16(0x0020) + be16(0x0001) + "\x00\x04\x93\xe0"s + be16(6) +
           be16(0x6000) + "\xc0\xa8\x01\x02"s;
}

std::string browser_datagram(const std::string& smb) {
    std::string names = encoded_name("HOST") + encoded_name("WORKGROUP", '\x1e');
    return "\x11\x0a"s + be16(0x8001) + "\xc0\xa8\x01\x02"s + be16(138) +
           be16(static_cast<uint16_t>(names.size() + smb.size())) + be16(0) + names + smb;
}

std::string smb_mailslot() {
    return "\xffSMB\x25"s + std::string(27, '\0') + "\x11" + std::string(40, '\0');
}

struct Flow {
    Session session;
    std::unique_ptr<Detector> detector = make_netbios_detector();
    Verdict last = Verdict::kContinue;
    uint64_t datagrams = 0;
    decode::Packet packet;

    explicit Flow(uint16_t port = 137)
        : session(Transport::kUdp, address(2), port, address(255), port) {
        packet.source = address(2);
        packet.source_port = port;
    }

    static decode::IpAddress address(uint8_t last_byte) {
        const uint8_t raw[4] = {192, 168, 1, last_byte};
        return decode::IpAddress::v4(raw);
    }

    Verdict send(const std::string& data) {
        if (last != Verdict::kContinue) return last;
        last = detector->inspect(session, Segment{bytes(data), true, datagrams++, &packet});
        return last;
    }
};

TEST(NetbiosNames, EncodedNameSize) {
    EXPECT_EQ(netbios::encoded_name_size(bytes(encoded_name("HOST"))), 34u);
    std::string scoped = encoded_name("HOST");
    scoped.pop_back();
    scoped +=
        "\x07"
        "example\x03org\0"s;
    EXPECT_EQ(netbios::encoded_name_size(bytes(scoped)), 34u + 12u);
    std::string bad = encoded_name("HOST");
    bad[5] = 'Z';
    EXPECT_FALSE(netbios::encoded_name_size(bytes(bad)));
    EXPECT_FALSE(netbios::encoded_name_size(bytes(encoded_name("HOST").substr(0, 20))));
}

TEST(NetbiosSession, HeadersAndControlPackets) {
    auto message = netbios::parse_session_header(bytes("\x00\x01\x02\x03"s));
    ASSERT_TRUE(message);
    EXPECT_EQ(message->length, 0x010203u);  // direct TCP's 24-bit length
    auto request = netbios::parse_session_header(bytes("\x81\x00\x00\x44"s));
    ASSERT_TRUE(request);
    std::string names = encoded_name("SERVER") + encoded_name("CLIENT");
    EXPECT_TRUE(netbios::valid_session_control(*request, bytes(names)));
    EXPECT_FALSE(netbios::valid_session_control(*request, bytes(names.substr(0, 40))));
    EXPECT_FALSE(netbios::parse_session_header(bytes("\x81\x02\x00\x44"s)));  // reserved flag
    EXPECT_FALSE(netbios::parse_session_header(bytes("\x86\x00\x00\x00"s)));
    auto negative = netbios::parse_session_header(bytes("\x83\x00\x00\x01"s));
    EXPECT_TRUE(netbios::valid_session_control(*negative, bytes("\x82"s)));
    EXPECT_FALSE(netbios::valid_session_control(*negative, bytes("\x01"s)));
}

TEST(NetbiosDetector, NameService) {
    Flow query;
    EXPECT_EQ(query.send(name_query()), Verdict::kDone);
    EXPECT_TRUE(query.session.has(ProtocolId::NETBIOS_NS));
    Flow response;
    EXPECT_EQ(response.send(registration_response()), Verdict::kDone);
    EXPECT_TRUE(response.session.has(ProtocolId::NETBIOS_NS));
}

TEST(NetbiosDetector, DamagedNameServicePacketsWithinReason) {
    // One damaged character and a damaged type: two fields, too much.
    std::string two = name_query();
    two[20] = '\xf5';
    two[12 + 34 + 1] = 0x28;
    for (int i = 13; i < 13 + 5; ++i) two[i] = 'Z';
    Flow flow;
    EXPECT_NE(flow.send(two), Verdict::kDone);
    // Only the type damaged: still the name service.
    std::string one = name_query();
    one[12 + 34 + 1] = 0x28;
    Flow tolerated;
    EXPECT_EQ(tolerated.send(one), Verdict::kDone);
    EXPECT_TRUE(tolerated.session.has(ProtocolId::NETBIOS_NS));
}

TEST(NetbiosDetector, DnsQueryIsNotNameService) {
    std::string dns = be16(0x1234) + be16(0x0100) + be16(1) + be16(0) + be16(0) + be16(0) +
                      "\x07"
                      "example\x03"
                      "com\x00"s +
                      be16(1) + be16(1);
    Flow flow(53);
    flow.send(dns);
    EXPECT_EQ(flow.send(dns), Verdict::kContinue);
    EXPECT_TRUE(flow.session.protocols().empty());
}

TEST(NetbiosDetector, DatagramServiceCarryingSmb) {
    Flow flow(138);
    EXPECT_EQ(flow.send(browser_datagram(smb_mailslot())), Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::NETBIOS_DGM));
    EXPECT_TRUE(flow.session.has(ProtocolId::SMB));
}

TEST(NetbiosDetector, DatagramWithDamagedNamesFromItsSender) {
    std::string datagram = browser_datagram(smb_mailslot());
    datagram[14 + 10] = '\xb7';
    Flow flow(138);
    EXPECT_EQ(flow.send(datagram), Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::NETBIOS_DGM));
    EXPECT_TRUE(flow.session.has(ProtocolId::SMB));

    // The same damage from another address is not enough.
    Flow relayed(138);
    relayed.packet.source = Flow::address(77);
    relayed.send(datagram);
    EXPECT_FALSE(relayed.session.has(ProtocolId::NETBIOS_DGM));
}

TEST(NetbiosDetector, SurvivesRandomAndTruncatedInput) {
    std::mt19937 random(9);
    std::string samples[] = {name_query(), registration_response(),
                             browser_datagram(smb_mailslot())};
    for (int round = 0; round < 3000; ++round) {
        const std::string& valid = samples[round % 3];
        std::string data = valid.substr(0, random() % (valid.size() + 1));
        for (char& c : data) {
            if (random() % 8 == 0) c = static_cast<char>(random());
        }
        Flow flow(round % 2 ? 137 : 138);
        flow.send(data);
    }
}

}  // namespace
}  // namespace pw::detect
