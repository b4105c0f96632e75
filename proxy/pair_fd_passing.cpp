#include "pair_fd_passing.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <system_error>
#include <cstring>
#include <string>

#include "error.hpp"

namespace pepsal::pair {

namespace {

// Room for more fds than we expect, so that a sender passing several is detected and every
// one of them closed, rather than truncated (MSG_CTRUNC) and leaked in flight.
constexpr size_t MAX_FDS_ACCEPTED = 8;

union FdControl {
    char buf[CMSG_SPACE(sizeof(int) * MAX_FDS_ACCEPTED)];
    cmsghdr align;
};

// Takes ownership of every fd the message carried; returns how many there were.
size_t collect_fds(msghdr& msg, UniqueFd& first) {
    size_t count = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; ++i) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            UniqueFd owned(fd);
            if (count++ == 0) first = std::move(owned);
        }
    }
    return count;
}

}  // namespace

void send_fd(int sock, int fd, uint8_t index) {
    try {
        send_fd_message(sock, fd, {&index, 1});
    } catch (const std::system_error& e) {
        throw std::system_error(e.code(), "sendmsg lane " + std::to_string(index) + " (fd " + std::to_string(fd) +
                                              ") on feed socket " + std::to_string(sock));
    }
}

void send_fd_message(int sock, int fd, std::span<const uint8_t> payload) {
    if (payload.empty() || payload.size() > MAX_FD_PAYLOAD)
        throw std::invalid_argument("fd message payload of " + std::to_string(payload.size()) + " bytes");
    iovec iov{const_cast<uint8_t*>(payload.data()), payload.size()};
    FdControl control{};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int));
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
    ssize_t n;
    do {
        n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) throw_errno("sendmsg fd " + std::to_string(fd) + " on socket " + std::to_string(sock));
}

FdReceive recv_fd(int sock, UniqueFd& fd, uint8_t& index) {
    return recv_fd_message(sock, fd, {&index, 1});
}

FdReceive recv_fd_message(int sock, UniqueFd& fd, std::span<uint8_t> want) {
    uint8_t payload[MAX_FD_PAYLOAD + 1];  // one byte more reveals a longer message
    size_t room = std::min(want.size() + 1, sizeof payload);
    iovec iov{payload, room};
    FdControl control{};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    ssize_t n;
    do {
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return FdReceive::would_block;
        throw_errno("recvmsg on lane feed socket " + std::to_string(sock));
    }
    UniqueFd received;
    size_t fds = collect_fds(msg, received);
    if (n == 0 && fds == 0) return FdReceive::closed;
    if (fds != 1 || size_t(n) != want.size() || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) return FdReceive::malformed;
    fd = std::move(received);
    std::memcpy(want.data(), payload, want.size());
    return FdReceive::received;
}

}  // namespace pepsal::pair
