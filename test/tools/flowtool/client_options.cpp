#include "client_options.hpp"

#include <algorithm>
#include <cstdint>

namespace pepsal::flowtool {

std::set<std::string> client_keys(std::set<std::string> extra) {
    extra.insert({"to", "seed", "timeout-ms", "connect-timeout-ms"});
    return extra;
}

ClientOptions client_options(const Args& args, uint64_t default_timeout_ms) {
    ClientOptions o;
    o.to = args.endpoint("to");
    if (o.to.port() == 0) throw UsageError("--to " + args.str("to") + ": port 0");
    o.seed = args.num("seed", 0, UINT64_MAX, 1);
    o.timeout_ms = args.num("timeout-ms", 1, MAX_TIMEOUT_MS, default_timeout_ms);
    o.connect_timeout_ms = args.num("connect-timeout-ms", 1, MAX_TIMEOUT_MS,
                                    std::min(DEFAULT_CONNECT_TIMEOUT_MS, o.timeout_ms));
    o.deadline = Deadline::after_ms(o.timeout_ms);
    return o;
}

}  // namespace pepsal::flowtool
