// The proxy worker: the per-flow child process forked by the connmgr.
#pragma once

#include <signal.h>

#include <vector>

#include "config.hpp"
#include "conn_table.hpp"
#include "unique_fd.hpp"

namespace pepsal::proxy {

// Identifies the flow accepted on `client` (shared table first, the kernel's answer second),
// refuses flows aimed at pepsal itself, and carries the flow until it ends; frees its table slot.
// `lanes`: in pair mode, the authenticated lanes to the peer this flow may use (empty: none was
// ready, peer-fallback decides). Runs in the forked child with signals already installed;
// returns the exit status.
int run_worker(UniqueFd client, const Config& config, ConnTable& table, const sigset_t& wait_mask,
               std::vector<UniqueFd> lanes);

}  // namespace pepsal::proxy
