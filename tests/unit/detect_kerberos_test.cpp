// Kerberos detection, with messages built from RFC 4120's ASN.1 module.

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>

#include "detect/detector.h"

namespace pw::detect {

std::unique_ptr<Detector> make_kerberos_detector();

namespace {

using namespace std::string_literals;

std::span<const uint8_t> bytes(const std::string& text) {
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

// One DER element with a definite length in the short or long form.
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
std::string tagged(uint8_t number, const std::string& value) { return tlv(0xA0 | number, value); }
std::string realm() { return tlv(0x1B, "EXAMPLE.ORG"); }

// KDC-REQ: pvno [1], msg-type [2], req-body [4] (a stand-in body).
std::string kdc_req(uint8_t type, uint8_t pvno = 5, uint8_t msg_type = 0) {
    std::string body = tagged(4, tlv(0x30, tagged(2, realm())));
    std::string fields = tagged(1, integer(pvno)) + tagged(2, integer(msg_type ? msg_type : type));
    return tlv(0x60 | type, tlv(0x30, fields + body));
}

// KRB-ERROR: pvno [0], msg-type [1], then error-code [6] among others.
std::string krb_error() {
    std::string fields = tagged(0, integer(5)) + tagged(1, integer(30)) + tagged(6, integer(25));
    return tlv(0x7E, tlv(0x30, fields));
}

std::string record(const std::string& message) {
    size_t n = message.size();
    return std::string{static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                       static_cast<char>(n >> 8), static_cast<char>(n)} +
           message;
}

// One flow fed to the detector alone, as the pipeline would.
struct Flow {
    Session session;
    std::unique_ptr<Detector> detector = make_kerberos_detector();
    Verdict last = Verdict::kContinue;
    uint64_t sent[2] = {0, 0};

    explicit Flow(Transport transport) : session(transport, address(10), 49152, address(20), 88) {}

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

TEST(KerberosDetector, UdpRequestsAndReplies) {
    for (uint8_t type : {10, 12}) {
        Flow flow(Transport::kUdp);
        EXPECT_EQ(flow.send(true, kdc_req(type)), Verdict::kDone) << int(type);
        EXPECT_TRUE(flow.session.has(ProtocolId::KERBEROS));
    }
    Flow error(Transport::kUdp);
    EXPECT_EQ(error.send(false, krb_error()), Verdict::kDone);
    EXPECT_TRUE(error.session.has(ProtocolId::KERBEROS));
}

// A kpasswd message (RFC 3244): length, version, AP-REQ or AP-REP length, that message,
// then a KRB-PRIV (a stand-in body).
std::string kpasswd(uint16_t version, const std::string& ap, const std::string& tail) {
    std::string body = ap + tail;
    size_t n = 6 + body.size();
    return std::string{static_cast<char>(n >> 8),         static_cast<char>(n),
                       static_cast<char>(version >> 8),   static_cast<char>(version),
                       static_cast<char>(ap.size() >> 8), static_cast<char>(ap.size())} +
           body;
}

// AP-REQ and AP-REP: pvno [0], msg-type [1], then the rest (a stand-in).
std::string ap_message(uint8_t type) {
    return tlv(0x60 | type, tlv(0x30, tagged(0, integer(5)) + tagged(1, integer(type)) +
                                          tagged(2, tlv(0x30, ""))));
}

std::string krb_priv() {
    return tlv(
        0x75, tlv(0x30, tagged(0, integer(5)) + tagged(1, integer(21)) + tagged(3, tlv(0x30, ""))));
}

TEST(KerberosDetector, PasswordChange) {
    // Over TCP, as kpasswd of MIT krb5 sends it: request and reply in records.
    Flow tcp(Transport::kTcp);
    EXPECT_EQ(tcp.send(true, record(kpasswd(1, ap_message(14), krb_priv()))), Verdict::kDone);
    EXPECT_TRUE(tcp.session.has(ProtocolId::KERBEROS));

    Flow reply(Transport::kUdp);
    EXPECT_EQ(reply.send(false, kpasswd(1, ap_message(15), krb_priv())), Verdict::kDone);
    EXPECT_TRUE(reply.session.has(ProtocolId::KERBEROS));

    Flow set_password(Transport::kUdp);
    set_password.send(true, kpasswd(0xff80, ap_message(14), krb_priv()));
    EXPECT_TRUE(set_password.session.has(ProtocolId::KERBEROS));

    Flow error(Transport::kUdp);
    error.send(false, kpasswd(1, "", krb_error()));
    EXPECT_TRUE(error.session.has(ProtocolId::KERBEROS));
}

TEST(KerberosDetector, PasswordChangeHeaderMustAgree) {
    std::string wrong_version = kpasswd(2, ap_message(14), krb_priv());
    std::string wrong_length = kpasswd(1, ap_message(14), krb_priv());
    wrong_length[1] = static_cast<char>(wrong_length[1] + 1);
    std::string wrong_ap_length = kpasswd(1, ap_message(14), krb_priv());
    wrong_ap_length[5] = static_cast<char>(wrong_ap_length[5] + 1);
    std::string not_ap = kpasswd(1, kdc_req(10), krb_priv());
    for (const std::string& message : {wrong_version, wrong_length, wrong_ap_length, not_ap}) {
        Flow flow(Transport::kUdp);
        EXPECT_EQ(flow.send(true, message), Verdict::kNotMine);
    }
}

TEST(KerberosDetector, BareTicket) {
    // Ticket ::= [APPLICATION 1] SEQUENCE { tkt-vno [0] 5, realm [1], sname [2], enc-part [3] }
    std::string ticket =
        tlv(0x61, tlv(0x30, tagged(0, integer(5)) + tagged(1, realm()) + tagged(2, tlv(0x30, ""))));
    Flow flow(Transport::kUdp);
    EXPECT_EQ(flow.send(true, ticket), Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::KERBEROS));
}

TEST(KerberosDetector, TcpRecordSplitAcrossSegments) {
    std::string data = record(kdc_req(10));
    Flow flow(Transport::kTcp);
    EXPECT_EQ(flow.send(true, data.substr(0, 4)), Verdict::kContinue);
    EXPECT_EQ(flow.send(true, data.substr(4, 9)), Verdict::kContinue);
    EXPECT_EQ(flow.send(true, data.substr(13)), Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::KERBEROS));
}

TEST(KerberosDetector, TcpCaptureStartingMidRecord) {
    // The client's first segment is the tail of a record; the server's reply is whole.
    Flow flow(Transport::kTcp);
    EXPECT_EQ(flow.send(true, "\x0eHAPPYCRAFT.ORG\xa2'0%\xa0\x03"s), Verdict::kContinue);
    EXPECT_EQ(flow.send(false, record(krb_error())), Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::KERBEROS));
}

TEST(KerberosDetector, RejectsWrongVersionTypeOrLength) {
    Flow old_version(Transport::kUdp);
    EXPECT_EQ(old_version.send(true, kdc_req(10, 4)), Verdict::kNotMine);
    Flow mismatch(Transport::kUdp);
    EXPECT_EQ(mismatch.send(true, kdc_req(10, 5, 11)), Verdict::kNotMine);
    Flow trailing(Transport::kUdp);
    EXPECT_EQ(trailing.send(true, kdc_req(10) + "x"), Verdict::kNotMine);
    Flow tcp_length(Transport::kTcp);
    std::string wrong = record(kdc_req(12));
    wrong[3] = static_cast<char>(wrong[3] + 1);
    EXPECT_EQ(tcp_length.send(true, wrong + "x"), Verdict::kContinue);
    EXPECT_FALSE(tcp_length.session.has(ProtocolId::KERBEROS));
}

TEST(KerberosDetector, RejectsOtherProtocols) {
    Flow http(Transport::kTcp);
    http.send(true, "GET / HTTP/1.1\r\nHost: example.org\r\n\r\n");
    http.send(false, "HTTP/1.1 200 OK\r\n\r\n");
    EXPECT_EQ(http.send(true, "GET /again HTTP/1.1\r\n\r\n"), Verdict::kNotMine);
    EXPECT_FALSE(http.session.has(ProtocolId::KERBEROS));
}

TEST(KerberosDetector, SurvivesRandomAndTruncatedInput) {
    std::mt19937 random(7);
    std::string valid = kdc_req(10);
    for (int round = 0; round < 2000; ++round) {
        std::string data = valid.substr(0, random() % (valid.size() + 1));
        for (char& c : data) {
            if (random() % 8 == 0) c = static_cast<char>(random());
        }
        Flow udp(Transport::kUdp);
        udp.send(true, data);
        Flow tcp(Transport::kTcp);
        tcp.send(true, record(data));
    }
}

}  // namespace
}  // namespace pw::detect
