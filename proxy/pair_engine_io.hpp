// Non-blocking socket calls of the pair engine's data path. They return states, never throw:
// EAGAIN is "0 bytes", EOF is a flag, anything else an errno for the caller to act on.
// MSG_DONTWAIT makes every call non-blocking whatever the fd's own flags; MSG_NOSIGNAL turns a
// write to a reset peer into EPIPE for this flow instead of a SIGPIPE for the process.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>

namespace pepsal::pair {

struct IoResult {
    size_t bytes = 0;
    int err = 0;       // errno of a failure; 0 on success and on EAGAIN
    bool eof = false;  // read: the peer sent FIN
};

inline IoResult io_read(int fd, uint8_t* buf, size_t len) {
    ssize_t n;
    do {
        n = recv(fd, buf, len, MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n > 0) return {size_t(n), 0, false};
    if (n == 0) return {0, 0, true};
    return {0, errno == EAGAIN || errno == EWOULDBLOCK ? 0 : errno, false};
}

inline IoResult io_write(int fd, const iovec* iov, size_t count) {
    msghdr msg{};
    msg.msg_iov = const_cast<iovec*>(iov);
    msg.msg_iovlen = count;
    ssize_t n;
    do {
        n = sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n >= 0) return {size_t(n), 0, false};
    return {0, errno == EAGAIN || errno == EWOULDBLOCK ? 0 : errno, false};
}

}  // namespace pepsal::pair
