// MySQL detection, with packets built from the MySQL client/server protocol documentation
// (Initial Handshake v10, ERR packet, SSLRequest), and a live greeting from mariadbd or
// mysqld when one is installed.

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include "detect/mysql.h"

namespace pw::detect {
namespace {

using namespace std::string_literals;

std::span<const uint8_t> bytes(const std::string& text) {
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

std::string packet(uint8_t sequence, const std::string& body) {
    size_t n = body.size();
    return std::string{static_cast<char>(n & 0xFF), static_cast<char>(n >> 8 & 0xFF),
                       static_cast<char>(n >> 16 & 0xFF), static_cast<char>(sequence)} +
           body;
}

std::string greeting(const std::string& version, const std::string& reserved) {
    std::string body = "\x0a"s + version + '\0';
    body += "\x0b\x00\x00\x00"s;                  // connection id
    body += "abcdefgh"s + '\0';                   // scramble part 1, filler
    body += "\xff\xf7\x21\x02\x00\xff\x81\x15"s;  // capabilities, charset, status, caps
    body += reserved;                             // 10 reserved bytes
    body += "ijklmnopqrst"s + '\0';               // scramble part 2
    body += "mysql_native_password"s + '\0';
    return packet(0, body);
}

std::string mysql8_greeting() { return greeting("8.0.36", std::string(10, '\0')); }

std::string mariadb_greeting() {
    return greeting("5.5.5-10.11.6-MariaDB-0+deb12u1", std::string(6, '\0') + "\x1d\0\0\0"s);
}

std::string error_greeting() {
    return packet(0,
                  "\xff\x6a\x04"
                  "Host '192.0.2.7' is not allowed to connect"s);
}

std::string ssl_request() {
    return packet(1,
                  "\x85\xae\xff\x20"
                  "\x00\x00\x00\x01"
                  "\x21"s +
                      std::string(23, '\0'));
}

std::string handshake_response() {
    return packet(1,
                  "\x85\xa6\xff\x01"
                  "\x00\x00\x00\x01"
                  "\x21"s +
                      std::string(23, '\0') + "root\0"s + "\x14"s + std::string(20, 'x'));
}

struct Flow {
    Session session;
    std::unique_ptr<Detector> detector = make_mysql_detector();
    uint64_t offsets[2] = {0, 0};

    Flow() : session(Transport::kTcp, address(1), 41000, address(2), 3306) {}

    static decode::IpAddress address(uint8_t last) {
        const uint8_t raw[4] = {192, 0, 2, last};
        return decode::IpAddress::v4(raw);
    }

    Verdict send(bool from_client, const std::string& data) {
        uint64_t& offset = offsets[from_client ? 0 : 1];
        Verdict verdict =
            detector->inspect(session, Segment{bytes(data), from_client, offset, nullptr});
        offset += data.size();
        return verdict;
    }
};

TEST(MysqlGreeting, Handshakes) {
    EXPECT_EQ(classify_mysql_greeting(bytes(mysql8_greeting())), MysqlGreeting::kHandshake);
    EXPECT_EQ(classify_mysql_greeting(bytes(mariadb_greeting())), MysqlGreeting::kHandshake);
    EXPECT_EQ(classify_mysql_greeting(bytes(error_greeting())), MysqlGreeting::kError);
}

TEST(MysqlGreeting, InconsistentPackets) {
    std::string g = mysql8_greeting();
    EXPECT_EQ(classify_mysql_greeting(bytes(g + "x")), MysqlGreeting::kNone);
    EXPECT_EQ(classify_mysql_greeting(bytes(g.substr(0, g.size() - 1))), MysqlGreeting::kNone);
    std::string sequence = g;
    sequence[3] = 1;
    EXPECT_EQ(classify_mysql_greeting(bytes(sequence)), MysqlGreeting::kNone);
    std::string protocol9 = g;
    protocol9[4] = 9;
    EXPECT_EQ(classify_mysql_greeting(bytes(protocol9)), MysqlGreeting::kNone);
    EXPECT_EQ(classify_mysql_greeting(bytes(greeting("v8", std::string(10, '\0')))),
              MysqlGreeting::kNone);
    EXPECT_EQ(classify_mysql_greeting(bytes(greeting("8.0", std::string(10, '\x01')))),
              MysqlGreeting::kNone);
    std::string no_filler = g;
    no_filler[4 + 1 + 6 + 1 + 4 + 8] = 'z';
    EXPECT_EQ(classify_mysql_greeting(bytes(no_filler)), MysqlGreeting::kNone);
    EXPECT_EQ(classify_mysql_greeting(bytes(packet(0,
                                                   "\xff\x10\x00"
                                                   "too low code"s))),
              MysqlGreeting::kNone);
    EXPECT_EQ(
        classify_mysql_greeting(bytes(packet(0, "\xff\x6a\x04\x01\x02\x03\x04\x05\x06\x07\x08"s))),
        MysqlGreeting::kNone);
}

TEST(MysqlSslRequest, Recognized) {
    EXPECT_TRUE(is_mysql_ssl_request(bytes(ssl_request())));
    EXPECT_FALSE(is_mysql_ssl_request(bytes(handshake_response())));
    std::string no_ssl = ssl_request();
    no_ssl[5] = 0;  // clears CLIENT_SSL with the rest of the second capability byte
    EXPECT_FALSE(is_mysql_ssl_request(bytes(no_ssl)));
}

TEST(MysqlSslRequest, MariadbExtendedCapabilities) {
    // The mariadb client of Debian 12 with --ssl: CLIENT_MYSQL (bit 0) clear, and its
    // extended capabilities (0x1d) in the last 4 reserved bytes.
    const std::string mariadb = packet(1,
                                       "\x84\xaa\xbf\x00"
                                       "\x00\x00\x00\x01"
                                       "\x21"s +
                                           std::string(19, '\0') + "\x1d\x00\x00\x00"s);
    EXPECT_TRUE(is_mysql_ssl_request(bytes(mariadb)));

    // With CLIENT_MYSQL set, those bytes stay reserved.
    std::string mysql = mariadb;
    mysql[4] = '\x85';
    EXPECT_FALSE(is_mysql_ssl_request(bytes(mysql)));

    // The 19 bytes before them are reserved either way.
    std::string filled = mariadb;
    filled[4 + 9] = 1;
    EXPECT_FALSE(is_mysql_ssl_request(bytes(filled)));
}

TEST(MysqlDetector, GreetingThenLogin) {
    Flow flow;
    EXPECT_EQ(flow.send(false, mysql8_greeting()), Verdict::kContinue);
    EXPECT_TRUE(flow.session.has(ProtocolId::MYSQL));
    EXPECT_EQ(flow.send(true, handshake_response()), Verdict::kDone);
    EXPECT_FALSE(flow.session.take_inner_layer());
}

TEST(MysqlDetector, SslRequestOpensTls) {
    Flow flow;
    EXPECT_EQ(flow.send(false, mysql8_greeting()), Verdict::kContinue);
    EXPECT_EQ(flow.send(true, ssl_request()), Verdict::kDone);
    EXPECT_TRUE(flow.session.take_inner_layer());
    EXPECT_TRUE(flow.session.has(ProtocolId::MYSQL));
}

TEST(MysqlDetector, ErrorGreetingAtStart) {
    Flow flow;
    EXPECT_EQ(flow.send(false, error_greeting()), Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::MYSQL));
}

TEST(MysqlDetector, ErrorPacketMidStream) {
    Flow flow;
    flow.offsets[1] = 500;
    EXPECT_EQ(flow.send(false, error_greeting()), Verdict::kNotMine);
    EXPECT_FALSE(flow.session.has(ProtocolId::MYSQL));
}

TEST(MysqlDetector, OtherClassifiedFlow) {
    Flow flow;
    flow.session.add(ProtocolId::HTTP);
    EXPECT_EQ(flow.send(false, mysql8_greeting()), Verdict::kNotMine);
    EXPECT_FALSE(flow.session.has(ProtocolId::MYSQL));
}

std::string find_server() {
    for (const char* name : {"/usr/sbin/mariadbd", "/usr/sbin/mysqld", "/usr/bin/mariadbd"}) {
        if (std::filesystem::exists(name)) return name;
    }
    return {};
}

// Connects to 127.0.0.1:`port`, retrying while the server starts, and returns the first
// bytes the server sends.
// A TCP port on 127.0.0.1 that nothing listens on now: the kernel's pick for port 0.
uint16_t free_loopback_port() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    uint16_t port = 0;
    if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
        port = ntohs(address.sin_port);
    }
    close(fd);
    return port;
}

// The first bytes the server `child` sends on `port`, or empty if it exits or sends
// nothing within 60 s. Its start can take many seconds while other tests load the machine.
std::string read_greeting(uint16_t port, pid_t child, bool& exited) {
    exited = false;
    for (int attempt = 0; attempt < 600; ++attempt) {
        if (waitpid(child, nullptr, WNOHANG) == child) {
            exited = true;
            return {};
        }
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(port);
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
            char buffer[1024];
            ssize_t n = recv(fd, buffer, sizeof buffer, 0);
            close(fd);
            if (n > 0) return std::string(buffer, static_cast<size_t>(n));
        }
        close(fd);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return {};
}

TEST(MysqlLive, ServerGreeting) {
    std::string server = find_server();
    if (server.empty()) GTEST_SKIP() << "mariadbd or mysqld is not installed";
    std::filesystem::path dir =
        std::filesystem::temp_directory_path() / ("pw-mysql-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir / "data");
    std::string install =
        "mariadb-install-db --no-defaults --auth-root-authentication-method="
        "normal --datadir=" +
        (dir / "data").string() + " --user=root > /dev/null 2>&1";
    if (std::system(install.c_str()) != 0) {
        std::filesystem::remove_all(dir);
        GTEST_SKIP() << "mariadb-install-db failed to create a data directory";
    }

    uint16_t port = free_loopback_port();
    ASSERT_NE(port, 0) << "no free port on 127.0.0.1";
    pid_t child = fork();
    if (child == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        std::string datadir = "--datadir=" + (dir / "data").string();
        std::string socket_path = "--socket=" + (dir / "sock").string();
        std::string port_option = "--port=" + std::to_string(port);
        execl(server.c_str(), server.c_str(), "--no-defaults", datadir.c_str(), socket_path.c_str(),
              port_option.c_str(), "--bind-address=127.0.0.1", "--user=root", "--skip-grant-tables",
              static_cast<char*>(nullptr));
        _exit(127);
    }

    bool exited = false;
    std::string first = read_greeting(port, child, exited);
    if (!exited) {
        kill(child, SIGTERM);
        waitpid(child, nullptr, 0);
    }
    std::filesystem::remove_all(dir);

    ASSERT_FALSE(exited) << server << " exited before it listened on port " << port;
    ASSERT_FALSE(first.empty()) << "no greeting from " << server << " on port " << port
                                << " within 60 s";
    EXPECT_EQ(classify_mysql_greeting(bytes(first)), MysqlGreeting::kHandshake);
}

}  // namespace
}  // namespace pw::detect
