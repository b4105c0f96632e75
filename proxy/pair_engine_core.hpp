// The state of one flow inside run_engine() (pair_engine.hpp), which is its only user. Its
// methods live in three files: pair_engine.cpp (the loop, timers, endings),
// pair_engine_send.cpp (local → lanes and the control frames we send) and
// pair_engine_lanes.cpp (lanes → local, lane arrival and lane endings).
//
// The loop is level-triggered: each pass does every piece of work that needs no event (deliver
// to local, cut staged bytes into frames, FIN, WINDOW, keepalives, the closing steps), then
// sets each fd's interest to exactly what it is waiting for, then waits. A failure anywhere
// records the first Ending and the loop stops; teardown() then resets what must be reset.
#pragma once

#include <sys/epoll.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "pair_engine.hpp"
#include "pair_engine_inbound.hpp"
#include "pair_engine_outbound.hpp"
#include "pair_engine_poll.hpp"
#include "pair_flight_budget.hpp"
#include "pair_frame.hpp"
#include "pair_lane.hpp"
#include "pair_lane_scheduler.hpp"
#include "pair_sent_chunks.hpp"

namespace pepsal::pair {

// After both streams ended: how long the lanes may stay silent before we stop waiting for the
// peer to close them and simply close ours. The peer waits the same way, so this only bounds
// a peer that vanished; one still draining a long lane backlog keeps sending and is waited for.
constexpr uint64_t LANE_CLOSE_WAIT_MS = 5000;

// A new WINDOW is announced each time delivery freed this fraction of the reorder buffer
// (2 MB of the default 32 MB): a few 16-byte frames per second at 50 Mbit/s.
constexpr uint64_t WINDOW_STEP_DIVISOR = 16;

// How often the lanes' TCP state is read: acknowledged bytes free their copies in SentChunks,
// and a lane in retransmission-timeout recovery has its unacknowledged chunks sent again on
// the other lanes. A few getsockopt calls per lane, 20 times a second.
constexpr uint64_t LANE_CHECK_MS = 50;

// Tail reinjection (see reinject_tail): the flow has nothing staged and gave no new DATA to
// any lane for TAIL_QUIET_MS (a stream that keeps up with its lanes empties its staging
// buffer many times a second, so an empty buffer alone is no tail: a 60 s upload at 1 % loss
// sent 1.2 % again that way), and a lane's chunk is still unacknowledged its smoothed RTT
// x 5/4 plus TAIL_MARGIN_MS after it went.
constexpr uint64_t TAIL_QUIET_MS = 100;
constexpr uint64_t TAIL_MARGIN_MS = 50;

// While the FlightBudget holds staged bytes back, the lanes' sockets are writable and say
// nothing when their acknowledgements free budget: the loop looks again this often. At
// 50 Mbit/s that is 31 KB, well inside what the lanes hold unsent.
constexpr uint64_t BUDGET_RECHECK_MS = 5;

class Engine {
public:
    Engine(UniqueFd local, size_t expected_lanes, UniqueFd lane_feed, const EngineOptions& options);
    EngineResult run(std::vector<UniqueFd> lanes);

private:
    struct Ending {
        EngineEnd end;
        std::string detail;
        uint32_t peer_reason = 0;
    };

    // pair_engine.cpp
    void setup(std::vector<UniqueFd> lanes);
    void loop();
    void work();
    void wait();
    void on_event(const epoll_event& ev);
    void check_timers();
    int timeout_ms() const;
    void update_interest();
    void report_progress();
    void account_waits(bool pass_end);
    void teardown();
    void fail(EngineEnd end, std::string detail, uint32_t peer_reason = 0);
    std::string lane_name(const Lane& lane) const;

    // pair_engine_send.cpp
    void on_local_event(uint32_t events);
    void distribute();
    void load_lanes(bool for_data);
    std::optional<size_t> send_control(Carries carries, std::span<const uint8_t> frame,
                                       std::optional<size_t> avoid = std::nullopt);
    void send_fin();
    void announce_window();
    void send_keepalives();
    void reinject();
    bool send_data(size_t lane_index, uint64_t offset, std::span<const uint8_t> payload);
    void check_lane_health();
    void reinject_tail(size_t index, const Lane& lane, const Lane::PathState& path);
    bool tail_overdue(uint64_t sent_ms, const Lane::PathState& path) const;
    void check_fin_lane(size_t index, const Lane& lane, const Lane::PathState& path, bool tail);
    bool lane_checks_due() const;
    bool fin_sent() const;
    bool all_flushed() const;

    // pair_engine_lanes.cpp
    void deliver();
    void on_lane_event(Lane& lane, uint32_t events);
    void read_lane(Lane& lane);
    void on_frame(Lane& lane, const Frame& frame);
    void on_lane_eof(Lane& lane);
    void on_lane_done(Lane& lane);
    void peer_finished(Lane& lane, const char* what);
    void lane_broke(Lane& lane, const char* call, int err);
    bool lanes_needed() const;
    void on_feed_event();
    void add_lane(UniqueFd fd, size_t index);
    size_t missing_lanes() const;
    void check_lanes();
    void start_closing();
    void release_lanes();

    const EngineOptions& options_;
    UniqueFd local_;
    UniqueFd feed_;
    Watch local_watch_, feed_watch_;
    size_t expected_;
    std::vector<std::unique_ptr<Lane>> lanes_;  // index = lane index; null until it arrives
    std::vector<LaneLoad> loads_;               // pick_lane() input, rebuilt per choice
    std::optional<Poller> poller_;
    OutboundStream outbound_;
    SentChunks sent_;             // copies of DATA until its lane's TCP acknowledged it
    // Per lane: consecutive check_lane_health() calls that found it in timeout recovery (0:
    // not timed out as of the last check).
    std::vector<size_t> timeout_checks_;
    bool timed_out(size_t lane) const { return timeout_checks_[lane] > 0; }
    FlightBudget budget_;
    std::vector<uint32_t> delivered_at_join_;  // per lane: tcpi_delivered when it joined
    std::vector<uint32_t> delivered_seen_;     // per lane: tcpi_delivered at the last check
    uint64_t delivered_bytes_ = 0;             // all lanes, since they joined the flow
    FlightSample flight_sample_;               // check_lane_health()'s, kept for its buffer
    uint64_t budget_left_ = UINT64_MAX;     // load_lanes(true): what the budget still allows
    bool budget_blocked_ = false;           // distribute() stopped at the budget
    uint64_t last_lane_check_ms_ = 0;
    uint64_t last_data_ms_ = 0;  // when distribute() last gave new DATA to a lane
    // The lane our FIN went to last, the lane byte number of its end, when it went; until
    // that lane's TCP acknowledged it. fin_again_: send it once more, on another lane.
    std::optional<size_t> fin_lane_;
    uint64_t fin_lane_end_ = 0, fin_sent_ms_ = 0;
    bool fin_again_ = false;
    InboundStream inbound_;
    uint64_t announced_ = 0;  // the last WINDOW limit we sent
    uint64_t now_ms_, start_ms_, last_activity_ms_;
    uint64_t closing_heard_ms_ = 0;  // closing: when a lane last brought a byte
    uint64_t last_pass_ms_ = 0;      // account_waits(): the end of the previous pass
    bool waited_credit_ = false, waited_lanes_ = false, waited_budget_ = false;  // what that pass ended waiting for
    bool local_shut_ = false;  // EOF delivered: shutdown(local, SHUT_WR) done
    bool closing_ = false;     // both streams done; lanes shut down, waiting for the peer's
    bool done_ = false;        // clean end reached
    bool peer_done_ = false;   // the peer shut a lane: it has our whole stream (on_lane_eof)
    std::optional<Ending> ending_;
    EngineResult result_;
};

}  // namespace pepsal::pair
