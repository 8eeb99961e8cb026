// XMPP detection, with stream headers and stanzas of RFC 6120.

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "detect/detector.h"
#include "detect/xmpp.h"

namespace pw::detect {

std::unique_ptr<Detector> make_xmpp_detector();

namespace {

using xmpp::Opening;

std::span<const uint8_t> bytes(const std::string& text) {
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

struct Flow {
    Session session;
    std::unique_ptr<Detector> detector = make_xmpp_detector();
    Verdict last = Verdict::kContinue;

    Flow() : session(Transport::kTcp, address(10), 50000, address(20), 5222) {}

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

constexpr const char* kClientHeader =
    "<?xml version='1.0'?><stream:stream to='example.com' xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";

TEST(XmppOpening, StreamHeader) {
    EXPECT_EQ(xmpp::classify_opening(kClientHeader), Opening::kStream);
    EXPECT_EQ(xmpp::classify_opening("<stream:stream xmlns='jabber:server'>"), Opening::kStream);
}

TEST(XmppOpening, DeclarationAlonePending) {
    EXPECT_EQ(xmpp::classify_opening("<?xml version='1.0'?>"), Opening::kPending);
    EXPECT_EQ(xmpp::classify_opening("<stream:stream to='example.com' "), Opening::kPending);
}

TEST(XmppOpening, StanzaWithNamespace) {
    EXPECT_EQ(xmpp::classify_opening("<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>"),
              Opening::kStanza);
    EXPECT_EQ(xmpp::classify_opening("<iq type='get' id='1'>"), Opening::kPending);
}

TEST(XmppOpening, OtherXmlRejected) {
    EXPECT_EQ(xmpp::classify_opening("<?xml version='1.0'?><soap:Envelope>"), Opening::kNone);
    EXPECT_EQ(xmpp::classify_opening("<html><body>"), Opening::kNone);
    EXPECT_EQ(xmpp::classify_opening("<stream:stream xmlns='urn:example'>"), Opening::kNone);
    EXPECT_EQ(xmpp::classify_opening("GET / HTTP/1.1\r\n"), Opening::kNone);
}

TEST(XmppIq, ReadsIdAndType) {
    auto iq = xmpp::read_iq("<iq to='a' id=\"q7\" type='set'>");
    EXPECT_EQ(iq.id, "q7");
    EXPECT_TRUE(iq.request);
    EXPECT_TRUE(xmpp::read_iq("<iq id='x' type='chat'>").id.empty());
}

TEST(Xmpp, StreamHeaderLabels) {
    Flow flow;
    // The detector reads on, for STARTTLS.
    EXPECT_EQ(flow.send(true, kClientHeader), Verdict::kContinue);
    EXPECT_TRUE(flow.session.has(ProtocolId::XMPP));
}

TEST(Xmpp, HeaderSplitAcrossSegments) {
    Flow flow;
    std::string header = kClientHeader;
    EXPECT_EQ(flow.send(true, header.substr(0, 30)), Verdict::kContinue);
    EXPECT_FALSE(flow.session.has(ProtocolId::XMPP));
    flow.send(true, header.substr(30));
    EXPECT_TRUE(flow.session.has(ProtocolId::XMPP));
}

TEST(Xmpp, IqRequestAndResponse) {
    Flow flow;
    EXPECT_EQ(flow.send(true, "<iq to='a.example' id='17' type='get'><query/></iq>"),
              Verdict::kContinue);
    flow.send(false, "<iq id='17' type='result'/>");
    EXPECT_TRUE(flow.session.has(ProtocolId::XMPP));
}

TEST(Xmpp, ResponseWithOtherIdNotLabeled) {
    Flow flow;
    flow.send(true, "<iq id='17' type='get'><query/></iq>");
    flow.send(false, "<iq id='18' type='result'/>");
    EXPECT_FALSE(flow.session.has(ProtocolId::XMPP));
}

// The exchange of prosody 0.12 and sendxmpp -t: after <proceed/>, both ends start the TLS
// handshake (RFC 6120 section 5.4.2.3).
TEST(Xmpp, StartTlsOpensInnerLayer) {
    Flow flow;
    flow.send(true, kClientHeader);
    flow.send(false,
              "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
              "xmlns:stream='http://etherx.jabber.org/streams' id='c2s1' version='1.0'>"
              "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/>"
              "</starttls></stream:features>");
    EXPECT_FALSE(flow.session.take_inner_layer());
    flow.send(true, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    EXPECT_FALSE(flow.session.take_inner_layer());
    EXPECT_EQ(flow.send(false, "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"),
              Verdict::kDone);
    EXPECT_TRUE(flow.session.take_inner_layer());
    EXPECT_TRUE(flow.session.has(ProtocolId::XMPP));
}

TEST(Xmpp, PrefixedProceedOpensInnerLayer) {
    Flow flow;
    flow.send(true, kClientHeader);
    flow.send(false, "<tls:proceed xmlns:tls='urn:ietf:params:xml:ns:xmpp-tls'/>");
    EXPECT_TRUE(flow.session.take_inner_layer());
}

TEST(Xmpp, StreamWithoutStartTlsIsLeft) {
    Flow flow;
    flow.send(true, kClientHeader);
    Verdict verdict = Verdict::kContinue;
    for (int i = 0; i < 40 && verdict == Verdict::kContinue; ++i) {
        verdict =
            flow.send(i % 2 == 0, "<message to='b@example.com'><body>proceed</body></message>");
    }
    EXPECT_EQ(verdict, Verdict::kDone);
    EXPECT_FALSE(flow.session.take_inner_layer());
}

TEST(Xmpp, LeavesFlowsOthersClassified) {
    Flow flow;
    flow.session.add(ProtocolId::HTTP);
    EXPECT_EQ(flow.send(true, kClientHeader), Verdict::kNotMine);
    EXPECT_FALSE(flow.session.has(ProtocolId::XMPP));
}

TEST(Xmpp, NonXmlRejectedAtOnce) {
    Flow flow;
    EXPECT_EQ(flow.send(true, std::string("\x16\x03\x01\x00\x10", 5)), Verdict::kNotMine);
}

}  // namespace
}  // namespace pw::detect
