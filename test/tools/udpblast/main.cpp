// udpblast: the lab's UDP load generator and sink, used to validate the link emulator.
//   udpblast send --to 10.4.0.2:9000 --rate 60mbit --size 1200 --seconds 5
//   udpblast recv --listen 10.4.0.2:9000 [--idle-ms 1500] [--max-seconds 60]
// Both print one key=value line on stdout; rates are IP-level (IP and UDP headers included),
// the way a link's rate is spent.
#include <boost/program_options.hpp>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "../linkemu/units.hpp"
#include "receiver.hpp"
#include "sender.hpp"
#include "wire.hpp"

namespace po = boost::program_options;
using namespace pepsal;
using namespace pepsal::udpblast;

namespace {

const char* USAGE =
    "Usage: udpblast send --to ADDR:PORT [--rate R] [--size BYTES] [--seconds S]\n"
    "       udpblast recv --listen ADDR:PORT [--idle-ms MS] [--max-seconds S]\n"
    "ADDR:PORT: 10.4.0.2:9000 or [fd04::2]:9000. R: IP-level rate, e.g. 60mbit, or unlimited.\n";

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

Endpoint endpoint_option(const std::string& option, const std::string& text) {
    auto e = Endpoint::parse(text);
    if (!e) throw UsageError("--" + option + ": bad value \"" + text + "\" (e.g. 10.4.0.2:9000)");
    return *e;
}

po::variables_map parse(int argc, char** argv, const po::options_description& desc) {
    po::variables_map vm;
    try {
        po::store(po::command_line_parser(argc, argv).options(desc).run(), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        throw UsageError(e.what());
    }
    return vm;
}

int run_send(int argc, char** argv) {
    std::string to, rate;
    SendOptions o;
    po::options_description desc("send options");
    auto add = desc.add_options();
    add("to", po::value(&to)->required(), "destination ADDR:PORT");
    add("rate", po::value(&rate)->default_value("unlimited"), "IP-level rate");
    add("size", po::value(&o.payload_bytes)->default_value(1200), "UDP payload bytes");
    add("seconds", po::value(&o.seconds)->default_value(5), "how long to send");
    parse(argc, argv, desc);
    o.to = endpoint_option("to", to);
    auto bps = linkemu::parse_rate_bps(rate);
    if (!bps) throw UsageError("--rate: bad value \"" + rate + "\" (e.g. 60mbit, unlimited)");
    o.rate_bps = *bps;
    if (o.payload_bytes < MIN_PAYLOAD_BYTES || o.payload_bytes > MAX_PAYLOAD_BYTES)
        throw UsageError("--size: bad value \"" + std::to_string(o.payload_bytes) +
                         "\" (16..65507)");
    if (!(o.seconds > 0 && o.seconds <= 3600))
        throw UsageError("--seconds: bad value \"" + std::to_string(o.seconds) + "\" (0..3600)");
    fputs(format(blast(o)).c_str(), stdout);
    return 0;
}

int run_recv(int argc, char** argv) {
    std::string listen;
    RecvOptions o;
    po::options_description desc("recv options");
    auto add = desc.add_options();
    add("listen", po::value(&listen)->required(), "ADDR:PORT to bind");
    add("idle-ms", po::value(&o.idle_ms)->default_value(1500), "end after this much silence");
    add("max-seconds", po::value(&o.max_seconds)->default_value(60), "end after this long");
    parse(argc, argv, desc);
    o.listen = endpoint_option("listen", listen);
    if (o.idle_ms < 1 || o.idle_ms > 600'000)
        throw UsageError("--idle-ms: bad value \"" + std::to_string(o.idle_ms) + "\" (1..600000)");
    if (!(o.max_seconds > 0 && o.max_seconds <= 3600))
        throw UsageError("--max-seconds: bad value \"" + std::to_string(o.max_seconds) + "\"");
    fputs(format(receive(o)).c_str(), stdout);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::string mode = argc > 1 ? argv[1] : "";
    try {
        if (mode == "send") return run_send(argc - 1, argv + 1);
        if (mode == "recv") return run_recv(argc - 1, argv + 1);
        fputs(USAGE, mode == "--help" || mode == "-h" ? stdout : stderr);
        return mode == "--help" || mode == "-h" ? 0 : 2;
    } catch (const UsageError& e) {
        fprintf(stderr, "udpblast: %s\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        fprintf(stderr, "udpblast: %s\n", e.what());
        return 1;
    }
}
