#include "listener.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "endpoint.hpp"
#include "error.hpp"
#include "log.hpp"
#include "sockopt.hpp"

namespace pepsal::connmgr {

namespace {

constexpr int LISTEN_BACKLOG = 4096;  // connections

UniqueFd open_one(const Endpoint& addr, const Config& cfg) {
    const std::string what = "listener " + addr.to_string();
    UniqueFd fd(socket(addr.family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) throw_errno("socket for " + what);
    set_int_option(fd.get(), SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR", what);
    if (addr.family() == AF_INET6) set_int_option(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY", what);
    if (cfg.mode == InterceptMode::tproxy) {
        if (addr.family() == AF_INET6)
            set_int_option(fd.get(), SOL_IPV6, IPV6_TRANSPARENT, 1, "IPV6_TRANSPARENT", what);
        else
            set_int_option(fd.get(), SOL_IP, IP_TRANSPARENT, 1, "IP_TRANSPARENT", what);
    }
    apply_side_options(fd.get(), cfg.client, what);
    if (cfg.fastopen_qlen > 0)
        set_int_option(fd.get(), IPPROTO_TCP, TCP_FASTOPEN, int(cfg.fastopen_qlen), "TCP_FASTOPEN", what);
    if (bind(fd.get(), addr.sa(), addr.len()) < 0) throw_errno("bind " + what);
    if (listen(fd.get(), LISTEN_BACKLOG) < 0) throw_errno("listen " + what);
    return fd;
}

}  // namespace

std::vector<UniqueFd> open_listeners(const Config& cfg) {
    std::vector<UniqueFd> out;
    out.push_back(open_one(Endpoint::v4(in_addr{htonl(INADDR_ANY)}, cfg.port), cfg));
    try {
        out.push_back(open_one(Endpoint::v6(in6addr_any, cfg.port), cfg));
    } catch (const std::system_error& e) {
        if (e.code().value() != EAFNOSUPPORT) throw;
        LOG_WARN("no IPv6 in this kernel; listening on IPv4 only");
    }
    return out;
}

UniqueFd open_pair_listener(const Config& cfg) {
    const Endpoint& addr = cfg.pair_listen;
    const std::string what = "pair-listen " + addr.to_string();
    UniqueFd fd(socket(addr.family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) throw_errno("socket for " + what);
    set_int_option(fd.get(), SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR", what);
    if (addr.family() == AF_INET6) set_int_option(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY", what);
    // Accepted lanes inherit the outbound options: they carry the long link.
    apply_side_options(fd.get(), cfg.server, what);
    if (bind(fd.get(), addr.sa(), addr.len()) < 0) throw_errno("bind " + what);
    if (listen(fd.get(), LISTEN_BACKLOG) < 0) throw_errno("listen " + what);
    return fd;
}

}  // namespace pepsal::connmgr
