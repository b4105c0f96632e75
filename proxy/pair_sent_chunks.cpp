#include "pair_sent_chunks.hpp"

#include <stdexcept>

namespace pepsal::pair {

void SentChunks::add(size_t lane, uint64_t offset, std::span<const uint8_t> bytes, uint64_t lane_end,
                     uint64_t sent_ms) {
    auto [it, inserted] = chunks_.try_emplace(offset, bytes.begin(), bytes.end());
    if (!inserted) throw std::logic_error("SentChunks::add: offset sent twice as new data");
    bytes_ += bytes.size();
    lanes_.at(lane).push_back(Ref{offset, lane_end, sent_ms});
}

void SentChunks::acked(size_t lane, uint64_t acked) {
    auto& refs = lanes_.at(lane);
    while (!refs.empty() && refs.front().lane_end <= acked) {
        // Another lane may have delivered it already: then it is gone.
        if (auto it = chunks_.find(refs.front().offset); it != chunks_.end()) {
            bytes_ -= it->second.size();
            chunks_.erase(it);
        }
        refs.pop_front();
    }
}

// Marks `ref` queued; queues its chunk if it is still held. Returns the bytes queued.
uint64_t SentChunks::queue(Ref& ref) {
    ref.queued = true;
    auto it = chunks_.find(ref.offset);
    if (it == chunks_.end()) return 0;
    queue_.push_back(ref.offset);
    return it->second.size();
}

uint64_t SentChunks::reinject(size_t lane, size_t max_chunks) {
    uint64_t queued = 0;
    size_t count = 0;
    for (Ref& ref : lanes_.at(lane)) {
        if (count == max_chunks) break;
        if (ref.queued) continue;
        ++count;
        queued += queue(ref);
    }
    return queued;
}

uint64_t SentChunks::reinject_sent_before(size_t lane, uint64_t cutoff_ms) {
    uint64_t queued = 0;
    for (Ref& ref : lanes_.at(lane)) {
        if (ref.sent_ms > cutoff_ms) break;  // in lane order, which is the order sent
        if (!ref.queued) queued += queue(ref);
    }
    return queued;
}

std::optional<uint64_t> SentChunks::oldest_unqueued_ms(size_t lane) const {
    for (const Ref& ref : lanes_.at(lane))
        if (!ref.queued && chunks_.count(ref.offset)) return ref.sent_ms;
    return std::nullopt;
}

void SentChunks::drop_dead_queue_head() {
    while (!queue_.empty() && !chunks_.count(queue_.front())) queue_.pop_front();
}

bool SentChunks::reinjection_queued() const {
    for (uint64_t offset : queue_)
        if (chunks_.count(offset)) return true;
    return false;
}

std::optional<SentChunks::Chunk> SentChunks::next_reinjection() {
    drop_dead_queue_head();
    if (queue_.empty()) return std::nullopt;
    const auto& bytes = chunks_.at(queue_.front());
    return Chunk{queue_.front(), std::span(bytes.data(), bytes.size())};
}

void SentChunks::reinjected(size_t lane, uint64_t lane_end, uint64_t sent_ms) {
    drop_dead_queue_head();
    if (queue_.empty()) throw std::logic_error("SentChunks::reinjected: nothing queued");
    uint64_t offset = queue_.front();
    queue_.pop_front();
    reinjected_bytes_ += chunks_.at(offset).size();
    lanes_.at(lane).push_back(Ref{offset, lane_end, sent_ms});
}

void SentChunks::skip_reinjection() {
    drop_dead_queue_head();
    if (!queue_.empty()) queue_.pop_front();
}

}  // namespace pepsal::pair
