// The PPTP control connection (RFC 2637, TCP port 1723). Every control message starts with
// its length, the message type, the magic cookie 0x1A2B3C4D and the control message type,
// and each of the fifteen control message types has a fixed length.

#include "detect/pptp.h"

#include <array>

namespace pw::detect {
namespace {

constexpr uint32_t kMagicCookie = 0x1A2B3C4D;
constexpr size_t kMinHeader = 12;

// Lengths of the control messages of RFC 2637 section 2, indexed by control message type:
// Start-Control-Connection-Request and -Reply, Stop-Control-Connection-Request and -Reply,
// Echo-Request and -Reply, Outgoing-Call-Request and -Reply, Incoming-Call-Request, -Reply
// and -Connected, Call-Clear-Request, Call-Disconnect-Notify, WAN-Error-Notify and
// Set-Link-Info.
constexpr std::array<uint16_t, 16> kLengths = {0,  156, 156, 16, 16, 16,  20, 168,
                                               32, 220, 24,  28, 16, 148, 40, 24};

uint16_t read_be16(std::span<const uint8_t> data, size_t at) {
    return static_cast<uint16_t>(data[at] << 8 | data[at + 1]);
}

class PptpDetector final : public Detector {
public:
    std::string_view name() const override { return "pptp"; }
    bool wants(Transport transport) const override { return transport == Transport::kTcp; }

    Verdict inspect(Session& session, const Segment& segment) override {
        if (!is_pptp_control_message(segment.data)) return Verdict::kNotMine;
        session.add(ProtocolId::PPTP);
        return Verdict::kDone;
    }
};

}  // namespace

bool is_pptp_control_message(std::span<const uint8_t> data) {
    if (data.size() < kMinHeader) return false;
    uint16_t length = read_be16(data, 0);
    uint16_t message_type = read_be16(data, 2);
    uint32_t cookie = uint32_t{read_be16(data, 4)} << 16 | read_be16(data, 6);
    uint16_t control_type = read_be16(data, 8);
    uint16_t reserved = read_be16(data, 10);
    if (message_type != 1 || cookie != kMagicCookie || reserved != 0) return false;
    if (control_type == 0 || control_type >= kLengths.size()) return false;
    return length == kLengths[control_type];
}

std::unique_ptr<Detector> make_pptp_detector() { return std::make_unique<PptpDetector>(); }

}  // namespace pw::detect
