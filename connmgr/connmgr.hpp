// The connmgr process: accepts intercepted flows and forks one proxy worker per flow.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <cstdint>
#include <unordered_set>
#include <vector>

#include "config.hpp"
#include "conn_table.hpp"
#include "unique_fd.hpp"

namespace pepsal::connmgr {

class ConnMgr {
public:
    // `listeners` are borrowed: the supervisor keeps them open across connmgr restarts so that
    // no SYN is refused while a new connmgr starts.
    ConnMgr(const Config& config, ConnTable& table, const std::vector<UniqueFd>& listeners);

    // Accepts, forks, reaps and collects stale table entries until SIGTERM; then ends every
    // worker (each resets its flow) and returns once they are gone.
    void run(const sigset_t& wait_mask);

private:
    void accept_from(int listen_fd, const sigset_t& wait_mask);
    void spawn_worker(UniqueFd client, const sigset_t& wait_mask);
    void reap_workers();
    void stop_workers(const sigset_t& wait_mask);
    void pause_accepting(const char* why);

    const Config& config_;
    ConnTable& table_;
    const std::vector<UniqueFd>& listeners_;
    std::unordered_set<pid_t> workers_;
    uint64_t accept_paused_until_ms_ = 0;
    uint64_t last_pause_log_ms_ = 0;
};

}  // namespace pepsal::connmgr
