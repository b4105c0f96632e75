#include <signal.h>

#include <cstdint>
#include <cstdio>

#include "args.hpp"
#include "client_options.hpp"
#include "commands.hpp"
#include "error.hpp"
#include "log.hpp"
#include "result_line.hpp"
#include "server.hpp"

namespace pepsal::flowtool {

namespace {

volatile sig_atomic_t g_stop = 0;  // set by SIGINT/SIGTERM, read by the accept loop

void on_stop_signal(int) {
    g_stop = 1;
}

// Blocks SIGINT/SIGTERM in this thread (and so in every connection thread started later) and
// returns the previous mask, under which ppoll lets them in.
sigset_t block_stop_signals() {
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &block, &old) < 0) throw_errno("sigprocmask");
    if (sigaction(SIGINT, &sa, nullptr) < 0 || sigaction(SIGTERM, &sa, nullptr) < 0)
        throw_errno("sigaction");
    sigdelset(&old, SIGINT);
    sigdelset(&old, SIGTERM);
    return old;
}

ServeOptions serve_options(const Args& args) {
    ServeOptions o;
    for (const auto& text : args.all("listen")) o.listen.push_back(args.endpoint(text, "listen"));
    if (o.listen.empty()) throw UsageError("option --listen is required");
    o.count = args.num("count", 1, UINT64_MAX, 0);
    o.lifetime_ms = args.num("lifetime-ms", 1, MAX_TIMEOUT_MS, 0);
    o.log_path = args.str("log", "");
    o.ready_file = args.str("ready-file", "");
    o.modes.corrupt = args.flag("corrupt");
    o.modes.idle_timeout_ms = args.num("timeout-ms", 0, MAX_TIMEOUT_MS, DEFAULT_TIMEOUT_MS);
    return o;
}

}  // namespace

int cmd_serve(int argc, char** argv) {
    Args args(argc, argv, {"listen", "count", "lifetime-ms", "log", "ready-file", "timeout-ms"},
              {"corrupt", "verbose"});
    ServeOptions opts = serve_options(args);
    log::init("flowtool", false, args.flag("verbose") ? log::Level::info : log::Level::notice);
    sigset_t wait_mask = block_stop_signals();
    Server server(opts);
    ServeSummary s = server.run(&g_stop, &wait_mask);
    bool short_count = opts.count != 0 && s.connections < opts.count;
    bool ok = s.failed == 0 && !short_count;
    ResultLine line(ok ? "ok" : "fail");
    line.add("connections", s.connections).add("failed", s.failed).add("stopped", s.stopped);
    if (s.lifetime_expired) line.add("lifetime_expired", "1");
    line.print();
    if (short_count)
        std::fprintf(stderr, "flowtool serve: only %llu of %llu connections arrived\n",
                     (unsigned long long)s.connections, (unsigned long long)opts.count);
    return ok ? EXIT_OK : EXIT_FAILED;
}

}  // namespace pepsal::flowtool
