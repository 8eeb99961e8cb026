// Parses the input as a policy file. A policy that parses must format back into TOML that
// parses into an equal policy, and must compare equal to itself in the change list.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "policy/policy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    pw::policy::Policy policy;
    try {
        policy = pw::policy::parse_policy(text, "fuzz.toml");
    } catch (const pw::policy::PolicyError&) {
        // An invalid policy raises an error naming the line and key; that is expected.
        return 0;
    }
    std::string formatted = pw::policy::format_policy(policy);
    pw::policy::Policy reread = pw::policy::parse_policy(formatted, "formatted.toml");
    if (!(reread == policy)) std::abort();
    if (!pw::policy::diff_policies(policy, reread).empty()) std::abort();
    return 0;
}
