#include <gtest/gtest.h>
#include <sys/stat.h>

#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <functional>
#include <thread>

#include "agent/policy_config.h"
#include "policy/file_trust.h"
#include "policy/policy_holder.h"
#include "policy/recording_filter.h"
#include "store/audit_store.h"
#include "store/schema.h"
#include "store_test_helpers.h"

namespace pw::policy {
namespace {

using store::testing::TempDir;

class CollectingSink : public events::EventSink {
  public:
    void write(const events::Event& event) override { events.push_back(event); }
    std::vector<events::Event> events;
};

events::Event statistics_with(std::vector<ProtocolId> protocols) {
    events::Event event = store::testing::connection_event(events::Activity::kStatistics, 1, "C1");
    event.protocols = std::move(protocols);
    return event;
}

TEST(RecordingFilter, KeepsListedProtocolsOnly) {
    CollectingSink sink;
    RecordingFilter filter(sink, {true, {ProtocolId::TLS}});
    filter.write(store::testing::connection_event(events::Activity::kConnect, 1, "C1"));
    filter.write(statistics_with({ProtocolId::TLS, ProtocolId::TLS_ALPN_H2}));
    filter.write(statistics_with({ProtocolId::HTTP}));
    filter.write(store::testing::connection_event(events::Activity::kDisconnect, 2, "C1"));
    ASSERT_EQ(sink.events.size(), 3u);
    EXPECT_EQ(sink.events[1].protocols, std::vector<ProtocolId>{ProtocolId::TLS});
    EXPECT_EQ(sink.events[2].activity, events::Activity::kDisconnect);
    EXPECT_EQ(filter.dropped(), 1u);
}

TEST(RecordingFilter, KeepsUnidentifiedConnectionsUnlessTold) {
    CollectingSink sink;
    RecordingFilter filter(sink, {true, {ProtocolId::TLS}});
    filter.write(statistics_with({}));
    ASSERT_EQ(sink.events.size(), 1u);
    EXPECT_TRUE(sink.events[0].protocols.empty());
    filter.set_rules({true, {ProtocolId::TLS}, false});
    filter.write(statistics_with({}));
    EXPECT_EQ(sink.events.size(), 1u);
    EXPECT_EQ(filter.dropped(), 1u);
}

TEST(RecordingFilter, DisabledKeepsConnections) {
    CollectingSink sink;
    RecordingFilter filter(sink, RecordingRules{});
    filter.set_rules({false, default_protocols()});
    filter.write(statistics_with({ProtocolId::DNS}));
    filter.write(store::testing::connection_event(events::Activity::kConnect, 1, "C2"));
    ASSERT_EQ(sink.events.size(), 1u);
    EXPECT_EQ(sink.events[0].activity, events::Activity::kConnect);
}

void write_text(const std::string& path, const std::string& text, mode_t mode) {
    std::ofstream(path) << text;
    chmod(path.c_str(), mode);
}

TEST(PolicyFileTrust, RejectsWorldWritable) {
    TempDir dir;
    chmod(dir.path().c_str(), 0755);
    std::string path = dir.file("policy.toml");
    write_text(path, "[recording]\nenabled = false\n", 0666);
    if (getuid() != 0) GTEST_SKIP() << "a file owned by a non-root user is rejected first";
    try {
        read_trusted_policy_file(path, "protowatch-admin");
        FAIL() << "a world-writable policy was accepted";
    } catch (const PolicyError& error) {
        EXPECT_NE(std::string(error.what()).find("writable by every user"), std::string::npos);
    }
    chmod(path.c_str(), 0644);
    EXPECT_EQ(read_trusted_policy_file(path, "protowatch-admin"), "[recording]\nenabled = false\n");
    chmod(dir.path().c_str(), 0777);
    EXPECT_THROW(read_trusted_policy_file(path, "protowatch-admin"), PolicyError);
}

// A user that is neither root nor in the admin group on the machines the tests run on.
constexpr uid_t kOtherUser = 65534;
const ReadingUser kOtherReader{kOtherUser, {65534}, "nobody"};

std::string error_of(const std::function<void()>& read) {
    try {
        read();
    } catch (const PolicyError& error) {
        return error.what();
    }
    return "";
}

// A directory that every user may search, with a policy file everyone may read and one
// only root may read. The tests change owners, so they need root.
class PolicyFiles : public ::testing::Test {
  protected:
    void SetUp() override {
        if (getuid() != 0) GTEST_SKIP() << "needs root to give entries to another user";
        chmod(dir.path().c_str(), 0755);
        write_text(policy, kPolicyText, 0644);
        write_text(secret, "[store]\npath = \"SECRET\"\n", 0600);
    }

    static constexpr const char* kPolicyText = "[recording]\nenabled = false\n";
    TempDir dir;
    std::string policy = dir.file("policy.toml");
    std::string secret = dir.file("secret.toml");
};

TEST_F(PolicyFiles, FollowedLinksAreChecked) {
    // A link in a directory another user owns: that user could point it at another file.
    std::string theirs = dir.file("theirs");
    mkdir(theirs.c_str(), 0755);
    std::string link = theirs + "/link.toml";
    symlink(policy.c_str(), link.c_str());
    EXPECT_EQ(read_trusted_policy_file(link, "protowatch-admin"), kPolicyText);
    ASSERT_EQ(chown(theirs.c_str(), kOtherUser, kOtherUser), 0);
    EXPECT_NE(error_of([&] { read_trusted_policy_file(link, "protowatch-admin"); })
                  .find("policy directory is owned by user"),
              std::string::npos);

    // A link another user owns, in a trusted directory.
    std::string owned_link = dir.file("owned-link.toml");
    symlink(policy.c_str(), owned_link.c_str());
    ASSERT_EQ(lchown(owned_link.c_str(), kOtherUser, kOtherUser), 0);
    EXPECT_NE(error_of([&] { read_trusted_policy_file(owned_link, "protowatch-admin"); })
                  .find("policy link is owned by user"),
              std::string::npos);

    // Relative links, `..` and a loop.
    std::string sub = dir.file("sub");
    mkdir(sub.c_str(), 0755);
    symlink("../policy.toml", (sub + "/up.toml").c_str());
    EXPECT_EQ(read_trusted_policy_file(sub + "/./up.toml", "protowatch-admin"),
              kPolicyText);
    symlink("loop.toml", dir.file("loop.toml").c_str());
    EXPECT_NE(error_of([&] { read_trusted_policy_file(dir.file("loop.toml"), "protowatch-admin"); })
                  .find("cannot open the policy file"),
              std::string::npos);

    EXPECT_NE(error_of([&] {
                  read_trusted_policy_file(policy + std::string(1, '\0') + "x", "protowatch-admin");
              }).find("NUL"),
              std::string::npos);
}

TEST_F(PolicyFiles, ReaderMustReadFile) {
    EXPECT_EQ(read_trusted_policy_file(policy, "protowatch-admin", kOtherReader), kPolicyText);
    std::string error =
        error_of([&] { read_trusted_policy_file(secret, "protowatch-admin", kOtherReader); });
    EXPECT_NE(error.find("user nobody (uid 65534) cannot read the policy file"), std::string::npos);
    EXPECT_EQ(error.find("SECRET"), std::string::npos);

    // Readable bits do not help behind a directory the reader cannot search.
    std::string closed = dir.file("closed");
    mkdir(closed.c_str(), 0700);
    write_text(closed + "/policy.toml", kPolicyText, 0644);
    EXPECT_NE(error_of([&] {
                  read_trusted_policy_file(closed + "/policy.toml", "protowatch-admin",
                                           kOtherReader);
              }).find("cannot read the policy file"),
              std::string::npos);

    // Root reads it.
    EXPECT_EQ(read_trusted_policy_file(closed + "/policy.toml", "protowatch-admin"),
              kPolicyText);
}

// An access ACL in the kernel's binary form (posix_acl_xattr_header and _entry in
// include/uapi/linux/posix_acl_xattr.h): version 2, then a tag, permissions and id per entry,
// little-endian. This one also lets user `uid` read and write.
std::string acl_granting(uint32_t uid) {
    std::string value;
    auto put16 = [&](uint16_t v) { value.append({char(v & 0xff), char(v >> 8)}); };
    auto put32 = [&](uint32_t v) { put16(v & 0xffff), put16(v >> 16); };
    auto entry = [&](uint16_t tag, uint16_t permissions, uint32_t id) {
        put16(tag);
        put16(permissions);
        put32(id);
    };
    constexpr uint32_t kNoId = UINT32_MAX;
    put32(2);
    entry(0x01, 6, kNoId);  // the owner
    entry(0x02, 6, uid);    // the named user
    entry(0x04, 4, kNoId);  // the owning group
    entry(0x10, 6, kNoId);  // the mask
    entry(0x20, 4, kNoId);  // everyone else
    return value;
}

TEST_F(PolicyFiles, AccessControlListRejected) {
    std::string acl = acl_granting(kOtherUser);
    if (setxattr(policy.c_str(), "system.posix_acl_access", acl.data(), acl.size(), 0) != 0) {
        GTEST_SKIP() << "the file system of " << dir.path() << " keeps no ACLs";
    }
    EXPECT_NE(error_of([&] { read_trusted_policy_file(policy, "protowatch-admin"); })
                  .find("the policy file has an access control list"),
              std::string::npos);
}

TEST_F(PolicyFiles, TrailingSlashNamesDirectory) {
    EXPECT_NE(error_of([&] { read_trusted_policy_file(policy + "/", "protowatch-admin"); })
                  .find("not a regular file"),
              std::string::npos);
}

TEST(PolicyFileTrust, KernelFilesRejected) {
    for (const char* path :
         {"/proc/self/maps", "/proc/version", "/sys/kernel/mm/transparent_hugepage/enabled"}) {
        if (access(path, R_OK) != 0) continue;
        EXPECT_NE(error_of([&] { read_trusted_policy_file(path, "protowatch-admin"); })
                      .find("a file of the kernel"),
                  std::string::npos)
            << path;
    }
}

TEST_F(PolicyFiles, RetargetedLinkNeverLeaksSecret) {
    std::string link = dir.file("link.toml");
    symlink(policy.c_str(), link.c_str());
    // Another thread swaps the link between the two files while the reads go on, as an
    // admin who owns the link's directory could.
    std::atomic<bool> done{false};
    std::thread swapper([&] {
        std::string staged = dir.file("staged.toml");
        for (bool to_secret = true; !done; to_secret = !to_secret) {
            unlink(staged.c_str());
            symlink((to_secret ? secret : policy).c_str(), staged.c_str());
            rename(staged.c_str(), link.c_str());
        }
    });
    int read_open = 0;
    for (int i = 0; i < 3000; ++i) {
        try {
            std::string text = read_trusted_policy_file(link, "protowatch-admin", kOtherReader);
            EXPECT_EQ(text, kPolicyText);
            ++read_open;
        } catch (const PolicyError& error) {
            EXPECT_EQ(std::string(error.what()).find("SECRET"), std::string::npos);
        }
    }
    done = true;
    swapper.join();
    EXPECT_GT(read_open, 0);
}

TEST(PolicyHolder, ChangesAreAuditedAndInvalidOnesKeepPolicy) {
    TempDir dir;
    Policy initial;
    initial.store_path = dir.file("events.db");
    PolicyHolder holder(initial);
    holder.set_audit_recorder(
        store_audit_recorder(std::make_shared<AuditOutbox>(initial.store_path)));
    int notified = 0;
    holder.add_listener([&](const Policy&) { ++notified; });

    Actor alice{1001, "alice", 77};
    ChangeResult result =
        holder.update("disable", alice, [](Policy& policy) { policy.recording_enabled = false; });
    EXPECT_TRUE(result.error.empty());
    ASSERT_EQ(result.changes.size(), 1u);
    EXPECT_FALSE(holder.current()->recording_enabled);
    EXPECT_EQ(notified, 1);

    result = holder.update("disable", alice, [](Policy& policy) { policy.recording_enabled = false; });
    EXPECT_TRUE(result.changes.empty());
    result = holder.apply_file(dir.file("missing.toml"), alice);
    EXPECT_NE(result.error.find("missing.toml"), std::string::npos);
    EXPECT_FALSE(holder.current()->recording_enabled);
    EXPECT_EQ(notified, 1);

    store::Database db = store::Database::open(initial.store_path, SQLITE_OPEN_READONLY);
    std::vector<store::StoredAuditEvent> stored = store::read_audit_events(db, {});
    ASSERT_EQ(stored.size(), 1u);
    EXPECT_EQ(stored[0].event.action, "disable");
    EXPECT_EQ(stored[0].event.actor_user, "alice");
    EXPECT_EQ(stored[0].event.actor_uid, 1001);
    EXPECT_EQ(stored[0].event.actor_pid, 77);
    ASSERT_EQ(stored[0].event.changes.size(), 1u);
    EXPECT_EQ(stored[0].event.changes[0].key, "recording.enabled");
    EXPECT_EQ(stored[0].event.changes[0].old_value, "true");
    EXPECT_EQ(stored[0].event.changes[0].new_value, "false");
}

TEST(PolicyHolder, AuditEventsCarryTheAgentsDevice) {
    TempDir dir;
    Policy initial;
    initial.store_path = dir.file("events.db");
    PolicyHolder holder(initial);
    holder.set_audit_recorder(
        store_audit_recorder(std::make_shared<AuditOutbox>(initial.store_path)));
    holder.set_device("web-1");
    holder.update("disable", Actor{0, "root", 1}, [](Policy& p) { p.recording_enabled = false; });

    store::Database db = store::Database::open(initial.store_path, SQLITE_OPEN_READONLY);
    std::vector<store::StoredAuditEvent> stored = store::read_audit_events(db, {});
    ASSERT_EQ(stored.size(), 1u);
    EXPECT_EQ(stored[0].event.device, "web-1");
}

// A change made while another process has the store locked takes effect, and its audit
// event waits and is stored once the lock is gone.
TEST(PolicyHolder, AuditEventWaitsForLockedStore) {
    TempDir dir;
    Policy initial;
    initial.store_path = dir.file("events.db");
    store::testing::write_events(initial.store_path, {store::testing::numbered_event(0)});
    auto outbox = std::make_shared<AuditOutbox>(initial.store_path);
    PolicyHolder holder(initial);
    holder.set_audit_recorder(store_audit_recorder(outbox));

    {
        store::Database lock = store::Database::open(initial.store_path, SQLITE_OPEN_READWRITE);
        lock.execute("PRAGMA busy_timeout = 0");
        lock.execute("BEGIN EXCLUSIVE");
        // The recorder's own wait for the lock (SQLite's busy timeout) ends first.
        std::thread change([&] {
            holder.update("disable", Actor{0, "root", 1},
                          [](Policy& p) { p.recording_enabled = false; });
        });
        change.join();
        EXPECT_FALSE(holder.current()->recording_enabled);
        EXPECT_EQ(outbox->waiting(), 1u);
        lock.execute("COMMIT");
    }

    for (int i = 0; i < 100 && outbox->waiting() > 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_EQ(outbox->waiting(), 0u);
    outbox->close();

    store::Database db = store::Database::open(initial.store_path, SQLITE_OPEN_READONLY);
    std::vector<store::StoredAuditEvent> stored = store::read_audit_events(db, {});
    ASSERT_EQ(stored.size(), 1u);
    EXPECT_EQ(stored[0].event.action, "disable");
}

TEST(PolicyHolder, AuditOutboxCountsLostAtClose) {
    TempDir dir;
    const std::string path = dir.file("events.db");
    store::testing::write_events(path, {store::testing::numbered_event(0)});
    AuditOutbox outbox(path);
    store::Database lock = store::Database::open(path, SQLITE_OPEN_READWRITE);
    lock.execute("BEGIN EXCLUSIVE");
    events::AuditEvent event;
    event.action = "disable";
    outbox.record(event);
    EXPECT_EQ(outbox.waiting(), 1u);
    EXPECT_EQ(outbox.close(), 1u);
    lock.execute("COMMIT");
}

TEST(AuditStore, MigratesVersionOneStore) {
    TempDir dir;
    std::string path = dir.file("events.db");
    store::testing::write_events(path, {store::testing::numbered_event(0)});
    {
        // Brings the store back to version 1, as an older protowatch left it.
        store::Database db = store::Database::open(path, SQLITE_OPEN_READWRITE);
        db.execute("DROP TABLE audit_events; PRAGMA user_version = 1;");
    }
    {
        store::Database db = store::Database::open(path, SQLITE_OPEN_READONLY);
        store::check_schema_for_reading(db);
        EXPECT_TRUE(store::read_audit_events(db, {}).empty());
    }
    events::AuditEvent event;
    event.time_ms = 5;
    event.action = "enable";
    event.actor_uid = 0;
    event.actor_user = "root";
    event.changes = {{"recording.enabled", "false", "true"}};
    store::record_audit_event(path, event);
    store::Database db = store::Database::open(path, SQLITE_OPEN_READONLY);
    EXPECT_EQ(db.query_int("PRAGMA user_version"), store::kSchemaVersion);
    EXPECT_EQ(store::testing::count_rows(path), 1);
    std::vector<store::StoredAuditEvent> stored = store::read_audit_events(db, {});
    ASSERT_EQ(stored.size(), 1u);
    EXPECT_EQ(stored[0].event, event);
}

TEST(PolicyExample, ParsesToDefaults) {
    Policy policy = load_policy_file(PROTOWATCH_SOURCE_DIR "/packaging/policy.toml.example");
    EXPECT_EQ(policy, Policy{});
}

TEST(AgentPolicyConfig, MemoryBoundReachesPipeline) {
    Policy policy;
    policy.max_memory_bytes = 64ULL << 20;
    agent::AgentConfig config;
    agent::apply_policy(policy, config);
    EXPECT_EQ(config.settings.max_memory_bytes, 64ULL << 20);

    Policy changed = policy;
    changed.max_memory_bytes = 0;
    EXPECT_TRUE(agent::needs_restart(policy, changed));
    EXPECT_FALSE(agent::needs_restart(policy, policy));
}

}  // namespace
}  // namespace pw::policy
