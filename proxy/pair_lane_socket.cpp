#include "pair_lane_socket.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>

#include "sockopt.hpp"

namespace pepsal::pair {

namespace {
constexpr int KEEPALIVE_IDLE_S = 30;
constexpr int KEEPALIVE_INTERVAL_S = 10;
constexpr int KEEPALIVE_PROBES = 3;
}  // namespace

void prepare_lane_socket(int fd, const Config& cfg, const std::string& what) {
    SideOptions o = cfg.server;  // congestion control and MSS of the outbound side
    o.sndbuf = cfg.lane_sndbuf;
    o.rcvbuf = cfg.lane_rcvbuf;
    o.nodelay = true;
    apply_side_options(fd, o, what);
    set_int_option(fd, SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE", what);
    arm_reset_on_close(fd);
    set_int_option(fd, IPPROTO_TCP, TCP_KEEPIDLE, KEEPALIVE_IDLE_S, "TCP_KEEPIDLE", what);
    set_int_option(fd, IPPROTO_TCP, TCP_KEEPINTVL, KEEPALIVE_INTERVAL_S, "TCP_KEEPINTVL", what);
    set_int_option(fd, IPPROTO_TCP, TCP_KEEPCNT, KEEPALIVE_PROBES, "TCP_KEEPCNT", what);
}

bool write_small(int fd, std::span<const uint8_t> bytes) {
    while (!bytes.empty()) {
        ssize_t n = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        bytes = bytes.subspan(size_t(n));
    }
    return true;
}

}  // namespace pepsal::pair
