// flowtool: the traffic generator and checker of pepsal's integration tests and benchmarks.
// main only dispatches to a subcommand (one file each) and maps uncaught errors to statuses.
#include <signal.h>
#include <sodium.h>
#include <sys/resource.h>

#include <cstdio>
#include <cstring>
#include <exception>

#include "args.hpp"
#include "commands.hpp"
#include "result_line.hpp"

namespace {

using namespace pepsal::flowtool;

struct Command {
    const char* name;
    int (*run)(int argc, char** argv);
};

constexpr Command COMMANDS[] = {
    {"serve", cmd_serve},
    {"upload", cmd_upload},
    {"halfclose", cmd_halfclose},
    {"download", cmd_download},
    {"both", cmd_both},
    {"echo", cmd_echo},
    {"rr", cmd_rr},
    {"connect-rr", cmd_connect_rr},
    {"parallel", cmd_parallel},
    {"expect-reset", cmd_expect_reset},
    {"expect-eof", cmd_expect_eof},
    {"hold", cmd_hold},
    {"reset-server-check", cmd_reset_server_check},
    {"fin-server-check", cmd_fin_server_check},
};

const char* USAGE = R"(usage: flowtool COMMAND [--option value ...]
Addresses are ADDR:PORT or [V6]:PORT; sizes take a K, M or G suffix (powers of 1024).
Every command prints one result line of key=value pairs on stdout (first word: the outcome).

  serve --listen ADDR:PORT [--listen ...] [--count N] [--log FILE] [--ready-file FILE]
        [--timeout-ms MS (a connection idle this long fails; 0: never; default 60000)]
        [--lifetime-ms MS (stop after this long)]
        [--corrupt] [--verbose]
      One thread per connection; the client's first line "MODE N SEED" picks what it does:
      upload, download, both, echo, rr, reset-after, hold, watch, report. --log appends one
      line per connection, before its socket closes:
          peer=ADDR:PORT mode=MODE bytes=RECEIVED sent=SENT [end=HOW] ok|stopped|error=CODE
      --corrupt flips one byte of every stream the server sends or receives.
      Exits after --count connections (status 1 if any failed), or on SIGTERM/SIGINT.
  upload    --to ADDR:PORT --bytes N   send, SHUT_WR, check the server's count and sha256
  halfclose --to ADDR:PORT --bytes N   the same flow as upload: the reply can only arrive
                                       after the client's half-close
  download  --to ADDR:PORT --bytes N   receive until EOF, check length and every byte
  both      --to ADDR:PORT --bytes N   both directions at once (mbit counts both)
  echo      --to ADDR:PORT --bytes N   send while receiving the echo, check it unchanged
  rr        --to ADDR:PORT [--size 100] [--count 1000]   round trips on one connection
  connect-rr --to ADDR:PORT [--size 100] [--count 1000]  a new connection per round trip
  parallel  --to ADDR:PORT --flows N --bytes N [--mode upload|download|both|echo]
  expect-reset --to ADDR:PORT [--send N] [--request MODE [--bytes N]] [--timeout-ms 1000]
               [--hold] [--server-reset-after N]
  expect-eof   (same options)   exit 0: the expected ending, 1: the opposite one, 2: timeout,
                                3: another error. --request sends "MODE N SEED" first;
                                --hold = --request hold; --server-reset-after N =
                                --request reset-after --bytes N --send N.
  hold      --to ADDR:PORT --secs S    keep one idle connection open S seconds
  reset-server-check --to ADDR:PORT    end a connection with RST; the server must see a reset
  fin-server-check   --to ADDR:PORT    end it with FIN; the server must see EOF
                                       (both: --timeout-ms default 10000)
Client options: [--seed S (default 1)] [--timeout-ms MS (whole run, default 60000)]
                [--connect-timeout-ms MS (default 10000)]
Exit status: 0 ok, 1 failed (result line "fail ... error=CODE"), 64 bad command line.
)";

// Hundreds of parallel flows (one fd each, on both ends) must not hit the usual soft limit of
// 1024 descriptors; the hard limit is what the administrator meant to allow.
void raise_fd_limit() {
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);  // best effort: failing leaves the old limit
    }
}

}  // namespace

int main(int argc, char** argv) {
    // A write to a reset connection must fail with EPIPE for that flow, not kill the process.
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    if (sodium_init() < 0) {
        std::fprintf(stderr, "flowtool: sodium_init failed\n");
        return EXIT_FAILED;
    }
    if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "help")) {
        std::fputs(USAGE, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    for (const Command& c : COMMANDS) {
        if (std::strcmp(argv[1], c.name) != 0) continue;
        try {
            return c.run(argc - 2, argv + 2);
        } catch (const UsageError& e) {
            std::fprintf(stderr, "flowtool %s: %s (flowtool --help for usage)\n", c.name, e.what());
            return EXIT_USAGE;
        } catch (const std::exception& e) {
            std::fprintf(stderr, "flowtool %s: %s\n", c.name, e.what());
            pepsal::flowtool::ResultLine("fail").add("mode", c.name).add("error", "setup").print();
            return EXIT_FAILED;
        }
    }
    std::fprintf(stderr, "flowtool: unknown command '%s'\n%s", argv[1], USAGE);
    return EXIT_USAGE;
}
