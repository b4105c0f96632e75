// pepsal: parses the configuration and wires the processes together; nothing else lives here.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <optional>

#include "config.hpp"
#include "conn_table.hpp"
#include "daemon.hpp"
#include "fd_limit.hpp"
#include "listener.hpp"
#include "log.hpp"
#include "pair_psk.hpp"
#include "signals.hpp"
#include "status.hpp"
#include "supervisor.hpp"

using namespace pepsal;

namespace {

constexpr int EXIT_CONFIG = 2;

int serve(const Config& cfg, const pair::Psk* key) {
    log::init("pepsal", false, cfg.log_level);
    connmgr::StartupReport report;
    try {
        // Listeners first, in the foreground, so a port in use is reported to the terminal.
        auto listeners = connmgr::open_listeners(cfg);
        UniqueFd pair_listener;
        if (cfg.pair_far()) pair_listener = connmgr::open_pair_listener(cfg);
        if (cfg.daemon) {
            report = connmgr::daemonize();
            log::init("pepsal", true, cfg.log_level);
        }
        std::optional<connmgr::PidFile> pid_file;
        if (cfg.daemon) pid_file.emplace(cfg.pid_file);
        sigset_t wait_mask = signals::install();
        connmgr::raise_fd_limit(cfg);
        ConnTable table = ConnTable::create(cfg.shm_name, cfg.max_conns);
        LOG_NOTICE("%s started: port %u, queue %u, %u slots in /dev/shm/%s", PEPSAL_VERSION_STRING(),
                   cfg.port, cfg.queue, cfg.max_conns, cfg.shm_name.c_str());
        report.ready();
        int rc = connmgr::Supervisor(cfg, table, std::move(listeners), std::move(pair_listener), key).run(wait_mask);
        ConnTable::remove(cfg.shm_name);
        return rc;
    } catch (const std::exception& e) {
        LOG_ERROR("%s", e.what());
        report.failed(e.what());
        return 1;
    }
}

}  // namespace

int main(int argc, char** argv) {
    Config cfg;
    try {
        if (parse_config(argc, argv, cfg) == ParseOutcome::exit_ok) return 0;
    } catch (const ConfigError& e) {
        fprintf(stderr, "pepsal: %s\n", e.what());
        return EXIT_CONFIG;
    }
    // The key is loaded before anything starts (and by --check-config) so that a missing,
    // short or world-readable key file is a configuration error.
    std::optional<pair::Psk> key;
    if (cfg.pair_near() || cfg.pair_far()) {
        try {
            key.emplace(pair::load_psk(cfg.psk_file));
        } catch (const std::exception& e) {
            fprintf(stderr, "pepsal: psk-file=%s: %s\n", cfg.psk_file.c_str(), e.what());
            return EXIT_CONFIG;
        }
    }
    if (cfg.check_config) {
        std::cout << describe(cfg);
        return 0;
    }
    if (cfg.show_status) {
        try {
            return connmgr::print_status(cfg, std::cout);
        } catch (const std::exception&) {
            return 1;
        }
    }
    return serve(cfg, key ? &*key : nullptr);
}
