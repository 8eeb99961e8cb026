#include "policy/policy_holder.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "common/ascii.h"
#include "policy/file_trust.h"
#include "query/literals.h"
#include "store/audit_store.h"

namespace pw::policy {
namespace {

std::string host_name() {
    char name[256] = {};
    if (gethostname(name, sizeof name - 1) != 0) return {};
    return name;
}

void log_change(const events::AuditEvent& event) {
    for (const PolicyChange& change : event.changes) {
        spdlog::info("policy {} by user {} (uid {}): {} changed from {} to {}", event.action,
                     event.actor_user, event.actor_uid, change.key, change.old_value,
                     change.new_value);
    }
}

}  // namespace

std::unique_ptr<PolicyHolder> PolicyHolder::load(const std::string& path) {
    Policy defaults;
    Policy policy = parse_policy(read_trusted_policy_file(path, defaults.admin_group), path);
    return std::make_unique<PolicyHolder>(std::move(policy), path);
}

PolicyHolder::PolicyHolder(Policy policy, std::string source_path)
    : policy_(std::make_shared<const Policy>(std::move(policy))),
      source_path_(std::move(source_path)) {}

std::shared_ptr<const Policy> PolicyHolder::current() const {
    std::lock_guard lock(mutex_);
    return policy_;
}

std::string PolicyHolder::source_path() const {
    std::lock_guard lock(mutex_);
    return source_path_;
}

void PolicyHolder::set_device(std::string device) {
    std::lock_guard lock(mutex_);
    device_ = std::move(device);
}

void PolicyHolder::set_audit_recorder(AuditRecorder recorder) {
    std::lock_guard lock(mutex_);
    recorder_ = std::move(recorder);
}

void PolicyHolder::add_listener(Listener listener) {
    std::lock_guard lock(mutex_);
    listeners_.push_back(std::move(listener));
}

ChangeResult PolicyHolder::apply_file(const std::string& path, const Actor& actor,
                                      const ReadingUser& reader) {
    std::lock_guard lock(mutex_);
    try {
        // The running policy's admin group decides who may have written the file.
        std::string text = read_trusted_policy_file(path, policy_->admin_group, reader);
        ChangeResult result = replace_locked(parse_policy(text, path), "apply", actor, path);
        source_path_ = path;
        return result;
    } catch (const PolicyError& error) {
        // The message contains the path the caller chose, which may contain a line break meant
        // to start a made-up log line.
        spdlog::warn("policy apply by user {} (uid {}) rejected: {}", actor.user, actor.uid,
                     terminal_safe(error.what()));
        return {error.what(), {}};
    }
}

ChangeResult PolicyHolder::reload(const Actor& actor, const ReadingUser& reader) {
    std::lock_guard lock(mutex_);
    if (source_path_.empty()) {
        return {"the agent has no policy file to reload; apply one with `protowatch policy "
                "apply FILE`",
                {}};
    }
    try {
        std::string text = read_trusted_policy_file(source_path_, policy_->admin_group, reader);
        return replace_locked(parse_policy(text, source_path_), "reload", actor, source_path_);
    } catch (const PolicyError& error) {
        spdlog::error("policy reload rejected, the running policy stays in force: {}",
                      terminal_safe(error.what()));
        return {error.what(), {}};
    }
}

ChangeResult PolicyHolder::update(const std::string& action, const Actor& actor,
                                  const std::function<void(Policy&)>& edit) {
    std::lock_guard lock(mutex_);
    Policy next = *policy_;
    try {
        edit(next);
    } catch (const PolicyError& error) {
        return {error.what(), {}};
    }
    return replace_locked(std::move(next), action, actor, "");
}

ChangeResult PolicyHolder::replace_locked(Policy next, const std::string& action,
                                          const Actor& actor, const std::string& source) {
    ChangeResult result;
    result.changes = diff_policies(*policy_, next);
    if (result.changes.empty()) return result;

    events::AuditEvent event;
    event.time_ms = query::now_ms();
    event.action = action;
    event.actor_uid = actor.uid;
    event.actor_user = actor.user;
    event.actor_pid = actor.pid;
    event.source = source;
    event.device = device_.empty() ? host_name() : device_;
    event.changes = result.changes;
    log_change(event);
    // The change takes effect even when its audit event cannot be stored at once, because
    // the recorder keeps and retries it. Rejecting a valid change for a full disk would leave
    // the old policy running unseen.
    if (recorder_) recorder_(event, next);

    policy_ = std::make_shared<const Policy>(std::move(next));
    for (const Listener& listener : listeners_) listener(*policy_);
    return result;
}

AuditOutbox::AuditOutbox(std::string store_path) : store_path_(std::move(store_path)) {
    thread_ = std::thread([this] { run(); });
}

AuditOutbox::~AuditOutbox() { close(); }

void AuditOutbox::record(const events::AuditEvent& event) {
    std::lock_guard lock(mutex_);
    waiting_.push_back(event);
    // Events that wait go first, so that the trail keeps the order of the changes.
    const std::string error = store_waiting_locked();
    if (error.empty()) return;
    spdlog::error(
        "audit event of the policy {} by user {} could not be stored in {}: {}; "
        "{} audit events wait, tried again every {} s",
        event.action, event.actor_user, store_path_, error, waiting_.size(),
        kRetryInterval.count());
}

size_t AuditOutbox::waiting() const {
    std::lock_guard lock(mutex_);
    return waiting_.size();
}

std::string AuditOutbox::store_waiting_locked() {
    while (!waiting_.empty()) {
        try {
            store::record_audit_event(store_path_, waiting_.front());
        } catch (const std::exception& error) {
            return error.what();
        }
        waiting_.pop_front();
    }
    return {};
}

void AuditOutbox::run() {
    std::unique_lock lock(mutex_);
    while (!closing_) {
        wake_.wait_for(lock, kRetryInterval);
        if (closing_ || waiting_.empty()) continue;
        const size_t before = waiting_.size();
        if (store_waiting_locked().empty()) {
            spdlog::info("audit events: the {} that waited are stored in {}", before, store_path_);
        }
    }
}

size_t AuditOutbox::close() {
    {
        std::lock_guard lock(mutex_);
        if (closing_) return waiting_.size();
        closing_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
    std::lock_guard lock(mutex_);
    const std::string error = store_waiting_locked();
    for (const events::AuditEvent& event : waiting_) {
        spdlog::error(
            "audit event of the policy {} by user {} at {} ms was not stored in {}: "
            "{}",
            event.action, event.actor_user, event.time_ms, store_path_, error);
    }
    return waiting_.size();
}

PolicyHolder::AuditRecorder store_audit_recorder(std::shared_ptr<AuditOutbox> outbox) {
    return [outbox = std::move(outbox)](const events::AuditEvent& event, const Policy&) {
        outbox->record(event);
    };
}

}  // namespace pw::policy
