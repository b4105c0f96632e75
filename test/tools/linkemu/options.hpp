// linkemu's command line: an immutable description of both link directions.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include "model.hpp"

namespace pepsal::linkemu {

// "down" carries server → client traffic (the satellite forward link), "up" the return link.
struct DirectionOptions {
    const char* name;    // "down" or "up", as printed in the counters
    uint16_t queue_num;  // NFQUEUE number iptables sends this direction's packets to
    LinkConfig link;
};

struct Options {
    DirectionOptions down{"down", 1, {}};
    DirectionOptions up{"up", 2, {}};
    uint64_t seed = 1;
    std::string stats_file;  // empty: counters go to stdout only
    uint64_t late_threshold_ns = 2 * NS_PER_MS;
    uint32_t queue_maxlen = 65536;  // packets the kernel may hold per queue awaiting a verdict
    int rt_priority = 50;           // SCHED_FIFO priority of the direction threads; 0 = normal
};

// A bad command line; what() names the option and the offending value.
class OptionError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Parses and range-checks argv. Returns std::nullopt after printing --help to stdout.
// Throws OptionError.
std::optional<Options> parse_options(int argc, char** argv);

}  // namespace pepsal::linkemu
