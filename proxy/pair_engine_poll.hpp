// The pair engine's epoll set, level-triggered, with the interest of each fd kept in step with
// what the engine can do right now: EPOLLIN only while it would act on input, EPOLLOUT only
// while output is pending. A socket that can only report a permanent condition (EPOLLHUP of a
// finished socket is reported whatever the mask) is dropped from the set instead, so that no
// wait returns at once forever.
#pragma once

#include <signal.h>
#include <sys/epoll.h>

#include <cstdint>
#include <optional>
#include <span>

#include "unique_fd.hpp"

namespace pepsal::pair {

// One fd's registration. `tag` comes back in epoll_event.data.u64.
struct Watch {
    int fd = -1;
    uint64_t tag = 0;
    bool added = false;
    uint32_t events = 0;
};

class Poller {
public:
    Poller();  // throws std::system_error (epoll_create1)

    // Registers `w` with exactly `events` (0 still reports EPOLLERR and EPOLLHUP), or removes
    // it when `events` is std::nullopt. epoll_ctl only runs on a change. Throws on failure.
    void set(Watch& w, std::optional<uint32_t> events);

    // epoll_pwait: the number of events, or -errno (-EINTR when a signal came).
    int wait(std::span<epoll_event> out, int timeout_ms, const sigset_t* mask);

private:
    UniqueFd epoll_;
};

}  // namespace pepsal::pair
