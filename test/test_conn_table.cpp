// ConnTable on real POSIX shared memory, with real processes: forked workers that attach,
// claim, release and die; the segment's lifecycle. Crashes in the middle of an update are in
// test_conn_table_crash.cpp.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>

#include "fd_count.hpp"
#include "table_rig.hpp"

using namespace pepsal;
using namespace pepsal::test;

TEST_CASE("claim finds an IPv4 and an IPv6 entry by client endpoint", "[table]") {
    SegmentGuard seg;
    auto t = ConnTable::create(seg.name, 8);
    REQUIRE(t.capacity() == 8);
    SynRecord a = syn_for(v4("198.51.100.7", 51000));
    SynRecord b = syn_for(v6("2001:db8::7", 51000));
    b.dest = v6("2001:db8:ffff::1", 443);
    REQUIRE(t.insert(a, 1000) == ConnTable::Insert::inserted);
    REQUIRE(t.insert(b, 1001) == ConnTable::Insert::inserted);
    REQUIRE(t.stats().used == 2);

    FlowView out;
    auto sa = t.claim(a.client, getpid(), out);
    REQUIRE(sa);
    CHECK(out.index == *sa);
    CHECK(out.state == SlotState::active);
    CHECK(out.syn.client == a.client);
    CHECK(out.syn.dest == a.dest);
    CHECK(out.syn.options.mss == 1460);
    CHECK(out.syn.options.wscale == 7);
    CHECK(out.syn.options.sack_permitted);
    CHECK(out.syn.options.tsval == 0xdeadbeef);
    CHECK(out.syn_ms == 1000);
    CHECK(out.active_ms > 0);
    CHECK(out.owner == getpid());

    auto sb = t.claim(b.client, getpid(), out);
    REQUIRE(sb);
    CHECK(*sb != *sa);
    CHECK(out.syn.dest == b.dest);
    CHECK(out.syn.dest.to_string() == "[2001:db8:ffff::1]:443");

    // Another port, and an address equal in its first 4 bytes but of the other family.
    CHECK_FALSE(t.claim(v4("198.51.100.7", 51001), getpid(), out));
    CHECK_FALSE(t.claim(v6("c633:6407::", 51000), getpid(), out));
    // Already active for a live worker (pid 1 always exists): not claimed twice.
    CHECK_FALSE(t.claim(a.client, 1, out));
    auto st = t.stats();
    CHECK(st.claimed == 2);
    CHECK(st.missed == 3);

    auto flows = t.snapshot();
    REQUIRE(flows.size() == 2);
    for (const auto& f : flows) CHECK(f.state == SlotState::active);

    t.release(*sa, 1);  // not the owner: ignored
    CHECK(t.stats().used == 2);
    t.release(*sa, getpid());
    t.release(*sb, getpid());
    CHECK(t.stats().used == 0);
    CHECK_FALSE(t.claim(a.client, getpid(), out));
}

TEST_CASE("a retransmitted SYN is a duplicate while its entry exists", "[table]") {
    SegmentGuard seg;
    auto t = ConnTable::create(seg.name, 4);
    SynRecord s = syn_for(v4("198.51.100.1", 40000));
    REQUIRE(t.insert(s, 1) == ConnTable::Insert::inserted);
    CHECK(t.insert(s, 2) == ConnTable::Insert::duplicate);
    FlowView out;
    auto slot = t.claim(s.client, getpid(), out);
    REQUIRE(slot);
    CHECK(out.syn_ms == 1);  // the duplicate changed nothing
    CHECK(t.insert(s, 3) == ConnTable::Insert::duplicate);
    auto st = t.stats();
    CHECK(st.used == 1);
    CHECK(st.inserted == 1);
    CHECK(st.duplicates == 2);
    t.release(*slot, getpid());
    CHECK(t.insert(s, 4) == ConnTable::Insert::inserted);
}

TEST_CASE("a full table refuses SYNs until slots are freed", "[table]") {
    SegmentGuard seg;
    const uint32_t capacity = GENERATE(4u, 64u, 130u);  // one word, exactly one, a partial third
    auto t = ConnTable::create(seg.name, capacity);
    std::vector<uint32_t> slots;
    for (uint32_t i = 0; i < capacity; ++i)
        REQUIRE(t.insert(syn_for(client(i)), 1) == ConnTable::Insert::inserted);
    CHECK(t.insert(syn_for(client(capacity)), 1) == ConnTable::Insert::full);
    CHECK(t.adopt(syn_for(client(capacity)), getpid(), 1) == std::nullopt);
    auto st = t.stats();
    CHECK(st.used == capacity);
    CHECK(st.full == 1);

    // Free the first and the last slot: both must be found again.
    FlowView out;
    auto first = t.claim(client(0), getpid(), out);
    auto last = t.claim(client(capacity - 1), getpid(), out);
    REQUIRE(first);
    REQUIRE(last);
    t.release(*first, getpid());
    t.release(*last, getpid());
    CHECK(t.insert(syn_for(client(capacity)), 2) == ConnTable::Insert::inserted);
    CHECK(t.adopt(syn_for(client(capacity + 1)), getpid(), 2));
    CHECK(t.insert(syn_for(client(capacity + 2)), 2) == ConnTable::Insert::full);
    check_consistent(t);
}

TEST_CASE("collect expires pending entries older than the timeout", "[table]") {
    SegmentGuard seg;
    auto t = ConnTable::create(seg.name, 8);
    REQUIRE(t.insert(syn_for(client(1)), 1000) == ConnTable::Insert::inserted);
    REQUIRE(t.insert(syn_for(client(2)), 5000) == ConnTable::Insert::inserted);
    CHECK(t.collect(500, 0) == 0);  // a clock behind the entries expires nothing
    CHECK(t.collect(6000, 5000) == 0);
    CHECK(t.collect(6001, 5000) == 1);
    FlowView out;
    CHECK_FALSE(t.claim(client(1), getpid(), out));
    CHECK(t.claim(client(2), getpid(), out));
    CHECK(t.collect(UINT64_MAX, 0) == 0);  // active and alive: kept
    auto st = t.stats();
    CHECK(st.expired == 1);
    CHECK(st.used == 1);
}

TEST_CASE("collect frees the entries of dead and zombie workers", "[table]") {
    SegmentGuard seg;
    auto t = ConnTable::create(seg.name, 8);
    FlowView out;
    for (uint32_t i = 0; i < 3; ++i)
        REQUIRE(t.insert(syn_for(client(i)), 1) == ConnTable::Insert::inserted);
    REQUIRE(t.claim(client(0), dead_pid(), out));
    REQUIRE(t.claim(client(1), getpid(), out));

    // A worker that exited but was not reaped yet is dead too.
    pid_t zombie = fork_child([] { return 0; });
    siginfo_t info{};
    REQUIRE(waitid(P_PID, id_t(zombie), &info, WEXITED | WNOWAIT) == 0);
    REQUIRE(t.claim(client(2), zombie, out));

    CHECK(t.collect(2, 1000) == 2);
    REQUIRE(wait_child(zombie) == 0);
    auto flows = t.snapshot();
    REQUIRE(flows.size() == 1);
    CHECK(flows[0].syn.client == client(1));
    CHECK(t.stats().orphaned == 2);

    // The start time tells a reused pid from the worker that held the slot.
    using conn_table::process_alive;
    using conn_table::process_start_time;
    uint64_t me = process_start_time(getpid());
    CHECK(me != 0);
    CHECK(process_alive(getpid(), me));
    CHECK_FALSE(process_alive(getpid(), me + 1));
    CHECK_FALSE(process_alive(dead_pid(), 0));
}

TEST_CASE("release_owned_by frees every slot of one worker", "[table]") {
    SegmentGuard seg;
    auto t = ConnTable::create(seg.name, 8);
    FlowView out;
    pid_t gone = dead_pid();
    for (uint32_t i = 0; i < 4; ++i)
        REQUIRE(t.insert(syn_for(client(i)), 1) == ConnTable::Insert::inserted);
    REQUIRE(t.claim(client(0), gone, out));
    REQUIRE(t.claim(client(1), gone, out));
    REQUIRE(t.claim(client(2), getpid(), out));
    REQUIRE(t.adopt(syn_for(client(7)), gone, 1));
    CHECK(t.release_owned_by(gone) == 3);
    CHECK(t.release_owned_by(gone) == 0);
    auto st = t.stats();
    CHECK(st.orphaned == 3);
    CHECK(st.used == 2);  // ours and the pending one
    check_consistent(t);
}

TEST_CASE("byte counters add up across processes and restart with the slot", "[table]") {
    HangGuard hang;
    SegmentGuard seg;
    auto t = ConnTable::create(seg.name, 4);
    REQUIRE(t.insert(syn_for(client(1)), 1) == ConnTable::Insert::inserted);
    FlowView out;
    auto slot = t.claim(client(1), getpid(), out);
    REQUIRE(slot);
    const int ROUNDS = 20000;
    pid_t child = fork_child([&] {
        auto mine = ConnTable::attach(seg.name);
        for (int i = 0; i < ROUNDS; ++i) mine.add_bytes(*slot, 1, 2);
        return 0;
    });
    for (int i = 0; i < ROUNDS; ++i) t.add_bytes(*slot, 3, 0);
    REQUIRE(wait_child(child) == 0);
    auto flows = t.snapshot();
    REQUIRE(flows.size() == 1);
    CHECK(flows[0].bytes_to_dest == uint64_t(4 * ROUNDS));
    CHECK(flows[0].bytes_to_client == uint64_t(2 * ROUNDS));

    t.release(*slot, getpid());
    auto again = t.adopt(syn_for(client(2)), getpid(), 5);
    REQUIRE(again == slot);
    flows = t.snapshot();
    REQUIRE(flows.size() == 1);
    CHECK(flows[0].state == SlotState::active);
    CHECK(flows[0].bytes_to_dest == 0);
    CHECK(flows[0].bytes_to_client == 0);
}

TEST_CASE("create replaces a segment whose creator died", "[table]") {
    SegmentGuard seg;
    pid_t creator = fork_child([&] {
        auto t = ConnTable::create(seg.name, 8);
        t.insert(syn_for(client(1)), 1);
        return 0;  // _exit: the segment stays behind
    });
    REQUIRE(wait_child(creator) == 0);
    REQUIRE(ConnTable::attach(seg.name).stats().used == 1);

    auto t = ConnTable::create(seg.name, 16);
    CHECK(t.capacity() == 16);
    CHECK(t.stats().used == 0);
    CHECK(t.stats().inserted == 0);
}

TEST_CASE("create refuses a segment whose creator is alive", "[table]") {
    SegmentGuard seg;
    auto t = ConnTable::create(seg.name, 8);
    REQUIRE(t.insert(syn_for(client(1)), 1) == ConnTable::Insert::inserted);
    const std::string expected = "shared memory segment /" + seg.name +
                                 " is in use by pepsal pid " + std::to_string(getpid());
    pid_t other = fork_child([&] {
        try {
            ConnTable::create(seg.name, 8);
        } catch (const std::runtime_error& e) {
            expect(e.what() == expected, e.what());
            return 0;
        }
        return 1;
    });
    CHECK(wait_child(other) == 0);
    CHECK_THROWS_WITH(ConnTable::create(seg.name, 8), expected);
    CHECK(ConnTable::attach(seg.name).stats().used == 1);  // left untouched
}

TEST_CASE("attach and create report bad segments by name", "[table]") {
    namespace bip = boost::interprocess;
    SegmentGuard seg;
    CHECK_THROWS_WITH(ConnTable::attach(seg.name),
                      Catch::Contains("/" + seg.name) && Catch::Contains("does not exist"));
    CHECK_THROWS_AS(ConnTable::create(seg.name, 0), std::invalid_argument);
    CHECK_THROWS_AS(ConnTable::create("a/b", 8), std::invalid_argument);
    {
        bip::shared_memory_object raw(bip::create_only, seg.name.c_str(), bip::read_write);
        raw.truncate(100);
    }
    CHECK_THROWS_WITH(ConnTable::attach(seg.name),
                      Catch::Contains("/" + seg.name) && Catch::Contains("too small"));
    {
        bip::shared_memory_object raw(bip::open_only, seg.name.c_str(), bip::read_write);
        raw.truncate(1 << 16);
    }
    CHECK_THROWS_WITH(ConnTable::attach(seg.name),
                      Catch::Contains("not a pepsal connection table"));
    // A zeroed segment names no creator: create may replace it.
    CHECK(ConnTable::create(seg.name, 8).capacity() == 8);
}

TEST_CASE("create and attach keep no descriptor open", "[table]") {
    SegmentGuard seg;
    int before = open_fd_count();
    {
        auto t = ConnTable::create(seg.name, 8);
        auto u = ConnTable::attach(seg.name);
        CHECK(open_fd_count() == before);
        REQUIRE(t.insert(syn_for(client(3)), 1) == ConnTable::Insert::inserted);
        CHECK(u.stats().used == 1);
        ConnTable moved = std::move(u);
        CHECK(moved.snapshot().size() == 1);
    }
    CHECK(open_fd_count() == before);
}

TEST_CASE("two processes insert, claim and release concurrently", "[table]") {
    HangGuard hang;
    SegmentGuard seg;
    auto t = ConnTable::create(seg.name, 64);
    const uint32_t ROUNDS = 3000, WINDOW = 16, SHARED = 4;
    // Each round: one flow of its own (held for WINDOW rounds), one raced for with the other.
    auto worker = [&](uint32_t id) {
        auto table = ConnTable::attach(seg.name);
        std::deque<uint32_t> held;
        FlowView out;
        for (uint32_t i = 0; i < ROUNDS; ++i) {
            Endpoint own = client(id * 100000 + i);
            expect(table.insert(syn_for(own), i) == ConnTable::Insert::inserted,
                   "own insert refused");
            auto slot = table.claim(own, getpid(), out);
            expect(slot && out.index == *slot && out.syn.client == own && out.owner == getpid(),
                   "own claim lost or got another flow's slot");
            table.add_bytes(*slot, 1, 1);
            held.push_back(*slot);
            if (held.size() > WINDOW) {
                table.release(held.front(), getpid());
                held.pop_front();
            }
            Endpoint shared = client(500000 + i % SHARED);
            table.insert(syn_for(shared), i);
            if (auto got = table.claim(shared, getpid(), out)) {
                expect(out.syn.client == shared, "shared claim got another flow's slot");
                table.release(*got, getpid());
            }
        }
        for (uint32_t s : held) table.release(s, getpid());
        return 0;
    };
    pid_t a = fork_child([&] { return worker(1); });
    pid_t b = fork_child([&] { return worker(2); });
    REQUIRE(wait_child(a) == 0);
    REQUIRE(wait_child(b) == 0);
    auto st = t.stats();
    CHECK(st.inserted + st.duplicates == 4 * ROUNDS);
    CHECK(st.claimed + st.missed == 4 * ROUNDS);
    CHECK(st.inserted == st.claimed);  // every flow recorded was claimed by exactly one worker
    CHECK(st.full == 0);
    CHECK(st.used == 0);
    CHECK(st.recoveries == 0);
    check_every_slot_usable(t);
}

