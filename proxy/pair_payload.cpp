#include "pair_payload.hpp"

#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <stdexcept>
#include <string>

#include "pair_frame.hpp"
#include "pair_wire.hpp"

namespace pepsal::pair {

namespace {

constexpr size_t ENDPOINT_BYTES = 19;  // family u8, port u16, addr 16
constexpr size_t OPEN_DEST_AT = 9;     // after token u64 and lane count u8
constexpr size_t OPEN_CLIENT_AT = OPEN_DEST_AT + ENDPOINT_BYTES;

struct EndpointErrors {
    PayloadError family, padding;
};

// Reads one 19-byte endpoint; checks only what every endpoint must satisfy.
PayloadError get_endpoint(const uint8_t* p, Endpoint& out, EndpointErrors err) {
    uint16_t port = get_u16(p + 1);
    const uint8_t* addr = p + 3;
    if (p[0] == 4) {
        if (std::any_of(addr + 4, addr + 16, [](uint8_t b) { return b != 0; }))
            return err.padding;
        in_addr a;
        std::memcpy(&a, addr, 4);
        out = Endpoint::v4(a, port);
        return PayloadError::none;
    }
    if (p[0] == 6) {
        in6_addr a;
        std::memcpy(&a, addr, 16);
        out = Endpoint::v6(a, port);
        return PayloadError::none;
    }
    return err.family;
}

void put_endpoint(uint8_t* p, const Endpoint& e) {
    bool v4 = e.family() == AF_INET;
    p[0] = v4 ? 4 : 6;
    put_u16(p + 1, e.port());
    std::memset(p + 3, 0, 16);
    std::memcpy(p + 3, e.addr_bytes(), v4 ? 4 : 16);
}

// Endpoint's own families only: put_endpoint would otherwise mislabel them.
bool encodable(const Endpoint& e) { return e.family() == AF_INET || e.family() == AF_INET6; }

// Validates the payload with the parser, so that an encoder can only emit what a peer accepts.
template <typename Value, typename Parse>
void require_parses(std::span<const uint8_t> payload, Parse parse, const char* what) {
    Value check{};
    if (PayloadError e = parse(payload, check); e != PayloadError::none)
        throw std::invalid_argument(std::string("encode ") + what + ": " + to_string(e));
}

size_t encode_frame(std::span<uint8_t> out, FrameType type, std::span<const uint8_t> payload) {
    size_t need = FRAME_HEADER_BYTES + payload.size();
    if (out.size() < need)
        throw std::length_error(std::string("encode ") + to_string(type) + ": needs " +
                                std::to_string(need) + " bytes, buffer has " +
                                std::to_string(out.size()));
    size_t n = encode_header(out, FrameHeader{type, 0, uint32_t(payload.size()), 0});
    std::memcpy(out.data() + n, payload.data(), payload.size());
    return n + payload.size();
}

}  // namespace

const char* to_string(RstReason reason) {
    switch (reason) {
        case RstReason::destination_refused: return "destination refused";
        case RstReason::destination_unreachable: return "destination unreachable";
        case RstReason::not_allowed: return "not allowed by policy";
        case RstReason::protocol_error: return "protocol error";
        case RstReason::peer_shutting_down: return "peer shutting down";
        case RstReason::endpoint_reset: return "reset by the endpoint";
        case RstReason::idle_timeout: return "idle timeout";
        case RstReason::lane_failed: return "a lane failed";
    }
    return "unknown reset reason";
}

const char* to_string(PayloadError error) {
    switch (error) {
        case PayloadError::none: return "no error";
        case PayloadError::wrong_length: return "payload length wrong for the frame type";
        case PayloadError::bad_lane_count: return "lane count not 1..32";
        case PayloadError::bad_lane_index: return "lane index not 1..lane count-1";
        case PayloadError::bad_dest_family: return "destination family not 4 or 6";
        case PayloadError::zero_dest_port: return "destination port 0";
        case PayloadError::unspecified_dest: return "destination address unspecified";
        case PayloadError::dest_padding_nonzero: return "IPv4 destination with nonzero padding";
        case PayloadError::bad_client_family: return "client family not 4 or 6";
        case PayloadError::client_padding_nonzero: return "IPv4 client with nonzero padding";
        case PayloadError::unknown_rst_reason: return "unknown reset reason";
    }
    return "unknown payload error";
}

PayloadError parse_open(std::span<const uint8_t> payload, OpenPayload& out) {
    if (payload.size() != OPEN_PAYLOAD_BYTES) return PayloadError::wrong_length;
    const uint8_t* p = payload.data();
    out.token = get_u64(p);
    out.lane_count = p[8];
    if (out.lane_count < 1 || out.lane_count > MAX_LANES) return PayloadError::bad_lane_count;
    PayloadError e =
        get_endpoint(p + OPEN_DEST_AT, out.dest,
                     {PayloadError::bad_dest_family, PayloadError::dest_padding_nonzero});
    if (e != PayloadError::none) return e;
    if (out.dest.port() == 0) return PayloadError::zero_dest_port;
    if (out.dest.is_unspecified()) return PayloadError::unspecified_dest;
    return get_endpoint(p + OPEN_CLIENT_AT, out.client,
                        {PayloadError::bad_client_family, PayloadError::client_padding_nonzero});
}

PayloadError parse_join(std::span<const uint8_t> payload, JoinPayload& out, uint8_t lane_count) {
    if (payload.size() != JOIN_PAYLOAD_BYTES) return PayloadError::wrong_length;
    out.token = get_u64(payload.data());
    out.lane_index = payload[8];
    if (out.lane_index < 1 || out.lane_index >= std::min(lane_count, MAX_LANES))
        return PayloadError::bad_lane_index;
    return PayloadError::none;
}

PayloadError parse_rst(std::span<const uint8_t> payload, RstReason& out) {
    if (payload.size() != RST_PAYLOAD_BYTES) return PayloadError::wrong_length;
    uint32_t code = get_u32(payload.data());
    if (code < uint32_t(RstReason::destination_refused) || code > uint32_t(RstReason::lane_failed))
        return PayloadError::unknown_rst_reason;
    out = RstReason(code);
    return PayloadError::none;
}

size_t encode_open(std::span<uint8_t> out, const OpenPayload& open) {
    if (!encodable(open.dest) || !encodable(open.client))
        throw std::invalid_argument("encode OPEN: endpoint without an IPv4 or IPv6 address");
    std::array<uint8_t, OPEN_PAYLOAD_BYTES> p{};
    put_u64(p.data(), open.token);
    p[8] = open.lane_count;
    put_endpoint(p.data() + OPEN_DEST_AT, open.dest);
    put_endpoint(p.data() + OPEN_CLIENT_AT, open.client);
    require_parses<OpenPayload>(p, parse_open, "OPEN");
    return encode_frame(out, FrameType::open, p);
}

size_t encode_join(std::span<uint8_t> out, const JoinPayload& join) {
    std::array<uint8_t, JOIN_PAYLOAD_BYTES> p{};
    put_u64(p.data(), join.token);
    p[8] = join.lane_index;
    require_parses<JoinPayload>(
        p, [](std::span<const uint8_t> b, JoinPayload& j) { return parse_join(b, j); }, "JOIN");
    return encode_frame(out, FrameType::join, p);
}

size_t encode_rst(std::span<uint8_t> out, RstReason reason) {
    std::array<uint8_t, RST_PAYLOAD_BYTES> p{};
    put_u32(p.data(), uint32_t(reason));
    require_parses<RstReason>(p, parse_rst, "RST");
    return encode_frame(out, FrameType::rst, p);
}

}  // namespace pepsal::pair
