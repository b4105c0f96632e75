// The connmgr process: accepts intercepted flows and forks one proxy worker per flow.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <unordered_set>
#include <vector>

#include "config.hpp"
#include "conn_table.hpp"
#include "lane_acceptor.hpp"
#include "lane_pool.hpp"
#include "pair_lane_return.hpp"
#include "unique_fd.hpp"

namespace pepsal::connmgr {

class ConnMgr {
public:
    // `listeners` are borrowed: the supervisor keeps them open across connmgr restarts so that
    // no SYN is refused while a new connmgr starts. In pair mode `key` is the pre-shared key and
    // `pair_listener` (far side) the socket lanes arrive on, or -1.
    ConnMgr(const Config& config, ConnTable& table, const std::vector<UniqueFd>& listeners,
            const pair::Psk* key, int pair_listener);
    ~ConnMgr();

    // Accepts, forks, reaps and collects stale table entries until SIGTERM; then ends every
    // worker (each resets its flow) and returns once they are gone.
    void run(const sigset_t& wait_mask);

private:
    void accept_from(int listen_fd, const sigset_t& wait_mask);
    void spawn_worker(UniqueFd client, const sigset_t& wait_mask);
    void spawn_far_worker(FlowStart flow, const sigset_t& wait_mask);
    // In a forked worker: closes every inherited fd the worker does not own.
    void close_inherited() const;
    uint64_t tick(uint64_t now);
    void reap_workers();
    void stop_workers(const sigset_t& wait_mask);
    void pause_accepting(const char* why);
    void receive_returned_lanes(uint64_t now);

    const Config& config_;
    ConnTable& table_;
    const std::vector<UniqueFd>& listeners_;
    const pair::Psk* key_ = nullptr;
    pair::NonceRegistry nonces_;
    std::unique_ptr<LanePool> pool_;          // pair mode, near side
    std::unique_ptr<LaneAcceptor> acceptor_;  // pair mode, far side
    // Pair mode: lanes workers hand back after a clean end (pair_lane_return.hpp); workers
    // inherit the sending end.
    UniqueFd lane_return_rx_, lane_return_tx_;
    std::map<pid_t, size_t> lent_;  // near side: pool lanes a worker has not returned
    std::unordered_set<pid_t> workers_;
    uint64_t accept_paused_until_ms_ = 0;
    uint64_t last_pause_log_ms_ = 0;
};

}  // namespace pepsal::connmgr
