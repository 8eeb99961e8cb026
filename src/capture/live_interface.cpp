#include "capture/live_interface.h"

#include <fmt/core.h>
#include <net/if.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <system_error>
#include <thread>

#include "capture/live_fanout.h"

namespace pw::capture {
namespace {

std::string handle_error(pcap_t* handle, const std::string& name, const char* step) {
    return fmt::format("interface '{}': {} failed: {}", name, step, pcap_geterr(handle));
}

// Returns why pcap_activate failed, in words an operator can act on.
std::string activate_error(pcap_t* handle, const std::string& name, int status) {
    switch (status) {
        case PCAP_ERROR_NO_SUCH_DEVICE:
            return fmt::format("interface '{}' does not exist (see `ip link`)", name);
        case PCAP_ERROR_PERM_DENIED:
            return fmt::format("interface '{}': permission denied; run as root or with CAP_NET_RAW",
                               name);
        case PCAP_ERROR_IFACE_NOT_UP:
            return fmt::format("interface '{}' is not up", name);
        default:
            return fmt::format("interface '{}': cannot be opened: {}", name, pcap_geterr(handle));
    }
}

}  // namespace

LiveInterface::LiveInterface(const std::string& name, const LiveOptions& options, bool held)
    : name_(name), options_(options) {
    char error[PCAP_ERRBUF_SIZE] = {};
    handle_ = pcap_create(name.c_str(), error);
    if (handle_ == nullptr) {
        throw CaptureError(fmt::format("interface '{}': cannot be opened: {}", name, error));
    }
    // On Linux, libpcap captures through a memory-mapped TPACKET ring whose size is the
    // buffer size.
    pcap_set_buffer_size(handle_, options.buffer_size);
    pcap_set_snaplen(handle_, options.snapshot_length);
    pcap_set_promisc(handle_, 0);
    if (options.per_packet) {
        pcap_set_immediate_mode(handle_, 1);
    } else {
        pcap_set_timeout(handle_, options.block_timeout_ms());
    }
    int status = pcap_activate(handle_);
    if (status < 0) {
        std::string message = activate_error(handle_, name, status);
        pcap_close(handle_);
        throw CaptureError(message);
    }
    if (status > 0) {
        // A warning (PCAP_WARNING_*) still gives a working handle.
        spdlog::warn("interface '{}': {}", name, pcap_statustostr(status));
    }
    if (pcap_setnonblock(handle_, 1, error) != 0) {
        pcap_close(handle_);
        throw CaptureError(
            fmt::format("interface '{}': non-blocking mode failed: {}", name, error));
    }
    descriptor_ = pcap_get_selectable_fd(handle_);
    linktype_ = pcap_datalink(handle_);

    try {
        if (held) {
            // The socket took every packet since its activation; it takes none from now on.
            // release() discards the ones it holds.
            bpf_insn reject_all{BPF_RET | BPF_K, 0, 0, 0};
            bpf_program program{1, &reject_all};
            if (pcap_setfilter(handle_, &program) != 0) {
                throw CaptureError(handle_error(handle_, name, "holding packets back"));
            }
        } else if (!options.filter.empty()) {
            install_filter(options.filter);
        }
    } catch (...) {
        pcap_close(handle_);
        handle_ = nullptr;
        throw;
    }
}

void LiveInterface::install_filter(const std::string& expression) {
    bpf_program program{};
    if (pcap_compile(handle_, &program, expression.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
        throw std::invalid_argument(
            fmt::format("invalid --filter '{}': {}", expression, pcap_geterr(handle_)));
    }
    int set = pcap_setfilter(handle_, &program);
    pcap_freecode(&program);
    if (set != 0) throw CaptureError(handle_error(handle_, name_, "setting the filter"));
}

void LiveInterface::discard_waiting_packets() {
    // Under the reject-all filter libpcap filters the packets in the ring in user space, so a
    // read consumes them without passing any on.
    auto ignore = [](u_char*, const pcap_pkthdr*, const u_char*) {};
    if (pcap_dispatch(handle_, -1, ignore, nullptr) == PCAP_ERROR) {
        throw CaptureError(handle_error(handle_, name_, "reading"));
    }
}

void LiveInterface::release() {
    // Every packet in the ring now arrived before the handle was held, so a copy of it
    // reached every other member too.
    discard_waiting_packets();
    // An empty expression compiles to a program that accepts every packet.
    install_filter(options_.filter);
}

LiveInterface::~LiveInterface() {
    if (handle_ != nullptr) pcap_close(handle_);
}

std::vector<std::unique_ptr<LiveInterface>> open_fanout_handles(const std::string& name,
                                                                const LiveOptions& options,
                                                                unsigned members) {
    std::vector<std::unique_ptr<LiveInterface>> handles;
    if (members <= 1) {
        handles.push_back(std::make_unique<LiveInterface>(name, options));
        return handles;
    }
    // 1. Every member opens held, so that no socket takes packets on its own while the
    //    others are still outside the group. 2. They join the group in member order, the
    //    first creating it. 3. Each starts filtering.
    for (unsigned i = 0; i < members; ++i) {
        handles.push_back(std::make_unique<LiveInterface>(name, options, true));
    }
    try {
        uint16_t group = create_fanout_group(handles[0]->descriptor(), members);
        for (unsigned i = 1; i < members; ++i) {
            join_fanout_group(handles[i]->descriptor(), group);
        }
        spdlog::debug("interface '{}': fanout group {} of {} sockets", name, group, members);
    } catch (const std::system_error& error) {
        throw CaptureError(fmt::format("interface '{}': {}", name, error.what()));
    }
    // The block being filled is not readable until the kernel hands it over after the block
    // timeout, so wait for that before discarding.
    std::this_thread::sleep_for(options.handover_wait());
    for (auto& handle : handles) handle->release();
    return handles;
}

int LiveInterface::dispatch(const FileReader::Visit& visit) {
    struct Context {
        const FileReader::Visit* visit;
        int linktype;
    } context{&visit, linktype_};
    auto callback = [](u_char* user, const pcap_pkthdr* header, const u_char* bytes) {
        auto* ctx = reinterpret_cast<Context*>(user);
        Frame frame;
        frame.linktype = ctx->linktype;
        frame.data = {bytes, header->caplen};
        frame.wire_length = header->len;
        frame.time_us = static_cast<int64_t>(header->ts.tv_sec) * 1'000'000 + header->ts.tv_usec;
        (*ctx->visit)(frame);
    };
    int count = pcap_dispatch(handle_, -1, callback, reinterpret_cast<u_char*>(&context));
    if (count == PCAP_ERROR) throw CaptureError(handle_error(handle_, name_, "reading"));
    return count < 0 ? 0 : count;
}

std::string LiveInterface::failure_cause() const {
    int descriptor = pcap_fileno(handle_);
    int error = 0;
    socklen_t length = sizeof error;
    if (getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &error, &length) == 0 && error != 0) {
        return std::strerror(error);
    }
    if (name_ == "any") return {};
    if (if_nametoindex(name_.c_str()) == 0) return "the interface disappeared";
    ifreq request{};
    std::strncpy(request.ifr_name, name_.c_str(), IFNAMSIZ - 1);
    if (ioctl(descriptor, SIOCGIFFLAGS, &request) == 0 && (request.ifr_flags & IFF_UP) == 0) {
        return "the interface went down";
    }
    return {};
}

LiveStats LiveInterface::stats() const {
    pcap_stat raw{};
    LiveStats result;
    if (pcap_stats(handle_, &raw) != 0) return result;
    result.received = raw.ps_recv;
    result.kernel_drops = raw.ps_drop;
    result.interface_drops = raw.ps_ifdrop;
    return result;
}

}  // namespace pw::capture
