// Sender side of pair mode: which lane carries the next DATA chunk of a flow.
//
// The lane with the fewest bytes still queued in its socket is the one whose next byte will
// leave first, so choosing it keeps the lanes' queues level and the receiver's reorder gaps
// short. Blind round-robin would keep feeding a lane that has stalled (loss, retransmission)
// while the others idle, and the receiver would wait on the stalled lane's bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace pepsal::pair {

struct LaneLoad {
    uint64_t queued_bytes = 0;  // unsent + unacknowledged (SIOCOUTQ) or the caller's own count
    bool writable = false;      // the socket can take bytes now (and the lane is authenticated)
};

// The writable lane with the fewest queued bytes; ties go to the lowest index. std::nullopt
// when no lane is writable.
std::optional<size_t> pick_lane(std::span<const LaneLoad> lanes);

// The same choice over a table the scheduler keeps for the caller. Lane indices out of range
// throw std::out_of_range.
class LaneScheduler {
public:
    explicit LaneScheduler(size_t lanes) : lanes_(lanes) {}

    void set_queued(size_t lane, uint64_t bytes) { lanes_.at(lane).queued_bytes = bytes; }
    // After a write of `bytes` to the lane, until the next SIOCOUTQ reading replaces the count.
    void add_queued(size_t lane, uint64_t bytes) { lanes_.at(lane).queued_bytes += bytes; }
    void set_writable(size_t lane, bool writable) { lanes_.at(lane).writable = writable; }

    std::optional<size_t> pick() const { return pick_lane(lanes_); }

    size_t lanes() const { return lanes_.size(); }
    const LaneLoad& lane(size_t index) const { return lanes_.at(index); }

private:
    std::vector<LaneLoad> lanes_;  // all start not writable, with nothing queued
};

}  // namespace pepsal::pair
