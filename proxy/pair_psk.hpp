// The pre-shared key of pair mode: both instances hold the same key file, and every lane
// proves knowledge of it (pair_handshake.hpp). The key's bytes are used as they are, as the
// HMAC key, so hex text and raw bytes both work.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace pepsal::pair {

constexpr size_t MIN_PSK_BYTES = 32;
constexpr size_t MAX_PSK_BYTES = 4096;  // a larger "key file" is most likely the wrong file

struct PskError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Move-only; the key bytes are wiped from memory when the object dies.
class Psk {
public:
    // Throws PskError if `key` is shorter than MIN_PSK_BYTES or longer than MAX_PSK_BYTES.
    explicit Psk(std::span<const uint8_t> key);
    Psk(Psk&&) noexcept = default;
    Psk& operator=(Psk&& o) noexcept;
    Psk(const Psk&) = delete;
    Psk& operator=(const Psk&) = delete;
    ~Psk();

    std::span<const uint8_t> bytes() const { return key_; }

private:
    void wipe() noexcept;

    std::vector<uint8_t> key_;
};

// Reads the key file at `path`: one trailing "\n" is stripped, the rest is the key. Refuses
// (PskError naming the path) a file that is not a regular file, whose mode lets group or
// others read or write it (mode & 077), or whose key is shorter than MIN_PSK_BYTES; a failed
// open/fstat/read throws std::system_error naming the call and the path.
Psk load_psk(const std::string& path);

}  // namespace pepsal::pair
