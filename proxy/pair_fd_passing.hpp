// Handing an authenticated lane socket between processes: from the connmgr that accepted it to
// the worker that runs its flow (a 1-byte payload, the lane's index within the flow), and from
// a worker back to its connmgr once the flow ended (pair_lane_return.hpp). One AF_UNIX
// SOCK_SEQPACKET message per lane, carrying the fd (SCM_RIGHTS) and a small payload.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "unique_fd.hpp"

namespace pepsal::pair {

// Sends `fd` with the payload `index` as one message on `sock`. The sender keeps its own copy
// of `fd` (the kernel duplicates it); closing it afterwards is the caller's business. Throws
// std::system_error naming the call on any failure, EAGAIN of a full non-blocking `sock`
// included (the message was not sent).
void send_fd(int sock, int fd, uint8_t index);
// The same with any payload of 1..MAX_FD_PAYLOAD bytes.
constexpr size_t MAX_FD_PAYLOAD = 64;
void send_fd_message(int sock, int fd, std::span<const uint8_t> payload);

enum class FdReceive {
    received,     // `fd` and `index` are set
    would_block,  // nothing queued on a non-blocking socket
    closed,       // the sending side closed: no more lanes will come
    malformed,    // a message without exactly one fd and a 1-byte payload (anything it carried
                  // was closed)
};

// Receives one message from `sock`; received fds are close-on-exec. Errors other than EAGAIN
// and EINTR throw std::system_error naming the call.
FdReceive recv_fd(int sock, UniqueFd& fd, uint8_t& index);
// The same for a payload of exactly `payload.size()` bytes (anything else is malformed).
FdReceive recv_fd_message(int sock, UniqueFd& fd, std::span<uint8_t> payload);

}  // namespace pepsal::pair
