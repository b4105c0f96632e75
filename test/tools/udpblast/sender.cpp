#include "sender.hpp"

#include <sys/socket.h>
#include <time.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <vector>

#include "error.hpp"
#include "unique_fd.hpp"
#include "wire.hpp"

namespace pepsal::udpblast {

namespace {

constexpr int SNDBUF_BYTES = 4 << 20;
constexpr unsigned BURST_MAX = 64;  // datagrams sent back to back before looking at the clock

void sleep_until(uint64_t t_ns) {
    timespec ts{time_t(t_ns / 1'000'000'000u), long(t_ns % 1'000'000'000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
    }
}

UniqueFd connect_to(const Endpoint& to) {
    UniqueFd fd(socket(to.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd) throw_errno("socket for " + to.to_string());
    setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUF, &SNDBUF_BYTES, sizeof SNDBUF_BYTES);
    if (connect(fd.get(), to.sa(), to.len()) < 0) throw_errno("connect " + to.to_string());
    return fd;
}

}  // namespace

SendResult blast(const SendOptions& opts) {
    UniqueFd fd = connect_to(opts.to);
    std::vector<char> payload(opts.payload_bytes, 'x');
    uint32_t ip_bytes = opts.payload_bytes + ip_overhead_bytes(opts.to.family());
    // Interval between datagrams in ns, kept fractional so the long-run rate is exact.
    double interval_ns = opts.rate_bps ? double(ip_bytes) * 8e9 / double(opts.rate_bps) : 0;
    SendResult r;
    uint64_t start = monotonic_ns();
    uint64_t end = start + uint64_t(opts.seconds * 1e9);
    double next = double(start);
    for (uint64_t now = start; now < end; now = monotonic_ns()) {
        if (double(now) < next) {
            sleep_until(uint64_t(next));
            continue;
        }
        for (unsigned i = 0; i < BURST_MAX && next <= double(now); ++i, next += interval_ns) {
            write_stamp(payload.data(), {r.packets, monotonic_ns()});
            if (send(fd.get(), payload.data(), payload.size(), 0) < 0) {
                ++r.errors;
                continue;
            }
            ++r.packets;
            r.ip_bytes += ip_bytes;
        }
        // Unpaced: never fall asleep, the burst loop above bounds each round.
        if (!opts.rate_bps) next = double(monotonic_ns());
    }
    r.seconds = double(monotonic_ns() - start) / 1e9;
    return r;
}

std::string format(const SendResult& r) {
    char line[256];
    snprintf(line, sizeof line,
             "udpblast send packets=%" PRIu64 " ip_bytes=%" PRIu64 " errors=%" PRIu64
             " seconds=%.3f rate_bps=%.0f\n",
             r.packets, r.ip_bytes, r.errors, r.seconds,
             r.seconds > 0 ? double(r.ip_bytes) * 8 / r.seconds : 0.0);
    return line;
}

}  // namespace pepsal::udpblast
