#include "pair_far.hpp"

#include <unistd.h>

#include <cstring>

#include "cidr.hpp"
#include "clock.hpp"
#include "connect.hpp"
#include "log.hpp"
#include "pair_options.hpp"
#include "signals.hpp"

namespace pepsal::proxy {

namespace {
pair::RstReason reason_for(int connect_error) {
    return connect_error == ECONNREFUSED ? pair::RstReason::destination_refused
                                         : pair::RstReason::destination_unreachable;
}

void refuse(FarFlow& flow, pair::RstReason reason) {
    std::vector<UniqueFd> lanes;
    lanes.push_back(std::move(flow.lane));
    pair::reset_lanes(std::move(lanes), reason);
}
}  // namespace

int run_far_worker(FarFlow flow, const Config& cfg, ConnTable& table, const sigset_t& wait_mask) {
    const Endpoint dest = flow.open.dest;
    std::string name = flow_name(flow.open.client, dest) + " via peer " + flow.peer.addr_string();
    if (!cfg.allow.empty() && !cidr_list_contains(cfg.allow, dest)) {
        LOG_WARN("%s: refused: destination not in allow=%s", name.c_str(), cfg.allow.c_str());
        refuse(flow, pair::RstReason::not_allowed);
        return 1;
    }
    auto slot = table.adopt(SynRecord{flow.open.client, dest, {}}, getpid(), monotonic_ms());
    auto release = [&] {
        if (slot) table.release(*slot, getpid());
    };
    const auto* stop = &signals::flags().terminate;
    auto conn = connect_to(dest, cfg.server, cfg.server_fastopen, cfg.connect_timeout_ms, stop, &wait_mask);
    if (!conn.fd) {
        LOG_INFO("%s: connect failed: %s; resetting the flow", name.c_str(), std::strerror(conn.error));
        refuse(flow, reason_for(conn.error));
        release();
        return 0;
    }
    FlowContext ctx{cfg, stop, &wait_mask, [&](uint64_t to_peer, uint64_t to_dest) {
                        if (slot) table.add_bytes(*slot, to_dest, to_peer);
                    }};
    uint64_t start = monotonic_ms();
    std::vector<UniqueFd> lanes;
    lanes.push_back(std::move(flow.lane));
    pair::EngineResult r = pair::run_engine(std::move(conn.fd), std::move(lanes), flow.open.lane_count,
                                            std::move(flow.lane_feed),
                                            engine_options(ctx, flow.lane_return, pair::LaneOwner::acceptor, flow.path));
    FlowOutcome out = outcome_of(r);
    release();
    LOG_INFO("%s: %s after %.3f s, %llu bytes to destination, %llu to client", name.c_str(), out.summary.c_str(),
             double(monotonic_ms() - start) / 1000.0, (unsigned long long)out.to_client,
             (unsigned long long)out.to_dest);
    return 0;
}

}  // namespace pepsal::proxy
