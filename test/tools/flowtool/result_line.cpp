#include "result_line.hpp"

#include <cstdio>

namespace pepsal::flowtool {

ResultLine& ResultLine::add(const std::string& key, const std::string& value) {
    std::string v = value.empty() ? "-" : value;
    for (char& c : v)
        if (c == ' ' || c == '\n' || c == '\t') c = '_';
    line_ += " " + key + "=" + v;
    return *this;
}

ResultLine& ResultLine::add_fixed(const std::string& key, double value, int decimals) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
    return add(key, std::string(buf));
}

void ResultLine::print() const {
    std::printf("%s\n", line_.c_str());
    std::fflush(stdout);
}

int report_failure(const std::string& cmd, const FlowError& e) {
    std::fprintf(stderr, "flowtool %s: %s: %s\n", cmd.c_str(), fail_name(e.code()), e.what());
    ResultLine("fail").add("mode", cmd).add("error", fail_name(e.code())).print();
    return EXIT_FAILED;
}

double mbit_per_sec(uint64_t bytes, double secs) {
    return secs > 0 ? double(bytes) * 8.0 / secs / 1e6 : 0.0;
}

}  // namespace pepsal::flowtool
