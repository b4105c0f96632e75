#include "pair_frame.hpp"

#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

#include "pair_wire.hpp"

namespace pepsal::pair {

namespace {

bool known_type(uint8_t t) {
    return t >= uint8_t(FrameType::open) && t <= uint8_t(FrameType::done);
}

// The payload length each fixed-size type must carry; DATA (variable) is checked apart.
uint32_t fixed_length(FrameType type) {
    switch (type) {
        case FrameType::open: return OPEN_PAYLOAD_BYTES;
        case FrameType::join: return JOIN_PAYLOAD_BYTES;
        case FrameType::rst: return RST_PAYLOAD_BYTES;
        default: return 0;
    }
}

// Types whose seq carries nothing and must therefore be zero.
bool seq_must_be_zero(FrameType type) {
    return type == FrameType::open || type == FrameType::join || type == FrameType::rst ||
           type == FrameType::keepalive || type == FrameType::done;
}

// Type-dependent checks, after type, flags, reserved and the MAX_PAYLOAD bound.
FrameError check_fields(const FrameHeader& h) {
    if (h.type == FrameType::data) {
        if (h.length == 0) return FrameError::length_wrong_for_type;
        if (h.seq > std::numeric_limits<uint64_t>::max() - h.length)
            return FrameError::seq_overflow;
        return FrameError::none;
    }
    if (h.length != fixed_length(h.type)) return FrameError::length_wrong_for_type;
    if (seq_must_be_zero(h.type) && h.seq != 0) return FrameError::seq_wrong_for_type;
    return FrameError::none;
}

void require_room(std::span<uint8_t> out, size_t need, const char* what) {
    if (out.size() < need)
        throw std::length_error(std::string(what) + ": needs " + std::to_string(need) +
                                " bytes, buffer has " + std::to_string(out.size()));
}

void require_valid(const FrameHeader& h) {
    if (FrameError e = check_header(h); e != FrameError::none)
        throw std::invalid_argument(std::string("encode ") + to_string(h.type) + ": " +
                                    to_string(e));
}

}  // namespace

const char* to_string(FrameType type) {
    switch (type) {
        case FrameType::open: return "OPEN";
        case FrameType::join: return "JOIN";
        case FrameType::data: return "DATA";
        case FrameType::fin: return "FIN";
        case FrameType::rst: return "RST";
        case FrameType::keepalive: return "KEEPALIVE";
        case FrameType::window: return "WINDOW";
        case FrameType::done: return "DONE";
    }
    return "unknown frame type";
}

const char* to_string(FrameError error) {
    switch (error) {
        case FrameError::none: return "no error";
        case FrameError::unknown_type: return "unknown frame type";
        case FrameError::unknown_flags: return "unknown frame flags";
        case FrameError::reserved_nonzero: return "nonzero reserved field";
        case FrameError::length_over_max: return "payload length over 65536";
        case FrameError::length_wrong_for_type: return "payload length wrong for the frame type";
        case FrameError::seq_wrong_for_type: return "nonzero seq on a frame type without one";
        case FrameError::seq_overflow: return "DATA offset + length overflows 64 bits";
    }
    return "unknown frame error";
}

FrameError decode_header(const uint8_t* p, FrameHeader& out) {
    if (!known_type(p[0])) return FrameError::unknown_type;
    out.type = FrameType(p[0]);
    out.flags = p[1];
    if (get_u16(p + 2) != 0) return FrameError::reserved_nonzero;
    out.length = get_u32(p + 4);
    out.seq = get_u64(p + 8);
    return check_header(out);
}

FrameError check_header(const FrameHeader& h) {
    if (!known_type(uint8_t(h.type))) return FrameError::unknown_type;
    if (h.flags & ~KNOWN_FLAGS) return FrameError::unknown_flags;
    if (h.length > MAX_PAYLOAD) return FrameError::length_over_max;
    return check_fields(h);
}

size_t encode_header(std::span<uint8_t> out, const FrameHeader& h) {
    require_valid(h);
    require_room(out, FRAME_HEADER_BYTES, "encode frame header");
    uint8_t* p = out.data();
    p[0] = uint8_t(h.type);
    p[1] = h.flags;
    put_u16(p + 2, 0);
    put_u32(p + 4, h.length);
    put_u64(p + 8, h.seq);
    return FRAME_HEADER_BYTES;
}

size_t encode_data(std::span<uint8_t> out, uint64_t offset, std::span<const uint8_t> payload) {
    if (payload.size() > MAX_PAYLOAD)
        throw std::invalid_argument("encode DATA: " + std::to_string(payload.size()) +
                                    " bytes is over 65536");
    FrameHeader h{FrameType::data, 0, uint32_t(payload.size()), offset};
    require_valid(h);
    require_room(out, FRAME_HEADER_BYTES + payload.size(), "encode DATA");
    size_t n = encode_header(out, h);
    std::memcpy(out.data() + n, payload.data(), payload.size());
    return n + payload.size();
}

size_t encode_fin(std::span<uint8_t> out, uint64_t end_offset) {
    return encode_header(out, FrameHeader{FrameType::fin, 0, 0, end_offset});
}

size_t encode_done(std::span<uint8_t> out) {
    return encode_header(out, FrameHeader{FrameType::done, 0, 0, 0});
}

size_t encode_keepalive(std::span<uint8_t> out) {
    return encode_header(out, FrameHeader{FrameType::keepalive, 0, 0, 0});
}

size_t encode_window(std::span<uint8_t> out, uint64_t limit) {
    return encode_header(out, FrameHeader{FrameType::window, 0, 0, limit});
}

}  // namespace pepsal::pair
