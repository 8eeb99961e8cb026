#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "detect/detector.h"

namespace pw::detect {

std::unique_ptr<Detector> make_bittorrent_detector();

// True when `datagram` is exactly one bencoded KRPC message of the DHT (BEP 5): a
// dictionary with a transaction id "t" and a type "y" of "q" (with "q" and "a"), "r" (with
// "r") or "e" (with "e").
bool is_dht_message(std::span<const uint8_t> datagram);

// The header of a uTP packet (BEP 29).
struct UtpHeader {
    uint8_t type = 0;  // ST_DATA 0, ST_FIN 1, ST_STATE 2, ST_RESET 3, ST_SYN 4
    uint16_t connection_id = 0;
    uint32_t timestamp_us = 0;
    uint32_t window = 0;
    uint16_t seq_nr = 0;
    uint16_t ack_nr = 0;
};

// Parses a uTP packet: version 1, a known type, a well-formed extension chain, no payload
// for the types that carry none, and a receive window of plausible size.
std::optional<UtpHeader> parse_utp(std::span<const uint8_t> datagram);

}  // namespace pw::detect
