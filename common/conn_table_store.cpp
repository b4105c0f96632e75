#include "conn_table_store.hpp"

#include <sodium.h>

#include <algorithm>
#include <bit>
#include <cstring>

#include "conn_table_test_hook.hpp"
#include "error.hpp"
#include "log.hpp"

namespace pepsal::conn_table {

namespace {

// The one process-local mutable global besides the table itself, and only tests set it.
test::Hook g_hook = nullptr;

void hook(test::Point point) {
    if (g_hook) g_hook(point);
}

size_t round_up(size_t n, size_t align) {
    return (n + align - 1) / align * align;
}

}  // namespace

void test::set_hook(Hook h) {
    g_hook = h;
}

Layout Layout::for_capacity(uint32_t capacity) {
    Layout l;
    l.capacity = capacity;
    l.bitmap_words = (capacity + 63) / 64;
    l.index_size = std::bit_ceil(2 * capacity);
    l.bitmap_offset = round_up(sizeof(Header), CACHE_LINE_BYTES);
    l.index_offset =
        round_up(l.bitmap_offset + l.bitmap_words * sizeof(uint64_t), CACHE_LINE_BYTES);
    l.slots_offset = round_up(l.index_offset + l.index_size * sizeof(uint32_t), CACHE_LINE_BYTES);
    l.total_bytes = l.slots_offset + size_t(capacity) * sizeof(Slot);
    return l;
}

Store::Store(void* base, const Layout& layout)
    : header_(static_cast<Header*>(base)),
      bitmap_(reinterpret_cast<uint64_t*>(static_cast<char*>(base) + layout.bitmap_offset)),
      index_(reinterpret_cast<uint32_t*>(static_cast<char*>(base) + layout.index_offset)),
      slots_(reinterpret_cast<Slot*>(static_cast<char*>(base) + layout.slots_offset)),
      capacity_(layout.capacity),
      bitmap_words_(layout.bitmap_words),
      index_mask_(layout.index_size - 1) {}

void Store::initialize(pid_t creator_pid, uint64_t creator_start, const uint8_t (&key)[16]) {
    Header& h = *header_;
    h.version = LAYOUT_VERSION;
    h.creator_pid = creator_pid;
    h.creator_start = creator_start;
    h.capacity = capacity_;
    h.index_size = index_mask_ + 1;
    h.slot_bytes = sizeof(Slot);
    h.segment_bytes = Layout::for_capacity(capacity_).total_bytes;
    h.free_hint = 0;
    std::memcpy(h.hash_key, key, sizeof h.hash_key);
    std::fill(index_, index_ + index_mask_ + 1, INDEX_EMPTY);

    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    int rc = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    if (rc == 0) rc = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    if (rc == 0) rc = pthread_mutex_init(&h.mutex, &attr);
    pthread_mutexattr_destroy(&attr);
    if (rc != 0) throw_errno(rc, "pthread_mutex_init (robust, process-shared)");
}

uint64_t Store::hash(const Endpoint& client) const {
    // Exactly the bytes operator== compares, so equal endpoints hash equally.
    uint8_t key[2 + 2 + 16] = {};
    size_t len = 2;
    uint16_t family = uint16_t(client.family());
    std::memcpy(key, &family, 2);
    if (client.family() == AF_INET || client.family() == AF_INET6) {
        uint16_t port = client.port();
        std::memcpy(key + 2, &port, 2);
        size_t addr_len = client.family() == AF_INET ? 4 : 16;
        std::memcpy(key + 4, client.addr_bytes(), addr_len);
        len = 4 + addr_len;
    }
    uint64_t out = 0;
    static_assert(crypto_shorthash_BYTES == sizeof out && crypto_shorthash_KEYBYTES == 16);
    crypto_shorthash(reinterpret_cast<unsigned char*>(&out), key, len, header_->hash_key);
    return out;
}

std::optional<uint32_t> Store::find(const Endpoint& client, uint64_t hash) const {
    uint32_t pos = uint32_t(hash) & index_mask_;
    for (uint32_t probes = 0; probes <= index_mask_; ++probes, pos = (pos + 1) & index_mask_) {
        uint32_t i = index_[pos];
        if (i == INDEX_EMPTY) return std::nullopt;
        if (i < capacity_ && slots_[i].hash == hash && slots_[i].syn.client == client) return i;
    }
    return std::nullopt;
}

uint64_t Store::tail_mask() const {
    uint32_t used_bits = capacity_ % 64;
    return used_bits == 0 ? 0 : ~uint64_t(0) << used_bits;
}

std::optional<uint32_t> Store::find_free() {
    uint32_t start = header_->free_hint < bitmap_words_ ? header_->free_hint : 0;
    for (uint32_t k = 0; k < bitmap_words_; ++k) {
        uint32_t w = (start + k) % bitmap_words_;
        uint64_t bits = bitmap_[w] | (w == bitmap_words_ - 1 ? tail_mask() : 0);
        if (bits == ~uint64_t(0)) continue;
        header_->free_hint = w;
        return w * 64 + uint32_t(std::countr_one(bits));
    }
    return std::nullopt;
}

void Store::fill(uint32_t i, const SynRecord& syn, uint64_t hash, uint64_t syn_ms) {
    Slot& s = slots_[i];
    s.owner = 0;
    s.owner_start = 0;
    s.hash = hash;
    s.syn_ms = syn_ms;
    s.active_ms = 0;
    s.bytes_to_dest.store(0, std::memory_order_relaxed);
    s.bytes_to_client.store(0, std::memory_order_relaxed);
    s.syn = syn;
}

void Store::publish(uint32_t i, SlotState state) {
    Slot& s = slots_[i];
    s.generation++;
    s.state.store(uint32_t(state), std::memory_order_release);
    bitmap_[i / 64] |= uint64_t(1) << (i % 64);
    hook(test::Point::published_before_index);
    index_insert(i);
}

void Store::own(uint32_t i, pid_t owner, uint64_t owner_start, uint64_t now_ms) {
    Slot& s = slots_[i];
    s.owner = owner;
    s.owner_start = owner_start;
    s.active_ms = now_ms;
}

void Store::activate(uint32_t i, pid_t owner, uint64_t owner_start, uint64_t now_ms) {
    Slot& s = slots_[i];
    own(i, owner, owner_start, now_ms);
    s.generation++;
    s.state.store(uint32_t(SlotState::active), std::memory_order_release);
}

void Store::release(uint32_t i) {
    slots_[i].state.store(uint32_t(SlotState::free), std::memory_order_release);
    hook(test::Point::freed_before_bitmap);
    bitmap_[i / 64] &= ~(uint64_t(1) << (i % 64));
    index_erase(i);
}

void Store::index_insert(uint32_t i) {
    uint32_t pos = uint32_t(slots_[i].hash) & index_mask_;
    while (index_[pos] != INDEX_EMPTY) pos = (pos + 1) & index_mask_;
    index_[pos] = i;
}

// Linear probing with backward-shift deletion: no tombstones, so lookups stay O(1) however
// long the table lives.
void Store::index_erase(uint32_t i) {
    uint32_t hole = uint32_t(slots_[i].hash) & index_mask_;
    while (index_[hole] != i) {
        if (index_[hole] == INDEX_EMPTY) {
            LOG_ERROR("connection table: slot %u missing from the index; rebuilding it", i);
            rebuild();
            return;
        }
        hole = (hole + 1) & index_mask_;
    }
    for (uint32_t j = (hole + 1) & index_mask_; index_[j] != INDEX_EMPTY;
         j = (j + 1) & index_mask_) {
        uint32_t home = uint32_t(slots_[index_[j]].hash) & index_mask_;
        // The entry at j may fill the hole unless its home lies cyclically in (hole, j].
        bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (!stays) {
            index_[hole] = index_[j];
            hole = j;
        }
    }
    index_[hole] = INDEX_EMPTY;
}

void Store::rebuild() {
    std::fill(bitmap_, bitmap_ + bitmap_words_, uint64_t(0));
    std::fill(index_, index_ + index_mask_ + 1, INDEX_EMPTY);
    header_->free_hint = 0;
    for (uint32_t i = 0; i < capacity_; ++i) {
        Slot& s = slots_[i];
        uint32_t state = s.state.load(std::memory_order_acquire);
        if (state != uint32_t(SlotState::pending) && state != uint32_t(SlotState::active)) {
            if (state != uint32_t(SlotState::free)) s.state.store(uint32_t(SlotState::free));
            continue;
        }
        s.hash = hash(s.syn.client);
        if (find(s.syn.client, s.hash)) {
            // Cannot happen while insert() checks for duplicates under the lock; keep one.
            LOG_ERROR("connection table: two slots for %s; freeing slot %u",
                      s.syn.client.to_string().c_str(), i);
            s.state.store(uint32_t(SlotState::free));
            continue;
        }
        bitmap_[i / 64] |= uint64_t(1) << (i % 64);
        index_insert(i);
    }
}

uint32_t Store::used() const {
    uint32_t n = 0;
    for (uint32_t w = 0; w < bitmap_words_; ++w) n += uint32_t(std::popcount(bitmap_[w]));
    return n;
}

FlowView Store::view(uint32_t i) const {
    const Slot& s = slots_[i];
    FlowView v;
    v.index = i;
    v.state = SlotState(s.state.load(std::memory_order_acquire));
    v.syn = s.syn;
    v.syn_ms = s.syn_ms;
    v.active_ms = s.active_ms;
    v.owner = s.owner;
    v.bytes_to_dest = s.bytes_to_dest.load(std::memory_order_relaxed);
    v.bytes_to_client = s.bytes_to_client.load(std::memory_order_relaxed);
    return v;
}

TableLock::TableLock(Store& store, const std::string& segment) : store_(store), segment_(segment) {
    pthread_mutex_t* m = &store.header().mutex;
    int rc = pthread_mutex_lock(m);
    if (rc == EOWNERDEAD) {
        store.rebuild();
        store.counters().recoveries.fetch_add(1, std::memory_order_relaxed);
        rc = pthread_mutex_consistent(m);
        if (rc != 0) pthread_mutex_unlock(m);
        recovered_ = true;
    }
    if (rc != 0) throw_errno(rc, "pthread_mutex_lock on shared memory segment /" + segment);
}

TableLock::~TableLock() {
    pthread_mutex_unlock(&store_.header().mutex);
    // Logged after unlocking: no I/O (syslog may block) while every pepsal process waits.
    if (recovered_)
        LOG_WARN("connection table /%s: a process died holding its lock; index rebuilt",
                 segment_.c_str());
}

}  // namespace pepsal::conn_table
