// Pair frame header codec and the streaming FrameDecoder: every type round-trips, every bad
// field is refused with its reason, and any chunking of a stream yields the same frames.
// A hidden test case writes the fuzz seeds.
#include <arpa/inet.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "pair_frame.hpp"
#include "pair_frame_decoder.hpp"
#include "pair_payload.hpp"

using namespace pepsal::pair;
using Bytes = std::vector<uint8_t>;
using Status = FrameDecoder::Status;

namespace {

constexpr uint64_t U64_MAX = std::numeric_limits<uint64_t>::max();

// A frame as the test remembers it: header and an owned copy of the payload.
struct Decoded {
    FrameHeader header;
    Bytes payload;
    bool operator==(const Decoded& o) const {
        return header.type == o.header.type && header.flags == o.header.flags &&
               header.length == o.header.length && header.seq == o.header.seq &&
               payload == o.payload;
    }
};

struct Outcome {
    std::vector<Decoded> frames;
    Status last = Status::need_more;
    FrameError error = FrameError::none;
};

// Drains every complete frame the decoder holds.
void drain(FrameDecoder& d, Outcome& out) {
    Frame f;
    while ((out.last = d.next(f)) == Status::frame)
        out.frames.push_back({f.header, Bytes(f.payload.begin(), f.payload.end())});
    out.error = d.error();
}

// Feeds `stream` in chunks whose sizes `chunk()` picks, draining after each.
template <typename ChunkSize>
Outcome decode(const Bytes& stream, ChunkSize chunk, size_t buffer = MAX_FRAME_BYTES) {
    FrameDecoder d(buffer);
    Outcome out;
    size_t at = 0;
    while (at < stream.size() && out.last != Status::error) {
        size_t n = std::min(chunk(), stream.size() - at);
        size_t took = d.feed(std::span(stream).subspan(at, n));
        at += took;
        drain(d, out);
        if (took == 0 && out.last != Status::error) FAIL("decoder took nothing after need_more");
    }
    drain(d, out);
    return out;
}

Outcome decode_whole(const Bytes& s) {
    return decode(s, [&] { return s.size(); }, s.size() + MAX_FRAME_BYTES);
}

Bytes header_bytes(uint8_t type, uint8_t flags, uint16_t reserved, uint32_t length,
                   uint64_t seq) {
    Bytes b(16);
    b[0] = type;
    b[1] = flags;
    b[2] = uint8_t(reserved >> 8);
    b[3] = uint8_t(reserved);
    for (int i = 0; i < 4; ++i) b[4 + i] = uint8_t(length >> (24 - 8 * i));
    for (int i = 0; i < 8; ++i) b[8 + i] = uint8_t(seq >> (56 - 8 * i));
    return b;
}

template <typename Encode>
Bytes encoded(Encode encode) {
    Bytes b(MAX_FRAME_BYTES);
    b.resize(encode(std::span<uint8_t>(b)));
    return b;
}

Bytes pattern(size_t n, uint8_t salt) {
    Bytes b(n);
    for (size_t i = 0; i < n; ++i) b[i] = uint8_t(i * 31 + salt);
    return b;
}

OpenPayload sample_open() {
    OpenPayload o;
    o.token = 0x0123456789abcdefULL;
    o.lane_count = 4;
    o.dest = *pepsal::Endpoint::parse("198.51.100.7:443");
    o.client = *pepsal::Endpoint::parse("[2001:db8::5]:40000");
    return o;
}

// One of every frame type, several DATA sizes among them (the largest only if `full_size`).
Bytes every_type_stream(bool full_size = true) {
    Bytes s;
    auto add = [&](const Bytes& f) { s.insert(s.end(), f.begin(), f.end()); };
    add(encoded([](auto b) { return encode_open(b, sample_open()); }));
    add(encoded([](auto b) { return encode_join(b, JoinPayload{42, 3}); }));
    add(encoded([](auto b) { return encode_data(b, 0, pattern(1, 1)); }));
    add(encoded([](auto b) { return encode_data(b, 1, pattern(1000, 2)); }));
    size_t big = full_size ? MAX_PAYLOAD : 3000;
    add(encoded([&](auto b) { return encode_data(b, 1001, pattern(big, 3)); }));
    add(encoded([](auto b) { return encode_window(b, 1 << 20); }));
    add(encoded([](auto b) { return encode_keepalive(b); }));
    add(encoded([&](auto b) { return encode_fin(b, 1001 + big); }));
    add(encoded([](auto b) { return encode_rst(b, RstReason::idle_timeout); }));
    return s;
}

// A random valid stream: mostly DATA of random sizes, the other types in between.
Bytes random_stream(std::mt19937_64& rng, int frames) {
    Bytes s;
    uint64_t offset = 0;
    for (int i = 0; i < frames; ++i) {
        Bytes f;
        switch (rng() % 6) {
            case 0: f = encoded([&](auto b) { return encode_window(b, rng()); }); break;
            case 1: f = encoded([](auto b) { return encode_keepalive(b); }); break;
            default: {
                size_t n = 1 + rng() % (rng() % 4 == 0 ? MAX_PAYLOAD : 300);
                f = encoded([&](auto b) { return encode_data(b, offset, pattern(n, uint8_t(i))); });
                offset += n;
            }
        }
        s.insert(s.end(), f.begin(), f.end());
    }
    return s;
}

}  // namespace

TEST_CASE("pair frame: every type round-trips through the decoder", "[pair]") {
    Bytes s = every_type_stream();
    Outcome out = decode_whole(s);
    REQUIRE(out.last == Status::need_more);
    REQUIRE(out.frames.size() == 9);
    const FrameType types[] = {FrameType::open, FrameType::join,   FrameType::data,
                               FrameType::data, FrameType::data,   FrameType::window,
                               FrameType::keepalive, FrameType::fin, FrameType::rst};
    for (size_t i = 0; i < 9; ++i) CHECK(out.frames[i].header.type == types[i]);
    CHECK(out.frames[2].header.seq == 0);
    CHECK(out.frames[2].payload == pattern(1, 1));
    CHECK(out.frames[3].header.seq == 1);
    CHECK(out.frames[3].payload == pattern(1000, 2));
    CHECK(out.frames[4].header.length == MAX_PAYLOAD);
    CHECK(out.frames[4].payload == pattern(MAX_PAYLOAD, 3));
    CHECK(out.frames[5].header.seq == 1 << 20);
    CHECK(out.frames[7].header.seq == 1001 + MAX_PAYLOAD);
    CHECK(out.frames[7].payload.empty());

    OpenPayload open;
    REQUIRE(parse_open(out.frames[0].payload, open) == PayloadError::none);
    CHECK(open.token == sample_open().token);
    CHECK(open.dest == sample_open().dest);
    CHECK(open.client == sample_open().client);
    JoinPayload join;
    REQUIRE(parse_join(out.frames[1].payload, join) == PayloadError::none);
    CHECK((join.token == 42 && join.lane_index == 3));
    RstReason reason;
    REQUIRE(parse_rst(out.frames[8].payload, reason) == PayloadError::none);
    CHECK(reason == RstReason::idle_timeout);
}

TEST_CASE("pair frame decoder: wanted() stops at a frame boundary", "[pair]") {
    FrameDecoder d;
    CHECK(d.wanted() == FRAME_HEADER_BYTES);
    Bytes data = encoded([](auto b) { return encode_data(b, 0, Bytes(100, 7)); });
    Bytes done = encoded([](auto b) { return encode_done(b); });
    REQUIRE(d.feed(std::span(data).first(10)) == 10);
    CHECK(d.wanted() == FRAME_HEADER_BYTES - 10);
    REQUIRE(d.feed(std::span(data).subspan(10, 20)) == 20);
    CHECK(d.wanted() == data.size() - 30);
    REQUIRE(d.feed(std::span(data).subspan(30)) == data.size() - 30);
    CHECK(d.wanted() == 0);  // a whole frame waits: read nothing before taking it
    Frame f;
    REQUIRE(d.next(f) == Status::frame);
    CHECK(d.wanted() == FRAME_HEADER_BYTES);
    REQUIRE(d.feed(done) == done.size());
    REQUIRE(d.next(f) == Status::frame);
    CHECK(f.header.type == FrameType::done);
    CHECK(d.buffered() == 0);
    REQUIRE(d.feed(header_bytes(200, 0, 0, 0, 0)) == 16);
    CHECK(d.wanted() == 0);  // invalid: next() says why
    CHECK(d.next(f) == Status::error);
}

TEST_CASE("pair frame: DONE is an empty frame of type 8", "[pair]") {
    Bytes d = encoded([](auto b) { return encode_done(b); });
    CHECK(d == header_bytes(8, 0, 0, 0, 0));
    FrameHeader h;
    REQUIRE(decode_header(d.data(), h) == FrameError::none);
    CHECK(h.type == FrameType::done);
    CHECK(std::string(to_string(FrameType::done)) == "DONE");
}

TEST_CASE("pair frame: header wire layout is big-endian as specified", "[pair]") {
    Bytes f = encoded([](auto b) { return encode_fin(b, 0x0102030405060708ULL); });
    CHECK(f == header_bytes(4, 0, 0, 0, 0x0102030405060708ULL));
    CHECK(f == Bytes{4, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8});
    Bytes d = encoded([](auto b) { return encode_data(b, 7, Bytes{0xaa, 0xbb}); });
    CHECK(d == Bytes{3, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 7, 0xaa, 0xbb});
}

TEST_CASE("pair frame: each malformed header field is refused with its reason", "[pair]") {
    struct Case {
        Bytes header;
        FrameError want;
    };
    const Case cases[] = {
        {header_bytes(0, 0, 0, 0, 0), FrameError::unknown_type},
        {header_bytes(9, 0, 0, 0, 0), FrameError::unknown_type},
        {header_bytes(255, 0, 0, 0, 0), FrameError::unknown_type},
        {header_bytes(6, 0x01, 0, 0, 0), FrameError::unknown_flags},
        {header_bytes(3, 0x80, 0, 10, 0), FrameError::unknown_flags},
        {header_bytes(6, 0, 0x0001, 0, 0), FrameError::reserved_nonzero},
        {header_bytes(3, 0, 0x8000, 10, 0), FrameError::reserved_nonzero},
        {header_bytes(3, 0, 0, MAX_PAYLOAD + 1, 0), FrameError::length_over_max},
        {header_bytes(3, 0, 0, 0xffffffff, 0), FrameError::length_over_max},
        {header_bytes(1, 0, 0, OPEN_PAYLOAD_BYTES - 1, 0), FrameError::length_wrong_for_type},
        {header_bytes(1, 0, 0, OPEN_PAYLOAD_BYTES + 1, 0), FrameError::length_wrong_for_type},
        {header_bytes(2, 0, 0, 8, 0), FrameError::length_wrong_for_type},
        {header_bytes(2, 0, 0, 10, 0), FrameError::length_wrong_for_type},
        {header_bytes(3, 0, 0, 0, 0), FrameError::length_wrong_for_type},
        {header_bytes(4, 0, 0, 1, 0), FrameError::length_wrong_for_type},
        {header_bytes(5, 0, 0, 0, 0), FrameError::length_wrong_for_type},
        {header_bytes(5, 0, 0, 5, 0), FrameError::length_wrong_for_type},
        {header_bytes(6, 0, 0, 1, 0), FrameError::length_wrong_for_type},
        {header_bytes(7, 0, 0, 4, 0), FrameError::length_wrong_for_type},
        {header_bytes(8, 0, 0, 1, 0), FrameError::length_wrong_for_type},
        {header_bytes(8, 0, 0, 0, 1), FrameError::seq_wrong_for_type},
        {header_bytes(1, 0, 0, OPEN_PAYLOAD_BYTES, 1), FrameError::seq_wrong_for_type},
        {header_bytes(2, 0, 0, 9, 1ULL << 63), FrameError::seq_wrong_for_type},
        {header_bytes(5, 0, 0, 4, 5), FrameError::seq_wrong_for_type},
        {header_bytes(6, 0, 0, 0, 1), FrameError::seq_wrong_for_type},
        {header_bytes(3, 0, 0, 10, U64_MAX - 8), FrameError::seq_overflow},
        {header_bytes(3, 0, 0, 1, U64_MAX), FrameError::seq_overflow},
    };
    for (const Case& c : cases) {
        INFO("header type " << int(c.header[0]) << ", want " << to_string(c.want));
        FrameHeader h;
        CHECK(decode_header(c.header.data(), h) == c.want);
        // The decoder refuses the header alone, before any payload arrives, and stays failed.
        FrameDecoder d;
        REQUIRE(d.feed(c.header) == 16);
        Frame f;
        CHECK(d.next(f) == Status::error);
        CHECK(d.error() == c.want);
        CHECK(d.next(f) == Status::error);
        CHECK(d.space().empty());
        CHECK(d.feed(Bytes(5, 0)) == 0);
        CHECK(std::string(to_string(c.want)) != "no error");
    }
}

TEST_CASE("pair frame: boundary values that are valid decode", "[pair]") {
    const Bytes ok[] = {
        header_bytes(3, 0, 0, 10, U64_MAX - 10),  // last byte at offset 2^64-1
        header_bytes(4, 0, 0, 0, U64_MAX),
        header_bytes(7, 0, 0, 0, U64_MAX),
        header_bytes(7, 0, 0, 0, 0),
        header_bytes(3, 0, 0, MAX_PAYLOAD, 0),
    };
    for (const Bytes& b : ok) {
        FrameHeader h;
        CHECK(decode_header(b.data(), h) == FrameError::none);
    }
}

TEST_CASE("pair frame: byte-by-byte and random chunks give the same frames", "[pair]") {
    std::mt19937_64 rng(GENERATE(1, 2, 3));
    Bytes s = random_stream(rng, 120);
    Bytes tail = every_type_stream();
    s.insert(s.end(), tail.begin(), tail.end());
    Outcome whole = decode_whole(s);
    REQUIRE(whole.last == Status::need_more);
    REQUIRE(whole.frames.size() == 129);

    Outcome bytewise = decode(s, [] { return size_t(1); });
    CHECK(bytewise.frames == whole.frames);
    Outcome random = decode(s, [&] { return 1 + size_t(rng() % 9000); });
    CHECK(random.frames == whole.frames);
    // A huge chunk into the smallest buffer: feed takes what fits, the rest comes after.
    Outcome bounded = decode(s, [&] { return s.size(); });
    CHECK(bounded.frames == whole.frames);
}

TEST_CASE("pair frame: zero-copy space/commit input decodes the same", "[pair]") {
    std::mt19937_64 rng(7);
    Bytes s = random_stream(rng, 80);
    Outcome whole = decode_whole(s);
    FrameDecoder d;
    Outcome out;
    size_t at = 0;
    while (at < s.size()) {
        std::span<uint8_t> room = d.space();
        REQUIRE(!room.empty());  // need_more always leaves room
        size_t n = std::min({room.size(), s.size() - at, 1 + size_t(rng() % 70000)});
        std::copy_n(s.begin() + long(at), n, room.begin());
        d.commit(n);
        at += n;
        drain(d, out);
        REQUIRE(out.last == Status::need_more);
    }
    CHECK(out.frames == whole.frames);
    CHECK(d.buffered() == 0);
    CHECK_THROWS_AS(d.commit(d.space().size() + 1), std::out_of_range);
}

TEST_CASE("pair frame: a cut stream reports the bytes of its partial frame", "[pair]") {
    Bytes s = every_type_stream();
    s.resize(s.size() - 3);  // the RST loses 3 of its payload bytes
    FrameDecoder d(s.size() + 100);
    REQUIRE(d.feed(s) == s.size());
    Outcome out;
    drain(d, out);
    CHECK(out.last == Status::need_more);
    CHECK(out.frames.size() == 8);
    CHECK(d.buffered() == 16 + RST_PAYLOAD_BYTES - 3);
    d.release_memory();  // refused: bytes are buffered
    CHECK(d.buffered() == 16 + RST_PAYLOAD_BYTES - 3);
}

TEST_CASE("pair frame: an idle decoder gives its memory back and works again", "[pair]") {
    FrameDecoder d;
    Bytes k = encoded([](auto b) { return encode_keepalive(b); });
    REQUIRE(d.feed(k) == k.size());
    Frame f;
    REQUIRE(d.next(f) == Status::frame);
    d.release_memory();
    REQUIRE(d.feed(k) == k.size());
    REQUIRE(d.next(f) == Status::frame);
    CHECK(f.header.type == FrameType::keepalive);
    CHECK(d.next(f) == Status::need_more);
}

TEST_CASE("pair frame: encoders refuse invalid frames and short buffers", "[pair]") {
    Bytes big(MAX_FRAME_BYTES + 10);
    CHECK_THROWS_AS(encode_data(big, 0, Bytes{}), std::invalid_argument);
    CHECK_THROWS_AS(encode_data(big, 0, Bytes(MAX_PAYLOAD + 1)), std::invalid_argument);
    CHECK_THROWS_AS(encode_data(big, U64_MAX, Bytes(2)), std::invalid_argument);
    CHECK_THROWS_AS(encode_header(big, FrameHeader{FrameType(9), 0, 0, 0}), std::invalid_argument);
    CHECK_THROWS_AS(encode_header(big, FrameHeader{FrameType::keepalive, 1, 0, 0}),
                    std::invalid_argument);
    Bytes small(15, 0xee);
    CHECK_THROWS_AS(encode_keepalive(small), std::length_error);
    CHECK_THROWS_AS(encode_window(small, 1), std::length_error);
    CHECK_THROWS_AS(encode_fin(small, 1), std::length_error);
    Bytes almost(16 + 99, 0xee);
    CHECK_THROWS_AS(encode_data(almost, 0, Bytes(100)), std::length_error);
    CHECK(small == Bytes(15, 0xee));  // nothing written
    CHECK(almost == Bytes(16 + 99, 0xee));
    CHECK(encode_data(std::span(almost).first(16 + 99), 0, Bytes(99)) == 115);
}

// `build/pepsal-tests '[.seeds]'` rewrites test/fuzz/seeds/fuzz_pair_frame (PEPSAL_SEED_DIR
// overrides the directory).
TEST_CASE("write fuzz seeds for fuzz_pair_frame", "[.seeds]") {
    const char* env = std::getenv("PEPSAL_SEED_DIR");
    std::filesystem::path dir = env ? env : "test/fuzz/seeds/fuzz_pair_frame";
    std::filesystem::create_directories(dir);
    auto write = [&](const char* name, const Bytes& b) {
        std::ofstream(dir / name, std::ios::binary)
            .write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
    };
    write("every_type", every_type_stream(false));
    write("open", encoded([](auto b) { return encode_open(b, sample_open()); }));
    OpenPayload v4 = sample_open();
    v4.client = *pepsal::Endpoint::parse("192.0.2.1:50000");
    v4.lane_count = 16;
    write("open_v4", encoded([&](auto b) { return encode_open(b, v4); }));
    write("join", encoded([](auto b) { return encode_join(b, JoinPayload{7, 15}); }));
    write("rst", encoded([](auto b) { return encode_rst(b, RstReason::destination_refused); }));
    Bytes data_fin = encoded([](auto b) { return encode_data(b, 0, pattern(40, 9)); });
    Bytes fin = encoded([](auto b) { return encode_fin(b, 40); });
    data_fin.insert(data_fin.end(), fin.begin(), fin.end());
    write("data_fin", data_fin);
    std::mt19937_64 rng(11);
    Bytes shuffled;
    for (uint64_t off : {300u, 0u, 100u, 200u}) {
        Bytes f = encoded([&](auto b) { return encode_data(b, off, pattern(100, uint8_t(off))); });
        shuffled.insert(shuffled.end(), f.begin(), f.end());
    }
    write("data_out_of_order", shuffled);
    write("bad_reserved", header_bytes(6, 0, 1, 0, 0));
}
