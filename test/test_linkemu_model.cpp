// The link emulator's pure model: serialization, tail drop, random loss, and the unit parsers.
#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

#include "tools/linkemu/model.hpp"
#include "tools/linkemu/units.hpp"

using namespace pepsal::linkemu;

namespace {

constexpr uint64_t US = 1000;  // ns

LinkConfig link(uint64_t rate_bps, uint64_t delay_ns, uint64_t buffer_bytes) {
    LinkConfig c;
    c.rate_bps = rate_bps;
    c.delay_ns = delay_ns;
    c.buffer_bytes = buffer_bytes;
    return c;
}

// Offers `n` packets of `len` bytes, all at time 0 on a fast unlimited-buffer link, and counts
// the random losses.
uint64_t count_losses(const LossConfig& loss, uint64_t seed, int n) {
    LinkConfig c = link(0, 0, 0);
    c.loss = loss;
    LinkModel m(c, seed);
    uint64_t lost = 0;
    for (int i = 0; i < n; ++i) lost += m.offer(uint64_t(i) * US, 100).fate == Fate::lost_random;
    return lost;
}

// Expected count ± `sigmas` standard deviations of a binomial(n, p).
void require_binomial(uint64_t observed, int n, double p, double sigmas = 3) {
    double mean = n * p, sigma = std::sqrt(n * p * (1 - p));
    INFO("observed " << observed << ", expected " << mean << " ± " << sigmas * sigma);
    REQUIRE(std::fabs(double(observed) - mean) <= sigmas * sigma);
}

std::vector<Fate> fates(const LossConfig& loss, uint64_t seed, int n) {
    LinkConfig c = link(0, 0, 0);
    c.loss = loss;
    LinkModel m(c, seed);
    std::vector<Fate> out;
    for (int i = 0; i < n; ++i) out.push_back(m.offer(uint64_t(i), 100).fate);
    return out;
}

}  // namespace

TEST_CASE("back-to-back packets leave one serialization time apart", "[linkemu]") {
    // 8 Mbit/s = one byte per microsecond.
    LinkModel m(link(8'000'000, 300 * NS_PER_MS, 0), 1);
    for (uint64_t i = 1; i <= 5; ++i) {
        Decision d = m.offer(0, 1000);
        REQUIRE(d.fate == Fate::deliver);
        REQUIRE(d.due_ns == i * 1000 * US + 300 * NS_PER_MS);
    }
}

TEST_CASE("a packet on an idle link waits only its own serialization", "[linkemu]") {
    LinkModel m(link(8'000'000, 10 * NS_PER_MS, 0), 1);
    REQUIRE(m.offer(0, 500).due_ns == 500 * US + 10 * NS_PER_MS);
    // Arrives long after the first one left: the queue is empty again.
    REQUIRE(m.offer(5000 * US, 1500).due_ns == 6500 * US + 10 * NS_PER_MS);
    // Arrives while the second is still being sent: waits for it.
    REQUIRE(m.offer(6000 * US, 100).due_ns == 6600 * US + 10 * NS_PER_MS);
}

TEST_CASE("serialization keeps sub-nanosecond remainders over a busy period", "[linkemu]") {
    // 1500 bytes at 7 Mbit/s = 1714285.714... ns: truncating each packet would lose 0.7 ms
    // over 1000 packets.
    LinkModel m(link(7'000'000, 0, 0), 1);
    Decision d{};
    for (int i = 0; i < 1000; ++i) d = m.offer(0, 1500);
    uint64_t exact = uint64_t(std::floor(1000.0 * 1500 * 8 * 1e9 / 7e6));
    REQUIRE(d.due_ns >= exact - 1);
    REQUIRE(d.due_ns <= exact + 1);
}

TEST_CASE("an unlimited link only delays and never queues", "[linkemu]") {
    LinkModel m(link(0, 25 * NS_PER_MS, 1000), 1);
    for (int i = 0; i < 100; ++i) {
        Decision d = m.offer(42, 1500);
        REQUIRE(d.fate == Fate::deliver);
        REQUIRE(d.due_ns == 42 + 25 * NS_PER_MS);
    }
}

TEST_CASE("the buffer tail-drops once the queued bytes would exceed it", "[linkemu]") {
    LinkModel m(link(8'000'000, 0, 3000), 1);
    REQUIRE(m.offer(0, 1000).fate == Fate::deliver);  // in transmission: backlog 1000
    REQUIRE(m.offer(0, 1000).fate == Fate::deliver);  // 2000
    REQUIRE(m.offer(0, 1000).fate == Fate::deliver);  // 3000: exactly full
    REQUIRE(m.backlog_bytes(0) == 3000);
    REQUIRE(m.offer(0, 1000).fate == Fate::dropped_queue);
    REQUIRE(m.offer(0, 1).fate == Fate::dropped_queue);
    // Half a millisecond later 500 bytes have left: room for 500 more, not for 1000.
    REQUIRE(m.backlog_bytes(500 * US) == 2500);
    REQUIRE(m.offer(500 * US, 1000).fate == Fate::dropped_queue);
    Decision d = m.offer(500 * US, 500);
    REQUIRE(d.fate == Fate::deliver);
    REQUIRE(d.due_ns == 3500 * US);  // behind the 3000 bytes queued first
    REQUIRE(m.backlog_bytes(10'000 * US) == 0);
}

TEST_CASE("a packet larger than the buffer still passes an idle link", "[linkemu]") {
    LinkModel m(link(8'000'000, 0, 1000), 1);
    REQUIRE(m.offer(0, 1500).fate == Fate::deliver);
    REQUIRE(m.offer(0, 1500).fate == Fate::dropped_queue);
}

TEST_CASE("due times never decrease, so release order is arrival order", "[linkemu]") {
    LinkConfig c = link(50'000'000, 300 * NS_PER_MS, 200'000);
    c.loss.probability = 0.05;
    LinkModel m(c, 9);
    std::mt19937 rng(3);
    uint64_t t = 0, last_due = 0;
    int delivered = 0;
    for (int i = 0; i < 50'000; ++i) {
        t += rng() % 400 * US;  // bursts and gaps: 60 % load on average
        Decision d = m.offer(t, 40 + rng() % 1461);
        if (d.fate != Fate::deliver) continue;
        REQUIRE(d.due_ns >= last_due);
        REQUIRE(d.due_ns >= t + 300 * NS_PER_MS);
        last_due = d.due_ns;
        ++delivered;
    }
    REQUIRE(delivered > 40'000);
}

TEST_CASE("uniform loss matches its probability over 100k packets", "[linkemu]") {
    for (double p : {0.01, 0.03, 0.2}) {
        LossConfig loss;
        loss.probability = p;
        // Each seed within 4 sigma, all five together within 3.
        uint64_t total = 0;
        for (uint64_t seed : {1, 2, 3, 4, 5}) {
            uint64_t lost = count_losses(loss, seed, 100'000);
            require_binomial(lost, 100'000, p, 4);
            total += lost;
        }
        require_binomial(total, 500'000, p);
    }
    REQUIRE(count_losses(LossConfig{}, 1, 100'000) == 0);
}

TEST_CASE("a randomly lost packet still occupied the link", "[linkemu]") {
    LinkConfig c = link(8'000'000, 0, 0);
    c.loss.probability = 1;
    LinkModel m(c, 1);
    REQUIRE(m.offer(0, 1000).fate == Fate::lost_random);
    REQUIRE(m.backlog_bytes(0) == 1000);
}

TEST_CASE("the same seed loses the same packets; another seed others", "[linkemu]") {
    LossConfig loss;
    loss.probability = 0.1;
    REQUIRE(fates(loss, 7, 10'000) == fates(loss, 7, 10'000));
    REQUIRE(fates(loss, 7, 10'000) != fates(loss, 8, 10'000));
    LossConfig ge{LossConfig::Kind::gilbert_elliott, 0, 0.02, 0.3, 0.9, 0.001};
    REQUIRE(fates(ge, 5, 10'000) == fates(ge, 5, 10'000));
    REQUIRE(fates(ge, 5, 10'000) != fates(ge, 6, 10'000));
}

TEST_CASE("Gilbert-Elliott losses come in bursts at the configured mean rate", "[linkemu]") {
    // P(good→bad) 0.01, P(bad→good) 0.25, all lost while bad: 3.85 % loss in bursts of 4.
    LossConfig ge{LossConfig::Kind::gilbert_elliott, 0, 0.01, 0.25, 1.0, 0.0};
    REQUIRE(mean_loss_rate(ge) == Approx(0.01 / 0.26));
    const int n = 200'000;
    std::vector<Fate> f = fates(ge, 11, n);
    uint64_t lost = 0, bursts = 0;
    for (int i = 0; i < n; ++i) {
        if (f[i] != Fate::lost_random) continue;
        ++lost;
        if (i == 0 || f[i - 1] != Fate::lost_random) ++bursts;
    }
    double rate = double(lost) / n, mean_burst = double(lost) / double(bursts);
    INFO("loss rate " << rate << ", mean burst " << mean_burst);
    REQUIRE(rate == Approx(mean_loss_rate(ge)).epsilon(0.1));
    REQUIRE(mean_burst == Approx(4.0).epsilon(0.1));
    // Uniform loss at the same rate has bursts of barely more than one packet.
    LossConfig uniform;
    uniform.probability = mean_loss_rate(ge);
    std::vector<Fate> u = fates(uniform, 11, n);
    uint64_t ulost = 0, ubursts = 0;
    for (int i = 0; i < n; ++i) {
        if (u[i] != Fate::lost_random) continue;
        ++ulost;
        if (i == 0 || u[i - 1] != Fate::lost_random) ++ubursts;
    }
    REQUIRE(double(ulost) / double(ubursts) < 1.1);
}

TEST_CASE("Gilbert-Elliott loses in the good state at its own rate", "[linkemu]") {
    LossConfig ge{LossConfig::Kind::gilbert_elliott, 0, 0.0, 1.0, 1.0, 0.02};
    REQUIRE(mean_loss_rate(ge) == Approx(0.02));
    require_binomial(count_losses(ge, 4, 100'000), 100'000, 0.02);
}

TEST_CASE("rates parse with decimal units", "[linkemu]") {
    REQUIRE(parse_rate_bps("50mbit") == 50'000'000u);
    REQUIRE(parse_rate_bps("10Mbit") == 10'000'000u);
    REQUIRE(parse_rate_bps("1.5gbit") == 1'500'000'000u);
    REQUIRE(parse_rate_bps("800kbit") == 800'000u);
    REQUIRE(parse_rate_bps("9600bit") == 9600u);
    REQUIRE(parse_rate_bps("unlimited") == 0u);
    for (const char* bad :
         {"50mb", "50", "", "mbit", "-1mbit", "0mbit", "0.0001bit", "1e13bit", "nanmbit"})
        REQUIRE_FALSE(parse_rate_bps(bad).has_value());
}

TEST_CASE("buffers resolve to bytes from bytes, time or BDP", "[linkemu]") {
    auto bytes = [](const char* text, uint64_t rate, double rtt_ms) {
        auto spec = parse_buffer_spec(text);
        REQUIRE(spec.has_value());
        return buffer_limit_bytes(*spec, rate, rtt_ms);
    };
    REQUIRE(bytes("1bdp", 50'000'000, 600) == 3'750'000u);  // GEO downlink
    REQUIRE(bytes("0.5bdp", 10'000'000, 600) == 375'000u);
    REQUIRE(bytes("100ms", 10'000'000, 600) == 125'000u);
    REQUIRE(bytes("375000b", 10'000'000, 600) == 375'000u);
    REQUIRE(bytes("64kb", 10'000'000, 600) == 64'000u);
    REQUIRE(bytes("unlimited", 10'000'000, 600) == 0u);
    REQUIRE(bytes("1bdp", 0, 600) == 0u);           // unlimited rate: nothing ever waits
    REQUIRE(bytes("1bdp", 8'000'000, 0) == 1500u);  // no delay: still one packet
    for (const char* bad : {"10xx", "0b", "-5ms", "bdp", "", "1.5"})
        REQUIRE_FALSE(parse_buffer_spec(bad).has_value());
}
