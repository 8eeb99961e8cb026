#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "decode/packet.h"
#include "detect/session.h"

namespace pw::detect {

// Application data handed to the detectors. For TCP it is the next in-order piece of one
// direction's reassembled stream; for other transports it is one datagram's payload.
struct Segment {
    std::span<const uint8_t> data;
    bool from_initiator = true;
    // Offset of data[0] in its direction's stream (TCP), or the number of datagrams seen
    // before this one in that direction (other transports).
    uint64_t offset = 0;
    // The packet that delivered the data: its headers (ICMP type, TCP flags, ports).
    const decode::Packet* packet = nullptr;
};

enum class Verdict : uint8_t {
    kContinue,  // call again with the flow's next segment
    kNotMine,   // the flow is not this detector's: never call it again for this flow
    kDone,      // the detector has found all it looks for: never call it again
};

// A detector identifies one protocol family by content. The pipeline calls it with each
// segment of a flow that carries data, in order, until it returns kNotMine or kDone.
// Once the flow is classified (an application protocol recorded), only detectors whose
// keeps_inspecting() is true are called any more, and each of those must itself return
// kNotMine for a flow another detector classified. Segments without data are not passed,
// nor TCP segments that a detector asked to skip (Session::skip_until()).
class Detector {
public:
    virtual ~Detector() = default;

    virtual std::string_view name() const = 0;

    // True for transports the detector inspects.
    virtual bool wants(Transport transport) const = 0;

    virtual Verdict inspect(Session& session, const Segment& segment) = 0;

    // True when the detector should keep seeing a flow that is already classified because
    // it recorded one of the flow's protocols itself (to find content types in transfers,
    // or a protocol carried inside, within its own bound).
    virtual bool keeps_inspecting() const { return false; }

    // Called once when the flow ends, for a detector that had not returned kNotMine or
    // kDone, so that it can report what it holds (the head of a short transfer, say).
    virtual void finish(Session& /*session*/) {}

    // Set by the registry: the detector's index, used as its state slot in a Session.
    size_t slot = 0;
};

// Segments with data that an unclassified flow hands to its detectors before inspection
// stops (nDPI's default bound is of the same order).
inline constexpr uint32_t kMaxSegmentsUnclassified = 32;
// The bound of an unclassified flow seen from its middle while only one direction has sent
// data. A capture that starts during a long download contains the server's body alone, and
// the client's next request may come a download later. 4096 full-sized segments are about
// 6 MB.
inline constexpr uint32_t kMaxSegmentsOneSided = 4096;
// Segments of a classified flow handed to the detectors that keep inspecting it before
// inspection stops. Segments skipped at their request (Session::skip_until()) do not count.
inline constexpr uint32_t kMaxSegmentsClassified = 4096;

// Creates every detector, in the order the pipeline consults them.
std::vector<std::unique_ptr<Detector>> make_detectors();

}  // namespace pw::detect
