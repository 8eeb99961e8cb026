// ISAKMP detection, with IKEv1 and IKEv2 messages built from RFC 2408, RFC 7296 and the
// NAT traversal encapsulation of RFC 3948.

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "detect/isakmp.h"

namespace pw::detect {
namespace {

using namespace std::string_literals;

std::span<const uint8_t> bytes(const std::string& text) {
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

std::string be16(size_t value) {
    return {static_cast<char>(value >> 8 & 0xFF), static_cast<char>(value & 0xFF)};
}

std::string be32(size_t value) { return be16(value >> 16) + be16(value & 0xFFFF); }

// A generic payload header and body.
std::string payload(uint8_t next, const std::string& body) {
    return std::string(1, static_cast<char>(next)) + '\0' + be16(body.size() + 4) + body;
}

std::string message(uint8_t next, uint8_t version, uint8_t exchange, uint8_t flags,
                    const std::string& payloads, bool responder_spi = false) {
    std::string header = "\x11\x22\x33\x44\x55\x66\x77\x88"s;
    header += responder_spi ? "\x99\xaa\xbb\xcc\xdd\xee\xff\x01"s : std::string(8, '\0');
    header += static_cast<char>(next);
    header += static_cast<char>(version);
    header += static_cast<char>(exchange);
    header += static_cast<char>(flags);
    header += be32(0);
    header += be32(28 + payloads.size());
    return header + payloads;
}

// IKEv1 Main Mode: an SA payload followed by a Vendor ID.
std::string ikev1_main_mode() {
    return message(1, 0x10, 2, 0,
                   payload(13, std::string(48, '\x01')) + payload(0, std::string(16, '\x02')));
}

// IKEv2 IKE_SA_INIT: SA, KE, Nonce.
std::string ikev2_sa_init() {
    return message(33, 0x20, 34, 0x08,
                   payload(34, std::string(40, '\x03')) + payload(40, std::string(132, '\x04')) +
                       payload(0, std::string(32, '\x05')));
}

bool whole(const std::string& m) { return is_isakmp_message(bytes(m), m.size()); }

struct Flow {
    Session session;
    std::unique_ptr<Detector> detector = make_isakmp_detector();

    Flow(uint16_t client_port, uint16_t server_port)
        : session(Transport::kUdp, address(1), client_port, address(2), server_port) {}

    static decode::IpAddress address(uint8_t last) {
        const uint8_t raw[4] = {198, 51, 100, last};
        return decode::IpAddress::v4(raw);
    }

    Verdict send(const std::string& datagram) {
        decode::Packet packet;
        packet.payload_length = static_cast<uint32_t>(datagram.size());
        return detector->inspect(session, Segment{bytes(datagram), true, 0, &packet});
    }
};

TEST(IsakmpMessage, Versions) {
    EXPECT_TRUE(whole(ikev1_main_mode()));
    EXPECT_TRUE(whole(ikev2_sa_init()));
    // IKEv2 IKE_AUTH carried in an SK payload.
    EXPECT_TRUE(whole(message(46, 0x20, 35, 0x08, payload(0, std::string(80, '\x06')), true)));
    // Quick Mode, encrypted, padded to the cipher block.
    EXPECT_TRUE(whole(message(8, 0x10, 32, 0x01, std::string(64, '\x07'), true)));
}

TEST(IsakmpMessage, HeaderFields) {
    std::string bad_version = ikev1_main_mode();
    bad_version[17] = 0x30;
    EXPECT_FALSE(whole(bad_version));
    std::string bad_exchange = ikev2_sa_init();
    bad_exchange[18] = 2;  // an IKEv1 exchange in an IKEv2 header
    EXPECT_FALSE(whole(bad_exchange));
    std::string bad_flags = ikev1_main_mode();
    bad_flags[19] = 0x40;
    EXPECT_FALSE(whole(bad_flags));
    std::string bad_next = ikev2_sa_init();
    bad_next[16] = 5;  // an IKEv1 payload type in IKEv2
    EXPECT_FALSE(whole(bad_next));
}

TEST(IsakmpMessage, LengthMustMatch) {
    std::string m = ikev1_main_mode();
    EXPECT_FALSE(is_isakmp_message(bytes(m), m.size() + 4));
    EXPECT_FALSE(whole(m + "pad"));
    std::string long_payload = m;
    long_payload[28 + 3] = static_cast<char>(0xF0);  // the first payload overruns
    EXPECT_FALSE(whole(long_payload));
    // Encrypted IKEv1 bodies are whole cipher blocks, under set cookies.
    EXPECT_FALSE(whole(message(8, 0x10, 32, 0x01, std::string(61, '\x07'), true)));
    EXPECT_FALSE(whole(message(8, 0x10, 32, 0x01, std::string(64, '\x07'), false)));
}

TEST(IsakmpMessage, CutByCapture) {
    std::string m = ikev2_sa_init();
    EXPECT_TRUE(is_isakmp_message(bytes(m.substr(0, 40)), m.size()));
    EXPECT_FALSE(is_isakmp_message(bytes(m.substr(0, 20)), m.size()));
}

TEST(IsakmpDetector, StandardPort) {
    Flow flow(500, 500);
    EXPECT_EQ(flow.send(ikev1_main_mode()), Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::ISAKMP));
}

TEST(IsakmpDetector, NatTraversalMarker) {
    Flow flow(4500, 4500);
    EXPECT_EQ(flow.send("\xff"s), Verdict::kContinue);  // NAT keepalive
    EXPECT_EQ(flow.send(std::string(4, '\0') + ikev2_sa_init()), Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::ISAKMP));
}

TEST(IsakmpDetector, MarkerOnlyOnNatPort) {
    Flow flow(500, 500);
    EXPECT_EQ(flow.send(std::string(4, '\0') + ikev2_sa_init()), Verdict::kContinue);
    EXPECT_FALSE(flow.session.has(ProtocolId::ISAKMP));
}

// Elsewhere a message counts, bare or behind the marker, when its payloads chain to its end
// and its initiator's SPI is set.
TEST(IsakmpDetector, OtherPortsNeedWholeChain) {
    for (const std::string& datagram :
         {ikev1_main_mode(), std::string(4, '\0') + ikev2_sa_init(),
          message(46, 0x20, 35, 0x08, payload(36, std::string(80, '\x07')), true)}) {
        Flow flow(40000, 7500);
        EXPECT_EQ(flow.send(datagram), Verdict::kDone);
        EXPECT_TRUE(flow.session.has(ProtocolId::ISAKMP));
    }
    // The payloads end before the message does.
    std::string short_chain =
        message(1, 0x10, 2, 0, payload(0, std::string(48, '\x01')) + std::string(20, '\x02'));
    std::string no_spi = ikev1_main_mode();
    std::fill(no_spi.begin(), no_spi.begin() + 8, '\0');
    for (const std::string& datagram : {short_chain, no_spi}) {
        Flow flow(40000, 7500);
        EXPECT_EQ(flow.send(datagram), Verdict::kNotMine);
        EXPECT_FALSE(flow.session.has(ProtocolId::ISAKMP));
    }
}

TEST(IsakmpDetector, GivesUpOnOtherDatagrams) {
    Flow flow(4500, 4500);
    std::string esp = "\x00\x00\x10\x01"s + std::string(60, '\x33');
    Verdict verdict = Verdict::kContinue;
    int sent = 0;
    while (verdict == Verdict::kContinue && sent < 10) {
        verdict = flow.send(esp);
        ++sent;
    }
    EXPECT_EQ(verdict, Verdict::kNotMine);
    EXPECT_LE(sent, 4);
}

}  // namespace
}  // namespace pw::detect
