// Private to the connection table: the operations on a mapped segment, and its lock.
//
// Crash-safety argument. One robust, process-shared mutex guards the bitmap, the index and
// every change of a slot's state. A slot's fields are written while it is free (or, for
// pending -> active, fields nobody reads while pending), then its state is published with a
// release store; freeing stores `free` first. So, whatever instruction a process is SIGKILLed
// at, every slot's state is valid and every non-free slot's fields are complete; only the
// bitmap and index can be half-updated. The next locker gets EOWNERDEAD, rebuilds both from
// the states (idempotent: if it dies too, the next one does it again), and marks the mutex
// consistent. Byte counters are relaxed atomics outside the lock: a lost worker can only
// leave a count, never a broken structure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "conn_table.hpp"
#include "conn_table_layout.hpp"
#include "endpoint.hpp"

namespace pepsal::conn_table {

// Typed view of one process's mapping of the segment. Unless noted, members require the
// TableLock to be held.
class Store {
  public:
    Store() = default;
    Store(void* base, const Layout& layout);

    // Lays out a new, zero-filled segment: creator, key, robust mutex, empty index. Leaves
    // Header::magic for the caller to publish last. Throws std::system_error on mutex setup.
    void initialize(pid_t creator_pid, uint64_t creator_start, const uint8_t (&key)[16]);

    Header& header() const { return *header_; }
    Counters& counters() const { return header_->counters; }
    Slot& slot(uint32_t i) const { return slots_[i]; }
    uint32_t capacity() const { return capacity_; }

    // No lock needed: the key never changes after create().
    uint64_t hash(const Endpoint& client) const;
    std::optional<uint32_t> find(const Endpoint& client, uint64_t hash) const;
    // A free slot (bitmap bit clear), or nullopt when the table is full. Does not take it.
    std::optional<uint32_t> find_free();
    // Writes the fields of free slot `i` (state unchanged): the first half of taking it.
    void fill(uint32_t i, const SynRecord& syn, uint64_t hash, uint64_t syn_ms);
    // Publishes `state` for a slot that fill() prepared, then adds it to bitmap and index.
    void publish(uint32_t i, SlotState state);
    // Writes the owner fields of slot `i` (state unchanged).
    void own(uint32_t i, pid_t owner, uint64_t owner_start, uint64_t now_ms);
    // Makes slot `i` (pending or active) active and owned by `owner`.
    void activate(uint32_t i, pid_t owner, uint64_t owner_start, uint64_t now_ms);
    // Frees slot `i`: state first, then bitmap and index.
    void release(uint32_t i);
    // Derives bitmap and index again from the slot states.
    void rebuild();
    uint32_t used() const;
    FlowView view(uint32_t i) const;

    // Calls f(slot) for every used slot; f may release the slot it is given.
    template <class F>
    void for_each_used(F&& f) const {
        for (uint32_t w = 0; w < bitmap_words_; ++w) {
            for (uint64_t bits = bitmap_[w]; bits != 0; bits &= bits - 1)
                f(w * 64 + uint32_t(__builtin_ctzll(bits)));
        }
    }

  private:
    void index_insert(uint32_t i);
    void index_erase(uint32_t i);
    uint64_t tail_mask() const;  // bits of the last bitmap word past the capacity

    Header* header_ = nullptr;
    uint64_t* bitmap_ = nullptr;
    uint32_t* index_ = nullptr;
    Slot* slots_ = nullptr;
    uint32_t capacity_ = 0;
    uint32_t bitmap_words_ = 0;
    uint32_t index_mask_ = 0;
};

// Holds the table mutex for its lifetime. If the previous holder died, rebuilds the derived
// structures first and counts a recovery. Throws std::system_error naming `segment` if the
// mutex is unusable.
class TableLock {
  public:
    TableLock(Store& store, const std::string& segment);
    ~TableLock();
    TableLock(const TableLock&) = delete;
    TableLock& operator=(const TableLock&) = delete;

  private:
    Store& store_;
    const std::string& segment_;
    bool recovered_ = false;
};

}  // namespace pepsal::conn_table
