// udpblast's receiving side: counts what arrives and checks the sequence.
#pragma once

#include <cstdint>
#include <string>

#include "endpoint.hpp"

namespace pepsal::udpblast {

struct RecvOptions {
    Endpoint listen;
    uint32_t idle_ms = 1500;  // the run ends this long after the last datagram
    double max_seconds = 60;  // ... or this long after start, whatever comes first
};

struct RecvResult {
    uint64_t packets = 0, ip_bytes = 0;
    uint64_t highest_seq = 0;  // meaningful when packets > 0
    uint64_t lost = 0;         // sequence numbers up to highest_seq never seen
    uint64_t loss_bursts = 0;  // runs of consecutive lost sequence numbers
    uint64_t reordered = 0;    // arrived after a higher sequence number
    uint64_t duplicates = 0;
    uint64_t sock_drops = 0;  // dropped by our own socket buffer (SO_RXQ_OVFL), not the path
    double duration_s = 0;    // first to last arrival
    double mid_rate_bps = 0;  // IP-level rate over the middle 60 % of the arrivals' span
    double owd_min_ms = 0, owd_avg_ms = 0, owd_max_ms = 0;  // one-way delay, same-host clock
};

// Binds opts.listen and prints "udpblast recv listening on ADDR" to stderr once it can receive,
// then counts until idle. Throws std::system_error naming the address on setup failure.
RecvResult receive(const RecvOptions& opts);

std::string format(const RecvResult& r);

}  // namespace pepsal::udpblast
