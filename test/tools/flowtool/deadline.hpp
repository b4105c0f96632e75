// A point in monotonic time after which a flow gives up, so no test can hang on flowtool.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>

#include "clock.hpp"

namespace pepsal::flowtool {

class Deadline {
  public:
    static Deadline never() { return Deadline(NEVER); }
    static Deadline after_ms(uint64_t ms) { return Deadline(monotonic_ms() + ms); }
    static Deadline at_ms(uint64_t monotonic) { return Deadline(monotonic); }

    bool is_never() const { return at_ms_ == NEVER; }
    bool expired() const { return !is_never() && monotonic_ms() >= at_ms_; }
    // Milliseconds left in the form poll() wants: -1 for never, 0 once expired.
    int poll_timeout_ms() const {
        if (is_never()) return -1;
        uint64_t now = monotonic_ms();
        if (now >= at_ms_) return 0;
        return int(std::min<uint64_t>(at_ms_ - now, std::numeric_limits<int>::max()));
    }
    Deadline earlier(Deadline other) const { return Deadline(std::min(at_ms_, other.at_ms_)); }

  private:
    static constexpr uint64_t NEVER = std::numeric_limits<uint64_t>::max();
    explicit Deadline(uint64_t at_ms) : at_ms_(at_ms) {}
    uint64_t at_ms_;  // CLOCK_MONOTONIC ms, or NEVER
};

}  // namespace pepsal::flowtool
