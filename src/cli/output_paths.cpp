#include "cli/output_paths.h"

#include <filesystem>
#include <stdexcept>
#include <system_error>

namespace pw::cli {

bool same_file(const std::string& first, const std::string& second) {
    namespace fs = std::filesystem;
    std::error_code error;
    if (fs::absolute(first, error).lexically_normal() ==
        fs::absolute(second, error).lexically_normal())
        return true;
    fs::path first_real = fs::weakly_canonical(fs::absolute(first, error), error);
    fs::path second_real = fs::weakly_canonical(fs::absolute(second, error), error);
    return first_real == second_real || fs::equivalent(first, second, error);
}

void check_output_is_not_store(const std::string& option, const std::string& path,
                               const std::string& store) {
    // SQLite names the -wal and -shm files after the store's real path when the store path
    // is a link, so both spellings are checked.
    std::error_code error;
    const std::string real_store =
        std::filesystem::weakly_canonical(std::filesystem::absolute(store, error), error).string();
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
        if (same_file(path, store + suffix) ||
            (!real_store.empty() && same_file(path, real_store + suffix))) {
            throw std::invalid_argument(
                option + " '" + path + "' is the event store" +
                (suffix[0] != '\0' ? std::string("'s ") + (suffix + 1) + " file" : "") +
                "; choose another path, or another store with --store");
        }
    }
}

}  // namespace pw::cli
