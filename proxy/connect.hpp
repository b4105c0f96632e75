// Opening the destination-facing connection of a flow.
#pragma once

#include <signal.h>

#include <cstdint>

#include "config.hpp"
#include "endpoint.hpp"
#include "unique_fd.hpp"

namespace pepsal::proxy {

struct ConnectResult {
    UniqueFd fd;    // connected, non-blocking; invalid on failure
    int error = 0;  // errno of the failure (ETIMEDOUT after timeout_ms, EINTR when stopped)
};

// Connects to `dest` with the destination-side socket options applied before the SYN leaves
// (so window scale and congestion control are right from the first packet). Waits at most
// `timeout_ms`, in ppoll with `wait_mask`; returns early with EINTR once *stop is set.
ConnectResult connect_to(const Endpoint& dest, const SideOptions& options, bool fastopen,
                         uint32_t timeout_ms, const volatile sig_atomic_t* stop,
                         const sigset_t* wait_mask);

}  // namespace pepsal::proxy
