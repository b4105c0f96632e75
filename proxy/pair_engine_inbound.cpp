#include "pair_engine_inbound.hpp"

#include <sys/uio.h>

#include <array>
#include <limits>
#include <utility>

#include "pair_engine_io.hpp"

namespace pepsal::pair {

namespace {

constexpr size_t WRITE_IOVECS = 64;  // chunks handed to one writev

}  // namespace

InboundStream::InboundStream(uint64_t capacity, int local_fd) : reorder_(capacity), local_(local_fd) {}

uint64_t InboundStream::limit() const {
    uint64_t l = reorder_.limit();
    return l > std::numeric_limits<uint64_t>::max() - direct_ ? std::numeric_limits<uint64_t>::max()
                                                               : l + direct_;
}

bool InboundStream::complete() const {
    auto fin = reorder_.fin_offset();
    return fin && reorder_.delivered() + reorder_.readable() == *fin;
}

// The checks ReorderBuffer::accept would make on a chunk at the delivered offset of an empty
// buffer without a FIN, for a chunk that bypasses it.
ReorderError InboundStream::check_next_in_line(size_t len) const {
    if (len == 0) return ReorderError::empty_chunk;
    if (len > reorder_.capacity()) return ReorderError::beyond_window;
    return ReorderError::none;
}

size_t InboundStream::write_direct(std::span<const uint8_t> bytes) {
    iovec iov{const_cast<uint8_t*>(bytes.data()), bytes.size()};
    IoResult r = io_write(local_, &iov, 1);
    if (r.err) write_error_ = r.err;
    if (r.bytes < bytes.size()) blocked_ = true;
    written_ += r.bytes;
    return r.bytes;
}

ReorderError InboundStream::on_data(uint64_t offset, std::span<const uint8_t> bytes) {
    // A copy of bytes already delivered (reinjected by the peer): keep only what is new, so
    // that the shifted offset below cannot wrap.
    if (bytes.empty()) return ReorderError::empty_chunk;
    if (offset < delivered()) {
        if (offset + bytes.size() <= delivered()) return ReorderError::none;
        bytes = bytes.subspan(delivered() - offset);
        offset = delivered();
    }
    // Not once the FIN is known: the buffer holds its offset, which a bypass would move.
    if (offset == delivered() && reorder_.buffered() == 0 && !fin_known() && !blocked_ &&
        write_error_ == 0) {
        if (ReorderError e = check_next_in_line(bytes.size()); e != ReorderError::none)
            return e;
        size_t n = write_direct(bytes);
        direct_ += n;
        offset += n;
        bytes = bytes.subspan(n);
        if (bytes.empty()) return ReorderError::none;
    }
    return reorder_.accept(offset - direct_, bytes);
}

ReorderError InboundStream::on_fin(uint64_t end_offset) {
    // The same FIN again: the peer sent it on a second lane because the first one stalled.
    if (fin_known()) return *reorder_.fin_offset() + direct_ == end_offset ? ReorderError::none : ReorderError::fin_twice;
    if (end_offset < delivered()) return ReorderError::fin_before_received;
    return reorder_.set_fin(end_offset - direct_);
}

void InboundStream::flush() {
    std::array<iovec, WRITE_IOVECS> iov;
    while (!blocked_ && write_error_ == 0 && reorder_.readable() > 0) {
        size_t count = reorder_.gather(iov);
        size_t offered = 0;
        for (size_t i = 0; i < count; ++i) offered += iov[i].iov_len;
        IoResult r = io_write(local_, iov.data(), count);
        if (r.err) {
            write_error_ = r.err;
            return;
        }
        // A stream socket takes less than offered only when its buffer is full.
        if (r.bytes < offered) blocked_ = true;
        reorder_.consume(r.bytes);
        written_ += r.bytes;
    }
}

uint64_t InboundStream::take_written() { return std::exchange(written_, 0); }

}  // namespace pepsal::pair
