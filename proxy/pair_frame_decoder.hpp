// Streaming frame decoder for one lane: fed the bytes of a TCP stream in whatever chunks the
// kernel returns, it yields complete, validated frames (see pair_frame.hpp for the format).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "pair_frame.hpp"

namespace pepsal::pair {

class FrameDecoder {
public:
    enum class Status {
        frame,      // `out` holds the next frame
        need_more,  // no complete frame buffered: read more into space()
        error,      // invalid header; error() says why; the lane must be closed
    };

    // `buffer_bytes` bounds the memory the decoder ever holds; it is raised to MAX_FRAME_BYTES
    // so that one frame of any legal size always fits. Nothing is allocated until bytes come.
    explicit FrameDecoder(size_t buffer_bytes = MAX_FRAME_BYTES);

    // Zero-copy input: free room the caller may read() into, then commit() what it read.
    // After next() returned need_more the room is never empty. Empty once an error was seen.
    std::span<uint8_t> space();
    void commit(size_t n);  // n > space().size(): std::out_of_range

    // Copying input: takes as much of `bytes` as fits and returns how much. Drain next() until
    // need_more before feeding the rest; then at least one byte always fits.
    size_t feed(std::span<const uint8_t> bytes);

    // The next complete frame. A header is validated as soon as its 16 bytes are in, before its
    // payload arrives. The error is sticky. `out.payload` points into the decoder's buffer and
    // stays valid until the next call to space(), feed() or release_memory().
    Status next(Frame& out);

    FrameError error() const { return error_; }
    // Bytes still missing from the next frame: 0 when a whole frame (or an invalid header) is
    // buffered. Reading no more than this stops exactly at a frame boundary, leaving what
    // follows in the socket (the end of a flow on a lane that will carry another).
    size_t wanted() const;
    // Bytes received but not yet returned in a frame. A lane EOF with buffered() != 0 is a
    // truncated frame, i.e. a protocol error.
    size_t buffered() const { return tail_ - head_; }
    // Frees the buffer of an idle lane (nothing buffered); the next space() allocates it again.
    void release_memory();

private:
    void compact();

    std::vector<uint8_t> buf_;
    size_t capacity_;
    size_t head_ = 0;  // first byte not yet returned in a frame
    size_t tail_ = 0;  // one past the last byte received
    FrameError error_ = FrameError::none;
};

}  // namespace pepsal::pair
