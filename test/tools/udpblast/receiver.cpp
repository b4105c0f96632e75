#include "receiver.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "error.hpp"
#include "unique_fd.hpp"
#include "wire.hpp"

namespace pepsal::udpblast {

namespace {

constexpr int RCVBUF_BYTES = 32 << 20;  // the receiver must not be the bottleneck
constexpr unsigned BATCH = 64;
constexpr uint64_t MAX_TRACKED_SEQ = 100'000'000;  // bounds the "seen" bitmap

struct Arrival {
    uint64_t at_ns;
    uint32_t ip_bytes;
};

// Everything observed so far; turned into a RecvResult at the end.
struct Tally {
    RecvResult r;
    std::vector<bool> seen;
    std::vector<Arrival> arrivals;
    double owd_sum_ms = 0;
    uint64_t unique = 0;

    void record(const Stamp& s, uint32_t ip_bytes, uint64_t now) {
        ++r.packets;
        r.ip_bytes += ip_bytes;
        arrivals.push_back({now, ip_bytes});
        double owd = double(int64_t(now - s.sent_ns)) / 1e6;
        r.owd_min_ms = r.packets == 1 ? owd : std::min(r.owd_min_ms, owd);
        r.owd_max_ms = r.packets == 1 ? owd : std::max(r.owd_max_ms, owd);
        owd_sum_ms += owd;
        if (s.seq >= MAX_TRACKED_SEQ) return;
        if (s.seq >= seen.size()) seen.resize(std::max<size_t>(s.seq + 1, seen.size() * 2));
        if (seen[s.seq]) {
            ++r.duplicates;
            return;
        }
        seen[s.seq] = true;
        ++unique;
        if (unique > 1 && s.seq < r.highest_seq) ++r.reordered;
        r.highest_seq = std::max(r.highest_seq, s.seq);
    }
};

UniqueFd bind_to(const Endpoint& at) {
    UniqueFd fd(socket(at.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd) throw_errno("socket for " + at.to_string());
    if (setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &RCVBUF_BYTES, sizeof RCVBUF_BYTES) < 0)
        setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &RCVBUF_BYTES, sizeof RCVBUF_BYTES);
    int on = 1;
    if (setsockopt(fd.get(), SOL_SOCKET, SO_RXQ_OVFL, &on, sizeof on) < 0)
        throw_errno("setsockopt SO_RXQ_OVFL " + at.to_string());
    if (bind(fd.get(), at.sa(), at.len()) < 0) throw_errno("bind " + at.to_string());
    return fd;
}

// Receive buffers for one recvmmsg; only a datagram's first bytes are kept.
struct Batch {
    static constexpr size_t BUF_BYTES = 64;
    char data[BATCH][BUF_BYTES];
    char control[BATCH][CMSG_SPACE(sizeof(uint32_t))];
    mmsghdr msgs[BATCH];
    iovec iovs[BATCH];

    void reset() {
        for (unsigned i = 0; i < BATCH; ++i) {
            iovs[i] = {data[i], BUF_BYTES};
            msgs[i] = {};
            msgs[i].msg_hdr.msg_iov = &iovs[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_control = control[i];
            msgs[i].msg_hdr.msg_controllen = sizeof control[i];
        }
    }
};

// Reads one batch; returns the number of datagrams, 0 when none was waiting.
unsigned read_batch(int fd, Batch& b, Tally& t, uint32_t overhead) {
    b.reset();
    mmsghdr* msgs = b.msgs;
    // MSG_TRUNC: msg_len is the datagram's real size although only BUF_BYTES are copied.
    int n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT | MSG_TRUNC, nullptr);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) return 0;
        throw_errno("recvmmsg");
    }
    uint64_t now = monotonic_ns();
    for (int i = 0; i < n; ++i) {
        if (msgs[i].msg_len < MIN_PAYLOAD_BYTES) continue;
        t.record(read_stamp(b.data[i]), msgs[i].msg_len + overhead, now);
        for (cmsghdr* c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c;
             c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SO_RXQ_OVFL) continue;
            uint32_t drops;
            std::memcpy(&drops, CMSG_DATA(c), sizeof drops);
            t.r.sock_drops = std::max<uint64_t>(t.r.sock_drops, drops);
        }
    }
    return unsigned(n);
}

void finish(Tally& t) {
    RecvResult& r = t.r;
    if (!r.packets) return;
    r.lost = r.highest_seq + 1 - t.unique;
    for (uint64_t i = 0; i <= r.highest_seq && i < t.seen.size(); ++i)
        if (!t.seen[i] && (i == 0 || t.seen[i - 1])) ++r.loss_bursts;
    r.owd_avg_ms = t.owd_sum_ms / double(r.packets);
    uint64_t first = t.arrivals.front().at_ns, last = t.arrivals.back().at_ns;
    r.duration_s = double(last - first) / 1e9;
    // The middle of the run: no slow start of the path's queue, no tail of the drain.
    uint64_t from = first + (last - first) / 5, to = last - (last - first) / 5;
    uint64_t bytes = 0;
    for (const Arrival& a : t.arrivals)
        if (a.at_ns > from && a.at_ns <= to) bytes += a.ip_bytes;
    if (to > from) r.mid_rate_bps = double(bytes) * 8e9 / double(to - from);
}

}  // namespace

RecvResult receive(const RecvOptions& opts) {
    UniqueFd fd = bind_to(opts.listen);
    fprintf(stderr, "udpblast recv listening on %s\n", opts.listen.to_string().c_str());
    fflush(stderr);
    uint32_t overhead = ip_overhead_bytes(opts.listen.family());
    Tally t;
    auto batch = std::make_unique<Batch>();
    uint64_t start = monotonic_ns();
    uint64_t deadline = start + uint64_t(opts.max_seconds * 1e9);
    uint64_t last_arrival = 0;
    for (;;) {
        uint64_t now = monotonic_ns();
        if (now >= deadline) break;
        if (last_arrival && now - last_arrival >= uint64_t(opts.idle_ms) * 1'000'000u) break;
        if (read_batch(fd.get(), *batch, t, overhead)) {
            last_arrival = monotonic_ns();
            continue;
        }
        pollfd p{fd.get(), POLLIN, 0};
        poll(&p, 1, 50);  // short, so the idle and deadline checks stay responsive
    }
    finish(t);
    return t.r;
}

std::string format(const RecvResult& r) {
    char line[512];
    snprintf(line, sizeof line,
             "udpblast recv packets=%" PRIu64 " ip_bytes=%" PRIu64 " highest_seq=%" PRIu64
             " lost=%" PRIu64 " loss_bursts=%" PRIu64 " reordered=%" PRIu64 " duplicates=%" PRIu64
             " sock_drops=%" PRIu64
             " duration_s=%.3f mid_rate_bps=%.0f owd_min_ms=%.3f owd_avg_ms=%.3f"
             " owd_max_ms=%.3f\n",
             r.packets, r.ip_bytes, r.highest_seq, r.lost, r.loss_bursts, r.reordered, r.duplicates,
             r.sock_drops, r.duration_s, r.mid_rate_bps, r.owd_min_ms, r.owd_avg_ms, r.owd_max_ms);
    return line;
}

}  // namespace pepsal::udpblast
