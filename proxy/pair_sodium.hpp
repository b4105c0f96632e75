// libsodium must be initialised once per process before any of its functions is used.
#pragma once

namespace pepsal::pair {

// Calls sodium_init() the first time, from whichever thread comes first (C++ guarantees a
// function-local static is initialised exactly once); later calls cost one load.
// Throws std::runtime_error if libsodium cannot initialise (no entropy source).
void ensure_sodium();

}  // namespace pepsal::pair
