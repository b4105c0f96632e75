// The table of configuration keys: name, default, help text and how a value is applied.
// Every key is accepted both in the config file (key=value) and as a long option (--key=value).
#pragma once

#include <span>
#include <string>

#include "config.hpp"

namespace pepsal {

struct ConfigKey {
    const char* name;
    const char* default_value;
    const char* help;
    // Parses `value` into `c`; throws std::invalid_argument with the reason.
    void (*apply)(Config& c, const std::string& value);
    // Renders the key's current value from `c`, for --check-config.
    std::string (*show)(const Config& c);
};

std::span<const ConfigKey> config_keys();

}  // namespace pepsal
