// The direct-mode relay on real loopback TCP: client <-> [a | relay thread | b] <-> server.
// TCP rather than socketpair() because half-close and RST are what is under test.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <future>
#include <thread>
#include <vector>

#include "clock.hpp"
#include "fd_count.hpp"
#include "loopback.hpp"
#include "pipe.hpp"
#include "relay.hpp"
#include "sockopt.hpp"

using namespace pepsal;
using namespace pepsal::proxy;
using namespace pepsal::test;

namespace {

constexpr int HANG_LIMIT_S = 30;  // receive/send timeout of the test ends: a hang fails, not stalls

// Waits for the socket to report an error (an RST arrived) and returns SO_ERROR; 0 if none.
int error_when_reset(int fd) {
    pollfd p{fd, 0, 0};
    if (poll(&p, 1, HANG_LIMIT_S * 1000) != 1 || !(p.revents & POLLERR)) return 0;
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    return err;
}

volatile sig_atomic_t g_stop = 0;
extern "C" void on_stop_signal(int) { g_stop = 1; }

// Closes with an RST, independently of the reset_close() under test.
void abort_close(UniqueFd& fd) {
    linger abort{1, 0};
    setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
    fd.reset();
}

// Runs relay() in a thread between `client` and `server`. Like a worker, the thread keeps
// SIGUSR1 (its SIGTERM) blocked except inside epoll_pwait; the handler sets the stop flag.
class RelayRun {
public:
    explicit RelayRun(RelayOptions options = {}) {
        signal(SIGPIPE, SIG_IGN);  // as the daemon does: EPIPE ends one flow, not the process
        struct sigaction sa {};
        sa.sa_handler = on_stop_signal;
        sigaction(SIGUSR1, &sa, nullptr);
        g_stop = 0;
        auto front = make_tcp_pair(HANG_LIMIT_S);
        auto back = make_tcp_pair(HANG_LIMIT_S);
        client = std::move(front.left);
        server = std::move(back.right);
        for (int fd : {front.right.get(), back.left.get()}) {
            set_nonblocking(fd, true);
            arm_reset_on_close(fd);  // as the worker does; a clean end must disarm it
        }
        options.stop = &g_stop;
        options.on_progress = [this](uint64_t ab, uint64_t ba) {
            progress_ab += ab;
            progress_ba += ba;
        };
        ended_ = ended_promise_.get_future();
        sigset_t usr1, old;
        sigemptyset(&usr1);
        sigaddset(&usr1, SIGUSR1);
        pthread_sigmask(SIG_BLOCK, &usr1, &old);  // inherited by the thread
        thread_ = std::thread(
            [this, options, a = std::move(front.right), b = std::move(back.left)]() mutable {
                sigset_t wait_mask;
                pthread_sigmask(SIG_SETMASK, nullptr, &wait_mask);
                sigdelset(&wait_mask, SIGUSR1);
                options.wait_mask = &wait_mask;
                result_ = relay(std::move(a), std::move(b), options);
                ended_promise_.set_value();
            });
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
    }
    // After a failed assertion: make sure the relay ends so the thread can be joined.
    ~RelayRun() {
        if (!thread_.joinable()) return;
        end_forcibly();
        thread_.join();
    }

    void signal_stop() { pthread_kill(thread_.native_handle(), SIGUSR1); }
    // A relay that does not end is a failure, not a hung test run.
    RelayResult join() {
        if (ended_.wait_for(std::chrono::seconds(HANG_LIMIT_S)) != std::future_status::ready) {
            FAIL_CHECK("relay still running after " << HANG_LIMIT_S << " s");
            end_forcibly();
        }
        thread_.join();
        return result_;
    }
    uint64_t cpu_ns() {
        clockid_t id;
        timespec ts{};
        pthread_getcpuclockid(thread_.native_handle(), &id);
        clock_gettime(id, &ts);
        return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
    }

    UniqueFd client, server;
    std::atomic<uint64_t> progress_ab{0}, progress_ba{0};

private:
    // The stop signal first; if even that is ignored, resets from both ends.
    void end_forcibly() {
        signal_stop();
        if (ended_.wait_for(std::chrono::seconds(5)) == std::future_status::ready) return;
        abort_close(client);
        abort_close(server);
    }

    std::thread thread_;
    std::promise<void> ended_promise_;
    std::future<void> ended_;
    RelayResult result_;
};

void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

// A hello through the relay, so that what follows happens on an established flow.
void exchange_hello(RelayRun& run) {
    REQUIRE(write(run.client.get(), "hello", 5) == 5);
    REQUIRE(read_to_eof(run.server.get(), 5).data.size() == 5);
}

}  // namespace

TEST_CASE("relay copies several MB both ways at once, byte for byte", "[relay]") {
    int fds = test::open_fd_count();
    {
        RelayRun run;
        Bytes up = pattern(1, 8 * MB), down = pattern(2, 6 * MB + 12345);
        int up_err = -1, down_err = -1;
        std::thread cw([&] { up_err = write_all(run.client.get(), up); });
        std::thread sw([&] { down_err = write_all(run.server.get(), down); });
        auto at_server = std::async(std::launch::async, [&] {
            return read_to_eof(run.server.get(), up.size());
        });
        Received at_client = read_to_eof(run.client.get(), down.size());
        cw.join();
        sw.join();
        Received got_up = at_server.get();
        CHECK(up_err == 0);
        CHECK(down_err == 0);
        CHECK((got_up.data == up));
        CHECK((at_client.data == down));
        shutdown(run.client.get(), SHUT_WR);
        shutdown(run.server.get(), SHUT_WR);
        CHECK(read_to_eof(run.client.get()).data.empty());
        CHECK(read_to_eof(run.server.get()).data.empty());
        RelayResult r = run.join();
        CHECK(r.end == RelayEnd::closed);
        CHECK(r.a_to_b == up.size());
        CHECK(r.b_to_a == down.size());
        CHECK(run.progress_ab == up.size());
        CHECK(run.progress_ba == down.size());
    }
    CHECK(test::open_fd_count() == fds);
}

TEST_CASE("relay passes a half-close on and keeps the other direction flowing", "[relay]") {
    int fds = test::open_fd_count();
    {
        RelayRun run;
        Bytes request = pattern(3, 100 * 1000), reply = pattern(4, 3 * MB);
        REQUIRE(write_all(run.client.get(), request) == 0);
        REQUIRE(shutdown(run.client.get(), SHUT_WR) == 0);
        Received at_server = read_to_eof(run.server.get());
        CHECK(at_server.err == 0);  // EOF, only after every byte
        CHECK((at_server.data == request));
        // The server answers after it saw the FIN: writing towards a half-closed client works.
        std::thread sw([&] {
            write_all(run.server.get(), reply);
            shutdown(run.server.get(), SHUT_WR);
        });
        Received at_client = read_to_eof(run.client.get());
        sw.join();
        CHECK(at_client.err == 0);
        CHECK((at_client.data == reply));
        RelayResult r = run.join();
        CHECK(r.end == RelayEnd::closed);
        CHECK(r.a_to_b == request.size());
        CHECK(r.b_to_a == reply.size());
    }
    CHECK(test::open_fd_count() == fds);
}

// The third case resets a side whose own direction is finished: only EPOLLERR reveals it.
TEST_CASE("relay turns a reset on one side into a reset on the other", "[relay]") {
    enum Case { client_resets, server_resets, client_resets_after_fin };
    Case c = GENERATE(client_resets, server_resets, client_resets_after_fin);
    CAPTURE(c);
    int fds = test::open_fd_count();
    {
        RelayRun run;
        exchange_hello(run);
        if (c == client_resets_after_fin) {
            REQUIRE(shutdown(run.client.get(), SHUT_WR) == 0);
            REQUIRE(read_to_eof(run.server.get()).err == 0);
        }
        bool by_client = c != server_resets;
        abort_close(by_client ? run.client : run.server);
        int other = (by_client ? run.server : run.client).get();
        // A socket that has read a FIN keeps returning EOF; its RST is EPIPE (CLOSE_WAIT).
        if (c == client_resets_after_fin)
            CHECK(error_when_reset(other) == EPIPE);
        else
            CHECK(error_of_next_read(other) == ECONNRESET);
        RelayResult r = run.join();
        CHECK(r.end == (by_client ? RelayEnd::reset_by_a : RelayEnd::reset_by_b));
        CHECK(r.a_to_b == 5);
        CHECK_FALSE(r.detail.empty());
    }
    CHECK(test::open_fd_count() == fds);
}

TEST_CASE("relay resets the sender when the receiver resets mid-stream", "[relay]") {
    int fds = test::open_fd_count();
    {
        RelayRun run;
        Bytes data = pattern(5, 50 * MB);
        int write_err = -1;
        std::thread cw([&] { write_err = write_all(run.client.get(), data); });
        REQUIRE(read_to_eof(run.server.get(), MB).data.size() == MB);
        abort_close(run.server);  // with unread data queued
        cw.join();
        CHECK(write_err == ECONNRESET);
        RelayResult r = run.join();
        CHECK(r.end == RelayEnd::reset_by_b);
        CHECK(r.a_to_b < data.size());
    }
    CHECK(test::open_fd_count() == fds);
}

// A stalled reader must neither make the relay spin nor lose data. The half-closed variant has
// EPOLLHUP/EPOLLRDHUP set on the server's socket for the whole stall.
TEST_CASE("relay waits without spinning while the receiver stalls", "[relay]") {
    bool half_closed = GENERATE(false, true);
    CAPTURE(half_closed);
    int fds = test::open_fd_count();
    {
        RelayRun run;
        Bytes data = pattern(6, 50 * MB);
        // Plain: client -> server, server stalls. Half-closed: the client has sent its FIN and
        // the server sends then FINs as well, while the client stalls.
        int sender = half_closed ? run.server.get() : run.client.get();
        int receiver = half_closed ? run.client.get() : run.server.get();
        if (half_closed) {
            REQUIRE(shutdown(run.client.get(), SHUT_WR) == 0);
            REQUIRE(read_to_eof(run.server.get()).err == 0);
        }
        int write_err = -1;
        std::thread writer([&] {
            write_err = write_all(sender, data);
            shutdown(sender, SHUT_WR);
        });
        sleep_ms(300);  // buffers and pipe fill within milliseconds on loopback
        uint64_t cpu0 = run.cpu_ns(), wall0 = monotonic_ms();
        sleep_ms(1000);
        uint64_t cpu_ms = (run.cpu_ns() - cpu0) / 1000000, wall_ms = monotonic_ms() - wall0;
        uint64_t moved = half_closed ? run.progress_ba.load() : run.progress_ab.load();
        CHECK(moved < data.size());  // the stall really held the flow back
        CHECK(cpu_ms * 100 < wall_ms * 30);
        Received got = read_to_eof(receiver);
        writer.join();
        CHECK(write_err == 0);
        CHECK(got.err == 0);
        CHECK((got.data == data));
        if (!half_closed) {
            shutdown(run.server.get(), SHUT_WR);
            CHECK(read_to_eof(run.client.get()).data.empty());
        }
        CHECK(run.join().end == RelayEnd::closed);
    }
    CHECK(test::open_fd_count() == fds);
}

TEST_CASE("relay resets both sides after the idle timeout", "[relay]") {
    int fds = test::open_fd_count();
    {
        RelayOptions options;
        options.idle_timeout_ms = 200;
        uint64_t start = monotonic_ms();
        RelayRun run(options);
        exchange_hello(run);
        CHECK(error_of_next_read(run.client.get()) == ECONNRESET);
        CHECK(error_of_next_read(run.server.get()) == ECONNRESET);
        RelayResult r = run.join();
        CHECK(r.end == RelayEnd::idle_timeout);
        CHECK(monotonic_ms() - start >= 190);  // never before the timeout
    }
    CHECK(test::open_fd_count() == fds);
}

TEST_CASE("relay resets both sides when a signal sets the stop flag", "[relay]") {
    int fds = test::open_fd_count();
    {
        RelayRun run;
        exchange_hello(run);
        run.signal_stop();
        CHECK(error_of_next_read(run.client.get()) == ECONNRESET);
        CHECK(error_of_next_read(run.server.get()) == ECONNRESET);
        CHECK(run.join().end == RelayEnd::stopped);
        CHECK(g_stop == 1);
    }
    CHECK(test::open_fd_count() == fds);
}

// Catches corking (SPLICE_F_MORE, waiting for a full pipe): each such stall costs >= 40 ms.
TEST_CASE("relay forwards small messages at once", "[relay]") {
    int fds = test::open_fd_count();
    {
        RelayRun run;
        constexpr int ROUNDS = 1000;
        Bytes ping = pattern(7, 100), pong = pattern(8, 100);
        uint64_t start = monotonic_ms();
        for (int i = 0; i < ROUNDS; ++i) {
            REQUIRE(write_all(run.client.get(), ping) == 0);
            REQUIRE((read_to_eof(run.server.get(), ping.size()).data == ping));
            REQUIRE(write_all(run.server.get(), pong) == 0);
            REQUIRE((read_to_eof(run.client.get(), pong.size()).data == pong));
        }
        uint64_t elapsed_ms = monotonic_ms() - start;
        CHECK(elapsed_ms < ROUNDS * 10);
        shutdown(run.client.get(), SHUT_WR);
        shutdown(run.server.get(), SHUT_WR);
        RelayResult r = run.join();
        CHECK(r.end == RelayEnd::closed);
        CHECK(r.a_to_b == ROUNDS * ping.size());
        CHECK(r.b_to_a == ROUNDS * pong.size());
    }
    CHECK(test::open_fd_count() == fds);
}

TEST_CASE("relay reports a setup failure as an error instead of throwing", "[relay]") {
    int fds = test::open_fd_count();
    RelayResult r = relay(UniqueFd(), UniqueFd(), RelayOptions{});
    CHECK(r.end == RelayEnd::error);
    CHECK(r.detail.find("epoll_ctl") != std::string::npos);
    CHECK(test::open_fd_count() == fds);
    CHECK(std::string(to_string(RelayEnd::reset_by_b)) == "reset_by_b");
}

TEST_CASE("relay pipes take the requested size, or what an unprivileged user may have",
          "[relay]") {
    CHECK(Pipe::create(256 * 1024).capacity_bytes() >= 256 * 1024);
    CHECK(Pipe::create(0).capacity_bytes() > 0);
    if (geteuid() != 0) return;
    // As nobody, 4 MB is above fs.pipe-max-size (1 MB by default): EPERM, then the ceiling.
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        if (setgid(65534) != 0 || setuid(65534) != 0) _exit(2);
        try {
            _exit(Pipe::create(4 * MB).capacity_bytes() > 0 ? 0 : 1);
        } catch (...) {
            _exit(3);
        }
    }
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}
