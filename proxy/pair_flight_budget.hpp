// Sender side of pair mode: how many bytes one flow may have in its lanes at once (in flight
// plus queued unsent), so that the lanes together behave like one well-mannered flow at the
// bottleneck instead of N independent ones.
//
// Why: every lane is its own BBR connection, and N BBR flows through one bottleneck each
// estimate their share from a max filter of noisy samples; the sum overshoots the link. With 8
// lanes on a 50 Mbit/s, 600 ms, 1-BDP-buffer link the lanes together estimated 56-83 Mbit/s,
// kept 2-3 BDP in flight, and the bottleneck dropped 12.8 % of their packets at its queue. The
// holes took a round trip or a timeout to repair, the receiver's in-order delivery stalled for
// seconds, and the stream averaged 79 % of the link. A fixed cap of 1.3 BDP on the flow's
// bytes in flight removed the queue drops entirely (0 of 240 000 packets) and lifted the
// stream to 89 %: the other lanes take the share of a lane in loss recovery or in BBR's
// ProbeRTT, so the link never idles.
//
// The budget is BBR's model applied to the flow as a whole: the bottleneck rate is the
// largest delivery rate (bytes the peer's TCP acknowledged or SACKed, over all lanes) measured
// over one round trip, within the last BW_WINDOW_ROUNDS round trips; the round trip is the
// lanes' min RTT (see lanes_rtt_us) or, while no lane's can be trusted, the smallest mean
// smoothed RTT the flow's lanes showed, which startup measures before a queue builds. During startup there is no budget: the lanes' own BBR startup
// grows the flow as fast as it can (a budget of even 2.89 x rate x RTT held it back, as it
// counts the bytes queued in the lanes, up to 128 KiB each). Startup ends when the rate
// stopped growing by FULL_BW_GROWTH for FULL_BW_ROUNDS round trips in which the sender had
// more to send, or as soon as the lanes' smoothed RTT shows a queue of STARTUP_QUEUE_LIMIT
// round trips building, which on the lab's link came 1 s before the rate plateau was certain.
// From then on the budget is STEADY_GAIN x rate x RTT: enough above one BDP to keep the link
// busy through a lane's recovery and to notice more bandwidth (the delivery rate rises with
// the extra bytes, and the budget with it), far enough below the lanes' own windows to leave
// the bottleneck's queue mostly empty.
//
// Samples taken while the sender had nothing waiting (the application is slower than the
// path) say nothing about the path: they may raise the estimate but never let the old one
// expire, and the estimate ages by round trips with a busy sender, not by time, so a flow
// that pauses resumes at the rate it had.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

namespace pepsal::pair {

constexpr double STEADY_GAIN = 1.3;           // budget / BDP after startup
constexpr double FULL_BW_GROWTH = 1.25;       // a round trip that grew the rate less ...
constexpr int FULL_BW_ROUNDS = 3;             // ... this many times: the pipe is full
constexpr double STARTUP_QUEUE_LIMIT = 0.25;  // queueing delay, in RTTs, that ends startup
constexpr uint64_t BW_WINDOW_ROUNDS = 10;     // round trips the rate estimate is kept
constexpr uint64_t MIN_ROUND_US = 200'000;    // shortest measuring window (short paths)
constexpr uint64_t MIN_BUDGET_BYTES = 256 * 1024;  // never less than this in flight

constexpr uint64_t RTT_TRUST_SEGMENTS = 64;   // a lane's RTTs count once it delivered this many

// One lane's TCP_INFO, as the budget needs it.
struct LaneReading {
    uint64_t min_rtt_us = 0;     // tcpi_min_rtt; 0: none
    uint64_t srtt_us = 0;        // tcpi_rtt
    uint64_t flow_segments = 0;  // segments it delivered (acknowledged or SACKed) for this flow
    bool carrying = false;       // has bytes in flight
};

// One reading of every lane of a flow.
struct FlightSample {
    uint64_t now_us = 0;
    uint64_t delivered_bytes = 0;  // total over all lanes since the flow began; never decreases
    bool sender_busy = false;      // bytes were waiting that no lane (or the budget) took
    std::vector<LaneReading> lanes;
};

// The lanes' round-trip time without queueing: the median min RTT of the lanes whose RTTs can
// be trusted, 0 if none can. A lane's RTTs count once it delivered RTT_TRUST_SEGMENTS of the
// flow (before that its smoothed RTT is left from its handshake and keepalives), and its min
// RTT only while it is at least half its smoothed RTT: the kernel keeps a min RTT for 5
// minutes, and a lane opened before the path changed (the lab's tests switch the emulator
// on under running instances; a terrestrial backup fails over to the satellite) or whose
// handshake needed retransmissions (seen at 3 % loss: 0.024 ms on a 600 ms path) reports
// one that is far too small, which would shrink the budget to its floor. The median, not the
// smallest, for the same reason. Reorders `lanes`.
uint64_t lanes_rtt_us(std::vector<LaneReading>& lanes);
// Mean smoothed RTT of the trusted lanes carrying data; 0 if none.
uint64_t lanes_srtt_us(const std::vector<LaneReading>& lanes);

class FlightBudget {
public:
    // Starts from what an earlier flow measured of the same path (its bottleneck_bytes_per_s()
    // and rtt_us()): no startup, the budget applies from the first byte. A flow on lanes that
    // carried the earlier one would otherwise have no limit until it measured the path itself,
    // while those lanes' congestion windows are already open wide. The seed ages like any
    // other rate sample; the lanes' own RTTs replace its RTT as soon as they can be trusted.
    void seed(uint64_t bytes_per_s, uint64_t rtt_us);
    // Reorders s.lanes.
    void on_sample(FlightSample& s);

    // Bytes the flow may have in its lanes; std::nullopt during startup (no limit).
    std::optional<uint64_t> limit() const;

    bool in_startup() const { return startup_; }
    // Past startup, measured by this flow (not only seeded), and its RTT from the lanes' min
    // RTTs: worth handing to the next flow. Not one from the smoothed-RTT floor: a seeded
    // budget keeps a standing queue from the first byte, which that floor would include, and
    // each flow handing its RTT to the next would grow it by the queue.
    bool measured() const { return !startup_ && measured_ && rtt_from_min_; }
    uint64_t bottleneck_bytes_per_s() const { return max_rate_.empty() ? 0 : max_rate_.front().rate; }
    uint64_t rtt_us() const { return rtt_us_; }

private:
    struct Point {
        uint64_t at_us;
        uint64_t delivered;
        bool busy;  // the sender was busy at this reading
    };
    struct RateSample {
        uint64_t round;  // busy round trips before it
        uint64_t rate;   // bytes per second
    };

    uint64_t round_us() const;
    void add_rate(uint64_t rate, bool valid);
    void check_full_pipe(bool busy_round);

    std::deque<Point> history_;         // readings of the last round trip, oldest first
    std::deque<RateSample> max_rate_;   // decreasing rates: front is the window's maximum
    uint64_t rtt_us_ = 0;
    uint64_t srtt_floor_us_ = 0;  // the smallest lanes_srtt_us() of the flow
    bool started_ = false;    // deliveries began: history_ counts from there
    bool startup_ = true;
    bool measured_ = false;      // a rate sample of a busy sender went into max_rate_
    bool rtt_from_min_ = false;  // rtt_us_ is lanes_rtt_us(), not the srtt floor or a seed
    uint64_t round_start_us_ = 0;
    uint64_t rounds_ = 0;  // round trips in which the sender was busy: the estimate's clock
    bool round_busy_ = false;
    uint64_t full_rate_ = 0;  // the rate at the last round trip that grew it enough
    int full_rounds_ = 0;
};

}  // namespace pepsal::pair
