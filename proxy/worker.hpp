// The proxy worker: the per-flow child process forked by the connmgr.
#pragma once

#include <signal.h>

#include <vector>

#include "config.hpp"
#include "conn_table.hpp"
#include "pair_lane_return.hpp"
#include "pair_psk.hpp"
#include "unique_fd.hpp"

namespace pepsal::proxy {

// Identifies the flow accepted on `client` (shared table first, the kernel's answer second),
// refuses flows aimed at pepsal itself, and carries the flow until it ends; frees its table slot.
// In pair mode (near side) `pair` says which lanes the flow may use. Runs in the forked child
// with signals already installed; returns the exit status.
struct PairLanes {
    std::vector<UniqueFd> lanes;   // from the warm pool; may be fewer than lanes=, or none
    const pair::Psk* key = nullptr;
    bool peer_up = false;          // the pool's last lane authenticated: worth dialing our own
    int lane_return = -1;          // the connmgr's lane return socket (borrowed); -1: close lanes
    pair::PathEstimate path;       // what the flow that last used these lanes knew of the path
};
int run_worker(UniqueFd client, const Config& config, ConnTable& table, const sigset_t& wait_mask,
               PairLanes pair);

}  // namespace pepsal::proxy
