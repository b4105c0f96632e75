#include "conn.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "clock.hpp"
#include "failure.hpp"

namespace pepsal::flowtool {

void throw_flow_errno(int err, const std::string& what) {
    std::string msg = what + ": " + std::strerror(err);
    switch (err) {
        case ECONNREFUSED:
            throw FlowError(Fail::refused, msg);
        case ECONNRESET:
        case EPIPE:  // the first write after an RST reports ECONNRESET, later ones EPIPE
            throw FlowError(Fail::reset, msg);
        case ETIMEDOUT:
            throw FlowError(Fail::timeout, msg);
        default:
            throw FlowError(Fail::io, msg);
    }
}

namespace {

Endpoint sock_name(int fd, bool peer) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    int rc = peer ? getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len)
                  : getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    if (rc < 0) return Endpoint{};
    return Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

// Waits for a non-blocking connect() to finish; returns its errno (0 on success).
int finish_connect(int fd, Deadline deadline, const std::string& to) {
    pollfd p{fd, POLLOUT, 0};
    for (;;) {
        int n = poll(&p, 1, deadline.poll_timeout_ms());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw_flow_errno(errno, "poll connect " + to);
        if (n == 0) throw FlowError(Fail::timeout, "connect " + to + ": timed out");
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
        return err;
    }
}

}  // namespace

Conn::Conn(UniqueFd fd, Deadline deadline, int stop_fd)
    : fd_(std::move(fd)),
      deadline_(deadline),
      last_progress_ms_(monotonic_ms()),
      stop_fd_(stop_fd) {
    int flags = fcntl(fd_.get(), F_GETFL);
    if (flags < 0 || fcntl(fd_.get(), F_SETFL, flags | O_NONBLOCK) < 0)
        throw_flow_errno(errno, "fcntl O_NONBLOCK");
    local_ = sock_name(fd_.get(), false);
    peer_ = sock_name(fd_.get(), true);
}

Conn Conn::connect(const Endpoint& to, Deadline deadline, uint64_t connect_timeout_ms) {
    std::string name = to.to_string();
    UniqueFd fd(::socket(to.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) throw_flow_errno(errno, "socket for " + name);
    int err = 0;
    if (::connect(fd.get(), to.sa(), to.len()) < 0) err = errno;
    if (err == EINPROGRESS)
        err = finish_connect(fd.get(), deadline.earlier(Deadline::after_ms(connect_timeout_ms)),
                             name);
    if (err != 0) throw_flow_errno(err, "connect " + name);
    return Conn(std::move(fd), deadline);
}

void Conn::set_nodelay() {
    int one = 1;
    if (setsockopt(fd_.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
        fail(errno, "setsockopt TCP_NODELAY");
}

void Conn::fail(int err, const char* call) const {
    throw_flow_errno(err, std::string(call) + " " + peer_.to_string());
}

ssize_t Conn::try_read(uint8_t* buf, size_t cap) {
    if (!pending_.empty()) {
        size_t n = std::min(cap, pending_.size());
        std::memcpy(buf, pending_.data(), n);
        pending_.erase(0, n);
        return ssize_t(n);
    }
    for (;;) {
        ssize_t n = ::recv(fd_.get(), buf, cap, 0);
        if (n > 0) last_progress_ms_ = monotonic_ms();
        if (n >= 0) return n;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return -1;
        fail(errno, "recv");
    }
}

ssize_t Conn::try_write(const uint8_t* buf, size_t len) {
    for (;;) {
        ssize_t n = ::send(fd_.get(), buf, len, MSG_NOSIGNAL);
        if (n > 0) last_progress_ms_ = monotonic_ms();
        if (n >= 0) return n;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return -1;
        fail(errno, "send");
    }
}

short Conn::wait(short events) {
    pollfd p[2] = {{fd_.get(), events, 0}, {stop_fd_, POLLIN, 0}};
    for (;;) {
        Deadline until = deadline_;
        if (idle_ms_) until = until.earlier(Deadline::at_ms(last_progress_ms_ + idle_ms_));
        int n = poll(p, stop_fd_ >= 0 ? 2 : 1, until.poll_timeout_ms());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail(errno, "poll");
        if (n == 0 && deadline_.expired())
            throw FlowError(Fail::timeout, "deadline passed on " + peer_.to_string());
        if (n == 0)
            throw FlowError(Fail::timeout,
                            "idle for " + std::to_string(idle_ms_) + " ms on " + peer_.to_string());
        if (p[1].revents) throw FlowError(Fail::stopped, "server stopping");
        return p[0].revents;
    }
}

size_t Conn::read_some(uint8_t* buf, size_t cap) {
    for (;;) {
        ssize_t n = try_read(buf, cap);
        if (n >= 0) return size_t(n);
        wait(POLLIN);
    }
}

void Conn::write_all(const uint8_t* buf, size_t len) {
    while (len > 0) {
        ssize_t n = try_write(buf, len);
        if (n < 0) {
            wait(POLLOUT);
            continue;
        }
        buf += n;
        len -= size_t(n);
    }
}

bool Conn::read_exact(uint8_t* buf, size_t len, size_t* got) {
    size_t done = 0;
    while (done < len) {
        size_t n = read_some(buf + done, len - done);
        if (n == 0) break;
        done += n;
    }
    if (got) *got = done;
    return done == len;
}

std::string Conn::read_line(size_t max_len) {
    std::string line;
    uint8_t buf[512];
    for (;;) {
        size_t n = read_some(buf, sizeof buf);
        if (n == 0)
            throw FlowError(Fail::early_eof, "EOF before end of line from " + peer_.to_string());
        line.append(reinterpret_cast<const char*>(buf), n);
        size_t nl = line.find('\n');
        if (nl != std::string::npos) {
            pending_ = line.substr(nl + 1) + pending_;
            line.resize(nl);
            return line;
        }
        if (line.size() > max_len)
            throw FlowError(Fail::protocol, "line longer than " + std::to_string(max_len) +
                                                " bytes from " + peer_.to_string());
    }
}

void Conn::shutdown_write() {
    if (::shutdown(fd_.get(), SHUT_WR) < 0) fail(errno, "shutdown SHUT_WR");
}

void Conn::close_with_reset() {
    linger l{1, 0};
    if (setsockopt(fd_.get(), SOL_SOCKET, SO_LINGER, &l, sizeof l) < 0)
        fail(errno, "setsockopt SO_LINGER");
    fd_.reset();
}

}  // namespace pepsal::flowtool
