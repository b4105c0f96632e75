// Pair mode, near side: lanes opened by a worker itself, when a burst of new flows has emptied
// the connmgr's warm pool. Costs the handshake's round trips, which the pool exists to avoid,
// but keeps the flow in pair mode.
#pragma once

#include <signal.h>

#include <cstdint>
#include <vector>

#include "config.hpp"
#include "pair_psk.hpp"
#include "unique_fd.hpp"

namespace pepsal::pair {

// Connects and authenticates up to `n` lanes to config.peer at once, waiting at most
// `timeout_ms` in ppoll with `wait_mask`. Returns the lanes that made it (possibly none).
std::vector<UniqueFd> dial_lanes(const Config& config, const Psk& key, size_t n, uint32_t timeout_ms,
                                 const volatile sig_atomic_t* stop, const sigset_t* wait_mask);

}  // namespace pepsal::pair
