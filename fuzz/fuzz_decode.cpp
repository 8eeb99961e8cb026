// Feeds one frame of a link type chosen by the first input byte to the decoder.

#include <pcap/dlt.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "decode/decoder.h"

namespace {

constexpr int kLinkTypes[] = {DLT_EN10MB,       DLT_RAW,
                              DLT_NULL,         DLT_LOOP,
                              DLT_LINUX_SLL,    DLT_LINUX_SLL2,
                              DLT_PPP,          DLT_IPV4,
                              DLT_IPV6,         101,
                              DLT_FDDI,         DLT_IEEE802,
                              DLT_IPOIB,        DLT_IPNET,
                              DLT_NFLOG,        DLT_PKTAP,
                              DLT_ARCNET_LINUX, DLT_C_HDLC,
                              DLT_PPP_SERIAL,   DLT_PPP_ETHER,
                              DLT_IEEE802_11,   DLT_IEEE802_11_RADIO,
                              DLT_PPI};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    static pw::decode::Decoder decoder;  // kept across inputs, as fragments are
    int linktype = kLinkTypes[data[0] % (sizeof kLinkTypes / sizeof kLinkTypes[0])];
    pw::decode::Packet packet;
    static int64_t time_us = 0;
    time_us += 1000;
    std::span<const uint8_t> frame(data + 1, size - 1);
    decoder.decode(linktype, frame, static_cast<uint32_t>(frame.size()), time_us, packet);

    // The sharded pipeline picks a frame's worker with addresses(), which reads common
    // frame shapes without the full decoder: for those, decode() must return a packet
    // with the same addresses.
    pw::decode::Packet addresses;
    if (pw::decode::Decoder::plain_addresses(linktype, frame, addresses)) {
        pw::decode::Decoder fresh;
        pw::decode::Packet decoded;
        auto full = fresh.decode(linktype, frame, static_cast<uint32_t>(frame.size()), 0, decoded);
        if (full != pw::decode::DecodeResult::kPacket || addresses.source != decoded.source ||
            addresses.target != decoded.target) {
            std::abort();
        }
    }
    return 0;
}
