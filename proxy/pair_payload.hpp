// Payloads of the pair frames that carry structure: OPEN, JOIN and RST (layouts in
// pair_frame.hpp). Parsers read untrusted bytes and validate every field; encoders build whole
// frames from values the caller vouches for.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "endpoint.hpp"

namespace pepsal::pair {

constexpr uint8_t MAX_LANES = 32;

// Why a flow was reset; the u32 payload of RST.
enum class RstReason : uint32_t {
    destination_refused = 1,
    destination_unreachable = 2,  // or connect timeout
    not_allowed = 3,              // by policy
    protocol_error = 4,
    peer_shutting_down = 5,
    endpoint_reset = 6,  // the client or the destination reset its connection
    idle_timeout = 7,
    lane_failed = 8,  // a lane of the flow broke or never arrived (protocol version 2)
};

const char* to_string(RstReason reason);

struct OpenPayload {
    uint64_t token = 0;  // random; names the flow in the JOINs of its other lanes
    uint8_t lane_count = 1;
    Endpoint dest;
    Endpoint client;
};

struct JoinPayload {
    uint64_t token = 0;
    uint8_t lane_index = 1;
};

enum class PayloadError {
    none,
    wrong_length,
    bad_lane_count,  // OPEN: not 1..MAX_LANES
    bad_lane_index,  // JOIN: not 1..lane count-1
    bad_dest_family,
    zero_dest_port,
    unspecified_dest,
    dest_padding_nonzero,  // IPv4 destination with nonzero bytes after its 4 address bytes
    bad_client_family,
    client_padding_nonzero,
    unknown_rst_reason,
};

const char* to_string(PayloadError error);

// On error the output is unspecified.
PayloadError parse_open(std::span<const uint8_t> payload, OpenPayload& out);
// JOIN may arrive before the OPEN of its flow (lanes race), so the index is checked against
// MAX_LANES by default; pass the flow's lane count once it is known.
PayloadError parse_join(std::span<const uint8_t> payload, JoinPayload& out,
                        uint8_t lane_count = MAX_LANES);
PayloadError parse_rst(std::span<const uint8_t> payload, RstReason& out);

// Whole frames (header + payload), with the encoder contract of pair_frame.hpp: a value the
// parser would reject throws std::invalid_argument, a short `out` std::length_error.
size_t encode_open(std::span<uint8_t> out, const OpenPayload& open);
size_t encode_join(std::span<uint8_t> out, const JoinPayload& join);
size_t encode_rst(std::span<uint8_t> out, RstReason reason);

}  // namespace pepsal::pair
