// OPEN, JOIN and RST payloads: exact wire layout, round trips, and every invalid field refused
// by the parser (and by the encoder, which must never emit what a peer would refuse).
#include <arpa/inet.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "pair_frame.hpp"
#include "pair_payload.hpp"

using namespace pepsal::pair;
using pepsal::Endpoint;
using Bytes = std::vector<uint8_t>;

namespace {

Endpoint ep(const char* text) { return *Endpoint::parse(text); }

OpenPayload v4_open() {
    OpenPayload o;
    o.token = 0x1122334455667788ULL;
    o.lane_count = 3;
    o.dest = ep("203.0.113.9:80");
    o.client = ep("192.0.2.44:51000");
    return o;
}

// The OPEN payload of v4_open(), written by hand from the specification.
Bytes v4_open_wire() {
    return {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,  // token
            3,                                               // lane count
            4, 0, 80, 203, 0, 113, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  // dest
            4, 0xc7, 0x38, 192, 0, 2, 44, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};  // client
}

// The payload part of a whole encoded frame.
template <typename Encode>
Bytes payload_of(Encode encode) {
    Bytes b(FRAME_HEADER_BYTES + 64);
    size_t n = encode(std::span<uint8_t>(b));
    return Bytes(b.begin() + FRAME_HEADER_BYTES, b.begin() + long(n));
}

PayloadError open_error(const Bytes& p) {
    OpenPayload o;
    return parse_open(p, o);
}

constexpr size_t DEST = 9, CLIENT = 28;  // endpoint offsets in the OPEN payload

}  // namespace

TEST_CASE("pair payload: OPEN wire layout matches the specification", "[pair]") {
    REQUIRE(v4_open_wire().size() == OPEN_PAYLOAD_BYTES);
    CHECK(payload_of([](auto b) { return encode_open(b, v4_open()); }) == v4_open_wire());
    Bytes frame(FRAME_HEADER_BYTES + OPEN_PAYLOAD_BYTES);
    REQUIRE(encode_open(frame, v4_open()) == frame.size());
    CHECK(Bytes(frame.begin(), frame.begin() + 16) ==
          Bytes{1, 0, 0, 0, 0, 0, 0, OPEN_PAYLOAD_BYTES, 0, 0, 0, 0, 0, 0, 0, 0});
}

TEST_CASE("pair payload: OPEN round-trips both families and the extremes", "[pair]") {
    const char* dests[] = {"203.0.113.9:1", "[2001:db8::1]:65535", "[::ffff:192.0.2.1]:80",
                           "255.255.255.255:443"};
    const char* clients[] = {"0.0.0.0:0", "[fe80::1]:1234", "192.0.2.1:65535"};
    for (const char* d : dests) {
        for (const char* c : clients) {
            for (uint8_t lanes : {1, 7, 16}) {
                OpenPayload o{lanes == 7 ? ~0ULL : uint64_t(lanes), lanes, ep(d), ep(c)};
                OpenPayload back;
                REQUIRE(parse_open(payload_of([&](auto b) { return encode_open(b, o); }), back) ==
                        PayloadError::none);
                CHECK(back.token == o.token);
                CHECK(back.lane_count == lanes);
                CHECK(back.dest == o.dest);
                CHECK(back.client == o.client);
                CHECK(back.dest.family() == o.dest.family());
            }
        }
    }
}

TEST_CASE("pair payload: each invalid OPEN field is refused with its reason", "[pair]") {
    Bytes good = v4_open_wire();
    REQUIRE(open_error(good) == PayloadError::none);
    auto with = [&](size_t at, uint8_t v) {
        Bytes b = good;
        b[at] = v;
        return open_error(b);
    };
    CHECK(open_error(Bytes(good.begin(), good.end() - 1)) == PayloadError::wrong_length);
    CHECK(open_error(Bytes(OPEN_PAYLOAD_BYTES + 1)) == PayloadError::wrong_length);
    CHECK(open_error({}) == PayloadError::wrong_length);
    CHECK(with(8, 0) == PayloadError::bad_lane_count);
    CHECK(with(8, MAX_LANES + 1) == PayloadError::bad_lane_count);
    CHECK(with(8, 255) == PayloadError::bad_lane_count);
    CHECK(with(8, MAX_LANES) == PayloadError::none);
    for (uint8_t fam : {0, 2, 5, 10, 255}) {
        CHECK(with(DEST, fam) == PayloadError::bad_dest_family);
        CHECK(with(CLIENT, fam) == PayloadError::bad_client_family);
    }
    Bytes zero_port = good;
    zero_port[DEST + 1] = zero_port[DEST + 2] = 0;
    CHECK(open_error(zero_port) == PayloadError::zero_dest_port);
    Bytes unspec4 = good;
    std::fill_n(unspec4.begin() + DEST + 3, 4, 0);
    CHECK(open_error(unspec4) == PayloadError::unspecified_dest);
    Bytes unspec6 = good;
    unspec6[DEST] = 6;
    std::fill_n(unspec6.begin() + DEST + 3, 16, 0);
    CHECK(open_error(unspec6) == PayloadError::unspecified_dest);
    for (size_t pad = 7; pad < 19; ++pad) {
        INFO("padding byte " << pad);
        CHECK(with(DEST + pad, 1) == PayloadError::dest_padding_nonzero);
        CHECK(with(CLIENT + pad, 0x80) == PayloadError::client_padding_nonzero);
    }
    // The same bytes are a valid address once the family says IPv6.
    Bytes v6 = good;
    v6[DEST] = 6;
    v6[DEST + 10] = 1;
    CHECK(open_error(v6) == PayloadError::none);
    // The client's port and address are informational.
    Bytes client_zero = good;
    std::fill_n(client_zero.begin() + CLIENT + 1, 18, 0);
    CHECK(open_error(client_zero) == PayloadError::none);
}

TEST_CASE("pair payload: JOIN layout, round trip and lane index bounds", "[pair]") {
    JoinPayload five{0x0102030405060708ULL, 5};
    CHECK(payload_of([&](auto b) { return encode_join(b, five); }) ==
          Bytes{1, 2, 3, 4, 5, 6, 7, 8, 5});
    JoinPayload j;
    for (uint8_t i = 1; i < MAX_LANES; ++i) {
        REQUIRE(parse_join(payload_of([&](auto b) { return encode_join(b, JoinPayload{99, i}); }),
                           j) == PayloadError::none);
        CHECK((j.token == 99 && j.lane_index == i));
    }
    CHECK(parse_join(Bytes{0, 0, 0, 0, 0, 0, 0, 1, 0}, j) == PayloadError::bad_lane_index);
    CHECK(parse_join(Bytes{0, 0, 0, 0, 0, 0, 0, 1, MAX_LANES}, j) == PayloadError::bad_lane_index);
    CHECK(parse_join(Bytes{0, 0, 0, 0, 0, 0, 0, 1, 200}, j) == PayloadError::bad_lane_index);
    // Once the flow's lane count is known, the index must be below it.
    CHECK(parse_join(Bytes{0, 0, 0, 0, 0, 0, 0, 1, 2}, j, 3) == PayloadError::none);
    CHECK(parse_join(Bytes{0, 0, 0, 0, 0, 0, 0, 1, 3}, j, 3) == PayloadError::bad_lane_index);
    CHECK(parse_join(Bytes{0, 0, 0, 0, 0, 0, 0, 1, 1}, j, 1) == PayloadError::bad_lane_index);
    CHECK(parse_join(Bytes(8), j) == PayloadError::wrong_length);
    CHECK(parse_join(Bytes(10, 1), j) == PayloadError::wrong_length);
}

TEST_CASE("pair payload: RST reasons round-trip, unknown codes are refused", "[pair]") {
    for (uint32_t code = 1; code <= 8; ++code) {
        Bytes p = payload_of([&](auto b) { return encode_rst(b, RstReason(code)); });
        CHECK(p == Bytes{0, 0, 0, uint8_t(code)});
        RstReason r;
        REQUIRE(parse_rst(p, r) == PayloadError::none);
        CHECK(uint32_t(r) == code);
        CHECK(std::string(to_string(r)) != "unknown reset reason");
    }
    RstReason r;
    CHECK(parse_rst(Bytes{0, 0, 0, 0}, r) == PayloadError::unknown_rst_reason);
    CHECK(parse_rst(Bytes{0, 0, 0, 9}, r) == PayloadError::unknown_rst_reason);
    CHECK(parse_rst(Bytes{1, 0, 0, 1}, r) == PayloadError::unknown_rst_reason);
    CHECK(parse_rst(Bytes{0, 0, 1}, r) == PayloadError::wrong_length);
    CHECK(parse_rst(Bytes{0, 0, 0, 0, 1}, r) == PayloadError::wrong_length);
}

TEST_CASE("pair payload: encoders refuse what a peer would refuse", "[pair]") {
    Bytes out(128, 0xee);
    OpenPayload o = v4_open();
    o.lane_count = 0;
    CHECK_THROWS_AS(encode_open(out, o), std::invalid_argument);
    o = v4_open();
    o.lane_count = MAX_LANES + 1;
    CHECK_THROWS_AS(encode_open(out, o), std::invalid_argument);
    o = v4_open();
    o.dest.set_port(0);
    CHECK_THROWS_AS(encode_open(out, o), std::invalid_argument);
    o = v4_open();
    o.dest = ep("0.0.0.0:80");
    CHECK_THROWS_AS(encode_open(out, o), std::invalid_argument);
    o = v4_open();
    o.client = Endpoint{};
    CHECK_THROWS_AS(encode_open(out, o), std::invalid_argument);
    CHECK_THROWS_AS(encode_join(out, JoinPayload{1, 0}), std::invalid_argument);
    CHECK_THROWS_AS(encode_join(out, JoinPayload{1, MAX_LANES}), std::invalid_argument);
    CHECK_THROWS_AS(encode_rst(out, RstReason(0)), std::invalid_argument);
    CHECK_THROWS_AS(encode_rst(out, RstReason(9)), std::invalid_argument);
    CHECK(out == Bytes(128, 0xee));  // nothing written
    Bytes short_buf(FRAME_HEADER_BYTES + OPEN_PAYLOAD_BYTES - 1);
    CHECK_THROWS_AS(encode_open(short_buf, v4_open()), std::length_error);
    CHECK_THROWS_AS(encode_join(std::span(out).first(24), JoinPayload{1, 1}), std::length_error);
    CHECK_THROWS_AS(encode_rst(std::span(out).first(19), RstReason::not_allowed),
                    std::length_error);
}
