// The local → peer direction of one flow: bytes read from the local socket, waiting to be cut
// into DATA frames, and the peer's credit (WINDOW) that bounds how far we may read ahead.
//
// One read fills the staging buffer (up to STAGING_BYTES, never past the credit); it is read
// again only once every staged byte went to a lane, so the bytes a flow holds here stay below
// one staging buffer and the local socket's own buffer carries the back-pressure to the
// application.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "pair_engine_io.hpp"

namespace pepsal::pair {

constexpr size_t STAGING_BYTES = 65536;  // one large read from the local socket

class OutboundStream {
public:
    // `chunk_bytes`: DATA payload per frame, 1..MAX_PAYLOAD; `initial_limit`: the credit the
    // peer grants before its first WINDOW.
    OutboundStream(uint32_t chunk_bytes, uint64_t initial_limit);

    // True while a read from `local` is useful: no EOF yet, nothing staged, credit left.
    bool wants_read() const { return !eof_ && staged() == 0 && sent_ < limit_; }
    // One read from `local` into the staging buffer (call only when wants_read()).
    IoResult read_from(int local_fd);

    // The payload of the next DATA frame (empty when nothing is staged) and its offset.
    std::span<const uint8_t> next_chunk() const;
    uint64_t next_offset() const { return sent_; }
    // The first `n` bytes of next_chunk() went to a lane.
    void sent(size_t n);

    // A WINDOW from the peer; credit never shrinks.
    void raise_limit(uint64_t limit);
    uint64_t limit() const { return limit_; }
    // Nothing staged, more to read, but the peer's credit is used up.
    bool credit_blocked() const { return !eof_ && staged() == 0 && sent_ >= limit_; }

    // Local EOF was read and every staged byte went out: FIN(end_offset()) is due.
    bool fin_due() const { return eof_ && staged() == 0 && !fin_queued_; }
    void set_fin_queued() { fin_queued_ = true; }
    bool fin_queued() const { return fin_queued_; }
    bool eof() const { return eof_; }
    uint64_t end_offset() const { return sent_; }

    // Payload bytes given to lanes since the previous call.
    uint64_t take_sent();

private:
    size_t staged() const { return tail_ - head_; }

    std::vector<uint8_t> staging_;
    size_t head_ = 0, tail_ = 0;  // staged bytes are staging_[head_, tail_)
    uint32_t chunk_;
    uint64_t sent_ = 0;   // stream offset of the first staged byte
    uint64_t limit_;      // the peer accepts offsets below this
    uint64_t reported_ = 0;
    bool eof_ = false;
    bool fin_queued_ = false;
};

}  // namespace pepsal::pair
