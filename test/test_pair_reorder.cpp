// ReorderBuffer: chunks of a random stream arriving in random order come out as the exact
// stream, under a sender that respects the window as a real one would; the window and FIN
// bounds are enforced, duplicates (reinjected copies) add only their new bytes, and errors
// change nothing.
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

#include "pair_engine_inbound.hpp"
#include "pair_reorder.hpp"
#include "unique_fd.hpp"

using namespace pepsal::pair;
using Bytes = std::vector<uint8_t>;

namespace {

struct Chunk {
    uint64_t offset;
    Bytes bytes;
};

Bytes random_bytes(std::mt19937_64& rng, size_t n) {
    Bytes b(n);
    for (auto& c : b) c = uint8_t(rng());
    return b;
}

// Cuts `stream` into chunks of 1..max_chunk bytes, in stream order.
std::vector<Chunk> cut(const Bytes& stream, std::mt19937_64& rng, size_t max_chunk) {
    std::vector<Chunk> chunks;
    for (size_t at = 0; at < stream.size();) {
        size_t n = std::min(stream.size() - at, 1 + size_t(rng() % max_chunk));
        chunks.push_back({at, Bytes(stream.begin() + long(at), stream.begin() + long(at + n))});
        at += n;
    }
    return chunks;
}

// Takes up to `max` ready bytes through gather(), as a writev() would, checking front() too.
void drain(ReorderBuffer& rb, Bytes& out, uint64_t max) {
    iovec iov[4];
    size_t n = rb.gather(iov);
    uint64_t total = 0;
    for (size_t i = 0; i < n; ++i) total += iov[i].iov_len;
    REQUIRE(total <= rb.readable());
    if (n > 0) {
        REQUIRE(rb.front().data() == iov[0].iov_base);
        REQUIRE(rb.front().size() == iov[0].iov_len);
    }
    uint64_t take = std::min(max, total);
    for (size_t i = 0; i < n && take > 0; ++i) {
        size_t k = std::min<uint64_t>(take, iov[i].iov_len);
        auto* p = static_cast<const uint8_t*>(iov[i].iov_base);
        out.insert(out.end(), p, p + k);
        rb.consume(k);
        take -= k;
    }
}

Bytes span_bytes(std::span<const uint8_t> s) { return Bytes(s.begin(), s.end()); }

}  // namespace

TEST_CASE("pair reorder: random permutations of chunks deliver the exact stream", "[pair]") {
    std::mt19937_64 rng(GENERATE(1, 2, 3, 4));
    Bytes stream = random_bytes(rng, 150000);
    std::vector<Chunk> chunks = cut(stream, rng, 3000);
    std::shuffle(chunks.begin(), chunks.end(), rng);
    ReorderBuffer rb(stream.size());
    Bytes out;
    for (const Chunk& c : chunks) {
        REQUIRE(rb.accept(c.offset, c.bytes) == ReorderError::none);
        REQUIRE(rb.buffered() <= rb.capacity());
        if (rng() % 3 == 0) drain(rb, out, rng() % 20000);
    }
    REQUIRE(rb.set_fin(stream.size()) == ReorderError::none);
    while (rb.readable() > 0) drain(rb, out, rng() % 20000 + 1);
    CHECK(out == stream);
    CHECK(rb.eof_ready());
    CHECK(rb.buffered() == 0);
    CHECK(rb.chunks() == 0);
}

TEST_CASE("pair reorder: a window-respecting sender over racing lanes never overflows",
          "[pair]") {
    // The sender only sends bytes below the receiver's limit, as WINDOW tells it; lanes deliver
    // what was sent in any order. The receiver must accept everything and hold <= capacity.
    std::mt19937_64 rng(GENERATE(5, 6, 7));
    const uint64_t capacity = 8192;
    Bytes stream = random_bytes(rng, 200000);
    std::vector<Chunk> chunks = cut(stream, rng, 1500);
    ReorderBuffer rb(capacity);
    std::vector<Chunk> in_flight;
    size_t next = 0;
    uint64_t window = rb.limit();  // the last WINDOW the sender heard
    Bytes out;
    uint64_t peak = 0;
    while (out.size() < stream.size()) {
        while (next < chunks.size() && chunks[next].offset + chunks[next].bytes.size() <= window)
            in_flight.push_back(chunks[next++]);
        if (!in_flight.empty() && rng() % 4 != 0) {
            size_t pick = rng() % in_flight.size();
            REQUIRE(rb.accept(in_flight[pick].offset, in_flight[pick].bytes) == ReorderError::none);
            in_flight.erase(in_flight.begin() + long(pick));
            peak = std::max(peak, rb.buffered());
        } else {
            drain(rb, out, 1 + rng() % 4000);
            if (rng() % 2) window = rb.limit();  // WINDOW frames also arrive late
        }
    }
    CHECK(out == stream);
    CHECK(peak <= capacity);
    CHECK(peak > capacity / 2);  // the test did fill the buffer
}

TEST_CASE("pair reorder: the window bound is enforced", "[pair]") {
    ReorderBuffer rb(100, 1000);
    CHECK(rb.limit() == 1100);
    Bytes ten(10, 1);
    CHECK(rb.accept(1090, ten) == ReorderError::none);  // ends exactly at the limit
    CHECK(rb.accept(1085, Bytes(10, 1)) == ReorderError::none);  // 5 new bytes
    CHECK(rb.accept(1095, Bytes(5, 1)) == ReorderError::none);   // nothing new
    CHECK(rb.buffered() == 15);
    CHECK(rb.accept(1095, Bytes(6, 1)) == ReorderError::beyond_window);
    CHECK(rb.accept(1100, Bytes(1, 1)) == ReorderError::beyond_window);
    CHECK(rb.accept(1085, Bytes(16, 1)) == ReorderError::beyond_window);
    CHECK(rb.accept(1000, Bytes(101, 1)) == ReorderError::beyond_window);
    CHECK(rb.accept(std::numeric_limits<uint64_t>::max(), Bytes(1, 1)) ==
          ReorderError::beyond_window);
    CHECK(rb.accept(999, Bytes(1, 1)) == ReorderError::none);  // already delivered: ignored
    CHECK(rb.buffered() == 15);
    CHECK(rb.accept(1000, Bytes{}) == ReorderError::empty_chunk);
    CHECK(rb.accept(1000, Bytes(90, 2)) == ReorderError::none);  // the 85 before 1085 are new
    CHECK(rb.buffered() == 100);
    CHECK(rb.readable() == 100);
    rb.consume(30);
    CHECK(rb.limit() == 1130);
    CHECK(rb.accept(1100, Bytes(30, 3)) == ReorderError::none);
    CHECK(rb.buffered() == 100);
    CHECK(rb.accept(1020, Bytes(5, 1)) == ReorderError::none);  // a delivered copy: ignored
    CHECK(rb.buffered() == 100);
    CHECK_THROWS_AS(ReorderBuffer(0), std::invalid_argument);
}

TEST_CASE("pair reorder: a copy adds only the bytes not yet delivered or held", "[pair]") {
    ReorderBuffer rb(1000);
    REQUIRE(rb.accept(200, Bytes(100, 7)) == ReorderError::none);
    CHECK(rb.accept(200, Bytes(100, 8)) == ReorderError::none);  // exact copy
    CHECK(rb.accept(220, Bytes(10, 8)) == ReorderError::none);   // inside
    CHECK(rb.buffered() == 100);
    CHECK(rb.chunks() == 1);
    CHECK(rb.accept(150, Bytes(51, 5)) == ReorderError::none);  // tail into it: 50 new
    CHECK(rb.accept(299, Bytes(6, 6)) == ReorderError::none);   // head into it: 5 new
    CHECK(rb.buffered() == 155);
    CHECK(rb.accept(400, Bytes(10, 4)) == ReorderError::none);
    // Around everything: fills 0..149, 305..399 and 410..499 only.
    std::vector<uint8_t> around(500);
    for (size_t i = 0; i < around.size(); ++i) around[i] = uint8_t(i);
    CHECK(rb.accept(0, around) == ReorderError::none);
    CHECK(rb.buffered() == 500);
    CHECK(rb.readable() == 500);
    Bytes out;
    iovec iov[16];
    size_t n = rb.gather(iov);
    for (size_t i = 0; i < n; ++i) {
        auto* p = static_cast<uint8_t*>(iov[i].iov_base);
        out.insert(out.end(), p, p + iov[i].iov_len);
    }
    REQUIRE(out.size() == 500);
    // The first copy of each byte wins.
    CHECK(out[0] == 0);
    CHECK(out[149] == 149);
    CHECK(out[150] == 5);
    CHECK(out[200] == 7);
    CHECK(out[299] == 7);
    CHECK(out[300] == 6);
    CHECK(out[304] == 6);
    CHECK(out[305] == uint8_t(305));
    CHECK(out[400] == 4);
    CHECK(out[410] == uint8_t(410));
    rb.consume(160);  // partly into the second chunk
    CHECK(rb.accept(155, Bytes(10, 9)) == ReorderError::none);  // delivered head, held tail
    CHECK(rb.buffered() == 340);
    CHECK(rb.readable() == 340);
    CHECK_THROWS_AS(rb.consume(341), std::out_of_range);
}

TEST_CASE("pair reorder: random copies of a random stream still give the exact stream", "[pair]") {
    std::mt19937_64 rng(7);
    const size_t size = 300000;
    Bytes stream(size);
    for (auto& b : stream) b = uint8_t(rng());
    ReorderBuffer rb(size);
    Bytes out;
    for (int round = 0; round < 3000 && out.size() < size; ++round) {
        uint64_t at = rng() % size, len = 1 + rng() % 5000;
        len = std::min<uint64_t>(len, size - at);
        REQUIRE(rb.accept(at, std::span(stream.data() + at, len)) == ReorderError::none);
        if (rng() % 4 == 0) drain(rb, out, 1 + rng() % 8000);
    }
    REQUIRE(rb.accept(0, stream) == ReorderError::none);  // whatever is still missing
    while (rb.readable() > 0) drain(rb, out, size);
    CHECK(out == stream);
    CHECK(rb.buffered() == 0);
}

TEST_CASE("pair reorder: FIN ends the stream once everything before it is delivered",
          "[pair]") {
    ReorderBuffer rb(1000);
    REQUIRE(rb.accept(50, Bytes(50, 2)) == ReorderError::none);
    CHECK(rb.set_fin(99) == ReorderError::fin_before_received);
    CHECK(rb.set_fin(1001) == ReorderError::fin_beyond_window);
    CHECK(!rb.fin_offset());
    REQUIRE(rb.set_fin(120) == ReorderError::none);
    CHECK(rb.set_fin(120) == ReorderError::fin_twice);
    CHECK(rb.accept(110, Bytes(11, 3)) == ReorderError::beyond_fin);
    CHECK(rb.accept(120, Bytes(1, 3)) == ReorderError::beyond_fin);
    CHECK(!rb.eof_ready());
    REQUIRE(rb.accept(100, Bytes(20, 3)) == ReorderError::none);  // ends at FIN exactly
    CHECK(!rb.eof_ready());  // bytes 0..49 are missing
    REQUIRE(rb.accept(0, Bytes(50, 1)) == ReorderError::none);
    CHECK(!rb.eof_ready());  // received but not yet delivered
    rb.consume(119);
    CHECK(!rb.eof_ready());
    rb.consume(1);
    CHECK(rb.eof_ready());
    CHECK(*rb.fin_offset() == 120);

    ReorderBuffer empty(10);
    REQUIRE(empty.set_fin(0) == ReorderError::none);
    CHECK(empty.eof_ready());
    CHECK(empty.accept(0, Bytes(1, 1)) == ReorderError::beyond_fin);
}

TEST_CASE("pair reorder: a refused chunk leaves the buffer unchanged", "[pair]") {
    ReorderBuffer rb(100);
    REQUIRE(rb.accept(0, Bytes{1, 2, 3}) == ReorderError::none);
    REQUIRE(rb.accept(10, Bytes{4, 5}) == ReorderError::none);
    CHECK(rb.accept(95, Bytes(6, 9)) == ReorderError::beyond_window);
    REQUIRE(rb.set_fin(98) == ReorderError::none);
    CHECK(rb.accept(97, Bytes(3, 9)) == ReorderError::beyond_fin);
    CHECK(rb.buffered() == 5);
    CHECK(rb.chunks() == 2);
    CHECK(span_bytes(rb.front()) == Bytes{1, 2, 3});
    CHECK(rb.readable() == 3);
}

TEST_CASE("pair reorder: a refused chunk leaves the buffer unchanged (no FIN)", "[pair]") {
    ReorderBuffer rb(100);
    REQUIRE(rb.accept(0, Bytes{1, 2, 3}) == ReorderError::none);
    REQUIRE(rb.accept(10, Bytes{4, 5}) == ReorderError::none);
    CHECK(rb.accept(95, Bytes(6, 9)) == ReorderError::beyond_window);
    CHECK(rb.buffered() == 5);
    CHECK(rb.chunks() == 2);
    CHECK(span_bytes(rb.front()) == Bytes{1, 2, 3});
    CHECK(rb.readable() == 3);
}

TEST_CASE("pair reorder: many tiny chunks in reverse order stay cheap", "[pair]") {
    // 200000 one-byte chunks, last first: quadratic behaviour would take minutes here.
    const uint64_t n = 200000;
    ReorderBuffer rb(n);
    for (uint64_t off = n; off-- > 1;)
        REQUIRE(rb.accept(off, Bytes{uint8_t(off)}) == ReorderError::none);
    CHECK(rb.readable() == 0);
    CHECK(rb.chunks() == n - 1);
    REQUIRE(rb.accept(0, Bytes{0}) == ReorderError::none);
    CHECK(rb.readable() == n);
    Bytes out;
    while (rb.readable() > 0) drain(rb, out, 997);
    REQUIRE(out.size() == n);
    for (uint64_t i = 0; i < n; ++i) REQUIRE(out[i] == uint8_t(i));
}

TEST_CASE("pair inbound stream: the same FIN again is taken, another one is refused", "[pair]") {
    int sv[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    pepsal::UniqueFd local(sv[0]), app(sv[1]);
    InboundStream in(1000, local.get());
    REQUIRE(in.on_data(0, Bytes(100, 7)) == ReorderError::none);
    REQUIRE(in.on_fin(100) == ReorderError::none);
    CHECK(in.on_fin(100) == ReorderError::none);  // sent again on a second lane
    CHECK(in.on_fin(101) == ReorderError::fin_twice);
    CHECK(in.on_fin(99) == ReorderError::fin_twice);
    CHECK(in.complete());
}
