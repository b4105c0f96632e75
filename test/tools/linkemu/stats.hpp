// Per-direction counters and the machine-readable report benchmarks parse.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace pepsal::linkemu {

// Written only by the direction's thread; atomics so the main thread can read them at any time.
struct DirectionCounters {
    std::atomic<uint64_t> packets{0}, bytes{0};  // everything read from the queue
    std::atomic<uint64_t> delivered{0}, delivered_bytes{0};
    std::atomic<uint64_t> lost_random{0}, dropped_queue{0};
    std::atomic<uint64_t> late{0};  // released more than the threshold after due time
    std::atomic<uint64_t> max_late_ns{0};
    std::atomic<uint64_t> max_read_lag_ns{0};  // kernel receive stamp → our read
    std::atomic<uint64_t> enobufs{0};          // netlink overruns (each loses ≥ 1 packet)
    std::atomic<uint64_t> unstamped{0};        // packets timed at read instead of kernel receive
    std::atomic<uint64_t> verdict_errors{0};

    // Single writer: a plain load/store pair, no locked read-modify-write on the data path.
    static void add(std::atomic<uint64_t>& c, uint64_t n = 1) {
        c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    static void raise_max(std::atomic<uint64_t>& c, uint64_t v) {
        if (v > c.load(std::memory_order_relaxed)) c.store(v, std::memory_order_relaxed);
    }
};

// The kernel's own counters for one queue (/proc/net/netfilter/nfnetlink_queue).
struct KernelQueueCounters {
    uint64_t waiting = 0;       // packets awaiting a verdict
    uint64_t queue_full = 0;    // dropped because queue-maxlen packets were waiting
    uint64_t netlink_lost = 0;  // dropped because our socket buffer was full
};

// Reads the current network namespace's counters for `queue_num` (zeros if not bound).
KernelQueueCounters read_kernel_counters(uint16_t queue_num);

struct DirectionReport {
    const char* name;
    uint16_t queue_num;
    const DirectionCounters* counters;
    uint64_t late_threshold_ns;
};

// "linkemu dir=down ..." per direction, a warning line for each direction that fell behind, and
// "linkemu status=ok|behind seq=N". Behind: more than 0.1 % of packets late, or any packet lost
// inside the emulator rather than by the model.
std::string render_report(const std::vector<DirectionReport>& dirs, uint64_t seq);

// Logs, while it lasts, that a direction is falling behind: called about once a second, it
// warns for each direction whose late releases or netlink overruns grew since the last call,
// so trouble shows in the log when it happens, not only in the final counters.
class BehindWatch {
  public:
    void poll(const std::vector<DirectionReport>& dirs);

  private:
    struct Seen {
        uint64_t late = 0, enobufs = 0;
    };
    std::vector<Seen> seen_;
};

// Replaces `path` atomically (write to a temporary, rename) so readers never see half a report.
void write_report_file(const std::string& path, const std::string& report);

}  // namespace pepsal::linkemu
