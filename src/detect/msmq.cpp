// MSMQ: the Message Queuing binary reliable messaging protocol ([MS-MQQB]) over TCP (port
// 1801). Every packet starts with a BaseHeader ([MS-MQMQ] 2.2.19.1): VersionNumber 0x10, a
// reserved byte, Flags, the signature "LIOR" (0x524F494C little-endian) and the packet's
// size. The connection opens with an EstablishConnection packet, an internal message.

#include <memory>

#include "detect/detector.h"
#include "detect/le_bytes.h"

namespace pw::detect {
namespace {

constexpr size_t kBaseHeaderSize = 16;
constexpr uint8_t kVersion = 0x10;
constexpr uint32_t kSignature = 0x524F494C;  // "LIOR"
// An internal packet (an EstablishConnection, a ConnectionParameters, a session
// acknowledgment) has at least the base and internal headers.
constexpr size_t kMinPacketSize = kBaseHeaderSize + 4;
// User messages can be up to 4 MB of body plus headers.
constexpr size_t kMaxPacketSize = 4u * 1024 * 1024 + 64 * 1024;

bool is_base_header(std::span<const uint8_t> d) {
    if (d.size() < kBaseHeaderSize) return false;
    if (d[0] != kVersion || bytes::le32(d, 4) != kSignature) return false;
    size_t size = bytes::le32(d, 8);
    return size >= kMinPacketSize && size <= kMaxPacketSize;
}

class MsmqDetector final : public Detector {
  public:
    std::string_view name() const override { return "msmq"; }
    bool wants(Transport t) const override { return t == Transport::kTcp; }

    Verdict inspect(Session& session, const Segment& segment) override {
        if (session.classified() || !is_base_header(segment.data)) return Verdict::kNotMine;
        session.add(ProtocolId::MSMQ);
        return Verdict::kDone;
    }
};

}  // namespace

std::unique_ptr<Detector> make_msmq_detector() { return std::make_unique<MsmqDetector>(); }

}  // namespace pw::detect
