#include "process/namespace_socket.h"

#include <fcntl.h>
#include <linux/netlink.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <system_error>
#include <thread>

namespace pw::process {

host::NetlinkSocket open_netlink_in(const std::string& path, int protocol, uint32_t groups) {
    int descriptor = -1;
    int error = 0;
    const char* step = "";
    std::thread worker([&] {
        int ns = open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (ns < 0) {
            error = errno;
            step = "opening the network namespace";
            return;
        }
        if (setns(ns, CLONE_NEWNET) != 0) {
            error = errno;
            step = "entering the network namespace (setns)";
            close(ns);
            return;
        }
        close(ns);
        descriptor = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
        if (descriptor < 0) {
            error = errno;
            step = protocol == NETLINK_SOCK_DIAG ? "opening sock_diag in the network namespace"
                                                 : "opening rtnetlink in the network namespace";
            return;
        }
        sockaddr_nl address{};
        address.nl_family = AF_NETLINK;
        address.nl_groups = groups;
        if (groups != 0 &&
            bind(descriptor, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
            error = errno;
            step = "subscribing to netlink notifications in the network namespace";
            close(descriptor);
            descriptor = -1;
        }
    });
    worker.join();
    if (descriptor < 0) {
        throw std::system_error(error, std::generic_category(),
                                std::string(step) + " " + path);
    }
    return host::NetlinkSocket::adopt(descriptor);
}

}  // namespace pw::process
