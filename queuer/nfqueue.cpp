#include "nfqueue.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/netfilter.h>
#include <sys/socket.h>

#include <libnetfilter_queue/libnetfilter_queue.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "clock.hpp"
#include "error.hpp"
#include "log.hpp"

namespace pepsal::queuer {

namespace {

// One netlink datagram carries one queued packet: a few hundred bytes with COPY_RANGE_BYTES.
constexpr size_t RECV_BUFFER_BYTES = 64 * 1024;

std::string name_of(uint16_t queue) { return " " + std::to_string(queue); }

// libnetfilter_queue reports failures through errno, except when it fails before any system
// call; EIO then stands for "the library refused" rather than reporting success.
int saved_errno() { return errno ? errno : EIO; }

}  // namespace

void NfQueue::HandleCloser::operator()(nfq_handle* h) const { nfq_close(h); }
void NfQueue::QueueDestroyer::operator()(nfq_q_handle* q) const { nfq_destroy_queue(q); }

NfQueue::NfQueue(uint16_t queue, Handler handler)
    : queue_(queue), handler_(std::move(handler)), buf_(RECV_BUFFER_BYTES) {
    errno = 0;
    handle_.reset(nfq_open());
    if (!handle_) throw_errno(saved_errno(), "nfq_open for queue" + name_of(queue_));
    // libnfnetlink opens its socket without SOCK_CLOEXEC; workers forked later must not
    // inherit it, and the receive loop must never block outside ppoll.
    int fd = nfq_fd(handle_.get());
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
        fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        throw_errno("fcntl netlink socket of queue" + name_of(queue_));
    // No nfq_unbind_pf/nfq_bind_pf: they are no-ops since Linux 3.8 and, on older kernels,
    // unbinding would steal the address family from every other NFQUEUE user.
    errno = 0;
    qh_.reset(nfq_create_queue(handle_.get(), queue_, &NfQueue::on_packet, this));
    if (!qh_) {
        int err = saved_errno();
        std::string what = "nfq_create_queue" + name_of(queue_);
        if (err == EPERM)
            what += " (needs CAP_NET_ADMIN; is another process bound to queue" + name_of(queue_) +
                    "?)";
        throw_errno(err, what);
    }
    configure();
}

NfQueue::~NfQueue() = default;

void NfQueue::configure() {
    nfq_q_handle* qh = qh_.get();
    if (nfq_set_mode(qh, NFQNL_COPY_PACKET, COPY_RANGE_BYTES) < 0)
        throw_errno(saved_errno(), "nfq_set_mode" + name_of(queue_));
    if (nfq_set_queue_maxlen(qh, MAX_QUEUED_PACKETS) < 0)
        throw_errno(saved_errno(), "nfq_set_queue_maxlen" + name_of(queue_));
    // Fail open: when the queue is full or a message cannot be delivered to us, the kernel
    // accepts the packet instead of dropping it; the flow then simply goes unproxied.
    if (nfq_set_queue_flags(qh, NFQA_CFG_F_FAIL_OPEN, NFQA_CFG_F_FAIL_OPEN) < 0)
        throw_errno(saved_errno(), "nfq_set_queue_flags FAIL_OPEN" + name_of(queue_));
    // A burst of SYNs must not overrun the socket while we are busy with the table;
    // nfnl_rcvbufsiz tries SO_RCVBUFFORCE (root) before SO_RCVBUF and returns what it got.
    unsigned got = nfnl_rcvbufsiz(nfq_nfnlh(handle_.get()), RCVBUF_BYTES);
    LOG_INFO("queue %u: copy range %u bytes, max %u queued, receive buffer %u bytes", queue_,
             COPY_RANGE_BYTES, MAX_QUEUED_PACKETS, got);
}

int NfQueue::fd() const { return nfq_fd(handle_.get()); }

Receive NfQueue::receive_one() {
    ssize_t n = recv(fd(), buf_.data(), buf_.size(), MSG_DONTWAIT);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return Receive::drained;
        if (errno == EINTR) return Receive::handled;
        if (errno == ENOBUFS) return Receive::overrun;
        throw_errno("recv netlink of queue" + name_of(queue_));
    }
    if (n == 0) return Receive::drained;
    nfq_handle_packet(handle_.get(), buf_.data(), int(n));
    if (handler_error_) std::rethrow_exception(std::exchange(handler_error_, nullptr));
    return Receive::handled;
}

int NfQueue::on_packet(nfq_q_handle*, nfgenmsg*, nfq_data* nfa, void* self) {
    auto* q = static_cast<NfQueue*>(self);
    const nfqnl_msg_packet_hdr* hdr = nfq_get_msg_packet_hdr(nfa);
    if (hdr == nullptr) return 0;  // without an id there is nothing to answer
    QueuedPacket p;
    p.id = ntohl(hdr->packet_id);
    p.mark = nfq_get_nfmark(nfa);
    unsigned char* data = nullptr;
    int len = nfq_get_payload(nfa, &data);
    if (len > 0) {
        p.data = data;
        p.len = size_t(len);
    }
    std::optional<uint32_t> mark;
    try {
        mark = q->handler_(p);
    } catch (...) {
        // Unwinding through libnetfilter_queue's C frames is not safe; answer the packet first
        // so it is not stranded, and let receive_one() rethrow.
        if (!q->handler_error_) q->handler_error_ = std::current_exception();
    }
    q->set_verdict(p.id, mark);
    return 0;
}

void NfQueue::set_verdict(uint32_t id, std::optional<uint32_t> mark) {
    int rc = mark ? nfq_set_verdict2(qh_.get(), id, NF_ACCEPT, *mark, 0, nullptr)
                  : nfq_set_verdict(qh_.get(), id, NF_ACCEPT, 0, nullptr);
    if (rc >= 0) return;
    // Not fatal: the kernel keeps the packet queued until we answer or the queue goes away.
    int err = errno;
    ++verdict_errors_;
    if (verdict_log_.allow(monotonic_ms()))
        LOG_WARN("queue %u: verdict for packet %u: %s (%llu more not logged)", queue_, id,
                 strerror(err), (unsigned long long)verdict_log_.suppressed());
}

}  // namespace pepsal::queuer
