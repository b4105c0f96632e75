// FlightBudget, the limit on one pair-mode flow's bytes in its lanes, fed with the readings
// the engine takes every 50 ms (pair_flight_budget.hpp). Its effect on a real link is measured
// by the satellite benchmark; this checks the model's rules one by one.
#include <catch2/catch.hpp>

#include "pair_flight_budget.hpp"

using namespace pepsal::pair;

namespace {

constexpr uint64_t STEP_US = 50'000;  // the engine's LANE_CHECK_MS
constexpr uint64_t RTT_US = 600'000;

constexpr size_t LANES = 8;

// Feeds readings of LANES lanes every 50 ms for `us` microseconds at `bytes_per_s` delivered.
struct Feeder {
    FlightBudget budget;
    uint64_t now_us = 1'000'000;
    uint64_t delivered = 0;
    uint64_t srtt_us = RTT_US;
    uint64_t min_rtt_us = RTT_US;
    uint64_t segments = 1000;  // per lane: enough for its RTTs to count

    void run(uint64_t us, uint64_t bytes_per_s, bool busy = true) {
        for (uint64_t end = now_us + us; now_us < end;) {
            now_us += STEP_US;
            delivered += bytes_per_s * STEP_US / 1'000'000;
            FlightSample s{now_us, delivered, busy, std::vector<LaneReading>(LANES, lane())};
            budget.on_sample(s);
        }
    }
    LaneReading lane() const { return LaneReading{min_rtt_us, srtt_us, segments, true}; }
};

constexpr uint64_t RATE = 6'000'000;  // bytes/s: 48 Mbit/s
constexpr double BDP = double(RATE) * double(RTT_US) / 1e6;

}  // namespace

TEST_CASE("flight budget: no limit during startup", "[pair][budget]") {
    Feeder f;
    f.run(RTT_US, 0);  // nothing delivered yet: a fresh flow's first round trip
    CHECK(f.budget.bottleneck_bytes_per_s() == 0);
    f.run(RTT_US - STEP_US, RATE);  // deliveries began, but not one round trip of them
    CHECK(f.budget.bottleneck_bytes_per_s() == 0);
    f.run(2 * STEP_US, RATE);
    CHECK(double(f.budget.bottleneck_bytes_per_s()) == Approx(double(RATE)).epsilon(0.1));
    CHECK(f.budget.rtt_us() == RTT_US);
    CHECK(f.budget.in_startup());
    CHECK_FALSE(f.budget.limit());
}

TEST_CASE("flight budget: startup ends when the rate stops growing", "[pair][budget]") {
    Feeder f;
    // Doubling every round trip: still in startup.
    for (uint64_t r = RATE / 16; r < RATE; r *= 2) f.run(RTT_US, r);
    CHECK(f.budget.in_startup());
    // The pipe is full: three busy round trips without 25 % growth end it.
    f.run(2 * RTT_US, RATE);
    CHECK(f.budget.in_startup());
    f.run(3 * RTT_US, RATE);
    REQUIRE_FALSE(f.budget.in_startup());
    REQUIRE(f.budget.limit());
    CHECK(double(*f.budget.limit()) == Approx(STEADY_GAIN * BDP).epsilon(0.05));
    CHECK(double(f.budget.bottleneck_bytes_per_s()) == Approx(double(RATE)).epsilon(0.05));
}

TEST_CASE("flight budget: round trips of an idle sender do not end startup", "[pair][budget]") {
    Feeder f;
    f.run(10 * RTT_US, RATE / 10, false);  // the application trickles: nothing waits to be sent
    CHECK(f.budget.in_startup());
}

TEST_CASE("flight budget: a growing queue ends startup", "[pair][budget]") {
    Feeder f;
    f.run(2 * RTT_US, RATE / 4);
    REQUIRE(f.budget.in_startup());
    f.srtt_us = RTT_US * 5 / 4 + STEP_US;  // more than a quarter round trip of queueing delay
    f.run(STEP_US, RATE / 4, false);        // ... but not while the sender is idle
    CHECK(f.budget.in_startup());
    f.run(STEP_US, RATE / 4);
    CHECK_FALSE(f.budget.in_startup());
}

TEST_CASE("flight budget: the RTT of idle lanes is not a queue", "[pair][budget]") {
    Feeder f;
    f.srtt_us = 2 * RTT_US;  // left from handshakes and keepalives before the flow's data
    f.segments = RTT_TRUST_SEGMENTS - 1;
    f.run(RTT_US, 0);
    f.run(RTT_US / 2, RATE / 8);
    CHECK(f.budget.in_startup());
}

TEST_CASE("flight budget: the estimate ages only with a busy sender", "[pair][budget]") {
    Feeder f;
    f.run(8 * RTT_US, RATE);
    REQUIRE_FALSE(f.budget.in_startup());
    uint64_t full = *f.budget.limit();
    // The application slows down: its samples say nothing about the path.
    f.run(30 * RTT_US, RATE / 10, false);
    CHECK(*f.budget.limit() == full);
    // A busy sender that only gets a tenth through (the path's rate fell): after the window of
    // BW_WINDOW_ROUNDS round trips the estimate follows.
    f.run((BW_WINDOW_ROUNDS + 3) * RTT_US, RATE / 10);
    CHECK(double(*f.budget.limit()) == Approx(std::max(double(MIN_BUDGET_BYTES), STEADY_GAIN * BDP / 10)).epsilon(0.1));
}

TEST_CASE("flight budget: a faster sample raises the estimate at once", "[pair][budget]") {
    Feeder f;
    f.run(8 * RTT_US, RATE / 2);
    REQUIRE_FALSE(f.budget.in_startup());
    f.run(2 * RTT_US, RATE, false);  // even from an otherwise idle sender
    CHECK(double(*f.budget.limit()) == Approx(STEADY_GAIN * BDP).epsilon(0.05));
}

TEST_CASE("flight budget: a pause is not measured as a slow rate", "[pair][budget]") {
    Feeder f;
    f.run(8 * RTT_US, RATE);
    uint64_t full = *f.budget.limit();
    f.now_us += 30 * RTT_US;  // no readings: the engine had nothing in flight
    f.run(RTT_US / 2, RATE / 20);  // the first half round trip after it, slow
    CHECK(*f.budget.limit() == full);
}

TEST_CASE("flight budget: the lanes' RTT is the median of their trusted min RTTs", "[pair][budget]") {
    auto lane = [](uint64_t min_rtt, uint64_t srtt = 700'000, uint64_t segments = 100) {
        return LaneReading{min_rtt, srtt, segments, true};
    };
    std::vector<LaneReading> none;
    CHECK(lanes_rtt_us(none) == 0);
    // A lane whose handshake needed retransmissions reports microseconds.
    std::vector<LaneReading> bogus{lane(600'400), lane(24), lane(600'000), lane(601'000), lane(600'200)};
    CHECK(lanes_rtt_us(bogus) == 600'400);  // the upper median of the four sane lanes
    // The path changed under the lanes: every min RTT is from before, far below the RTT now.
    std::vector<LaneReading> stale(4, lane(50, 600'000));
    CHECK(lanes_rtt_us(stale) == 0);
    CHECK(lanes_srtt_us(stale) == 600'000);
    // Lanes that delivered too little of the flow count for nothing, their srtt neither.
    std::vector<LaneReading> fresh{lane(600'000, 650'000, 5), lane(590'000, 2'000'000, 5)};
    CHECK(lanes_rtt_us(fresh) == 0);
    CHECK(lanes_srtt_us(fresh) == 0);
    fresh.push_back(lane(610'000, 640'000, RTT_TRUST_SEGMENTS));
    CHECK(lanes_rtt_us(fresh) == 610'000);
    CHECK(lanes_srtt_us(fresh) == 640'000);
}

TEST_CASE("flight budget: stale min RTTs give way to the smallest smoothed RTT", "[pair][budget]") {
    Feeder f;
    f.min_rtt_us = 50;  // left from before the path changed
    f.srtt_us = RTT_US + 20'000;
    f.run(3 * RTT_US, RATE / 2);
    CHECK(f.budget.rtt_us() == RTT_US + 20'000);
    f.srtt_us = 2 * RTT_US;  // a queue builds: the floor stays
    f.run(10 * RTT_US, RATE);
    REQUIRE(f.budget.limit());
    CHECK(f.budget.rtt_us() == RTT_US + 20'000);
    CHECK(double(*f.budget.limit()) == Approx(STEADY_GAIN * RATE * (RTT_US + 20'000) / 1e6).epsilon(0.05));
    CHECK_FALSE(f.budget.measured());  // an RTT from the srtt floor is not handed on
}

TEST_CASE("flight budget: a seed from an earlier flow applies from the first byte", "[pair][budget]") {
    Feeder f;
    f.budget.seed(RATE, RTT_US);
    CHECK_FALSE(f.budget.in_startup());
    REQUIRE(f.budget.limit());
    CHECK(double(*f.budget.limit()) == Approx(STEADY_GAIN * BDP).epsilon(0.01));
    // The path is slower now: the seed ages out like a sample.
    f.run((BW_WINDOW_ROUNDS + 3) * RTT_US, RATE / 4);
    CHECK(double(f.budget.bottleneck_bytes_per_s()) == Approx(double(RATE) / 4).epsilon(0.1));
    CHECK(f.budget.measured());  // its own samples now, worth handing on
    Feeder idle;
    idle.budget.seed(RATE, RTT_US);
    idle.run(5 * RTT_US, RATE / 100, false);  // sent nearly nothing: the seed is all it knows
    CHECK_FALSE(idle.budget.measured());
    FlightBudget unseeded;
    unseeded.seed(0, RTT_US);  // nothing measured: nothing seeded
    CHECK(unseeded.in_startup());
    CHECK_FALSE(unseeded.limit());
}

TEST_CASE("flight budget: readings without lanes keep the measured RTT", "[pair][budget]") {
    Feeder f;
    f.run(8 * RTT_US, RATE);
    REQUIRE(f.budget.measured());
    for (int i = 0; i < 10; ++i) {  // the end of the flow: its lanes sent DONE, none is read
        f.now_us += STEP_US;
        FlightSample s{f.now_us, f.delivered, false, {}};
        f.budget.on_sample(s);
    }
    CHECK(f.budget.measured());
    CHECK(f.budget.rtt_us() == RTT_US);
}

TEST_CASE("flight budget: never below its floor", "[pair][budget]") {
    Feeder f;
    f.run(10 * RTT_US, 1000);
    REQUIRE(f.budget.limit());
    CHECK(*f.budget.limit() == MIN_BUDGET_BYTES);
}
