// The connection table's operations. The segment's layout is in conn_table_layout.hpp, the
// locking and crash-safety argument in conn_table_store.hpp, segment setup in
// conn_table_segment.cpp.
//
// Every operation that changes which slots are used, or a slot's state, holds the table lock
// for O(1) work (collect, snapshot and release_owned_by walk only the used slots). Anything
// slow - reading /proc to learn whether a worker lives - runs outside the lock.
#include "conn_table.hpp"

#include <map>
#include <utility>
#include <vector>

#include "clock.hpp"
#include "conn_table_process.hpp"
#include "conn_table_segment.hpp"

namespace pepsal {

using conn_table::Slot;
using conn_table::Store;
using conn_table::TableLock;

namespace {

constexpr auto RELAXED = std::memory_order_relaxed;

SlotState state_of(const Slot& s) {
    return SlotState(s.state.load(std::memory_order_acquire));
}

// May `owner` (started at `start`) take slot `s`, found for its client? A pending entry is
// free for the taking; an active one only if it is already the caller's or its worker died
// (then it counts as orphaned).
bool may_take(Store& store, const Slot& s, pid_t owner, uint64_t start) {
    if (state_of(s) != SlotState::active) return true;
    if (s.owner == owner && (s.owner_start == start || s.owner_start == 0 || start == 0))
        return true;
    if (conn_table::process_alive(s.owner, s.owner_start)) return false;
    store.counters().orphaned.fetch_add(1, RELAXED);
    return true;
}

// An active slot as collect() saw it; the generation tells whether it changed hands since.
struct Held {
    uint32_t slot;
    uint64_t generation;
    pid_t owner;
    uint64_t owner_start;
};

// Lock held: frees pending entries older than the timeout, lists the active ones in `held`.
uint32_t expire_pending(Store& store, uint64_t now_ms, uint64_t timeout_ms,
                        std::vector<Held>& held) {
    uint32_t expired = 0;
    store.for_each_used([&](uint32_t i) {
        const Slot& s = store.slot(i);
        SlotState state = state_of(s);
        if (state == SlotState::pending && now_ms > s.syn_ms && now_ms - s.syn_ms > timeout_ms) {
            store.release(i);
            ++expired;
        } else if (state == SlotState::active) {
            held.push_back({i, s.generation, s.owner, s.owner_start});
        }
    });
    return expired;
}

// No lock: keeps only the entries whose worker is gone, reading /proc once per worker.
void keep_dead(std::vector<Held>& held) {
    std::map<std::pair<pid_t, uint64_t>, bool> alive;
    std::erase_if(held, [&](const Held& h) {
        auto [it, fresh] = alive.try_emplace({h.owner, h.owner_start}, false);
        if (fresh) it->second = conn_table::process_alive(h.owner, h.owner_start);
        return it->second;
    });
}

// Lock held: frees the listed slots that no one took over meanwhile.
uint32_t free_unchanged(Store& store, const std::vector<Held>& dead) {
    uint32_t freed = 0;
    for (const Held& h : dead) {
        const Slot& s = store.slot(h.slot);
        if (state_of(s) != SlotState::active || s.generation != h.generation) continue;
        store.release(h.slot);
        ++freed;
    }
    return freed;
}

}  // namespace

const char* to_string(SlotState s) {
    switch (s) {
        case SlotState::free:
            return "free";
        case SlotState::pending:
            return "pending";
        case SlotState::active:
            return "active";
    }
    return "invalid";
}

struct ConnTable::Impl {
    conn_table::Segment segment;

    Store& store() { return segment.store; }
    const std::string& name() const { return segment.name; }
};

ConnTable::ConnTable(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ConnTable::ConnTable(ConnTable&&) noexcept = default;
ConnTable& ConnTable::operator=(ConnTable&&) noexcept = default;
ConnTable::~ConnTable() = default;

ConnTable ConnTable::create(const std::string& name, uint32_t capacity) {
    return ConnTable(std::make_unique<Impl>(Impl{conn_table::create_segment(name, capacity)}));
}

ConnTable ConnTable::attach(const std::string& name) {
    return ConnTable(std::make_unique<Impl>(Impl{conn_table::attach_segment(name)}));
}

void ConnTable::remove(const std::string& name) {
    conn_table::remove_segment(name);
}

ConnTable::Insert ConnTable::insert(const SynRecord& syn, uint64_t now_ms) {
    Store& store = impl_->store();
    uint64_t hash = store.hash(syn.client);
    TableLock lock(store, impl_->name());
    if (store.find(syn.client, hash)) {
        store.counters().duplicates.fetch_add(1, RELAXED);
        return Insert::duplicate;
    }
    auto slot = store.find_free();
    if (!slot) {
        store.counters().full.fetch_add(1, RELAXED);
        return Insert::full;
    }
    store.fill(*slot, syn, hash, now_ms);
    store.publish(*slot, SlotState::pending);
    store.counters().inserted.fetch_add(1, RELAXED);
    return Insert::inserted;
}

std::optional<uint32_t> ConnTable::claim(const Endpoint& client, pid_t owner, FlowView& out) {
    Store& store = impl_->store();
    uint64_t hash = store.hash(client);
    uint64_t start = conn_table::process_start_time(owner);
    uint64_t now = monotonic_ms();
    TableLock lock(store, impl_->name());
    auto slot = store.find(client, hash);
    if (!slot || !may_take(store, store.slot(*slot), owner, start)) {
        store.counters().missed.fetch_add(1, RELAXED);
        return std::nullopt;
    }
    store.activate(*slot, owner, start, now);
    store.counters().claimed.fetch_add(1, RELAXED);
    out = store.view(*slot);
    return slot;
}

// An entry that appeared for the client meanwhile (a retransmitted SYN) is taken over as in
// claim(); one held by another live worker makes adopt fail like a full table.
std::optional<uint32_t> ConnTable::adopt(const SynRecord& syn, pid_t owner, uint64_t now_ms) {
    Store& store = impl_->store();
    uint64_t hash = store.hash(syn.client);
    uint64_t start = conn_table::process_start_time(owner);
    TableLock lock(store, impl_->name());
    auto slot = store.find(syn.client, hash);
    if (slot) {
        if (!may_take(store, store.slot(*slot), owner, start)) return std::nullopt;
        store.activate(*slot, owner, start, now_ms);
        return slot;
    }
    slot = store.find_free();
    if (!slot) return std::nullopt;
    store.fill(*slot, syn, hash, now_ms);
    store.own(*slot, owner, start, now_ms);
    store.publish(*slot, SlotState::active);
    return slot;
}

void ConnTable::add_bytes(uint32_t slot, uint64_t to_dest, uint64_t to_client) {
    Store& store = impl_->store();
    if (slot >= store.capacity()) return;
    Slot& s = store.slot(slot);
    if (to_dest) s.bytes_to_dest.fetch_add(to_dest, RELAXED);
    if (to_client) s.bytes_to_client.fetch_add(to_client, RELAXED);
}

void ConnTable::release(uint32_t slot, pid_t owner) {
    Store& store = impl_->store();
    if (slot >= store.capacity()) return;
    TableLock lock(store, impl_->name());
    const Slot& s = store.slot(slot);
    if (state_of(s) == SlotState::active && s.owner == owner) store.release(slot);
}

uint32_t ConnTable::release_owned_by(pid_t owner) {
    Store& store = impl_->store();
    TableLock lock(store, impl_->name());
    uint32_t freed = 0;
    store.for_each_used([&](uint32_t i) {
        const Slot& s = store.slot(i);
        if (state_of(s) == SlotState::active && s.owner == owner) {
            store.release(i);
            ++freed;
        }
    });
    store.counters().orphaned.fetch_add(freed, RELAXED);
    return freed;
}

// Three steps so that no /proc read happens under the lock: list the active slots, ask
// whether their workers live, then free those still held by the same (dead) worker.
uint32_t ConnTable::collect(uint64_t now_ms, uint64_t pending_timeout_ms) {
    Store& store = impl_->store();
    std::vector<Held> held;
    uint32_t expired = 0;
    {
        TableLock lock(store, impl_->name());
        expired = expire_pending(store, now_ms, pending_timeout_ms, held);
    }
    store.counters().expired.fetch_add(expired, RELAXED);
    keep_dead(held);
    uint32_t orphaned = 0;
    if (!held.empty()) {
        TableLock lock(store, impl_->name());
        orphaned = free_unchanged(store, held);
    }
    store.counters().orphaned.fetch_add(orphaned, RELAXED);
    return expired + orphaned;
}

void ConnTable::add_malformed() {
    impl_->store().counters().malformed_syns.fetch_add(1, RELAXED);
}

void ConnTable::add_lanes_opened(uint64_t n) {
    impl_->store().counters().lanes_opened.fetch_add(n, RELAXED);
}

void ConnTable::add_lanes_returned(uint64_t n) {
    impl_->store().counters().lanes_returned.fetch_add(n, RELAXED);
}

std::vector<FlowView> ConnTable::snapshot() const {
    Store& store = impl_->store();
    TableLock lock(store, impl_->name());
    std::vector<FlowView> flows;
    flows.reserve(store.used());
    store.for_each_used([&](uint32_t i) { flows.push_back(store.view(i)); });
    return flows;
}

TableStats ConnTable::stats() const {
    Store& store = impl_->store();
    const conn_table::Counters& c = store.counters();
    TableStats t;
    t.capacity = store.capacity();
    {
        TableLock lock(store, impl_->name());
        t.used = store.used();
    }
    t.inserted = c.inserted.load(RELAXED);
    t.duplicates = c.duplicates.load(RELAXED);
    t.full = c.full.load(RELAXED);
    t.claimed = c.claimed.load(RELAXED);
    t.missed = c.missed.load(RELAXED);
    t.expired = c.expired.load(RELAXED);
    t.orphaned = c.orphaned.load(RELAXED);
    t.malformed_syns = c.malformed_syns.load(RELAXED);
    t.recoveries = c.recoveries.load(RELAXED);
    t.lanes_opened = c.lanes_opened.load(RELAXED);
    t.lanes_returned = c.lanes_returned.load(RELAXED);
    return t;
}

uint32_t ConnTable::capacity() const {
    return impl_->store().capacity();
}

}  // namespace pepsal
