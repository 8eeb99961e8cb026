// OSCAR detection, with FLAP frames built from the protocol's framing rules.

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "detect/detector.h"
#include "detect/oscar.h"

namespace pw::detect {

std::unique_ptr<Detector> make_oscar_detector();

namespace {

// A FLAP frame: 0x2A, channel, sequence, length, data.
std::vector<uint8_t> flap(uint8_t channel, uint16_t sequence, const std::vector<uint8_t>& data) {
    std::vector<uint8_t> frame = {0x2A,
                                  channel,
                                  static_cast<uint8_t>(sequence >> 8),
                                  static_cast<uint8_t>(sequence),
                                  static_cast<uint8_t>(data.size() >> 8),
                                  static_cast<uint8_t>(data.size())};
    frame.insert(frame.end(), data.begin(), data.end());
    return frame;
}

std::vector<uint8_t> join(std::vector<uint8_t> a, const std::vector<uint8_t>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

const std::vector<uint8_t> kVersion = {0, 0, 0, 1};
// A SNAC header: family 1, subtype 0x17, flags 0, request id 0.
const std::vector<uint8_t> kSnac = {0, 1, 0, 0x17, 0, 0, 0, 0, 0, 0};

struct Flow {
    Session session;
    std::unique_ptr<Detector> detector = make_oscar_detector();
    Verdict last = Verdict::kContinue;

    Flow() : session(Transport::kTcp, address(10), 50000, address(20), 5190) {}

    static decode::IpAddress address(uint8_t last_byte) {
        const uint8_t raw[4] = {192, 0, 2, last_byte};
        return decode::IpAddress::v4(raw);
    }

    Verdict send(bool from_initiator, const std::vector<uint8_t>& data) {
        if (last != Verdict::kContinue) return last;
        decode::Packet packet;
        last = detector->inspect(session, Segment{data, from_initiator, 0, &packet});
        return last;
    }
};

TEST(FlapScan, SignOnFrame) {
    auto run = oscar::scan_flaps(flap(1, 0x198A, kVersion));
    EXPECT_TRUE(run.valid);
    EXPECT_TRUE(run.exact);
    EXPECT_TRUE(run.sign_on);
}

TEST(FlapScan, FramesInSequence) {
    auto run = oscar::scan_flaps(join(flap(2, 7, kSnac), flap(2, 8, kSnac)));
    EXPECT_EQ(run.frames, 2u);
    EXPECT_TRUE(run.in_sequence);
    EXPECT_FALSE(run.sign_on);
}

TEST(FlapScan, BadChannelInvalid) {
    EXPECT_FALSE(oscar::scan_flaps(flap(9, 1, kVersion)).valid);
    EXPECT_FALSE(oscar::scan_flaps(std::vector<uint8_t>{'*', ' ', 'O', 'K'}).valid);
}

TEST(FlapScan, CutFrameCountsMissingBytes) {
    auto frame = flap(2, 1, std::vector<uint8_t>(100, 0));
    frame.resize(40);
    auto run = oscar::scan_flaps(frame);
    EXPECT_TRUE(run.valid);
    EXPECT_FALSE(run.exact);
    EXPECT_EQ(run.missing, 66u);
}

TEST(Oscar, SignOnLabels) {
    Flow flow;
    EXPECT_EQ(flow.send(false, flap(1, 0x198A, kVersion)), Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::OSCAR));
}

TEST(Oscar, SequenceAcrossSegmentsLabels) {
    Flow flow;
    EXPECT_EQ(flow.send(true, flap(2, 41, kSnac)), Verdict::kContinue);
    EXPECT_EQ(flow.send(true, flap(2, 42, kSnac)), Verdict::kDone);
}

TEST(Oscar, SplitFrameFollowed) {
    Flow flow;
    auto big = flap(2, 5, std::vector<uint8_t>(3000, 0x41));
    std::vector<uint8_t> first(big.begin(), big.begin() + 1400);
    std::vector<uint8_t> rest(big.begin() + 1400, big.end());
    EXPECT_EQ(flow.send(true, first), Verdict::kContinue);
    EXPECT_EQ(flow.send(true, join(rest, flap(2, 6, kSnac))), Verdict::kContinue);
    EXPECT_EQ(flow.send(true, flap(2, 7, kSnac)), Verdict::kDone);
}

TEST(Oscar, OutOfSequenceNotLabeled) {
    Flow flow;
    flow.send(true, flap(2, 41, kSnac));
    flow.send(true, flap(2, 90, kSnac));
    EXPECT_FALSE(flow.session.has(ProtocolId::OSCAR));
}

TEST(Oscar, ImapGreetingRejected) {
    Flow flow;
    std::string greeting = "* OK IMAP4rev1 ready\r\n";
    EXPECT_EQ(flow.send(false, std::vector<uint8_t>(greeting.begin(), greeting.end())),
              Verdict::kNotMine);
}

}  // namespace
}  // namespace pw::detect
