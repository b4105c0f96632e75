// Pair mode, far side: accepts lanes from the peer instance, authenticates them, reads each
// lane's first frame and sorts the lanes into flows: an OPEN starts a flow (the connmgr forks
// its worker), a JOIN goes to the worker of its flow over that worker's lane feed (SCM_RIGHTS).
// Failed handshakes are logged with the peer's address and rate limited per address.
#pragma once

#include <poll.h>
#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config.hpp"
#include "pair_handshake.hpp"
#include "pair_lane_return.hpp"
#include "pair_payload.hpp"
#include "unique_fd.hpp"

namespace pepsal::connmgr {

struct FlowStart {
    UniqueFd lane;           // lane 0, its OPEN consumed
    pair::OpenPayload open;
    Endpoint peer;           // the lane's remote address, for logs
    pair::PathEstimate path;  // what the flow that last used lane 0 knew of the path
};

class LaneAcceptor {
public:
    // `listener`: the pair-listen socket (non-blocking), borrowed.
    LaneAcceptor(const Config& config, const pair::Psk& key, const pair::NonceRegistry& nonces, int listener);
    ~LaneAcceptor();

    void poll_set(std::vector<pollfd>& fds) const;
    void handle(const pollfd& p, uint64_t now);
    uint64_t tick(uint64_t now);  // timeouts; returns when it next needs to run

    std::optional<FlowStart> take_flow();
    // The worker of flow `token` is `pid`; its later lanes go through `feed`. Lanes of that flow
    // that arrived before its OPEN are sent at once.
    void attach_worker(uint64_t token, pid_t pid, UniqueFd feed);
    void worker_gone(pid_t pid);
    // A lane a worker handed back after its flow's clean end, with what that flow knew of the
    // path: it waits for the peer's next OPEN or JOIN like a freshly authenticated one.
    void put_back(UniqueFd fd, const pair::PathEstimate& path, uint64_t now);
    void close_inherited() const;

private:
    struct Lane;
    struct Worker {
        pid_t pid;
        UniqueFd feed;
    };
    struct EarlyJoin {
        UniqueFd lane;
        uint8_t index;
        uint64_t since_ms;
    };
    void accept_lanes(uint64_t now);
    void on_readable(Lane& lane, uint64_t now);
    void on_handshake_bytes(Lane& lane, size_t n, uint64_t now);
    void on_frame_bytes(Lane& lane, uint64_t now);
    void dispatch_join(Lane& lane, const pair::JoinPayload& join, uint64_t now);
    void fail(Lane& lane, const std::string& why, bool auth_failure, uint64_t now);
    bool blocked(const Endpoint& peer, uint64_t now);

    const Config& config_;
    const pair::Psk& key_;
    const pair::NonceRegistry& nonces_;
    int listener_;
    std::vector<std::unique_ptr<Lane>> lanes_;
    std::deque<FlowStart> flows_;
    std::map<uint64_t, Worker> workers_;                    // by flow token
    std::map<uint64_t, std::vector<EarlyJoin>> early_;      // by flow token
    struct Failures {
        uint32_t count = 0;
        uint64_t window_start_ms = 0;
        uint64_t blocked_until_ms = 0;
        uint64_t logged_block_ms = 0;
    };
    std::map<std::string, Failures> failures_;              // by peer address
};

}  // namespace pepsal::connmgr
