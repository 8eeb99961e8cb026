// SNMP v1 and v2c (RFC 1157, RFC 3416) and v3 (RFC 3412) over UDP, and over TCP (RFC 3430),
// where each message follows the one before with no framing of its own. A message is one
// BER SEQUENCE that fills the datagram: the version, then the community and a PDU (v1, v2c), or
// msgGlobalData, the security parameters and the scoped PDU (v3). Every element's length
// must end exactly where its parent ends, which random payloads essentially never do.

#include "detect/snmp.h"

#include <optional>

namespace pw::detect {
namespace {

// The identifier and length octets of one BER element.
struct Element {
    uint8_t tag = 0;
    size_t start = 0;   // offset of the identifier octet
    size_t header = 0;  // identifier plus length octets
    size_t length = 0;  // of the value

    size_t value() const { return start + header; }
    size_t end() const { return start + header + length; }
};

// Walks the elements of one constructed value, [pos, end), where `end` comes from the
// declared lengths and may lie past the captured bytes.
class Cursor {
public:
    Cursor(std::span<const uint8_t> data, size_t pos, size_t end)
        : data_(data), pos_(pos), end_(end) {}

    // Reads the next element and moves past it. Returns nullopt when its header is not
    // captured (then out_of_data() is true) or is malformed, or when the element would end
    // past the end of the enclosing value.
    std::optional<Element> next() {
        if (pos_ + 2 > data_.size()) {
            out_of_data_ = pos_ < end_;
            return std::nullopt;
        }
        Element element;
        element.start = pos_;
        element.tag = data_[pos_];
        // SNMP uses only low tag numbers and definite lengths of at most three octets.
        if ((element.tag & 0x1F) == 0x1F) return std::nullopt;
        uint8_t first = data_[pos_ + 1];
        element.header = 2;
        if (first < 0x80) {
            element.length = first;
        } else {
            size_t octets = first & 0x7F;
            if (octets == 0 || octets > 3) return std::nullopt;
            if (pos_ + 2 + octets > data_.size()) {
                out_of_data_ = true;
                return std::nullopt;
            }
            for (size_t i = 0; i < octets; ++i) {
                element.length = element.length << 8 | data_[pos_ + 2 + i];
            }
            element.header += octets;
        }
        if (element.end() > end_) return std::nullopt;
        pos_ = element.end();
        return element;
    }

    bool at_end() const { return pos_ == end_; }
    bool out_of_data() const { return out_of_data_; }

private:
    std::span<const uint8_t> data_;
    size_t pos_;
    size_t end_;
    bool out_of_data_ = false;
};

constexpr uint8_t kInteger = 0x02;
constexpr uint8_t kOctetString = 0x04;
constexpr uint8_t kObjectId = 0x06;
constexpr uint8_t kSequence = 0x30;
constexpr uint8_t kIpAddress = 0x40;
constexpr uint8_t kTimeTicks = 0x43;
constexpr uint8_t kTrapV1 = 0xA4;
constexpr uint8_t kGetBulk = 0xA5;

// Returns the value of a captured INTEGER of one to five octets (a 32-bit value with its
// sign octet), or nullopt.
std::optional<int64_t> integer_value(std::span<const uint8_t> data, const Element& element) {
    if (element.tag != kInteger || element.length == 0 || element.length > 5) {
        return std::nullopt;
    }
    if (element.end() > data.size()) return std::nullopt;
    int64_t value = (data[element.value()] & 0x80) ? -1 : 0;
    for (size_t i = 0; i < element.length; ++i) {
        value = value * 256 + data[element.value() + i];
    }
    return value;
}

enum class Check { kBad, kGood, kOutOfData };

// Reads the next element of `cursor`, expecting `tag`. kOutOfData when the capture ends first.
Check expect(Cursor& cursor, uint8_t tag, Element* out = nullptr) {
    std::optional<Element> element = cursor.next();
    if (!element) return cursor.out_of_data() ? Check::kOutOfData : Check::kBad;
    if (element->tag != tag) return Check::kBad;
    if (out != nullptr) *out = *element;
    return Check::kGood;
}

// Reads an INTEGER within [low, high]. An INTEGER whose value was not captured passes.
Check expect_integer(std::span<const uint8_t> data, Cursor& cursor, int64_t low, int64_t high) {
    Element element;
    Check check = expect(cursor, kInteger, &element);
    if (check != Check::kGood) return check;
    if (element.length == 0 || element.length > 5) return Check::kBad;
    std::optional<int64_t> value = integer_value(data, element);
    if (!value) return Check::kOutOfData;
    return *value >= low && *value <= high ? Check::kGood : Check::kBad;
}

bool pdu_allowed(int64_t version, uint8_t tag) {
    if (tag < 0xA0 || tag > 0xA8) return false;
    // v1 has GetRequest to SetRequest and Trap. v2c drops Trap and adds the rest.
    if (version == 0) return tag <= kTrapV1;
    return tag != kTrapV1;
}

// Checks the fields of a PDU: those of a v1 Trap, or request-id, error-status and
// error-index (non-repeaters and max-repetitions for GetBulk), then the variable bindings,
// which must end where the PDU ends.
Check check_pdu(std::span<const uint8_t> data, const Element& pdu) {
    Cursor cursor(data, pdu.value(), pdu.end());
    Check check = Check::kGood;
    auto step = [&](Check next) {
        if (check == Check::kGood) check = next;
    };
    if (pdu.tag == kTrapV1) {
        step(expect(cursor, kObjectId));
        step(expect(cursor, kIpAddress));
        step(expect_integer(data, cursor, 0, 6));  // generic-trap
        step(expect_integer(data, cursor, INT32_MIN, INT32_MAX));
        step(expect(cursor, kTimeTicks));
    } else {
        step(expect_integer(data, cursor, INT32_MIN, INT32_MAX));  // request-id
        if (pdu.tag == kGetBulk) {
            step(expect_integer(data, cursor, 0, INT32_MAX));
            step(expect_integer(data, cursor, 0, INT32_MAX));
        } else {
            // error-status: RFC 3416 defines 0 to 18, and some agents send codes above.
            step(expect_integer(data, cursor, 0, 255));
            step(expect_integer(data, cursor, 0, INT32_MAX));
        }
    }
    step(expect(cursor, kSequence));
    if (check == Check::kGood && !cursor.at_end()) return Check::kBad;
    return check;
}

// Checks a v3 message after the version: msgGlobalData, msgSecurityParameters, msgData.
Check check_v3(std::span<const uint8_t> data, Cursor& message) {
    Element global;
    Check check = expect(message, kSequence, &global);
    if (check != Check::kGood) return check;
    Cursor fields(data, global.value(), global.end());
    check = expect_integer(data, fields, 0, INT32_MAX);  // msgID
    if (check != Check::kGood) return check;
    check = expect_integer(data, fields, 484, INT32_MAX);  // msgMaxSize, RFC 3412
    if (check != Check::kGood) return check;
    Element flags;
    check = expect(fields, kOctetString, &flags);
    if (check != Check::kGood) return check;
    if (flags.length != 1) return Check::kBad;
    if (flags.end() > data.size()) return Check::kOutOfData;
    uint8_t flag_bits = data[flags.value()];
    // Only the reportable, priv and auth bits exist, and privacy requires authentication.
    if (flag_bits > 7 || (flag_bits & 0x03) == 0x02) return Check::kBad;
    check = expect_integer(data, fields, 1, INT32_MAX);  // msgSecurityModel
    if (check != Check::kGood) return check;
    if (!fields.at_end()) return Check::kBad;
    check = expect(message, kOctetString);  // msgSecurityParameters
    if (check != Check::kGood) return check;
    // An encrypted scoped PDU is an OCTET STRING, a plain one a SEQUENCE.
    check = expect(message, (flag_bits & 0x02) ? kOctetString : kSequence);
    if (check != Check::kGood) return check;
    return message.at_end() ? Check::kGood : Check::kBad;
}

Check check_message(std::span<const uint8_t> data, size_t wire_length) {
    Cursor outer(data, 0, wire_length);
    Element message;
    Check check = expect(outer, kSequence, &message);
    if (check != Check::kGood) return Check::kBad;
    if (message.end() != wire_length) return Check::kBad;

    Cursor cursor(data, message.value(), message.end());
    Element version_element;
    if (expect(cursor, kInteger, &version_element) != Check::kGood) return Check::kBad;
    std::optional<int64_t> version = integer_value(data, version_element);
    if (!version || version_element.length != 1) return Check::kBad;
    if (*version == 3) return check_v3(data, cursor);
    if (*version != 0 && *version != 1) return Check::kBad;

    Element community;
    if (expect(cursor, kOctetString, &community) != Check::kGood) return Check::kBad;
    Element pdu;
    std::optional<Element> next = cursor.next();
    if (!next) return Check::kBad;
    pdu = *next;
    if (!pdu_allowed(*version, pdu.tag) || !cursor.at_end()) return Check::kBad;
    return check_pdu(data, pdu);
}

// Returns the length of the message that `stream` starts with, from its outer SEQUENCE's
// header, or nullopt when that header is not one.
std::optional<size_t> message_length(std::span<const uint8_t> stream) {
    Cursor cursor(stream, 0, SIZE_MAX);
    std::optional<Element> message = cursor.next();
    if (!message || message->tag != kSequence) return std::nullopt;
    return message->end();
}

class SnmpDetector final : public Detector {
public:
    std::string_view name() const override { return "snmp"; }
    bool wants(Transport transport) const override {
        return transport == Transport::kUdp || transport == Transport::kTcp;
    }

    Verdict inspect(Session& session, const Segment& segment) override {
        if (session.transport() == Transport::kTcp) return inspect_stream(session, segment);
        size_t wire_length = segment.data.size();
        if (segment.packet != nullptr && segment.packet->payload_length > wire_length) {
            wire_length = segment.packet->payload_length;
        }
        if (!is_snmp_message(segment.data, wire_length)) return Verdict::kNotMine;
        session.add(ProtocolId::SNMP);
        return Verdict::kDone;
    }

  private:
    // Judges the first message a side sends, which its first segment starts. A message
    // that goes on past the segment passes as a cut datagram does (is_snmp_message()).
    Verdict inspect_stream(Session& session, const Segment& segment) {
        if (segment.offset != 0) return Verdict::kNotMine;
        std::optional<size_t> length = message_length(segment.data);
        if (!length) return Verdict::kNotMine;
        const std::span<const uint8_t> message =
            segment.data.first(std::min(*length, segment.data.size()));
        if (!is_snmp_message(message, *length)) return Verdict::kNotMine;
        session.add(ProtocolId::SNMP);
        return Verdict::kDone;
    }
};

}  // namespace

bool is_snmp_message(std::span<const uint8_t> datagram, size_t wire_length) {
    if (datagram.size() < 2 || wire_length < datagram.size()) return false;
    Check check = check_message(datagram, wire_length);
    if (check == Check::kGood) return true;
    // A cut datagram passes when everything captured was consistent and at least 16 bytes,
    // enough for the version and the start of what follows, were captured.
    return check == Check::kOutOfData && datagram.size() < wire_length && datagram.size() >= 16;
}

std::unique_ptr<Detector> make_snmp_detector() { return std::make_unique<SnmpDetector>(); }

}  // namespace pw::detect
