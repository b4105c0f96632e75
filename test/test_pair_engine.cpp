// The pair engine on real loopback TCP: two engines, "near" and "far", in threads of this
// process, joined by N lane connections; the client application talks to near's local socket,
// the server application to far's. A lane may run through a Tap, a forwarding thread that can
// pause it, inject bytes into it or reset it, standing in for a slow or broken path.
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

using namespace pepsal;
using namespace pepsal::pair;
using namespace pepsal::test;

namespace {

constexpr int HANG_LIMIT_S = 20;  // app sockets' timeouts and engine joins: a hang fails, not stalls

void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

void set_nonblocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

bool is_prefix(const Bytes& part, const Bytes& whole) {
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
thread_local volatile sig_atomic_t* t_stop_flag = nullptr;
extern "C" void on_engine_stop_signal(int) {
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

    UniqueFd client, server;
    UniqueFd feed;                           // test end of far's lane feed
    std::vector<UniqueFd> held;              // far lane ends not given at start, from first_held
    size_t first_held = 0;
    UniqueFd far_local;                      // start_far == false: the far side's sockets
    std::vector<UniqueFd> far_lane_ends;
    std::vector<std::unique_ptr<Tap>> taps;  // index = lane; null if not tapped
    EngineRun near, far;                     // destroyed first: engines end before taps
};

// A short exchange both ways, so that what follows happens on an established flow.
void exchange_hello(Rig& rig) {
    REQUIRE(write_all(rig.client.get(), pattern(90, 5)) == 0);
    REQUIRE((read_to_eof(rig.server.get(), 5).data == pattern(90, 5)));
    REQUIRE(write_all(rig.server.get(), pattern(91, 7)) == 0);
    REQUIRE((read_to_eof(rig.client.get(), 7).data == pattern(91, 7)));
}

// Both applications send `up`/`down` at once, then FIN, and read all; true if both arrived whole.
bool transfer_both_ways(Rig& rig, const Bytes& up, const Bytes& down) {
    std::thread cw([&] {
        write_all(rig.client.get(), up);
        shutdown(rig.client.get(), SHUT_WR);
    });
    std::thread sw([&] {
        write_all(rig.server.get(), down);
        shutdown(rig.server.get(), SHUT_WR);
    });
    auto at_server = std::async(std::launch::async, [&] { return read_to_eof(rig.server.get()); });
    Received at_client = read_to_eof(rig.client.get());
    cw.join();
    sw.join();
    Received got_up = at_server.get();
    CHECK(at_client.err == 0);
    CHECK(got_up.err == 0);
    return got_up.data == up && at_client.data == down;
}

}  // namespace

TEST_CASE("pair engine carries MBs both ways at once, byte for byte", "[pair-engine]") {
    size_t lanes = GENERATE(1, 2, 4);
    CAPTURE(lanes);
    int fds = test::open_fd_count();
    {
        Rig rig{RigOptions(lanes)};
        Bytes up = pattern(1, 8 * MB), down = pattern(2, 6 * MB + 12345);
        CHECK(transfer_both_ways(rig, up, down));
        EngineResult near = rig.near.join(), far = rig.far.join();
        CAPTURE(near.detail, far.detail);
        CHECK(to_string(near.end) == std::string("closed"));
        CHECK(to_string(far.end) == std::string("closed"));
        CHECK(near.to_peer == up.size());
        CHECK(near.to_local == down.size());
        CHECK(far.to_peer == down.size());
        CHECK(far.to_local == up.size());
        CHECK(rig.near.up == up.size());
        CHECK(rig.far.down == up.size());
    }
    CHECK(test::open_fd_count() == fds);
}

TEST_CASE("pair engine passes a half-close end to end and keeps the other way open", "[pair-engine]") {
    int fds = test::open_fd_count();
    {
        Rig rig{RigOptions(2)};
        Bytes request = pattern(3, 100 * 1000), reply = pattern(4, 3 * MB);
        REQUIRE(write_all(rig.client.get(), request) == 0);
        REQUIRE(shutdown(rig.client.get(), SHUT_WR) == 0);
        Received at_server = read_to_eof(rig.server.get());
        CHECK(at_server.err == 0);  // EOF, only after every byte
        CHECK((at_server.data == request));
        // Half-closed and idle: neither engine may spin (EPOLLHUP/RDHUP are set on sockets now).
        uint64_t near_cpu = rig.near.cpu_ms(), far_cpu = rig.far.cpu_ms(), wall = monotonic_ms();
        sleep_ms(500);
        uint64_t wall_ms = monotonic_ms() - wall;
        CHECK((rig.near.cpu_ms() - near_cpu) * 100 < wall_ms * 20);
        CHECK((rig.far.cpu_ms() - far_cpu) * 100 < wall_ms * 20);
        std::thread sw([&] {
            write_all(rig.server.get(), reply);
            shutdown(rig.server.get(), SHUT_WR);
        });
        Received at_client = read_to_eof(rig.client.get());
        sw.join();
        CHECK(at_client.err == 0);
        CHECK((at_client.data == reply));
        CHECK(rig.near.join().end == EngineEnd::closed);
        CHECK(rig.far.join().end == EngineEnd::closed);
    }
    CHECK(test::open_fd_count() == fds);
}

// pepsal arms its sockets to reset on close (a killed worker must not fake a clean end). The
// clean end must still close gracefully: the client here reads so slowly that the engine ends
// while the tail of the reply is still queued in its socket, which an RST would discard.
TEST_CASE("pair engine ends cleanly on sockets armed to reset on close", "[pair-engine]") {
    int fds = test::open_fd_count();
    {
        RigOptions o(2);
        o.armed = true;
        o.buf_bytes = 64 * 1024;
        Rig rig{o};
        Bytes request = pattern(13, 1000), reply = pattern(14, MB);
        REQUIRE(write_all(rig.client.get(), request) == 0);
        REQUIRE(shutdown(rig.client.get(), SHUT_WR) == 0);
        CHECK((read_to_eof(rig.server.get()).data == request));
        std::thread sw([&] {
            write_all(rig.server.get(), reply);
            shutdown(rig.server.get(), SHUT_WR);
        });
        Received at_client;
        bool engine_ended_first = false;
        uint8_t buf[16 * 1024];
        for (ssize_t n; (n = read(rig.client.get(), buf, sizeof buf)) != 0; sleep_ms(2)) {
            if (n < 0) {
                at_client.err = errno;
                break;
            }
            at_client.data.insert(at_client.data.end(), buf, buf + n);
            engine_ended_first = engine_ended_first || rig.near.finished();
        }
        sw.join();
        CHECK(engine_ended_first);  // so the test did test the close
        CHECK(at_client.err == 0);
        CHECK((at_client.data == reply));
        CHECK(rig.near.join().end == EngineEnd::closed);
        CHECK(rig.far.join().end == EngineEnd::closed);
    }
    CHECK(test::open_fd_count() == fds);
}

TEST_CASE("pair engine turns an application's reset into a reset of the other one", "[pair-engine]") {
    bool client_resets = GENERATE(true, false);
    CAPTURE(client_resets);
    int fds = test::open_fd_count();
    {
        Rig rig{RigOptions(2)};
        exchange_hello(rig);
        UniqueFd& resetting = client_resets ? rig.client : rig.server;
        UniqueFd& other = client_resets ? rig.server : rig.client;
        proxy::reset_close(std::move(resetting));
        CHECK(error_of_next_read(other.get()) == ECONNRESET);
        EngineResult near = rig.near.join(), far = rig.far.join();
        EngineResult& at_reset = client_resets ? near : far;
        EngineResult& at_other = client_resets ? far : near;
        CAPTURE(near.detail, far.detail);
        CHECK(at_reset.end == EngineEnd::local_reset);
        CHECK(at_other.end == EngineEnd::peer_reset);
        CHECK(at_other.peer_reason == uint32_t(RstReason::endpoint_reset));
        CHECK(near.to_peer == 5);
        CHECK(far.to_peer == 7);
    }
    CHECK(test::open_fd_count() == fds);
}

TEST_CASE("pair engine resets both applications when a lane breaks mid-flow", "[pair-engine]") {
    int fds = test::open_fd_count();
    {
        Rig rig{RigOptions(2, {1})};
        Bytes up = pattern(5, 40 * MB);
        int write_err = -1;
        std::thread cw([&] { write_err = write_all(rig.client.get(), up); });
        Received first = read_to_eof(rig.server.get(), 2 * MB);
        REQUIRE(first.data.size() == 2 * MB);
        rig.taps[1]->reset();  // the lane's two connections die with RST mid-transfer
        Received rest = read_to_eof(rig.server.get());
        CHECK(rest.err == ECONNRESET);  // never a clean EOF
        first.data.insert(first.data.end(), rest.data.begin(), rest.data.end());
        CHECK(first.data.size() < up.size());
        CHECK(is_prefix(first.data, up));
        cw.join();
        CHECK((write_err == ECONNRESET || write_err == EPIPE));
        EngineResult near = rig.near.join(), far = rig.far.join();
        CAPTURE(to_string(near.end), near.detail, to_string(far.end), far.detail);
        CHECK((near.end == EngineEnd::lane_failed || near.end == EngineEnd::peer_reset));
        CHECK((far.end == EngineEnd::lane_failed || far.end == EngineEnd::peer_reset));
        CHECK((near.end == EngineEnd::lane_failed || far.end == EngineEnd::lane_failed));
    }
    CHECK(test::open_fd_count() == fds);
}

TEST_CASE("pair engine resets the flow on bytes that are not a valid frame", "[pair-engine]") {
    std::array<uint8_t, 64> join_frame;
    size_t join_size = encode_join(join_frame, JoinPayload{42, 1});
    Bytes injected = GENERATE_COPY(Bytes(24, 0xee), Bytes(join_frame.begin(), join_frame.begin() + join_size));
    CAPTURE(injected.size());
    int fds = test::open_fd_count();
    {
        Rig rig{RigOptions(2, {1})};
        exchange_hello(rig);
        sleep_ms(20);  // the lane is idle: the bytes land between frames
        rig.taps[1]->inject(injected);
        CHECK(error_of_next_read(rig.server.get()) == ECONNRESET);
        CHECK(error_of_next_read(rig.client.get()) == ECONNRESET);
        EngineResult near = rig.near.join(), far = rig.far.join();
        CAPTURE(to_string(near.end), near.detail, far.detail);
        CHECK(far.end == EngineEnd::protocol_error);
        CHECK(near.end == EngineEnd::peer_reset);
        CHECK(near.peer_reason == uint32_t(RstReason::protocol_error));
    }
    CHECK(test::open_fd_count() == fds);
}

// While one lane is stalled, the least-loaded choice carries the flow on the others up to the
// whole window. Blind round robin would block at about lanes × what the stalled lane holds.
TEST_CASE("pair engine keeps a flow moving over the other lanes while one lane stalls", "[pair-engine]") {
    int fds = test::open_fd_count();
    {
        RigOptions o(4, {2});
        o.buf_bytes = 64 * 1024;
        Rig rig(o);
        rig.taps[2]->pause(true);
        Bytes up = pattern(6, 24 * MB);
        int write_err = -1;
        std::thread cw([&] {
            write_err = write_all(rig.client.get(), up);
            shutdown(rig.client.get(), SHUT_WR);
        });
        auto at_server = std::async(std::launch::async, [&] { return read_to_eof(rig.server.get()); });
        uint64_t deadline = monotonic_ms() + 5000;
        while (rig.near.up < 4 * MB && monotonic_ms() < deadline) sleep_ms(10);
        CHECK(rig.near.up >= 4 * MB);  // 4 lanes × 64 KiB buffers: round robin would stop near 1 MB
        rig.taps[2]->pause(false);
        Received got = at_server.get();
        cw.join();
        CHECK(write_err == 0);
        CHECK(got.err == 0);
        CHECK((got.data == up));
        shutdown(rig.server.get(), SHUT_WR);
        CHECK(read_to_eof(rig.client.get()).data.empty());
        CHECK(rig.near.join().end == EngineEnd::closed);
        CHECK(rig.far.join().end == EngineEnd::closed);
    }
    CHECK(test::open_fd_count() == fds);
}

// The window bounds what a stalled receiver makes the engines hold: near never sends more than
// far's reorder buffer beyond what far delivered, and the client is held back by its socket.
TEST_CASE("pair engine holds a bounded amount while the receiver stalls, without spinning", "[pair-engine]") {
    int fds = test::open_fd_count();
    {
        RigOptions o(2);
        o.buf_bytes = 128 * 1024;
        o.near.reorder_bytes = o.far.reorder_bytes = MB;
        Rig rig(o);
        Bytes up = pattern(7, 50 * MB);
        std::atomic<uint64_t> written{0};
        int write_err = -1;
        std::thread cw([&] {
            write_err = write_all(rig.client.get(), up, &written);
            shutdown(rig.client.get(), SHUT_WR);
        });
        // Wait until the client cannot write any more.
        uint64_t last = 0, still_since = monotonic_ms(), deadline = monotonic_ms() + 10000;
        while (monotonic_ms() - still_since < 300 && monotonic_ms() < deadline) {
            sleep_ms(20);
            if (written != last) last = written, still_since = monotonic_ms();
        }
        uint64_t near_cpu = rig.near.cpu_ms(), far_cpu = rig.far.cpu_ms(), wall = monotonic_ms();
        sleep_ms(500);
        uint64_t wall_ms = monotonic_ms() - wall;
        CHECK((rig.near.cpu_ms() - near_cpu) * 100 < wall_ms * 20);
        CHECK((rig.far.cpu_ms() - far_cpu) * 100 < wall_ms * 20);
        CAPTURE(written.load(), rig.near.up.load(), rig.far.down.load());
        CHECK(written < 8 * MB);  // buffers + 1 MiB, not 50 MB
        CHECK(rig.near.up <= rig.far.down + o.far.reorder_bytes);
        CHECK(rig.near.up > rig.far.down + o.far.reorder_bytes / 2);  // the window was used
        Received got = read_to_eof(rig.server.get());
        cw.join();
        CHECK(write_err == 0);
        CHECK((got.data == up));
        shutdown(rig.server.get(), SHUT_WR);
        CHECK(read_to_eof(rig.client.get()).data.empty());
        CHECK(rig.near.join().end == EngineEnd::closed);
        CHECK(rig.far.join().end == EngineEnd::closed);
    }
    CHECK(test::open_fd_count() == fds);
}

TEST_CASE("pair engine takes lanes that arrive later through the lane feed", "[pair-engine]") {
    int fds = test::open_fd_count();
    {
        RigOptions o(4);
        o.far_lanes_at_start = 1;
        o.use_feed = true;
        Rig rig(o);
        Bytes up = pattern(8, 4 * MB), down = pattern(9, 3 * MB);
        std::thread feeder([&] {
            sleep_ms(100);  // near already sends on lanes far does not have yet
            for (size_t i : {3, 1, 2}) rig.feed_lane(i);
        });
        CHECK(transfer_both_ways(rig, up, down));
        feeder.join();
        EngineResult near = rig.near.join(), far = rig.far.join();
        CAPTURE(near.detail, far.detail);
        CHECK(near.end == EngineEnd::closed);
        CHECK(far.end == EngineEnd::closed);
    }
    CHECK(test::open_fd_count() == fds);
}

TEST_CASE("pair engine fails the flow when an expected lane never arrives", "[pair-engine]") {
    bool feed_closes = GENERATE(false, true);
    CAPTURE(feed_closes);
    int fds = test::open_fd_count();
    {
        RigOptions o(2);
        o.far_lanes_at_start = 1;
        o.use_feed = true;
        o.far.lane_wait_ms = 300;
        uint64_t start = monotonic_ms();
        Rig rig(o);
        if (feed_closes) rig.feed.reset();  // no lane can come any more: fail at once
        CHECK(error_of_next_read(rig.server.get()) == ECONNRESET);
        CHECK(error_of_next_read(rig.client.get()) == ECONNRESET);
        EngineResult near = rig.near.join(), far = rig.far.join();
        uint64_t elapsed = monotonic_ms() - start;
        CAPTURE(far.detail, near.detail);
        CHECK(far.end == EngineEnd::lane_failed);
        CHECK(near.end == EngineEnd::peer_reset);
        if (!feed_closes) CHECK(elapsed >= 290);
        CHECK(elapsed < 5000);
    }
    CHECK(test::open_fd_count() == fds);
}

TEST_CASE("pair engine rejects a lane index delivered twice", "[pair-engine]") {
    int fds = test::open_fd_count();
    {
        RigOptions o(2);
        o.use_feed = true;
        Rig rig(o);
        exchange_hello(rig);
        auto extra = make_tcp_pair(HANG_LIMIT_S);
        send_fd(rig.feed.get(), extra.left.get(), 1);
        CHECK(error_of_next_read(rig.server.get()) == ECONNRESET);
        CHECK(rig.far.join().end == EngineEnd::protocol_error);
        CHECK(rig.near.join().end == EngineEnd::peer_reset);
    }
    CHECK(test::open_fd_count() == fds);
}

TEST_CASE("pair engine resets everything when its stop flag is set", "[pair-engine]") {
    int fds = test::open_fd_count();
    {
        Rig rig{RigOptions(2)};
        exchange_hello(rig);
        rig.near.stop();
        CHECK(error_of_next_read(rig.client.get()) == ECONNRESET);
        CHECK(error_of_next_read(rig.server.get()) == ECONNRESET);
        EngineResult near = rig.near.join(), far = rig.far.join();
        CHECK(near.end == EngineEnd::stopped);
        CHECK(far.end == EngineEnd::peer_reset);
        CHECK(far.peer_reason == uint32_t(RstReason::peer_shutting_down));
    }
    CHECK(test::open_fd_count() == fds);
}

TEST_CASE("pair engine resets both applications after the idle timeout", "[pair-engine]") {
    int fds = test::open_fd_count();
    {
        RigOptions o(2);
        o.near.idle_timeout_ms = 200;
        o.near.keepalive_ms = 50;  // lane traffic is not flow activity
        Rig rig(o);
        uint64_t start = monotonic_ms();
        exchange_hello(rig);
        CHECK(error_of_next_read(rig.client.get()) == ECONNRESET);
        CHECK(error_of_next_read(rig.server.get()) == ECONNRESET);
        EngineResult near = rig.near.join(), far = rig.far.join();
        CHECK(monotonic_ms() - start >= 190);
        CHECK(near.end == EngineEnd::idle_timeout);
        CHECK(far.end == EngineEnd::peer_reset);
        CHECK(far.peer_reason == uint32_t(RstReason::idle_timeout));
    }
    CHECK(test::open_fd_count() == fds);
}

TEST_CASE("pair engine sends keepalives on idle lanes and the peer ignores them", "[pair-engine]") {
    int fds = test::open_fd_count();
    {
        RigOptions o(1, {0});
        o.near.keepalive_ms = 50;
        Rig rig(o);
        exchange_hello(rig);
        uint64_t before = rig.taps[0]->to_far();
        sleep_ms(400);
        CHECK(rig.taps[0]->to_far() - before >= 3 * FRAME_HEADER_BYTES);
        Bytes up = pattern(10, 100000), down = pattern(11, 200000);
        CHECK(transfer_both_ways(rig, up, down));
        CHECK(rig.near.join().end == EngineEnd::closed);
        CHECK(rig.far.join().end == EngineEnd::closed);
    }
    CHECK(test::open_fd_count() == fds);
}

// The test plays the far side by hand on the one lane.
TEST_CASE("pair engine announces its window first and resets a peer that sends past it", "[pair-engine]") {
    int fds = test::open_fd_count();
    {
        RigOptions o(1);
        o.start_far = false;
        o.near.reorder_bytes = MB;
        Rig rig{o};
        int lane = rig.far_lane_ends[0].get();
        Rig::set_blocking(lane);
        Bytes first = read_to_eof(lane, FRAME_HEADER_BYTES).data;
        REQUIRE(first.size() == FRAME_HEADER_BYTES);
        FrameHeader h;
        REQUIRE(decode_header(first.data(), h) == FrameError::none);
        CHECK(h.type == FrameType::window);
        CHECK(h.seq == MB);
        // 20 bytes whose last 10 lie past the credit.
        Bytes payload = pattern(15, 20);
        std::array<uint8_t, FRAME_HEADER_BYTES + 20> data;
        REQUIRE(write_all(lane, Bytes(data.begin(), data.begin() + encode_data(data, MB - 10, payload))) == 0);
        CHECK(error_of_next_read(rig.client.get()) == ECONNRESET);
        Bytes rst = read_to_eof(lane, FRAME_HEADER_BYTES + RST_PAYLOAD_BYTES).data;
        REQUIRE(rst.size() == FRAME_HEADER_BYTES + RST_PAYLOAD_BYTES);
        REQUIRE(decode_header(rst.data(), h) == FrameError::none);
        CHECK(h.type == FrameType::rst);
        RstReason reason{};
        CHECK(parse_rst(std::span(rst).subspan(FRAME_HEADER_BYTES), reason) == PayloadError::none);
        CHECK(reason == RstReason::protocol_error);
        EngineResult near = rig.near.join();
        CHECK(near.end == EngineEnd::protocol_error);
        CHECK(near.detail.find("window") != std::string::npos);
    }
    CHECK(test::open_fd_count() == fds);
}

TEST_CASE("pair reset_lanes makes the peer engine reset its application with the reason", "[pair-engine]") {
    int fds = test::open_fd_count();
    {
        RigOptions o(3);
        o.start_far = false;
        Rig rig(o);
        REQUIRE(write_all(rig.client.get(), pattern(12, 1000)) == 0);
        reset_lanes(std::move(rig.far_lane_ends), RstReason::destination_refused);
        CHECK(error_of_next_read(rig.client.get()) == ECONNRESET);
        EngineResult near = rig.near.join();
        CHECK(near.end == EngineEnd::peer_reset);
        CHECK(near.peer_reason == uint32_t(RstReason::destination_refused));
    }
    CHECK(test::open_fd_count() == fds);
}

TEST_CASE("pair engine reports bad arguments as an error and closes what it was given", "[pair-engine]") {
    int fds = test::open_fd_count();
    auto local = make_tcp_pair(HANG_LIMIT_S);
    auto lane = make_tcp_pair(HANG_LIMIT_S);
    std::vector<UniqueFd> lanes;
    lanes.push_back(std::move(lane.left));
    EngineResult r = run_engine(std::move(local.right), std::move(lanes), 0, UniqueFd(), EngineOptions{});
    CHECK(r.end == EngineEnd::error);
    CHECK(r.detail.find("expected lanes") != std::string::npos);
    CHECK(error_of_next_read(local.left.get()) == ECONNRESET);
    local.left.reset();
    lane.right.reset();
    CHECK(test::open_fd_count() == fds);
    CHECK(std::string(to_string(EngineEnd::lane_failed)) == "lane_failed");
}

TEST_CASE("pair fd passing carries a lane fd and its index", "[pair-engine]") {
    int fds = test::open_fd_count();
    {
        int sv[2];
        REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) == 0);
        UniqueFd a(sv[0]), b(sv[1]);
        auto tcp = make_tcp_pair(HANG_LIMIT_S);
        UniqueFd got;
        uint8_t index = 0;
        CHECK(recv_fd(b.get(), got, index) == FdReceive::would_block);
        send_fd(a.get(), tcp.left.get(), 7);
        REQUIRE(recv_fd(b.get(), got, index) == FdReceive::received);
        CHECK(index == 7);
        CHECK((fcntl(got.get(), F_GETFD) & FD_CLOEXEC));
        REQUIRE(write(got.get(), "x", 1) == 1);  // the same connection
        CHECK(read_to_eof(tcp.right.get(), 1).data.size() == 1);
        REQUIRE(send(a.get(), "yz", 2, 0) == 2);  // no fd, two bytes
        CHECK(recv_fd(b.get(), got, index) == FdReceive::malformed);
        a.reset();
        CHECK(recv_fd(b.get(), got, index) == FdReceive::closed);
    }
    CHECK(test::open_fd_count() == fds);
}
