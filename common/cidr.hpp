// Matching addresses against comma-separated CIDR lists from the configuration.
#pragma once

#include <string>

#include "endpoint.hpp"

namespace pepsal {

// True when `addr` lies in one of the networks of `list` ("10.0.0.0/8,2001:db8::/32"; a bare
// address is a /32 or /128). The list was validated by the config parser.
bool cidr_list_contains(const std::string& list, const Endpoint& addr);

}  // namespace pepsal
