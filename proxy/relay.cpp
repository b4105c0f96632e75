// The relay loop. Both sockets are registered once, edge-triggered, for input and output:
// - no epoll_ctl per back-pressure change (a full pipe simply is not read until it drains);
// - EPOLLHUP/EPOLLRDHUP, which stay set forever on a half-closed socket, are reported once
//   per change instead of on every wait, so a finished direction cannot spin the loop.
// Readiness is remembered in Port flags until a splice returns EAGAIN (relay_direction.cpp).
#include "relay.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <system_error>

#include "clock.hpp"
#include "error.hpp"
#include "pipe.hpp"
#include "relay_direction.hpp"
#include "sockopt.hpp"

namespace pepsal::proxy {

namespace {

constexpr uint32_t SIDE_A = 0;  // epoll_event.data.u32 of socket a
constexpr uint32_t SIDE_B = 1;

// How the flow ended, before the sockets are closed.
struct Ending {
    RelayEnd end;
    std::string detail;
};

Ending side_failed(bool side_a, int err) {
    return {side_a ? RelayEnd::reset_by_a : RelayEnd::reset_by_b, strerror(err)};
}

std::optional<Ending> ending_of(const PumpResult& r, bool src_is_a) {
    switch (r.fault) {
        case Fault::none: return std::nullopt;
        case Fault::source: return side_failed(src_is_a, r.err);
        case Fault::destination: return side_failed(!src_is_a, r.err);
        case Fault::local:
            return Ending{RelayEnd::error, std::string("splice: ") + strerror(r.err)};
    }
    return std::nullopt;
}

class Relay {
public:
    Relay(UniqueFd a, UniqueFd b, const RelayOptions& options)
        : a_(std::move(a)), b_(std::move(b)), options_(options) {
        port_a_.fd = a_.get();
        port_b_.fd = b_.get();
    }

    RelayResult run();

private:
    void setup();
    void watch(int fd, uint32_t side);
    std::optional<Ending> loop();
    std::optional<Ending> pump_both();
    std::optional<Ending> check_reported_errors();
    std::optional<Ending> wait();
    int wait_timeout_ms() const;
    bool stop_requested() const { return options_.stop && *options_.stop; }

    UniqueFd a_, b_, epoll_;
    Port port_a_, port_b_;
    std::optional<Direction> a_to_b_, b_to_a_;
    const RelayOptions& options_;
    RelayResult result_;
    uint64_t last_activity_ms_ = monotonic_ms();
};

RelayResult Relay::run() {
    std::optional<Ending> ending;
    try {
        setup();
        ending = loop();
    } catch (const std::system_error& e) {
        ending = Ending{RelayEnd::error, e.what()};
    }
    if (!ending) {
        // Clean end: both FINs went through. The caller arms its sockets to reset on close (a
        // killed worker must not fake a clean end); disarmed, the close flushes normally.
        disarm_reset_on_close(a_.get());
        disarm_reset_on_close(b_.get());
        return std::move(result_);
    }
    result_.end = ending->end;
    result_.detail = std::move(ending->detail);
    reset_close(std::move(a_));
    reset_close(std::move(b_));
    return std::move(result_);
}

void Relay::setup() {
    a_to_b_.emplace(Pipe::create(options_.pipe_bytes));
    b_to_a_.emplace(Pipe::create(options_.pipe_bytes));
    epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
    if (!epoll_) throw_errno("epoll_create1");
    watch(a_.get(), SIDE_A);
    watch(b_.get(), SIDE_B);
}

void Relay::watch(int fd, uint32_t side) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u32 = side;
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) < 0)
        throw_errno("epoll_ctl ADD socket " + std::to_string(fd));
}

// Returns the ending, or std::nullopt when both directions finished cleanly.
std::optional<Ending> Relay::loop() {
    for (;;) {
        if (stop_requested()) return Ending{RelayEnd::stopped, {}};
        if (auto ending = pump_both()) return ending;
        if (auto ending = check_reported_errors()) return ending;
        if (a_to_b_->done() && b_to_a_->done()) return std::nullopt;
        if (auto ending = wait()) return ending;
    }
}

std::optional<Ending> Relay::pump_both() {
    PumpResult ab = a_to_b_->pump(port_a_, port_b_);
    // A failed splice has consumed the socket's error; pumping on would take the reset
    // socket's RCV_SHUTDOWN for an EOF and send a FIN ahead of the RST.
    PumpResult ba = ab.fault == Fault::none ? b_to_a_->pump(port_b_, port_a_) : PumpResult{};
    result_.a_to_b += ab.written;
    result_.b_to_a += ba.written;
    if (ab.read + ab.written + ba.read + ba.written > 0) last_activity_ms_ = monotonic_ms();
    if ((ab.written || ba.written) && options_.on_progress)
        options_.on_progress(ab.written, ba.written);
    if (auto ending = ending_of(ab, true)) return ending;
    return ending_of(ba, false);
}

// An EPOLLERR on a socket no direction is reading from (finished, or its pipe full) would go
// unnoticed by the splices; SO_ERROR tells whether it was a reset.
std::optional<Ending> Relay::check_reported_errors() {
    for (Port* port : {&port_a_, &port_b_}) {
        if (!port->error_reported) continue;
        port->error_reported = false;
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(port->fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0)
            return side_failed(port == &port_a_, err);
    }
    return std::nullopt;
}

int Relay::wait_timeout_ms() const {
    if (options_.idle_timeout_ms <= 0) return -1;
    uint64_t deadline = last_activity_ms_ + uint64_t(options_.idle_timeout_ms);
    uint64_t now = monotonic_ms();
    return now >= deadline ? 0 : int(deadline - now);
}

std::optional<Ending> Relay::wait() {
    epoll_event events[2];
    int timeout = wait_timeout_ms();
    int n = timeout == 0 ? 0 : epoll_pwait(epoll_.get(), events, 2, timeout, options_.wait_mask);
    if (n < 0) {
        if (errno == EINTR) return std::nullopt;  // the loop looks at *stop next
        return Ending{RelayEnd::error, std::string("epoll_pwait: ") + strerror(errno)};
    }
    if (n == 0 && wait_timeout_ms() == 0)
        return Ending{RelayEnd::idle_timeout,
                      "no byte either way for " + std::to_string(options_.idle_timeout_ms) + " ms"};
    for (int i = 0; i < n; ++i) {
        Port& port = events[i].data.u32 == SIDE_A ? port_a_ : port_b_;
        uint32_t ev = events[i].events;
        // HUP and ERR make both calls return at once (EOF, error or data): let them find out.
        if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) port.readable = true;
        if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) port.writable = true;
        if (ev & EPOLLERR) port.error_reported = true;
    }
    return std::nullopt;
}

}  // namespace

const char* to_string(RelayEnd end) {
    switch (end) {
        case RelayEnd::closed: return "closed";
        case RelayEnd::reset_by_a: return "reset_by_a";
        case RelayEnd::reset_by_b: return "reset_by_b";
        case RelayEnd::idle_timeout: return "idle_timeout";
        case RelayEnd::stopped: return "stopped";
        case RelayEnd::error: return "error";
    }
    return "unknown";
}

RelayResult relay(UniqueFd a, UniqueFd b, const RelayOptions& options) {
    return Relay(std::move(a), std::move(b), options).run();
}

void reset_close(UniqueFd fd) {
    if (!fd) return;
    // Best effort: a socket that is already gone (or not a socket) is closed all the same.
    arm_reset_on_close(fd.get());
    fd.reset();
}

}  // namespace pepsal::proxy
