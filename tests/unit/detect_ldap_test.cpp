// LDAP and CLDAP detection, with messages built from RFC 4511's ASN.1 module.

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>

#include "detect/detector.h"

namespace pw::detect {

std::unique_ptr<Detector> make_ldap_detector();

namespace {

using namespace std::string_literals;

std::span<const uint8_t> bytes(const std::string& text) {
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

std::string tlv(uint8_t tag, const std::string& value) {
    std::string out(1, static_cast<char>(tag));
    size_t length = value.size();
    if (length < 0x80) {
        out += static_cast<char>(length);
    } else {
        // The four-byte long form, as Active Directory writes it.
        out += "\x84"s + '\0' + '\0' + static_cast<char>(length >> 8) +
               static_cast<char>(length & 0xFF);
    }
    return out + value;
}

std::string integer(uint8_t value) { return tlv(0x02, std::string(1, static_cast<char>(value))); }
std::string message(uint8_t id, const std::string& op) { return tlv(0x30, integer(id) + op); }

std::string bind_request() {
    // version 3, name "", simple authentication [0] "secret"
    return message(1, tlv(0x60, integer(3) + tlv(0x04, "") + tlv(0x80, "secret")));
}

std::string bind_response() {
    // resultCode success, matchedDN "", diagnosticMessage ""
    return message(1, tlv(0x61, tlv(0x0A, "\x00"s) + tlv(0x04, "") + tlv(0x04, "")));
}

std::string search_request(uint8_t id) {
    std::string filter = tlv(0x87, "objectClass");  // present filter
    std::string op = tlv(0x04, "") + tlv(0x0A, "\x00"s) + tlv(0x0A, "\x00"s) + integer(0) +
                     integer(0) + tlv(0x01, "\x00"s) + filter + tlv(0x30, tlv(0x04, "Netlogon"));
    return message(id, tlv(0x63, op));
}

std::string search_done(uint8_t id) {
    return message(id, tlv(0x65, tlv(0x0A, "\x00"s) + tlv(0x04, "") + tlv(0x04, "")));
}

std::string start_tls_request() {
    return message(2, tlv(0x77, tlv(0x80, "1.3.6.1.4.1.1466.20037")));
}

std::string extended_response(uint8_t code) {
    std::string result =
        tlv(0x0A, std::string(1, static_cast<char>(code))) + tlv(0x04, "") + tlv(0x04, "");
    return message(2, tlv(0x78, result));
}

struct Flow {
    Session session;
    std::unique_ptr<Detector> detector = make_ldap_detector();
    Verdict last = Verdict::kContinue;

    explicit Flow(Transport transport) : session(transport, address(10), 49152, address(20), 389) {}

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

TEST(LdapDetector, BindOverTcp) {
    Flow flow(Transport::kTcp);
    EXPECT_EQ(flow.send(true, bind_request()), Verdict::kContinue);
    EXPECT_TRUE(flow.session.has(ProtocolId::LDAP));
    EXPECT_EQ(flow.send(false, bind_response()), Verdict::kContinue);
}

TEST(LdapDetector, MessageLongerThanItsSegment) {
    std::string data = search_request(5);
    Flow flow(Transport::kTcp);
    flow.send(true, data.substr(0, 20));
    EXPECT_TRUE(flow.session.has(ProtocolId::LDAP));
}

TEST(LdapDetector, CldapSearchAndReply) {
    Flow flow(Transport::kUdp);
    EXPECT_EQ(flow.send(true, search_request(7)), Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::LDAP));

    // A domain controller answers with an entry and a done message in one datagram.
    Flow reply(Transport::kUdp);
    std::string entry = message(7, tlv(0x64, tlv(0x04, "") + tlv(0x30, "")));
    EXPECT_EQ(reply.send(false, entry + search_done(7)), Verdict::kDone);
    EXPECT_TRUE(reply.session.has(ProtocolId::LDAP));
}

TEST(LdapDetector, StartTlsHandsTheFlowOver) {
    Flow flow(Transport::kTcp);
    flow.send(true, start_tls_request());
    EXPECT_TRUE(flow.session.has(ProtocolId::LDAP));
    EXPECT_EQ(flow.send(false, extended_response(0)), Verdict::kDone);
    EXPECT_TRUE(flow.session.take_inner_layer());
}

TEST(LdapDetector, RefusedStartTlsStaysLdap) {
    Flow flow(Transport::kTcp);
    flow.send(true, start_tls_request());
    EXPECT_EQ(flow.send(false, extended_response(2)), Verdict::kContinue);
    EXPECT_FALSE(flow.session.take_inner_layer());
}

TEST(LdapDetector, CaptureStartingMidStream) {
    Flow flow(Transport::kTcp);
    EXPECT_EQ(flow.send(true, "\x5d\x5d\xf6\xc6\xb7\x5e\x07\xd3"s), Verdict::kContinue);
    EXPECT_EQ(flow.send(false, bind_response()), Verdict::kContinue);
    EXPECT_TRUE(flow.session.has(ProtocolId::LDAP));
}

TEST(LdapDetector, RejectsSnmpAndBadLengths) {
    // SNMP: SEQUENCE { INTEGER version, OCTET STRING community, PDU }.
    Flow snmp(Transport::kUdp);
    EXPECT_EQ(snmp.send(true, tlv(0x30, integer(1) + tlv(0x04, "public") + tlv(0xA0, ""))),
              Verdict::kNotMine);
    // An operation longer than its message.
    std::string bad = bind_request();
    bad[1] = 4;
    Flow flow(Transport::kUdp);
    EXPECT_EQ(flow.send(true, bad), Verdict::kNotMine);
    // An unassigned application tag.
    Flow unassigned(Transport::kUdp);
    EXPECT_EQ(unassigned.send(true, message(1, tlv(0x71, ""))), Verdict::kNotMine);
    // unbindRequest is primitive; a constructed one is not LDAP.
    Flow unbind(Transport::kUdp);
    EXPECT_EQ(unbind.send(true, message(1, tlv(0x62, ""))), Verdict::kNotMine);
    Flow good_unbind(Transport::kUdp);
    EXPECT_EQ(good_unbind.send(true, message(1, tlv(0x42, ""))), Verdict::kDone);
}

TEST(LdapDetector, GivesUpOnTextProtocols) {
    Flow flow(Transport::kTcp);
    flow.send(true, "EHLO example.org\r\n");
    flow.send(false, "250 ok\r\n");
    EXPECT_EQ(flow.send(true, "QUIT\r\n"), Verdict::kNotMine);
    EXPECT_FALSE(flow.session.has(ProtocolId::LDAP));
}

TEST(LdapDetector, SurvivesRandomAndTruncatedInput) {
    std::mt19937 random(11);
    std::string valid = search_request(3) + start_tls_request();
    for (int round = 0; round < 2000; ++round) {
        std::string data = valid.substr(0, random() % (valid.size() + 1));
        for (char& c : data) {
            if (random() % 8 == 0) c = static_cast<char>(random());
        }
        Flow udp(Transport::kUdp);
        udp.send(true, data);
        Flow tcp(Transport::kTcp);
        tcp.send(true, data);
        tcp.send(false, data);
    }
}

}  // namespace
}  // namespace pw::detect
