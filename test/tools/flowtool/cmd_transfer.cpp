// upload, halfclose, download, both, echo: one verified bulk flow each.
#include <cstdio>

#include "args.hpp"
#include "commands.hpp"
#include "flows.hpp"
#include "result_line.hpp"

namespace pepsal::flowtool {

namespace {

constexpr uint64_t MAX_FLOW_BYTES = 1ull << 50;  // a petabyte: a typo guard, not a real limit

int run_transfer(const char* cmd, Mode mode, int argc, char** argv) {
    Args args(argc, argv, client_keys({"bytes"}), {});
    ClientOptions o = client_options(args);
    uint64_t bytes = args.size("bytes", 0, MAX_FLOW_BYTES);
    try {
        FlowResult r = run_flow(mode, o, bytes, o.seed);
        ResultLine line("ok");
        line.add("bytes", r.bytes).add("sha256", r.sha256);
        if (!r.sha256_down.empty()) line.add("sha256_down", r.sha256_down);
        line.add_fixed("secs", r.secs, 3).add_fixed("mbit", mbit_per_sec(r.moved, r.secs), 1);
        line.add("peer", r.peer.to_string()).add("local", r.local.to_string());
        if (!r.server_saw.empty()) line.add("server_saw", r.server_saw);
        line.print();
        return EXIT_OK;
    } catch (const FlowError& e) {
        return report_failure(cmd, e);
    }
}

}  // namespace

// `halfclose` is the same flow as `upload`: the client shuts its write side after the payload
// and the server's reply can only be read after that, so a proxy that does not carry the
// half-close either never delivers the reply (timeout) or cuts it (early_eof).
int cmd_upload(int argc, char** argv) {
    return run_transfer("upload", Mode::upload, argc, argv);
}
int cmd_halfclose(int argc, char** argv) {
    return run_transfer("halfclose", Mode::upload, argc, argv);
}
int cmd_download(int argc, char** argv) {
    return run_transfer("download", Mode::download, argc, argv);
}
int cmd_both(int argc, char** argv) {
    return run_transfer("both", Mode::both, argc, argv);
}
int cmd_echo(int argc, char** argv) {
    return run_transfer("echo", Mode::echo, argc, argv);
}

}  // namespace pepsal::flowtool
