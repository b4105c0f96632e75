// Pair mode, near side: a warm pool of authenticated lanes to the peer instance, kept by the
// connmgr so that a new flow's first bytes leave at once instead of waiting a round trip (or
// three, with the handshake) across the long link. Lanes a flow handed back after its clean
// end (pair_lane_return.hpp) join the pool again and go to the next flows first: their
// congestion windows are open.
#pragma once

#include <poll.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "config.hpp"
#include "conn_table.hpp"
#include "pair_handshake.hpp"
#include "pair_lane_return.hpp"
#include "unique_fd.hpp"

namespace pepsal::connmgr {

class LanePool {
public:
    // `table` counts the lanes opened (TableStats::lanes_opened).
    LanePool(const Config& config, const pair::Psk& key, pair::NonceRegistry& nonces, ConnTable& table);
    ~LanePool();

    // Appends the fds to wait on; handle() takes each one that has events.
    void poll_set(std::vector<pollfd>& fds) const;
    void handle(const pollfd& p, uint64_t now);
    // Opens connections (with backoff after failures) until the pool holds warm-lanes minus the
    // `lent` lanes running flows hold and will hand back, but always twice lanes= (a burst of
    // new flows must not find it empty); sends keepalives, drops handshakes that take too
    // long. Returns when it next needs to run.
    uint64_t tick(uint64_t now, size_t lent);

    // Up to `n` authenticated lanes, those that carried a flow most recently first, then the
    // oldest; they leave the pool. `path`: the path estimate the most recent of them came back
    // with (zeros if none), the one their congestion windows were opened by.
    std::vector<UniqueFd> take(size_t n, pair::PathEstimate& path);
    // A lane a flow handed back, with what that flow knew of the path. Beyond warm-lanes the
    // least recently used lanes are closed.
    void put_back(UniqueFd fd, const pair::PathEstimate& path, uint64_t now);
    size_t ready() const;
    // The last lane attempt authenticated: the peer is reachable and holds our key.
    bool peer_up() const { return peer_up_; }
    // In a forked worker: closes the inherited lane fds (the worker owns only those it took).
    void close_inherited() const;

private:
    struct Lane;
    void start_connect(uint64_t now);
    void on_connected(Lane& lane, uint64_t now);
    void on_readable(Lane& lane, uint64_t now);
    void drop(Lane& lane, const char* why, bool failure, uint64_t now);

    void trim();

    const Config& config_;
    ConnTable& table_;
    const pair::Psk& key_;
    pair::NonceRegistry& nonces_;
    std::vector<std::unique_ptr<Lane>> lanes_;
    uint64_t next_attempt_ms_ = 0;
    uint64_t backoff_ms_ = 0;
    uint64_t last_failure_log_ms_ = 0;
    bool peer_up_ = false;
};

}  // namespace pepsal::connmgr
