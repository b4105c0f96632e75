// Pair mode, near side: the flow's bytes go to the peer instance over lanes from the warm pool.
#pragma once

#include <vector>

#include "pair_lane_return.hpp"
#include "route.hpp"
#include "unique_fd.hpp"

namespace pepsal::proxy {

class PairRoute final : public Route {
public:
    // `lanes`: authenticated lanes taken from the connmgr's pool (or dialed), at least one.
    // `lane_return`: the connmgr's lane return socket (borrowed), which gets the lanes back
    // after a clean end; -1 closes them. `path`: what an earlier flow measured, if anything.
    PairRoute(std::vector<UniqueFd> lanes, int lane_return, pair::PathEstimate path);
    FlowOutcome carry(Flow flow, const FlowContext& ctx) override;

private:
    std::vector<UniqueFd> lanes_;
    int lane_return_;
    pair::PathEstimate path_;
};

}  // namespace pepsal::proxy
