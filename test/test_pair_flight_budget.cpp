// FlightBudget, the limit on one pair-mode flow's bytes in its lanes, fed with the readings
// the engine takes every 50 ms (pair_flight_budget.hpp). Its effect on a real link is measured
// by the satellite benchmark; this checks the model's rules one by one.
#include <catch2/catch.hpp>

#include "pair_flight_budget.hpp"

using namespace pepsal::pair;

namespace {

constexpr uint64_t STEP_US = 50'000;  // the engine's LANE_CHECK_MS
constexpr uint64_t RTT_US = 600'000;

// Feeds readings every 50 ms for `us` microseconds at `bytes_per_s` delivered.
struct Feeder {
    FlightBudget budget;
    uint64_t now_us = 1'000'000;
    uint64_t delivered = 0;
    uint64_t srtt_us = RTT_US;

    void run(uint64_t us, uint64_t bytes_per_s, bool busy = true) {
        for (uint64_t end = now_us + us; now_us < end;) {
            now_us += STEP_US;
            delivered += bytes_per_s * STEP_US / 1'000'000;
            budget.on_sample(FlightSample{now_us, delivered, RTT_US, srtt_us, busy});
        }
    }
};

constexpr uint64_t RATE = 6'000'000;  // bytes/s: 48 Mbit/s
constexpr double BDP = double(RATE) * double(RTT_US) / 1e6;

}  // namespace

TEST_CASE("flight budget: no limit before a round trip of deliveries", "[pair][budget]") {
    Feeder f;
    f.budget.on_sample(FlightSample{f.now_us, 0, RTT_US, RTT_US, true});
    CHECK_FALSE(f.budget.limit());
    f.run(RTT_US, 0);  // nothing delivered yet: a fresh flow's first round trip
    CHECK_FALSE(f.budget.limit());
    f.run(RTT_US - STEP_US, RATE);  // deliveries began, but not one round trip of them
    CHECK_FALSE(f.budget.limit());
    f.run(2 * STEP_US, RATE);
    REQUIRE(f.budget.limit());
    CHECK(f.budget.in_startup());
    CHECK(double(*f.budget.limit()) == Approx(STARTUP_GAIN * BDP).epsilon(0.1));
    CHECK(f.budget.rtt_us() == RTT_US);
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
    f.srtt_us = RTT_US * 3 / 2 + STEP_US;  // more than half a round trip of queueing delay
    f.run(STEP_US, RATE / 4, false);        // ... but not while the sender is idle
    CHECK(f.budget.in_startup());
    f.run(STEP_US, RATE / 4);
    CHECK_FALSE(f.budget.in_startup());
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

TEST_CASE("flight budget: never below its floor", "[pair][budget]") {
    Feeder f;
    f.run(10 * RTT_US, 1000);
    REQUIRE(f.budget.limit());
    CHECK(*f.budget.limit() == MIN_BUDGET_BYTES);
}
