#include "queuer.hpp"

#include <poll.h>

#include <cerrno>
#include <cinttypes>
#include <stdexcept>
#include <string>

#include "captured_syn.hpp"
#include "clock.hpp"
#include "error.hpp"
#include "log.hpp"

namespace pepsal::queuer {

namespace {
// Datagrams handled per wake-up before `stop` is looked at again, so a SYN flood cannot delay
// shutdown indefinitely.
constexpr int MAX_DATAGRAMS_PER_WAKEUP = 1024;

std::string options_text(const SynOptions& o) {
    std::string s = "mss " + std::to_string(o.mss);
    s += o.wscale == SynOptions::NO_WSCALE ? ", no wscale" : ", wscale " + std::to_string(o.wscale);
    if (o.sack_permitted) s += ", sack";
    if (o.timestamps) s += ", ts";
    return s;
}

// A zero mark would make bypassed SYNs indistinguishable from others, so the firewall would
// redirect flows the table has no room for.
uint32_t nonzero_mark(uint16_t queue, uint32_t mark) {
    if (mark == 0)
        throw std::invalid_argument("queue " + std::to_string(queue) +
                                    ": bypass mark must not be 0");
    return mark;
}
}  // namespace

Queuer::Queuer(uint16_t queue, uint32_t bypass_mark, ConnTable& table)
    : queue_(queue),
      bypass_mark_(nonzero_mark(queue, bypass_mark)),
      table_(table),
      nfq_(queue, [this](const QueuedPacket& p) { return on_packet(p); }) {}

void Queuer::run(const volatile sig_atomic_t& stop, const sigset_t& wait_mask) {
    LOG_NOTICE("intercepting SYNs on NFQUEUE %u, bypass mark 0x%x", queue_, bypass_mark_);
    while (!stop) {
        pollfd pfd{nfq_.fd(), POLLIN, 0};
        if (ppoll(&pfd, 1, nullptr, &wait_mask) < 0) {
            if (errno == EINTR) continue;
            throw_errno("ppoll netlink of queue " + std::to_string(queue_));
        }
        drain();
    }
    log_counters();
}

void Queuer::drain() {
    for (int i = 0; i < MAX_DATAGRAMS_PER_WAKEUP; ++i) {
        Receive r = nfq_.receive_one();
        if (r == Receive::drained) return;
        if (r != Receive::overrun) continue;
        // The kernel accepted the packets it could not deliver (fail-open), so those flows go
        // through unproxied; that is worth a warning but not a restart.
        ++counters_.overruns;
        if (overrun_log_.allow(monotonic_ms()))
            LOG_WARN("queue %u: netlink receive buffer overrun, some SYNs passed unrecorded "
                     "(%" PRIu64 " overruns so far)",
                     queue_, counters_.overruns);
    }
}

std::optional<uint32_t> Queuer::on_packet(const QueuedPacket& p) {
    ++counters_.packets;
    SynRecord syn;
    SynParse r = parse_captured_syn(p.data, p.len, NfQueue::COPY_RANGE_BYTES, syn);
    if (r != SynParse::ok) {
        count_rejected(r, p);
        return std::nullopt;
    }
    ++counters_.syns;
    return record(syn, p.mark);
}

std::optional<uint32_t> Queuer::record(const SynRecord& syn, uint32_t mark) {
    switch (table_.insert(syn, monotonic_ms())) {
        case ConnTable::Insert::inserted:
            ++counters_.inserted;
            LOG_DEBUG("SYN %s: recorded (%s)", flow_name(syn.client, syn.dest).c_str(),
                      options_text(syn.options).c_str());
            return std::nullopt;
        case ConnTable::Insert::duplicate:
            ++counters_.duplicates;
            LOG_DEBUG("SYN %s: retransmission", flow_name(syn.client, syn.dest).c_str());
            return std::nullopt;
        case ConnTable::Insert::full:
            break;
    }
    ++counters_.bypassed;
    if (full_log_.allow(monotonic_ms()))
        LOG_WARN("SYN %s: connection table full, flow bypasses the proxy (%" PRIu64
                 " bypassed so far)",
                 flow_name(syn.client, syn.dest).c_str(), counters_.bypassed);
    // nfq_set_verdict2 replaces the mark; keep whatever other rules already put there.
    return mark | bypass_mark_;
}

void Queuer::count_rejected(SynParse result, const QueuedPacket& p) {
    switch (result) {
        case SynParse::not_syn: ++counters_.not_syn; break;
        case SynParse::not_tcp: ++counters_.not_tcp; break;
        case SynParse::malformed: ++counters_.malformed; break;
        case SynParse::truncated: ++counters_.truncated; break;
        case SynParse::ok: return;
    }
    if (result == SynParse::malformed || result == SynParse::truncated) table_.add_malformed();
    // Debug only: the contents come from the network, and a flood of them must not fill the log.
    LOG_DEBUG("queue %u: packet %u (%zu bytes captured) passed unrecorded: %s", queue_, p.id,
              p.len, to_string(result));
}

QueuerCounters Queuer::counters() const {
    QueuerCounters c = counters_;
    c.verdict_errors = nfq_.verdict_errors();
    return c;
}

void Queuer::log_counters() const {
    QueuerCounters c = counters();
    LOG_NOTICE("queue %u: %" PRIu64 " packets, %" PRIu64 " SYNs: %" PRIu64 " recorded, %" PRIu64
               " retransmitted, %" PRIu64 " bypassed (table full); %" PRIu64 " not SYN, %" PRIu64
               " not TCP, %" PRIu64 " malformed, %" PRIu64 " truncated; %" PRIu64
               " netlink overruns, %" PRIu64 " verdict errors",
               queue_, c.packets, c.syns, c.inserted, c.duplicates, c.bypassed, c.not_syn,
               c.not_tcp, c.malformed, c.truncated, c.overruns, c.verdict_errors);
}

}  // namespace pepsal::queuer
