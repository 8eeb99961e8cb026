#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "store/audit_store.h"

namespace pw::cli {

// Reads a search query over audit events: words of the form FIELD=VALUE, all of which must
// hold, with FIELD one of user, action and key ("and" between them is allowed). Throws
// std::invalid_argument naming the word at fault.
void add_audit_filters(const std::vector<std::string>& words, store::AuditQuery& query);

// Prints audit events as JSON Lines (`table` false) or as one aligned line per change.
void print_audit_events(const std::vector<store::StoredAuditEvent>& events, bool table,
                        std::ostream& out);

}  // namespace pw::cli
