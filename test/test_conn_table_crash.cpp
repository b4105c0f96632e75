// ConnTable when a process is SIGKILLed in the middle of an update, with the lock held: at
// exact points (test hooks) and at random moments. The table must never stay wedged or lose a
// slot.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <random>
#include <string>

#include "table_rig.hpp"

using namespace pepsal;
using namespace pepsal::test;

namespace {

int g_stall_fd = -1;
conn_table::test::Point g_stall_at;

// The child's hook: tell the parent where it is, then wait there, lock held, to be killed.
void stall(conn_table::test::Point point) {
    if (point != g_stall_at) return;
    char c = 's';
    if (write(g_stall_fd, &c, 1) != 1) _exit(4);
    for (;;) pause();
}

// Runs `update` in a child that stops at `point` with the lock held; SIGKILLs it there.
template <class F>
void kill_child_at(conn_table::test::Point point, F&& update) {
    int fds[2];
    REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
    UniqueFd ready(fds[0]), tell(fds[1]);
    pid_t pid = fork_child([&] {
        g_stall_fd = tell.get();
        g_stall_at = point;
        conn_table::test::set_hook(stall);
        update();
        return 5;  // the hook never returns
    });
    tell.reset();
    char c = 0;
    REQUIRE(read(ready.get(), &c, 1) == 1);
    REQUIRE(kill(pid, SIGKILL) == 0);
    REQUIRE(wait_child(pid) == 128 + SIGKILL);
}

}  // namespace

TEST_CASE("a process SIGKILLed mid-insert with the lock held is recovered from", "[table]") {
    HangGuard hang;
    SegmentGuard seg;
    auto t = ConnTable::create(seg.name, 8);
    REQUIRE(t.insert(syn_for(client(1)), 1) == ConnTable::Insert::inserted);
    SynRecord s = syn_for(client(2));
    kill_child_at(conn_table::test::Point::published_before_index,
                  [&] { ConnTable::attach(seg.name).insert(s, 1); });
    auto st = t.stats();  // the first operation after the kill inherits the lock
    CHECK(st.recoveries == 1);
    CHECK(st.used == 2);
    FlowView out;
    auto found = t.claim(s.client, getpid(), out);  // found: the index was rebuilt from the states
    CHECK(found);
    CHECK(t.claim(client(1), getpid(), out));
    check_consistent(t);
    CHECK(t.stats().recoveries == 1);
    CHECK(t.release_owned_by(getpid()) == 2);
    check_every_slot_usable(t);
}

TEST_CASE("a process SIGKILLed mid-release with the lock held is recovered from", "[table]") {
    HangGuard hang;
    SegmentGuard seg;
    auto t = ConnTable::create(seg.name, 8);
    SynRecord s = syn_for(client(2));
    REQUIRE(t.insert(s, 1) == ConnTable::Insert::inserted);
    kill_child_at(conn_table::test::Point::freed_before_bitmap, [&] {
        auto table = ConnTable::attach(seg.name);
        FlowView out;
        auto slot = table.claim(s.client, getpid(), out);
        if (slot) table.release(*slot, getpid());
    });
    CHECK(t.insert(s, 2) == ConnTable::Insert::inserted);  // not a duplicate: index entry gone
    auto st = t.stats();
    CHECK(st.recoveries == 1);
    CHECK(st.used == 1);
    check_consistent(t);
    check_every_slot_usable(t);
}

TEST_CASE("processes SIGKILLed at random moments never leave the table unusable", "[table]") {
    HangGuard hang;
    QuietLog quiet;
    SegmentGuard seg;
    const uint32_t CAPACITY = 16, CLIENTS = 24, KILLS = 200, MAX_DELAY_US = 400;
    auto t = ConnTable::create(seg.name, CAPACITY);
    std::random_device seed_source;
    const uint32_t seed = seed_source();
    INFO("seed " << seed);
    std::mt19937 rng(seed);
    for (uint32_t k = 0; k < KILLS; ++k) {
        int fds[2];
        REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
        UniqueFd ready(fds[0]), tell(fds[1]);
        const uint32_t child_seed = rng();
        pid_t pid = fork_child([&] {
            std::mt19937 r(child_seed);
            FlowView out;
            for (uint64_t n = 1;; ++n) {
                SynRecord s = syn_for(client(r() % CLIENTS));
                switch (r() % 8) {
                    case 0:
                        t.insert(s, n);
                        break;
                    case 1:
                        t.adopt(s, getpid(), n);
                        break;
                    case 2:
                        if (auto slot = t.claim(s.client, getpid(), out)) {
                            t.add_bytes(*slot, 10, 20);
                            if (r() % 2) t.release(*slot, getpid());
                        }
                        break;
                    case 3:
                        t.collect(n, 20);
                        break;
                    case 4:
                        t.release_owned_by(getpid());
                        break;
                    default:
                        t.snapshot();
                        break;
                }
                if (n == 1 && write(tell.get(), "r", 1) != 1) return 4;
            }
        });
        tell.reset();
        char c = 0;
        REQUIRE(read(ready.get(), &c, 1) == 1);
        usleep(rng() % MAX_DELAY_US);
        REQUIRE(kill(pid, SIGKILL) == 0);
        REQUIRE(wait_child(pid) == 128 + SIGKILL);
        check_consistent(t);
    }
    auto st = t.stats();
    std::printf("conn_table: %u random SIGKILLs, %llu of them with the lock held\n", KILLS,
                (unsigned long long)st.recoveries);
    check_every_slot_usable(t);
}
