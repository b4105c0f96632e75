#include "pair_lane_scheduler.hpp"

namespace pepsal::pair {

std::optional<size_t> pick_lane(std::span<const LaneLoad> lanes) {
    std::optional<size_t> roomiest;
    for (size_t i = 0; i < lanes.size(); ++i) {
        if (!lanes[i].writable || lanes[i].room < MIN_ROOM_BYTES) continue;
        if (!roomiest || lanes[i].room > lanes[*roomiest].room) roomiest = i;
    }
    if (roomiest) return roomiest;
    std::optional<size_t> best;
    for (size_t i = 0; i < lanes.size(); ++i) {
        if (!lanes[i].writable) continue;
        // Strictly fewer: on a tie the earlier (lower) index stays.
        if (!best || lanes[i].queued_bytes < lanes[*best].queued_bytes) best = i;
    }
    return best;
}

}  // namespace pepsal::pair
