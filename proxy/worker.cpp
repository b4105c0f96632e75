#include "worker.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <system_error>

#include "clock.hpp"
#include "direct_route.hpp"
#include "pair_dial.hpp"
#include "pair_route.hpp"
#include "log.hpp"
#include "original_dst.hpp"
#include "relay.hpp"
#include "signals.hpp"
#include "sockopt.hpp"

namespace pepsal::proxy {

namespace {

constexpr size_t MAX_DIALED_LANES = 8;  // lanes a worker opens itself when the pool is empty

struct Identified {
    Endpoint dest;
    std::optional<uint32_t> slot;
};

// The table's record is what the client asked for before any NAT; the kernel's answer is the
// cross-check and the fallback when the queuer missed the SYN (down, bypassed, or restarted).
std::optional<Identified> identify(int fd, const Endpoint& client, const Config& cfg, ConnTable& table) {
    auto kernel = kernel_original_dst(fd, cfg.mode);
    int kernel_errno = errno;  // claim() below does its own I/O
    FlowView view;
    Identified id;
    id.slot = table.claim(client, getpid(), view);
    if (id.slot) {
        id.dest = view.syn.dest;
        if (kernel && !(*kernel == id.dest)) {
            LOG_WARN("%s: table says destination %s, kernel says %s; using the kernel's",
                     client.to_string().c_str(), id.dest.to_string().c_str(), kernel->to_string().c_str());
            id.dest = *kernel;
        }
        return id;
    }
    if (!kernel) {
        LOG_ERROR("%s: no table entry and no original destination from the kernel: %s",
                  client.to_string().c_str(), std::strerror(kernel_errno));
        return std::nullopt;
    }
    id.dest = *kernel;
    id.slot = table.adopt(SynRecord{client, id.dest, {}}, getpid(), monotonic_ms());
    LOG_INFO("%s: not in the table; using the kernel's original destination",
             flow_name(client, id.dest).c_str());
    return id;
}

// nullptr: the flow must be refused (pair mode, no lane ready, peer-fallback=reset).
std::unique_ptr<Route> make_route(const Config& cfg, ConnTable& table, PairLanes pair, const std::string& name,
                                  const sigset_t& wait_mask) {
    if (pair.lanes.empty() && pair.peer_up && pair.key) {
        // A burst emptied the pool: each of its flows opening all its lanes across the link at
        // once would make it a storm of handshakes; a few lanes carry the flow, and they join
        // the pool when it ends.
        size_t n = std::min<size_t>(cfg.lanes, MAX_DIALED_LANES);
        pair.lanes = pair::dial_lanes(cfg, *pair.key, n, cfg.connect_timeout_ms, &signals::flags().terminate,
                                      &wait_mask);
        table.add_lanes_opened(pair.lanes.size());
    }
    if (!pair.lanes.empty()) return std::make_unique<PairRoute>(std::move(pair.lanes), pair.lane_return, pair.path);
    if (cfg.pair_near()) {
        if (!cfg.peer_fallback_direct) {
            LOG_WARN("%s: refused: no lane to peer %s is ready (peer-fallback=reset)", name.c_str(),
                     cfg.peer.to_string().c_str());
            return nullptr;
        }
        LOG_INFO("%s: no lane to peer %s is ready; proxying directly", name.c_str(), cfg.peer.to_string().c_str());
    }
    return std::make_unique<DirectRoute>();
}

}  // namespace

int run_worker(UniqueFd client, const Config& cfg, ConnTable& table, const sigset_t& wait_mask,
               PairLanes pair) {
    auto client_ep = peer_endpoint(client.get());
    if (!client_ep) {
        LOG_INFO("accepted connection gone before it was served: %m");
        return 0;
    }
    auto id = identify(client.get(), *client_ep, cfg, table);
    if (!id) {
        reset_close(std::move(client));
        return 1;
    }
    std::string name = flow_name(*client_ep, id->dest);
    auto release = [&] {
        if (id->slot) table.release(*id->slot, getpid());
    };
    if (id->dest.port() == cfg.port && is_local_address(id->dest)) {
        LOG_WARN("%s: refused: the destination is pepsal itself", name.c_str());
        reset_close(std::move(client));
        release();
        return 1;
    }
    arm_reset_on_close(client.get());
    try {
        apply_side_options(client.get(), cfg.client, "client " + client_ep->to_string());
    } catch (const std::system_error& e) {
        LOG_WARN("%s: %s", name.c_str(), e.what());
    }
    LOG_DEBUG("%s: proxying", name.c_str());
    uint64_t start = monotonic_ms();
    FlowContext ctx{cfg, &signals::flags().terminate, &wait_mask, [&](uint64_t to_dest, uint64_t to_client) {
                        if (id->slot) table.add_bytes(*id->slot, to_dest, to_client);
                    }};
    auto route = make_route(cfg, table, std::move(pair), name, wait_mask);
    if (!route) {
        reset_close(std::move(client));
        release();
        return 1;
    }
    FlowOutcome out = route->carry(Flow{*client_ep, id->dest, std::move(client), name}, ctx);
    release();
    LOG_INFO("%s: %s after %.3f s, %llu bytes to destination, %llu to client", name.c_str(),
             out.summary.c_str(), double(monotonic_ms() - start) / 1000.0,
             (unsigned long long)out.to_dest, (unsigned long long)out.to_client);
    return 0;
}

}  // namespace pepsal::proxy
