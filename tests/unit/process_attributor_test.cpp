// Process attribution of a connection between two network namespaces of this machine: a
// client in ours, a server in a namespace of the test's own behind a veth pair. Needs root
// and `ip`; skipped otherwise.

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <thread>

#include "process/attributor.h"

namespace pw::process {
namespace {

bool run(const std::string& command) {
    return std::system((command + " >/dev/null 2>&1").c_str()) == 0;
}

decode::IpAddress address_of(const std::string& text) {
    in_addr parsed{};
    inet_pton(AF_INET, text.c_str(), &parsed);
    return decode::IpAddress::v4(reinterpret_cast<const uint8_t*>(&parsed.s_addr));
}

uint16_t local_port(int descriptor) {
    sockaddr_in address{};
    socklen_t length = sizeof address;
    getsockname(descriptor, reinterpret_cast<sockaddr*>(&address), &length);
    return ntohs(address.sin_port);
}

class AttributionAcrossNamespaces : public ::testing::Test {
  protected:
    void SetUp() override {
        if (geteuid() != 0) GTEST_SKIP() << "needs root, to make a network namespace";
        if (!run("ip -V")) GTEST_SKIP() << "needs ip (iproute2)";
        const int n = getpid() % 250 + 1;
        ns_ = "pw-attr-" + std::to_string(getpid());
        host_if_ = "pwa" + std::to_string(getpid() % 100000) + "h";
        const std::string ns_if = "pwa" + std::to_string(getpid() % 100000) + "n";
        client_ = "10.204." + std::to_string(n) + ".1";
        server_ = "10.204." + std::to_string(n) + ".2";
        made_ = run("ip netns add " + ns_);
        ASSERT_TRUE(made_) << "ip netns add " << ns_;
        ASSERT_TRUE(
            run("ip link add " + host_if_ + " type veth peer name " + ns_if + " netns " + ns_));
        ASSERT_TRUE(run("ip addr add " + client_ + "/24 dev " + host_if_));
        ASSERT_TRUE(run("ip link set " + host_if_ + " up"));
        ASSERT_TRUE(run("ip -n " + ns_ + " addr add " + server_ + "/24 dev " + ns_if));
        ASSERT_TRUE(run("ip -n " + ns_ + " link set " + ns_if + " up"));
        start_server();
    }

    void TearDown() override {
        if (server_pid_ > 0) {
            close(release_);
            waitpid(server_pid_, nullptr, 0);
        }
        if (made_) {
            run("ip link del " + host_if_);
            run("ip netns del " + ns_);
        }
        if (!second_ns_.empty()) run("ip netns del " + second_ns_);
    }

    // Starts a child process in the namespace that accepts connections and keeps them open
    // until the test closes `release_`.
    void start_server() {
        int ready[2];
        int release[2];
        ASSERT_EQ(pipe(ready), 0);
        ASSERT_EQ(pipe(release), 0);
        server_pid_ = fork();
        ASSERT_GE(server_pid_, 0);
        if (server_pid_ == 0) {
            close(ready[0]);
            close(release[1]);
            const int ns = open(("/run/netns/" + ns_).c_str(), O_RDONLY);
            if (ns < 0 || setns(ns, CLONE_NEWNET) != 0) _exit(2);
            const int listener = socket(AF_INET, SOCK_STREAM, 0);
            sockaddr_in address{};
            address.sin_family = AF_INET;
            inet_pton(AF_INET, server_.c_str(), &address.sin_addr);
            if (bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
                listen(listener, 4) != 0) {
                _exit(3);
            }
            const uint16_t port = local_port(listener);
            if (write(ready[1], &port, sizeof port) != sizeof port) _exit(4);
            // Accepts until the test closes `release`, keeping every connection open.
            for (;;) {
                pollfd watch[] = {{listener, POLLIN, 0}, {release[0], POLLIN, 0}};
                if (poll(watch, 2, -1) < 0) _exit(5);
                if (watch[1].revents != 0) break;
                if (accept(listener, nullptr, nullptr) < 0) _exit(5);
                const char accepted = 'a';
                if (write(ready[1], &accepted, 1) != 1) _exit(6);
            }
            _exit(0);
        }
        close(ready[1]);
        close(release[0]);
        ready_ = ready[0];
        release_ = release[1];
        ASSERT_EQ(read(ready_, &port_, sizeof port_), static_cast<ssize_t>(sizeof port_));
    }

    // Connects from this namespace to the server, from `from` when given, and waits until it
    // accepted.
    int connect_to_server(const std::string& from = {}) {
        const int client = socket(AF_INET, SOCK_STREAM, 0);
        if (!from.empty()) {
            sockaddr_in local{};
            local.sin_family = AF_INET;
            inet_pton(AF_INET, from.c_str(), &local.sin_addr);
            EXPECT_EQ(bind(client, reinterpret_cast<sockaddr*>(&local), sizeof local), 0);
        }
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(port_);
        inet_pton(AF_INET, server_.c_str(), &address.sin_addr);
        EXPECT_EQ(connect(client, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
        char accepted = 0;
        EXPECT_EQ(read(ready_, &accepted, 1), 1);
        return client;
    }

    Connection connection_of(uint16_t client_port, const std::string& from = {}) const {
        return {IPPROTO_TCP, address_of(from.empty() ? client_ : from), client_port,
                address_of(server_), port_};
    }

    std::string ns_;
    std::string second_ns_;  // made by a test, deleted by TearDown()
    std::string host_if_;
    std::string client_;
    std::string server_;
    bool made_ = false;
    pid_t server_pid_ = -1;
    int ready_ = -1;
    int release_ = -1;
    uint16_t port_ = 0;
};

TEST_F(AttributionAcrossNamespaces, ClosedClientIsNotGivenToTheServer) {
    // No socket of the client's address exists when the attributor first lists them, so
    // only the interface's address shows that the initiator is on this machine.
    ProcessAttributor attributor(AttributorOptions{.poll_interval = std::chrono::milliseconds(0)});

    const int closed = connect_to_server();
    const uint16_t closed_port = local_port(closed);
    close(closed);  // the server's socket stays, in CLOSE-WAIT
    const events::Process orphan = attributor.attribute(connection_of(closed_port));
    EXPECT_NE(orphan.pid, server_pid_) << "the server did not make the connection";
    EXPECT_FALSE(orphan.attributed());
    EXPECT_FALSE(orphan.unattributed_reason.empty());

    const int open = connect_to_server();
    const events::Process owner = attributor.attribute(connection_of(local_port(open)));
    EXPECT_EQ(owner.pid, getpid());
    close(open);
}

// A namespace that `ip netns add` made after the attributor enumerated the namespaces is read
// at the first connection from an address that is not known. Here a client in it connects
// to the server's namespace over a veth pair between the two.
TEST_F(AttributionAcrossNamespaces, NewNamedNamespaceIsReadAtOnce) {
    ProcessAttributor attributor(AttributorOptions{.poll_interval = std::chrono::milliseconds(0)});
    second_ns_ = ns_ + "-b";
    const std::string near_if = "pwb" + std::to_string(getpid() % 100000) + "a";
    const std::string far_if = "pwb" + std::to_string(getpid() % 100000) + "b";
    const std::string net = "10.205." + std::to_string(getpid() % 250 + 1);
    ASSERT_TRUE(run("ip netns add " + second_ns_));
    ASSERT_TRUE(run("ip link add " + near_if + " netns " + second_ns_ + " type veth peer name " +
                    far_if + " netns " + ns_));
    ASSERT_TRUE(run("ip -n " + second_ns_ + " addr add " + net + ".1/24 dev " + near_if));
    ASSERT_TRUE(run("ip -n " + second_ns_ + " link set " + near_if + " up"));
    ASSERT_TRUE(run("ip -n " + ns_ + " addr add " + net + ".2/24 dev " + far_if));
    ASSERT_TRUE(run("ip -n " + ns_ + " link set " + far_if + " up"));
    ASSERT_TRUE(run("ip -n " + second_ns_ + " route add " + server_ + " via " + net + ".2"));

    // The client's socket lives in the new namespace: a thread enters it to make it.
    uint16_t client_port = 0;
    std::thread client([&] {
        const int ns = open(("/run/netns/" + second_ns_).c_str(), O_RDONLY);
        ASSERT_GE(ns, 0);
        ASSERT_EQ(setns(ns, CLONE_NEWNET), 0);
        close(ns);
        const int closed = connect_to_server();
        client_port = local_port(closed);
        close(closed);
    });
    client.join();
    ASSERT_NE(client_port, 0);
    const events::Process orphan = attributor.attribute(connection_of(client_port, net + ".1"));
    EXPECT_NE(orphan.pid, server_pid_) << "the server did not make the connection";
    EXPECT_FALSE(orphan.attributed());
}

// An address added after the attributor read the interfaces is known at once, from the
// kernel's notification, however recent the last reading.
TEST_F(AttributionAcrossNamespaces, NewAddressIsKnownAtOnce) {
    ProcessAttributor attributor(AttributorOptions{.poll_interval = std::chrono::milliseconds(0)});
    const std::string added = client_.substr(0, client_.rfind('.')) + ".3";
    ASSERT_TRUE(run("ip addr add " + added + "/24 dev " + host_if_));

    const int closed = connect_to_server(added);
    const uint16_t closed_port = local_port(closed);
    close(closed);
    const events::Process orphan = attributor.attribute(connection_of(closed_port, added));
    EXPECT_NE(orphan.pid, server_pid_) << "the server did not make the connection";
    EXPECT_FALSE(orphan.attributed());
}

}  // namespace
}  // namespace pw::process
