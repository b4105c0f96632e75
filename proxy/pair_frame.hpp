// Pair mode wire protocol (version 3, see pair_handshake.hpp): the frames carried on an
// authenticated lane.
//
// In pair mode two pepsal instances, one on each side of the satellite link, carry each TCP
// flow between them over N parallel TCP "lanes". The near side intercepted the flow; the far
// side connects to the destination. Each lane first runs the handshake described in
// pair_handshake.hpp; after it, both directions of every lane carry frames. All integers are
// big-endian.
//
//   header, 16 bytes:
//     type u8 | flags u8 | reserved u16 | length u32 | seq u64
//   then `length` bytes of payload.
//
//   flags    : v1 defines no flag, so it must be 0 (a later version negotiates new flags
//              through the handshake version byte; a v1 receiver rejects them).
//   reserved : must be 0.
//   length   : payload bytes, at most MAX_PAYLOAD (65536), exact for every type but DATA.
//
//   type           length    seq                           payload
//   OPEN      = 1  47        0                             flow token u64, lane count u8
//                                                          (1..32), dest endpoint, client
//                                                          endpoint (19 bytes each, below)
//   JOIN      = 2  9         0                             flow token u64, lane index u8
//                                                          (1..lane count-1)
//   DATA      = 3  1..65536  offset of the first byte      the stream bytes
//                            in this direction's stream
//                            (seq + length < 2^64)
//   FIN       = 4  0         end offset (total bytes)      -
//   RST       = 5  4         0                             reason u32 (RstReason)
//   KEEPALIVE = 6  0         0                             -
//   WINDOW    = 7  0         limit: the peer may send      -
//                            bytes with offset < seq
//   DONE      = 8  0         0                             -
//
//   endpoint, 19 bytes: family u8 (4 or 6) | port u16 | addr 16 (IPv4 in the first 4, the
//   other 12 zero). The destination's port must be nonzero and its address not unspecified
//   (connecting to 0.0.0.0 or :: would reach the far side's own host); the client's port and
//   address are informational (logs) and only checked for family and padding.
//
// OPEN is the first frame of a flow and goes on lane 0; the flow token (random) names the flow
// to the far side. JOIN is the first frame on every other lane of the flow. FIN's receiver
// delivers EOF only once every byte before seq was delivered. WINDOW announces credit: the
// receiver's delivered offset plus its reorder buffer size, so a receiver can always buffer
// whatever the sender was allowed to send and never has to stop reading a lane; that is what
// keeps the far side free of deadlock when lanes deliver out of order. DONE is the last frame
// of a flow on a lane at its clean end; a lane that carried DONE both ways is free for another
// flow, whose OPEN or JOIN is the next frame on it (lane reuse).
//
// Any invalid field is a decode error with a reason; the caller closes the lane and resets the
// flow on both sides.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace pepsal::pair {

constexpr size_t FRAME_HEADER_BYTES = 16;
constexpr uint32_t MAX_PAYLOAD = 65536;  // bytes
constexpr size_t MAX_FRAME_BYTES = FRAME_HEADER_BYTES + MAX_PAYLOAD;
constexpr uint8_t KNOWN_FLAGS = 0x00;  // v1 defines none
constexpr uint32_t OPEN_PAYLOAD_BYTES = 47;  // 8 + 1 + 2 * (1 + 2 + 16)
constexpr uint32_t JOIN_PAYLOAD_BYTES = 9;
constexpr uint32_t RST_PAYLOAD_BYTES = 4;

enum class FrameType : uint8_t {
    open = 1,
    join = 2,
    data = 3,
    fin = 4,
    rst = 5,
    keepalive = 6,
    window = 7,
    done = 8,
};

const char* to_string(FrameType type);

struct FrameHeader {
    FrameType type = FrameType::keepalive;
    uint8_t flags = 0;
    uint32_t length = 0;  // payload bytes
    uint64_t seq = 0;
};

// A decoded frame. `payload` is a view into the decoder's buffer (see FrameDecoder::next).
struct Frame {
    FrameHeader header;
    std::span<const uint8_t> payload;
};

enum class FrameError {
    none,
    unknown_type,
    unknown_flags,
    reserved_nonzero,
    length_over_max,        // length > MAX_PAYLOAD
    length_wrong_for_type,  // e.g. an OPEN that is not 46 bytes, an empty DATA
    seq_wrong_for_type,     // nonzero seq on OPEN, JOIN, RST or KEEPALIVE
    seq_overflow,           // DATA whose last byte's offset does not fit in 64 bits
};

const char* to_string(FrameError error);

// Validates the 16 header bytes at `p` and fills `out`. On error `out` is unspecified.
FrameError decode_header(const uint8_t* p, FrameHeader& out);

// The same checks on a header built in memory (the encoders use it).
FrameError check_header(const FrameHeader& h);

// Encoders write one complete frame at the start of `out` and return its size. Asking for an
// invalid frame is a bug of the caller: std::invalid_argument; an `out` too small for the frame:
// std::length_error. Nothing is written in either case.
size_t encode_header(std::span<uint8_t> out, const FrameHeader& h);
size_t encode_data(std::span<uint8_t> out, uint64_t offset, std::span<const uint8_t> payload);
size_t encode_fin(std::span<uint8_t> out, uint64_t end_offset);
size_t encode_keepalive(std::span<uint8_t> out);
size_t encode_done(std::span<uint8_t> out);
size_t encode_window(std::span<uint8_t> out, uint64_t limit);

}  // namespace pepsal::pair
