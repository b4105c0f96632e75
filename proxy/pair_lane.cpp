#include "pair_lane.hpp"

#include <linux/sockios.h>
#include <netinet/in.h>
#include <linux/tcp.h>  // tcp_info with tcpi_delivered, which glibc's copy lacks
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>

#include "pair_frame.hpp"

namespace pepsal::pair {

namespace {

constexpr size_t DRAIN_MAX_BYTES = 1 << 20;  // input discarded before a reset close, at most

}  // namespace

// TCP_NODELAY: frames are always written whole in one call, so Nagle could only ever hold
// back the last small frame of a burst (an interactive request, a WINDOW, FIN) for a round
// trip, which over a satellite is over half a second; it never saves a packet here. Best
// effort: a failure leaves the lane usable, only slower for small writes.
// TCP_NOTSENT_LOWAT: see LANE_NOTSENT_LOWAT. Best effort too: without it the lane still works,
// but may hoard unsent bytes that other lanes could have carried sooner.
Lane::Lane(UniqueFd fd, size_t index, uint64_t now_ms)
    : fd_(std::move(fd)), index_(index), last_send_ms_(now_ms) {
    int on = 1;
    setsockopt(fd_.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    int lowat = int(LANE_NOTSENT_LOWAT);
    setsockopt(fd_.get(), IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof lowat);
    watch_.fd = fd_.get();
}

void Lane::keep(std::span<const uint8_t> bytes, Carries carries) {
    if (out_head_ == out_.size()) {
        out_.clear();
        out_head_ = stream_end_ = 0;
    }
    out_.insert(out_.end(), bytes.begin(), bytes.end());
    if (carries == Carries::stream) stream_end_ = out_.size();
}

int Lane::send_frame(uint64_t now_ms, Carries carries, std::span<const uint8_t> head,
                     std::span<const uint8_t> body) {
    last_send_ms_ = now_ms;
    if (pending() > 0) {
        keep(head, carries);
        keep(body, carries);
        return flush();
    }
    iovec iov[2] = {{const_cast<uint8_t*>(head.data()), head.size()},
                    {const_cast<uint8_t*>(body.data()), body.size()}};
    IoResult r = io_write(fd_.get(), iov, body.empty() ? 1 : 2);
    if (r.err) {
        stream_lost_ = stream_lost_ || carries == Carries::stream;
        return broke(r.err);
    }
    written_ += r.bytes;
    if (r.bytes < head.size()) {
        keep(head.subspan(r.bytes), carries);
        keep(body, carries);
    } else {
        keep(body.subspan(r.bytes - head.size()), carries);
    }
    return 0;
}

int Lane::flush() {
    while (pending() > 0) {
        iovec iov{out_.data() + out_head_, pending()};
        IoResult r = io_write(fd_.get(), &iov, 1);
        if (r.err) return broke(r.err);
        if (r.bytes == 0) break;
        out_head_ += r.bytes;
        written_ += r.bytes;
    }
    if (pending() == 0) {
        out_.clear();
        out_head_ = stream_end_ = 0;
    }
    return 0;
}

// Nothing more can be written: the pending bytes are dropped (so that the lane is not polled
// for output forever), after noting whether stream bytes were among them.
int Lane::broke(int err) {
    stream_lost_ = stream_pending();
    broken_ = true;
    out_.clear();
    out_head_ = stream_end_ = 0;
    return err;
}

Lane::SendState Lane::send_state() const {
    tcp_info info{};
    socklen_t len = sizeof info;
    if (getsockopt(fd_.get(), IPPROTO_TCP, TCP_INFO, &info, &len) < 0) return {};
    int notsent = 0;
    if (ioctl(fd_.get(), SIOCOUTQNSD, &notsent) < 0 || notsent < 0) notsent = 0;
    SendState st;
    st.unsent = pending() + uint64_t(notsent);
    // Segments in flight as the kernel counts them (tcp_packets_in_flight()).
    int64_t in_flight = int64_t(info.tcpi_unacked) - info.tcpi_sacked - info.tcpi_lost + info.tcpi_retrans;
    int64_t room = (int64_t(info.tcpi_snd_cwnd) - std::max<int64_t>(in_flight, 0)) * info.tcpi_snd_mss -
                   int64_t(st.unsent);
    st.room = room > 0 ? uint64_t(room) : 0;
    st.in_flight = uint64_t(std::max<int64_t>(in_flight, 0)) * info.tcpi_snd_mss;
    return st;
}

uint64_t Lane::acked_bytes() const {
    int outq = 0;
    if (ioctl(fd_.get(), SIOCOUTQ, &outq) < 0 || outq < 0) return 0;
    return uint64_t(outq) >= written_ ? 0 : written_ - uint64_t(outq);
}

Lane::PathState Lane::path_state() const {
    tcp_info info{};
    socklen_t len = sizeof info;
    if (getsockopt(fd_.get(), IPPROTO_TCP, TCP_INFO, &info, &len) < 0) return {};
    return PathState{info.tcpi_delivered, info.tcpi_snd_mss, info.tcpi_min_rtt, info.tcpi_rtt,
                     info.tcpi_unacked > 0, info.tcpi_ca_state == TCP_CA_Loss};
}

IoResult Lane::read(size_t max) {
    std::span<uint8_t> room = decoder_.space();
    if (room.empty()) return {};  // only after a decode error, when the lane is done
    IoResult r = io_read(fd_.get(), room.data(), std::min(room.size(), max));
    if (r.bytes) decoder_.commit(r.bytes);
    return r;
}

int Lane::send_done(uint64_t now_ms) {
    if (!fd_ || shut_ || broken_) return 0;
    std::array<uint8_t, FRAME_HEADER_BYTES> frame;
    int err = send_frame(now_ms, Carries::control, std::span(frame.data(), encode_done(frame)));
    shut_ = true;
    done_sent_ = err == 0;
    return err;
}

void Lane::drain_input() {
    std::array<uint8_t, 16384> sink;
    for (size_t total = 0; total < DRAIN_MAX_BYTES;) {
        IoResult r = io_read(fd_.get(), sink.data(), sink.size());
        if (r.bytes == 0) break;
        total += r.bytes;
    }
}

void Lane::close_gracefully() {
    if (!fd_) return;
    drain_input();
    fd_.reset();
}

void Lane::cut() {
    if (fd_) {
        linger reset{1, 0};
        setsockopt(fd_.get(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
        fd_.reset();
    }
    out_.clear();
    out_head_ = stream_end_ = 0;
    eof_ = true;
}

void Lane::abort(RstReason reason) {
    if (!fd_) return;
    if (!shut_ && !broken_) {
        std::array<uint8_t, FRAME_HEADER_BYTES + RST_PAYLOAD_BYTES> frame;
        send_frame(last_send_ms_, Carries::control, std::span(frame.data(), encode_rst(frame, reason)));
        drain_input();
    }
    fd_.reset();
}

}  // namespace pepsal::pair
