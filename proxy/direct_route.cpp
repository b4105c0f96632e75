#include "direct_route.hpp"

#include <cstring>

#include "connect.hpp"
#include "log.hpp"
#include "relay.hpp"

namespace pepsal::proxy {

FlowOutcome DirectRoute::carry(Flow flow, const FlowContext& ctx) {
    const Config& cfg = ctx.config;
    FlowOutcome out;
    auto conn = connect_to(flow.dest, cfg.server, cfg.server_fastopen, cfg.connect_timeout_ms,
                           ctx.stop, ctx.wait_mask);
    if (!conn.fd) {
        // The client already completed its handshake with us: an RST is the only honest way
        // to tell it the destination did not answer (a FIN would look like an empty reply).
        reset_close(std::move(flow.client_fd));
        out.summary = std::string("connect failed: ") + std::strerror(conn.error) + "; client reset";
        return out;
    }
    RelayOptions ro;
    ro.pipe_bytes = cfg.pipe_bytes;
    ro.idle_timeout_ms = int(cfg.idle_timeout_ms);
    ro.stop = ctx.stop;
    ro.wait_mask = ctx.wait_mask;
    ro.on_progress = ctx.on_progress;
    RelayResult r = relay(std::move(flow.client_fd), std::move(conn.fd), ro);
    out.clean = r.end == RelayEnd::closed;
    out.to_dest = r.a_to_b;
    out.to_client = r.b_to_a;
    out.summary = to_string(r.end);
    if (!r.detail.empty()) out.summary += " (" + r.detail + ")";
    return out;
}

}  // namespace pepsal::proxy
