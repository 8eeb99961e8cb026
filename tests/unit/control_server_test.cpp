#include <grp.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "control/client.h"
#include "control/server.h"
#include "store_test_helpers.h"

namespace pw::control {
namespace {

using store::testing::TempDir;

// A server with an echo command for readers, a listing and an admin-only command.
class ControlServerTest : public ::testing::Test {
  protected:
    void SetUp() override { start_server(ServerSettings{}); }

    void start_server(ServerSettings settings) {
        settings.socket_path = dir_.file("control.sock");
        server_.reset();
        server_ = std::make_unique<ControlServer>(settings);
        server_->register_command(
            "echo", Role::kReader, [](const nlohmann::json& args, const Caller& caller, Reply&) {
                return nlohmann::json{
                    {"args", args}, {"uid", caller.peer.uid}, {"role", role_name(caller.role)}};
            });
        server_->register_command("count", Role::kReader,
                                  [](const nlohmann::json&, const Caller&, Reply& reply) {
                                      for (int i = 0; i < 3; ++i) reply.send_item(i);
                                      return nlohmann::json(3);
                                  });
        server_->register_command("fail", Role::kReader, [](auto&, auto&, auto&) -> nlohmann::json {
            throw CommandError("the value 7 is invalid; use 8");
        });
        server_->start();
    }

    // Sends raw bytes and returns the first response line.
    // A new connection to the server, which the caller closes.
    int connect_raw() {
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::strcpy(address.sun_path, server_->socket_path().c_str());
        EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
        return fd;
    }

    // The first line the server sends on `fd`, as JSON.
    static nlohmann::json first_line(int fd) {
        LineReader reader(fd);
        std::string line;
        EXPECT_EQ(reader.next(line), LineReader::Status::kLine);
        return nlohmann::json::parse(line, nullptr, false);
    }

    nlohmann::json raw_request(const std::string& bytes) {
        int fd = connect_raw();
        EXPECT_EQ(send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL),
                  static_cast<ssize_t>(bytes.size()));
        LineReader reader(fd);
        std::string line;
        LineReader::Status status = reader.next(line);
        close(fd);
        EXPECT_EQ(status, LineReader::Status::kLine);
        return nlohmann::json::parse(line, nullptr, false);
    }

    TempDir dir_;
    std::unique_ptr<ControlServer> server_;
};

TEST_F(ControlServerTest, CallReturnsResult) {
    ControlClient client(server_->socket_path());
    nlohmann::json result = client.call("echo", {{"x", 1}});
    EXPECT_EQ(result["args"]["x"], 1);
    EXPECT_EQ(result["uid"], getuid());
    EXPECT_EQ(result["role"], getuid() == 0 ? "admin" : "none");
}

TEST_F(ControlServerTest, ItemsPrecedeResult) {
    if (getuid() != 0) GTEST_SKIP() << "readers only; root is always admin";
    ControlClient client(server_->socket_path());
    std::vector<int> items;
    nlohmann::json result = client.call(
        "count", {}, [&](const nlohmann::json& item) { items.push_back(item.get<int>()); });
    EXPECT_EQ(result, 3);
    EXPECT_EQ(items, (std::vector<int>{0, 1, 2}));
    // The connection serves another call afterwards.
    EXPECT_EQ(client.call("count"), 3);
}

TEST_F(ControlServerTest, HandlerErrorReachesClient) {
    if (getuid() != 0) GTEST_SKIP() << "readers only; root is always admin";
    ControlClient client(server_->socket_path());
    try {
        client.call("fail");
        FAIL() << "the call succeeded";
    } catch (const ClientError& error) {
        EXPECT_EQ(error.code(), kCodeFailed);
        EXPECT_STREQ(error.what(), "the value 7 is invalid; use 8");
    }
}

TEST_F(ControlServerTest, UnknownCommandListsCommands) {
    ControlClient client(server_->socket_path());
    try {
        client.call("reboot");
        FAIL() << "the call succeeded";
    } catch (const ClientError& error) {
        EXPECT_EQ(error.code(), kCodeUnknown);
        EXPECT_NE(std::string(error.what()).find("count, echo, fail"), std::string::npos);
    }
}

TEST_F(ControlServerTest, MalformedLineIsRejected) {
    nlohmann::json response = raw_request("{not json\n");
    EXPECT_EQ(response["ok"], false);
    EXPECT_EQ(response["code"], kCodeInvalid);
    response = raw_request("{\"id\": 4, \"args\": {}}\n");
    EXPECT_EQ(response["id"], 4);
    EXPECT_EQ(response["code"], kCodeInvalid);
    response = raw_request("{\"id\": 5, \"command\": \"echo\", \"args\": []}\n");
    EXPECT_EQ(response["code"], kCodeInvalid);
}

TEST_F(ControlServerTest, DeepNestingIsRejected) {
    std::string id = std::string(200'000, '[') + std::string(200'000, ']');
    nlohmann::json response = raw_request("{\"id\": " + id + ", \"command\": \"echo\"}\n");
    EXPECT_EQ(response["ok"], false);
    EXPECT_EQ(response["code"], kCodeInvalid);
    EXPECT_NE(response["error"].get<std::string>().find("deeper than"), std::string::npos);
}

TEST_F(ControlServerTest, OversizedLineIsRejected) {
    nlohmann::json response = raw_request(std::string(kMaxLineBytes + 10, 'x'));
    EXPECT_EQ(response["ok"], false);
    EXPECT_NE(response["error"].get<std::string>().find("longer than"), std::string::npos);
}

// A client that sends far more than the socket buffers can take may send all of it,
// and then reads the reply instead of a broken pipe.
TEST_F(ControlServerTest, OversizedLineGetsReply) {
    nlohmann::json response = raw_request(std::string(8 * kMaxLineBytes, 'x'));
    EXPECT_EQ(response["ok"], false);
    EXPECT_NE(response["error"].get<std::string>().find("longer than"), std::string::npos);
}

// Connections beyond the limit get a "busy" reply at once instead of waiting unanswered,
// and a connection that sends no whole request in time is closed, so idle or trickling
// clients cannot keep the slots.
TEST_F(ControlServerTest, BusyBeyondTheLimit) {
    ServerSettings settings;
    settings.max_connections = 2;
    settings.per_user_connections = 2;
    settings.root_extra_connections = 0;
    settings.idle_timeout = std::chrono::milliseconds(300);
    start_server(settings);
    int first = connect_raw();
    int second = connect_raw();
    int third = connect_raw();
    nlohmann::json response = first_line(third);
    EXPECT_EQ(response["ok"], false);
    EXPECT_EQ(response["code"], kCodeBusy);
    close(third);

    // The command line shows the same reply, whether or not its request went out first.
    for (int attempt = 0; attempt < 5; ++attempt) {
        try {
            ControlClient busy(server_->socket_path());
            busy.call("echo");
            ADD_FAILURE() << "a client beyond the limit was served";
        } catch (const ClientError& error) {
            EXPECT_EQ(error.code(), kCodeBusy) << error.what();
        }
    }

    // The second trickles a request byte by byte, never ending the line.
    for (int i = 0; i < 6; ++i) {
        send(second, "{", 1, MSG_NOSIGNAL);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    // Past the timeout both get the reason and are closed.
    response = first_line(first);
    EXPECT_EQ(response["code"], kCodeInvalid);
    EXPECT_NE(response["error"].get<std::string>().find("no whole request"), std::string::npos);
    EXPECT_EQ(first_line(second)["code"], kCodeInvalid);
    close(first);
    close(second);

    ControlClient client(server_->socket_path());
    EXPECT_EQ(client.call("echo", {{"x", 2}})["args"]["x"], 2);
}

// Clients that send a request and close at once leave its handler running. Beyond the bound
// on such connections other users get "busy", but root is still served.
TEST_F(ControlServerTest, ClosingConnectionsDoNotKeepRootOut) {
    if (getuid() != 0) GTEST_SKIP() << "needs root, which the bound exempts";
    ServerSettings settings;
    settings.socket_path = dir_.file("control.sock");
    settings.max_closing_connections = 2;
    server_.reset();
    server_ = std::make_unique<ControlServer>(settings);

    // Shared with the handlers, which may still run when the test body has returned.
    auto release = std::make_shared<std::atomic<bool>>(false);
    server_->register_command("wait", Role::kReader, [release](auto&, auto&, auto&) {
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!*release && std::chrono::steady_clock::now() < until) {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        return nlohmann::json(true);
    });
    server_->register_command("echo", Role::kReader, [](auto&, const Caller& caller, auto&) {
        return nlohmann::json{{"uid", caller.peer.uid}};
    });
    server_->start();

    // Three clients send a request and close while its handler runs.
    const std::string request = R"({"id": 1, "command": "wait"})"
                                "\n";
    for (int i = 0; i < 3; ++i) {
        int fd = connect_raw();
        ASSERT_EQ(send(fd, request.data(), request.size(), MSG_NOSIGNAL),
                  static_cast<ssize_t>(request.size()));
        std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the handler starts
        close(fd);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));

    ControlClient root(server_->socket_path());
    EXPECT_EQ(root.call("echo")["uid"], getuid());
    *release = true;
    server_.reset();
}

// Empty lines are no requests: a client that sends one now and then is still closed once
// the idle timeout passes without a request.
TEST_F(ControlServerTest, EmptyLinesDoNotKeepTheSlot) {
    ServerSettings settings;
    settings.idle_timeout = std::chrono::milliseconds(300);
    start_server(settings);
    int idle = connect_raw();
    for (int i = 0; i < 6; ++i) {
        send(idle, "\n", 1, MSG_NOSIGNAL);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    nlohmann::json response = first_line(idle);
    EXPECT_EQ(response["code"], kCodeInvalid);
    EXPECT_NE(response["error"].get<std::string>().find("no whole request"), std::string::npos);
    close(idle);
}

// One user may hold only its share of the slots, and root has slots beyond the bound.
TEST_F(ControlServerTest, SlotsPerUserAndForRoot) {
    ServerSettings settings;
    settings.max_connections = 1;
    settings.per_user_connections = 1;
    settings.root_extra_connections = 1;
    start_server(settings);
    int first = connect_raw();
    int second = connect_raw();
    if (getuid() == 0) {
        // Root is not held to one user's share, and takes the extra slot.
        ControlClient extra(server_->socket_path());
        try {
            extra.call("echo");
            ADD_FAILURE() << "a connection beyond the extra slot was served";
        } catch (const ClientError& error) {
            EXPECT_EQ(error.code(), kCodeBusy) << error.what();
        }
    } else {
        nlohmann::json response = first_line(second);
        EXPECT_EQ(response["code"], kCodeBusy);
        EXPECT_NE(response["error"].get<std::string>().find("the maximum for one user"),
                  std::string::npos);
    }
    close(first);
    close(second);
}

// Sends one echo request on `fd` and returns the reply's "code", or "ok" when it succeeded.
std::string echo_code(int fd) {
    const std::string request = "{\"id\": 1, \"command\": \"echo\"}\n";
    send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    LineReader reader(fd);
    std::string line;
    if (reader.next(line) != LineReader::Status::kLine) return "closed";
    nlohmann::json reply = nlohmann::json::parse(line, nullptr, false);
    if (reply.value("ok", false)) return "ok";
    return reply.value("code", std::string("?"));
}

// The total limit holds for every user, and root, exempt from the per-user limit, has its
// extra slots beyond it and no more.
TEST_F(ControlServerTest, TotalLimitAndRootExtra) {
    ServerSettings settings;
    settings.max_connections = 3;
    settings.per_user_connections = 2;
    settings.root_extra_connections = 1;
    start_server(settings);
    const size_t allowed = getuid() == 0 ? 4 : 2;
    std::vector<int> fds;
    for (size_t i = 0; i < allowed; ++i) {
        fds.push_back(connect_raw());
        std::string code = echo_code(fds.back());
        EXPECT_TRUE(code == "ok" || code == kCodeDenied) << "connection " << i << ": " << code;
    }
    int beyond = connect_raw();
    nlohmann::json response = first_line(beyond);
    EXPECT_EQ(response["code"], kCodeBusy);
    std::string error = response.value("error", "");
    if (getuid() == 0) {
        EXPECT_NE(error.find("serves 4 control connections, the maximum for root"),
                  std::string::npos)
            << error;
    } else {
        EXPECT_NE(error.find("the maximum for one user"), std::string::npos) << error;
    }
    close(beyond);
    for (int fd : fds) close(fd);
}

// A client that closes its connection and connects again at once is served every time, so
// a closed connection stops counting before its thread ends.
TEST_F(ControlServerTest, SequentialUseIsNeverBusy) {
    ServerSettings settings;
    settings.max_connections = 1;
    settings.per_user_connections = 1;
    settings.root_extra_connections = 0;
    start_server(settings);
    for (int attempt = 0; attempt < 500; ++attempt) {
        int fd = connect_raw();
        std::string code = echo_code(fd);
        close(fd);
        ASSERT_TRUE(code == "ok" || code == kCodeDenied) << "attempt " << attempt << ": " << code;
    }
    // The library client does the same through its destructor.
    for (int attempt = 0; attempt < 100; ++attempt) {
        ControlClient client(server_->socket_path());
        try {
            client.call("echo");
        } catch (const ClientError& error) {
            ASSERT_NE(error.code(), kCodeBusy) << "attempt " << attempt << ": " << error.what();
        }
    }
}

// Connects `count` times to `path` as user and group `id` in a child process, sends an echo
// request on each connection and writes each reply line to the pipe `replies`. The child
// keeps its connections open until the pipe `hold` reaches its end. After fork() only
// system calls run, because another thread of this process may hold the allocator's lock.
pid_t connect_as(uid_t id, const std::string& path, int count, const int (&replies)[2],
                 const int (&hold)[2]) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strcpy(address.sun_path, path.c_str());
    const char request[] = "{\"id\": 1, \"command\": \"echo\"}\n";
    pid_t child = fork();
    if (child != 0) return child;
    close(replies[0]);
    close(hold[1]);
    if (setgroups(0, nullptr) != 0 || setresgid(id, id, id) != 0 || setresuid(id, id, id) != 0) {
        _exit(3);
    }
    for (int i = 0; i < count; ++i) {
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) _exit(4);
        send(fd, request, sizeof request - 1, MSG_NOSIGNAL);
        char byte = 0;
        while (read(fd, &byte, 1) == 1) {
            if (write(replies[1], &byte, 1) != 1) _exit(5);
            if (byte == '\n') break;
        }
        if (byte != '\n' && write(replies[1], "closed\n", 7) != 7) _exit(5);
    }
    char ignored = 0;
    while (read(hold[0], &ignored, 1) > 0) {
    }
    _exit(0);
}

// A socket that another user bound first, in a directory that everyone may write, is not
// the agent's: the command line does not send it requests.
TEST(ControlClientPeer, RejectsSocketOfOtherUser) {
    if (getuid() != 0) GTEST_SKIP() << "needs root to listen as another user";
    TempDir dir;
    chmod(dir.path().c_str(), 01777);
    const std::string path = dir.file("control.sock");
    int ready[2];
    ASSERT_EQ(pipe(ready), 0);
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        constexpr uid_t kNobody = 65534;
        if (setgroups(0, nullptr) != 0 || setresgid(kNobody, kNobody, kNobody) != 0 ||
            setresuid(kNobody, kNobody, kNobody) != 0) {
            _exit(3);
        }
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::strcpy(address.sun_path, path.c_str());
        if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) _exit(4);
        chmod(path.c_str(), 0666);
        if (listen(fd, 4) != 0) _exit(5);
        if (write(ready[1], "r", 1) != 1) _exit(6);
        pause();
        _exit(0);
    }
    close(ready[1]);
    char byte = 0;
    ASSERT_EQ(read(ready[0], &byte, 1), 1);
    close(ready[0]);
    try {
        ControlClient client(path);
        ADD_FAILURE() << "connected to another user's socket";
    } catch (const ClientError& error) {
        EXPECT_NE(std::string(error.what()).find("neither root nor you"), std::string::npos)
            << error.what();
    }
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
}

// Another user gets its share of the slots and no more, while root still connects.
TEST_F(ControlServerTest, PerUserLimitForOtherUser) {
    if (getuid() != 0) GTEST_SKIP() << "needs root to connect as another user";
    ServerSettings settings;
    settings.max_connections = 16;
    settings.per_user_connections = 4;
    settings.socket_mode = 0666;
    chmod(dir_.path().c_str(), 0755);
    start_server(settings);
    int replies[2];
    int hold[2];
    ASSERT_EQ(pipe(replies), 0);
    ASSERT_EQ(pipe(hold), 0);
    constexpr uid_t kNobody = 65534;
    pid_t child = connect_as(kNobody, server_->socket_path(), 5, replies, hold);
    ASSERT_GT(child, 0);
    close(replies[1]);
    close(hold[0]);

    LineReader reader(replies[0]);
    std::vector<std::string> codes;
    std::string line;
    for (int i = 0; i < 5 && reader.next(line) == LineReader::Status::kLine; ++i) {
        nlohmann::json reply = nlohmann::json::parse(line, nullptr, false);
        codes.push_back(reply.is_object() ? reply.value("code", std::string("ok")) : line);
    }
    // The echo command needs the reader role, which the user lacks, so the four connections
    // within the share are served with "denied".
    EXPECT_EQ(codes, (std::vector<std::string>{kCodeDenied, kCodeDenied, kCodeDenied,
                                               kCodeDenied, kCodeBusy}));
    // Root is not held to that user's share.
    ControlClient root(server_->socket_path());
    EXPECT_EQ(root.call("echo")["uid"], 0);

    close(hold[1]);
    int status = 0;
    waitpid(child, &status, 0);
    ASSERT_TRUE(WIFEXITED(status)) << status;
    EXPECT_EQ(WEXITSTATUS(status), 0);
    close(replies[0]);
}

TEST_F(ControlServerTest, SocketModeIsGroupOnly) {
    struct stat status {};
    ASSERT_EQ(stat(server_->socket_path().c_str(), &status), 0);
    EXPECT_TRUE(S_ISSOCK(status.st_mode));
    EXPECT_EQ(status.st_mode & 0777, 0660u);
}

TEST_F(ControlServerTest, SecondServerOnSamePathFails) {
    ServerSettings settings;
    settings.socket_path = server_->socket_path();
    ControlServer second(settings);
    EXPECT_THROW(second.start(), std::runtime_error);
}

TEST_F(ControlServerTest, StopRemovesSocket) {
    server_->stop();
    EXPECT_NE(access(dir_.file("control.sock").c_str(), F_OK), 0);
    try {
        ControlClient client(dir_.file("control.sock"));
        FAIL() << "connected to a stopped server";
    } catch (const ClientError& error) {
        EXPECT_NE(std::string(error.what()).find("no agent is running"), std::string::npos);
    }
}

TEST(ControlAccess, RolesFollowGroups) {
    AccessGroups groups{"pw-no-such-admin-group", "pw-no-such-reader-group"};
    PeerCredentials root = resolve_user(0, 0);
    EXPECT_EQ(role_of(root, groups), Role::kAdmin);
    PeerCredentials nobody;
    nobody.uid = 65534;
    nobody.user = "nobody";
    nobody.groups = {65534};
    EXPECT_EQ(role_of(nobody, groups), Role::kNone);
    // A group of the caller grants its role.
    AccessGroups root_readers{"pw-no-such-admin-group", "root"};
    PeerCredentials member;
    member.uid = 4242;
    member.user = "member";
    member.groups = {0};
    EXPECT_EQ(role_of(member, root_readers), Role::kReader);
    std::string message = refusal_message(nobody, groups, "policy.apply", Role::kAdmin);
    EXPECT_NE(message.find("user nobody (uid 65534)"), std::string::npos) << message;
    EXPECT_NE(message.find("group pw-no-such-admin-group"), std::string::npos) << message;
    EXPECT_NE(message.find("does not exist"), std::string::npos) << message;
}

}  // namespace
}  // namespace pw::control
