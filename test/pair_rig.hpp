// The pair-engine test rig on real loopback TCP: two engines, "near" and "far", in threads of
// this process, joined by N lane connections; the client application talks to near's local
// socket, the server application to far's. A lane may run through a Tap, a forwarding thread
// that can pause it, inject bytes into it or reset it, standing in for a slow or broken path.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>
#include "clock.hpp"
#include "fd_count.hpp"
#include "loopback.hpp"
#include "pair_engine.hpp"
#include "pair_fd_passing.hpp"
#include "pair_frame.hpp"
#include "relay.hpp"
#include "sockopt.hpp"

namespace pepsal::test {

using namespace pepsal::pair;

inline constexpr int HANG_LIMIT_S = 20;  // app sockets' timeouts and engine joins: a hang fails, not stalls

inline void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

inline void set_nonblocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

inline bool is_prefix(const Bytes& part, const Bytes& whole) {
    return part.size() <= whole.size() && std::equal(part.begin(), part.end(), whole.begin());
}

// Forwards bytes between a lane's near end and far end, both directions, in its own thread.
class Tap {
public:
    Tap(UniqueFd near_side, UniqueFd far_side) : near_(std::move(near_side)), far_(std::move(far_side)) {
        set_nonblocking(near_.get());
        set_nonblocking(far_.get());
        thread_ = std::thread([this] { run(); });
    }
    ~Tap() {
        quit_ = true;
        thread_.join();
    }
    void pause(bool on) { paused_ = on; }  // stops forwarding near → far
    // Writes `bytes` towards the far engine once everything read from near has been forwarded.
    void inject(Bytes bytes) {
        std::lock_guard lock(mutex_);
        inject_ = std::move(bytes);
        has_inject_ = true;
    }
    void reset() { reset_ = true; }  // both sockets closed with RST
    uint64_t to_far() const { return to_far_; }

private:
    struct Way {
        int from, to;
        Bytes buf = Bytes(65536);
        size_t head = 0, tail = 0;
        bool eof = false, shut = false;
        bool empty() const { return head == tail; }
    };

    // False on a socket error (the tap then resets both sides, as a broken path would).
    bool pump(Way& w, bool may_read, std::atomic<uint64_t>* counter) {
        if (w.empty() && !w.eof && may_read) {
            ssize_t n = recv(w.from, w.buf.data(), w.buf.size(), MSG_DONTWAIT);
            if (n == 0) w.eof = true;
            if (n < 0 && errno != EAGAIN) return false;
            w.head = 0, w.tail = n > 0 ? size_t(n) : 0;
        }
        if (!w.empty()) {
            ssize_t n = send(w.to, w.buf.data() + w.head, w.tail - w.head, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n < 0 && errno != EAGAIN) return false;
            if (n > 0) w.head += size_t(n);
            if (n > 0 && counter) *counter += uint64_t(n);
        }
        if (w.eof && w.empty() && !w.shut) {
            shutdown(w.to, SHUT_WR);
            w.shut = true;
        }
        return true;
    }

    void inject_now() {
        std::lock_guard lock(mutex_);
        for (size_t done = 0; done < inject_.size();) {
            ssize_t n = send(far_.get(), inject_.data() + done, inject_.size() - done, MSG_NOSIGNAL);
            if (n <= 0) break;
            done += size_t(n);
        }
        inject_.clear();
        has_inject_ = false;
    }

    void run() {
        Way up{near_.get(), far_.get()}, down{far_.get(), near_.get()};
        while (!quit_) {
            if (reset_) break;
            if (up.empty() && has_inject_) inject_now();
            pollfd fds[2] = {{near_.get(), 0, 0}, {far_.get(), 0, 0}};
            if (up.empty() && !up.eof && !paused_) fds[0].events |= POLLIN;
            if (down.empty() && !down.eof) fds[1].events |= POLLIN;
            if (!up.empty()) fds[1].events |= POLLOUT;
            if (!down.empty()) fds[0].events |= POLLOUT;
            poll(fds, 2, 5);
            if (!pump(up, !paused_, &to_far_) || !pump(down, true, nullptr)) break;
            if (up.shut && down.shut) return;  // both FINs passed: the fds close normally
        }
        if (quit_ && !reset_) return;
        proxy::reset_close(std::move(near_));
        proxy::reset_close(std::move(far_));
    }

    UniqueFd near_, far_;
    std::atomic<bool> quit_{false}, paused_{false}, reset_{false}, has_inject_{false};
    std::atomic<uint64_t> to_far_{0};
    std::mutex mutex_;
    Bytes inject_;
    std::thread thread_;
};

// The stop flag of the engine running in this thread: as in a worker, the signal handler
// sets it, in the thread it interrupts.
inline thread_local volatile sig_atomic_t* t_stop_flag = nullptr;
inline void on_engine_stop_signal(int) {
    if (t_stop_flag) *t_stop_flag = 1;
}

// One engine in a thread that, like a worker, keeps SIGUSR1 (its SIGTERM) blocked except
// inside epoll_pwait; stop() sends it the signal.
class EngineRun {
public:
    ~EngineRun() {
        if (!thread_.joinable()) return;
        while (!done_) {
            stop();
            sleep_ms(5);
        }
        thread_.join();
    }

    void start(UniqueFd local, std::vector<UniqueFd> lanes, size_t expected, UniqueFd feed,
               EngineOptions options) {
        struct sigaction sa {};
        sa.sa_handler = on_engine_stop_signal;
        sigaction(SIGUSR1, &sa, nullptr);
        options.stop = &stop_flag_;
        options.on_progress = [this](uint64_t u, uint64_t d) {
            up += u;
            down += d;
        };
        sigset_t usr1, old;
        sigemptyset(&usr1);
        sigaddset(&usr1, SIGUSR1);
        pthread_sigmask(SIG_BLOCK, &usr1, &old);  // inherited by the thread
        thread_ = std::thread([this, options, expected, local = std::move(local), lanes = std::move(lanes),
                               feed = std::move(feed)]() mutable {
            t_stop_flag = &stop_flag_;
            sigset_t wait_mask;
            pthread_sigmask(SIG_SETMASK, nullptr, &wait_mask);
            sigdelset(&wait_mask, SIGUSR1);
            options.wait_mask = &wait_mask;
            result_ = run_engine(std::move(local), std::move(lanes), expected, std::move(feed), options);
            done_ = true;
        });
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
    }

    void stop() { pthread_kill(thread_.native_handle(), SIGUSR1); }

    // The engine's result; one that has not ended within the hang limit is stopped, and the
    // result says so in `detail`.
    EngineResult join() {
        if (thread_.joinable()) {
            uint64_t deadline = monotonic_ms() + HANG_LIMIT_S * 1000u;
            while (!done_ && monotonic_ms() < deadline) sleep_ms(2);
            bool hung = !done_;
            while (!done_) {
                stop();
                sleep_ms(5);
            }
            thread_.join();
            if (hung) result_.detail = "HUNG: " + result_.detail;
        }
        return result_;
    }

    bool finished() const { return done_; }

    uint64_t cpu_ms() {
        clockid_t id;
        timespec ts{};
        pthread_getcpuclockid(thread_.native_handle(), &id);
        clock_gettime(id, &ts);
        return uint64_t(ts.tv_sec) * 1000u + uint64_t(ts.tv_nsec) / 1000000u;
    }

    std::atomic<uint64_t> up{0}, down{0};  // on_progress sums: local→peer, peer→local

private:
    std::thread thread_;
    volatile sig_atomic_t stop_flag_ = 0;
    std::atomic<bool> done_{false};
    EngineResult result_;
};

struct RigOptions {
    RigOptions(size_t lane_count = 2, std::vector<size_t> tapped_lanes = {})
        : lanes(lane_count), tapped(std::move(tapped_lanes)) {}
    size_t lanes;
    std::vector<size_t> tapped;            // lanes that run through a Tap
    size_t far_lanes_at_start = SIZE_MAX;  // far gets lanes [0, n) at start, the rest are held
    bool use_feed = false;              // far gets a lane feed (the test's end: Rig::feed)
    bool start_far = true;              // false: the test plays the far side by hand
    int buf_bytes = 0;                  // fixed socket buffers everywhere when > 0
    bool armed = false;                 // engines' sockets reset on close, as in pepsal
    EngineOptions near, far;
};

// client ↔ [near engine] ═ lanes ═ [far engine] ↔ server
class Rig {
public:
    explicit Rig(RigOptions o) {
        signal(SIGPIPE, SIG_IGN);
        auto front = make_tcp_pair(HANG_LIMIT_S, o.buf_bytes), back = make_tcp_pair(HANG_LIMIT_S, o.buf_bytes);
        client = std::move(front.left);
        server = std::move(back.right);
        set_nonblocking(front.right.get());
        set_nonblocking(back.left.get());
        if (o.armed) {
            arm_reset_on_close(front.right.get());
            arm_reset_on_close(back.left.get());
        }
        std::vector<UniqueFd> near_lanes, far_lanes;
        taps.resize(o.lanes);
        for (size_t i = 0; i < o.lanes; ++i) {
            auto lane = make_tcp_pair(HANG_LIMIT_S, o.buf_bytes);
            if (std::find(o.tapped.begin(), o.tapped.end(), i) != o.tapped.end()) {
                auto far_part = make_tcp_pair(HANG_LIMIT_S, o.buf_bytes);
                taps[i] = std::make_unique<Tap>(std::move(lane.right), std::move(far_part.left));
                lane.right = std::move(far_part.right);
            }
            set_nonblocking(lane.left.get());
            set_nonblocking(lane.right.get());
            if (o.armed) {
                arm_reset_on_close(lane.left.get());
                arm_reset_on_close(lane.right.get());
            }
            near_lane_ports.push_back(local_port(lane.left.get()));
            near_lanes.push_back(std::move(lane.left));
            far_lanes.push_back(std::move(lane.right));
        }
        UniqueFd far_feed;
        if (o.use_feed) {
            int sv[2];
            REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) == 0);
            feed.reset(sv[0]);
            far_feed.reset(sv[1]);
            set_blocking(feed.get());
        }
        for (size_t i = std::min(o.far_lanes_at_start, o.lanes); i < o.lanes; ++i)
            held.push_back(std::move(far_lanes[i]));
        far_lanes.resize(std::min(o.far_lanes_at_start, o.lanes));
        near.start(std::move(front.right), std::move(near_lanes), o.lanes, UniqueFd(), o.near);
        if (o.start_far) {
            far.start(std::move(back.left), std::move(far_lanes), o.lanes, std::move(far_feed), o.far);
        } else {
            far_local = std::move(back.left);
            far_lane_ends = std::move(far_lanes);
        }
        first_held = std::min(o.far_lanes_at_start, o.lanes);
    }

    // Hands held lane `index` to the far engine through the feed.
    void feed_lane(size_t index) {
        UniqueFd& fd = held.at(index - first_held);
        send_fd(feed.get(), fd.get(), uint8_t(index));
        fd.reset();
    }

    static void set_blocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK); }

    static uint16_t local_port(int fd) {
        sockaddr_in addr{};
        socklen_t len = sizeof addr;
        REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
        return ntohs(addr.sin_port);
    }

    UniqueFd client, server;
    std::vector<uint16_t> near_lane_ports;   // index = lane: the near engine's end of each lane
    UniqueFd feed;                           // test end of far's lane feed
    std::vector<UniqueFd> held;              // far lane ends not given at start, from first_held
    size_t first_held = 0;
    UniqueFd far_local;                      // start_far == false: the far side's sockets
    std::vector<UniqueFd> far_lane_ends;
    std::vector<std::unique_ptr<Tap>> taps;  // index = lane; null if not tapped
    EngineRun near, far;                     // destroyed first: engines end before taps
};

// A short exchange both ways, so that what follows happens on an established flow.
inline void exchange_hello(Rig& rig) {
    REQUIRE(write_all(rig.client.get(), pattern(90, 5)) == 0);
    REQUIRE((read_to_eof(rig.server.get(), 5).data == pattern(90, 5)));
    REQUIRE(write_all(rig.server.get(), pattern(91, 7)) == 0);
    REQUIRE((read_to_eof(rig.client.get(), 7).data == pattern(91, 7)));
}

struct Exchanged {
    Received at_server, at_client;
};

// The applications on `client` and `server` send `up`/`down` at once, then FIN, and read
// all until EOF.
inline Exchanged exchange_both_ways(int client, int server, const Bytes& up, const Bytes& down) {
    std::thread cw([&] {
        write_all(client, up);
        shutdown(client, SHUT_WR);
    });
    std::thread sw([&] {
        write_all(server, down);
        shutdown(server, SHUT_WR);
    });
    auto at_server = std::async(std::launch::async, [&] { return read_to_eof(server); });
    Received at_client = read_to_eof(client);
    cw.join();
    sw.join();
    Exchanged e{at_server.get(), std::move(at_client)};
    CHECK(e.at_client.err == 0);
    CHECK(e.at_server.err == 0);
    return e;
}

// The same on the rig's applications; true if both arrived whole.
inline bool transfer_both_ways(Rig& rig, const Bytes& up, const Bytes& down) {
    Exchanged e = exchange_both_ways(rig.client.get(), rig.server.get(), up, down);
    return e.at_server.data == up && e.at_client.data == down;
}

}  // namespace pepsal::test
