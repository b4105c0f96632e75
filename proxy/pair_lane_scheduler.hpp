// Sender side of pair mode: which lane carries the next DATA chunk of a flow.
//
// A lane whose congestion window has room sends a chunk the moment it gets it: the one with
// the most room goes first, and the caller cuts the chunk to that room, so that a burst
// (a 100 KB response on fresh lanes) fills every lane's initial window exactly instead of
// overfilling some by part of a frame, which would cost a round trip. When no window has room,
// the lane with the fewest bytes still queued unsent is the one whose next byte will leave
// first, so choosing it keeps the lanes' queues level and the receiver's reorder gaps short.
// Blind round-robin would keep feeding a lane that has stalled (loss, retransmission) while
// the others idle, and the receiver would wait on the stalled lane's bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace pepsal::pair {

// Less room than this counts as none: a frame cut smaller would be mostly header.
constexpr uint64_t MIN_ROOM_BYTES = 1024;

struct LaneLoad {
    uint64_t queued_bytes = 0;  // queued unsent (Lane::SendState) or the caller's own count
    bool writable = false;      // the socket can take bytes now (and the lane is authenticated)
    uint64_t room = 0;          // bytes its congestion window lets leave now
};

// Of the writable lanes, the one with the most room if any has MIN_ROOM_BYTES, else the one
// with the fewest queued bytes; ties go to the lowest index. std::nullopt when no lane is
// writable.
std::optional<size_t> pick_lane(std::span<const LaneLoad> lanes);

}  // namespace pepsal::pair
