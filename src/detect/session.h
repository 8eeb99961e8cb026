#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "decode/packet.h"
#include "detect/protocols.h"

namespace pw::detect {

enum class Transport : uint8_t { kTcp, kUdp, kIcmp, kIcmpv6, kIgmp, kOther };

Transport transport_of(uint8_t ip_protocol);

// Per-flow state a detector keeps between calls. Each detector derives its own.
struct DetectorState {
    virtual ~DetectorState() = default;

    // Each inspected flow creates and frees a dozen states: freed states are kept for
    // reuse, per thread and by size, which costs far less than the heap's own free.
    // NOTE: the memory is aligned to 16 bytes, so a state must not need more.
    static void* operator new(size_t size);
    static void operator delete(void* state, size_t size);
};

// A flow that a control connection announced, such as an FTP data connection.
struct ExpectedFlow {
    decode::IpAddress client;  // the side that will open the flow
    decode::IpAddress server;  // the side that will accept it
    uint16_t client_port = 0;  // 0: any port
    uint16_t server_port = 0;  // 0: any port
    uint8_t ip_protocol = decode::ip_protocol::kTcp;
    ProtocolId protocol = ProtocolId::kNone;  // what the new flow is given at once
};

// The maximum number of protocols a flow records; real encapsulations are far shallower.
inline constexpr size_t kMaxProtocolsPerFlow = 12;

// What the detectors see of one flow: its endpoints and the protocols found so far, with
// the means to report new ones. The pipeline owns one per inspected flow.
class Session {
  public:
    Session(Transport transport, const decode::IpAddress& initiator, uint16_t initiator_port,
            const decode::IpAddress& responder, uint16_t responder_port);

    Transport transport() const { return transport_; }
    const decode::IpAddress& initiator() const { return initiator_; }
    const decode::IpAddress& responder() const { return responder_; }
    uint16_t initiator_port() const { return initiator_port_; }
    uint16_t responder_port() const { return responder_port_; }
    // Swaps the initiator and the responder, and the direction of each skip, when the flow
    // turns out to have been started by the other end. Detector states are kept as they are,
    // so a detector that stores a direction of its own would see it reversed.
    void reverse();

    // Records `id` for the flow; a protocol already recorded is not added twice.
    void add(ProtocolId id);
    bool has(ProtocolId id) const;
    std::span<const ProtocolId> protocols() const { return {protocols_.data(), count_}; }

    // True once an application protocol (not a content type) has been recorded.
    bool classified() const { return classified_; }

    // True when the flow was first seen without its start (a TCP connection without its
    // handshake): its first bytes need not be the first message of its protocol.
    bool mid_stream() const { return mid_stream_; }
    void set_mid_stream(bool mid_stream) { mid_stream_ = mid_stream; }

    // Declares that the bytes after the current segment carry another protocol (a SOCKS
    // proxy's tunnel, an HTTP CONNECT): every detector inspects the flow again from the
    // next segment, and the flow counts as unclassified until one of them recognizes it.
    void open_inner_layer() {
        inner_layer_opened_ = true;
        classified_ = false;
    }
    // The same, when the current segment itself is the first of the other protocol (a
    // client that stops speaking HTTP after an answered request): the detectors see it
    // again.
    void open_inner_layer_here() {
        open_inner_layer();
        inner_layer_here_ = true;
    }
    // Returns true once after open_inner_layer(); the pipeline uses it to reset inspection.
    bool take_inner_layer() { return std::exchange(inner_layer_opened_, false); }
    // Returns true once after open_inner_layer_here().
    bool take_inner_layer_here() { return std::exchange(inner_layer_here_, false); }

    // Announces a flow that this one will cause (an FTP data connection, say).
    void expect(const ExpectedFlow& flow) { expected_.push_back(flow); }
    std::vector<ExpectedFlow> take_expected() { return std::move(expected_); }

    // Tells the pipeline that the detector in `slot` has no use for the bytes of one
    // direction of a TCP stream before stream offset `until` (the rest of a body whose
    // content is identified, say). Segments that end by then are not handed to it; one that
    // starts before `until` and ends after it is handed over whole.
    void skip_until(size_t slot, bool from_initiator, uint64_t until);
    // True when the detector in `slot` asked to skip a segment of that direction ending at
    // stream offset `end`.
    bool skips(size_t slot, bool from_initiator, uint64_t end) const;
    void clear_skips() { skips_.clear(); }

    // Returns the state of the detector in `slot`, creating it on first use.
    template <class State>
    State& state(size_t slot) {
        // Room for every registered detector at once rather than growing five times.
        if (states_.empty()) states_.reserve(kStateSlotsReserved);
        if (slot >= states_.size()) states_.resize(slot + 1);
        if (!states_[slot]) states_[slot] = std::make_unique<State>();
        return static_cast<State&>(*states_[slot]);
    }
    // Returns the state of the detector in `slot`, or nullptr when it has made none.
    template <class State>
    State* find_state(size_t slot) {
        if (slot >= states_.size() || !states_[slot]) return nullptr;
        return static_cast<State*>(states_[slot].get());
    }
    // Frees the state of the detector in `slot`, once it has no more use for it.
    void drop_state(size_t slot) {
        if (slot < states_.size()) states_[slot].reset();
    }

  private:
    Transport transport_;
    decode::IpAddress initiator_;
    decode::IpAddress responder_;
    uint16_t initiator_port_;
    uint16_t responder_port_;
    bool classified_ = false;
    bool mid_stream_ = false;
    bool inner_layer_opened_ = false;
    bool inner_layer_here_ = false;
    uint8_t count_ = 0;
    std::array<ProtocolId, kMaxProtocolsPerFlow> protocols_{};
    std::vector<ExpectedFlow> expected_;
    struct Skip {
        size_t slot;
        bool from_initiator;
        uint64_t until;
    };
    std::vector<Skip> skips_;                          // at most one per detector and direction
    static constexpr size_t kStateSlotsReserved = 40;  // more than the detectors registered
    std::vector<std::unique_ptr<DetectorState>> states_;
};

}  // namespace pw::detect
