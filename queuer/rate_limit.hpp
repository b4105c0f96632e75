// Lets a repeated event be logged at most once per interval, so a flood of identical conditions
// (netlink overruns, a full table) costs one log line per second instead of one per packet.
#pragma once

#include <cstdint>

namespace pepsal::queuer {

class RateLimit {
public:
    explicit RateLimit(uint64_t interval_ms) : interval_ms_(interval_ms) {}

    // True when the event at `now_ms` should be logged; the events held back since the previous
    // logged one are then available from suppressed().
    bool allow(uint64_t now_ms) {
        if (logged_once_ && now_ms - last_ms_ < interval_ms_) {
            ++held_back_;
            return false;
        }
        logged_once_ = true;
        last_ms_ = now_ms;
        suppressed_ = held_back_;
        held_back_ = 0;
        return true;
    }
    uint64_t suppressed() const { return suppressed_; }

private:
    uint64_t interval_ms_;
    uint64_t last_ms_ = 0;
    bool logged_once_ = false;
    uint64_t held_back_ = 0;
    uint64_t suppressed_ = 0;
};

}  // namespace pepsal::queuer
