// Pair mode, near side: the flow's bytes go to the peer instance over lanes from the warm pool.
#pragma once

#include <vector>

#include "route.hpp"
#include "unique_fd.hpp"

namespace pepsal::proxy {

class PairRoute final : public Route {
public:
    // `lanes`: authenticated lanes taken from the connmgr's pool, at least one.
    explicit PairRoute(std::vector<UniqueFd> lanes);
    FlowOutcome carry(Flow flow, const FlowContext& ctx) override;

private:
    std::vector<UniqueFd> lanes_;
};

}  // namespace pepsal::proxy
