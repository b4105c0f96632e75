// The kernel's view of where an intercepted flow was going.
#pragma once

#include <optional>

#include "config.hpp"
#include "endpoint.hpp"

namespace pepsal::proxy {

// redirect: SO_ORIGINAL_DST (IPv4) or IP6T_SO_ORIGINAL_DST (IPv6) from conntrack;
// tproxy: the accepted socket's local address, which TPROXY leaves untouched.
// std::nullopt with errno set when the kernel has no answer.
std::optional<Endpoint> kernel_original_dst(int fd, InterceptMode mode);

std::optional<Endpoint> peer_endpoint(int fd);
std::optional<Endpoint> local_endpoint(int fd);

// True when `addr` is one of this host's addresses (a socket can bind to it).
bool is_local_address(const Endpoint& addr);

}  // namespace pepsal::proxy
