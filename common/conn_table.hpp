// The connection table: a fixed array of slots in POSIX shared memory, shared by the queuer
// (inserts SYNs), the connmgr (collects garbage) and every proxy worker (claims its flow, counts
// bytes, releases). See conn_table.cpp for the layout and the crash-safety argument.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "syn_record.hpp"

namespace pepsal {

enum class SlotState : uint32_t {
    free = 0,
    pending = 1,  // SYN seen by the queuer, no worker yet
    active = 2,   // a proxy worker owns the flow
};

const char* to_string(SlotState s);

// A copy of one slot, for observers (`pepsal --status`) and for the worker that claims it.
struct FlowView {
    uint32_t index = 0;
    SlotState state = SlotState::free;
    SynRecord syn;
    uint64_t syn_ms = 0;     // monotonic_ms() when the SYN was seen (or the worker adopted it)
    uint64_t active_ms = 0;  // monotonic_ms() when a worker claimed it; 0 while pending
    pid_t owner = 0;         // worker pid while active
    uint64_t bytes_to_dest = 0;
    uint64_t bytes_to_client = 0;
};

// Monotonic event counters kept in the segment header.
struct TableStats {
    uint32_t capacity = 0;
    uint32_t used = 0;
    uint64_t inserted = 0;        // SYNs recorded
    uint64_t duplicates = 0;      // retransmitted SYNs for an endpoint already present
    uint64_t full = 0;            // SYNs refused because every slot was used
    uint64_t claimed = 0;         // workers that found their entry
    uint64_t missed = 0;          // workers that found none and fell back to the kernel's answer
    uint64_t expired = 0;         // pending entries collected after pending-timeout
    uint64_t orphaned = 0;        // active entries whose worker died without releasing
    uint64_t malformed_syns = 0;  // counted by the queuer (add_malformed)
    uint64_t recoveries = 0;      // times a process found the lock's previous owner dead
    uint64_t lanes_opened = 0;    // pair mode, near side: lanes authenticated to the peer
    uint64_t lanes_returned = 0;  // pair mode: lanes handed back after a flow, for the next one
};

class ConnTable {
public:
    enum class Insert { inserted, duplicate, full };

    // Creates segment `name` (a POSIX shm name without the leading '/') with `capacity` slots.
    // A segment left by a run whose creator is dead is replaced; one whose creator is alive
    // is an error (std::runtime_error naming the segment and the pid).
    static ConnTable create(const std::string& name, uint32_t capacity);
    // Maps an existing segment; throws std::runtime_error if missing or of another layout.
    static ConnTable attach(const std::string& name);
    // Unlinks the segment; no error if it does not exist.
    static void remove(const std::string& name);

    ConnTable(ConnTable&&) noexcept;
    ConnTable& operator=(ConnTable&&) noexcept;
    ~ConnTable();

    // Queuer: records a SYN as pending. A second SYN from the same client endpoint while its
    // entry exists (pending or active) is a duplicate and changes nothing.
    Insert insert(const SynRecord& syn, uint64_t now_ms);

    // Worker: finds the entry for `client`, marks it active and owned by `owner`, copies it to
    // `out`. std::nullopt when there is none (counted as missed).
    std::optional<uint32_t> claim(const Endpoint& client, pid_t owner, FlowView& out);
    // Worker without an entry: records the flow as active directly so it stays observable.
    // std::nullopt when the table is full.
    std::optional<uint32_t> adopt(const SynRecord& syn, pid_t owner, uint64_t now_ms);

    // Worker: byte counters of its slot (lock-free, relaxed).
    void add_bytes(uint32_t slot, uint64_t to_dest, uint64_t to_client);
    // Worker: frees its slot at the end of the flow. Only the owner may call it.
    void release(uint32_t slot, pid_t owner);

    // Connmgr after waitpid(): frees every slot `owner` still held. Returns how many.
    uint32_t release_owned_by(pid_t owner);
    // Frees pending entries older than `pending_timeout_ms` and active entries whose owner
    // process no longer exists. Returns how many slots were freed.
    uint32_t collect(uint64_t now_ms, uint64_t pending_timeout_ms);

    void add_malformed();
    void add_lanes_opened(uint64_t n);
    void add_lanes_returned(uint64_t n);
    std::vector<FlowView> snapshot() const;
    TableStats stats() const;
    uint32_t capacity() const;

private:
    struct Impl;
    explicit ConnTable(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace pepsal
