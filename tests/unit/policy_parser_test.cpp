#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <string>

#include "fleet/nats_settings.h"
#include "policy/policy.h"

namespace pw::policy {
namespace {

// Parses `text` expecting a PolicyError; returns it.
PolicyError parse_error(const std::string& text) {
    try {
        parse_policy(text, "test.toml");
    } catch (const PolicyError& error) {
        return error;
    }
    ADD_FAILURE() << "policy was accepted: " << text;
    return PolicyError("", 0, "", "");
}

TEST(PolicyParser, EmptyPolicyHasDefaults) {
    Policy policy = parse_policy("", "test.toml");
    EXPECT_EQ(policy, Policy{});
    EXPECT_TRUE(policy.recording_enabled);
    EXPECT_EQ(policy.protocols.size(), protocol_table().size());
    EXPECT_EQ(policy.statistics_interval_ms, 60'000);
    EXPECT_EQ(policy.max_memory_bytes, 256ULL << 20);
    EXPECT_EQ(policy.admin_group, "protowatch-admin");
    EXPECT_EQ(policy.reader_group, "protowatch-reader");
    EXPECT_TRUE(policy.nats.servers.empty());
    // The agent publishes where `analyze --publish` and `fleet` do by default.
    const fleet::NatsSettings command_line;
    EXPECT_EQ(policy.nats.stream, command_line.stream);
    EXPECT_EQ(policy.nats.subject_prefix, command_line.subject_prefix);
    EXPECT_EQ(policy.nats.max_age_ms, command_line.max_age.count());
    EXPECT_EQ(policy.nats.replicas, command_line.replicas);
}

TEST(PolicyParser, ReadsEveryKey) {
    Policy policy = parse_policy(R"(
[recording]
enabled = false
protocols = ["http", "TLS", 258, "TLS"]
statistics_interval = "30s"

[store]
path = "/srv/pw/events.db"
max_size = "2GiB"
max_age = 86400

[capture]
interfaces = ["eth0", "wlan0"]
buffer_size = "64MiB"
bpf_filter = "not port 22"

[flows]
max_memory = "64MiB"

[access]
admin_group = "netadmins"
reader_group = "soc"

[nats]
servers = ["nats://127.0.0.1:4222", "tls://[::1]:4443"]
creds_file = "/etc/protowatch/fleet.creds"
tls_ca = "/etc/protowatch/ca.pem"
tls_cert = "/etc/protowatch/cert.pem"
tls_key = "/etc/protowatch/key.pem"
stream = "EVENTS"
subject_prefix = "site.berlin"
replicas = 3
max_age = "7d"
)",
                                 "test.toml");
    EXPECT_FALSE(policy.recording_enabled);
    ASSERT_EQ(policy.protocols.size(), 3u);
    EXPECT_EQ(policy.protocols[0], ProtocolId::HTTP);
    EXPECT_EQ(policy.protocols[1], ProtocolId::TLS);
    EXPECT_EQ(policy.protocols[2], ProtocolId::DNS);
    EXPECT_EQ(policy.statistics_interval_ms, 30'000);
    EXPECT_EQ(policy.store_path, "/srv/pw/events.db");
    EXPECT_EQ(policy.store_max_bytes, 2ULL << 30);
    EXPECT_EQ(policy.store_max_age_ms, 86'400'000);
    EXPECT_EQ(policy.interfaces, (std::vector<std::string>{"eth0", "wlan0"}));
    EXPECT_EQ(policy.capture_buffer_bytes, 64ULL << 20);
    EXPECT_EQ(policy.bpf_filter, "not port 22");
    EXPECT_EQ(policy.max_memory_bytes, 64ULL << 20);
    EXPECT_EQ(policy.admin_group, "netadmins");
    EXPECT_EQ(policy.reader_group, "soc");
    EXPECT_EQ(policy.nats.servers.size(), 2u);
    EXPECT_EQ(policy.nats.creds_file, "/etc/protowatch/fleet.creds");
    EXPECT_EQ(policy.nats.tls_key, "/etc/protowatch/key.pem");
    EXPECT_EQ(policy.nats.stream, "EVENTS");
    EXPECT_EQ(policy.nats.subject_prefix, "site.berlin");
    EXPECT_EQ(policy.nats.replicas, 3);
    EXPECT_EQ(policy.nats.max_age_ms, 7 * 86'400'000LL);
}

// Messages show a server URL's password as "***", as every fleet message does.
TEST(PolicyParser, RejectedUrlHidesPassword) {
    for (const char* text : {"[nats]\nservers = [\"nats://agent:S3cret@127.0.0.1\"]\n",
                             "[nats]\nservers = [\"http://agent:S3cret@127.0.0.1\"]\n"}) {
        SCOPED_TRACE(text);
        std::string message = parse_error(text).what();
        EXPECT_EQ(message.find("S3cret"), std::string::npos) << message;
        EXPECT_NE(message.find("agent:***@"), std::string::npos) << message;
    }
}

TEST(PolicyParser, ZeroMemoryBoundMeansNoBound) {
    Policy policy = parse_policy("[flows]\nmax_memory = 0\n", "test.toml");
    EXPECT_EQ(policy.max_memory_bytes, 0u);
}

TEST(PolicyParser, FormatParsesBack) {
    Policy policy;
    policy.recording_enabled = false;
    policy.protocols = {ProtocolId::SSH, ProtocolId::DNS};
    policy.store_max_bytes = 3'456'789;
    policy.store_max_age_ms = 90'000;
    policy.bpf_filter = "tcp port 80 and host 127.0.0.1";
    policy.nats.servers = {"nats://127.0.0.1:4222"};
    policy.nats.nkey_seed_file = "/etc/protowatch/seed";
    EXPECT_EQ(parse_policy(format_policy(policy), "formatted"), policy);
    EXPECT_EQ(parse_policy(format_policy(Policy{}), "formatted"), Policy{});
}

// A TOML integer ends at INT64_MAX, while a size may go to UINT64_MAX.
TEST(PolicyParser, HugeSizeFormatsBack) {
    Policy policy = parse_policy("[flows]\nmax_memory = \"10190798238933130352\"\n", "test.toml");
    EXPECT_EQ(policy.max_memory_bytes, 10190798238933130352ULL);
    EXPECT_EQ(parse_policy(format_policy(policy), "formatted"), policy);
}

TEST(PolicyParser, DiffListsChangedKeys) {
    Policy before;
    Policy after;
    after.recording_enabled = false;
    after.protocols = {ProtocolId::TLS};
    std::vector<PolicyChange> changes = diff_policies(before, after);
    ASSERT_EQ(changes.size(), 2u);
    EXPECT_EQ(changes[0].key, "recording.enabled");
    EXPECT_EQ(changes[0].old_value, "true");
    EXPECT_EQ(changes[0].new_value, "false");
    EXPECT_EQ(changes[1].key, "recording.protocols");
    EXPECT_EQ(changes[1].new_value, "[\"TLS\"]");
    EXPECT_TRUE(diff_policies(before, before).empty());
}

struct ErrorCase {
    const char* name;
    const char* text;
    int line;
    const char* key;
    const char* message_part;
};

// Every rejection names the line and the key at fault.
const ErrorCase kErrorCases[] = {
    {"syntax", "[recording]\nenabled = tru\n", 2, "enabled", "invalid TOML"},
    {"unclosed table", "[recording\n", 1, "[recording", "invalid TOML"},
    {"unknown table", "[recordings]\nenabled = true\n", 1, "recordings", "only the tables"},
    {"top-level key", "enabled = true\n", 1, "enabled", "only the tables"},
    {"table as value", "recording = 5\n", 1, "recording", "expected the table [recording]"},
    {"unknown key", "[recording]\nprotocol = [\"HTTP\"]\n", 2, "recording.protocol",
     "[recording] has the keys enabled, protocols"},
    {"boolean type", "[recording]\nenabled = \"yes\"\n", 2, "recording.enabled",
     "expected true or false, found a string"},
    {"protocols not array", "[recording]\nprotocols = \"HTTP\"\n", 2, "recording.protocols",
     "expected an array"},
    {"unknown protocol", "[recording]\nprotocols = [\n  \"HTTP\",\n  \"HTTPX\",\n]\n", 4,
     "recording.protocols", "unknown protocol 'HTTPX'"},
    {"unknown protocol id", "[recording]\nprotocols = [9999]\n", 2, "recording.protocols",
     "unknown protocol '9999'"},
    {"protocol type", "[recording]\nprotocols = [true]\n", 2, "recording.protocols",
     "expected a protocol name or id, found a boolean"},
    {"interval unit", "[recording]\nstatistics_interval = \"5 parsecs\"\n", 2,
     "recording.statistics_interval", "invalid duration '5 parsecs'"},
    {"interval range", "[recording]\nstatistics_interval = \"2d\"\n", 2,
     "recording.statistics_interval", "out of range"},
    {"negative duration", "[store]\nmax_age = -5\n", 2, "store.max_age", "invalid duration -5"},
    {"size", "[store]\nmax_size = \"lots\"\n", 2, "store.max_size", "invalid size 'lots'"},
    {"size type", "[store]\nmax_size = 1.5\n", 2, "store.max_size",
     "invalid size (a floating-point number)"},
    {"relative path", "[store]\npath = \"events.db\"\n", 2, "store.path", "not absolute"},
    {"buffer range", "[capture]\nbuffer_size = \"4KiB\"\n", 2, "capture.buffer_size",
     "out of range"},
    {"memory bound too small", "[flows]\nmax_memory = \"64KiB\"\n", 2, "flows.max_memory",
     "below 1MiB"},
    {"memory bound", "[flows]\nmax_memory = \"plenty\"\n", 2, "flows.max_memory", "invalid size"},
    {"interface name", "[capture]\ninterfaces = [\"eth0\", \"a/b\"]\n", 2, "capture.interfaces",
     "invalid interface name 'a/b'"},
    {"interface length", "[capture]\ninterfaces = [\"abcdefghijklmnop\"]\n", 2,
     "capture.interfaces", "invalid interface name"},
    {"bpf filter", "[capture]\nbpf_filter = \"tcp port banana\"\n", 2, "capture.bpf_filter",
     "invalid BPF filter"},
    {"group name", "[access]\nadmin_group = \"-x\"\n", 2, "access.admin_group",
     "invalid group name"},
    {"group type", "[access]\nreader_group = 5\n", 2, "access.reader_group",
     "expected a string, found a integer"},
    {"nats scheme", "[nats]\nservers = [\"http://127.0.0.1\"]\n", 2, "nats.servers",
     "invalid server URL"},
    {"nats credentials", "[nats]\nservers = [\"nats://u:p@127.0.0.1\"]\n", 2, "nats.servers",
     "contains credentials"},
    {"nats host", "[nats]\nservers = [\"nats://:4222\"]\n", 2, "nats.servers", "has no host"},
    {"store size", "[store]\nmax_size = \"1000\"\n", 2, "store.max_size", "below 1MiB"},
    {"store age", "[store]\nmax_age = \"30s\"\n", 2, "store.max_age", "below 1m"},
    {"nats port", "[nats]\nservers = [\"nats://127.0.0.1:99999\"]\n", 2, "nats.servers",
     "port '99999' is not a number from 1 to 65535"},
    {"nats port text", "[nats]\nservers = [\"nats://127.0.0.1:http\"]\n", 2, "nats.servers",
     "port 'http' is not a number"},
    {"nats stream", "[nats]\nstream = \"a.b\"\n", 2, "nats.stream", "invalid stream name"},
    {"nats subject", "[nats]\nsubject_prefix = \"a.*\"\n", 2, "nats.subject_prefix",
     "invalid subject prefix"},
    {"nats replicas", "[nats]\nreplicas = 7\n", 2, "nats.replicas", "out of range"},
    {"nats relative file", "[nats]\ncreds_file = \"fleet.creds\"\n", 2, "nats.creds_file",
     "not absolute"},
    {"nats tls pair", "[nats]\n\ntls_cert = \"/c.pem\"\n", 3, "nats.tls_cert", "tls_key is not"},
    {"nats two credentials", "[nats]\ncreds_file = \"/a\"\nnkey_seed_file = \"/b\"\n", 3,
     "nats.nkey_seed_file", "keep only one"},
    {"duplicate key", "[recording]\nenabled = true\nenabled = false\n", 3, "enabled",
     "invalid TOML"},
};

TEST(PolicyParser, ErrorsNameLineAndKey) {
    for (const ErrorCase& error_case : kErrorCases) {
        SCOPED_TRACE(error_case.name);
        PolicyError error = parse_error(error_case.text);
        EXPECT_EQ(error.source(), "test.toml");
        EXPECT_EQ(error.line(), error_case.line);
        EXPECT_EQ(error.key(), error_case.key);
        std::string message = error.what();
        EXPECT_NE(message.find(error_case.message_part), std::string::npos) << message;
        EXPECT_NE(message.find(std::string("test.toml:") + std::to_string(error_case.line)),
                  std::string::npos)
            << message;
    }
}

uint64_t buffer_bytes(const std::string& value) {
    return parse_policy("[capture]\nbuffer_size = " + value + "\n", "test.toml")
        .capture_buffer_bytes;
}

// Runs `protowatch agent` with only an invalid --buffer-size, which it rejects before it
// opens anything. Returns the exit status and the output.
int agent_with_buffer_size(const std::string& size, std::string& output) {
    std::string command = std::string(PROTOWATCH_BINARY) + " agent --no-store --buffer-size '" +
                          size + "' 2>&1";
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) return -1;
    char chunk[512];
    while (fgets(chunk, sizeof chunk, pipe) != nullptr) output += chunk;
    int status = pclose(pipe);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// capture.buffer_size and `agent --buffer-size` take the same range: 1 MiB, the size of four
// of libpcap's ring blocks, to INT_MAX, the largest that pcap_set_buffer_size takes.
TEST(PolicyParser, BufferSizeRangeMatchesAgentOption) {
    EXPECT_EQ(buffer_bytes("\"1MiB\""), 1024u * 1024);
    EXPECT_EQ(buffer_bytes("2147483647"), 2147483647u);
    for (const char* value : {"1048575", "\"64KiB\"", "\"2GiB\""}) {
        SCOPED_TRACE(value);
        std::string message = parse_error(std::string("[capture]\nbuffer_size = ") + value).what();
        EXPECT_NE(message.find("from 1048576 to 2147483647 bytes"), std::string::npos)
            << message;
    }
    for (const char* size : {"1048575", "64KiB", "2GiB"}) {
        SCOPED_TRACE(size);
        std::string output;
        EXPECT_EQ(agent_with_buffer_size(size, output), 2) << output;
        EXPECT_NE(output.find("use a size from 1MiB to 2147483647 bytes"), std::string::npos)
            << output;
    }
}

TEST(PolicyParser, MissingFileNamesPath) {
    try {
        load_policy_file("/nonexistent/policy.toml");
        FAIL() << "a missing file was accepted";
    } catch (const PolicyError& error) {
        EXPECT_EQ(error.line(), 0);
        EXPECT_NE(std::string(error.what()).find("/nonexistent/policy.toml"), std::string::npos);
    }
}

}  // namespace
}  // namespace pw::policy
