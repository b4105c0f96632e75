// Socket set-up shared by both ends of a pair-mode lane.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "config.hpp"

namespace pepsal::pair {

constexpr uint64_t LANE_HANDSHAKE_TIMEOUT_MS = 10'000;
constexpr uint64_t LANE_KEEPALIVE_MS = 20'000;  // KEEPALIVE frame on an idle pooled lane

// Lanes cross the long link, so they get the outbound (server-*) options, TCP_NODELAY (frames
// are written whole; small request/response must not wait) and TCP keepalive so a dead peer is
// noticed on idle lanes. Throws std::system_error naming `what`.
void prepare_lane_socket(int fd, const Config& cfg, const std::string& what);

// Writes all of `bytes` to a non-blocking socket whose buffer is known to have room (the small
// handshake messages and first frames); false if the socket did not take them at once.
bool write_small(int fd, std::span<const uint8_t> bytes);

}  // namespace pepsal::pair
