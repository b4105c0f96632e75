#include "pair_lane_return.hpp"

#include <unistd.h>

#include <system_error>

#include "log.hpp"
#include "pair_wire.hpp"
#include "sockopt.hpp"

namespace pepsal::pair {

namespace {
constexpr size_t MESSAGE_BYTES = 21;
}  // namespace

size_t return_lanes(int sock, std::vector<UniqueFd> lanes, LaneOwner owner, const PathEstimate& path) {
    uint8_t msg[MESSAGE_BYTES];
    msg[0] = uint8_t(owner);
    put_u32(msg + 1, uint32_t(getpid()));
    put_u64(msg + 5, path.bytes_per_s);
    put_u64(msg + 13, path.rtt_us);
    size_t sent = 0;
    for (auto& lane : lanes) {
        try {
            send_fd_message(sock, lane.get(), msg);
            ++sent;
        } catch (const std::system_error& e) {
            if (sent == 0) LOG_INFO("lane not kept for another flow: %s", e.what());
            disarm_reset_on_close(lane.get());
        }
        lane.reset();
    }
    return sent;
}

FdReceive receive_lane(int sock, ReturnedLane& out) {
    uint8_t msg[MESSAGE_BYTES];
    UniqueFd fd;
    FdReceive r = recv_fd_message(sock, fd, msg);
    if (r != FdReceive::received) return r;
    if (msg[0] != uint8_t(LaneOwner::pool) && msg[0] != uint8_t(LaneOwner::acceptor)) return FdReceive::malformed;
    out.fd = std::move(fd);
    out.owner = LaneOwner(msg[0]);
    out.pid = pid_t(get_u32(msg + 1));
    out.path = PathEstimate{get_u64(msg + 5), get_u64(msg + 13)};
    return FdReceive::received;
}

}  // namespace pepsal::pair
