// LDAP: LDAPv3 messages (RFC 4511) over TCP, and CLDAP (the same messages in UDP datagrams,
// RFC 1798, used by Windows domain controller discovery), recorded as LDAP too. A message is
// recognized by its BER structure: a SEQUENCE holding a messageID INTEGER and a protocolOp
// with an application tag of an LDAP operation, of the form the operation takes and with a
// length that fits the message.
//
// A StartTLS extended operation that the server accepts hands the flow over to TLS.

#include <algorithm>
#include <memory>
#include <string_view>

#include "detect/ber.h"
#include "detect/detector.h"
#include "detect/le_bytes.h"

namespace pw::detect {
namespace {

constexpr uint32_t kMaxOperationTag = 25;  // intermediateResponse
constexpr uint32_t kOpUnbindRequest = 2;
constexpr uint32_t kOpDelRequest = 10;
constexpr uint32_t kOpAbandonRequest = 16;
constexpr uint32_t kOpExtendedRequest = 23;
constexpr uint32_t kOpExtendedResponse = 24;
// Tags 1..25 not assigned to an operation in RFC 4511.
constexpr uint32_t kUnassignedOps[] = {17, 18, 20, 21, 22};

constexpr std::string_view kStartTlsOid = "1.3.6.1.4.1.1466.20037";
// SASL security layers wrap each message in a four-byte length and a GSS-API or NTLM token.
constexpr size_t kSaslLengthSize = 4;
constexpr size_t kMaxSaslBuffer = 1u << 24;
// Messages examined per direction while the flow is followed for StartTLS.
constexpr uint64_t kMaxMessagesFollowed = 8;
// Segments that do not start with a message (a capture that began mid-stream, a lost
// segment) tolerated before the flow is given up.
constexpr int kMaxFailedStarts = 3;

bool is_primitive_op(uint32_t tag) {
    return tag == kOpUnbindRequest || tag == kOpDelRequest || tag == kOpAbandonRequest;
}

struct Message {
    uint32_t op = 0;
    std::span<const uint8_t> op_value;  // as much of the protocolOp's value as is present
    size_t total = 0;                   // the whole message's length
};

// Parses the LDAPMessage at the start of `d`, which may be cut short after the protocolOp's
// header.
std::optional<Message> parse_message(std::span<const uint8_t> d) {
    auto seq = ber::read_header(d);
    if (!seq || !seq->is(ber::kUniversal, ber::kTagSequence) || !seq->constructed ||
        seq->indefinite) {
        return std::nullopt;
    }
    auto fields = d.subspan(seq->header_length);
    auto id = ber::read_header(fields);
    if (!id || !ber::read_small_integer(fields, *id)) return std::nullopt;
    auto op_data = fields.subspan(id->total());
    auto op = ber::read_header(op_data);
    if (!op || op->tag_class != ber::kApplication || op->tag > kMaxOperationTag) {
        return std::nullopt;
    }
    if (std::find(std::begin(kUnassignedOps), std::end(kUnassignedOps), op->tag) !=
        std::end(kUnassignedOps)) {
        return std::nullopt;
    }
    if (op->constructed == is_primitive_op(op->tag) || op->indefinite) return std::nullopt;
    // The messageID and the operation fit in the message; controls may follow the operation.
    if (id->total() + op->total() > seq->length) return std::nullopt;

    Message m;
    m.op = op->tag;
    m.total = seq->total();
    auto value = op_data.subspan(op->header_length);
    m.op_value = value.first(std::min(value.size(), op->length));
    return m;
}

// True when an ExtendedRequest's value names the StartTLS operation ([0] requestName).
bool requests_start_tls(std::span<const uint8_t> value) {
    auto name = ber::read_header(value);
    if (!name || !name->is(ber::kContext, 0) || name->total() > value.size()) return false;
    auto oid = value.subspan(name->header_length, name->length);
    return std::string_view(reinterpret_cast<const char*>(oid.data()), oid.size()) == kStartTlsOid;
}

// True when an ExtendedResponse reports success (its resultCode ENUMERATED is 0).
bool extended_success(std::span<const uint8_t> value) {
    auto code = ber::read_header(value);
    return code && code->is(ber::kUniversal, ber::kTagEnumerated) && code->length == 1 &&
           value.size() > code->header_length && value[code->header_length] == 0;
}

// True when `d` starts with a SASL-wrapped buffer whose length matches what follows in the
// segment, and whose token is a GSS-API Kerberos wrap token ([RFC 4121] 0x0504, [RFC 1964]
// 0x0201 inside an initial-context token) or a signed NTLM message (version 1).
bool is_sasl_buffer(std::span<const uint8_t> d) {
    if (d.size() < kSaslLengthSize + 16) return false;
    size_t length = bytes::be32(d, 0);
    if (length < 16 || length > kMaxSaslBuffer || length != d.size() - kSaslLengthSize) {
        return false;
    }
    auto token = d.subspan(kSaslLengthSize);
    if (token[0] == 0x05 && token[1] == 0x04) return true;  // RFC 4121 wrap token
    if (token[0] == 0x60) {                                 // RFC 1964 framing
        auto h = ber::read_header(token);
        return h && h->is(ber::kApplication, 0) && h->total() == token.size();
    }
    return bytes::le32(token, 0) == 1;  // NTLMSSP_MESSAGE_SIGNATURE version
}

struct LdapState : DetectorState {
    bool found = false;
    bool start_tls_requested = false;
    uint64_t examined[2] = {0, 0};
    int failed_starts = 0;
};

class LdapDetector final : public Detector {
  public:
    std::string_view name() const override { return "ldap"; }
    bool wants(Transport t) const override { return t == Transport::kTcp || t == Transport::kUdp; }
    bool keeps_inspecting() const override { return true; }

    Verdict inspect(Session& session, const Segment& segment) override {
        auto& st = session.state<LdapState>(slot);
        if (session.classified() && !st.found) return drop(session, Verdict::kNotMine);
        int dir = segment.from_initiator ? 0 : 1;

        auto message = parse_message(segment.data);
        if (!st.found) {
            // A message that fits the datagram or segment, or that continues past it.
            bool fits = message && (message->total <= segment.data.size() ||
                                    session.transport() == Transport::kTcp);
            if (!fits) {
                bool give_up = session.transport() == Transport::kUdp ||
                               ++st.failed_starts >= kMaxFailedStarts;
                return give_up ? drop(session, Verdict::kNotMine) : Verdict::kContinue;
            }
            st.found = true;
            session.add(ProtocolId::LDAP);
            if (session.transport() == Transport::kUdp) return drop(session, Verdict::kDone);
        }

        // Follow the first messages for a StartTLS exchange.
        if (message && message->op == kOpExtendedRequest && requests_start_tls(message->op_value)) {
            st.start_tls_requested = true;
        } else if (message && message->op == kOpExtendedResponse && st.start_tls_requested &&
                   extended_success(message->op_value)) {
            session.open_inner_layer();
            return drop(session, Verdict::kDone);
        }
        if (++st.examined[dir] >= kMaxMessagesFollowed ||
            (!message && !is_sasl_buffer(segment.data))) {
            return drop(session, Verdict::kDone);
        }
        return Verdict::kContinue;
    }

  private:
    Verdict drop(Session& session, Verdict verdict) {
        session.drop_state(slot);
        return verdict;
    }
};

}  // namespace

std::unique_ptr<Detector> make_ldap_detector() { return std::make_unique<LdapDetector>(); }

}  // namespace pw::detect
