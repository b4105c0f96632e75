// Options every client subcommand shares: where to connect, the seed, and the time limits.
#pragma once

#include <cstdint>
#include <set>
#include <string>

#include "args.hpp"
#include "deadline.hpp"
#include "endpoint.hpp"

namespace pepsal::flowtool {

constexpr uint64_t DEFAULT_TIMEOUT_MS = 60000;
constexpr uint64_t DEFAULT_CONNECT_TIMEOUT_MS = 10000;
constexpr uint64_t MAX_TIMEOUT_MS = 7 * 24 * 3600 * 1000ull;  // a week: "no limit" in practice

struct ClientOptions {
    Endpoint to;
    uint64_t seed = 1;
    uint64_t timeout_ms = DEFAULT_TIMEOUT_MS;
    uint64_t connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
    Deadline deadline = Deadline::never();  // timeout_ms from when the options were read
};

// The option names read by client_options(), plus `extra`.
std::set<std::string> client_keys(std::set<std::string> extra);

// Reads --to, --seed, --timeout-ms (default `default_timeout_ms`), --connect-timeout-ms and
// starts the overall deadline.
ClientOptions client_options(const Args& args, uint64_t default_timeout_ms = DEFAULT_TIMEOUT_MS);

}  // namespace pepsal::flowtool
