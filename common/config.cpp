#include "config.hpp"

#include <boost/program_options.hpp>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "config_keys.hpp"

namespace pepsal {

namespace po = boost::program_options;

const char* PEPSAL_VERSION_STRING() { return "pepsal 0.1.0"; }

namespace {

constexpr const char* USAGE = "usage: pepsal [options]\n";

po::options_description command_line_options() {
    po::options_description d("Command-line options");
    d.add_options()
        ("help,h", "print this help and exit")
        ("version", "print the version and exit")
        ("config,f", po::value<std::string>()->value_name("FILE"),
         "configuration file (default /etc/pepsal.conf; a missing default file is not an error)")
        ("daemon,d", "detach: run in the background, write the pid file, log to syslog")
        ("check-config", "validate the configuration, print it, and exit")
        ("status", "print the flows in the running instance's connection table and exit")
        ("verbose,v", "log more: -v info, -vv debug (overrides log-level)");
    return d;
}

po::options_description config_options() {
    po::options_description d("Configuration keys (also accepted as key=value in the config file)");
    for (const auto& k : config_keys()) {
        std::string help = std::string(k.help) + " [" + (*k.default_value ? k.default_value : "empty") + "]";
        d.add_options()(k.name, po::value<std::string>()->value_name("VALUE"), help.c_str());
    }
    return d;
}

// -v, -vv and -vvv are counted here because Program_options has no repeatable flag.
int take_verbosity(std::vector<std::string>& args) {
    int v = 0;
    std::vector<std::string> rest;
    for (const auto& a : args) {
        if (a == "--verbose") {
            ++v;
        } else if (a.size() >= 2 && a[0] == '-' && a[1] == 'v' && a.find_first_not_of('v', 1) == std::string::npos) {
            v += int(a.size() - 1);
        } else {
            rest.push_back(a);
        }
    }
    args = rest;
    return v;
}

po::variables_map parse_file(const std::string& path, bool must_exist, const po::options_description& keys) {
    po::variables_map vm;
    std::ifstream in(path);
    if (!in) {
        if (must_exist) throw ConfigError(path + ": cannot open: " + std::strerror(errno));
        return vm;
    }
    try {
        po::store(po::parse_config_file(in, keys, false), vm);
    } catch (const po::error& e) {
        throw ConfigError(path + ": " + e.what());
    }
    return vm;
}

void apply_keys(const po::variables_map& cli, const po::variables_map& file, const std::string& file_name,
                Config& out) {
    for (const auto& k : config_keys()) {
        std::string value = k.default_value, source = "default";
        if (cli.count(k.name)) {
            value = cli[k.name].as<std::string>();
            source = "command line";
        } else if (file.count(k.name)) {
            value = file[k.name].as<std::string>();
            source = file_name;
        }
        try {
            k.apply(out, value);
        } catch (const std::invalid_argument& e) {
            throw ConfigError(source + ": " + k.name + "=" + value + ": " + e.what());
        }
    }
}

}  // namespace

ParseOutcome parse_config(int argc, const char* const* argv, Config& out) {
    std::vector<std::string> args(argv + 1, argv + argc);
    int verbosity = take_verbosity(args);
    auto cli_only = command_line_options();
    auto keys = config_options();
    po::options_description all;
    all.add(cli_only).add(keys);

    po::variables_map cli;
    try {
        po::store(po::command_line_parser(args).options(all).run(), cli);
    } catch (const po::error& e) {
        throw ConfigError(std::string("command line: ") + e.what());
    }
    if (cli.count("help")) {
        std::cout << USAGE << "\n" << all << "\n";
        return ParseOutcome::exit_ok;
    }
    if (cli.count("version")) {
        std::cout << PEPSAL_VERSION_STRING() << "\n";
        return ParseOutcome::exit_ok;
    }
    out.config_file_given = cli.count("config") > 0;
    if (out.config_file_given) out.config_file = cli["config"].as<std::string>();
    out.daemon = cli.count("daemon") > 0;
    out.check_config = cli.count("check-config") > 0;
    out.show_status = cli.count("status") > 0;

    auto file = parse_file(out.config_file, out.config_file_given, keys);
    apply_keys(cli, file, out.config_file, out);
    if (verbosity > 0) out.log_level = log::Level(std::min(int(log::Level::debug), int(log::Level::notice) + verbosity));
    if ((out.pair_near() || out.pair_far()) && out.psk_file.empty())
        throw ConfigError("pair mode (peer= or pair-listen=) needs psk-file=");
    if (out.pair_near() && out.warm_lanes < out.lanes)
        throw ConfigError("warm-lanes=" + std::to_string(out.warm_lanes) + " must be at least lanes=" +
                          std::to_string(out.lanes));
    if (out.bypass_mark == out.tproxy_mark)
        throw ConfigError("bypass-mark and tproxy-mark must differ (both " + std::to_string(out.bypass_mark) + ")");
    return ParseOutcome::run;
}

std::string describe(const Config& c) {
    std::ostringstream s;
    for (const auto& k : config_keys()) s << k.name << "=" << k.show(c) << "\n";
    return s.str();
}

}  // namespace pepsal
