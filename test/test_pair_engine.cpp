// The pair engine end to end on the loopback rig (test/pair_rig.hpp): bytes both ways,
// half-close, resets, broken lanes, bad frames, stalled lanes, late lanes, fd hygiene.
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <future>
#include <thread>
#include <vector>

#include "fd_count.hpp"
#include "pair_rig.hpp"

using namespace pepsal;
using namespace pepsal::pair;
using namespace pepsal::test;


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
        // The side that saw the lane break tells the other why.
        if (near.end == EngineEnd::peer_reset) CHECK(near.peer_reason == uint32_t(RstReason::lane_failed));
        if (far.end == EngineEnd::peer_reset) CHECK(far.peer_reason == uint32_t(RstReason::lane_failed));
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
        auto [a, b] = make_seqpacket_pair();
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
