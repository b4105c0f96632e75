#include "connect.hpp"

#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <system_error>

#include "clock.hpp"
#include "sockopt.hpp"

namespace pepsal::proxy {

namespace {
// Waits until the connect on `fd` completes; returns 0 or the errno that ended it.
int wait_connected(int fd, uint32_t timeout_ms, const volatile sig_atomic_t* stop,
                   const sigset_t* wait_mask) {
    uint64_t deadline = monotonic_ms() + timeout_ms;
    for (;;) {
        if (stop && *stop) return EINTR;
        uint64_t now = monotonic_ms();
        if (now >= deadline) return ETIMEDOUT;
        uint64_t left = deadline - now;
        timespec ts{time_t(left / 1000), long(left % 1000) * 1000000L};
        pollfd p{fd, POLLOUT, 0};
        int n = ppoll(&p, 1, &ts, wait_mask);
        if (n < 0 && errno != EINTR) return errno;
        if (n <= 0) continue;
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return errno;
        return err;
    }
}
}  // namespace

ConnectResult connect_to(const Endpoint& dest, const SideOptions& options, bool fastopen,
                         uint32_t timeout_ms, const volatile sig_atomic_t* stop,
                         const sigset_t* wait_mask) {
    ConnectResult r;
    UniqueFd fd(socket(dest.family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) {
        r.error = errno;
        return r;
    }
    try {
        apply_side_options(fd.get(), options, "connection to " + dest.to_string());
        if (fastopen) set_int_option(fd.get(), IPPROTO_TCP, TCP_FASTOPEN_CONNECT, 1, "TCP_FASTOPEN_CONNECT", dest.to_string());
    } catch (const std::system_error& e) {
        r.error = e.code().value();
        return r;
    }
    if (connect(fd.get(), dest.sa(), dest.len()) < 0 && errno != EINPROGRESS) {
        r.error = errno;
        return r;
    }
    // With TCP_FASTOPEN_CONNECT the connect returns at once and the SYN waits for the first
    // write; the relay's first splice then completes the handshake.
    if (!fastopen) r.error = wait_connected(fd.get(), timeout_ms, stop, wait_mask);
    if (r.error == 0) {
        arm_reset_on_close(fd.get());
        r.fd = std::move(fd);
    }
    return r;
}

}  // namespace pepsal::proxy
