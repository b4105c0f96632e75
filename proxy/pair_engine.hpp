// The pair-mode flow engine: runs inside one per-flow worker process, on either side of the
// link, and carries one TCP flow over N authenticated lanes (wire format in pair_frame.hpp).
//
// Outbound, bytes read from `local` are cut into DATA frames, each written whole on the lane
// with the fewest queued bytes (pair_lane_scheduler.hpp); inbound, DATA from every lane goes
// through a ReorderBuffer back into stream order. Flow control is the peer's WINDOW credit:
// we never send past it, so the peer can always buffer what we sent and keeps reading every
// lane, which is what keeps a flow spread over lanes that deliver out of order free of
// deadlock. Every failure resets both applications; only a flow whose two streams arrived
// whole ends with FINs.
#pragma once

#include <signal.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "pair_payload.hpp"
#include "unique_fd.hpp"

namespace pepsal::pair {

constexpr uint64_t INITIAL_WINDOW = 262144;  // bytes a sender may send before the peer's first WINDOW

struct EngineOptions {
    // Our receive buffer per flow = the credit we announce; raised to INITIAL_WINDOW if lower,
    // since the peer may send that much before it hears from us.
    uint64_t reorder_bytes = 8 << 20;
    uint32_t chunk_bytes = 16384;  // DATA payload per frame; clamped to 1..MAX_PAYLOAD
    int idle_timeout_ms = 0;       // no byte either way this long → reset; 0 never
    int keepalive_ms = 20000;      // KEEPALIVE on a lane with nothing sent this long; 0 never
    int lane_wait_ms = 10000;      // far side: expected lanes that never arrive → fail
    const volatile sig_atomic_t* stop = nullptr;  // set → reset everything, EngineEnd::stopped
    const sigset_t* wait_mask = nullptr;          // for epoll_pwait
    std::function<void(uint64_t, uint64_t)> on_progress;  // (local→peer, peer→local) deltas
    // At a clean end, each lane that carried DONE both ways goes here the moment it did (for
    // the next flow; one slow lane must not hold the others back) instead of being closed,
    // with what the flow knows of the path then (FlightBudget: bottleneck rate, RTT, and
    // whether the flow measured them itself past startup).
    std::function<void(UniqueFd lane, uint64_t path_bytes_per_s, uint64_t path_rtt_us, bool path_measured)>
        on_lane_released;
    // What an earlier flow measured of the path towards the peer (EngineResult's
    // bottleneck_bytes_per_s and rtt_us): the flight budget starts from it instead of
    // leaving the first round trips to the lanes' startup. 0: nothing known.
    uint64_t path_bytes_per_s = 0;
    uint64_t path_rtt_us = 0;
};

enum class EngineEnd {
    closed,          // both streams arrived whole and ended with FIN; lanes closed gracefully
    local_reset,     // `local` reset or failed; RST(endpoint_reset) sent to the peer
    peer_reset,      // the peer sent RST (peer_reason); `local` reset
    lane_failed,     // a lane broke (error, early EOF) or never arrived; everything reset
    protocol_error,  // the peer sent something invalid; everything reset
    idle_timeout,    // everything reset
    stopped,         // *stop was set; everything reset
    error,           // a local failure (epoll, bad arguments, lane feed); everything reset
};

const char* to_string(EngineEnd end);

struct EngineResult {
    EngineEnd end = EngineEnd::closed;
    uint32_t peer_reason = 0;  // RstReason of a peer_reset
    uint64_t to_peer = 0;      // payload bytes read from `local` and given to lanes
    uint64_t to_local = 0;     // bytes written to `local`
    std::string detail;        // what failed, for the log
    // Where the sending side waited, for tuning (logged with the flow's end): with bytes to
    // send but no credit from the peer (its reorder buffer full), and with bytes staged while
    // every lane's socket was full. Plus the most bytes our reorder buffer ever held.
    uint64_t credit_wait_ms = 0;
    uint64_t lanes_full_ms = 0;
    uint64_t reorder_peak = 0;
    uint64_t reinjected = 0;  // payload bytes sent again because their lane timed out
    // The FlightBudget (pair_flight_budget.hpp): how long staged bytes waited for it, and its
    // last estimate of the path.
    uint64_t budget_wait_ms = 0;
    uint64_t startup_ms = 0;  // when its startup ended, since the flow began; 0: never
    uint64_t bottleneck_bytes_per_s = 0;
    uint64_t rtt_us = 0;
    bool path_measured = false;  // the estimate above is this flow's own and past startup
    bool seeded = false;         // the budget started from EngineOptions' path estimate
    size_t released = 0;         // lanes handed to EngineOptions::on_lane_released
};

// `local`: the connected non-blocking TCP socket of this side (client socket on the near side,
// destination socket on the far side). `lanes`: authenticated non-blocking lane sockets,
// index = lane index (an invalid UniqueFd marks a lane that has not arrived yet). Their first
// frames (OPEN/JOIN) were already exchanged by the caller. `expected_lanes` (1..MAX_LANES):
// how many lanes the flow has in total (far side: more arrive later through `lane_feed`).
// `lane_feed`: -1, or a non-blocking AF_UNIX SOCK_SEQPACKET socket on which each message
// carries one lane fd and its index (pair_fd_passing.hpp); closing it while lanes are still
// missing fails the flow at once, as does having lanes missing and no feed. Missing lanes are
// not used for sending; if they have not all arrived within lane_wait_ms the flow fails.
// Takes ownership of everything and closes it before returning. Never throws.
EngineResult run_engine(UniqueFd local, std::vector<UniqueFd> lanes, size_t expected_lanes,
                        UniqueFd lane_feed, const EngineOptions& options);

// Sends RST(reason) on every lane (best effort, non-blocking) and closes them: used by callers
// when a flow fails before the engine runs (e.g. the far side cannot reach the destination).
void reset_lanes(std::vector<UniqueFd> lanes, RstReason reason);

}  // namespace pepsal::pair
