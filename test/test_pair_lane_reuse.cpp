// Lane reuse on the loopback rig: at a clean end both engines exchange DONE on every lane and
// hand the lanes back (EngineOptions::keep_lanes), and the next flow runs on the same TCP
// connections, its first bytes possibly written before the other side has read the DONE.
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <future>
#include <thread>
#include <vector>

#include "fd_count.hpp"
#include "pair_lane_return.hpp"
#include "pair_rig.hpp"

using namespace pepsal;
using namespace pepsal::pair;
using namespace pepsal::test;

namespace {

// A flow on lanes that already exist: client ↔ [near] ═ given lanes ═ [far] ↔ server.
struct FlowOnLanes {
    UniqueFd client, server;
    EngineRun near, far;
    UniqueFd near_local, far_local;

    FlowOnLanes() {
        auto front = make_tcp_pair(HANG_LIMIT_S), back = make_tcp_pair(HANG_LIMIT_S);
        client = std::move(front.left);
        server = std::move(back.right);
        near_local = std::move(front.right);
        far_local = std::move(back.left);
        set_nonblocking(near_local.get());
        set_nonblocking(far_local.get());
    }
    void start_near(std::vector<UniqueFd> lanes, const EngineOptions& o) {
        size_t n = lanes.size();
        near.start(std::move(near_local), std::move(lanes), n, UniqueFd(), o);
    }
    void start_far(std::vector<UniqueFd> lanes, const EngineOptions& o) {
        size_t n = lanes.size();
        far.start(std::move(far_local), std::move(lanes), n, UniqueFd(), o);
    }
};

EngineOptions keeping() {
    EngineOptions o;
    o.keep_lanes = true;
    return o;
}

}  // namespace

TEST_CASE("pair engines hand lanes that carried DONE both ways to the next flow", "[pair-engine]") {
    int fds = test::open_fd_count();
    {
        RigOptions ro(4);
        ro.armed = true;
        ro.near = ro.far = keeping();
        Rig rig{ro};
        Bytes up1 = pattern(11, 2 * MB), down1 = pattern(12, 3 * MB);
        REQUIRE(transfer_both_ways(rig, up1, down1));
        EngineResult near1 = rig.near.join();
        CAPTURE(near1.detail);
        REQUIRE(to_string(near1.end) == std::string("closed"));
        REQUIRE(near1.released.size() == 4);

        // The next flow's near side starts at once and writes before the far side of the
        // first flow may have read our DONE: the far engine must stop exactly at it.
        FlowOnLanes second;
        second.start_near(std::move(near1.released), keeping());
        Bytes up2 = pattern(13, 1 * MB), down2 = pattern(14, 2 * MB);
        std::thread cw([&] {
            write_all(second.client.get(), up2);
            shutdown(second.client.get(), SHUT_WR);
        });
        EngineResult far1 = rig.far.join();
        CAPTURE(far1.detail);
        REQUIRE(to_string(far1.end) == std::string("closed"));
        REQUIRE(far1.released.size() == 4);
        second.start_far(std::move(far1.released), keeping());
        std::thread sw([&] {
            write_all(second.server.get(), down2);
            shutdown(second.server.get(), SHUT_WR);
        });
        auto at_server = std::async(std::launch::async, [&] { return read_to_eof(second.server.get()); });
        Received at_client = read_to_eof(second.client.get());
        cw.join();
        sw.join();
        CHECK((at_server.get().data == up2));
        CHECK((at_client.data == down2));
        EngineResult near2 = second.near.join(), far2 = second.far.join();
        CAPTURE(near2.detail, far2.detail);
        CHECK(to_string(near2.end) == std::string("closed"));
        CHECK(to_string(far2.end) == std::string("closed"));
        CHECK(near2.released.size() == 4);  // and again: closed when the results go
        CHECK(far2.released.size() == 4);
    }
    CHECK(test::open_fd_count() == fds);
}

TEST_CASE("pair engines keep no lane of a flow that did not end cleanly", "[pair-engine]") {
    int fds = test::open_fd_count();
    {
        RigOptions ro(2);
        ro.near = ro.far = keeping();
        Rig rig{ro};
        exchange_hello(rig);
        proxy::reset_close(std::move(rig.server));
        EngineResult near = rig.near.join(), far = rig.far.join();
        CHECK(to_string(far.end) == std::string("local_reset"));
        CHECK(to_string(near.end) == std::string("peer_reset"));
        CHECK(near.released.empty());
        CHECK(far.released.empty());
    }
    CHECK(test::open_fd_count() == fds);
}

TEST_CASE("pair engines close the lanes at a clean end unless asked to keep them", "[pair-engine]") {
    int fds = test::open_fd_count();
    {
        RigOptions ro(3);
        ro.near = keeping();  // the far side does not keep: the near side cannot either
        Rig rig{ro};
        REQUIRE(transfer_both_ways(rig, pattern(15, 100000), pattern(16, 200000)));
        EngineResult near = rig.near.join(), far = rig.far.join();
        CHECK(to_string(near.end) == std::string("closed"));
        CHECK(to_string(far.end) == std::string("closed"));
        CHECK(far.released.empty());
        CHECK(near.released.size() == 3);  // DONE went both ways: near may keep them ...
        for (auto& lane : near.released) {  // ... but the far side closed its ends
            char byte;
            CHECK(recv(lane.get(), &byte, 1, 0) == 0);
        }
    }
    CHECK(test::open_fd_count() == fds);
}

TEST_CASE("pair lane return carries a lane, its owner and the path estimate", "[pair-engine]") {
    int fds = test::open_fd_count();
    {
        int sv[2];
        REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) == 0);
        UniqueFd rx(sv[0]), tx(sv[1]);
        auto lane = make_tcp_pair(HANG_LIMIT_S);
        uint16_t port = Rig::local_port(lane.left.get());
        std::vector<UniqueFd> lanes;
        lanes.push_back(std::move(lane.left));
        CHECK(return_lanes(tx.get(), std::move(lanes), LaneOwner::acceptor, PathEstimate{6'000'000, 600'123}) == 1);
        ReturnedLane got;
        REQUIRE(receive_lane(rx.get(), got) == FdReceive::received);
        CHECK(got.owner == LaneOwner::acceptor);
        CHECK(got.path.bytes_per_s == 6'000'000);
        CHECK(got.path.rtt_us == 600'123);
        CHECK(Rig::local_port(got.fd.get()) == port);  // the same connection
        REQUIRE(write_all(got.fd.get(), pattern(17, 1000)) == 0);
        shutdown(got.fd.get(), SHUT_WR);
        CHECK((read_to_eof(lane.right.get()).data == pattern(17, 1000)));
        CHECK(receive_lane(rx.get(), got) == FdReceive::would_block);
        // A lane-feed message (one byte) is not a returned lane; its fd is closed.
        auto other = make_tcp_pair(HANG_LIMIT_S);
        send_fd(tx.get(), other.left.get(), 3);
        CHECK(receive_lane(rx.get(), got) == FdReceive::malformed);
        // The connmgr gone: the lane is closed without a reset, and not counted as returned.
        rx.reset();
        std::vector<UniqueFd> orphan;
        orphan.push_back(std::move(other.left));
        arm_reset_on_close(orphan[0].get());
        CHECK(return_lanes(tx.get(), std::move(orphan), LaneOwner::pool, {}) == 0);
        CHECK(read_to_eof(other.right.get()).err == 0);  // FIN, not RST
    }
    CHECK(test::open_fd_count() == fds);
}
