#include "pair_sodium.hpp"

#include <sodium.h>

#include <stdexcept>

namespace pepsal::pair {

void ensure_sodium() {
    // sodium_init() returns 1 when already initialised, which is fine too.
    static const int result = sodium_init();
    if (result < 0) throw std::runtime_error("sodium_init failed: libsodium is unusable");
}

}  // namespace pepsal::pair
