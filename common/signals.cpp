#include "signals.hpp"

#include "error.hpp"

namespace pepsal::signals {

namespace {
// Written from signal handlers, so it has to be a static; sig_atomic_t makes that safe.
Flags g_flags;

void on_signal(int sig) {
    switch (sig) {
        case SIGTERM:
        case SIGINT: g_flags.terminate = 1; break;
        case SIGCHLD: g_flags.child = 1; break;
        case SIGHUP: g_flags.hangup = 1; break;
        default: break;
    }
}

constexpr int HANDLED[] = {SIGTERM, SIGINT, SIGCHLD, SIGHUP};
}  // namespace

Flags& flags() { return g_flags; }

void reset() {
    g_flags.terminate = 0;
    g_flags.child = 0;
    g_flags.hangup = 0;
}

sigset_t install() {
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ign, nullptr);

    sigset_t block, old;
    sigemptyset(&block);
    for (int s : HANDLED) sigaddset(&block, s);
    if (sigprocmask(SIG_BLOCK, &block, &old) < 0) throw_errno("sigprocmask");

    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (int s : HANDLED) {
        if (sigaction(s, &sa, nullptr) < 0) throw_errno("sigaction " + std::to_string(s));
        sigdelset(&old, s);
    }
    return old;
}

}  // namespace pepsal::signals
