// The per-direction link model: pure logic that turns (arrival time, packet size) into "drop" or
// "deliver at time T". Header-only so the unit tests exercise exactly what the emulator runs,
// without netfilter. Times are CLOCK_MONOTONIC nanoseconds.
#pragma once

#include <cstdint>
#include <random>

namespace pepsal::linkemu {

constexpr uint64_t NS_PER_S = 1'000'000'000;
constexpr uint64_t NS_PER_MS = 1'000'000;

struct LossConfig {
    enum class Kind { uniform, gilbert_elliott };
    Kind kind = Kind::uniform;
    double probability = 0;  // uniform: each packet is lost independently with this probability
    // Gilbert–Elliott: a two-state Markov chain stepped once per packet.
    double ge_p = 0;          // P(good → bad)
    double ge_r = 1;          // P(bad → good); mean burst length is 1/r packets
    double ge_bad_loss = 1;   // loss probability while bad
    double ge_good_loss = 0;  // loss probability while good
};

// The long-run loss rate `config` produces, for tests and for the emulator's startup banner.
inline double mean_loss_rate(const LossConfig& c) {
    if (c.kind == LossConfig::Kind::uniform) return c.probability;
    if (c.ge_p + c.ge_r <= 0) return c.ge_good_loss;
    double bad_share = c.ge_p / (c.ge_p + c.ge_r);
    return bad_share * c.ge_bad_loss + (1 - bad_share) * c.ge_good_loss;
}

// splitmix64: spreads a small user seed (1, 2, ...) over the whole state of the generator, and
// gives each direction an unrelated stream from the same --seed.
inline uint64_t mix_seed(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

// Random loss, reproducible from its seed: the n-th packet offered gets the same fate on every
// run with the same seed.
class LossProcess {
  public:
    LossProcess(const LossConfig& config, uint64_t seed) : config_(config), rng_(mix_seed(seed)) {}

    // Decides the fate of one packet and advances the chain.
    bool lose() {
        if (config_.kind == LossConfig::Kind::uniform)
            return config_.probability > 0 && uniform01() < config_.probability;
        bool lost = uniform01() < (bad_ ? config_.ge_bad_loss : config_.ge_good_loss);
        // Transition after the draw so a burst starts on the packet after the good→bad step.
        if (bad_) {
            if (uniform01() < config_.ge_r) bad_ = false;
        } else if (uniform01() < config_.ge_p) {
            bad_ = true;
        }
        return lost;
    }

    bool in_bad_state() const { return bad_; }

  private:
    // 53 random bits → [0, 1); unlike std::uniform_real_distribution the mapping is fixed, so a
    // seed means the same losses with every standard library.
    double uniform01() { return double(rng_() >> 11) * 0x1.0p-53; }

    LossConfig config_;
    std::mt19937_64 rng_;
    bool bad_ = false;
};

struct LinkConfig {
    uint64_t rate_bps = 0;      // 0 = unlimited: no serialization delay, nothing ever queues
    uint64_t delay_ns = 0;      // one-way propagation delay
    uint64_t buffer_bytes = 0;  // bottleneck buffer; 0 = unlimited
    LossConfig loss;
};

enum class Fate { deliver, lost_random, dropped_queue };

struct Decision {
    Fate fate;
    uint64_t due_ns;  // when to release the packet (meaningful for Fate::deliver only)
};

// One direction of the satellite link: a FIFO transmitter of `rate_bps` behind a tail-drop
// buffer, followed by a constant propagation delay and random loss on the channel. A packet lost
// on the channel has still used its transmission time, as on a real radio link.
class LinkModel {
  public:
    LinkModel(const LinkConfig& config, uint64_t seed)
        : config_(config), loss_(config.loss, seed) {}

    // Arrival times should be non-decreasing; a slightly earlier one (timestamps taken on
    // different CPUs) is treated as arriving at the end of the current backlog.
    Decision offer(uint64_t arrival_ns, uint32_t len_bytes) {
        uint64_t backlog = backlog_bytes(arrival_ns);
        // The packet being transmitted always fits, so even a tiny buffer passes an idle link.
        if (config_.buffer_bytes && backlog > 0 && backlog + len_bytes > config_.buffer_bytes)
            return {Fate::dropped_queue, 0};
        uint64_t departure = serialize(arrival_ns, len_bytes);
        if (loss_.lose()) return {Fate::lost_random, 0};
        return {Fate::deliver, departure + config_.delay_ns};
    }

    // Bytes still waiting for (or in) serialization at `now_ns`.
    uint64_t backlog_bytes(uint64_t now_ns) const {
        if (config_.rate_bps == 0 || last_departure_ns_ <= now_ns) return 0;
        auto bits = static_cast<unsigned __int128>(last_departure_ns_ - now_ns) * config_.rate_bps;
        return uint64_t(bits / (8 * NS_PER_S));
    }

    const LinkConfig& config() const { return config_; }

  private:
    // departure = max(arrival, previous departure) + len*8/rate. The sub-nanosecond remainder is
    // carried across back-to-back packets so a long busy period does not drift from the rate.
    uint64_t serialize(uint64_t arrival_ns, uint32_t len_bytes) {
        if (config_.rate_bps == 0) return arrival_ns;
        uint64_t start = last_departure_ns_;
        if (arrival_ns >= last_departure_ns_) {
            start = arrival_ns;
            carry_ = 0;  // the link went idle: nothing to carry
        }
        auto bit_ns = static_cast<unsigned __int128>(len_bytes) * 8 * NS_PER_S + carry_;
        carry_ = uint64_t(bit_ns % config_.rate_bps);
        last_departure_ns_ = start + uint64_t(bit_ns / config_.rate_bps);
        return last_departure_ns_;
    }

    LinkConfig config_;
    LossProcess loss_;
    uint64_t last_departure_ns_ = 0;
    uint64_t carry_ = 0;  // remainder of bits*1e9 / rate, in bit·ns units
};

}  // namespace pepsal::linkemu
