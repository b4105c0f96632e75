// Setup failures are std::system_error naming the call and the object it acted on.
#pragma once

#include <cerrno>
#include <string>
#include <system_error>

namespace pepsal {

// Throws std::system_error(errno) with `what` (e.g. "bind [::]:5000").
[[noreturn]] inline void throw_errno(const std::string& what) {
    throw std::system_error(errno, std::generic_category(), what);
}

[[noreturn]] inline void throw_errno(int err, const std::string& what) {
    throw std::system_error(err, std::generic_category(), what);
}

}  // namespace pepsal
