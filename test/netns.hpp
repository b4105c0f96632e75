// For unit tests that need a real network stack of their own: a private network namespace on
// the test thread, shell commands run in it, and the root check that never lets CI pass by
// skipping.
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "error.hpp"
#include "unique_fd.hpp"

namespace pepsal::test {

// Namespaces, iptables and NFQUEUE all need root. A CI run must not pass by skipping:
// with CI=true the test fails; otherwise it is skipped with a warning naming `what`.
inline bool privileged_or_skip(const char* what) {
    if (geteuid() == 0) return true;
    const char* ci = std::getenv("CI");
    if (ci && std::string(ci) == "true") FAIL(what << " tests need root (CI=true, so not skipped)");
    WARN(what << " tests need root: skipped");
    return false;
}

// Moves the calling thread into a new, anonymous network namespace and back when destroyed.
// Threads started meanwhile, and commands run with system(), inherit the new namespace.
class ScopedNetns {
public:
    ScopedNetns() {
        original_.reset(open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
        if (!original_) throw_errno("open /proc/thread-self/ns/net");
        if (unshare(CLONE_NEWNET) < 0) throw_errno("unshare CLONE_NEWNET");
    }
    ~ScopedNetns() {
        // Staying in the test namespace would silently break every later test: fail hard.
        if (setns(original_.get(), CLONE_NEWNET) < 0) {
            perror("setns back to the original network namespace");
            std::abort();
        }
    }
    ScopedNetns(const ScopedNetns&) = delete;
    ScopedNetns& operator=(const ScopedNetns&) = delete;

private:
    UniqueFd original_;
};

// Runs `cmd` (in the calling thread's namespace); the test fails if it does not exit 0.
inline void sh(const std::string& cmd) {
    INFO(cmd);
    REQUIRE(std::system((cmd + " >/dev/null").c_str()) == 0);
}

}  // namespace pepsal::test
