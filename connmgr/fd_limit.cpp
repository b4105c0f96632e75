#include "fd_limit.hpp"

#include <sys/resource.h>

#include "log.hpp"

namespace pepsal::connmgr {

namespace {
constexpr rlim_t BASE_FDS = 256;            // listeners, table, logs, queuer, a burst of accepts
constexpr rlim_t FAR_PENDING_LANES = 1024;  // LaneAcceptor's bound on lanes awaiting a flow
}  // namespace

void raise_fd_limit(const Config& config) {
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
    if (lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &lim) != 0) getrlimit(RLIMIT_NOFILE, &lim);
    }
    rlim_t need = BASE_FDS;
    if (config.pair_near()) need += config.warm_lanes;
    if (config.pair_far()) need += FAR_PENDING_LANES;
    if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < need)
        LOG_WARN("open file limit %llu is below the %llu descriptors the connmgr may need (warm-lanes=%u); "
                 "raise it (ulimit -n, LimitNOFILE=)",
                 (unsigned long long)lim.rlim_cur, (unsigned long long)need, config.warm_lanes);
}

}  // namespace pepsal::connmgr
