// MSRPC: DCE/RPC connection-oriented PDUs over TCP (port 135 and the dynamic endpoints the
// endpoint mapper hands out), connectionless PDUs over UDP, and NETBIOS_DCE_PM for the
// flows that bind the endpoint mapper interface itself. DCE/RPC carried in SMB named pipes is
// found by the SMB detector with the checks declared in msrpc.h.

#include "detect/msrpc.h"

#include <array>
#include <memory>

#include "detect/detector.h"
#include "detect/le_bytes.h"
#include "detect/pdu_follower.h"

namespace pw::detect {
namespace msrpc {
namespace {

// e1af8308-5d1f-11c9-91a4-08002b14a0fa as it appears on the wire in little-endian order (the
// first three fields byte-swapped), and in big-endian order.
constexpr std::array<uint8_t, 16> kEpmUuidLe = {0x08, 0x83, 0xaf, 0xe1, 0x1f, 0x5d, 0xc9, 0x11,
                                                0x91, 0xa4, 0x08, 0x00, 0x2b, 0x14, 0xa0, 0xfa};
constexpr std::array<uint8_t, 16> kEpmUuidBe = {0xe1, 0xaf, 0x83, 0x08, 0x5d, 0x1f, 0x11, 0xc9,
                                                0x91, 0xa4, 0x08, 0x00, 0x2b, 0x14, 0xa0, 0xfa};

// Bytes a bind's presentation context list starts after: the header, max_xmit_frag,
// max_recv_frag and assoc_group_id.
constexpr size_t kBindContextListOffset = kCoHeaderSize + 8;
// p_cont_id, n_transfer_syn, reserved, then the abstract syntax (UUID and version).
constexpr size_t kContextElementFixed = 4 + 20;
constexpr size_t kSyntaxIdSize = 20;
constexpr size_t kMaxContextsExamined = 16;

// The integer representation is the high nibble of the first byte (0 big-endian, 1 little),
// the character set its low nibble (0 ASCII, 1 EBCDIC); the second byte is the float format
// (0 IEEE to 3 IBM); the other two are reserved.
bool valid_drep(std::span<const uint8_t> drep, bool check_reserved) {
    if ((drep[0] & 0xEE) != 0 || drep[1] > 3) return false;
    return !check_reserved || drep[2] == 0;
}

bool is_co_type(uint8_t type) {
    return type == co_type::kRequest || type == co_type::kResponse || type == co_type::kFault ||
           (type >= co_type::kBind && type <= co_type::kOrphaned);
}

// The fixed fields each packet type has after the common header.
size_t fixed_body_size(uint8_t type) {
    switch (type) {
        case co_type::kRequest:
        case co_type::kResponse:
        case co_type::kFault:
            return 8;  // alloc_hint, p_cont_id, opnum or cancel_count
        case co_type::kBind:
        case co_type::kAlterContext:
            return 12;  // fragment sizes, association group, context count
        case co_type::kBindAck:
        case co_type::kAlterContextResponse:
            return 10;  // fragment sizes, association group, secondary address length
        case co_type::kBindNak:
            return 2;
        default:
            return 0;
    }
}

bool is_epm_uuid(std::span<const uint8_t> uuid, bool little_endian) {
    const auto& want = little_endian ? kEpmUuidLe : kEpmUuidBe;
    return std::equal(want.begin(), want.end(), uuid.begin());
}

}  // namespace

std::optional<CoHeader> parse_co_header(std::span<const uint8_t> data) {
    if (data.size() < kCoHeaderSize) return std::nullopt;
    if (data[0] != 5 || data[1] > 1 || !is_co_type(data[2])) return std::nullopt;
    if (!valid_drep(data.subspan(4, 4), true) || data[7] != 0) return std::nullopt;

    CoHeader h;
    h.type = data[2];
    h.flags = data[3];
    h.little_endian = (data[4] & 0x10) != 0;
    h.frag_length = h.little_endian ? bytes::le16(data, 8) : bytes::be16(data, 8);
    h.auth_length = h.little_endian ? bytes::le16(data, 10) : bytes::be16(data, 10);
    h.call_id = h.little_endian ? bytes::le32(data, 12) : bytes::be32(data, 12);
    // An authentication trailer is an 8-byte sec_trailer followed by auth_length bytes.
    size_t trailer = h.auth_length == 0 ? 0 : 8 + size_t{h.auth_length};
    if (h.frag_length < kCoHeaderSize + fixed_body_size(h.type) + trailer) return std::nullopt;
    return h;
}

bool presents_endpoint_mapper(std::span<const uint8_t> pdu, const CoHeader& header) {
    if (header.type != co_type::kBind && header.type != co_type::kAlterContext) return false;
    pdu = pdu.first(std::min<size_t>(pdu.size(), header.frag_length));
    if (!bytes::has(pdu, kBindContextListOffset, 4)) return false;
    size_t contexts = pdu[kBindContextListOffset];
    size_t pos = kBindContextListOffset + 4;
    for (size_t i = 0; i < contexts && i < kMaxContextsExamined; ++i) {
        if (!bytes::has(pdu, pos, kContextElementFixed)) return false;
        if (is_epm_uuid(pdu.subspan(pos + 4, 16), header.little_endian)) return true;
        size_t transfer_syntaxes = pdu[pos + 2];
        pos += kContextElementFixed + transfer_syntaxes * kSyntaxIdSize;
    }
    return false;
}

std::optional<ClPdu> parse_cl_pdu(std::span<const uint8_t> datagram) {
    if (datagram.size() < kClHeaderSize) return std::nullopt;
    constexpr uint8_t kMaxClType = 10;  // request (0) to cancel_ack (10)
    if (datagram[0] != 4 || datagram[1] > kMaxClType) return std::nullopt;
    if (!valid_drep(datagram.subspan(4, 3), true)) return std::nullopt;
    bool little_endian = (datagram[4] & 0x10) != 0;
    uint16_t body = little_endian ? bytes::le16(datagram, 74) : bytes::be16(datagram, 74);
    uint8_t auth_protocol = datagram[78];
    size_t with_body = kClHeaderSize + body;
    // Without authentication the body fills the datagram; with it a verifier follows.
    if (auth_protocol == 0 ? with_body != datagram.size() : with_body > datagram.size()) {
        return std::nullopt;
    }
    ClPdu pdu;
    pdu.endpoint_mapper = is_epm_uuid(datagram.subspan(24, 16), little_endian);
    return pdu;
}

}  // namespace msrpc

namespace {

// PDUs of a TCP flow followed, in both directions together, before the detector stops
// looking for an endpoint mapper bind.
constexpr uint64_t kMaxPdusFollowed = 64;
// Enough of each PDU to read a bind's first presentation contexts.
constexpr size_t kPduHeadBytes = 256;
// Segments that did not start a PDU (a capture that began mid-stream, a lost segment)
// tolerated before an unrecorded flow is given up; each direction starts again at its next
// segment.
constexpr int kMaxFailedStarts = 3;

struct MsrpcState : DetectorState {
    PduFollower follower[2] = {PduFollower(msrpc::kCoHeaderSize, kPduHeadBytes),
                               PduFollower(msrpc::kCoHeaderSize, kPduHeadBytes)};
    bool recorded = false;
    bool endpoint_mapper = false;
    int failed_starts = 0;
};

class MsrpcDetector final : public Detector {
  public:
    std::string_view name() const override { return "msrpc"; }
    bool wants(Transport t) const override { return t == Transport::kTcp || t == Transport::kUdp; }
    bool keeps_inspecting() const override { return true; }

    Verdict inspect(Session& session, const Segment& segment) override {
        if (session.transport() == Transport::kUdp) return inspect_datagram(session, segment);
        auto& st = session.state<MsrpcState>(slot);
        if (session.classified() && !st.recorded) return drop(session);

        PduFollower& follower = st.follower[segment.from_initiator ? 0 : 1];
        auto length_of = [](std::span<const uint8_t> head) -> std::optional<size_t> {
            auto h = msrpc::parse_co_header(head);
            if (!h) return std::nullopt;
            return h->frag_length;
        };
        auto on_head = [&](std::span<const uint8_t> head, size_t) {
            auto h = msrpc::parse_co_header(head);
            if (h && msrpc::presents_endpoint_mapper(head, *h)) st.endpoint_mapper = true;
            return true;
        };
        auto on_body = [](std::span<const uint8_t>, size_t) { return true; };
        auto status = follower.feed(segment.data, length_of, on_head, on_body);
        if (status != PduFollower::Status::kOk) {
            // Not (or no longer) DCE/RPC: a flow already recorded keeps its label.
            if (st.recorded) return finish_following(session, st);
            if (++st.failed_starts >= kMaxFailedStarts) return drop(session);
            follower = PduFollower(msrpc::kCoHeaderSize, kPduHeadBytes);
            return Verdict::kContinue;
        }

        // One PDU that ends where the segment ends, or two in a row, confirm the framing.
        uint64_t pdus = st.follower[0].messages() + st.follower[1].messages();
        if (!st.recorded && ((follower.messages() >= 1 && follower.at_boundary()) || pdus >= 2)) {
            st.recorded = true;
            session.add(ProtocolId::MSRPC);
        }
        if (st.recorded && st.endpoint_mapper) session.add(ProtocolId::NETBIOS_DCE_PM);
        if (st.endpoint_mapper || pdus >= kMaxPdusFollowed) return finish_following(session, st);
        return Verdict::kContinue;
    }

  private:
    Verdict inspect_datagram(Session& session, const Segment& segment) {
        if (session.classified()) return Verdict::kNotMine;
        auto pdu = msrpc::parse_cl_pdu(segment.data);
        if (!pdu) return Verdict::kNotMine;
        session.add(ProtocolId::MSRPC);
        if (pdu->endpoint_mapper) session.add(ProtocolId::NETBIOS_DCE_PM);
        return Verdict::kDone;
    }

    Verdict finish_following(Session& session, MsrpcState& st) {
        bool recorded = st.recorded;
        session.drop_state(slot);
        return recorded ? Verdict::kDone : Verdict::kNotMine;
    }
    Verdict drop(Session& session) {
        session.drop_state(slot);
        return Verdict::kNotMine;
    }
};

}  // namespace

std::unique_ptr<Detector> make_msrpc_detector() { return std::make_unique<MsrpcDetector>(); }

}  // namespace pw::detect
