// The handshake nonces this process's initiators have in flight. An acceptor that receives a
// HELLO carrying one of them is talking to this very process (a lane looped back, by mistake
// or by someone in the middle) and must refuse it: with a single shared key, nothing else in
// the handshake tells the two instances apart.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <set>

namespace pepsal::pair {

constexpr size_t NONCE_BYTES = 32;
using Nonce = std::array<uint8_t, NONCE_BYTES>;

// Thread-safe. Holds only nonces of handshakes in progress, so it stays small.
class NonceRegistry {
public:
    void add(const Nonce& nonce);
    void remove(const Nonce& nonce);
    bool contains(const Nonce& nonce) const;
    size_t size() const;

private:
    mutable std::mutex mutex_;
    std::set<Nonce> nonces_;  // nonces are public values: ordinary comparison is fine
};

// Keeps one nonce in a registry from construction until release() or destruction. Move-only.
class NonceClaim {
public:
    NonceClaim(NonceRegistry& registry, const Nonce& nonce);
    NonceClaim(NonceClaim&& o) noexcept;
    NonceClaim& operator=(NonceClaim&& o) noexcept;
    NonceClaim(const NonceClaim&) = delete;
    NonceClaim& operator=(const NonceClaim&) = delete;
    ~NonceClaim() { release(); }

    void release() noexcept;

private:
    NonceRegistry* registry_;  // nullptr once released
    Nonce nonce_;
};

}  // namespace pepsal::pair
