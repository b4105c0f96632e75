// udpblast's sending side: numbered datagrams at a fixed IP-level rate.
#pragma once

#include <cstdint>
#include <string>

#include "endpoint.hpp"

namespace pepsal::udpblast {

struct SendOptions {
    Endpoint to;
    uint64_t rate_bps = 0;  // IP-level bit/s (headers included); 0 = as fast as possible
    uint32_t payload_bytes = 1200;
    double seconds = 5;
};

struct SendResult {
    uint64_t packets = 0;
    uint64_t ip_bytes = 0;
    uint64_t errors = 0;  // ENOBUFS, ECONNREFUSED...: counted, the blast goes on
    double seconds = 0;
};

// Sends for opts.seconds. Throws std::system_error naming the destination on setup failure.
SendResult blast(const SendOptions& opts);

std::string format(const SendResult& r);

}  // namespace pepsal::udpblast
