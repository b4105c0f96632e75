#include "pair_engine_poll.hpp"

#include <cerrno>
#include <string>

#include "error.hpp"

namespace pepsal::pair {

Poller::Poller() : epoll_(epoll_create1(EPOLL_CLOEXEC)) {
    if (!epoll_) throw_errno("epoll_create1");
}

void Poller::set(Watch& w, std::optional<uint32_t> events) {
    if (!events) {
        // The fd may already be closed (it left the set with it): nothing to undo then.
        if (w.added && epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, w.fd, nullptr) < 0 && errno != EBADF &&
            errno != ENOENT)
            throw_errno("epoll_ctl DEL fd " + std::to_string(w.fd));
        w.added = false;
        return;
    }
    if (w.added && w.events == *events) return;
    epoll_event ev{};
    ev.events = *events;
    ev.data.u64 = w.tag;
    int op = w.added ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(epoll_.get(), op, w.fd, &ev) < 0)
        throw_errno(std::string("epoll_ctl ") + (w.added ? "MOD" : "ADD") + " fd " + std::to_string(w.fd));
    w.added = true;
    w.events = *events;
}

int Poller::wait(std::span<epoll_event> out, int timeout_ms, const sigset_t* mask) {
    int n = epoll_pwait(epoll_.get(), out.data(), int(out.size()), timeout_ms, mask);
    return n < 0 ? -errno : n;
}

}  // namespace pepsal::pair
