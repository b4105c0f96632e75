// The pepsal parent process: starts the queuer and the connmgr, restarts either when it dies,
// and on SIGTERM/SIGINT stops interception, ends every flow and removes the shared table.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <cstdint>
#include <vector>

#include "config.hpp"
#include "conn_table.hpp"
#include "pair_psk.hpp"
#include "unique_fd.hpp"

namespace pepsal::connmgr {

class Supervisor {
public:
    // `pair_listener` (far side) and `key` are set in pair mode only.
    Supervisor(const Config& config, ConnTable& table, std::vector<UniqueFd> listeners,
               UniqueFd pair_listener, const pair::Psk* key);
    // Returns the process exit status.
    int run(const sigset_t& wait_mask);

private:
    struct Child {
        const char* role;
        pid_t pid = 0;
        uint64_t started_ms = 0;
        uint64_t restart_at_ms = 0;  // 0: running or not due
        uint64_t backoff_ms = 0;
    };
    void start(Child& c, const sigset_t& wait_mask);
    void reap(uint64_t now);
    void shutdown(const sigset_t& wait_mask);
    void end_orphaned_workers(const sigset_t& wait_mask);
    [[noreturn]] void child_main(const Child& c, pid_t supervisor, const sigset_t& wait_mask);

    const Config& config_;
    ConnTable& table_;
    std::vector<UniqueFd> listeners_;
    UniqueFd pair_listener_;
    const pair::Psk* key_;
    Child queuer_{"queuer"};
    Child connmgr_{"connmgr"};
};

}  // namespace pepsal::connmgr
