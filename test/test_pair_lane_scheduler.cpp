// pick_lane: the roomiest writable lane, else the one with the fewest queued bytes, ties to
// the lowest index; and, over a simulated link where one lane is slow, the slow lane gets
// less, unlike round-robin.
#include <catch2/catch.hpp>
#include <cstdint>
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

TEST_CASE("pair scheduler: a lane whose window has room goes first, the roomiest", "[pair]") {
    std::vector<LaneLoad> lanes = {{0, true, 0}, {500, true, 3000}, {0, true, 9000}, {0, false, 20000}};
    CHECK(pick_lane(lanes) == 2u);  // lane 3 has more room but cannot take bytes
    lanes[2].room = 3000;
    CHECK(pick_lane(lanes) == 1u);  // a tie on room goes to the lower index
    lanes[1].room = lanes[2].room = MIN_ROOM_BYTES - 1;  // too little to count
    CHECK(pick_lane(lanes) == 0u);  // back to the fewest queued bytes
}

TEST_CASE("pair scheduler: a slow lane gets less than its round-robin share", "[pair]") {
    // Four lanes drain 4000, 4000, 4000 and 500 bytes per tick; each tick the sender writes
    // 12 chunks of 1000 bytes where the scheduler says, a lane being writable below 64 KiB.
    const uint64_t drain_rate[] = {4000, 4000, 4000, 500};
    const uint64_t SNDBUF = 65536;  // bytes
    std::vector<LaneLoad> lanes(4);
    uint64_t sent[4] = {};
    for (int tick = 0; tick < 1000; ++tick) {
        for (int k = 0; k < 12; ++k) {
            for (auto& l : lanes) l.writable = l.queued_bytes < SNDBUF;
            auto lane = pick_lane(lanes);
            if (!lane) break;
            lanes[*lane].queued_bytes += 1000;
            sent[*lane] += 1000;
        }
        for (size_t i = 0; i < 4; ++i) {
            uint64_t q = lanes[i].queued_bytes;
            lanes[i].queued_bytes = q > drain_rate[i] ? q - drain_rate[i] : 0;
        }
    }
    uint64_t total = sent[0] + sent[1] + sent[2] + sent[3];
    CHECK(sent[3] < total / 10);  // round-robin would give it a quarter and stall the receiver
    for (size_t i = 0; i < 3; ++i) CHECK(sent[i] > total / 4);
}
