#include "agent/connection_starts.h"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <system_error>

namespace pw::agent {
namespace {

// TCP segments with SYN and without ACK (a client's first), IPv4 and IPv6 without
// extension headers, and every UDP datagram. In IPv6, byte 6 is the next header and byte
// 53 the TCP flags (40 bytes of header, then offset 13 of TCP).
constexpr const char* kFilter =
    "(tcp and tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn) or "
    "(ip6 and ip6[6] == 6 and ip6[53] & 0x12 == 0x02) or udp";

// How long one poll waits, which bounds how late stop() is seen.
constexpr int kPollTimeoutMs = 200;

// The same for both directions of a pair: the endpoint that sorts first goes first.
uint64_t pair_hash(const decode::Packet& packet) {
    struct Endpoint {
        const decode::IpAddress* address;
        uint16_t port;
    };
    Endpoint a{&packet.source, packet.source_port};
    Endpoint b{&packet.target, packet.target_port};
    auto before = [](const Endpoint& x, const Endpoint& y) {
        const int order = std::memcmp(x.address->bytes.data(), y.address->bytes.data(),
                                      x.address->bytes.size());
        return order < 0 || (order == 0 && x.port < y.port);
    };
    if (before(b, a)) std::swap(a, b);
    uint8_t key[2 * 16 + 2 * 2 + 1];
    std::memcpy(key, a.address->bytes.data(), 16);
    std::memcpy(key + 16, b.address->bytes.data(), 16);
    std::memcpy(key + 32, &a.port, 2);
    std::memcpy(key + 34, &b.port, 2);
    key[36] = packet.ip_protocol;
    return std::hash<std::string_view>{}(
        std::string_view(reinterpret_cast<const char*>(key), sizeof key));
}

}  // namespace

ConnectionStarts::ConnectionStarts() {
    capture::LiveOptions options;
    options.snapshot_length = kSnapshotLength;
    options.buffer_size = kBufferBytes;
    options.per_packet = true;
    options.filter = kFilter;
    try {
        handle_ = std::make_unique<capture::LiveInterface>("any", options);
    } catch (const std::invalid_argument& error) {
        // The filter is fixed, so only a libpcap without IPv6 or 'any' support rejects it.
        throw capture::CaptureError(error.what());
    }
    wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
}

ConnectionStarts::~ConnectionStarts() {
    stop();
    if (wake_fd_ >= 0) close(wake_fd_);
}

void ConnectionStarts::start(process::ProcessAttributor& attributor) {
    if (thread_.joinable()) return;
    attributor_ = &attributor;
    thread_ = std::thread([this] { run(); });
}

void ConnectionStarts::stop() {
    stopping_ = true;
    const uint64_t wake = 1;
    if (write(wake_fd_, &wake, sizeof wake) < 0) {
        spdlog::debug("connection starts: waking the thread failed: {}", std::strerror(errno));
    }
    if (thread_.joinable()) thread_.join();
}

void ConnectionStarts::run() {
    auto visit = [this](const capture::Frame& frame) { look_up(frame); };
    pollfd descriptors[2] = {{handle_->descriptor(), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    while (!stopping_) {
        const int ready = ::poll(descriptors, 2, kPollTimeoutMs);
        if (ready < 0 && errno != EINTR) {
            spdlog::warn("connection starts: poll failed: {}; processes are now looked up at "
                         "connect events only",
                         std::strerror(errno));
            return;
        }
        if (ready <= 0 || descriptors[0].revents == 0) continue;
        try {
            handle_->dispatch(visit);
        } catch (const std::exception& error) {
            // The workers still look every connection up at its connect event.
            spdlog::warn("connection starts: reading failed: {}; processes are now looked up at "
                         "connect events only",
                         error.what());
            return;
        }
    }
}

void ConnectionStarts::look_up(const capture::Frame& frame) {
    if (!decode::Decoder::supports_link_type(frame.linktype)) return;
    decode::Packet& packet = packet_;
    if (decoder_.addresses(frame.linktype, frame.data, frame.wire_length, packet) !=
        decode::DecodeResult::kPacket) {
        return;
    }
    if (packet.ip_protocol != decode::ip_protocol::kTcp &&
        packet.ip_protocol != decode::ip_protocol::kUdp) {
        return;
    }
    const uint64_t pair = pair_hash(packet);
    if (recent_.count(pair) > 0) return;
    // A pair over the rate is not remembered, so that its next packet may still be looked up.
    const auto now = std::chrono::steady_clock::now();
    if (now - second_start_ >= std::chrono::seconds(1)) {
        second_start_ = now;
        lookups_this_second_ = 0;
    }
    if (lookups_this_second_ >= kLookupsPerSecond) return;
    ++lookups_this_second_;
    if (recent_.size() >= kRecentPairs) recent_.clear();
    recent_.insert(pair);
    process::Connection connection;
    connection.ip_protocol = packet.ip_protocol;
    connection.source = packet.source;
    connection.source_port = packet.source_port;
    connection.target = packet.target;
    connection.target_port = packet.target_port;
    attributor_->look_ahead(connection);
}

}  // namespace pw::agent
