// The one line each flowtool run prints on stdout: an outcome word and key=value pairs, e.g.
//     ok bytes=209715200 sha256=... secs=3.21 mbit=522.3 peer=10.0.3.1:40000
// Values never contain spaces, so scripts can pick fields with grep -o 'key=[^ ]*'.
#pragma once

#include <cstdint>
#include <string>

#include "failure.hpp"

namespace pepsal::flowtool {

class ResultLine {
  public:
    explicit ResultLine(std::string outcome) : line_(std::move(outcome)) {}
    ResultLine& add(const std::string& key, const std::string& value);
    ResultLine& add(const std::string& key, uint64_t value) {
        return add(key, std::to_string(value));
    }
    ResultLine& add_fixed(const std::string& key, double value, int decimals);
    // Writes the line and flushes, so a script sees it even if the process is killed later.
    void print() const;

  private:
    std::string line_;
};

// Exit statuses shared by all subcommands (expect-* define their own 0/1/2, see usage).
constexpr int EXIT_OK = 0;
constexpr int EXIT_FAILED = 1;
constexpr int EXIT_USAGE = 64;  // sysexits.h EX_USAGE

// Prints "fail error=CODE" on stdout and "flowtool CMD: CODE: message" on stderr; returns
// EXIT_FAILED.
int report_failure(const std::string& cmd, const FlowError& e);

// bytes * 8 / secs in Mbit/s; 0 if no time passed.
double mbit_per_sec(uint64_t bytes, double secs);

}  // namespace pepsal::flowtool
