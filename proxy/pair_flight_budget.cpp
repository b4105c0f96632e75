#include "pair_flight_budget.hpp"

#include <algorithm>

namespace pepsal::pair {

namespace {
bool trusted(const LaneReading& l) { return l.flow_segments >= RTT_TRUST_SEGMENTS && l.srtt_us > 0; }
}  // namespace

uint64_t lanes_rtt_us(std::vector<LaneReading>& lanes) {
    auto usable = [](const LaneReading& l) { return trusted(l) && l.min_rtt_us > 0 && 2 * l.min_rtt_us >= l.srtt_us; };
    auto end = std::partition(lanes.begin(), lanes.end(), usable);
    if (end == lanes.begin()) return 0;
    auto mid = lanes.begin() + (end - lanes.begin()) / 2;
    std::nth_element(lanes.begin(), mid, end,
                     [](const LaneReading& a, const LaneReading& b) { return a.min_rtt_us < b.min_rtt_us; });
    return mid->min_rtt_us;
}

uint64_t lanes_srtt_us(const std::vector<LaneReading>& lanes) {
    uint64_t sum = 0, n = 0;
    for (const auto& l : lanes)
        if (trusted(l) && l.carrying) {
            sum += l.srtt_us;
            ++n;
        }
    return n ? sum / n : 0;
}

void FlightBudget::seed(uint64_t bytes_per_s, uint64_t rtt_us) {
    if (bytes_per_s == 0 || rtt_us == 0) return;
    rtt_us_ = rtt_us;
    startup_ = false;
    full_rate_ = bytes_per_s;
    max_rate_.assign(1, RateSample{rounds_, bytes_per_s});
}

uint64_t FlightBudget::round_us() const { return std::max(rtt_us_, MIN_ROUND_US); }

void FlightBudget::on_sample(FlightSample& s) {
    uint64_t srtt = lanes_srtt_us(s.lanes);
    if (srtt && (!srtt_floor_us_ || srtt < srtt_floor_us_)) srtt_floor_us_ = srtt;
    // A reading without a usable lane (at the flow's end the lanes that sent DONE are not read
    // any more) keeps an RTT measured from min RTTs.
    if (uint64_t rtt = lanes_rtt_us(s.lanes)) {
        rtt_us_ = rtt;
        rtt_from_min_ = true;
    } else if (!rtt_from_min_ && srtt_floor_us_) {
        rtt_us_ = srtt_floor_us_;
    }
    if (!started_) {
        // Until the first delivery every rate would be zero, which says nothing about the path.
        if (s.delivered_bytes == 0 || rtt_us_ == 0) return;
        started_ = true;
        round_start_us_ = s.now_us;
    }
    history_.push_back(Point{s.now_us, s.delivered_bytes, s.sender_busy});
    round_busy_ = round_busy_ || s.sender_busy;
    if (startup_ && s.sender_busy && srtt && double(srtt) > double(rtt_us_) * (1 + STARTUP_QUEUE_LIMIT))
        startup_ = false;

    uint64_t window = round_us();
    uint64_t window_start = s.now_us > window ? s.now_us - window : 0;
    while (history_.size() >= 2 && history_[1].at_us <= window_start) history_.pop_front();
    const Point& first = history_.front();
    if (first.at_us > window_start || s.now_us == first.at_us) return;  // not one round trip yet
    bool busy = false;
    for (size_t i = 1; i < history_.size(); ++i) busy = busy || history_[i].busy;
    uint64_t rate = (s.delivered_bytes - first.delivered) * 1'000'000 / (s.now_us - first.at_us);
    add_rate(rate, busy);

    if (s.now_us - round_start_us_ >= window) {
        if (round_busy_) ++rounds_;
        check_full_pipe(round_busy_);
        round_start_us_ = s.now_us;
        round_busy_ = false;
    }
}

// A windowed maximum: the deque holds decreasing rates, newest last, so its front is the
// largest rate of the window. Only a sample taken while the sender was busy may let older
// ones expire; an idle sender's sample counts only if it is a new maximum.
void FlightBudget::add_rate(uint64_t rate, bool valid) {
    if (!valid && !max_rate_.empty() && rate <= max_rate_.front().rate) return;
    measured_ = measured_ || valid;
    while (!max_rate_.empty() && max_rate_.front().round + BW_WINDOW_ROUNDS < rounds_) max_rate_.pop_front();
    while (!max_rate_.empty() && max_rate_.back().rate <= rate) max_rate_.pop_back();
    max_rate_.push_back(RateSample{rounds_, rate});
}

// Once per round trip during startup, as BBR does it: the pipe is full when the rate grew
// less than FULL_BW_GROWTH in FULL_BW_ROUNDS round trips that had more to send.
void FlightBudget::check_full_pipe(bool busy_round) {
    if (!startup_) return;
    uint64_t rate = bottleneck_bytes_per_s();
    if (double(rate) >= double(full_rate_) * FULL_BW_GROWTH) {
        full_rate_ = rate;
        full_rounds_ = 0;
        return;
    }
    if (busy_round && ++full_rounds_ >= FULL_BW_ROUNDS) startup_ = false;
}

std::optional<uint64_t> FlightBudget::limit() const {
    if (startup_ || max_rate_.empty() || rtt_us_ == 0) return std::nullopt;
    double bdp = double(bottleneck_bytes_per_s()) * double(rtt_us_) / 1e6;
    return std::max(MIN_BUDGET_BYTES, uint64_t(STEADY_GAIN * bdp));
}

}  // namespace pepsal::pair
