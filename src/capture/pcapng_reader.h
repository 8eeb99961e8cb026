#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace pw::capture {

// A minimal pcapng reader for what libpcap does not read: files whose interfaces have
// different link types (libpcap 1.10 rejects those). It reads section headers, interface
// descriptions (link type, timestamp resolution) and enhanced, simple and obsolete packet
// blocks, and skips every other block.
class PcapngReader {
  public:
    struct Packet {
        int linktype = 0;
        const uint8_t* data = nullptr;
        uint32_t captured = 0;
        uint32_t wire_length = 0;
        int64_t time_us = 0;
    };

    // Opens `path`; returns false with `error` set when it is not a readable pcapng file.
    bool open(const std::string& path, std::string& error);
    // Reads the pcapng data of `stream` from its start, without seeking, so that standard
    // input and pipes can be read. The reader does not close `stream`.
    bool open_stream(FILE* stream, std::string& error);
    ~PcapngReader();
    PcapngReader() = default;
    PcapngReader(const PcapngReader&) = delete;
    PcapngReader& operator=(const PcapngReader&) = delete;

    // Reads the next packet. Returns 1 for a packet, 0 at the end of the file, -1 on
    // damage (with `error` set).
    int next(Packet& packet, std::string& error);

    long position() const;

  private:
    struct Interface {
        int linktype = 0;
        uint64_t ticks_per_second = 1'000'000;
        int64_t offset_seconds = 0;
    };

    bool read_block(uint32_t& type, std::string& error);
    // Reads up to `size` bytes, the pending ones first; returns how many it read.
    size_t read_bytes(uint8_t* out, size_t size);
    uint32_t u32(const uint8_t* p) const;
    uint16_t u16(const uint8_t* p) const;
    // Adds the interface a block describes. Returns false, with `error` set, for an
    // interface whose timestamps cannot be read.
    bool parse_interface(const std::vector<uint8_t>& body, std::string& error);
    int64_t to_micros(const Interface& interface, uint64_t timestamp) const;

    FILE* file_ = nullptr;
    bool owns_file_ = false;
    // Bytes of the stream already read that come before the rest of it.
    std::vector<uint8_t> pending_;
    size_t pending_at_ = 0;
    bool swapped_ = false;
    std::vector<uint8_t> block_;  // the body of the current block
    std::vector<Interface> interfaces_;
};

}  // namespace pw::capture
