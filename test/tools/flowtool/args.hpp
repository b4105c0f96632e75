// Command-line options of one subcommand: "--name value" pairs and bare "--flag"s, each value
// range-checked with a message naming the option and the offending value.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "endpoint.hpp"

namespace pepsal::flowtool {

// A bad command line; main prints it with the usage and exits with EX_USAGE.
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class Args {
  public:
    // `argv[0, argc)` are the words after the subcommand. Throws UsageError for an option not
    // in `valued` or `flags`, or a valued option without a value.
    Args(int argc, char** argv, const std::set<std::string>& valued,
         const std::set<std::string>& flags);

    bool has(const std::string& key) const { return values_.count(key) > 0; }
    bool flag(const std::string& key) const { return flags_.count(key) > 0; }
    // The last value given; UsageError if absent and no default.
    std::string str(const std::string& key, std::optional<std::string> def = std::nullopt) const;
    std::vector<std::string> all(const std::string& key) const;
    // Decimal in [min, max]; `size` also accepts a K, M or G suffix (powers of 1024).
    uint64_t num(const std::string& key, uint64_t min, uint64_t max,
                 std::optional<uint64_t> def = std::nullopt) const;
    uint64_t size(const std::string& key, uint64_t min, uint64_t max,
                  std::optional<uint64_t> def = std::nullopt) const;
    Endpoint endpoint(const std::string& key) const;
    Endpoint endpoint(const std::string& text, const std::string& key) const;

  private:
    uint64_t ranged(const std::string& key, bool allow_suffix, uint64_t min, uint64_t max,
                    std::optional<uint64_t> def) const;

    std::map<std::string, std::vector<std::string>> values_;
    std::set<std::string> flags_;
};

}  // namespace pepsal::flowtool
