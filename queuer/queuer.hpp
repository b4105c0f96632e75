// The queuer process: reads the SYNs the firewall sends to NFQUEUE, records each new flow in the
// connection table for the proxy worker that will accept it, and lets every packet through. When
// the table is full the SYN leaves with the bypass mark, so the firewall does not redirect that
// flow and it goes through unproxied instead of failing.
#pragma once

#include <signal.h>

#include <cstdint>
#include <optional>

#include "conn_table.hpp"
#include "nfqueue.hpp"
#include "rate_limit.hpp"
#include "syn_parser.hpp"

namespace pepsal::queuer {

struct QueuerCounters {
    uint64_t packets = 0;     // every packet queued to us
    uint64_t syns = 0;        // parsed as a SYN
    uint64_t inserted = 0;    // recorded in the table
    uint64_t duplicates = 0;  // retransmitted SYNs of a flow already recorded
    uint64_t bypassed = 0;    // table full: marked for bypass
    uint64_t not_syn = 0;     // TCP without a bare SYN (the firewall rule should not send them)
    uint64_t not_tcp = 0;     // other protocols, non-first fragments
    uint64_t malformed = 0;
    uint64_t truncated = 0;
    uint64_t overruns = 0;        // ENOBUFS from the netlink socket
    uint64_t verdict_errors = 0;  // verdicts the kernel refused
};

class Queuer {
public:
    // Binds NFQUEUE `queue`; SYNs that find the table full leave with `bypass_mark` OR-ed into
    // their mark. Throws std::system_error naming the failing call and the queue (binding needs
    // CAP_NET_ADMIN and a queue no other process holds), std::invalid_argument for mark 0.
    Queuer(uint16_t queue, uint32_t bypass_mark, ConnTable& table);
    Queuer(const Queuer&) = delete;
    Queuer& operator=(const Queuer&) = delete;

    // Handles packets until `stop` is set. The caller keeps its stop signal blocked; it is
    // delivered only while waiting, in ppoll with `wait_mask`, so setting `stop` from a handler
    // always ends the wait. Logs the counters at notice level before returning. Throws
    // std::system_error when the netlink socket fails (not for overruns, which are counted).
    void run(const volatile sig_atomic_t& stop, const sigset_t& wait_mask);

    QueuerCounters counters() const;
    void log_counters() const;

private:
    std::optional<uint32_t> on_packet(const QueuedPacket& p);
    std::optional<uint32_t> record(const SynRecord& syn, uint32_t mark);
    void count_rejected(SynParse result, const QueuedPacket& p);
    void drain();

    uint16_t queue_;
    uint32_t bypass_mark_;
    ConnTable& table_;
    QueuerCounters counters_;
    RateLimit overrun_log_{1000};  // ms
    RateLimit full_log_{1000};     // ms
    NfQueue nfq_;                  // last: its handler uses the members above
};

}  // namespace pepsal::queuer
