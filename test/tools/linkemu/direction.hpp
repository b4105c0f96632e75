// One direction of the emulated link: its queue, its model and the thread loop that releases
// each packet at its due time.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "model.hpp"
#include "nfqueue.hpp"
#include "options.hpp"
#include "stats.hpp"
#include "unique_fd.hpp"

namespace pepsal::linkemu {

class Direction {
  public:
    // Binds the direction's NFQUEUE; throws std::system_error naming it.
    Direction(const DirectionOptions& opts, uint64_t seed, const Options& global);

    // The thread body: serves the queue until `stop_fd` (an eventfd) becomes readable.
    // Throws std::system_error on a failing system call.
    void run(int stop_fd);

    DirectionReport report() const;

  private:
    struct Pending {
        uint32_t id;
        uint32_t len;
        uint64_t due_ns;
    };

    void use_realtime_priority();
    // Reads one batch and decides each packet's fate; true if more are waiting.
    bool ingest();
    void release_due(uint64_t now_ns);
    void arm_timer();

    DirectionOptions opts_;
    uint64_t late_threshold_ns_;
    int rt_priority_;
    LinkModel model_;
    NfQueue queue_;
    UniqueFd timer_;               // timerfd, CLOCK_MONOTONIC, armed to the head packet's due time
    uint64_t armed_due_ns_ = 0;    // 0: disarmed
    std::deque<Pending> pending_;  // delivered packets in FIFO (= id = due time) order
    std::vector<QueuedPacket> batch_;
    DirectionCounters counters_;
};

}  // namespace pepsal::linkemu
