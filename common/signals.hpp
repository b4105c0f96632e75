// Signal handling shared by every pepsal process: handlers only set flags; the signals stay
// blocked except while a process waits (ppoll/epoll_pwait with the wait mask), so no wake-up is
// lost between checking a flag and going to sleep.
#pragma once

#include <signal.h>

namespace pepsal::signals {

struct Flags {
    volatile sig_atomic_t terminate = 0;  // SIGTERM or SIGINT
    volatile sig_atomic_t child = 0;      // SIGCHLD
    volatile sig_atomic_t hangup = 0;     // SIGHUP
};

// The process's flags. The only writers are the handlers (and reset() after fork).
Flags& flags();

// Ignores SIGPIPE, blocks SIGTERM/SIGINT/SIGCHLD/SIGHUP, installs the flag-setting handlers and
// returns the mask to wait with: the previous mask without those four.
sigset_t install();

// Clears every flag; a forked child calls it so it does not inherit its parent's pending state.
void reset();

}  // namespace pepsal::signals
