// SNMP detection, with messages built from RFC 1157, RFC 3416 and RFC 3412.

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "detect/snmp.h"

namespace pw::detect {
namespace {

using namespace std::string_literals;

std::span<const uint8_t> bytes(const std::string& text) {
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

// One BER element with a definite length in the short or long form.
std::string tlv(uint8_t tag, const std::string& value) {
    std::string out(1, static_cast<char>(tag));
    size_t length = value.size();
    if (length < 0x80) {
        out += static_cast<char>(length);
    } else if (length < 0x100) {
        out += "\x81"s + static_cast<char>(length);
    } else {
        out += "\x82"s + static_cast<char>(length >> 8) + static_cast<char>(length & 0xFF);
    }
    return out + value;
}

std::string integer(uint8_t value) { return tlv(0x02, std::string(1, static_cast<char>(value))); }

std::string varbinds() {
    // sysDescr.0 with a NULL value.
    std::string oid = tlv(0x06, "\x2b\x06\x01\x02\x01\x01\x01\x00"s);
    return tlv(0x30, tlv(0x30, oid + "\x05\x00"s));
}

std::string request_pdu(uint8_t tag) {
    return tlv(tag, integer(0x2A) + integer(0) + integer(0) + varbinds());
}

std::string community_message(uint8_t version, const std::string& pdu) {
    return tlv(0x30, integer(version) + tlv(0x04, "public") + pdu);
}

std::string trap_v1() {
    std::string enterprise = tlv(0x06, "\x2b\x06\x01\x04\x01\x09"s);
    std::string agent = tlv(0x40, "\xc0\x00\x02\x01"s);
    std::string ticks = tlv(0x43, "\x01\x02\x03"s);
    std::string pdu = tlv(0xA4, enterprise + agent + integer(6) + integer(1) + ticks + varbinds());
    return community_message(0, pdu);
}

std::string v3_message(uint8_t flags, bool encrypted) {
    std::string global =
        tlv(0x30, integer(0x11) + tlv(0x02, "\x05\xdc"s) +
                      tlv(0x04, std::string(1, static_cast<char>(flags))) + integer(3));
    std::string usm = tlv(0x04, tlv(0x30, tlv(0x04, "") + integer(0) + integer(0) + tlv(0x04, "") +
                                              tlv(0x04, "") + tlv(0x04, "")));
    std::string scoped = encrypted ? tlv(0x04, std::string(48, '\x5a'))
                                   : tlv(0x30, tlv(0x04, "") + tlv(0x04, "") + request_pdu(0xA0));
    return tlv(0x30, integer(3) + global + usm + scoped);
}

bool whole(const std::string& message) { return is_snmp_message(bytes(message), message.size()); }

TEST(SnmpMessage, CommunityVersions) {
    EXPECT_TRUE(whole(community_message(0, request_pdu(0xA0))));
    EXPECT_TRUE(whole(community_message(0, request_pdu(0xA2))));
    EXPECT_TRUE(whole(community_message(1, request_pdu(0xA1))));
    EXPECT_TRUE(whole(community_message(1, request_pdu(0xA5))));
    EXPECT_TRUE(whole(community_message(1, request_pdu(0xA7))));
    EXPECT_TRUE(whole(trap_v1()));
}

TEST(SnmpMessage, LongFormLengths) {
    std::string community = tlv(0x04, std::string(300, 'c'));
    std::string message = tlv(0x30, integer(1) + community + request_pdu(0xA0));
    ASSERT_EQ(static_cast<uint8_t>(message[1]), 0x82);
    EXPECT_TRUE(whole(message));
}

TEST(SnmpMessage, Version3) {
    EXPECT_TRUE(whole(v3_message(0x04, false)));
    EXPECT_TRUE(whole(v3_message(0x07, true)));
    // Privacy without authentication is not a valid flag combination.
    EXPECT_FALSE(whole(v3_message(0x06, true)));
    // An encrypted PDU is an OCTET STRING, so a SEQUENCE with the priv flag is not.
    EXPECT_FALSE(whole(v3_message(0x07, false)));
}

TEST(SnmpMessage, PduNotOfVersion) {
    EXPECT_FALSE(whole(community_message(1, request_pdu(0xA4))));
    EXPECT_FALSE(whole(community_message(0, request_pdu(0xA5))));
    EXPECT_FALSE(whole(community_message(2, request_pdu(0xA0))));
    EXPECT_FALSE(whole(community_message(1, request_pdu(0xA9))));
}

TEST(SnmpMessage, LengthsMustFill) {
    std::string message = community_message(1, request_pdu(0xA0));
    EXPECT_FALSE(whole(message + "x"));
    EXPECT_FALSE(is_snmp_message(bytes(message), message.size() + 1));
    std::string inner_short = message;
    ASSERT_EQ(inner_short[5], '\x04');
    inner_short[6] = 5;  // the community now ends one byte before the PDU
    EXPECT_FALSE(whole(inner_short));
    EXPECT_FALSE(whole(message.substr(0, message.size() - 1)));
}

TEST(SnmpMessage, CutByCapture) {
    std::string message = community_message(1, request_pdu(0xA0));
    EXPECT_TRUE(is_snmp_message(bytes(message.substr(0, 20)), message.size()));
    EXPECT_FALSE(is_snmp_message(bytes(message.substr(0, 10)), message.size()));
    std::string wrong = message.substr(0, 20);
    wrong[4] = 5;  // version 5
    EXPECT_FALSE(is_snmp_message(bytes(wrong), message.size()));
}

TEST(SnmpDetector, LabelsFirstDatagram) {
    auto detector = make_snmp_detector();
    const uint8_t a[4] = {192, 0, 2, 1};
    const uint8_t b[4] = {192, 0, 2, 2};
    Session session(Transport::kUdp, decode::IpAddress::v4(a), 40000, decode::IpAddress::v4(b),
                    10161);
    std::string message = community_message(1, request_pdu(0xA0));
    decode::Packet packet;
    packet.payload_length = static_cast<uint32_t>(message.size());
    EXPECT_EQ(detector->inspect(session, Segment{bytes(message), true, 0, &packet}),
              Verdict::kDone);
    EXPECT_TRUE(session.has(ProtocolId::SNMP));
}

TEST(SnmpDetector, RejectsOtherDatagram) {
    auto detector = make_snmp_detector();
    const uint8_t a[4] = {192, 0, 2, 1};
    Session session(Transport::kUdp, decode::IpAddress::v4(a), 40000, decode::IpAddress::v4(a),
                    161);
    std::string dns = "\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"s;
    EXPECT_EQ(detector->inspect(session, Segment{bytes(dns), true, 0, nullptr}), Verdict::kNotMine);
    EXPECT_FALSE(session.has(ProtocolId::SNMP));
}

// Over TCP a side's first segment starts a message, which may end in a later segment or be
// followed by the next one.
TEST(SnmpDetector, TcpMessagesWithoutFraming) {
    auto detector = make_snmp_detector();
    const uint8_t a[4] = {192, 0, 2, 1};
    const uint8_t b[4] = {192, 0, 2, 2};
    const std::string message = community_message(1, request_pdu(0xA0));
    for (const std::string& stream : {message, message + message, message.substr(0, 20)}) {
        Session session(Transport::kTcp, decode::IpAddress::v4(a), 40000, decode::IpAddress::v4(b),
                        1161);
        EXPECT_EQ(detector->inspect(session, Segment{bytes(stream), true, 0, nullptr}),
                  Verdict::kDone);
        EXPECT_TRUE(session.has(ProtocolId::SNMP));
    }
    Session session(Transport::kTcp, decode::IpAddress::v4(a), 40000, decode::IpAddress::v4(b),
                    161);
    const std::string text = "GET / HTTP/1.1\r\n\r\n";
    EXPECT_EQ(detector->inspect(session, Segment{bytes(text), true, 0, nullptr}),
              Verdict::kNotMine);
    EXPECT_EQ(detector->inspect(session, Segment{bytes(message), true, 100, nullptr}),
              Verdict::kNotMine);
}

TEST(SnmpMessage, RandomBytesNeverCrash) {
    std::mt19937 random(7);
    std::string base = community_message(1, request_pdu(0xA0));
    for (int round = 0; round < 20000; ++round) {
        std::string message = base;
        for (int flips = 0; flips < 3; ++flips) {
            message[random() % message.size()] = static_cast<char>(random());
        }
        message.resize(random() % (message.size() + 1));
        is_snmp_message(bytes(message), message.size() + random() % 3);
    }
}

}  // namespace
}  // namespace pw::detect
