// Direct mode: pepsal connects to the destination itself and splices the two sockets.
#pragma once

#include "route.hpp"

namespace pepsal::proxy {

class DirectRoute final : public Route {
public:
    FlowOutcome carry(Flow flow, const FlowContext& ctx) override;
};

}  // namespace pepsal::proxy
