#include "status.hpp"

#include <cstdio>
#include <iostream>

#include "clock.hpp"
#include "conn_table.hpp"

namespace pepsal::connmgr {

int print_status(const Config& config, std::ostream& out) {
    ConnTable table = [&] {
        try {
            return ConnTable::attach(config.shm_name);
        } catch (const std::exception& e) {
            std::cerr << "pepsal: no running instance: " << e.what() << "\n";
            throw;
        }
    }();
    TableStats s = table.stats();
    out << "slots " << s.used << "/" << s.capacity << " inserted " << s.inserted << " duplicates "
        << s.duplicates << " full " << s.full << " claimed " << s.claimed << " missed " << s.missed
        << " expired " << s.expired << " orphaned " << s.orphaned << " malformed " << s.malformed_syns
        << " recoveries " << s.recoveries << " lanes_opened " << s.lanes_opened << " lanes_returned "
        << s.lanes_returned << "\n";
    uint64_t now = monotonic_ms();
    for (const FlowView& f : table.snapshot()) {
        if (f.state == SlotState::free) continue;
        char age[32];
        snprintf(age, sizeof age, "%.1f", double(now - f.syn_ms) / 1000.0);
        out << "flow " << f.index << " " << to_string(f.state) << " " << f.syn.client.to_string() << " -> "
            << f.syn.dest.to_string() << " pid " << f.owner << " age " << age << "s to_dest "
            << f.bytes_to_dest << " to_client " << f.bytes_to_client << "\n";
    }
    return 0;
}

}  // namespace pepsal::connmgr
