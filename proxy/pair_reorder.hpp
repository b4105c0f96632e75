// Receiver side of one flow direction in pair mode: DATA chunks arrive on any lane in any
// order; the stream leaves in order.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <vector>

namespace pepsal::pair {

enum class ReorderError {
    none,
    empty_chunk,          // DATA carries at least one byte
    beyond_window,        // ends past limit(): the sender ignored our WINDOW
    beyond_fin,           // ends past the FIN offset
    fin_twice,            // a second FIN, even with the same offset (InboundStream allows that)
    fin_before_received,  // FIN offset below bytes already received
    fin_beyond_window,    // FIN offset past limit(): bytes before it were never allowed
};

const char* to_string(ReorderError error);

// Holds the chunks received ahead of the delivered offset and hands out the contiguous prefix.
//
// Duplicates: a sender may send bytes again on another lane (it reinjects the data of a lane
// stuck in loss recovery), so bytes already delivered or held are ignored and only the new
// ones are taken; the copies are the peer's own bytes over an authenticated lane. A chunk
// that ends past limit() (the sender ignored our WINDOW) or past the FIN is an error, which
// leaves the buffer unchanged; the caller resets the flow.
//
// Memory: at most `capacity` undelivered bytes are held (a chunk outside [delivered, limit) is
// refused), plus the already delivered head of the one chunk being read, which is freed once
// that chunk is fully consumed (< MAX_PAYLOAD). Chunks live in an ordered map, so accepting,
// delivering and consuming cost O(log chunks) each, never O(n^2) for many small chunks.
class ReorderBuffer {
public:
    // `capacity_bytes` > 0 (else std::invalid_argument); `start` is the first offset expected.
    explicit ReorderBuffer(uint64_t capacity_bytes, uint64_t start = 0);

    // Copies the bytes of [offset, offset + size) not yet delivered or held.
    [[nodiscard]] ReorderError accept(uint64_t offset, std::span<const uint8_t> bytes);
    // The stream ends at `end_offset` (FIN's seq).
    [[nodiscard]] ReorderError set_fin(uint64_t end_offset);

    // Contiguous bytes ready from delivered() on.
    uint64_t readable() const { return contiguous_end_ - delivered_; }
    // The first piece of them (empty if none): valid until the next non-const call.
    std::span<const uint8_t> front() const;
    // Fills `out` with up to out.size() pieces, in order, ready for writev(); returns the count.
    size_t gather(std::span<iovec> out) const;
    // Marks `n` ready bytes as delivered; n > readable() throws std::out_of_range.
    void consume(uint64_t n);

    uint64_t delivered() const { return delivered_; }
    // What to announce in WINDOW: the peer may send bytes with offsets below this.
    uint64_t limit() const;
    uint64_t capacity() const { return capacity_; }
    uint64_t buffered() const { return buffered_; }  // undelivered bytes held
    size_t chunks() const { return chunks_.size(); }
    std::optional<uint64_t> fin_offset() const { return fin_; }
    // The stream is over: every byte before FIN was delivered. Deliver EOF now.
    bool eof_ready() const { return fin_ && delivered_ == *fin_; }

private:
    std::map<uint64_t, std::vector<uint8_t>> chunks_;  // start offset -> bytes
    uint64_t capacity_;
    uint64_t delivered_;
    uint64_t contiguous_end_;  // [delivered_, contiguous_end_) is held without a gap
    uint64_t received_end_;    // highest end of any chunk accepted (or delivered_)
    uint64_t buffered_ = 0;
    std::optional<uint64_t> fin_;
};

}  // namespace pepsal::pair
