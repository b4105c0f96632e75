// The peer → local direction of one flow: DATA from any lane, in any order, leaves to the local
// socket in stream order.
//
// A chunk that is next in line while nothing waits before it is written to `local` straight
// from the lane's decoder buffer; only what the socket does not take, and chunks that arrive
// ahead of a gap, are copied into the ReorderBuffer. So the usual in-order case costs one copy
// in and one copy out. The bytes written straight never enter the ReorderBuffer; its offsets
// are therefore the stream's offsets minus `direct_` (the bytes written straight so far),
// which keeps its window, FIN and overlap checks exact. Once the FIN is known, every chunk
// goes through the buffer: the FIN offset it holds must not shift.
#pragma once

#include <cstdint>
#include <span>

#include "pair_reorder.hpp"

namespace pepsal::pair {

class InboundStream {
public:
    // `capacity`: the reorder buffer (the credit we announce). `local_fd` is not owned.
    InboundStream(uint64_t capacity, int local_fd);

    // A DATA frame's payload at stream offset `offset`. An error is the peer's fault (the
    // caller resets the flow); a failed local write is reported by write_error() instead.
    [[nodiscard]] ReorderError on_data(uint64_t offset, std::span<const uint8_t> bytes);
    [[nodiscard]] ReorderError on_fin(uint64_t end_offset);

    // Writes the bytes ready in the buffer to `local` until it is empty or the socket full
    // (then blocked() until set_writable()).
    void flush();
    void set_writable() { blocked_ = false; }
    bool blocked() const { return blocked_; }
    bool has_ready() const { return reorder_.readable() > 0; }
    int write_error() const { return write_error_; }  // errno of a failed write to `local`

    uint64_t delivered() const { return reorder_.delivered() + direct_; }
    // The credit to announce: the peer may send bytes below this offset.
    uint64_t limit() const;
    uint64_t capacity() const { return reorder_.capacity(); }
    uint64_t buffered() const { return reorder_.buffered(); }
    bool fin_known() const { return reorder_.fin_offset().has_value(); }
    // FIN known and every byte before it has arrived (some may still wait for `local`).
    bool complete() const;
    // FIN known and every byte before it delivered: time for shutdown(SHUT_WR).
    bool eof_ready() const { return reorder_.eof_ready(); }
    // Bytes written to `local` since the previous call.
    uint64_t take_written();

private:
    ReorderError check_next_in_line(size_t len) const;
    size_t write_direct(std::span<const uint8_t> bytes);

    ReorderBuffer reorder_;
    int local_;
    uint64_t direct_ = 0;   // stream bytes written straight, outside reorder_
    uint64_t written_ = 0;  // since take_written()
    bool blocked_ = false;
    int write_error_ = 0;
};

}  // namespace pepsal::pair
