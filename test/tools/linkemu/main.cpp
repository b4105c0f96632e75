// linkemu: a user-space satellite link emulator on NFQUEUE. main only parses options, wires the
// two directions to their threads and turns signals into reports.
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <exception>
#include <thread>

#include "direction.hpp"
#include "error.hpp"
#include "log.hpp"
#include "options.hpp"
#include "unique_fd.hpp"

using namespace pepsal;
using namespace pepsal::linkemu;

namespace {

// The kernel stamps received packets only while some socket asks for timestamps; holding one
// such socket open gives every queued packet its true arrival time, so time spent waiting in
// the netlink socket before we read it is not mistaken for arrival delay.
UniqueFd enable_rx_timestamps() {
    UniqueFd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd) throw_errno("socket for SO_TIMESTAMPNS");
    int on = 1;
    if (setsockopt(fd.get(), SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) < 0)
        throw_errno("setsockopt SO_TIMESTAMPNS");
    return fd;
}

void describe(const DirectionOptions& d) {
    const LinkConfig& l = d.link;
    LOG_NOTICE(
        "%s: NFQUEUE %u, rate %llu bit/s%s, delay %.3f ms, buffer %llu bytes%s, "
        "mean loss %.4f (%s)",
        d.name, unsigned(d.queue_num), (unsigned long long)l.rate_bps,
        l.rate_bps ? "" : " (unlimited)", double(l.delay_ns) / 1e6,
        (unsigned long long)l.buffer_bytes, l.buffer_bytes ? "" : " (unlimited)",
        mean_loss_rate(l.loss),
        l.loss.kind == LossConfig::Kind::uniform ? "uniform" : "gilbert-elliott");
}

void dump(const Options& opts, const std::vector<DirectionReport>& reports, uint64_t seq) {
    std::string text = render_report(reports, seq);
    fputs(text.c_str(), stdout);
    fflush(stdout);
    if (!opts.stats_file.empty()) {
        try {
            write_report_file(opts.stats_file, text);
        } catch (const std::exception& e) {
            LOG_ERROR("%s", e.what());
        }
    }
}

// Runs `dir` on its own thread; a failure ends the whole process through SIGTERM so the report
// is still written.
std::thread start(Direction& dir, int stop_fd, std::atomic<bool>& failed) {
    return std::thread([&dir, stop_fd, &failed] {
        try {
            dir.run(stop_fd);
        } catch (const std::exception& e) {
            LOG_ERROR("%s", e.what());
            failed = true;
            kill(getpid(), SIGTERM);
        }
    });
}

int run(const Options& opts) {
    // Blocked here, inherited by both threads: only sigtimedwait below ever sees these signals.
    sigset_t signals;
    sigemptyset(&signals);
    for (int s : {SIGTERM, SIGINT, SIGHUP, SIGUSR1}) sigaddset(&signals, s);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    UniqueFd stamps = enable_rx_timestamps();
    Direction down(opts.down, opts.seed * 2, opts);
    Direction up(opts.up, opts.seed * 2 + 1, opts);
    UniqueFd stop(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!stop) throw_errno("eventfd");
    describe(opts.down);
    describe(opts.up);
    std::vector<DirectionReport> reports{down.report(), up.report()};

    std::atomic<bool> failed{false};
    std::thread down_thread = start(down, stop.get(), failed);
    std::thread up_thread = start(up, stop.get(), failed);
    printf("linkemu ready down=%u up=%u\n", unsigned(opts.down.queue_num),
           unsigned(opts.up.queue_num));
    fflush(stdout);

    uint64_t seq = 0;
    BehindWatch watch;
    const timespec WATCH_PERIOD{1, 0};
    for (;;) {
        int sig = sigtimedwait(&signals, nullptr, &WATCH_PERIOD);
        if (sig == SIGUSR1)
            dump(opts, reports, ++seq);
        else if (sig > 0)
            break;
        else
            watch.poll(reports);
    }
    uint64_t one = 1;
    (void)!write(stop.get(), &one, sizeof one);
    down_thread.join();
    up_thread.join();
    dump(opts, reports, ++seq);
    return failed ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::optional<Options> opts;
    try {
        opts = parse_options(argc, argv);
    } catch (const OptionError& e) {
        fprintf(stderr, "linkemu: %s\n", e.what());
        return 2;
    }
    if (!opts) return 0;
    log::init("linkemu", false, log::Level::notice);
    try {
        return run(*opts);
    } catch (const std::exception& e) {
        LOG_ERROR("%s", e.what());
        return 1;
    }
}
