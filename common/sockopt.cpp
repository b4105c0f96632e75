#include "sockopt.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "error.hpp"
#include "unique_fd.hpp"

namespace pepsal {

bool congestion_usable(const std::string& name) {
    UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return false;
    return setsockopt(fd.get(), IPPROTO_TCP, TCP_CONGESTION, name.data(), socklen_t(name.size())) == 0;
}

void set_int_option(int fd, int level, int name, int value, const char* option_name,
                    const std::string& what) {
    if (setsockopt(fd, level, name, &value, sizeof value) < 0)
        throw_errno(std::string("setsockopt ") + option_name + "=" + std::to_string(value) + " on " + what);
}

namespace {
void set_buffer(int fd, int force_opt, int opt, int bytes, const char* name, const std::string& what) {
    // SO_*BUFFORCE needs CAP_NET_ADMIN; without it fall back to the capped variant.
    if (setsockopt(fd, SOL_SOCKET, force_opt, &bytes, sizeof bytes) == 0) return;
    set_int_option(fd, SOL_SOCKET, opt, bytes, name, what);
}
}  // namespace

void apply_side_options(int fd, const SideOptions& o, const std::string& what) {
    if (!o.congestion.empty() &&
        setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, o.congestion.data(), socklen_t(o.congestion.size())) < 0)
        throw_errno("setsockopt TCP_CONGESTION=" + o.congestion + " on " + what);
    if (o.sndbuf > 0) set_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, o.sndbuf, "SO_SNDBUF", what);
    if (o.rcvbuf > 0) set_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, o.rcvbuf, "SO_RCVBUF", what);
    set_int_option(fd, IPPROTO_TCP, TCP_NODELAY, o.nodelay ? 1 : 0, "TCP_NODELAY", what);
    if (o.mss > 0) set_int_option(fd, IPPROTO_TCP, TCP_MAXSEG, o.mss, "TCP_MAXSEG", what);
}

void arm_reset_on_close(int fd) {
    linger l{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

void disarm_reset_on_close(int fd) {
    linger l{0, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

void set_nonblocking(int fd, bool on) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK) < 0)
        throw_errno("fcntl O_NONBLOCK on fd " + std::to_string(fd));
}

}  // namespace pepsal
