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

// Options that keep released lanes in `into` (read once the engine has ended).
EngineOptions keeping(std::vector<UniqueFd>& into) {
    EngineOptions o;
    o.on_lane_released = [&into](UniqueFd lane, uint64_t, uint64_t, bool) { into.push_back(std::move(lane)); };
    return o;
}

}  // namespace

TEST_CASE("pair engines hand lanes that carried DONE both ways to the next flow", "[pair-engine]") {
    int fds = test::open_fd_count();
    {
        std::vector<UniqueFd> near1_lanes, far1_lanes, near2_lanes, far2_lanes;
        RigOptions ro(4);
        ro.armed = true;
        ro.near = keeping(near1_lanes);
        ro.far = keeping(far1_lanes);
        Rig rig{ro};
        Bytes up1 = pattern(11, 2 * MB), down1 = pattern(12, 3 * MB);
        REQUIRE(transfer_both_ways(rig, up1, down1));
        EngineResult near1 = rig.near.join();
        CAPTURE(near1.detail);
        REQUIRE(to_string(near1.end) == std::string("closed"));
        REQUIRE(near1.released == 4);
        REQUIRE(near1_lanes.size() == 4);

        // The next flow's near side starts at once and writes before the far side of the
        // first flow may have read our DONE: the far engine must stop exactly at it.
        FlowOnLanes second;
        second.start_near(std::move(near1_lanes), keeping(near2_lanes));
        Bytes first_bytes = pattern(13, 200 * 1000), up2 = pattern(14, 1 * MB), down2 = pattern(15, 2 * MB);
        REQUIRE(write_all(second.client.get(), first_bytes) == 0);
        EngineResult far1 = rig.far.join();
        CAPTURE(far1.detail);
        REQUIRE(to_string(far1.end) == std::string("closed"));
        REQUIRE(far1_lanes.size() == 4);
        second.start_far(std::move(far1_lanes), keeping(far2_lanes));
        Exchanged e = exchange_both_ways(second.client.get(), second.server.get(), up2, down2);
        Bytes whole_up = first_bytes;
        whole_up.insert(whole_up.end(), up2.begin(), up2.end());
        CHECK((e.at_server.data == whole_up));
        CHECK((e.at_client.data == down2));
        EngineResult near2 = second.near.join(), far2 = second.far.join();
        CAPTURE(near2.detail, far2.detail);
        CHECK(to_string(near2.end) == std::string("closed"));
        CHECK(to_string(far2.end) == std::string("closed"));
        CHECK(near2_lanes.size() == 4);  // and again: closed when the vectors go
        CHECK(far2_lanes.size() == 4);
    }
    CHECK(test::open_fd_count() == fds);
}

TEST_CASE("pair engines keep no lane of a flow that did not end cleanly", "[pair-engine]") {
    int fds = test::open_fd_count();
    {
        std::vector<UniqueFd> near_lanes, far_lanes;
        RigOptions ro(2);
        ro.near = keeping(near_lanes);
        ro.far = keeping(far_lanes);
        Rig rig{ro};
        exchange_hello(rig);
        proxy::reset_close(std::move(rig.server));
        EngineResult near = rig.near.join(), far = rig.far.join();
        CHECK(to_string(far.end) == std::string("local_reset"));
        CHECK(to_string(near.end) == std::string("peer_reset"));
        CHECK(near_lanes.empty());
        CHECK(far_lanes.empty());
    }
    CHECK(test::open_fd_count() == fds);
}

TEST_CASE("pair engines close the lanes at a clean end unless asked to keep them", "[pair-engine]") {
    int fds = test::open_fd_count();
    {
        std::vector<UniqueFd> near_lanes;
        RigOptions ro(3);
        ro.near = keeping(near_lanes);  // the far side does not keep its ends
        Rig rig{ro};
        REQUIRE(transfer_both_ways(rig, pattern(16, 100000), pattern(17, 200000)));
        EngineResult near = rig.near.join(), far = rig.far.join();
        CHECK(to_string(near.end) == std::string("closed"));
        CHECK(to_string(far.end) == std::string("closed"));
        CHECK(far.released == 0);
        CHECK(near_lanes.size() == 3);  // DONE went both ways: near may keep them ...
        for (auto& lane : near_lanes) {  // ... but the far side closed its ends
            char byte;
            CHECK(recv(lane.get(), &byte, 1, 0) == 0);
        }
    }
    CHECK(test::open_fd_count() == fds);
}

TEST_CASE("pair lane return carries a lane, its owner and the path estimate", "[pair-engine]") {
    int fds = test::open_fd_count();
    {
        auto [rx, tx] = make_seqpacket_pair();
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
