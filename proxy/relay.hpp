// The direct-mode data path: copies bytes between two connected TCP sockets with splice()
// through a pipe per direction, driven by epoll, until both directions are finished.
#pragma once

#include <signal.h>

#include <cstdint>
#include <functional>
#include <string>

#include "unique_fd.hpp"

namespace pepsal::proxy {

struct RelayOptions {
    size_t pipe_bytes = 1 << 20;  // per direction (F_SETPIPE_SZ); the kernel may round it
    int idle_timeout_ms = 0;      // no byte either way for this long ends the flow; 0: never
    // Checked whenever epoll_pwait is interrupted; non-zero ends the flow with resets.
    const volatile sig_atomic_t* stop = nullptr;
    // Signal mask used while waiting (epoll_pwait), so a blocked SIGTERM is delivered only there.
    const sigset_t* wait_mask = nullptr;
    // Called after bytes moved: (bytes a→b, bytes b→a) since the previous call.
    std::function<void(uint64_t, uint64_t)> on_progress;
};

enum class RelayEnd {
    closed,        // both directions ended with FIN and every byte was delivered
    reset_by_a,    // a reset (or failed); b was reset in turn
    reset_by_b,    // b reset (or failed); a was reset in turn
    idle_timeout,  // both reset
    stopped,       // *stop became non-zero; both reset
    error,         // local failure (pipe, epoll); both reset
};

const char* to_string(RelayEnd end);

struct RelayResult {
    RelayEnd end = RelayEnd::closed;
    uint64_t a_to_b = 0;
    uint64_t b_to_a = 0;
    std::string detail;  // errno text for resets and errors
};

// Takes ownership of two connected, non-blocking TCP sockets and relays until the flow ends;
// both are closed on return. Contract:
//  - EOF from one side becomes shutdown(SHUT_WR) on the other once every byte read before it
//    was written; the other direction keeps flowing.
//  - A reset or a read/write error on one side closes the other with SO_LINGER {1, 0} (RST).
//  - Data is never held back to coalesce (no SPLICE_F_MORE): latency added is one splice.
//  - Back-pressure: a direction whose pipe is full stops reading its source until it drains.
RelayResult relay(UniqueFd a, UniqueFd b, const RelayOptions& options);

// Closes `fd` with an RST instead of a FIN (SO_LINGER {1, 0}).
void reset_close(UniqueFd fd);

}  // namespace pepsal::proxy
