// Sender side of pair mode: copies of the DATA a flow gave to its lanes, kept until the lane's
// TCP has them acknowledged, so that the data of a lane stuck in loss recovery can be sent
// again on another lane (reinjection).
//
// Why: each lane is its own TCP connection, and a lane that hits a retransmission timeout
// holds its unacknowledged bytes until it recovers, which over a 600 ms link with a full
// bottleneck queue took 2-3 s; the receiver delivers in order, so the whole flow stalled that
// long while the other lanes kept the link busy. A copy on a healthy lane arrives one one-way
// delay later. The receiver keeps whichever copy arrives first (ReorderBuffer ignores bytes
// it already has).
//
// Bytes acknowledged by a lane's TCP sit in the peer's kernel and will be read: their copy is
// dropped then, whatever lane carried it. So the store holds about the flow's bytes in flight,
// bounded by the peer's credit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <span>
#include <vector>

namespace pepsal::pair {

class SentChunks {
public:
    explicit SentChunks(size_t lanes) : lanes_(lanes) {}

    // `bytes` (stream offset `offset`) went to `lane` at `sent_ms` as a frame whose last byte
    // is the lane's byte number `lane_end` (counting every byte the engine gave that lane).
    // Copies them.
    void add(size_t lane, uint64_t offset, std::span<const uint8_t> bytes, uint64_t lane_end,
             uint64_t sent_ms = 0);
    // The lane's TCP acknowledged the first `acked` bytes the engine gave it.
    void acked(size_t lane, uint64_t acked);
    // Queues the oldest `max_chunks` chunks `lane` still holds unacknowledged and has not
    // queued yet for sending on another lane (each at most once per lane it was stuck on).
    // Returns the bytes queued.
    uint64_t reinject(size_t lane, size_t max_chunks = SIZE_MAX);
    // Queues, like reinject(), every chunk `lane` holds unacknowledged that went to it at or
    // before `cutoff_ms`. Returns the bytes queued.
    uint64_t reinject_sent_before(size_t lane, uint64_t cutoff_ms);
    // When the oldest chunk `lane` holds unacknowledged and not yet queued went to it, if any.
    std::optional<uint64_t> oldest_unqueued_ms(size_t lane) const;

    struct Chunk {
        uint64_t offset;
        std::span<const uint8_t> bytes;  // valid until the next non-const call
    };
    // The next queued chunk to send again (still unacknowledged), or nothing.
    std::optional<Chunk> next_reinjection();
    // next_reinjection()'s chunk went to `lane` at `sent_ms`, as its bytes up to `lane_end`.
    void reinjected(size_t lane, uint64_t lane_end, uint64_t sent_ms = 0);
    // Drops the chunk next_reinjection() returned without sending it.
    void skip_reinjection();

    uint64_t bytes() const { return bytes_; }  // payload bytes held
    bool empty() const { return chunks_.empty(); }
    bool reinjection_queued() const;
    uint64_t reinjected_bytes() const { return reinjected_bytes_; }  // sent again, in total

private:
    struct Ref {
        uint64_t offset;
        uint64_t lane_end;
        uint64_t sent_ms;
        bool queued = false;  // already queued for reinjection from this lane
    };
    void drop_dead_queue_head();
    uint64_t queue(Ref& ref);

    std::map<uint64_t, std::vector<uint8_t>> chunks_;  // offset -> payload
    std::vector<std::deque<Ref>> lanes_;               // per lane, in lane byte order
    std::deque<uint64_t> queue_;                       // offsets to send again
    uint64_t bytes_ = 0;
    uint64_t reinjected_bytes_ = 0;
};

}  // namespace pepsal::pair
