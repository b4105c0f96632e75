#include "pair_reorder.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>

namespace pepsal::pair {

const char* to_string(ReorderError error) {
    switch (error) {
        case ReorderError::none: return "no error";
        case ReorderError::empty_chunk: return "empty DATA chunk";
        case ReorderError::beyond_window: return "DATA past the announced window";
        case ReorderError::beyond_fin: return "DATA past the FIN offset";
        case ReorderError::fin_twice: return "second FIN";
        case ReorderError::fin_before_received: return "FIN below bytes already received";
        case ReorderError::fin_beyond_window: return "FIN past the announced window";
    }
    return "unknown reorder error";
}

ReorderBuffer::ReorderBuffer(uint64_t capacity_bytes, uint64_t start)
    : capacity_(capacity_bytes), delivered_(start), contiguous_end_(start), received_end_(start) {
    if (capacity_bytes == 0) throw std::invalid_argument("ReorderBuffer: capacity 0");
}

uint64_t ReorderBuffer::limit() const {
    constexpr uint64_t MAX = std::numeric_limits<uint64_t>::max();
    return delivered_ > MAX - capacity_ ? MAX : delivered_ + capacity_;
}

ReorderError ReorderBuffer::accept(uint64_t offset, std::span<const uint8_t> bytes) {
    if (bytes.empty()) return ReorderError::empty_chunk;
    uint64_t end = offset + bytes.size();
    if (end < offset) return ReorderError::beyond_window;  // wraps: past any window
    // Bytes already delivered or held are a copy the peer sent again on another lane (it
    // reinjects the data of a lane stuck in loss recovery): only what is new is taken.
    if (end <= delivered_) return ReorderError::none;
    if (offset < delivered_) {
        bytes = bytes.subspan(delivered_ - offset);
        offset = delivered_;
    }
    // end - delivered_ <= capacity_, written so that nothing can overflow.
    if (end - delivered_ > capacity_) return ReorderError::beyond_window;
    if (fin_ && end > *fin_) return ReorderError::beyond_fin;
    // Fill the gaps of [offset, end) between the chunks already held.
    auto next = chunks_.lower_bound(offset);
    uint64_t at = offset;
    if (next != chunks_.begin()) {
        auto prev = std::prev(next);
        at = std::max(at, prev->first + prev->second.size());
    }
    while (at < end) {
        uint64_t gap_end = next != chunks_.end() ? std::min(end, next->first) : end;
        if (at < gap_end) {
            auto first = bytes.begin() + ptrdiff_t(at - offset);
            next = std::next(chunks_.emplace_hint(next, at, std::vector<uint8_t>(first, first + ptrdiff_t(gap_end - at))));
            buffered_ += gap_end - at;
        }
        if (next == chunks_.end()) break;
        at = std::max(at, next->first + next->second.size());
        ++next;
    }
    received_end_ = std::max(received_end_, end);
    // Each chunk joins the contiguous run once, when the gap before it closes.
    for (auto it = chunks_.find(contiguous_end_); it != chunks_.end();
         it = chunks_.find(contiguous_end_))
        contiguous_end_ += it->second.size();
    return ReorderError::none;
}

ReorderError ReorderBuffer::set_fin(uint64_t end_offset) {
    if (fin_) return ReorderError::fin_twice;
    if (end_offset < received_end_) return ReorderError::fin_before_received;
    if (end_offset > limit()) return ReorderError::fin_beyond_window;
    fin_ = end_offset;
    return ReorderError::none;
}

std::span<const uint8_t> ReorderBuffer::front() const {
    if (readable() == 0) return {};
    const auto& [start, bytes] = *chunks_.begin();
    uint64_t skip = delivered_ - start;  // the delivered head of a partly read chunk
    return {bytes.data() + skip, bytes.size() - skip};
}

size_t ReorderBuffer::gather(std::span<iovec> out) const {
    size_t n = 0;
    uint64_t at = delivered_;
    for (auto it = chunks_.begin(); it != chunks_.end() && n < out.size(); ++it) {
        if (it->first >= contiguous_end_) break;
        uint64_t skip = at - it->first;
        out[n].iov_base = const_cast<uint8_t*>(it->second.data() + skip);
        out[n].iov_len = it->second.size() - skip;
        at = it->first + it->second.size();
        ++n;
    }
    return n;
}

void ReorderBuffer::consume(uint64_t n) {
    if (n > readable())
        throw std::out_of_range("ReorderBuffer::consume: " + std::to_string(n) + " bytes, only " +
                                std::to_string(readable()) + " readable");
    delivered_ += n;
    buffered_ -= n;
    while (!chunks_.empty()) {
        auto first = chunks_.begin();
        if (first->first + first->second.size() > delivered_) break;
        chunks_.erase(first);
    }
}

}  // namespace pepsal::pair
