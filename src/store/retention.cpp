#include "store/retention.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

namespace pw::store {
namespace {

// Size retention deletes down to this fraction of the maximum, so that it runs once per
// several batches rather than after every commit.
constexpr double kSizeLowWater = 0.9;
// A bound on delete passes per call, reached only when deleting rows frees few pages.
constexpr int kMaxSizePasses = 32;

// Deletes every event with an id below `end_id`, with its protocols; returns the count.
uint64_t delete_below(Database& db, int64_t end_id) {
    db.execute("BEGIN IMMEDIATE");
    try {
        Statement protocols = db.prepare("DELETE FROM event_protocols WHERE event_id < ?");
        protocols.bind(1, end_id);
        protocols.step();
        Statement events = db.prepare("DELETE FROM events WHERE id < ?");
        events.bind(1, end_id);
        events.step();
        auto removed = static_cast<uint64_t>(sqlite3_changes64(db.handle()));
        db.execute("COMMIT");
        return removed;
    } catch (...) {
        sqlite3_exec(db.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
}

uint64_t remove_by_age(Database& db, int64_t max_age_ms, int64_t now_ms) {
    // Ids grow with stored_at, so the scan from the oldest stops at the first young event.
    // It costs about as many rows as it deletes, which is why stored_at needs no index.
    Statement first_young =
        db.prepare("SELECT id FROM events WHERE stored_at >= ? ORDER BY id LIMIT 1");
    first_young.bind(1, now_ms - max_age_ms);
    int64_t end_id = first_young.step() ? first_young.column_int(0)
                                        : db.query_int("SELECT max(id) + 1 FROM events");
    if (end_id <= db.query_int("SELECT ifnull(min(id), 0) FROM events")) return 0;
    return delete_below(db, end_id);
}

uint64_t remove_by_size(Database& db, uint64_t max_bytes) {
    uint64_t removed = 0;
    auto target = static_cast<double>(max_bytes) * kSizeLowWater;
    for (int pass = 0; pass < kMaxSizePasses; ++pass) {
        uint64_t used = used_bytes(db);
        if (pass == 0 && used <= max_bytes) return 0;
        if (static_cast<double>(used) <= target) break;
        int64_t first = db.query_int("SELECT ifnull(min(id), 0) FROM events");
        int64_t last = db.query_int("SELECT ifnull(max(id), 0) FROM events");
        if (last == 0) break;
        // Rows are of similar size, so the share of rows to delete is the excess's share of
        // the pages. Ids are dense because retention only ever deletes the oldest rows.
        double share = (static_cast<double>(used) - target) / static_cast<double>(used);
        auto count = static_cast<int64_t>(std::ceil(share * static_cast<double>(last - first + 1)));
        removed += delete_below(db, first + std::max<int64_t>(count, 1));
    }
    return removed;
}

}  // namespace

uint64_t used_bytes(Database& db) {
    int64_t pages = db.query_int("PRAGMA page_count") - db.query_int("PRAGMA freelist_count");
    return static_cast<uint64_t>(std::max<int64_t>(pages, 0) * db.query_int("PRAGMA page_size"));
}

RetentionResult enforce_retention(Database& db, const RetentionPolicy& policy, int64_t now_ms) {
    RetentionResult result;
    if (policy.max_age_ms > 0) {
        result.removed_by_age = remove_by_age(db, policy.max_age_ms, now_ms);
        if (result.removed_by_age > 0) {
            spdlog::info("event store {}: removed {} events stored more than {} ms ago", db.path(),
                         result.removed_by_age, policy.max_age_ms);
        }
    }
    if (policy.max_bytes > 0) {
        result.removed_by_size = remove_by_size(db, policy.max_bytes);
        if (result.removed_by_size > 0) {
            spdlog::info("event store {}: removed the {} oldest events to stay under {} bytes",
                         db.path(), result.removed_by_size, policy.max_bytes);
        }
    }
    if (result.removed_by_age + result.removed_by_size > 0) {
        db.execute("PRAGMA incremental_vacuum");
    }
    return result;
}

}  // namespace pw::store
