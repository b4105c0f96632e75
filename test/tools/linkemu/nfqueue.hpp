// One bound NFQUEUE: reads queued packets' ids and sizes, and hands verdicts back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

struct nfq_handle;
struct nfq_q_handle;
struct nfq_data;
struct nfgenmsg;

namespace pepsal::linkemu {

struct QueuedPacket {
    uint32_t id;          // kernel packet id: increases in queueing order
    uint32_t len;         // IP datagram length in bytes
    uint64_t arrival_ns;  // CLOCK_MONOTONIC; the kernel's receive stamp when it gave one
};

struct ReadResult {
    uint32_t packets = 0;
    uint32_t unstamped = 0;  // packets without a kernel receive stamp (read time used instead)
    bool enobufs = false;    // the socket overran: the kernel dropped notifications
    bool more = false;       // stopped at the batch limit with messages still waiting
};

class NfQueue {
  public:
    // Binds queue `num` in the current network namespace in "copy a few bytes" mode: only the
    // IP header's length field is needed. Throws std::system_error naming the queue.
    NfQueue(uint16_t num, uint32_t maxlen, int rcvbuf_bytes);
    ~NfQueue();
    NfQueue(const NfQueue&) = delete;
    NfQueue& operator=(const NfQueue&) = delete;

    int fd() const { return fd_; }
    uint16_t num() const { return num_; }

    // Reads, without blocking, the packets waiting on the socket (at most `max_packets`) and
    // appends them to `out` in queueing order.
    ReadResult read_pending(std::vector<QueuedPacket>& out, uint32_t max_packets);

    // Verdicts return false when the kernel would not take them (the packet is then dropped
    // when the queue is torn down; callers count it).
    bool drop(uint32_t id);
    // NF_ACCEPT for every packet awaiting a verdict whose id is <= `id`: one message releases a
    // whole run of due packets, which is what lets one thread keep up with 200 Mbit/s.
    bool accept_through(uint32_t id);

  private:
    static int on_packet(nfq_q_handle* qh, nfgenmsg* msg, nfq_data* nfad, void* self);

    static constexpr size_t BATCH_MSGS = 64;  // netlink messages per recvmmsg

    uint16_t num_;
    nfq_handle* handle_ = nullptr;  // owns the netlink socket fd_ (closed by nfq_close)
    nfq_q_handle* queue_ = nullptr;
    int fd_ = -1;
    std::vector<char> buffers_;  // BATCH_MSGS receive buffers
    // Per-read context for on_packet.
    std::vector<QueuedPacket>* sink_ = nullptr;
    ReadResult* result_ = nullptr;
    int64_t real_minus_mono_ns_ = 0;
    uint64_t read_time_ns_ = 0;
};

}  // namespace pepsal::linkemu
