#include "stats.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "error.hpp"
#include "log.hpp"
#include "unique_fd.hpp"

namespace pepsal::linkemu {

namespace {

constexpr double BEHIND_LATE_SHARE = 0.001;  // late packets tolerated, as a share of all

uint64_t get(const std::atomic<uint64_t>& c) {
    return c.load(std::memory_order_relaxed);
}

bool fell_behind(const DirectionCounters& c, const KernelQueueCounters& k) {
    if (get(c.enobufs) || k.queue_full || k.netlink_lost) return true;
    return double(get(c.late)) > BEHIND_LATE_SHARE * double(get(c.packets));
}

std::string direction_line(const DirectionReport& d, const KernelQueueCounters& k) {
    const DirectionCounters& c = *d.counters;
    char line[512];
    snprintf(line, sizeof line,
             "linkemu dir=%s queue=%u packets=%" PRIu64 " bytes=%" PRIu64 " delivered=%" PRIu64
             " delivered_bytes=%" PRIu64 " lost_random=%" PRIu64 " dropped_queue=%" PRIu64
             " late=%" PRIu64 " max_late_ms=%.3f max_read_lag_ms=%.3f enobufs=%" PRIu64
             " kernel_queue_full=%" PRIu64 " kernel_netlink_lost=%" PRIu64 " waiting=%" PRIu64
             " unstamped=%" PRIu64 " verdict_errors=%" PRIu64 "\n",
             d.name, unsigned(d.queue_num), get(c.packets), get(c.bytes), get(c.delivered),
             get(c.delivered_bytes), get(c.lost_random), get(c.dropped_queue), get(c.late),
             double(get(c.max_late_ns)) / 1e6, double(get(c.max_read_lag_ns)) / 1e6, get(c.enobufs),
             k.queue_full, k.netlink_lost, k.waiting, get(c.unstamped), get(c.verdict_errors));
    return line;
}

std::string behind_line(const DirectionReport& d, const KernelQueueCounters& k) {
    const DirectionCounters& c = *d.counters;
    char line[512];
    snprintf(line, sizeof line,
             "linkemu warning dir=%s: emulator fell behind: %" PRIu64
             " packets late by >%.1f ms, max lateness %.3f ms, %" PRIu64
             " netlink overruns, %" PRIu64 " packets dropped by the kernel queue\n",
             d.name, get(c.late), double(d.late_threshold_ns) / 1e6,
             double(get(c.max_late_ns)) / 1e6, get(c.enobufs), k.queue_full + k.netlink_lost);
    return line;
}

}  // namespace

KernelQueueCounters read_kernel_counters(uint16_t queue_num) {
    KernelQueueCounters k;
    std::ifstream in("/proc/net/netfilter/nfnetlink_queue");
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        unsigned num = 0, portid = 0, mode = 0, range = 0;
        uint64_t total = 0, dropped = 0, user_dropped = 0;
        if (!(fields >> num >> portid >> total >> mode >> range >> dropped >> user_dropped))
            continue;
        if (num != queue_num) continue;
        k = {total, dropped, user_dropped};
    }
    return k;
}

std::string render_report(const std::vector<DirectionReport>& dirs, uint64_t seq) {
    std::string out, warnings;
    bool behind = false;
    for (const auto& d : dirs) {
        KernelQueueCounters k = read_kernel_counters(d.queue_num);
        out += direction_line(d, k);
        if (fell_behind(*d.counters, k)) {
            behind = true;
            warnings += behind_line(d, k);
        }
    }
    out += warnings;
    out += "linkemu status=" + std::string(behind ? "behind" : "ok") +
           " seq=" + std::to_string(seq) + "\n";
    return out;
}

void BehindWatch::poll(const std::vector<DirectionReport>& dirs) {
    seen_.resize(dirs.size());
    for (size_t i = 0; i < dirs.size(); ++i) {
        const DirectionCounters& c = *dirs[i].counters;
        Seen now{get(c.late), get(c.enobufs)};
        if (now.late > seen_[i].late || now.enobufs > seen_[i].enobufs)
            LOG_WARN("%s: emulator fell behind: %" PRIu64 " packets late by >%.1f ms (%" PRIu64
                     " new), max lateness %.3f ms, %" PRIu64 " netlink overruns",
                     dirs[i].name, now.late, double(dirs[i].late_threshold_ns) / 1e6,
                     now.late - seen_[i].late, double(get(c.max_late_ns)) / 1e6, now.enobufs);
        seen_[i] = now;
    }
}

void write_report_file(const std::string& path, const std::string& report) {
    std::string tmp = path + ".tmp";
    UniqueFd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd) throw_errno("open " + tmp);
    if (write(fd.get(), report.data(), report.size()) != ssize_t(report.size()))
        throw_errno("write " + tmp);
    fd.reset();
    if (rename(tmp.c_str(), path.c_str()) < 0) throw_errno("rename " + tmp + " to " + path);
}

}  // namespace pepsal::linkemu
