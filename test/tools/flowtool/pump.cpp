#include "pump.hpp"

#include <algorithm>

namespace pepsal::flowtool {

namespace {
// A direction yields to the other after this many chunks even if its socket is still ready, so
// a fast sender cannot starve the receiver in the same loop (and the other way round).
constexpr int CHUNKS_PER_TURN = 16;
}  // namespace

PatternSender::PatternSender(uint64_t seed, uint64_t total)
    : seed_(seed), total_(total), buf_(IO_CHUNK_BYTES) {}

void PatternSender::refill() {
    size_t n = size_t(std::min<uint64_t>(buf_.size(), total_ - generated_));
    fill_pattern(seed_, generated_, buf_.data(), n);
    sha_.update(buf_.data(), n);
    if (corrupt_offset_ && *corrupt_offset_ >= generated_ && *corrupt_offset_ < generated_ + n)
        buf_[*corrupt_offset_ - generated_] ^= 0x01;
    generated_ += n;
    head_ = 0;
    tail_ = n;
}

bool PatternSender::send_some(Conn& conn) {
    for (int i = 0; i < CHUNKS_PER_TURN && !done(); ++i) {
        if (head_ == tail_) refill();
        ssize_t n = conn.try_write(buf_.data() + head_, tail_ - head_);
        if (n < 0) return false;
        head_ += size_t(n);
        sent_ += uint64_t(n);
    }
    return done();
}

bool PatternReceiver::receive_some(Conn& conn) {
    for (int i = 0; i < CHUNKS_PER_TURN && !done(); ++i) {
        size_t cap = size_t(std::min<uint64_t>(buf_.size(), limit_ - checker_.bytes()));
        ssize_t n = conn.try_read(buf_.data(), cap);
        if (n < 0) return false;
        if (n == 0) {
            eof_ = true;
            return true;
        }
        uint64_t at = checker_.bytes();
        if (corrupt_offset_ && *corrupt_offset_ >= at && *corrupt_offset_ < at + uint64_t(n))
            buf_[*corrupt_offset_ - at] ^= 0x01;
        checker_.update(buf_.data(), size_t(n));
    }
    return done();
}

void pump(Conn& conn, PatternSender* tx, PatternReceiver* rx, const PumpOptions& opts) {
    bool shut = false;
    for (;;) {
        bool rx_done = !rx || rx->done() || rx->receive_some(conn);
        bool tx_done = !tx || tx->done() || tx->send_some(conn);
        if (tx && tx_done && opts.shutdown_after_send && !shut) {
            conn.shutdown_write();
            shut = true;
        }
        if (rx_done && (tx_done || (opts.stop_at_eof && rx && rx->eof()))) return;
        short events = short((rx_done ? 0 : POLLIN) | (tx_done ? 0 : POLLOUT));
        conn.wait(events);
    }
}

}  // namespace pepsal::flowtool
