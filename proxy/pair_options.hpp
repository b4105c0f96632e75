// The engine options both pair-mode workers derive from the configuration.
#pragma once

#include <cstdio>

#include "config.hpp"
#include "pair_engine.hpp"
#include "pair_frame.hpp"
#include "route.hpp"

namespace pepsal::proxy {

inline pair::EngineOptions engine_options(const FlowContext& ctx) {
    pair::EngineOptions o;
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
    char waits[300];
    snprintf(waits, sizeof waits,
             "; sender waited %.1f s for credit, %.1f s for full lanes, %.1f s for the flight budget, "
             "sent %.1f MB again; path %.1f Mbit/s x %.0f ms, startup ended at %.1f s; reorder peak %.1f MB",
             double(r.credit_wait_ms) / 1000.0, double(r.lanes_full_ms) / 1000.0, double(r.budget_wait_ms) / 1000.0,
             double(r.reinjected) / 1e6, double(r.bottleneck_bytes_per_s) * 8 / 1e6, double(r.rtt_us) / 1000.0,
             double(r.startup_ms) / 1000.0, double(r.reorder_peak) / 1e6);
    out.summary += waits;
    return out;
}

}  // namespace pepsal::proxy
