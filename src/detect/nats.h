#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "detect/detector.h"

namespace pw::detect {

std::unique_ptr<Detector> make_nats_detector();

enum class NatsLine : uint8_t {
    kNone,          // not NATS
    kInconclusive,  // PING, PONG or +OK, too common to decide on, or a PUB or MSG line
                    // whose payload is not all in `data`
    kMessage,       // INFO or CONNECT with their JSON object, or PUB, HPUB, MSG, HMSG with
                    // their payload of the announced size
};

// Classifies the protocol line at the start of `data`.
NatsLine classify_nats(std::span<const uint8_t> data);

}  // namespace pw::detect
