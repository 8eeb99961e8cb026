// BitTorrent detection, with messages built from BEP 3 (peer wire), BEP 5 (DHT), BEP 14
// (Local Service Discovery), BEP 15 (UDP tracker) and BEP 29 (uTP).

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "detect/bittorrent.h"

namespace pw::detect {
namespace {

using namespace std::string_literals;

std::span<const uint8_t> bytes(const std::string& text) {
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

std::string be16(uint16_t value) {
    return {static_cast<char>(value >> 8), static_cast<char>(value & 0xFF)};
}

std::string be32(uint32_t value) { return be16(value >> 16) + be16(value & 0xFFFF); }

const std::string kHandshake =
    "\x13"
    "BitTorrent protocol"s +
    std::string(8, '\0') + std::string(20, '\xaa') + "-qB4630-" + std::string(12, 'p');

const std::string kPing = "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
const std::string kPong = "d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re";
const std::string kError = "d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee";

// A uTP packet: type and version, no extension, connection id, timestamp, timestamp
// difference, a 1 MiB window, sequence and acknowledgement numbers.
std::string utp(uint8_t type, uint16_t id, uint32_t timestamp, uint16_t seq, uint16_t ack,
                const std::string& payload = "") {
    return std::string(1, static_cast<char>(type << 4 | 1)) + '\0' + be16(id) + be32(timestamp) +
           be32(0) + be32(0x100000) + be16(seq) + be16(ack) + payload;
}

struct Flow {
    Session session;
    std::unique_ptr<Detector> detector = make_bittorrent_detector();
    uint64_t offsets[2] = {0, 0};

    explicit Flow(Transport transport) : session(transport, address(1), 51413, address(2), 6881) {}

    static decode::IpAddress address(uint8_t last) {
        const uint8_t raw[4] = {198, 51, 100, last};
        return decode::IpAddress::v4(raw);
    }

    Verdict send(bool from_initiator, const std::string& data) {
        uint64_t& offset = offsets[from_initiator ? 0 : 1];
        Verdict verdict =
            detector->inspect(session, Segment{bytes(data), from_initiator, offset, nullptr});
        offset += session.transport() == Transport::kTcp ? data.size() : 1;
        return verdict;
    }
};

TEST(BittorrentDht, Messages) {
    EXPECT_TRUE(is_dht_message(bytes(kPing)));
    EXPECT_TRUE(is_dht_message(bytes(kPong)));
    EXPECT_TRUE(is_dht_message(bytes(kError)));
    EXPECT_TRUE(
        is_dht_message(bytes("d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e"
                             "1:q9:find_node1:t2:aa1:v4:UT\x01\x02"
                             "1:y1:qe"s)));
}

TEST(BittorrentDht, Malformed) {
    EXPECT_FALSE(is_dht_message(bytes(kPing + "x")));
    EXPECT_FALSE(is_dht_message(bytes(kPing.substr(0, kPing.size() - 1))));
    EXPECT_FALSE(is_dht_message(bytes("d1:ad2:id20:abcdefghij0123456789e1:t2:aa1:y1:qe"s)));
    EXPECT_FALSE(is_dht_message(bytes("d1:rd2:id20:mnopqrstuvwxyz123456e1:y1:re"s)));
    EXPECT_FALSE(is_dht_message(bytes("d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:xe"s)));
    EXPECT_FALSE(is_dht_message(bytes("d1:ad2:id99:abce1:q4:ping1:t2:aa1:y1:qe"s)));
    EXPECT_FALSE(is_dht_message(bytes("l1:a1:b1:c1:d1:e1:fe"s)));
}

TEST(BittorrentDht, DeepNestingBounded) {
    std::string deep = "d1:t2:aa1:y1:r1:r" + std::string(5000, 'l') + std::string(5000, 'e') + "e";
    EXPECT_FALSE(is_dht_message(bytes(deep)));
}

TEST(BittorrentUtp, Headers) {
    std::optional<UtpHeader> syn = parse_utp(bytes(utp(4, 0x4567, 1000, 0x23c6, 0)));
    ASSERT_TRUE(syn.has_value());
    EXPECT_EQ(syn->type, 4);
    EXPECT_EQ(syn->connection_id, 0x4567);
    EXPECT_EQ(syn->seq_nr, 0x23c6);
    EXPECT_TRUE(parse_utp(bytes(utp(0, 1, 1, 1, 1, "data"))).has_value());
    std::string sack = utp(2, 1, 1, 1, 1);
    sack[1] = 1;
    sack += "\x00\x04\xff\x00\x00\x00"s;
    EXPECT_TRUE(parse_utp(bytes(sack)).has_value());
}

TEST(BittorrentUtp, MalformedHeaders) {
    EXPECT_FALSE(parse_utp(bytes(utp(5, 1, 1, 1, 1))).has_value());
    EXPECT_FALSE(parse_utp(bytes(utp(2, 1, 1, 1, 1, "payload"))).has_value());
    EXPECT_FALSE(parse_utp(bytes(utp(0, 1, 1, 1, 1))).has_value());
    std::string version2 = utp(2, 1, 1, 1, 1);
    version2[0] = 0x22;
    EXPECT_FALSE(parse_utp(bytes(version2)).has_value());
    std::string window = utp(2, 1, 1, 1, 1);
    window[12] = '\x7f';
    EXPECT_FALSE(parse_utp(bytes(window)).has_value());
    std::string sack = utp(2, 1, 1, 1, 1);
    sack[1] = 1;
    sack += "\x00\x03\xff\x00\x00"s;  // a selective ack of three bytes
    EXPECT_FALSE(parse_utp(bytes(sack)).has_value());
}

TEST(BittorrentDetector, PeerWireHandshake) {
    Flow flow(Transport::kTcp);
    EXPECT_EQ(flow.send(true, kHandshake), Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::P2P_BITTORRENT));
}

TEST(BittorrentDetector, HandshakeAfterEncryption) {
    Flow flow(Transport::kTcp);
    std::mt19937 random(3);
    std::string key(96 + 40, '\0');
    for (char& c : key) c = static_cast<char>(random());
    EXPECT_EQ(flow.send(true, key), Verdict::kContinue);
    EXPECT_EQ(flow.send(false, key), Verdict::kContinue);
    EXPECT_EQ(flow.send(true, key.substr(0, 60)), Verdict::kContinue);
    EXPECT_EQ(flow.send(false, kHandshake), Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::P2P_BITTORRENT));
}

TEST(BittorrentDetector, OtherTcpStream) {
    Flow flow(Transport::kTcp);
    EXPECT_EQ(flow.send(true, "GET /announce?info_hash=x HTTP/1.1\r\n\r\n"), Verdict::kNotMine);
    EXPECT_FALSE(flow.session.has(ProtocolId::P2P_BITTORRENT));
}

TEST(BittorrentDetector, DhtQuery) {
    Flow flow(Transport::kUdp);
    EXPECT_EQ(flow.send(true, kPing), Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::P2P_BITTORRENT));
}

TEST(BittorrentDetector, UtpConnection) {
    Flow flow(Transport::kUdp);
    EXPECT_EQ(flow.send(true, utp(4, 0x4567, 1000, 0x23c6, 0)), Verdict::kContinue);
    EXPECT_FALSE(flow.session.has(ProtocolId::P2P_BITTORRENT));
    EXPECT_EQ(flow.send(false, utp(2, 0x4567, 900000, 0x1111, 0x23c6)), Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::P2P_BITTORRENT));
}

TEST(BittorrentDetector, UtpOneDirection) {
    Flow flow(Transport::kUdp);
    EXPECT_EQ(flow.send(true, utp(0, 0x0acd, 5000, 10, 70, "piece")), Verdict::kContinue);
    EXPECT_EQ(flow.send(true, utp(0, 0x0acd, 5900, 11, 70, "piece")), Verdict::kDone);
}

TEST(BittorrentDetector, RepeatedHeaderIsNotUtp) {
    // Some UDP protocols repeat one session header in every datagram.
    Flow flow(Transport::kUdp);
    std::string datagram = utp(0, 0x03c2, 0x4258b6dc, 0xa8b4, 0xba00, "media");
    EXPECT_EQ(flow.send(true, datagram), Verdict::kContinue);
    EXPECT_EQ(flow.send(true, datagram), Verdict::kContinue);
    EXPECT_EQ(flow.send(false, utp(0, 0x0999, 7, 0x3000, 0x5000, "x")), Verdict::kContinue);
    EXPECT_FALSE(flow.session.has(ProtocolId::P2P_BITTORRENT));
}

TEST(BittorrentDetector, TrackerAndDiscovery) {
    Flow tracker(Transport::kUdp);
    std::string connect = "\x00\x00\x04\x17\x27\x10\x19\x80"s + be32(0) + be32(0x1234abcd);
    EXPECT_EQ(tracker.send(true, connect), Verdict::kDone);
    Flow discovery(Transport::kUdp);
    std::string announce =
        "BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 6881\r\n"
        "Infohash: " +
        std::string(40, 'A') + "\r\n\r\n\r\n";
    EXPECT_EQ(discovery.send(true, announce), Verdict::kDone);
}

TEST(BittorrentDetector, OtherDatagram) {
    Flow flow(Transport::kUdp);
    EXPECT_EQ(flow.send(true, "\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"s),
              Verdict::kNotMine);
}

TEST(BittorrentDht, RandomBytesNeverCrash) {
    std::mt19937 random(11);
    for (int round = 0; round < 20000; ++round) {
        std::string message = kPong;
        for (int flips = 0; flips < 2; ++flips) {
            message[random() % message.size()] =
                static_cast<char>("dlie:0123456789x"[random() % 16]);
        }
        is_dht_message(bytes(message));
        parse_utp(bytes(message));
    }
}

}  // namespace
}  // namespace pw::detect
