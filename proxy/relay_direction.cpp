#include "relay_direction.hpp"

#include <fcntl.h>
#include <sys/socket.h>

#include <cerrno>

namespace pepsal::proxy {

namespace {

// Errors that say something about our own state rather than about the peer.
bool is_local_error(int err) {
    return err == EBADF || err == EINVAL || err == ENOMEM || err == EFAULT || err == ESPIPE;
}

void fail(PumpResult& r, Fault side, int err) {
    r.fault = is_local_error(err) ? Fault::local : side;
    r.err = err;
}

// SPLICE_F_MORE is never set: it would let TCP hold the last partial segment back.
constexpr unsigned SPLICE_FLAGS = SPLICE_F_NONBLOCK | SPLICE_F_MOVE;

}  // namespace

PumpResult Direction::pump(Port& src, Port& dst) {
    PumpResult r;
    bool progress = true;
    while (progress && r.fault == Fault::none && state_ != State::done) {
        progress = false;
        // Writing first frees pipe room for the read that follows.
        if (in_pipe_ > 0 && dst.writable) progress |= write_some(dst, r);
        if (r.fault == Fault::none && state_ == State::reading && src.readable)
            progress |= read_some(src, r);
        if (r.fault == Fault::none && state_ == State::draining && in_pipe_ == 0)
            shut_destination(dst, r);
    }
    return r;
}

bool Direction::write_some(Port& dst, PumpResult& r) {
    ssize_t n = splice(pipe_.read_end(), nullptr, dst.fd, nullptr, in_pipe_, SPLICE_FLAGS);
    if (n > 0) {
        in_pipe_ -= size_t(n);
        r.written += uint64_t(n);
        return true;
    }
    if (n < 0 && errno == EINTR) return true;
    if (n < 0 && errno == EAGAIN) {
        dst.writable = false;
        return false;
    }
    // 0 from a non-empty pipe cannot happen; treat it like a refused write.
    fail(r, Fault::destination, n < 0 ? errno : EPIPE);
    return false;
}

bool Direction::read_some(Port& src, PumpResult& r) {
    ssize_t n = splice(src.fd, nullptr, pipe_.write_end(), nullptr, pipe_.capacity_bytes(),
                       SPLICE_FLAGS);
    if (n > 0) {
        in_pipe_ += size_t(n);
        r.read += uint64_t(n);
        return true;
    }
    if (n == 0) {
        state_ = State::draining;
        return true;
    }
    if (errno == EINTR) return true;
    if (errno == EAGAIN) {
        // EAGAIN means "socket empty" or "pipe full". The pipe counts slots, not bytes (one
        // per skb fragment), so a partly filled pipe may be full: only an empty pipe proves
        // the socket empty. Otherwise the flag stays set and the read is retried after the
        // next write frees room, which bounds the retries by the writes.
        if (in_pipe_ == 0) src.readable = false;
        return false;
    }
    fail(r, Fault::source, errno);
    return false;
}

void Direction::shut_destination(Port& dst, PumpResult& r) {
    state_ = State::done;
    // ENOTCONN here means the destination was reset before it could get our FIN.
    if (shutdown(dst.fd, SHUT_WR) < 0) fail(r, Fault::destination, errno);
}

}  // namespace pepsal::proxy
