// Percentiles of round-trip times for rr and connect-rr.
#pragma once

#include <cstdint>
#include <vector>

namespace pepsal::flowtool {

struct LatencySummary {
    uint64_t p50_us = 0;
    uint64_t p99_us = 0;
    uint64_t max_us = 0;
};

// Nearest-rank percentiles; all zero for an empty sample. Sorts `samples_us`.
LatencySummary summarize(std::vector<uint64_t>& samples_us);

}  // namespace pepsal::flowtool
