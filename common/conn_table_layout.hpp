// Private to the connection table: the structures laid out in the shared-memory segment.
//
// Segment = Header | bitmap of used slots (uint64_t words) | index (open-addressing hash of
// slot numbers, keyed by client endpoint) | Slot array. Every offset is derived from the
// capacity alone, so every process computes the same layout.
//
// The slot's `state` is the only source of truth; the bitmap and the index are derived from it
// and rebuilt by whoever inherits the lock from a dead process (see conn_table_store.hpp).
#pragma once

#include <pthread.h>
#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "syn_record.hpp"

namespace pepsal::conn_table {

inline constexpr uint64_t TABLE_MAGIC = 0x42547361'6c706570;  // "pepsalTB" little-endian
// Bump whenever Header or Slot changes: a segment left by an older build is then refused.
inline constexpr uint32_t LAYOUT_VERSION = 2;  // 2: pair lane counters
inline constexpr uint32_t MAX_CAPACITY = 1u << 20;  // slots; keeps the segment under ~400 MiB
inline constexpr uint32_t INDEX_EMPTY = UINT32_MAX;
inline constexpr size_t CACHE_LINE_BYTES = 64;

struct Counters {
    std::atomic<uint64_t> inserted;
    std::atomic<uint64_t> duplicates;
    std::atomic<uint64_t> full;
    std::atomic<uint64_t> claimed;
    std::atomic<uint64_t> missed;
    std::atomic<uint64_t> expired;
    std::atomic<uint64_t> orphaned;
    std::atomic<uint64_t> malformed_syns;
    std::atomic<uint64_t> recoveries;
    std::atomic<uint64_t> lanes_opened;
    std::atomic<uint64_t> lanes_returned;
};

// The first four fields never move between layout versions: create() reads the creator of a
// segment of any version to decide whether it may replace it.
struct Header {
    // Stored last by create(), so a half-built segment never validates.
    std::atomic<uint64_t> magic;
    uint32_t version;
    int32_t creator_pid;
    uint64_t creator_start;  // /proc/PID/stat field 22 (clock ticks since boot): detects pid reuse
    uint64_t segment_bytes;
    uint32_t capacity;
    uint32_t index_size;  // power of two, >= 2 * capacity so probes stay short
    uint32_t slot_bytes;  // sizeof(Slot) of the creating build
    uint32_t free_hint;   // bitmap word where the last free slot was found; derived, lock held
    // Random SipHash key: clients choose their addresses and ports; they must not be able to
    // choose index collisions.
    uint8_t hash_key[16];
    alignas(CACHE_LINE_BYTES) pthread_mutex_t mutex;  // robust, process-shared
    alignas(CACHE_LINE_BYTES) Counters counters;
};

struct Slot {
    std::atomic<uint32_t> state;  // SlotState; published with release after the fields below
    int32_t owner;                // worker pid while active
    uint64_t owner_start;         // worker start time (0: unknown) while active
    uint64_t generation;          // bumped on every publish, so collect() can detect reuse
    uint64_t hash;                // of syn.client under Header::hash_key
    uint64_t syn_ms;
    uint64_t active_ms;
    std::atomic<uint64_t> bytes_to_dest;
    std::atomic<uint64_t> bytes_to_client;
    SynRecord syn;
};

// The segment is shared by separately compiled processes and may be left behind by a killed
// one: everything in it must be plain bytes, with atomics that need no lock of their own.
static_assert(std::is_trivially_copyable_v<SynRecord> && std::is_standard_layout_v<SynRecord>);
static_assert(std::is_trivially_copyable_v<Header> && std::is_standard_layout_v<Header>);
static_assert(std::is_trivially_copyable_v<Slot> && std::is_standard_layout_v<Slot>);
static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(std::atomic<uint32_t>::is_always_lock_free);
static_assert(sizeof(pid_t) == sizeof(int32_t));

// Where each part of a segment of a given capacity lives, in bytes from the start.
struct Layout {
    uint32_t capacity = 0;
    uint32_t bitmap_words = 0;
    uint32_t index_size = 0;
    size_t bitmap_offset = 0;
    size_t index_offset = 0;
    size_t slots_offset = 0;
    size_t total_bytes = 0;

    static Layout for_capacity(uint32_t capacity);
};

}  // namespace pepsal::conn_table
