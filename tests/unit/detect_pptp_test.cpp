// PPTP detection, with control messages built from RFC 2637.

#include <gtest/gtest.h>

#include <string>

#include "detect/pptp.h"

namespace pw::detect {
namespace {

using namespace std::string_literals;

std::span<const uint8_t> bytes(const std::string& text) {
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

std::string be16(uint16_t value) {
    return {static_cast<char>(value >> 8), static_cast<char>(value & 0xFF)};
}

// A control message of `length` bytes: header, then zeros for the type's fields.
std::string control(uint16_t type, uint16_t length) {
    std::string m = be16(length) + be16(1) + "\x1a\x2b\x3c\x4d"s + be16(type) + be16(0);
    return m + std::string(length - m.size(), '\0');
}

TEST(PptpMessage, ControlTypes) {
    EXPECT_TRUE(is_pptp_control_message(bytes(control(1, 156))));  // SCCRQ
    EXPECT_TRUE(is_pptp_control_message(bytes(control(2, 156))));  // SCCRP
    EXPECT_TRUE(is_pptp_control_message(bytes(control(5, 16))));   // Echo-Request
    EXPECT_TRUE(is_pptp_control_message(bytes(control(7, 168))));  // OCRQ
    EXPECT_TRUE(is_pptp_control_message(bytes(control(15, 24))));  // Set-Link-Info
    // Only the header need be there.
    EXPECT_TRUE(is_pptp_control_message(bytes(control(1, 156).substr(0, 12))));
}

TEST(PptpMessage, InconsistentFields) {
    EXPECT_FALSE(is_pptp_control_message(bytes(control(1, 160))));
    EXPECT_FALSE(is_pptp_control_message(bytes(control(16, 24))));
    EXPECT_FALSE(is_pptp_control_message(bytes(control(0, 16))));
    std::string management = control(1, 156);
    management[3] = 2;  // message type 2, management
    EXPECT_FALSE(is_pptp_control_message(bytes(management)));
    std::string cookie = control(1, 156);
    cookie[7] = 0x4e;
    EXPECT_FALSE(is_pptp_control_message(bytes(cookie)));
    std::string reserved = control(1, 156);
    reserved[11] = 1;
    EXPECT_FALSE(is_pptp_control_message(bytes(reserved)));
    EXPECT_FALSE(is_pptp_control_message(bytes(control(1, 156).substr(0, 11))));
}

TEST(PptpDetector, LabelsControlConnection) {
    auto detector = make_pptp_detector();
    const uint8_t a[4] = {203, 0, 113, 1};
    const uint8_t b[4] = {203, 0, 113, 2};
    Session session(Transport::kTcp, decode::IpAddress::v4(a), 1999, decode::IpAddress::v4(b),
                    1723);
    std::string request = control(1, 156);
    EXPECT_EQ(detector->inspect(session, Segment{bytes(request), true, 0, nullptr}),
              Verdict::kDone);
    EXPECT_TRUE(session.has(ProtocolId::PPTP));
}

TEST(PptpDetector, RejectsOtherStream) {
    auto detector = make_pptp_detector();
    const uint8_t a[4] = {203, 0, 113, 1};
    Session session(Transport::kTcp, decode::IpAddress::v4(a), 1999, decode::IpAddress::v4(a),
                    1723);
    std::string text = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    EXPECT_EQ(detector->inspect(session, Segment{bytes(text), true, 0, nullptr}),
              Verdict::kNotMine);
    EXPECT_FALSE(session.has(ProtocolId::PPTP));
}

}  // namespace
}  // namespace pw::detect
