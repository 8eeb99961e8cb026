#include <gtest/gtest.h>

#include <set>
#include <string>

#include "decode/decoder.h"
#include "decode/packet.h"

namespace pw::decode {
namespace {

TEST(DecodeAnomaly, EveryAnomalyHasADistinctName) {
    std::set<std::string> names;
    for (size_t i = 0; i < static_cast<size_t>(Anomaly::kCount); ++i) {
        const std::string name = anomaly_name(static_cast<Anomaly>(i));
        EXPECT_FALSE(name.empty());
        EXPECT_EQ(name.find(' '), std::string::npos) << name;
        names.insert(name);
    }
    EXPECT_EQ(names.size(), static_cast<size_t>(Anomaly::kCount));
    EXPECT_STREQ(anomaly_name(Anomaly::kTruncatedTcp), "truncated_tcp_header");
    EXPECT_STREQ(anomaly_name(Anomaly::kFragmentOverlap), "fragment_overlap");
    EXPECT_STREQ(anomaly_name(Anomaly::kCount), "unknown_anomaly");
}

TEST(DecodeAnomaly, CountersTotalAndMerge) {
    AnomalyCounters a;
    AnomalyCounters b;
    EXPECT_EQ(a.total(), 0u);
    a.add(Anomaly::kTruncatedTcp);
    a.add(Anomaly::kBadFragment, 3);
    b.add(Anomaly::kBadFragment);
    b.add(Anomaly::kFlowTableFull, 5);
    EXPECT_EQ(a.total(), 4u);
    a.merge(b);
    EXPECT_EQ(a.get(Anomaly::kTruncatedTcp), 1u);
    EXPECT_EQ(a.get(Anomaly::kBadFragment), 4u);
    EXPECT_EQ(a.get(Anomaly::kFlowTableFull), 5u);
    EXPECT_EQ(a.total(), 10u);
    EXPECT_EQ(b.total(), 6u);  // merge leaves its argument alone
}

IpAddress v6(std::initializer_list<uint16_t> words) {
    uint8_t bytes[16] = {};
    size_t i = 0;
    for (uint16_t word : words) {
        bytes[i++] = static_cast<uint8_t>(word >> 8);
        bytes[i++] = static_cast<uint8_t>(word);
    }
    return IpAddress::v6(bytes);
}

TEST(DecodeIpAddress, V4) {
    const uint8_t bytes[4] = {192, 168, 1, 20};
    IpAddress address = IpAddress::v4(bytes);
    EXPECT_FALSE(address.is_v6);
    EXPECT_EQ(address.to_string(), "192.168.1.20");
    for (size_t i = 4; i < 16; ++i) EXPECT_EQ(address.bytes[i], 0) << i;
    EXPECT_EQ(address, IpAddress::v4(bytes));
}

TEST(DecodeIpAddress, V6InRfc5952Form) {
    EXPECT_EQ(v6({0x2001, 0xdb8, 0, 0, 0, 0, 0, 1}).to_string(), "2001:db8::1");
    EXPECT_EQ(v6({0, 0, 0, 0, 0, 0, 0, 1}).to_string(), "::1");
    EXPECT_EQ(v6({}).to_string(), "::");
    // A single zero field is not shortened; the first of two equal zero runs is.
    EXPECT_EQ(v6({0x2001, 0xdb8, 0, 1, 1, 1, 1, 1}).to_string(), "2001:db8:0:1:1:1:1:1");
    EXPECT_EQ(v6({0x2001, 0, 0, 1, 0, 0, 0xABCD, 1}).to_string(), "2001::1:0:0:abcd:1");
    EXPECT_EQ(v6({0x2001, 0, 1, 0, 0, 0, 0xABCD, 1}).to_string(), "2001:0:1::abcd:1");
    EXPECT_EQ(v6({0xfe80, 0, 0, 0, 0x1ff, 0xfe23, 0x4567, 0x890a}).to_string(),
              "fe80::1ff:fe23:4567:890a");
    EXPECT_EQ(v6({0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0280}).to_string(), "::ffff:192.0.2.128");
}

TEST(DecodeIpAddress, FamiliesNeverCompareEqual) {
    const uint8_t zeros[16] = {};
    EXPECT_NE(IpAddress::v4(zeros), IpAddress::v6(zeros));
    EXPECT_TRUE(IpAddress::v4(zeros) < IpAddress::v6(zeros) ||
                IpAddress::v6(zeros) < IpAddress::v4(zeros));
}

}  // namespace
}  // namespace pw::decode
