#include "pair_nonce_registry.hpp"

#include <utility>

namespace pepsal::pair {

void NonceRegistry::add(const Nonce& nonce) {
    std::lock_guard lock(mutex_);
    nonces_.insert(nonce);
}

void NonceRegistry::remove(const Nonce& nonce) {
    std::lock_guard lock(mutex_);
    nonces_.erase(nonce);
}

bool NonceRegistry::contains(const Nonce& nonce) const {
    std::lock_guard lock(mutex_);
    return nonces_.count(nonce) != 0;
}

size_t NonceRegistry::size() const {
    std::lock_guard lock(mutex_);
    return nonces_.size();
}

NonceClaim::NonceClaim(NonceRegistry& registry, const Nonce& nonce)
    : registry_(&registry), nonce_(nonce) {
    registry.add(nonce);
}

NonceClaim::NonceClaim(NonceClaim&& o) noexcept
    : registry_(std::exchange(o.registry_, nullptr)), nonce_(o.nonce_) {}

NonceClaim& NonceClaim::operator=(NonceClaim&& o) noexcept {
    if (this != &o) {
        release();
        registry_ = std::exchange(o.registry_, nullptr);
        nonce_ = o.nonce_;
    }
    return *this;
}

void NonceClaim::release() noexcept {
    // erase() does not allocate; only a broken mutex could throw, and terminating is then right.
    if (registry_) registry_->remove(nonce_);
    registry_ = nullptr;
}

}  // namespace pepsal::pair
