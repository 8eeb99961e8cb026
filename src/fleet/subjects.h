#pragma once

#include <string>
#include <string_view>

#include "events/event.h"

namespace pw::fleet {

// Turns a device name into one subject token: characters other than letters, digits, '-'
// and '_' (dots, spaces, the wildcards '*' and '>') become '_', and an empty name becomes
// "unknown". Different names can map to one token ("a.b" and "a_b"); the event's JSON keeps
// the exact name.
std::string subject_token(std::string_view device);

// Turns a device name into a key of the presence bucket, one per name: letters, digits and
// '-' stay, and every other byte, '_' included, becomes '_' and its two hex digits, so that
// "a.b" and "a_b" get different keys. An empty name becomes "_".
std::string presence_key(std::string_view device);

// <prefix>.events.<device token>.<connect|disconnect|statistics>
std::string event_subject(std::string_view prefix, std::string_view device,
                          events::Activity activity);
// <prefix>.events.> : every subject the event stream stores.
std::string event_subjects_wildcard(std::string_view prefix);
// <prefix>.search : where fleet search requests are published.
std::string search_subject(std::string_view prefix);
// <prefix>.agent_inbox : the inbox prefix of agents' connections. NATS permissions let agents
// subscribe only below it, so that no agent can read the replies of other agents, which go
// to the requester's inbox below _INBOX.
std::string agent_inbox_prefix(std::string_view prefix);
// The JetStream key-value bucket where agents announce themselves: <prefix>_agents, with the
// prefix's dots replaced, because bucket names allow no dots.
std::string presence_bucket(std::string_view prefix);

bool is_valid_stream_name(std::string_view name);
bool is_valid_subject_prefix(std::string_view prefix);

}  // namespace pw::fleet
