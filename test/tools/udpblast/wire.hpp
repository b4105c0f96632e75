// The datagram udpblast sends: a sequence number and the send time, then padding.
#pragma once

#include <sys/socket.h>
#include <time.h>

#include <cstdint>
#include <cstring>

namespace pepsal::udpblast {

struct Stamp {
    uint64_t seq;      // 0, 1, 2, ... in send order
    uint64_t sent_ns;  // sender's CLOCK_MONOTONIC: one clock for every namespace of the host
};

constexpr uint32_t MIN_PAYLOAD_BYTES = sizeof(Stamp);
constexpr uint32_t MAX_PAYLOAD_BYTES = 65507;

inline void write_stamp(char* payload, const Stamp& s) {
    std::memcpy(payload, &s, sizeof s);
}
inline Stamp read_stamp(const char* payload) {
    Stamp s;
    std::memcpy(&s, payload, sizeof s);
    return s;
}

// IP + UDP header bytes in front of the payload: what a link's rate is spent on as well.
inline uint32_t ip_overhead_bytes(int family) {
    return family == AF_INET6 ? 48 : 28;
}

inline uint64_t monotonic_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1'000'000'000u + uint64_t(ts.tv_nsec);
}

}  // namespace pepsal::udpblast
