#include "pair_frame_decoder.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

namespace pepsal::pair {

FrameDecoder::FrameDecoder(size_t buffer_bytes)
    : capacity_(std::max(buffer_bytes, MAX_FRAME_BYTES)) {}

// Moves the unreturned bytes to the front when the room behind them gets short. Called only
// from space()/feed(), whose contract allows invalidating frame views. The copy is at most one
// partial frame, and happens at most once per half buffer of input.
void FrameDecoder::compact() {
    if (head_ == tail_) {
        head_ = tail_ = 0;
        return;
    }
    if (head_ == 0 || capacity_ - tail_ >= capacity_ / 2) return;
    std::memmove(buf_.data(), buf_.data() + head_, tail_ - head_);
    tail_ -= head_;
    head_ = 0;
}

std::span<uint8_t> FrameDecoder::space() {
    if (error_ != FrameError::none) return {};
    if (buf_.size() != capacity_) buf_.resize(capacity_);
    compact();
    return {buf_.data() + tail_, capacity_ - tail_};
}

void FrameDecoder::commit(size_t n) {
    if (n > capacity_ - tail_ || (n > 0 && buf_.empty()))
        throw std::out_of_range("FrameDecoder::commit: " + std::to_string(n) +
                                " bytes is more than the room given");
    tail_ += n;
}

size_t FrameDecoder::feed(std::span<const uint8_t> bytes) {
    std::span<uint8_t> room = space();
    size_t n = std::min(room.size(), bytes.size());
    if (n > 0) std::memcpy(room.data(), bytes.data(), n);
    tail_ += n;
    return n;
}

FrameDecoder::Status FrameDecoder::next(Frame& out) {
    if (error_ != FrameError::none) return Status::error;
    size_t avail = tail_ - head_;
    if (avail < FRAME_HEADER_BYTES) return Status::need_more;
    FrameHeader h;
    error_ = decode_header(buf_.data() + head_, h);
    if (error_ != FrameError::none) return Status::error;
    if (avail - FRAME_HEADER_BYTES < h.length) return Status::need_more;
    out.header = h;
    out.payload = {buf_.data() + head_ + FRAME_HEADER_BYTES, h.length};
    head_ += FRAME_HEADER_BYTES + h.length;
    return Status::frame;
}

size_t FrameDecoder::wanted() const {
    if (error_ != FrameError::none) return 0;
    size_t avail = tail_ - head_;
    if (avail < FRAME_HEADER_BYTES) return FRAME_HEADER_BYTES - avail;
    FrameHeader h;
    if (decode_header(buf_.data() + head_, h) != FrameError::none) return 0;  // next() reports it
    size_t whole = FRAME_HEADER_BYTES + h.length;
    return avail >= whole ? 0 : whole - avail;
}

void FrameDecoder::release_memory() {
    if (head_ != tail_) return;
    head_ = tail_ = 0;
    std::vector<uint8_t>().swap(buf_);
}

}  // namespace pepsal::pair
