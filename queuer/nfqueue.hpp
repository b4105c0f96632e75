// Owner of one NFQUEUE binding (libnetfilter_queue): configures the queue, reads the netlink
// socket without blocking and hands every queued packet to a handler that decides its mark.
// Every packet gets NF_ACCEPT: pepsal only observes SYNs, it never drops one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "rate_limit.hpp"

struct nfq_handle;
struct nfq_q_handle;
struct nfq_data;
struct nfgenmsg;

namespace pepsal::queuer {

// One packet as the kernel queued it.
struct QueuedPacket {
    uint32_t id = 0;
    uint32_t mark = 0;              // the packet's mark when it was queued
    const uint8_t* data = nullptr;  // from the layer-3 header; at most COPY_RANGE_BYTES
    size_t len = 0;                 // bytes captured, which may be fewer than the packet has
};

enum class Receive {
    handled,  // one datagram read; its packets got their verdicts
    drained,  // nothing more to read now
    overrun,  // ENOBUFS: the kernel could not deliver some packets (fail-open accepted them)
};

class NfQueue {
public:
    static constexpr uint32_t COPY_RANGE_BYTES = 256;     // IP + TCP headers with options fit
    static constexpr uint32_t MAX_QUEUED_PACKETS = 4096;  // beyond this the kernel fails open
    static constexpr int RCVBUF_BYTES = 8 << 20;

    // Returns the mark the packet leaves with, or std::nullopt to leave its mark untouched.
    using Handler = std::function<std::optional<uint32_t>(const QueuedPacket&)>;

    // Binds queue `queue` and configures it. Throws std::system_error naming the call and the
    // queue number. The netlink socket is close-on-exec and non-blocking.
    NfQueue(uint16_t queue, Handler handler);
    ~NfQueue();
    NfQueue(const NfQueue&) = delete;
    NfQueue& operator=(const NfQueue&) = delete;

    int fd() const;
    uint16_t queue() const { return queue_; }
    // Reads at most one datagram without blocking and sets the verdict of every packet in it.
    // Throws std::system_error for a receive error other than EAGAIN/EINTR/ENOBUFS, and
    // rethrows what the handler threw once the packets of that datagram have been accepted.
    Receive receive_one();
    // Verdicts the kernel refused (the packet then waits in the queue until the queue closes).
    uint64_t verdict_errors() const { return verdict_errors_; }

private:
    struct HandleCloser {
        void operator()(nfq_handle* h) const;
    };
    struct QueueDestroyer {
        void operator()(nfq_q_handle* q) const;
    };

    static int on_packet(nfq_q_handle* qh, nfgenmsg* msg, nfq_data* nfa, void* self);
    void configure();
    void set_verdict(uint32_t id, std::optional<uint32_t> mark);

    uint16_t queue_;
    Handler handler_;
    std::unique_ptr<nfq_handle, HandleCloser> handle_;
    std::unique_ptr<nfq_q_handle, QueueDestroyer> qh_;  // destroyed before handle_
    std::vector<char> buf_;
    std::exception_ptr handler_error_;
    uint64_t verdict_errors_ = 0;
    RateLimit verdict_log_{1000};  // ms
};

}  // namespace pepsal::queuer
