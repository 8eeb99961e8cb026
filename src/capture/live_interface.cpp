#include "capture/live_interface.h"

#include <fmt/core.h>
#include <spdlog/spdlog.h>

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
            return fmt::format(
                "interface '{}': permission denied; run as root or with CAP_NET_RAW", name);
        case PCAP_ERROR_IFACE_NOT_UP:
            return fmt::format("interface '{}' is not up", name);
        default:
            return fmt::format("interface '{}': cannot be opened: {}", name,
                               pcap_geterr(handle));
    }
}

}  // namespace

LiveInterface::LiveInterface(const std::string& name, const LiveOptions& options)
    : name_(name) {
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
    if (options.immediate) {
        pcap_set_immediate_mode(handle_, 1);
    } else {
        pcap_set_timeout(handle_, options.timeout_ms);
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

    if (!options.filter.empty()) {
        bpf_program program{};
        if (pcap_compile(handle_, &program, options.filter.c_str(), 1,
                         PCAP_NETMASK_UNKNOWN) != 0) {
            std::string message = fmt::format("invalid --filter '{}': {}", options.filter,
                                              pcap_geterr(handle_));
            pcap_close(handle_);
            throw std::invalid_argument(message);
        }
        int set = pcap_setfilter(handle_, &program);
        pcap_freecode(&program);
        if (set != 0) {
            std::string message = handle_error(handle_, name, "setting the filter");
            pcap_close(handle_);
            throw CaptureError(message);
        }
    }
    if (pcap_setnonblock(handle_, 1, error) != 0) {
        pcap_close(handle_);
        throw CaptureError(fmt::format("interface '{}': non-blocking mode failed: {}", name,
                                       error));
    }
    descriptor_ = pcap_get_selectable_fd(handle_);
    linktype_ = pcap_datalink(handle_);
}

LiveInterface::~LiveInterface() {
    if (handle_ != nullptr) pcap_close(handle_);
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
