// Parsers for configuration values. Each throws std::invalid_argument with a reason phrased to
// follow "key=value: " in an error message.
#pragma once

#include <cstdint>
#include <string>

namespace pepsal::config_values {

// Decimal, or hexadecimal with 0x; inclusive range.
uint64_t parse_uint(const std::string& v, uint64_t min, uint64_t max);
// yes/no, true/false, on/off, 1/0.
bool parse_bool(const std::string& v);
// Bytes with an optional k, m or g suffix (powers of 1024).
uint64_t parse_size(const std::string& v, uint64_t min, uint64_t max);
// Whole seconds, returned as milliseconds.
uint32_t parse_seconds_ms(const std::string& v, uint32_t min_s, uint32_t max_s);
// Comma-separated lists: checked for syntax, returned normalised (no blanks).
std::string parse_cidr_list(const std::string& v);
std::string parse_iface_list(const std::string& v);
std::string parse_port_list(const std::string& v);
// A congestion control name: "auto" (bbr if the kernel has it, else its default), "default"
// (the kernel's default), or a name the kernel accepts on a test socket. Returns what to set
// with TCP_CONGESTION ("" for the kernel default).
std::string parse_congestion(const std::string& v);

}  // namespace pepsal::config_values
