// HSRP detection, with version 1 messages built from RFC 2281 and version 2 messages in
// Cisco's TLV format.

#include <gtest/gtest.h>

#include <string>

#include "detect/hsrp.h"

namespace pw::detect {
namespace {

using namespace std::string_literals;

std::span<const uint8_t> bytes(const std::string& text) {
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

// Version 0, op code, state, hello 3 s, hold 10 s, priority 100, group 1, reserved, the
// default "cisco" authentication, virtual address 192.0.2.1.
std::string v1(uint8_t opcode, uint8_t state) {
    return "\x00"s + static_cast<char>(opcode) + static_cast<char>(state) +
           "\x03\x0a\x64\x01\x00"
           "cisco\0\0\0"
           "\xc0\x00\x02\x01"s;
}

std::string v1_advertise() {
    return "\x00\x03\x00\x01\x00\x0e\x02\x00\x00\x00\x00\x01\x00\x00\x00\x00"s;
}

std::string group_state(uint8_t state, uint8_t ip_version) {
    std::string value = "\x02\x00"s + static_cast<char>(state) + static_cast<char>(ip_version);
    value +=
        "\x00\x0a"
        "\x00\x00\x0c\x9f\xf0\x0a"s;  // group 10, virtual MAC
    value +=
        "\x00\x00\x00\x64"
        "\x00\x00\x0b\xb8"
        "\x00\x00\x27\x10"s;           // priority, timers
    value += std::string(16, '\x01');  // virtual address
    return "\x01\x28"s + value;
}

std::string text_auth() {
    return "\x03\x08"
           "cisco\0\0\0"s;
}
std::string interface_state() { return "\x02\x04\x00\x01\x00\x00"s; }

struct Flow {
    Session session;
    std::unique_ptr<Detector> detector = make_hsrp_detector();

    explicit Flow(uint16_t port = 1985)
        : session(Transport::kUdp, address(2), port, address(224), port) {}

    static decode::IpAddress address(uint8_t first) {
        const uint8_t raw[4] = {first, 0, 0, 2};
        return decode::IpAddress::v4(raw);
    }

    Verdict send(const std::string& datagram) {
        return detector->inspect(session, Segment{bytes(datagram), true, 0, nullptr});
    }
};

TEST(HsrpClassify, VersionOne) {
    EXPECT_EQ(classify_hsrp(bytes(v1(0, 16))), HsrpMessage::kGroup);
    EXPECT_EQ(classify_hsrp(bytes(v1(1, 8))), HsrpMessage::kGroup);
    EXPECT_EQ(classify_hsrp(bytes(v1(2, 4))), HsrpMessage::kGroup);
    EXPECT_EQ(classify_hsrp(bytes(v1_advertise())), HsrpMessage::kInterfaceState);
}

TEST(HsrpClassify, VersionOneFields) {
    EXPECT_EQ(classify_hsrp(bytes(v1(4, 16))), HsrpMessage::kNone);
    EXPECT_EQ(classify_hsrp(bytes(v1(0, 3))), HsrpMessage::kNone);
    std::string short_hold = v1(0, 16);
    short_hold[4] = 2;
    EXPECT_EQ(classify_hsrp(bytes(short_hold)), HsrpMessage::kNone);
    std::string garbage_auth = v1(0, 16);
    garbage_auth[14] = 'x';  // text after the NUL padding
    EXPECT_EQ(classify_hsrp(bytes(garbage_auth)), HsrpMessage::kNone);
    EXPECT_EQ(classify_hsrp(bytes(v1(0, 16) + "\0"s)), HsrpMessage::kNone);
}

TEST(HsrpClassify, VersionTwo) {
    EXPECT_EQ(classify_hsrp(bytes(group_state(6, 4) + text_auth())), HsrpMessage::kGroup);
    EXPECT_EQ(classify_hsrp(bytes(group_state(4, 6) + "\x04\x1c"s + std::string(28, 'm'))),
              HsrpMessage::kGroup);
    EXPECT_EQ(classify_hsrp(bytes(interface_state())), HsrpMessage::kInterfaceState);
}

TEST(HsrpClassify, VersionTwoFields) {
    EXPECT_EQ(classify_hsrp(bytes(group_state(7, 4))), HsrpMessage::kNone);
    EXPECT_EQ(classify_hsrp(bytes(group_state(6, 5))), HsrpMessage::kNone);
    EXPECT_EQ(classify_hsrp(bytes(group_state(6, 4) + "\x03\x07"
                                                      "cisco\0\0"s)),
              HsrpMessage::kNone);
    EXPECT_EQ(classify_hsrp(bytes(group_state(6, 4) + "\x09\x02xy"s)), HsrpMessage::kNone);
    EXPECT_EQ(classify_hsrp(bytes(group_state(6, 4) + "\x03"s)), HsrpMessage::kNone);
    EXPECT_EQ(classify_hsrp(bytes(""s)), HsrpMessage::kNone);
}

TEST(HsrpDetector, LabelsHello) {
    Flow flow;
    EXPECT_EQ(flow.send(v1(0, 16)), Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::HSRP));
}

TEST(HsrpDetector, WaitsPastInterfaceState) {
    Flow flow(2029);
    EXPECT_EQ(flow.send(interface_state()), Verdict::kContinue);
    EXPECT_FALSE(flow.session.has(ProtocolId::HSRP));
    EXPECT_EQ(flow.send(group_state(6, 6)), Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::HSRP));
}

TEST(HsrpDetector, OtherPortNotInspected) {
    Flow flow(1986);
    EXPECT_EQ(flow.send(v1(0, 16)), Verdict::kNotMine);
    EXPECT_FALSE(flow.session.has(ProtocolId::HSRP));
}

}  // namespace
}  // namespace pw::detect
