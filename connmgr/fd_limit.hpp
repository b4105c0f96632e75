// The descriptor limit: pepsal's processes hold many sockets (the connmgr a warm pool of lanes
// and the far side's pending lanes, a pair worker up to 32 lanes), more than the common soft
// limit of 1024.
#pragma once

#include "config.hpp"

namespace pepsal::connmgr {

// Raises the soft RLIMIT_NOFILE to the hard one, best effort, and warns when even that leaves
// less room than `config` needs (every process inherits the limit).
void raise_fd_limit(const Config& config);

}  // namespace pepsal::connmgr
