#include "pair_route.hpp"

#include <sodium.h>

#include "log.hpp"
#include "pair_frame.hpp"
#include "pair_lane_socket.hpp"
#include "pair_options.hpp"
#include "pair_payload.hpp"
#include "relay.hpp"

namespace pepsal::proxy {

PairRoute::PairRoute(std::vector<UniqueFd> lanes, int lane_return, pair::PathEstimate path)
    : lanes_(std::move(lanes)), lane_return_(lane_return), path_(path) {}

// OPEN on lane 0 and JOIN on the others go out at once, before any byte of the client: the
// far side learns the destination and starts connecting while the client's first bytes travel
// right behind on the same lanes. No round trip is spent waiting for the far side's answer;
// a refusal comes back as RST and resets the client.
FlowOutcome PairRoute::carry(Flow flow, const FlowContext& ctx) {
    pair::OpenPayload open;
    randombytes_buf(&open.token, sizeof open.token);
    open.lane_count = uint8_t(lanes_.size());
    open.dest = flow.dest;
    open.client = flow.client;
    uint8_t frame[pair::FRAME_HEADER_BYTES + pair::OPEN_PAYLOAD_BYTES];
    bool sent = pair::write_small(lanes_[0].get(), {frame, pair::encode_open(frame, open)});
    for (size_t i = 1; sent && i < lanes_.size(); ++i) {
        pair::JoinPayload join{open.token, uint8_t(i)};
        sent = pair::write_small(lanes_[i].get(), {frame, pair::encode_join(frame, join)});
    }
    if (!sent) {
        reset_close(std::move(flow.client_fd));
        FlowOutcome out;
        out.summary = "lane to the peer failed before the flow started; client reset";
        return out;
    }
    size_t n = lanes_.size();
    pair::EngineResult r = pair::run_engine(std::move(flow.client_fd), std::move(lanes_), n, UniqueFd{},
                                            engine_options(ctx, lane_return_, pair::LaneOwner::pool, path_));
    return outcome_of(r);
}

}  // namespace pepsal::proxy
