// Lane reuse: a worker whose flow ended cleanly hands the lanes that carried DONE both ways
// back to its connmgr, which keeps them for the next flow: the near side in its warm pool,
// the far side among the accepted lanes waiting for their next OPEN or JOIN.
//
// Why: a lane that has carried a flow has its congestion window open and its BBR model of the
// path; a fresh one starts from ten segments and takes seconds to fill a 600 ms satellite path
// (the lanes' startup). With the lane comes what the flow measured of the path (its flight
// budget's estimate), so the next flow's budget is right from its first byte.
//
// One AF_UNIX SOCK_SEQPACKET socket pair per connmgr; every worker inherits the sending end.
// A message is one lane fd (SCM_RIGHTS) and 21 bytes: owner u8 | sender pid u32 | path
// bytes/s u64 | path RTT us u64 (big-endian). The pid lets the connmgr count what each worker
// still holds of the lanes it lent it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <vector>

#include "pair_fd_passing.hpp"
#include "unique_fd.hpp"

namespace pepsal::pair {

enum class LaneOwner : uint8_t {
    pool = 1,      // a lane we opened to the peer (near side)
    acceptor = 2,  // a lane the peer opened to us (far side)
};

// What a flow measured of the path towards the peer; zeros when it sent too little to know.
struct PathEstimate {
    uint64_t bytes_per_s = 0;
    uint64_t rtt_us = 0;
};

// Sends every lane to the connmgr over `sock` (non-blocking); a lane the socket does not take
// (connmgr gone, queue full) is closed without a reset, which the peer takes for a lane it no
// longer needs. Returns how many went back.
size_t return_lanes(int sock, std::vector<UniqueFd> lanes, LaneOwner owner, const PathEstimate& path);

struct ReturnedLane {
    UniqueFd fd;
    LaneOwner owner = LaneOwner::pool;
    pid_t pid = 0;  // the worker that returned it
    PathEstimate path;
};

// One returned lane from `sock`; a malformed message (wrong size, unknown owner) is malformed
// and its fd closed. Errors other than EAGAIN and EINTR throw std::system_error.
FdReceive receive_lane(int sock, ReturnedLane& out);

}  // namespace pepsal::pair
