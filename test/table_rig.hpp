// Helpers of the connection-table tests (test_conn_table*.cpp): a segment per test removed
// however it ends, hang and log guards, endpoints and SYNs, forked children whose failures
// become exit codes, and checks of the table's invariants through its public interface.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <boost/interprocess/shared_memory_object.hpp>
#include <catch2/catch.hpp>
#include <cstdio>
#include <deque>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include "clock.hpp"
#include "conn_table.hpp"
#include "conn_table_process.hpp"
#include "conn_table_test_hook.hpp"
#include "log.hpp"
#include "unique_fd.hpp"

namespace pepsal::test {

inline constexpr unsigned HANG_LIMIT_S = 60;  // only catches a wedged table; real runs take ~1 s

inline std::string unique_name() {
    static int n = 0;
    return "pepsal-test-table-" + std::to_string(getpid()) + "-" + std::to_string(++n);
}

// Removes the test's segment however the test ends. Forked children leave with _exit and
// never run it.
struct SegmentGuard {
    std::string name = unique_name();
    ~SegmentGuard() { ConnTable::remove(name); }
};

// A wedged lock must fail the run, not hang it: SIGALRM's default action ends the process.
struct HangGuard {
    HangGuard() { alarm(HANG_LIMIT_S); }
    ~HangGuard() { alarm(0); }
};

// Silences the warning every recovery logs, for tests that cause hundreds of them.
struct QuietLog {
    log::Level saved = log::max_level();
    QuietLog() { log::init("pepsal", false, log::Level::error); }
    ~QuietLog() { log::init("pepsal", false, saved); }
};

inline Endpoint v4(const char* addr, uint16_t port) {
    in_addr a{};
    inet_pton(AF_INET, addr, &a);
    return Endpoint::v4(a, port);
}

inline Endpoint v6(const char* addr, uint16_t port) {
    in6_addr a{};
    inet_pton(AF_INET6, addr, &a);
    return Endpoint::v6(a, port);
}

// Client number `n`: 10.x.y.z:(40000 + n % 1000), distinct for distinct n.
inline Endpoint client(uint32_t n) {
    in_addr a{};
    a.s_addr = htonl(0x0a000000u | n);
    return Endpoint::v4(a, uint16_t(40000 + n % 1000));
}

inline SynRecord syn_for(const Endpoint& c) {
    SynRecord s;
    s.client = c;
    s.dest = v4("192.0.2.80", 80);
    s.options.mss = 1460;
    s.options.wscale = 7;
    s.options.sack_permitted = true;
    s.options.timestamps = true;
    s.options.tsval = 0xdeadbeef;
    return s;
}

// In a forked child: failures become exit codes (Catch's assertions do not cross fork).
inline void expect(bool ok, const char* what) {
    if (!ok) throw std::runtime_error(what);
}

template <class F>
inline pid_t fork_child(F&& body) {
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        int rc = 1;
        try {
            rc = body();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "child %d: %s\n", int(getpid()), e.what());
        }
        _exit(rc);
    }
    return pid;
}

// Exit code, or 128 + signal.
inline int wait_child(pid_t pid) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

inline pid_t dead_pid() {
    pid_t pid = fork_child([] { return 0; });
    REQUIRE(wait_child(pid) == 0);
    return pid;
}


// The table's invariants, through its public interface only: the bitmap agrees with the slot
// states (used == number of non-free slots), clients are unique, and the index finds every
// entry (inserting its SYN again is a duplicate).
inline void check_consistent(ConnTable& t) {
    auto flows = t.snapshot();
    auto st = t.stats();
    REQUIRE(st.used == flows.size());
    std::set<std::string> clients;
    for (const auto& f : flows) {
        REQUIRE(f.state != SlotState::free);
        REQUIRE(clients.insert(f.syn.client.to_string()).second);
        REQUIRE(t.insert(f.syn, monotonic_ms()) == ConnTable::Insert::duplicate);
    }
}

// Frees everything (every worker is dead), then proves no slot was lost: all `capacity` slots
// can be filled, one more is refused, and they can be freed again.
inline void check_every_slot_usable(ConnTable& t) {
    t.collect(UINT64_MAX, 0);
    REQUIRE(t.stats().used == 0);
    for (uint32_t i = 0; i < t.capacity(); ++i)
        REQUIRE(t.insert(syn_for(client(900000 + i)), 1) == ConnTable::Insert::inserted);
    REQUIRE(t.insert(syn_for(client(999999)), 1) == ConnTable::Insert::full);
    REQUIRE(t.collect(UINT64_MAX, 0) == t.capacity());
    REQUIRE(t.stats().used == 0);
}

}  // namespace pepsal::test
