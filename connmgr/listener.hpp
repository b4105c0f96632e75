// The connmgr's listening sockets.
#pragma once

#include <vector>

#include "config.hpp"
#include "unique_fd.hpp"

namespace pepsal::connmgr {

// Opens non-blocking listeners on 0.0.0.0:port and [::]:port (IPV6_V6ONLY), transparent in tproxy
// mode. The client-side socket options are set on the listeners because accepted sockets inherit
// them, and the buffer sizes decide the window scale announced in the SYN-ACK.
// IPv6 is skipped with a warning when the kernel has none. Throws std::system_error.
std::vector<UniqueFd> open_listeners(const Config& config);

// Pair mode, far side: the non-blocking socket lanes from the peer arrive on (pair-listen).
UniqueFd open_pair_listener(const Config& config);

}  // namespace pepsal::connmgr
