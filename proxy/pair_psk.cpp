#include "pair_psk.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>

#include "error.hpp"
#include "pair_sodium.hpp"
#include "unique_fd.hpp"

namespace pepsal::pair {

namespace {

std::string octal_mode(mode_t mode) {
    char text[8];
    std::snprintf(text, sizeof text, "%04o", unsigned(mode & 07777));
    return text;
}

// Refuses what must not be used as a key file, before a byte of it is read.
void check_file(int fd, const std::string& path) {
    struct stat st {};
    if (::fstat(fd, &st) < 0) throw_errno("fstat " + path);
    if (!S_ISREG(st.st_mode)) throw PskError(path + ": not a regular file");
    if (st.st_mode & 077)
        throw PskError(path + ": mode " + octal_mode(st.st_mode) +
                       " lets group or others access the pre-shared key; chmod 600 it");
}

// Reads up to buf.size() bytes, or to EOF; returns the count.
size_t read_all(int fd, std::span<uint8_t> buf, const std::string& path) {
    size_t got = 0;
    while (got < buf.size()) {
        ssize_t n = ::read(fd, buf.data() + got, buf.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw_errno("read " + path);
        if (n == 0) break;
        got += size_t(n);
    }
    return got;
}

// Key bytes read into a stack buffer must not outlive it, whichever way the function exits.
struct WipeOnExit {
    std::span<uint8_t> bytes;
    ~WipeOnExit() { sodium_memzero(bytes.data(), bytes.size()); }
};

}  // namespace

Psk::Psk(std::span<const uint8_t> key) {
    if (key.size() < MIN_PSK_BYTES)
        throw PskError("pre-shared key of " + std::to_string(key.size()) +
                       " bytes; at least " + std::to_string(MIN_PSK_BYTES) + " are needed");
    if (key.size() > MAX_PSK_BYTES)
        throw PskError("pre-shared key of " + std::to_string(key.size()) +
                       " bytes; at most " + std::to_string(MAX_PSK_BYTES) + " are accepted");
    key_.assign(key.begin(), key.end());
}

Psk& Psk::operator=(Psk&& o) noexcept {
    if (this != &o) {
        wipe();
        key_ = std::move(o.key_);
    }
    return *this;
}

Psk::~Psk() { wipe(); }

void Psk::wipe() noexcept {
    if (!key_.empty()) sodium_memzero(key_.data(), key_.size());
}

Psk load_psk(const std::string& path) {
    ensure_sodium();  // sodium_memzero, and the handshake that will use the key
    // O_NONBLOCK: a FIFO put in place of the key file must not hang startup.
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (!fd) throw_errno("open " + path);
    check_file(fd.get(), path);
    // Room for the largest key, its newline and one byte more to tell "too large".
    std::array<uint8_t, MAX_PSK_BYTES + 2> buf;
    WipeOnExit wipe_buf{buf};
    size_t n = read_all(fd.get(), buf, path);
    size_t key_bytes = (n > 0 && buf[n - 1] == '\n') ? n - 1 : n;
    try {
        return Psk(std::span<const uint8_t>(buf.data(), key_bytes));
    } catch (const PskError& e) {
        throw PskError(path + ": " + e.what());
    }
}

}  // namespace pepsal::pair
