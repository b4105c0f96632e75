#include "original_dst.hpp"

#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <sys/socket.h>

#include "unique_fd.hpp"

namespace pepsal::proxy {

std::optional<Endpoint> peer_endpoint(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) < 0) return std::nullopt;
    return Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

std::optional<Endpoint> local_endpoint(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) < 0) return std::nullopt;
    return Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

std::optional<Endpoint> kernel_original_dst(int fd, InterceptMode mode) {
    if (mode == InterceptMode::tproxy) return local_endpoint(fd);
    auto local = local_endpoint(fd);
    if (!local) return std::nullopt;
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    int rc = local->family() == AF_INET6
                 ? getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &ss, &len)
                 : getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &ss, &len);
    if (rc < 0) return std::nullopt;
    return Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

bool is_local_address(const Endpoint& addr) {
    UniqueFd fd(socket(addr.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd) return false;
    Endpoint any_port = addr;
    any_port.set_port(0);
    return bind(fd.get(), any_port.sa(), any_port.len()) == 0;
}

}  // namespace pepsal::proxy
