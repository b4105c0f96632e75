// parallel: many verified bulk flows at once, one thread each, all sharing one deadline.
#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <system_error>
#include <thread>
#include <vector>

#include "args.hpp"
#include "commands.hpp"
#include "flows.hpp"
#include "result_line.hpp"

namespace pepsal::flowtool {

namespace {

constexpr uint64_t MAX_FLOWS = 10000;

struct FlowSlot {
    std::optional<FlowResult> result;
    Fail code = Fail::io;
    std::string error;  // empty while the flow has not failed
};

void run_slot(Mode mode, const ClientOptions& o, uint64_t bytes, uint64_t seed, FlowSlot& slot) {
    try {
        slot.result = run_flow(mode, o, bytes, seed);
    } catch (const FlowError& e) {
        slot.code = e.code();
        slot.error = e.what();
    } catch (const std::exception& e) {
        slot.error = e.what();
    }
}

Mode bulk_mode(const std::string& text) {
    auto m = parse_mode(text);
    if (!m || (*m != Mode::upload && *m != Mode::download && *m != Mode::both && *m != Mode::echo))
        throw UsageError("--mode " + text + ": not upload, download, both or echo");
    return *m;
}

// Prints each failed flow on stderr and returns "code:count,..." for the result line.
std::string report_errors(const std::vector<FlowSlot>& slots, uint64_t seed) {
    std::map<std::string, unsigned> by_code;
    for (size_t i = 0; i < slots.size(); ++i) {
        if (slots[i].result) continue;
        std::fprintf(stderr, "flowtool parallel: flow %zu (seed %llu): %s: %s\n", i,
                     (unsigned long long)(seed + i), fail_name(slots[i].code),
                     slots[i].error.c_str());
        ++by_code[fail_name(slots[i].code)];
    }
    std::string out;
    for (auto& [code, n] : by_code)
        out += (out.empty() ? "" : ",") + code + ":" + std::to_string(n);
    return out;
}

}  // namespace

int cmd_parallel(int argc, char** argv) {
    Args args(argc, argv, client_keys({"flows", "bytes", "mode"}), {});
    ClientOptions o = client_options(args);
    uint64_t flows = args.num("flows", 1, MAX_FLOWS);
    uint64_t bytes = args.size("bytes", 0, 1ull << 50);
    Mode mode = bulk_mode(args.str("mode", "upload"));

    std::vector<FlowSlot> slots(flows);
    std::vector<std::thread> threads;
    auto t0 = std::chrono::steady_clock::now();
    for (uint64_t i = 0; i < flows; ++i) {
        try {
            threads.emplace_back(run_slot, mode, std::cref(o), bytes, o.seed + i,
                                 std::ref(slots[i]));
        } catch (const std::system_error& e) {  // thread limit: that flow fails, the rest run
            slots[i].error = std::string("starting a thread: ") + e.what();
        }
    }
    for (auto& t : threads) t.join();
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    uint64_t failed = 0, moved = 0;
    for (auto& s : slots) s.result ? void(moved += s.result->moved) : void(++failed);
    ResultLine line(failed ? "fail" : "ok");
    line.add("flows", flows).add("failed", failed).add("mode", mode_name(mode)).add("bytes", bytes);
    line.add_fixed("secs", secs, 3).add_fixed("mbit", mbit_per_sec(moved, secs), 1);
    if (failed) line.add("errors", report_errors(slots, o.seed));
    line.print();
    return failed ? EXIT_FAILED : EXIT_OK;
}

}  // namespace pepsal::flowtool
