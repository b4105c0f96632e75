#include "connmgr.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "clock.hpp"
#include "log.hpp"
#include "relay.hpp"
#include "signals.hpp"
#include "pair_far.hpp"
#include "sockopt.hpp"
#include "worker.hpp"

namespace pepsal::connmgr {

namespace {
constexpr uint64_t GC_INTERVAL_MS = 1000;
constexpr uint64_t ACCEPT_PAUSE_MS = 100;     // after EMFILE/ENFILE/fork failure
constexpr int ACCEPTS_PER_WAKEUP = 64;        // then reap and collect before accepting more
constexpr uint64_t WORKER_STOP_GRACE_MS = 3000;
constexpr int RETURNS_PER_WAKEUP = 256;
}  // namespace

ConnMgr::ConnMgr(const Config& config, ConnTable& table, const std::vector<UniqueFd>& listeners,
                 const pair::Psk* key, int pair_listener)
    : config_(config), table_(table), listeners_(listeners) {
    key_ = key;
    if (key && config.pair_near()) pool_ = std::make_unique<LanePool>(config, *key, nonces_, table);
    if (key && pair_listener >= 0) acceptor_ = std::make_unique<LaneAcceptor>(config, *key, nonces_, pair_listener);
    if ((pool_ || acceptor_) && config.lane_reuse) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) == 0) {
            lane_return_rx_.reset(sv[0]);
            lane_return_tx_.reset(sv[1]);
        } else {
            LOG_ERROR("socketpair for lanes returned by workers: %m; every flow opens fresh lanes");
        }
    }
}

ConnMgr::~ConnMgr() = default;

uint64_t ConnMgr::tick(uint64_t now) {
    uint64_t wake = now + GC_INTERVAL_MS;
    if (pool_) {
        size_t lent = 0;
        for (const auto& [pid, n] : lent_) lent += n;
        wake = std::min(wake, pool_->tick(now, lent));
    }
    if (acceptor_) wake = std::min(wake, acceptor_->tick(now));
    return wake;
}

void ConnMgr::run(const sigset_t& wait_mask) {
    auto& flags = signals::flags();
    uint64_t next_gc = 0;
    LOG_NOTICE("connmgr listening on port %u (%s mode), at most %u flows", config_.port,
               config_.mode == InterceptMode::redirect ? "redirect" : "tproxy", config_.max_conns);
    while (!flags.terminate) {
        if (flags.child) {
            flags.child = 0;
            reap_workers();
        }
        uint64_t now = monotonic_ms();
        if (now >= next_gc) {
            if (uint32_t n = table_.collect(now, config_.pending_timeout_ms))
                LOG_INFO("collected %u stale table entries", n);
            next_gc = now + GC_INTERVAL_MS;
        }
        uint64_t wake = std::min(next_gc, tick(now));
        bool may_accept = workers_.size() < config_.max_conns && now >= accept_paused_until_ms_;
        std::vector<pollfd> fds;
        if (may_accept)
            for (const auto& l : listeners_) fds.push_back({l.get(), POLLIN, 0});
        size_t first_pool = fds.size();
        if (pool_) pool_->poll_set(fds);
        size_t first_acceptor = fds.size();
        if (acceptor_) acceptor_->poll_set(fds);
        size_t returns = fds.size();
        if (lane_return_rx_) fds.push_back({lane_return_rx_.get(), POLLIN, 0});
        if (!may_accept && accept_paused_until_ms_ > now) wake = std::min(wake, accept_paused_until_ms_);
        uint64_t left = wake > now ? wake - now : 0;
        timespec ts{time_t(left / 1000), long(left % 1000) * 1000000L};
        int n = ppoll(fds.data(), fds.size(), &ts, &wait_mask);
        if (n <= 0) continue;
        now = monotonic_ms();
        for (size_t i = 0; i < fds.size(); ++i) {
            if (!fds[i].revents) continue;
            if (i < first_pool) accept_from(fds[i].fd, wait_mask);
            else if (i < first_acceptor) pool_->handle(fds[i], now);
            else if (i < returns) acceptor_->handle(fds[i], now);
            else receive_returned_lanes(now);
        }
        while (acceptor_ && workers_.size() < config_.max_conns) {
            auto flow = acceptor_->take_flow();
            if (!flow) break;
            spawn_far_worker(std::move(*flow), wait_mask);
        }
    }
    stop_workers(wait_mask);
}

void ConnMgr::accept_from(int listen_fd, const sigset_t& wait_mask) {
    for (int i = 0; i < ACCEPTS_PER_WAKEUP && workers_.size() < config_.max_conns; ++i) {
        int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd >= 0) {
            spawn_worker(UniqueFd(fd), wait_mask);
            continue;
        }
        switch (errno) {
            case EAGAIN: return;
            case EINTR:
            case ECONNABORTED:
            case EPROTO: continue;
            case EMFILE:
            case ENFILE:
            case ENOBUFS:
            case ENOMEM: pause_accepting(std::strerror(errno)); return;
            default: LOG_ERROR("accept on listener fd %d: %m", listen_fd); return;
        }
    }
}

// Leaving a listener unpolled for a moment (instead of retrying at once) keeps an fd or memory
// shortage from spinning the CPU; pending connections wait in the kernel's backlog meanwhile.
void ConnMgr::pause_accepting(const char* why) {
    uint64_t now = monotonic_ms();
    accept_paused_until_ms_ = now + ACCEPT_PAUSE_MS;
    if (now - last_pause_log_ms_ >= 1000) {
        LOG_WARN("cannot take new flows (%s); pausing accept for %llu ms", why,
                 (unsigned long long)ACCEPT_PAUSE_MS);
        last_pause_log_ms_ = now;
    }
}

// Each returned lane goes where it came from (our pool, or the acceptor if the peer opened it),
// with the path estimate that came with it.
void ConnMgr::receive_returned_lanes(uint64_t now) {
    for (int i = 0; i < RETURNS_PER_WAKEUP; ++i) {
        pair::ReturnedLane lane;
        pair::FdReceive r;
        try {
            r = pair::receive_lane(lane_return_rx_.get(), lane);
        } catch (const std::system_error& e) {
            LOG_ERROR("%s", e.what());
            return;
        }
        if (r == pair::FdReceive::would_block || r == pair::FdReceive::closed) return;
        if (r == pair::FdReceive::malformed) {
            LOG_WARN("malformed message on the lane return socket");
            continue;
        }
        table_.add_lanes_returned(1);
        LOG_DEBUG("lane back from worker %d (%s), path %.1f Mbit/s x %.0f ms", int(lane.pid),
                  lane.owner == pair::LaneOwner::pool ? "pool" : "acceptor", double(lane.path.bytes_per_s) * 8 / 1e6,
                  double(lane.path.rtt_us) / 1000);
        if (lane.owner == pair::LaneOwner::pool && pool_) {
            if (auto it = lent_.find(lane.pid); it != lent_.end() && it->second > 0) --it->second;
            pool_->put_back(std::move(lane.fd), lane.path, now);
        } else if (lane.owner == pair::LaneOwner::acceptor && acceptor_) {
            acceptor_->put_back(std::move(lane.fd), lane.path, now);
        } else {
            disarm_reset_on_close(lane.fd.get());
        }
    }
}

void ConnMgr::close_inherited() const {
    // The child owns none of these but the lane return socket's sending end; closing the raw
    // fds is enough since it leaves with _exit.
    if (lane_return_rx_) ::close(lane_return_rx_.get());
    for (const auto& l : listeners_) ::close(l.get());
    if (pool_) pool_->close_inherited();
    if (acceptor_) acceptor_->close_inherited();
}

void ConnMgr::spawn_worker(UniqueFd client, const sigset_t& wait_mask) {
    proxy::PairLanes pair;
    if (pool_) {
        pair.lanes = pool_->take(config_.lanes, pair.path);
        pair.key = key_;
        pair.peer_up = pool_->peer_up();
        pair.lane_return = lane_return_tx_.get();
    }
    pid_t pid = fork();
    if (pid < 0) {
        pause_accepting(std::strerror(errno));
        proxy::reset_close(std::move(client));
        return;
    }
    if (pid == 0) {
        signals::reset();
        close_inherited();
        log::init("pepsal-worker", config_.daemon, config_.log_level);
        int rc = 1;
        try {
            rc = proxy::run_worker(std::move(client), config_, table_, wait_mask, std::move(pair));
        } catch (const std::exception& e) {
            LOG_ERROR("worker: %s", e.what());
        }
        _exit(rc);
    }
    workers_.insert(pid);
    if (size_t n = pair.lanes.size()) lent_[pid] = n;
}

void ConnMgr::spawn_far_worker(FlowStart flow, const sigset_t& wait_mask) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0) {
        LOG_ERROR("socketpair for the lanes of a flow from %s: %m", flow.peer.to_string().c_str());
        return;  // lane 0 closes: the near side resets the client
    }
    UniqueFd ours(sv[0]), theirs(sv[1]);
    pid_t pid = fork();
    if (pid < 0) {
        pause_accepting(std::strerror(errno));
        return;
    }
    if (pid == 0) {
        signals::reset();
        close_inherited();
        ::close(ours.get());
        log::init("pepsal-worker", config_.daemon, config_.log_level);
        int rc = 1;
        try {
            proxy::FarFlow far{std::move(flow.lane), flow.open, flow.peer, std::move(theirs),
                               lane_return_tx_.get(), flow.path};
            rc = proxy::run_far_worker(std::move(far), config_, table_, wait_mask);
        } catch (const std::exception& e) {
            LOG_ERROR("worker: %s", e.what());
        }
        _exit(rc);
    }
    workers_.insert(pid);
    acceptor_->attach_worker(flow.open.token, pid, std::move(ours));
}

void ConnMgr::reap_workers() {
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        workers_.erase(pid);
        lent_.erase(pid);  // what it did not return is gone
        if (acceptor_) acceptor_->worker_gone(pid);
        uint32_t freed = table_.release_owned_by(pid);
        if (WIFSIGNALED(status))
            LOG_NOTICE("worker %d killed by signal %d; freed %u table slots", int(pid), WTERMSIG(status), freed);
    }
}

void ConnMgr::stop_workers(const sigset_t& wait_mask) {
    if (workers_.empty()) return;
    LOG_NOTICE("stopping %zu workers", workers_.size());
    for (pid_t pid : workers_) kill(pid, SIGTERM);
    uint64_t deadline = monotonic_ms() + WORKER_STOP_GRACE_MS;
    while (!workers_.empty() && monotonic_ms() < deadline) {
        timespec ts{0, 50 * 1000000L};
        ppoll(nullptr, 0, &ts, &wait_mask);
        reap_workers();
    }
    for (pid_t pid : workers_) {
        LOG_WARN("worker %d did not stop; killing it", int(pid));
        kill(pid, SIGKILL);
    }
    for (pid_t pid : workers_) {
        waitpid(pid, nullptr, 0);
        table_.release_owned_by(pid);
    }
    workers_.clear();
}

}  // namespace pepsal::connmgr
