#include "direction.hpp"

#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "error.hpp"
#include "log.hpp"

namespace pepsal::linkemu {

namespace {

constexpr int NETLINK_RCVBUF_BYTES = 32 << 20;  // ≥ 16 MB asked for: bursts at line rate
constexpr uint32_t MAX_READ_PACKETS = 256;      // between two release checks

uint64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * NS_PER_S + uint64_t(ts.tv_nsec);
}

std::string label(const DirectionOptions& o) {
    return std::string(o.name) + " (NFQUEUE " + std::to_string(o.queue_num) + ")";
}

}  // namespace

Direction::Direction(const DirectionOptions& opts, uint64_t seed, const Options& global)
    : opts_(opts),
      late_threshold_ns_(global.late_threshold_ns),
      rt_priority_(global.rt_priority),
      model_(opts.link, seed),
      queue_(opts.queue_num, global.queue_maxlen, NETLINK_RCVBUF_BYTES),
      timer_(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK)) {
    if (!timer_) throw_errno("timerfd_create for " + label(opts_));
    batch_.reserve(MAX_READ_PACKETS);
}

void Direction::run(int stop_fd) {
    // Default timer slack (50 µs) would be added to every release; ask for the tightest.
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    use_realtime_priority();
    UniqueFd ep(epoll_create1(EPOLL_CLOEXEC));
    if (!ep) throw_errno("epoll_create1 for " + label(opts_));
    for (int fd : {queue_.fd(), timer_.get(), stop_fd}) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        if (epoll_ctl(ep.get(), EPOLL_CTL_ADD, fd, &ev) < 0)
            throw_errno("epoll_ctl ADD for " + label(opts_));
    }
    for (;;) {
        epoll_event events[3];
        int n = epoll_wait(ep.get(), events, 3, -1);
        if (n < 0 && errno != EINTR) throw_errno("epoll_wait for " + label(opts_));
        for (int i = 0; i < n; ++i) {
            if (events[i].data.fd == stop_fd) return;
            if (events[i].data.fd == timer_.get()) {
                uint64_t expirations;
                (void)!read(timer_.get(), &expirations, sizeof expirations);  // clears readiness
            }
        }
        // Reading is non-blocking and cheap when empty, so every wake-up does both; releases
        // come first and between read batches, so a burst being read does not delay them.
        bool more = true;
        while (more) {
            release_due(now_ns());
            more = ingest();
        }
        release_due(now_ns());
        arm_timer();
    }
}

void Direction::use_realtime_priority() {
    if (rt_priority_ == 0) return;
    sched_param param{};
    param.sched_priority = rt_priority_;
    int err = pthread_setschedparam(pthread_self(), SCHED_FIFO, &param);
    if (err)
        LOG_WARN("%s: SCHED_FIFO %d refused (%s); releases may be late on a busy machine",
                 label(opts_).c_str(), rt_priority_, strerror(err));
}

bool Direction::ingest() {
    batch_.clear();
    ReadResult r = queue_.read_pending(batch_, MAX_READ_PACKETS);
    if (r.enobufs) DirectionCounters::add(counters_.enobufs);
    if (r.unstamped) DirectionCounters::add(counters_.unstamped, r.unstamped);
    if (batch_.empty()) return false;
    uint64_t now = now_ns();
    uint64_t bytes = 0;
    for (const QueuedPacket& p : batch_) {
        bytes += p.len;
        if (now > p.arrival_ns)
            DirectionCounters::raise_max(counters_.max_read_lag_ns, now - p.arrival_ns);
        Decision d = model_.offer(p.arrival_ns, p.len);
        if (d.fate == Fate::deliver) {
            pending_.push_back({p.id, p.len, d.due_ns});
            continue;
        }
        DirectionCounters::add(d.fate == Fate::lost_random ? counters_.lost_random
                                                           : counters_.dropped_queue);
        if (!queue_.drop(p.id)) DirectionCounters::add(counters_.verdict_errors);
    }
    DirectionCounters::add(counters_.packets, batch_.size());
    DirectionCounters::add(counters_.bytes, bytes);
    return r.more;
}

void Direction::release_due(uint64_t now) {
    uint32_t last_id = 0;
    uint64_t released = 0, bytes = 0;
    while (!pending_.empty() && pending_.front().due_ns <= now) {
        const Pending& p = pending_.front();
        uint64_t lateness = now - p.due_ns;
        if (lateness > late_threshold_ns_) DirectionCounters::add(counters_.late);
        DirectionCounters::raise_max(counters_.max_late_ns, lateness);
        last_id = p.id;
        bytes += p.len;
        ++released;
        pending_.pop_front();
    }
    if (!released) return;
    // Every packet with a smaller id was either released here or already dropped.
    if (!queue_.accept_through(last_id)) DirectionCounters::add(counters_.verdict_errors);
    DirectionCounters::add(counters_.delivered, released);
    DirectionCounters::add(counters_.delivered_bytes, bytes);
}

void Direction::arm_timer() {
    uint64_t due = pending_.empty() ? 0 : pending_.front().due_ns;
    if (due == armed_due_ns_) return;
    itimerspec spec{};
    if (due) {
        // An absolute deadline: no drift from the time spent between computing and arming.
        spec.it_value.tv_sec = time_t(due / NS_PER_S);
        spec.it_value.tv_nsec = long(due % NS_PER_S);
    }
    if (timerfd_settime(timer_.get(), TFD_TIMER_ABSTIME, &spec, nullptr) < 0)
        throw_errno("timerfd_settime for " + label(opts_));
    armed_due_ns_ = due;
}

DirectionReport Direction::report() const {
    return {opts_.name, opts_.queue_num, &counters_, late_threshold_ns_};
}

}  // namespace pepsal::linkemu
