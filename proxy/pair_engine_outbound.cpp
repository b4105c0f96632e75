#include "pair_engine_outbound.hpp"

#include <algorithm>

#include "pair_frame.hpp"

namespace pepsal::pair {

OutboundStream::OutboundStream(uint32_t chunk_bytes, uint64_t initial_limit)
    : staging_(STAGING_BYTES),
      chunk_(std::clamp<uint32_t>(chunk_bytes, 1, MAX_PAYLOAD)),
      limit_(initial_limit) {}

IoResult OutboundStream::read_from(int local_fd) {
    head_ = tail_ = 0;
    size_t room = size_t(std::min<uint64_t>(staging_.size(), limit_ - sent_));
    IoResult r = io_read(local_fd, staging_.data(), room);
    tail_ = r.bytes;
    if (r.eof) eof_ = true;
    return r;
}

std::span<const uint8_t> OutboundStream::next_chunk() const {
    return {staging_.data() + head_, std::min<size_t>(staged(), chunk_)};
}

void OutboundStream::sent(size_t n) {
    head_ += n;
    sent_ += n;
}

void OutboundStream::raise_limit(uint64_t limit) { limit_ = std::max(limit_, limit); }

uint64_t OutboundStream::take_sent() {
    uint64_t delta = sent_ - reported_;
    reported_ = sent_;
    return delta;
}

}  // namespace pepsal::pair
