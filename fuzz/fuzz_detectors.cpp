// Feeds a fuzzed flow, segments in both directions, to the registry's detectors through a
// Session, as the pipeline's inspection step does. The input chooses the transport, the
// ports and which detectors see the flow, so that every family is reached.
//
// Input: [transport][selector][initiator port: 2][responder port: 2], then records of
// [direction and ICMP type][TCP flags][length: 2][data]. A selector below the number of
// detectors hands the flow to that detector alone. Any other value hands it to all of
// them, and then, as in the pipeline, a classified flow only goes on to the detectors
// that keep inspecting.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "decode/packet.h"
#include "detect/detector.h"
#include "detect/session.h"

namespace {

using pw::detect::Detector;
using pw::detect::Segment;
using pw::detect::Session;
using pw::detect::Transport;
using pw::detect::Verdict;

constexpr uint8_t kIpProtocols[] = {
    pw::decode::ip_protocol::kTcp, pw::decode::ip_protocol::kUdp, pw::decode::ip_protocol::kIcmp,
    pw::decode::ip_protocol::kIcmpv6, pw::decode::ip_protocol::kIgmp};

const std::vector<std::unique_ptr<Detector>>& detectors() {
    static const auto all = pw::detect::make_detectors();
    return all;
}

uint16_t load_be16(const uint8_t* bytes) { return static_cast<uint16_t>(bytes[0] << 8 | bytes[1]); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 6) return 0;
    const auto& all = detectors();
    uint8_t ip_protocol = kIpProtocols[data[0] % std::size(kIpProtocols)];
    size_t only = data[1] < all.size() ? data[1] : all.size();

    const uint8_t client_bytes[4] = {10, 0, 0, 1};
    const uint8_t server_bytes[4] = {192, 0, 2, 80};
    auto client = pw::decode::IpAddress::v4(client_bytes);
    auto server = pw::decode::IpAddress::v4(server_bytes);
    uint16_t client_port = load_be16(data + 2);
    uint16_t server_port = load_be16(data + 4);
    Session session(pw::detect::transport_of(ip_protocol), client, client_port, server,
                    server_port);

    std::vector<bool> finished(all.size(), false);
    auto start_layer = [&] {
        session.clear_skips();
        for (size_t slot = 0; slot < all.size(); ++slot) {
            session.drop_state(slot);
            finished[slot] =
                (only < all.size() && slot != only) || !all[slot]->wants(session.transport());
        }
    };
    start_layer();

    uint64_t offsets[2] = {0, 0};
    size_t at = 6;
    while (at + 4 <= size) {
        bool from_initiator = (data[at] & 1) == 0;
        pw::decode::Packet packet;
        packet.ip_protocol = ip_protocol;
        packet.source = from_initiator ? client : server;
        packet.target = from_initiator ? server : client;
        packet.source_port = from_initiator ? client_port : server_port;
        packet.target_port = from_initiator ? server_port : client_port;
        packet.icmp_type = static_cast<uint8_t>(data[at] >> 1);
        packet.tcp_flags = data[at + 1];
        size_t length = load_be16(data + at + 2);
        at += 4;
        if (length > size - at) length = size - at;
        std::span<const uint8_t> payload(data + at, length);
        at += length;
        packet.payload = payload;
        packet.payload_length = static_cast<uint32_t>(length);

        // Streams count offsets in bytes, datagram transports in datagrams.
        uint64_t& offset = offsets[from_initiator ? 0 : 1];
        Segment segment{payload, from_initiator, offset, &packet};
        bool stream = ip_protocol == pw::decode::ip_protocol::kTcp;
        offset += stream ? length : 1;

        for (size_t slot = 0; slot < all.size(); ++slot) {
            if (finished[slot]) continue;
            if (only == all.size() && session.classified() && !all[slot]->keeps_inspecting()) {
                finished[slot] = true;
                continue;
            }
            // As the pipeline does, a segment a detector asked to skip is not handed to it.
            if (stream && session.skips(slot, from_initiator, offset)) continue;
            if (all[slot]->inspect(session, segment) != Verdict::kContinue) {
                finished[slot] = true;
                session.drop_state(slot);
            }
        }
        session.take_expected();
        if (session.take_inner_layer()) start_layer();
    }
    for (size_t slot = 0; slot < all.size(); ++slot) {
        if (!finished[slot]) all[slot]->finish(session);
    }
    return 0;
}
