// Monotonic time shared by all processes (CLOCK_MONOTONIC is system-wide).
#pragma once

#include <time.h>

#include <cstdint>

namespace pepsal {

inline uint64_t monotonic_ms() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1000u + uint64_t(ts.tv_nsec) / 1000000u;
}

}  // namespace pepsal
