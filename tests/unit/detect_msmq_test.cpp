// MSMQ detection, with packets built from [MS-MQMQ] 2.2.19.1 and [MS-MQQB] 4.1.

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "detect/detector.h"

namespace pw::detect {

std::unique_ptr<Detector> make_msmq_detector();

namespace {

using namespace std::string_literals;

std::span<const uint8_t> bytes(const std::string& text) {
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

std::string le32(uint32_t v) {
    return {static_cast<char>(v), static_cast<char>(v >> 8), static_cast<char>(v >> 16),
            static_cast<char>(v >> 24)};
}

// An EstablishConnection packet: base header (internal message, priority 3), then the
// internal header and the connection fields, zero-filled here.
std::string establish_connection(uint8_t version = 0x10, const std::string& signature = "LIOR") {
    std::string packet = std::string(1, static_cast<char>(version)) + "\xc0\x0b\x00"s + signature +
                         le32(572) + le32(0xFFFFFFFF) + "\x00\x00\x02\x00"s;
    return packet + std::string(572 - packet.size(), '\0');
}

Verdict inspect(const std::string& data, Session& session) {
    auto detector = make_msmq_detector();
    decode::Packet packet;
    return detector->inspect(session, Segment{bytes(data), true, 0, &packet});
}

Session session() {
    const uint8_t a[4] = {192, 0, 2, 10};
    const uint8_t b[4] = {192, 0, 2, 20};
    return Session(Transport::kTcp, decode::IpAddress::v4(a), 49759, decode::IpAddress::v4(b),
                   1801);
}

TEST(MsmqDetector, EstablishConnection) {
    Session s = session();
    EXPECT_EQ(inspect(establish_connection(), s), Verdict::kDone);
    EXPECT_TRUE(s.has(ProtocolId::MSMQ));
}

TEST(MsmqDetector, RejectsOtherVersionSignatureOrSize) {
    Session version = session();
    EXPECT_EQ(inspect(establish_connection(0x20), version), Verdict::kNotMine);
    Session signature = session();
    EXPECT_EQ(inspect(establish_connection(0x10, "ROIL"), signature), Verdict::kNotMine);
    std::string tiny = establish_connection();
    tiny.replace(8, 4, le32(8));
    Session size = session();
    EXPECT_EQ(inspect(tiny, size), Verdict::kNotMine);
    Session truncated = session();
    EXPECT_EQ(inspect(establish_connection().substr(0, 10), truncated), Verdict::kNotMine);
    EXPECT_TRUE(truncated.protocols().empty());
}

}  // namespace
}  // namespace pw::detect
