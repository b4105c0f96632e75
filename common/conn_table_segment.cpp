#include "conn_table_segment.hpp"

#include <sodium.h>
#include <unistd.h>

#include <boost/interprocess/shared_memory_object.hpp>
#include <stdexcept>

#include "conn_table_process.hpp"
#include "log.hpp"

namespace pepsal::conn_table {

namespace bip = boost::interprocess;

namespace {

constexpr unsigned SEGMENT_MODE = 0600;  // it holds a lock every pepsal process depends on

std::string seg(const std::string& name) {
    return "shared memory segment /" + name;
}

[[noreturn]] void rethrow(const bip::interprocess_exception& e, const std::string& what) {
    throw std::runtime_error(what + ": " + e.what());
}

void check_name(const std::string& name) {
    if (name.empty() || name.size() > 200 || name.find('/') != std::string::npos)
        throw std::invalid_argument(seg(name) + ": a name is 1-200 characters without '/'");
    if (sodium_init() < 0) throw std::runtime_error("sodium_init failed");
}

// Unlinks the segment unless dismissed: a half-built segment must not outlive a failed create.
class RemoveOnFailure {
  public:
    explicit RemoveOnFailure(const std::string& name) : name_(name) {}
    ~RemoveOnFailure() {
        if (!dismissed_) remove_segment(name_);
    }
    void dismiss() { dismissed_ = true; }

  private:
    const std::string& name_;
    bool dismissed_ = false;
};

// Throws if the creator of an existing segment `name` still runs; removes a stale segment.
void remove_if_stale(const std::string& name) {
    bip::shared_memory_object shm;
    try {
        shm = bip::shared_memory_object(bip::open_only, name.c_str(), bip::read_only);
    } catch (const bip::interprocess_exception& e) {
        if (e.get_error_code() == bip::not_found_error) return;
        rethrow(e, "open " + seg(name));
    }
    bip::offset_t size = 0;
    pid_t pid = 0;
    uint64_t start = 0;
    if (shm.get_size(size) && size >= bip::offset_t(sizeof(Header))) {
        bip::mapped_region region(shm, bip::read_only, 0, sizeof(Header));
        const auto* h = static_cast<const Header*>(region.get_address());
        pid = h->creator_pid;
        start = h->creator_start;
    }
    if (pid > 0 && process_alive(pid, start))
        throw std::runtime_error(seg(name) + " is in use by pepsal pid " + std::to_string(pid));
    if (pid > 0)
        LOG_NOTICE("%s: replacing the segment left by pid %d, which is gone", seg(name).c_str(),
                   int(pid));
    else
        LOG_NOTICE("%s: replacing a segment that names no creator", seg(name).c_str());
    remove_segment(name);
}

void validate(const Header& h, bip::offset_t size, const std::string& name) {
    if (h.magic.load(std::memory_order_acquire) != TABLE_MAGIC)
        throw std::runtime_error(seg(name) +
                                 " is not a pepsal connection table (or is still being created)");
    if (h.version != LAYOUT_VERSION)
        throw std::runtime_error(seg(name) + " has layout version " + std::to_string(h.version) +
                                 ", this build expects " + std::to_string(LAYOUT_VERSION) +
                                 " (restart every pepsal process)");
    Layout l = Layout::for_capacity(h.capacity);
    if (h.capacity == 0 || h.capacity > MAX_CAPACITY || h.slot_bytes != sizeof(Slot) ||
        h.index_size != l.index_size || h.segment_bytes != l.total_bytes ||
        bip::offset_t(l.total_bytes) > size)
        throw std::runtime_error(seg(name) + " has an inconsistent size or capacity (capacity " +
                                 std::to_string(h.capacity) + ", " + std::to_string(size) +
                                 " bytes)");
}

}  // namespace

Segment create_segment(const std::string& name, uint32_t capacity) {
    check_name(name);
    if (capacity == 0 || capacity > MAX_CAPACITY)
        throw std::invalid_argument(seg(name) + ": capacity " + std::to_string(capacity) +
                                    " is outside 1.." + std::to_string(MAX_CAPACITY));
    remove_if_stale(name);
    bip::shared_memory_object shm;
    try {
        shm = bip::shared_memory_object(bip::create_only, name.c_str(), bip::read_write,
                                        bip::permissions(SEGMENT_MODE));
    } catch (const bip::interprocess_exception& e) {
        if (e.get_error_code() == bip::already_exists_error)
            throw std::runtime_error(seg(name) + " was just created by another process");
        rethrow(e, "create " + seg(name));
    }
    RemoveOnFailure guard(name);
    Layout layout = Layout::for_capacity(capacity);
    Segment s;
    s.name = name;
    try {
        shm.truncate(bip::offset_t(layout.total_bytes));
        s.region = bip::mapped_region(shm, bip::read_write);
    } catch (const bip::interprocess_exception& e) {
        rethrow(
            e, "size and map " + seg(name) + " (" + std::to_string(layout.total_bytes) + " bytes)");
    }
    s.store = Store(s.region.get_address(), layout);
    uint8_t key[16];
    randombytes_buf(key, sizeof key);
    pid_t self = getpid();
    s.store.initialize(self, process_start_time(self), key);
    s.store.header().magic.store(TABLE_MAGIC, std::memory_order_release);
    guard.dismiss();
    return s;
}

Segment attach_segment(const std::string& name) {
    check_name(name);
    bip::shared_memory_object shm;
    try {
        shm = bip::shared_memory_object(bip::open_only, name.c_str(), bip::read_write);
    } catch (const bip::interprocess_exception& e) {
        if (e.get_error_code() == bip::not_found_error)
            throw std::runtime_error(seg(name) + " does not exist (is pepsal running?)");
        rethrow(e, "open " + seg(name));
    }
    bip::offset_t size = 0;
    if (!shm.get_size(size) || size < bip::offset_t(sizeof(Header)))
        throw std::runtime_error(seg(name) + " is too small (" + std::to_string(size) +
                                 " bytes) to be a pepsal connection table");
    Segment s;
    s.name = name;
    try {
        s.region = bip::mapped_region(shm, bip::read_write);
    } catch (const bip::interprocess_exception& e) {
        rethrow(e, "map " + seg(name));
    }
    const auto& header = *static_cast<const Header*>(s.region.get_address());
    validate(header, size, name);
    s.store = Store(s.region.get_address(), Layout::for_capacity(header.capacity));
    return s;
}

void remove_segment(const std::string& name) {
    bip::shared_memory_object::remove(name.c_str());
}

}  // namespace pepsal::conn_table
