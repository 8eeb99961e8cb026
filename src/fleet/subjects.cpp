#include "fleet/subjects.h"

namespace pw::fleet {
namespace {

bool is_name_character(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

}  // namespace

std::string subject_token(std::string_view device) {
    if (device.empty()) return "unknown";
    std::string token(device);
    for (char& c : token) {
        if (!is_name_character(c)) c = '_';
    }
    return token;
}

std::string presence_key(std::string_view device) {
    if (device.empty()) return "_";
    constexpr char kHex[] = "0123456789abcdef";
    std::string key;
    key.reserve(device.size());
    for (char c : device) {
        if (c != '_' && is_name_character(c)) {
            key += c;
            continue;
        }
        const auto byte = static_cast<unsigned char>(c);
        key += '_';
        key += kHex[byte >> 4];
        key += kHex[byte & 0x0F];
    }
    return key;
}

std::string event_subject(std::string_view prefix, std::string_view device,
                          events::Activity activity) {
    std::string subject(prefix);
    subject += ".events.";
    subject += subject_token(device);
    subject += '.';
    subject += events::activity_name(activity);
    return subject;
}

std::string event_subjects_wildcard(std::string_view prefix) {
    return std::string(prefix) + ".events.>";
}

std::string search_subject(std::string_view prefix) { return std::string(prefix) + ".search"; }

std::string agent_inbox_prefix(std::string_view prefix) {
    return std::string(prefix) + ".agent_inbox";
}

std::string presence_bucket(std::string_view prefix) { return subject_token(prefix) + "_agents"; }

bool is_valid_stream_name(std::string_view name) {
    if (name.empty()) return false;
    for (char c : name) {
        if (!is_name_character(c)) return false;
    }
    return true;
}

bool is_valid_subject_prefix(std::string_view prefix) {
    if (prefix.empty() || prefix.front() == '.' || prefix.back() == '.') return false;
    char previous = 0;
    for (char c : prefix) {
        if (c == '.' && previous == '.') return false;
        if (c != '.' && !is_name_character(c)) return false;
        previous = c;
    }
    return true;
}

}  // namespace pw::fleet
