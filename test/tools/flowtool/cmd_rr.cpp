// rr: round trips of SIZE bytes on one connection. connect-rr: one connection per round trip,
// so each sample is connection setup plus the first request and response.
#include <chrono>
#include <cstring>
#include <vector>

#include "args.hpp"
#include "client_options.hpp"
#include "commands.hpp"
#include "conn.hpp"
#include "failure.hpp"
#include "latency.hpp"
#include "pattern.hpp"
#include "protocol.hpp"
#include "result_line.hpp"
#include "server_modes.hpp"

namespace pepsal::flowtool {

namespace {

using SteadyClock = std::chrono::steady_clock;

struct RrOptions {
    ClientOptions client;
    uint64_t size = 100;
    uint64_t count = 1000;
};

RrOptions rr_options(int argc, char** argv) {
    Args args(argc, argv, client_keys({"size", "count"}), {});
    RrOptions o;
    o.client = client_options(args);
    o.size = args.size("size", 1, MAX_RR_BYTES, 100);
    o.count = args.num("count", 1, 10'000'000, 1000);  // samples are kept: 8 bytes each
    return o;
}

uint64_t micros_since(SteadyClock::time_point t0) {
    return uint64_t(
        std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - t0).count());
}

// One request at stream offset `offset`; the response must be the server's stream there.
void round_trip(Conn& c, uint64_t seed, uint64_t offset, std::vector<uint8_t>& buf) {
    fill_pattern(seed, offset, buf.data(), buf.size());
    c.write_all(buf.data(), buf.size());
    size_t got = 0;
    if (!c.read_exact(buf.data(), buf.size(), &got))
        throw FlowError(Fail::early_eof, "EOF after " + std::to_string(got) + " of " +
                                             std::to_string(buf.size()) + " response bytes");
    std::vector<uint8_t> want(buf.size());
    fill_pattern(reverse_seed(seed), offset, want.data(), want.size());
    if (std::memcmp(want.data(), buf.data(), buf.size()) != 0)
        throw FlowError(Fail::hash_mismatch, "response at offset " + std::to_string(offset) +
                                                 " differs from the server's stream");
}

void print_stats(const char* outcome, const RrOptions& o, std::vector<uint64_t>& samples,
                 double secs, const Endpoint& peer, bool connects) {
    LatencySummary l = summarize(samples);
    ResultLine line(outcome);
    line.add("count", samples.size()).add("size", o.size);
    line.add("p50_us", l.p50_us).add("p99_us", l.p99_us).add("max_us", l.max_us);
    line.add_fixed("secs", secs, 3);
    if (connects)
        line.add_fixed("connects_per_sec", secs > 0 ? double(samples.size()) / secs : 0, 1);
    line.add("peer", peer.to_string());
    line.print();
}

double secs_since(SteadyClock::time_point t0) {
    return std::chrono::duration<double>(SteadyClock::now() - t0).count();
}

}  // namespace

int cmd_rr(int argc, char** argv) {
    RrOptions o = rr_options(argc, argv);
    const ClientOptions& co = o.client;
    try {
        Conn c = Conn::connect(co.to, co.deadline, co.connect_timeout_ms);
        c.set_nodelay();
        c.write_all(format_request(Request{Mode::rr, o.size, co.seed}));
        std::vector<uint8_t> buf(o.size);
        std::vector<uint64_t> samples;
        samples.reserve(o.count);
        auto start = SteadyClock::now();
        for (uint64_t i = 0; i < o.count; ++i) {
            auto t0 = SteadyClock::now();
            round_trip(c, co.seed, i * o.size, buf);
            samples.push_back(micros_since(t0));
        }
        print_stats("rr", o, samples, secs_since(start), c.peer(), false);
        return EXIT_OK;
    } catch (const FlowError& e) {
        return report_failure("rr", e);
    }
}

int cmd_connect_rr(int argc, char** argv) {
    RrOptions o = rr_options(argc, argv);
    const ClientOptions& co = o.client;
    try {
        std::vector<uint8_t> buf(o.size);
        std::vector<uint64_t> samples;
        samples.reserve(o.count);
        Endpoint peer;
        auto start = SteadyClock::now();
        for (uint64_t i = 0; i < o.count; ++i) {
            auto t0 = SteadyClock::now();
            Conn c = Conn::connect(co.to, co.deadline, co.connect_timeout_ms);
            c.set_nodelay();
            c.write_all(format_request(Request{Mode::rr, o.size, co.seed}));
            round_trip(c, co.seed, 0, buf);
            samples.push_back(micros_since(t0));
            peer = c.peer();
        }
        print_stats("connect-rr", o, samples, secs_since(start), peer, true);
        return EXIT_OK;
    } catch (const FlowError& e) {
        return report_failure("connect-rr", e);
    }
}

}  // namespace pepsal::flowtool
