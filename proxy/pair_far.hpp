// Pair mode, far side: the worker of one flow that arrived from the peer instance.
#pragma once

#include <signal.h>

#include "config.hpp"
#include "conn_table.hpp"
#include "pair_lane_return.hpp"
#include "pair_payload.hpp"
#include "unique_fd.hpp"

namespace pepsal::proxy {

struct FarFlow {
    UniqueFd lane;            // lane 0, OPEN consumed
    pair::OpenPayload open;
    Endpoint peer;            // lane 0's remote address
    UniqueFd lane_feed;       // the flow's other lanes arrive here (SCM_RIGHTS)
    int lane_return = -1;     // the connmgr's lane return socket (borrowed); -1: close lanes
    pair::PathEstimate path;  // what the flow that last used lane 0 knew of the path
};

// Checks the destination against allow=, connects to it, and carries the flow between the
// destination and the lanes. A refused or unreachable destination, or one outside allow=, is
// answered with RST on the lanes, which resets the client on the near side. Returns the exit
// status of the worker process.
int run_far_worker(FarFlow flow, const Config& config, ConnTable& table, const sigset_t& wait_mask);

}  // namespace pepsal::proxy
