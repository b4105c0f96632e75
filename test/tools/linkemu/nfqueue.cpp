#include "nfqueue.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <sys/socket.h>
#include <time.h>

#include <cerrno>
#include <string>

#include "error.hpp"

namespace pepsal::linkemu {

namespace {

// Enough of the packet to read the IP length field: IPv4 total length sits at bytes 2–3, the
// IPv6 payload length at bytes 4–5.
constexpr unsigned COPY_BYTES = 8;
// One netlink message per packet: headers, device and time attributes, COPY_BYTES of payload.
constexpr size_t MSG_BUF_BYTES = 1024;

uint32_t ip_length(const unsigned char* p, int n) {
    if (n >= 4 && (p[0] >> 4) == 4) return uint32_t(p[2]) << 8 | p[3];
    if (n >= 6 && (p[0] >> 4) == 6) return 40 + (uint32_t(p[4]) << 8 | p[5]);
    return 0;  // not IP: let it through without occupying the link
}

uint64_t clock_ns(clockid_t id) {
    timespec ts{};
    clock_gettime(id, &ts);
    return uint64_t(ts.tv_sec) * 1'000'000'000u + uint64_t(ts.tv_nsec);
}

std::string queue_name(uint16_t num) {
    return "NFQUEUE " + std::to_string(num);
}

}  // namespace

NfQueue::NfQueue(uint16_t num, uint32_t maxlen, int rcvbuf_bytes) : num_(num) {
    handle_ = nfq_open();
    if (!handle_) throw_errno("nfq_open for " + queue_name(num));
    try {
        fd_ = nfq_fd(handle_);
        // libnfnetlink creates the socket without SOCK_CLOEXEC.
        if (fcntl(fd_, F_SETFD, FD_CLOEXEC) < 0) throw_errno("fcntl FD_CLOEXEC " + queue_name(num));
        // A burst at line rate must fit while the thread sleeps until the next due time.
        if (setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf_bytes, sizeof rcvbuf_bytes) < 0)
            throw_errno("setsockopt SO_RCVBUFFORCE " + std::to_string(rcvbuf_bytes) + " on " +
                        queue_name(num));
        queue_ = nfq_create_queue(handle_, num, &NfQueue::on_packet, this);
        if (!queue_) throw_errno("nfq_create_queue " + queue_name(num) + " (already bound?)");
        if (nfq_set_mode(queue_, NFQNL_COPY_PACKET, COPY_BYTES) < 0)
            throw_errno("nfq_set_mode " + queue_name(num));
        if (nfq_set_queue_maxlen(queue_, maxlen) < 0)
            throw_errno("nfq_set_queue_maxlen " + std::to_string(maxlen) + " " + queue_name(num));
        // Fail-open would let packets bypass the emulated link when we fall behind; a real link
        // drops instead, and the kernel counts it for our "behind" report.
        if (nfq_set_queue_flags(queue_, NFQA_CFG_F_FAIL_OPEN, 0) < 0)
            throw_errno("nfq_set_queue_flags " + queue_name(num));
    } catch (...) {
        if (queue_) nfq_destroy_queue(queue_);
        nfq_close(handle_);
        throw;
    }
    buffers_.resize(BATCH_MSGS * MSG_BUF_BYTES);
}

NfQueue::~NfQueue() {
    // Unbinding makes the kernel drop whatever still awaits a verdict, like a link going down.
    nfq_destroy_queue(queue_);
    nfq_close(handle_);
}

ReadResult NfQueue::read_pending(std::vector<QueuedPacket>& out, uint32_t max_packets) {
    ReadResult result;
    sink_ = &out;
    result_ = &result;
    mmsghdr msgs[BATCH_MSGS];
    iovec iovs[BATCH_MSGS];
    while (result.packets < max_packets) {
        for (size_t i = 0; i < BATCH_MSGS; ++i) {
            iovs[i] = {buffers_.data() + i * MSG_BUF_BYTES, MSG_BUF_BYTES};
            msgs[i] = {};
            msgs[i].msg_hdr.msg_iov = &iovs[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        int n = recvmmsg(fd_, msgs, BATCH_MSGS, MSG_DONTWAIT, nullptr);
        if (n < 0) {
            if (errno == ENOBUFS) {
                result.enobufs = true;
                continue;  // the error is reported once; the messages after it are intact
            }
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            throw_errno("recvmmsg " + queue_name(num_));
        }
        // The kernel stamps are CLOCK_REALTIME; one offset per batch maps them to monotonic.
        read_time_ns_ = clock_ns(CLOCK_MONOTONIC);
        real_minus_mono_ns_ = int64_t(clock_ns(CLOCK_REALTIME) - read_time_ns_);
        // Verdict errors also arrive here as netlink errors; nothing is pending on them.
        for (int i = 0; i < n; ++i)
            nfq_handle_packet(handle_, static_cast<char*>(iovs[i].iov_base), int(msgs[i].msg_len));
        if (n < int(BATCH_MSGS)) break;
    }
    result.more = result.packets >= max_packets;
    sink_ = nullptr;
    result_ = nullptr;
    return result;
}

int NfQueue::on_packet(nfq_q_handle*, nfgenmsg*, nfq_data* nfad, void* data) {
    auto* self = static_cast<NfQueue*>(data);
    nfqnl_msg_packet_hdr* hdr = nfq_get_msg_packet_hdr(nfad);
    if (!hdr || !self->sink_) return 0;
    unsigned char* payload = nullptr;
    int n = nfq_get_payload(nfad, &payload);
    QueuedPacket p{ntohl(hdr->packet_id), ip_length(payload, n), self->read_time_ns_};
    timeval tv{};
    if (nfq_get_timestamp(nfad, &tv) == 0) {
        int64_t real_ns = int64_t(tv.tv_sec) * 1'000'000'000 + int64_t(tv.tv_usec) * 1000;
        auto mono = uint64_t(real_ns - self->real_minus_mono_ns_);
        // Microsecond stamps and clock steps can put "arrival" after the read; never trust
        // a stamp from the future.
        if (mono < p.arrival_ns) p.arrival_ns = mono;
    } else {
        ++self->result_->unstamped;
    }
    self->sink_->push_back(p);
    ++self->result_->packets;
    return 0;
}

bool NfQueue::drop(uint32_t id) {
    return nfq_set_verdict(queue_, id, NF_DROP, 0, nullptr) >= 0;
}

bool NfQueue::accept_through(uint32_t id) {
    return nfq_set_verdict_batch(queue_, id, NF_ACCEPT) >= 0;
}

}  // namespace pepsal::linkemu
