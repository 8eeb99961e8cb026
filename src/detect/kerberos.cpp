// KERBEROS: Kerberos V5 messages (RFC 4120) over UDP, one per datagram, and over TCP, each
// behind a four-byte big-endian record length. A message is recognized by its DER structure:
// an application tag of a Kerberos message type, a SEQUENCE, then pvno 5 and msg-type equal
// to the application tag, each in its context tag. Password changes (kpasswd, port 464)
// wrap such messages in a header of their own.

#include <memory>

#include "detect/ber.h"
#include "detect/detector.h"
#include "detect/le_bytes.h"
#include "detect/pdu_follower.h"

namespace pw::detect {
namespace {

constexpr uint32_t kPvno = 5;
constexpr size_t kRecordMarkSize = 4;
// Kerberos messages carrying large PACs reach tens of kilobytes; this bounds a record length
// taken from an unrelated protocol's first bytes.
constexpr size_t kMaxRecordLength = 1u << 20;
// Enough of a message for the headers checked.
constexpr size_t kMessageHeadBytes = 32;
// TCP segments that did not start a Kerberos record (a capture that began mid-stream, a lost
// segment) tolerated before the flow is given up; each direction starts again at its next
// segment.
constexpr int kMaxFailedStarts = 3;

constexpr uint32_t kTicketTag = 1;
constexpr uint8_t kGeneralString = 0x1B;

// AS-REQ and TGS-REQ (KDC-REQ) number pvno [1] and msg-type [2]; the other messages [0], [1].
// A bare Ticket (as krb524 and some AFS services exchange) has tkt-vno [0] and realm [1].
std::optional<uint32_t> pvno_tag_for(uint32_t message_type) {
    switch (message_type) {
        case 10:  // AS-REQ
        case 12:  // TGS-REQ
            return 1;
        case kTicketTag:
        case 11:  // AS-REP
        case 13:  // TGS-REP
        case 14:  // AP-REQ
        case 15:  // AP-REP
        case 20:  // KRB-SAFE
        case 21:  // KRB-PRIV
        case 22:  // KRB-CRED
        case 30:  // KRB-ERROR
            return 0;
        default:
            return std::nullopt;
    }
}

// Reads `[tag] INTEGER` at the start of `d`; returns the integer and the bytes it took.
std::optional<std::pair<uint32_t, size_t>> read_tagged_integer(std::span<const uint8_t> d,
                                                               uint32_t tag) {
    auto outer = ber::read_header(d);
    if (!outer || !outer->is(ber::kContext, tag) || !outer->constructed || outer->indefinite) {
        return std::nullopt;
    }
    auto inner_data = d.subspan(outer->header_length);
    auto inner = ber::read_header(inner_data);
    if (!inner || inner->total() != outer->length) return std::nullopt;
    auto value = ber::read_small_integer(inner_data, *inner);
    if (!value) return std::nullopt;
    return std::make_pair(*value, outer->total());
}

// Checks the start of a Kerberos message. `length` is the message's whole length when known
// (the datagram or the TCP record), which the outer DER length must match.
bool is_kerberos_message(std::span<const uint8_t> d, size_t length) {
    auto app = ber::read_header(d);
    if (!app || app->tag_class != ber::kApplication || !app->constructed || app->indefinite) {
        return false;
    }
    auto pvno_tag = pvno_tag_for(app->tag);
    if (!pvno_tag || app->total() != length) return false;

    auto body = d.subspan(app->header_length);
    auto seq = ber::read_header(body);
    if (!seq || !seq->is(ber::kUniversal, ber::kTagSequence) || !seq->constructed ||
        seq->indefinite || seq->total() != app->length) {
        return false;
    }
    auto fields = body.subspan(seq->header_length);
    auto pvno = read_tagged_integer(fields, *pvno_tag);
    if (!pvno || pvno->first != kPvno) return false;
    auto rest = fields.subspan(pvno->second);
    if (app->tag == kTicketTag) {
        // realm [1] Realm, a GeneralString.
        auto realm = ber::read_header(rest);
        return realm && realm->is(ber::kContext, 1) && realm->constructed &&
               rest.size() > realm->header_length && rest[realm->header_length] == kGeneralString;
    }
    auto type = read_tagged_integer(rest, *pvno_tag + 1);
    return type && type->first == app->tag;
}

// Checks a Kerberos password change message (kpasswd, RFC 3244). It starts with its whole
// length, the protocol version (1 for a change, 0xff80 for a set-password request) and the
// length of an AP-REQ or AP-REP. That message and a KRB-PRIV follow, and a reply without
// an AP-REP carries a KRB-ERROR instead. `length` is the datagram's or TCP record's length.
bool is_kpasswd_message(std::span<const uint8_t> d, size_t length) {
    constexpr size_t kHeader = 6;
    constexpr uint32_t kApReq = 14, kApRep = 15, kKrbError = 30;
    if (d.size() <= kHeader || length <= kHeader || bytes::be16(d, 0) != length) return false;
    const uint16_t version = bytes::be16(d, 2);
    if (version != 1 && version != 0xff80) return false;
    const size_t ap_length = bytes::be16(d, 4);
    const auto rest = d.subspan(kHeader);
    auto inner = ber::read_header(rest);
    if (!inner || inner->tag_class != ber::kApplication) return false;
    if (ap_length == 0) {
        return inner->tag == kKrbError && is_kerberos_message(rest, length - kHeader);
    }
    return ap_length < length - kHeader && (inner->tag == kApReq || inner->tag == kApRep) &&
           is_kerberos_message(rest, ap_length);
}

struct KerberosState : DetectorState {
    PduFollower follower[2] = {PduFollower(kRecordMarkSize, kRecordMarkSize + kMessageHeadBytes),
                               PduFollower(kRecordMarkSize, kRecordMarkSize + kMessageHeadBytes)};
    bool found = false;
    int failed_starts = 0;
};

class KerberosDetector final : public Detector {
  public:
    std::string_view name() const override { return "kerberos"; }
    bool wants(Transport t) const override { return t == Transport::kTcp || t == Transport::kUdp; }

    Verdict inspect(Session& session, const Segment& segment) override {
        if (session.classified()) return Verdict::kNotMine;
        if (session.transport() == Transport::kUdp) {
            const size_t size = segment.data.size();
            if (!is_kerberos_message(segment.data, size) &&
                !is_kpasswd_message(segment.data, size)) {
                return Verdict::kNotMine;
            }
            session.add(ProtocolId::KERBEROS);
            return Verdict::kDone;
        }

        auto& st = session.state<KerberosState>(slot);
        auto& follower = st.follower[segment.from_initiator ? 0 : 1];
        auto length_of = [](std::span<const uint8_t> mark) -> std::optional<size_t> {
            // The top bit is reserved for extensions (RFC 5021) and is never set on a message.
            size_t length = bytes::be32(mark, 0);
            if (length == 0 || length > kMaxRecordLength) return std::nullopt;
            return kRecordMarkSize + length;
        };
        auto on_head = [&](std::span<const uint8_t> head, size_t total) {
            const auto message = head.subspan(kRecordMarkSize);
            st.found = is_kerberos_message(message, total - kRecordMarkSize) ||
                       is_kpasswd_message(message, total - kRecordMarkSize);
            return false;  // the first record decides
        };
        auto on_body = [](std::span<const uint8_t>, size_t) { return true; };
        auto status = follower.feed(segment.data, length_of, on_head, on_body);

        if (st.found) {
            session.drop_state(slot);
            session.add(ProtocolId::KERBEROS);
            return Verdict::kDone;
        }
        if (status != PduFollower::Status::kOk) {  // a refused length, or a record not Kerberos
            if (++st.failed_starts >= kMaxFailedStarts) {
                session.drop_state(slot);
                return Verdict::kNotMine;
            }
            follower = PduFollower(kRecordMarkSize, kRecordMarkSize + kMessageHeadBytes);
        }
        return Verdict::kContinue;
    }
};

}  // namespace

std::unique_ptr<Detector> make_kerberos_detector() { return std::make_unique<KerberosDetector>(); }

}  // namespace pw::detect
