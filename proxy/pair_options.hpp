// The engine options both pair-mode workers derive from the configuration.
#pragma once

#include <cstdio>

#include "config.hpp"
#include "pair_engine.hpp"
#include "pair_frame.hpp"
#include "pair_lane_return.hpp"
#include "route.hpp"

namespace pepsal::proxy {

// `lane_return`: the connmgr's lane return socket, or -1 (lanes are not kept); `path`: what an
// earlier flow measured of the path, the flight budget's seed. Released lanes go back with
// what this flow measured if its flight budget got past startup (before that the rate says
// little), else with the estimate it was given: their congestion windows are still those of
// the flow that measured it, and the next flow's budget must hold them from its first byte.
inline pair::EngineOptions engine_options(const FlowContext& ctx, int lane_return, pair::LaneOwner owner,
                                          const pair::PathEstimate& path) {
    pair::EngineOptions o;
    if (lane_return >= 0)
        o.on_lane_released = [lane_return, owner, path](UniqueFd lane, uint64_t rate, uint64_t rtt, bool measured) {
            std::vector<UniqueFd> one;
            one.push_back(std::move(lane));
            pair::return_lanes(lane_return, std::move(one), owner, measured ? pair::PathEstimate{rate, rtt} : path);
        };
    o.path_bytes_per_s = path.bytes_per_s;
    o.path_rtt_us = path.rtt_us;
    o.reorder_bytes = ctx.config.reorder_bytes;
    // Small frames: a frame is delivered only once whole, and a fresh or idle lane sends about
    // 14 KB (10 segments) in its first round trip; 64 KiB frames cost two extra round trips of
    // first-byte latency over a 600 ms link. 8 KiB keeps the first frame inside one round trip.
    o.chunk_bytes = 8192;
    o.idle_timeout_ms = int(ctx.config.idle_timeout_ms);
    o.stop = ctx.stop;
    o.wait_mask = ctx.wait_mask;
    o.on_progress = ctx.on_progress;
    return o;
}

inline FlowOutcome outcome_of(const pair::EngineResult& r) {
    FlowOutcome out;
    out.clean = r.end == pair::EngineEnd::closed;
    out.to_dest = r.to_peer;
    out.to_client = r.to_local;
    out.summary = pair::to_string(r.end);
    if (r.end == pair::EngineEnd::peer_reset)
        out.summary += std::string(" (") + pair::to_string(pair::RstReason(r.peer_reason)) + ")";
    if (!r.detail.empty()) out.summary += " (" + r.detail + ")";
    char startup[64];
    if (r.seeded)
        snprintf(startup, sizeof startup, "no startup (seeded)");
    else if (r.startup_ms)
        snprintf(startup, sizeof startup, "startup ended at %.1f s", double(r.startup_ms) / 1000.0);
    else
        snprintf(startup, sizeof startup, "still in startup");
    char waits[320];
    snprintf(waits, sizeof waits,
             "; sender waited %.1f s for credit, %.1f s for full lanes, %.1f s for the flight budget, "
             "sent %.1f MB again; path %.1f Mbit/s x %.0f ms, %s; reorder peak %.1f MB",
             double(r.credit_wait_ms) / 1000.0, double(r.lanes_full_ms) / 1000.0, double(r.budget_wait_ms) / 1000.0,
             double(r.reinjected) / 1e6, double(r.bottleneck_bytes_per_s) * 8 / 1e6, double(r.rtt_us) / 1000.0,
             startup, double(r.reorder_peak) / 1e6);
    out.summary += waits;
    return out;
}

}  // namespace pepsal::proxy
