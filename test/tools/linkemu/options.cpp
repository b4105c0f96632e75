#include "options.hpp"

#include <boost/program_options.hpp>
#include <cmath>
#include <iostream>
#include <sstream>

#include "units.hpp"

namespace po = boost::program_options;

namespace pepsal::linkemu {

namespace {

constexpr double MAX_DELAY_MS = 60'000;

const char* USAGE =
    "Usage: linkemu [options]\n"
    "Emulates a satellite link inside a router namespace: iptables sends each direction's\n"
    "forwarded packets to an NFQUEUE, e.g.\n"
    "  iptables -A FORWARD -i <from-gateway-if> -j NFQUEUE --queue-num 1   # down\n"
    "  iptables -A FORWARD -i <from-terminal-if> -j NFQUEUE --queue-num 2  # up\n"
    "and linkemu releases every packet after its serialization and propagation delay, or drops\n"
    "it (tail drop, random loss). \"down\" = towards the client (server → client), \"up\" =\n"
    "towards the server.\n"
    "Rates: <n>bit, <n>kbit, <n>mbit, <n>gbit (decimal), or unlimited.\n"
    "Buffers: <n>b, <n>kb (1000 bytes), <n>ms (drain time at the direction's rate),\n"
    "  <x>bdp (x × rate × (down delay + up delay)), or unlimited.\n"
    "Counters go to stdout (and --stats-file) on SIGUSR1 and at exit (SIGTERM/SIGINT), one line\n"
    "per direction: linkemu dir=down packets=.. bytes=.. delivered=.. lost_random=..\n"
    "  dropped_queue=.. late=.. max_late_ms=.. enobufs=.. ..., then a line\n"
    "  linkemu status=ok|behind seq=N  (behind: the emulator could not keep up; do not trust\n"
    "  measurements taken meanwhile).\n";

struct RawDirection {
    int queue = 0;
    std::string rate, buffer;
    double delay_ms = 0, loss = 0;
};

struct RawOptions {
    RawDirection down, up;
    std::string loss_model, ge_dirs, stats_file;
    double ge_p = 0, ge_r = 0, ge_bad = 0, ge_good = 0, late_ms = 0;
    uint64_t seed = 0;
    uint32_t queue_maxlen = 0;
    int rt_priority = 0;
};

// "2", "0.5", "1e+06": as short as the user would have typed it.
std::string show(double v) {
    std::ostringstream out;
    out << v;
    return out.str();
}

[[noreturn]] void bad_value(const std::string& option, const std::string& value, const char* want) {
    throw OptionError("--" + option + ": bad value \"" + value + "\" (" + want + ")");
}

void add_direction(po::options_description& desc, const std::string& dir, RawDirection& raw,
                   int default_queue) {
    auto add = desc.add_options();
    add((dir + "-queue").c_str(), po::value(&raw.queue)->default_value(default_queue),
        "NFQUEUE number of this direction");
    add((dir + "-rate").c_str(), po::value(&raw.rate)->default_value("unlimited"),
        "link rate, e.g. 50mbit");
    add((dir + "-delay-ms").c_str(), po::value(&raw.delay_ms)->default_value(0),
        "one-way propagation delay in ms (fractions allowed)");
    add((dir + "-buffer").c_str(), po::value(&raw.buffer)->default_value("1bdp"),
        "bottleneck buffer before the link: 375000b, 100ms, 1bdp, unlimited");
    add((dir + "-loss").c_str(), po::value(&raw.loss)->default_value(0),
        "uniform random loss probability, 0..1 (loss model uniform)");
}

void check_probability(const std::string& option, double v) {
    if (!(v >= 0 && v <= 1)) bad_value(option, show(v), "a probability in 0..1");
}

LinkConfig build_link(const std::string& dir, const RawDirection& raw, double rtt_ms) {
    LinkConfig link;
    auto rate = parse_rate_bps(raw.rate);
    if (!rate) bad_value(dir + "-rate", raw.rate, "e.g. 800kbit, 50mbit, 1.5gbit, unlimited");
    link.rate_bps = *rate;
    if (!(raw.delay_ms >= 0 && raw.delay_ms <= MAX_DELAY_MS))
        bad_value(dir + "-delay-ms", show(raw.delay_ms), "0..60000 ms");
    link.delay_ns = uint64_t(std::llround(raw.delay_ms * double(NS_PER_MS)));
    auto buffer = parse_buffer_spec(raw.buffer);
    if (!buffer) bad_value(dir + "-buffer", raw.buffer, "e.g. 375000b, 100ms, 1bdp, unlimited");
    link.buffer_bytes = buffer_limit_bytes(*buffer, link.rate_bps, rtt_ms);
    check_probability(dir + "-loss", raw.loss);
    link.loss.probability = raw.loss;
    return link;
}

// Applies --loss-model ge to the directions --ge-dirs names.
void apply_loss_model(const RawOptions& raw, const po::variables_map& vm, Options& out) {
    if (raw.loss_model == "uniform") return;
    if (raw.loss_model != "ge") bad_value("loss-model", raw.loss_model, "uniform or ge");
    for (auto [name, v] : {std::pair{"ge-p", raw.ge_p},
                           {"ge-r", raw.ge_r},
                           {"ge-bad-loss", raw.ge_bad},
                           {"ge-good-loss", raw.ge_good}})
        check_probability(name, v);
    if (raw.ge_dirs != "both" && raw.ge_dirs != "down" && raw.ge_dirs != "up")
        bad_value("ge-dirs", raw.ge_dirs, "both, down or up");
    for (DirectionOptions* d : {&out.down, &out.up}) {
        if (raw.ge_dirs != "both" && raw.ge_dirs != d->name) continue;
        if (!vm[std::string(d->name) + "-loss"].defaulted())
            throw OptionError(std::string("--") + d->name +
                              "-loss: not used with --loss-model ge (use --ge-* instead)");
        d->link.loss = {
            LossConfig::Kind::gilbert_elliott, 0, raw.ge_p, raw.ge_r, raw.ge_bad, raw.ge_good};
    }
}

po::options_description describe(RawOptions& raw) {
    po::options_description desc("Options");
    desc.add_options()("help,h", "print this help and exit");
    add_direction(desc, "down", raw.down, 1);
    add_direction(desc, "up", raw.up, 2);
    auto add = desc.add_options();
    add("loss-model", po::value(&raw.loss_model)->default_value("uniform"), "uniform or ge");
    add("ge-dirs", po::value(&raw.ge_dirs)->default_value("both"),
        "directions the ge model applies to: both, down, up");
    add("ge-p", po::value(&raw.ge_p)->default_value(0), "ge: P(good → bad) per packet");
    add("ge-r", po::value(&raw.ge_r)->default_value(1), "ge: P(bad → good) per packet");
    add("ge-bad-loss", po::value(&raw.ge_bad)->default_value(1), "ge: loss probability in bad");
    add("ge-good-loss", po::value(&raw.ge_good)->default_value(0), "ge: loss probability in good");
    add("seed", po::value(&raw.seed)->default_value(1), "seed of the loss generators");
    add("stats-file", po::value(&raw.stats_file),
        "also write the counters to FILE (replaced atomically at each dump)");
    add("late-threshold-ms", po::value(&raw.late_ms)->default_value(2),
        "a packet released later than this after its due time counts as late");
    add("queue-maxlen", po::value(&raw.queue_maxlen)->default_value(65536),
        "packets the kernel may hold per queue awaiting a verdict");
    add("rt-priority", po::value(&raw.rt_priority)->default_value(50),
        "SCHED_FIFO priority (1..99) of the release threads, so a busy machine does not "
        "delay releases; 0 = normal scheduling");
    return desc;
}

}  // namespace

std::optional<Options> parse_options(int argc, char** argv) {
    RawOptions raw;
    auto desc = describe(raw);
    po::variables_map vm;
    try {
        po::store(po::command_line_parser(argc, argv).options(desc).run(), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        throw OptionError(e.what());
    }
    if (vm.count("help")) {
        std::cout << USAGE << '\n' << desc << '\n';
        return std::nullopt;
    }
    Options out;
    for (auto [name, q] : {std::pair{"down-queue", raw.down.queue}, {"up-queue", raw.up.queue}})
        if (q < 0 || q > 65535) bad_value(name, std::to_string(q), "0..65535");
    if (raw.down.queue == raw.up.queue)
        bad_value("up-queue", std::to_string(raw.up.queue), "must differ from --down-queue");
    double rtt_ms = raw.down.delay_ms + raw.up.delay_ms;
    out.down.queue_num = uint16_t(raw.down.queue);
    out.up.queue_num = uint16_t(raw.up.queue);
    out.down.link = build_link("down", raw.down, rtt_ms);
    out.up.link = build_link("up", raw.up, rtt_ms);
    apply_loss_model(raw, vm, out);
    if (!(raw.late_ms > 0 && raw.late_ms <= 10'000))
        bad_value("late-threshold-ms", show(raw.late_ms), "0 < ms <= 10000");
    out.late_threshold_ns = uint64_t(std::llround(raw.late_ms * double(NS_PER_MS)));
    if (raw.queue_maxlen < 16 || raw.queue_maxlen > (1u << 22))
        bad_value("queue-maxlen", std::to_string(raw.queue_maxlen), "16..4194304");
    out.queue_maxlen = raw.queue_maxlen;
    if (raw.rt_priority < 0 || raw.rt_priority > 99)
        bad_value("rt-priority", std::to_string(raw.rt_priority), "0..99");
    out.rt_priority = raw.rt_priority;
    out.seed = raw.seed;
    out.stats_file = raw.stats_file;
    return out;
}

}  // namespace pepsal::linkemu
