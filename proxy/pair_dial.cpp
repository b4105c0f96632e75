#include "pair_dial.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <memory>
#include <system_error>

#include "clock.hpp"
#include "log.hpp"
#include "pair_handshake.hpp"
#include "pair_lane_socket.hpp"

namespace pepsal::pair {

namespace {
struct Dial {
    UniqueFd fd;
    std::unique_ptr<Initiator> handshake;  // set once connected
    bool done = false;
};

// One step of a lane's dial on readiness; false when the lane failed.
bool advance(Dial& d, NonceRegistry& nonces, const Psk& key) {
    if (!d.handshake) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(d.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) return false;
        d.handshake = std::make_unique<Initiator>(key, nonces);
        return write_small(d.fd.get(), d.handshake->start().output);
    }
    uint8_t buf[CHALLENGE_BYTES];
    ssize_t n = recv(d.fd.get(), buf, sizeof buf, 0);
    if (n < 0) return errno == EAGAIN || errno == EINTR;
    HandshakeStep step = n == 0 ? d.handshake->eof() : d.handshake->feed({buf, size_t(n)});
    if (step.result == HandshakeStep::Result::need_more) return true;
    if (step.result != HandshakeStep::Result::done || step.consumed != size_t(n)) return false;
    d.done = write_small(d.fd.get(), step.output);
    return d.done;
}
}  // namespace

std::vector<UniqueFd> dial_lanes(const Config& cfg, const Psk& key, size_t n, uint32_t timeout_ms,
                                 const volatile sig_atomic_t* stop, const sigset_t* wait_mask) {
    NonceRegistry nonces;
    std::vector<Dial> dials;
    for (size_t i = 0; i < n; ++i) {
        Dial d;
        d.fd.reset(socket(cfg.peer.family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
        try {
            if (!d.fd) throw std::system_error(errno, std::generic_category(), "socket");
            prepare_lane_socket(d.fd.get(), cfg, "lane to " + cfg.peer.to_string());
        } catch (const std::system_error& e) {
            LOG_WARN("lane to %s: %s", cfg.peer.to_string().c_str(), e.what());
            continue;
        }
        if (connect(d.fd.get(), cfg.peer.sa(), cfg.peer.len()) < 0 && errno != EINPROGRESS) continue;
        dials.push_back(std::move(d));
    }
    uint64_t deadline = monotonic_ms() + timeout_ms;
    for (;;) {
        std::erase_if(dials, [](const Dial& d) { return !d.fd; });
        std::vector<pollfd> fds;
        for (const auto& d : dials)
            if (!d.done) fds.push_back({d.fd.get(), short(d.handshake ? POLLIN : POLLOUT), 0});
        uint64_t now = monotonic_ms();
        if (fds.empty() || now >= deadline || (stop && *stop)) break;
        timespec ts{time_t((deadline - now) / 1000), long((deadline - now) % 1000) * 1000000L};
        if (ppoll(fds.data(), fds.size(), &ts, wait_mask) <= 0) continue;
        for (const auto& p : fds) {
            if (!p.revents) continue;
            for (auto& d : dials)
                if (d.fd.get() == p.fd && !advance(d, nonces, key)) d.fd.reset();
        }
    }
    std::vector<UniqueFd> lanes;
    for (auto& d : dials)
        if (d.done) lanes.push_back(std::move(d.fd));
    return lanes;
}

}  // namespace pepsal::pair
