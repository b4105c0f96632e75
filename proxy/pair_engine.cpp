#include "pair_engine.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <stdexcept>

#include "clock.hpp"
#include "log.hpp"
#include "pair_engine_core.hpp"
#include "relay.hpp"
#include "sockopt.hpp"

namespace pepsal::pair {

namespace {

// epoll_event.data.u64: a lane's index, or one of these.
constexpr uint64_t LOCAL_TAG = uint64_t(1) << 32;
constexpr uint64_t FEED_TAG = uint64_t(2) << 32;
constexpr size_t MAX_EVENTS = MAX_LANES + 2;

// What we tell the peer when we end the flow for `end`. No RstReason names a local failure;
// to the peer it means that the flow's bytes can no longer be trusted.
RstReason rst_reason_for(EngineEnd end) {
    switch (end) {
        case EngineEnd::local_reset: return RstReason::endpoint_reset;
        case EngineEnd::idle_timeout: return RstReason::idle_timeout;
        case EngineEnd::stopped: return RstReason::peer_shutting_down;
        case EngineEnd::lane_failed: return RstReason::lane_failed;
        default: return RstReason::protocol_error;
    }
}

}  // namespace

const char* to_string(EngineEnd end) {
    switch (end) {
        case EngineEnd::closed: return "closed";
        case EngineEnd::local_reset: return "local_reset";
        case EngineEnd::peer_reset: return "peer_reset";
        case EngineEnd::lane_failed: return "lane_failed";
        case EngineEnd::protocol_error: return "protocol_error";
        case EngineEnd::idle_timeout: return "idle_timeout";
        case EngineEnd::stopped: return "stopped";
        case EngineEnd::error: return "error";
    }
    return "unknown";
}

Engine::Engine(UniqueFd local, size_t expected_lanes, UniqueFd lane_feed, const EngineOptions& options)
    : options_(options),
      local_(std::move(local)),
      feed_(std::move(lane_feed)),
      expected_(expected_lanes),
      outbound_(options.chunk_bytes, INITIAL_WINDOW),
      sent_(expected_lanes <= MAX_LANES ? expected_lanes : 0),
      timeout_checks_(expected_lanes <= MAX_LANES ? expected_lanes : 0, 0),
      delivered_at_join_(expected_lanes <= MAX_LANES ? expected_lanes : 0, 0),
      delivered_seen_(expected_lanes <= MAX_LANES ? expected_lanes : 0, 0),
      inbound_(std::max(options.reorder_bytes, INITIAL_WINDOW), local_.get()),
      now_ms_(monotonic_ms()),
      start_ms_(now_ms_),
      last_activity_ms_(now_ms_) {
    budget_.seed(options.path_bytes_per_s, options.path_rtt_us);
    result_.seeded = !budget_.in_startup();
}

EngineResult Engine::run(std::vector<UniqueFd> lanes) {
    try {
        setup(std::move(lanes));
        loop();
    } catch (const std::exception& e) {  // setup errors, epoll_ctl, allocation
        fail(EngineEnd::error, e.what());
    }
    teardown();
    return std::move(result_);
}

void Engine::setup(std::vector<UniqueFd> lanes) {
    if (!local_) throw std::invalid_argument("pair engine: no local socket");
    if (expected_ < 1 || expected_ > MAX_LANES)
        throw std::invalid_argument("pair engine: expected lanes " + std::to_string(expected_) +
                                    " not 1.." + std::to_string(MAX_LANES));
    if (lanes.size() > expected_)
        throw std::invalid_argument("pair engine: " + std::to_string(lanes.size()) +
                                    " lanes given for a flow of " + std::to_string(expected_));
    poller_.emplace();
    lanes_.resize(expected_);
    local_watch_ = Watch{local_.get(), LOCAL_TAG};
    feed_watch_ = Watch{feed_.get(), FEED_TAG};
    for (size_t i = 0; i < lanes.size(); ++i)
        if (lanes[i]) add_lane(std::move(lanes[i]), i);
    if (missing_lanes() > 0 && !feed_)
        fail(EngineEnd::lane_failed, std::to_string(missing_lanes()) + " lanes missing and no lane feed");
}

void Engine::loop() {
    for (;;) {
        if (options_.stop && *options_.stop) fail(EngineEnd::stopped, "stop requested");
        if (!ending_) work();
        if (ending_ || done_) return;
        update_interest();
        wait();
        if (ending_) return;
        check_timers();
    }
}

// Everything that needs no event, in the order that lets one pass finish what it starts:
// delivering can end the inbound stream, sending can end the outbound one, and both ends
// together start the closing.
void Engine::work() {
    now_ms_ = monotonic_ms();
    account_waits(false);
    deliver();
    if (!ending_) check_lane_health();
    if (!ending_) reinject();
    if (!ending_) distribute();
    if (!ending_) send_fin();
    if (!ending_) announce_window();
    if (!ending_) send_keepalives();
    if (!ending_) check_lanes();
    report_progress();
    account_waits(true);
}

// The time between two passes goes to what the first one ended waiting for.
void Engine::account_waits(bool pass_end) {
    if (!pass_end) {
        uint64_t waited = last_pass_ms_ ? now_ms_ - last_pass_ms_ : 0;
        if (waited_credit_) result_.credit_wait_ms += waited;
        if (waited_lanes_) result_.lanes_full_ms += waited;
        if (waited_budget_) result_.budget_wait_ms += waited;
        return;
    }
    last_pass_ms_ = now_ms_;
    waited_credit_ = outbound_.credit_blocked();
    waited_budget_ = budget_blocked_;
    waited_lanes_ = !outbound_.next_chunk().empty() && !budget_blocked_;
    result_.reorder_peak = std::max(result_.reorder_peak, inbound_.buffered());
}

void Engine::update_interest() {
    bool in = outbound_.wants_read();
    bool out = inbound_.blocked() && inbound_.has_ready();
    // Once we shut its sending side, a local socket whose peer closed too reports EPOLLHUP
    // whatever the mask; it stays out of the set while we have nothing to read from it.
    if (local_shut_ && !in)
        poller_->set(local_watch_, std::nullopt);
    else
        poller_->set(local_watch_, (in ? EPOLLIN : 0u) | (out ? EPOLLOUT : 0u));
    // A lane the peer finished is only written to until its pending control frames are out
    // (never cut a frame); then it leaves the set, as its EOF would be reported forever.
    // Staged bytes that no lane took: every lane's socket held LANE_NOTSENT_LOWAT unsent, so
    // wait for the first one to drain below it. Bytes the budget holds back wait for the
    // BUDGET_RECHECK_MS timer instead: the lanes are writable, and polling them would spin.
    bool staged = (!outbound_.next_chunk().empty() && !budget_blocked_) || sent_.reinjection_queued();
    for (auto& lane : lanes_) {
        if (!lane) continue;
        uint32_t out_bit = lane->pending() || (staged && lane->sendable()) ? EPOLLOUT : 0u;
        if (!lane->eof())
            poller_->set(lane->watch(), EPOLLIN | out_bit);
        else if (out_bit)
            poller_->set(lane->watch(), out_bit);
        else
            poller_->set(lane->watch(), std::nullopt);
    }
    if (feed_) poller_->set(feed_watch_, EPOLLIN);
}

void Engine::wait() {
    std::array<epoll_event, MAX_EVENTS> events;
    int n = poller_->wait(events, timeout_ms(), options_.wait_mask);
    if (n == -EINTR) return;  // the loop looks at *stop next
    if (n < 0) {
        fail(EngineEnd::error, std::string("epoll_pwait: ") + strerror(-n));
        return;
    }
    now_ms_ = monotonic_ms();
    for (int i = 0; i < n && !ending_; ++i) on_event(events[size_t(i)]);
}

void Engine::on_event(const epoll_event& ev) {
    if (ev.data.u64 == LOCAL_TAG) {
        on_local_event(ev.events);
    } else if (ev.data.u64 == FEED_TAG) {
        if (feed_) on_feed_event();
    } else if (ev.data.u64 < lanes_.size() && lanes_[ev.data.u64]) {
        on_lane_event(*lanes_[ev.data.u64], ev.events);
    }
}

int Engine::timeout_ms() const {
    std::optional<uint64_t> deadline;
    auto consider = [&](uint64_t at) { deadline = deadline ? std::min(*deadline, at) : at; };
    if (closing_) {
        consider(closing_heard_ms_ + LANE_CLOSE_WAIT_MS);
    } else {
        if (options_.idle_timeout_ms > 0) consider(last_activity_ms_ + uint64_t(options_.idle_timeout_ms));
        if (missing_lanes() > 0) consider(start_ms_ + uint64_t(std::max(options_.lane_wait_ms, 0)));
        if (lane_checks_due()) consider(last_lane_check_ms_ + LANE_CHECK_MS);
        if (budget_blocked_) consider(now_ms_ + BUDGET_RECHECK_MS);
        if (options_.keepalive_ms > 0)
            for (const auto& lane : lanes_)
                if (lane && lane->sendable()) consider(lane->last_send_ms() + uint64_t(options_.keepalive_ms));
    }
    if (!deadline) return -1;
    uint64_t now = monotonic_ms();
    return *deadline <= now ? 0 : int(std::min<uint64_t>(*deadline - now, INT32_MAX));
}

void Engine::check_timers() {
    now_ms_ = monotonic_ms();
    if (closing_) {
        if (now_ms_ - closing_heard_ms_ >= LANE_CLOSE_WAIT_MS) done_ = true;
        return;
    }
    if (options_.idle_timeout_ms > 0 && now_ms_ - last_activity_ms_ >= uint64_t(options_.idle_timeout_ms)) {
        fail(EngineEnd::idle_timeout,
             "no byte either way for " + std::to_string(options_.idle_timeout_ms) + " ms");
    } else if (size_t missing = missing_lanes();
               missing > 0 && now_ms_ - start_ms_ >= uint64_t(std::max(options_.lane_wait_ms, 0))) {
        fail(EngineEnd::lane_failed, std::to_string(missing) + " of " + std::to_string(expected_) +
                                         " lanes did not arrive within " +
                                         std::to_string(options_.lane_wait_ms) + " ms");
    }
}

void Engine::report_progress() {
    uint64_t up = outbound_.take_sent();
    uint64_t down = inbound_.take_written();
    if (up + down == 0) return;
    result_.to_peer += up;
    result_.to_local += down;
    if (down) last_activity_ms_ = now_ms_;
    if (options_.on_progress) options_.on_progress(up, down);
}

void Engine::fail(EngineEnd end, std::string detail, uint32_t peer_reason) {
    if (!ending_) ending_ = Ending{end, std::move(detail), peer_reason};
}

std::string Engine::lane_name(const Lane& lane) const {
    return "lane " + std::to_string(lane.index()) + "/" + std::to_string(expected_);
}

// A clean end closes everything gracefully: the lanes carried DONE both ways (or the closing
// wait ran out; they are drained here) and those the caller did not take for the next flow
// are closed, `local` saw both FINs. Any other end resets `local`, and
// tells the peer why on every lane that can still carry a frame, unless the peer is the one
// that reset.
void Engine::teardown() {
    report_progress();
    result_.reinjected = sent_.reinjected_bytes();
    result_.bottleneck_bytes_per_s = budget_.bottleneck_bytes_per_s();
    result_.rtt_us = budget_.rtt_us();
    result_.path_measured = budget_.measured();
    feed_.reset();
    if (!ending_) {
        // Sockets are armed to reset when closed (a killed worker must not fake a clean end);
        // this is the one clean close, so it disarms them first.
        result_.end = EngineEnd::closed;
        for (auto& lane : lanes_) {
            if (!lane || lane->fd() < 0) continue;  // never arrived, or handed on released
            disarm_reset_on_close(lane->fd());
            lane->close_gracefully();
        }
        lanes_.clear();
        disarm_reset_on_close(local_.get());
        local_.reset();
        return;
    }
    result_.end = ending_->end;
    result_.detail = std::move(ending_->detail);
    result_.peer_reason = ending_->peer_reason;
    LOG_DEBUG("pair engine: %s: %s", to_string(result_.end), result_.detail.c_str());
    for (auto& lane : lanes_) {
        if (!lane) continue;
        if (result_.end == EngineEnd::peer_reset)
            lane->close();
        else
            lane->abort(rst_reason_for(result_.end));
    }
    lanes_.clear();
    proxy::reset_close(std::move(local_));
}

EngineResult run_engine(UniqueFd local, std::vector<UniqueFd> lanes, size_t expected_lanes,
                        UniqueFd lane_feed, const EngineOptions& options) {
    return Engine(std::move(local), expected_lanes, std::move(lane_feed), options).run(std::move(lanes));
}

void reset_lanes(std::vector<UniqueFd> lanes, RstReason reason) {
    for (size_t i = 0; i < lanes.size(); ++i)
        if (lanes[i]) Lane(std::move(lanes[i]), i, monotonic_ms()).abort(reason);
}

}  // namespace pepsal::pair
