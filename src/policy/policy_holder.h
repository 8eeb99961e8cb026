#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "events/audit_event.h"
#include "policy/file_trust.h"
#include "policy/policy.h"

namespace pw::policy {

// Who asked for a policy change: a control socket peer, or the sender of SIGHUP.
struct Actor {
    int64_t uid = 0;
    std::string user = "root";
    int64_t pid = 0;  // 0 when unknown
};

// The outcome of a change request; `error` is empty when the policy was accepted.
struct ChangeResult {
    std::string error;
    std::vector<PolicyChange> changes;  // empty when the new policy equals the old one
};

// The running policy of the agent. Readers take a snapshot with current(); every change goes
// through apply_file(), reload() or update(), which validate the new policy first, so an
// invalid one leaves the running policy in force. Each accepted change that alters a key is
// passed to the audit recorder and then to the listeners. Thread-safe.
class PolicyHolder {
  public:
    // Receives each audit event and the policy it brings in.
    using AuditRecorder = std::function<void(const events::AuditEvent&, const Policy& next)>;
    using Listener = std::function<void(const Policy&)>;

    // Loads the policy file at start-up, checked as read_trusted_policy_file does against the
    // default admin group. Throws PolicyError.
    static std::unique_ptr<PolicyHolder> load(const std::string& path);
    // Starts from `policy` without a file; reload() then fails until apply_file() succeeds.
    explicit PolicyHolder(Policy policy, std::string source_path = {});

    std::shared_ptr<const Policy> current() const;
    // The file reload() reads: the one loaded at start-up or applied last.
    std::string source_path() const;

    // Records audit events through `recorder` (by default they are only logged); the agent
    // passes one that writes them to the store.
    void set_audit_recorder(AuditRecorder recorder);
    // The device name audit events carry, as the agent's network events do; the host name
    // until set.
    void set_device(std::string device);
    // Calls `listener` after every accepted change, on the changing thread.
    void add_listener(Listener listener);

    // Reads, checks and applies the policy file at `path`, which becomes the source path.
    // `reader` is the user the file must be readable by (read_trusted_policy_file()): the
    // caller who names the file, or root for the agent's own reads.
    ChangeResult apply_file(const std::string& path, const Actor& actor,
                            const ReadingUser& reader = {});
    // Reads the source path again (SIGHUP); on failure logs the error and keeps the policy.
    ChangeResult reload(const Actor& actor, const ReadingUser& reader = {});
    // Applies `edit` to a copy of the running policy; `edit` throws PolicyError to reject.
    ChangeResult update(const std::string& action, const Actor& actor,
                        const std::function<void(Policy&)>& edit);

  private:
    ChangeResult replace_locked(Policy next, const std::string& action, const Actor& actor,
                                const std::string& source);

    mutable std::mutex mutex_;  // serialises changes; readers only copy the pointer
    std::shared_ptr<const Policy> policy_;
    std::string source_path_;
    AuditRecorder recorder_;
    std::string device_;
    std::vector<Listener> listeners_;
};

// Writes audit events into the store at `store_path`, the one the agent records to. A policy
// that names another store takes effect there at the next start only, and a file there may
// be anyone's. An event the store does not take (it is locked, the disk is full) is logged
// and kept, and a thread of the outbox tries again every kRetryInterval, in order, until
// close(). Thread-safe.
class AuditOutbox {
  public:
    explicit AuditOutbox(std::string store_path);
    ~AuditOutbox();  // close()
    AuditOutbox(const AuditOutbox&) = delete;
    AuditOutbox& operator=(const AuditOutbox&) = delete;

    // Stores `event`, or keeps it for a later try when the store does not take it.
    void record(const events::AuditEvent& event);
    // Audit events kept for a later try.
    size_t waiting() const;
    // Tries the kept events once more, stops the thread, and logs each event still kept as
    // lost. Returns how many were lost.
    size_t close();

    static constexpr std::chrono::seconds kRetryInterval{1};

  private:
    // Stores the kept events in order; returns the error of the first that fails.
    std::string store_waiting_locked();
    void run();

    std::string store_path_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<events::AuditEvent> waiting_;
    bool closing_ = false;
    std::thread thread_;
};

// The recorder that passes each audit event to `outbox`.
PolicyHolder::AuditRecorder store_audit_recorder(std::shared_ptr<AuditOutbox> outbox);

}  // namespace pw::policy
