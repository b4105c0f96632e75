#include "latency.hpp"

#include <algorithm>

namespace pepsal::flowtool {

namespace {

// The smallest sample with at least `pct` percent of the samples at or below it.
uint64_t nearest_rank(const std::vector<uint64_t>& sorted, unsigned pct) {
    size_t rank = (sorted.size() * pct + 99) / 100;  // ceil(n * pct / 100), >= 1 for n >= 1
    return sorted[std::max<size_t>(rank, 1) - 1];
}

}  // namespace

LatencySummary summarize(std::vector<uint64_t>& samples_us) {
    if (samples_us.empty()) return {};
    std::sort(samples_us.begin(), samples_us.end());
    return {nearest_rank(samples_us, 50), nearest_rank(samples_us, 99), samples_us.back()};
}

}  // namespace pepsal::flowtool
