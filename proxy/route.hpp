// The seam between accepting a flow and carrying its bytes: a Route decides where the bytes go.
// Direct mode connects to the destination itself (DirectRoute); pair mode hands the flow to the
// peer pepsal instance over its lanes.
#pragma once

#include <signal.h>

#include <cstdint>
#include <functional>
#include <string>

#include "config.hpp"
#include "endpoint.hpp"
#include "unique_fd.hpp"

namespace pepsal::proxy {

struct Flow {
    Endpoint client;     // the accepted socket's peer
    Endpoint dest;       // where the client was going
    UniqueFd client_fd;  // accepted, non-blocking
    std::string name;    // "client → dest", for log lines
};

struct FlowContext {
    const Config& config;
    const volatile sig_atomic_t* stop;
    const sigset_t* wait_mask;
    // Bytes moved since the last call: (client → dest, dest → client).
    std::function<void(uint64_t, uint64_t)> on_progress;
};

struct FlowOutcome {
    bool clean = false;    // both directions ended with FIN, nothing lost
    std::string summary;   // how it ended, for the log
    uint64_t to_dest = 0;
    uint64_t to_client = 0;
};

class Route {
public:
    virtual ~Route() = default;
    // Carries `flow` until it ends and closes (or resets) both sides. Never throws for a failure
    // of the flow itself: a destination that cannot be reached resets the client at once.
    virtual FlowOutcome carry(Flow flow, const FlowContext& ctx) = 0;
};

}  // namespace pepsal::proxy
