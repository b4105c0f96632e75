// LaneScheduler: the writable lane with the fewest queued bytes, ties to the lowest index;
// and, over a simulated link where one lane is slow, the slow lane gets less, unlike
// round-robin.
#include <catch2/catch.hpp>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "pair_lane_scheduler.hpp"

using namespace pepsal::pair;

TEST_CASE("pair scheduler: least-queued writable lane, ties to the lowest index", "[pair]") {
    CHECK(!pick_lane({}));
    std::vector<LaneLoad> lanes = {{500, true}, {100, true}, {100, true}, {0, false}};
    CHECK(pick_lane(lanes) == 1u);  // lane 3 is empty but not writable
    lanes[1].writable = false;
    CHECK(pick_lane(lanes) == 2u);
    lanes[2].queued_bytes = 501;
    CHECK(pick_lane(lanes) == 0u);
    for (auto& l : lanes) l.writable = false;
    CHECK(!pick_lane(lanes));
    std::vector<LaneLoad> tie = {{7, true}, {7, true}, {7, true}};
    CHECK(pick_lane(tie) == 0u);
}

TEST_CASE("pair scheduler: the table follows writes and SIOCOUTQ readings", "[pair]") {
    LaneScheduler s(3);
    CHECK(s.lanes() == 3);
    CHECK(!s.pick());  // lanes start not writable
    for (size_t i = 0; i < 3; ++i) s.set_writable(i, true);
    CHECK(s.pick() == 0u);
    s.add_queued(0, 1000);
    CHECK(s.pick() == 1u);
    s.add_queued(1, 1000);
    CHECK(s.pick() == 2u);
    s.add_queued(2, 999);
    CHECK(s.pick() == 2u);
    s.set_queued(0, 10);  // lane 0's bytes were acknowledged
    CHECK(s.pick() == 0u);
    CHECK(s.lane(0).queued_bytes == 10);
    s.set_writable(0, false);
    CHECK(s.pick() == 2u);
    CHECK_THROWS_AS(s.set_queued(3, 1), std::out_of_range);
    CHECK_THROWS_AS(s.add_queued(9, 1), std::out_of_range);
    CHECK_THROWS_AS(s.set_writable(3, true), std::out_of_range);
}

TEST_CASE("pair scheduler: a slow lane gets less than its round-robin share", "[pair]") {
    // Four lanes drain 4000, 4000, 4000 and 500 bytes per tick; each tick the sender writes
    // 12 chunks of 1000 bytes where the scheduler says, a lane being writable below 64 KiB.
    const uint64_t drain_rate[] = {4000, 4000, 4000, 500};
    const uint64_t SNDBUF = 65536;  // bytes
    LaneScheduler s(4);
    uint64_t sent[4] = {};
    for (int tick = 0; tick < 1000; ++tick) {
        for (int k = 0; k < 12; ++k) {
            for (size_t i = 0; i < 4; ++i) s.set_writable(i, s.lane(i).queued_bytes < SNDBUF);
            auto lane = s.pick();
            if (!lane) break;
            s.add_queued(*lane, 1000);
            sent[*lane] += 1000;
        }
        for (size_t i = 0; i < 4; ++i) {
            uint64_t q = s.lane(i).queued_bytes;
            s.set_queued(i, q > drain_rate[i] ? q - drain_rate[i] : 0);
        }
    }
    uint64_t total = sent[0] + sent[1] + sent[2] + sent[3];
    CHECK(sent[3] < total / 10);  // round-robin would give it a quarter and stall the receiver
    for (size_t i = 0; i < 3; ++i) CHECK(sent[i] > total / 4);
}
