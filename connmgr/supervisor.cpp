#include "supervisor.hpp"

#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "clock.hpp"
#include "connmgr.hpp"
#include "log.hpp"
#include "queuer.hpp"
#include "signals.hpp"

namespace pepsal::connmgr {

namespace {
constexpr uint64_t FIRST_BACKOFF_MS = 500;
constexpr uint64_t MAX_BACKOFF_MS = 30'000;
constexpr uint64_t STABLE_RUN_MS = 60'000;   // a child that ran this long restarts at once
constexpr uint64_t CHILD_STOP_GRACE_MS = 5'000;
constexpr uint64_t ORPHAN_STOP_GRACE_MS = 2'000;

void sleep_masked(uint64_t ms, const sigset_t& wait_mask) {
    timespec ts{time_t(ms / 1000), long(ms % 1000) * 1000000L};
    ppoll(nullptr, 0, &ts, &wait_mask);
}
}  // namespace

Supervisor::Supervisor(const Config& config, ConnTable& table, std::vector<UniqueFd> listeners,
                       UniqueFd pair_listener, const pair::Psk* key)
    : config_(config), table_(table), listeners_(std::move(listeners)), pair_listener_(std::move(pair_listener)),
      key_(key) {}

void Supervisor::child_main(const Child& c, pid_t supervisor, const sigset_t& wait_mask) {
    signals::reset();
    // A supervisor killed outright (SIGKILL, OOM) must not leave a queuer holding the NFQUEUE or
    // a connmgr holding the port: they get SIGTERM and wind down as on a normal stop.
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != supervisor) _exit(1);
    std::string ident = std::string("pepsal-") + c.role;
    log::init(strdup(ident.c_str()), config_.daemon, config_.log_level);
    int rc = 0;
    try {
        if (&c == &queuer_) {
            // Inherited copies the queuer does not use.
            for (const auto& l : listeners_) ::close(l.get());
            if (pair_listener_) ::close(pair_listener_.get());
            queuer::Queuer q(config_.queue, config_.bypass_mark, table_);
            q.run(signals::flags().terminate, wait_mask);
        } else {
            ConnMgr(config_, table_, listeners_, key_, pair_listener_.get()).run(wait_mask);
        }
    } catch (const std::exception& e) {
        LOG_ERROR("%s", e.what());
        rc = 1;
    }
    _exit(rc);
}

void Supervisor::start(Child& c, const sigset_t& wait_mask) {
    pid_t self = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        LOG_ERROR("fork %s: %m", c.role);
        c.restart_at_ms = monotonic_ms() + std::max(c.backoff_ms, FIRST_BACKOFF_MS);
        return;
    }
    if (pid == 0) child_main(c, self, wait_mask);
    LOG_NOTICE("%s started (pid %d)", c.role, int(pid));
    c.pid = pid;
    c.started_ms = monotonic_ms();
    c.restart_at_ms = 0;
}

void Supervisor::reap(uint64_t now) {
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        // Not the queuer or the connmgr: a worker orphaned by a connmgr that died, re-parented
        // to us because we are the child subreaper. Its slots go with it.
        if (pid != queuer_.pid && pid != connmgr_.pid) table_.release_owned_by(pid);
        for (Child* c : {&queuer_, &connmgr_}) {
            if (c->pid != pid) continue;
            c->pid = 0;
            if (signals::flags().terminate) {
                LOG_INFO("%s (pid %d) stopped", c->role, int(pid));
                continue;
            }
            bool stable = now - c->started_ms >= STABLE_RUN_MS;
            c->backoff_ms = stable ? 0 : std::min(MAX_BACKOFF_MS, std::max(FIRST_BACKOFF_MS, c->backoff_ms * 2));
            c->restart_at_ms = now + c->backoff_ms;
            if (WIFSIGNALED(status))
                LOG_ERROR("%s (pid %d) killed by signal %d; restarting in %llu ms", c->role, int(pid),
                          WTERMSIG(status), (unsigned long long)c->backoff_ms);
            else
                LOG_ERROR("%s (pid %d) exited with status %d; restarting in %llu ms", c->role, int(pid),
                          WEXITSTATUS(status), (unsigned long long)c->backoff_ms);
        }
    }
}

int Supervisor::run(const sigset_t& wait_mask) {
    auto& flags = signals::flags();
    // Workers whose connmgr dies become our children rather than init's, so they are reaped
    // (no zombies) and ended with everything else at shutdown.
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) LOG_WARN("prctl PR_SET_CHILD_SUBREAPER: %m");
    start(queuer_, wait_mask);
    start(connmgr_, wait_mask);
    while (!flags.terminate) {
        uint64_t now = monotonic_ms();
        if (flags.child) {
            flags.child = 0;
            reap(now);
        }
        uint64_t wake = now + 1000;
        for (Child* c : {&queuer_, &connmgr_}) {
            if (c->pid != 0 || c->restart_at_ms == 0) continue;
            if (now >= c->restart_at_ms) start(*c, wait_mask);
            else wake = std::min(wake, c->restart_at_ms);
        }
        if (!flags.terminate && !flags.child) sleep_masked(wake > now ? wake - now : 0, wait_mask);
    }
    shutdown(wait_mask);
    return 0;
}

void Supervisor::shutdown(const sigset_t& wait_mask) {
    LOG_NOTICE("stopping: interception off, ending every flow");
    // The queuer first, so no new SYN is recorded while the flows are being ended.
    for (Child* c : {&queuer_, &connmgr_})
        if (c->pid) kill(c->pid, SIGTERM);
    uint64_t deadline = monotonic_ms() + CHILD_STOP_GRACE_MS;
    while ((queuer_.pid || connmgr_.pid) && monotonic_ms() < deadline) {
        sleep_masked(20, wait_mask);
        reap(monotonic_ms());
    }
    for (Child* c : {&queuer_, &connmgr_}) {
        if (!c->pid) continue;
        LOG_WARN("%s (pid %d) did not stop; killing it", c->role, int(c->pid));
        kill(c->pid, SIGKILL);
        waitpid(c->pid, nullptr, 0);
        c->pid = 0;
    }
    listeners_.clear();
    pair_listener_.reset();
    end_orphaned_workers(wait_mask);
    LOG_NOTICE("stopped");
}

// Workers of a connmgr that crashed earlier were re-parented away from us; the table still
// names them, so they are ended here too and no flow outlives pepsal.
void Supervisor::end_orphaned_workers(const sigset_t& wait_mask) {
    auto alive_owners = [&] {
        std::vector<pid_t> pids;
        for (const auto& f : table_.snapshot())
            if (f.state == SlotState::active && f.owner > 0 && kill(f.owner, 0) == 0) pids.push_back(f.owner);
        return pids;
    };
    auto pids = alive_owners();
    if (pids.empty()) return;
    for (pid_t p : pids) kill(p, SIGTERM);
    uint64_t deadline = monotonic_ms() + ORPHAN_STOP_GRACE_MS;
    while (!(pids = alive_owners()).empty() && monotonic_ms() < deadline) {
        sleep_masked(20, wait_mask);
        reap(monotonic_ms());
    }
    for (pid_t p : pids) kill(p, SIGKILL);
}

}  // namespace pepsal::connmgr
