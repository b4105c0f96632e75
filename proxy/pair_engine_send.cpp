// The local → peer half of the engine: reading `local` within the peer's credit, DATA frames
// on the least-loaded lanes, and the control frames we send (FIN, WINDOW, KEEPALIVE).
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "pair_engine_core.hpp"

namespace pepsal::pair {

namespace {

int socket_error(int fd) {
    int err = 0;
    socklen_t len = sizeof err;
    return getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 ? err : errno;
}

// How long after they went a lane's bytes count as lost at the tail (see reinject_tail).
uint64_t tail_wait_ms(const Lane::PathState& path) { return uint64_t(path.srtt_us) * 5 / 4000 + TAIL_MARGIN_MS; }

}  // namespace

void Engine::on_local_event(uint32_t events) {
    if (events & EPOLLERR) {
        if (int err = socket_error(local_.get())) {
            fail(EngineEnd::local_reset, std::string("local socket: ") + strerror(err));
            return;
        }
    }
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) inbound_.set_writable();
    if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && outbound_.wants_read()) {
        IoResult r = outbound_.read_from(local_.get());
        if (r.err) fail(EngineEnd::local_reset, std::string("read from local: ") + strerror(r.err));
        if (r.bytes) last_activity_ms_ = now_ms_;
    }
}

// Fills loads_ for pick_lane(), and for DATA budget_left_. A DATA frame may only go to a lane
// with nothing pending (so that no more than one frame waits behind a stalled lane); a control
// frame to any lane that can still send, as it is small and the peer needs it soon.
// A lane in timeout recovery takes no DATA, and control frames only when no other lane can.
void Engine::load_lanes(bool for_data) {
    loads_.assign(lanes_.size(), LaneLoad{});
    uint64_t held = 0;  // in flight or unsent, over every lane
    for (size_t i = 0; i < lanes_.size(); ++i) {
        const Lane* lane = lanes_[i].get();
        if (!lane || !lane->sendable()) continue;
        Lane::SendState st = lane->send_state();
        held += st.in_flight + st.unsent;
        if (for_data && (lane->pending() > 0 || timed_out(i) || st.unsent >= LANE_NOTSENT_LOWAT)) continue;
        loads_[i] = LaneLoad{timed_out(i) ? UINT64_MAX : st.unsent, true, for_data ? st.room : 0};
    }
    if (!for_data) return;
    std::optional<uint64_t> limit = budget_.limit();
    budget_left_ = !limit ? UINT64_MAX : *limit > held ? *limit - held : 0;
}

// One DATA frame on lane `lane_index`; false if the lane broke (the flow is failing).
bool Engine::send_data(size_t lane_index, uint64_t offset, std::span<const uint8_t> payload) {
    Lane& lane = *lanes_[lane_index];
    std::array<uint8_t, FRAME_HEADER_BYTES> head;
    encode_header(head, FrameHeader{FrameType::data, 0, uint32_t(payload.size()), offset});
    if (int err = lane.send_frame(now_ms_, Carries::stream, head, payload)) {
        lane_broke(lane, "write", err);
        return false;
    }
    LaneLoad& load = loads_[lane_index];
    uint64_t bytes = head.size() + payload.size();
    load.queued_bytes += bytes > load.room ? bytes - load.room : 0;  // the window's part leaves at once
    load.room = load.room > bytes ? load.room - bytes : 0;
    load.writable = lane.pending() == 0 && load.queued_bytes < LANE_NOTSENT_LOWAT;
    return true;
}

// Reads every lane's TCP state (at most every LANE_CHECK_MS): what a lane's TCP acknowledged
// needs no copy any more; what a lane that timed out still holds goes to reinject().
void Engine::check_lane_health() {
    if (!lane_checks_due() || now_ms_ - last_lane_check_ms_ < LANE_CHECK_MS) return;
    last_lane_check_ms_ = now_ms_;
    FlightSample& sample = flight_sample_;
    sample.now_us = now_ms_ * 1000;
    sample.sender_busy = !outbound_.next_chunk().empty();
    sample.lanes.clear();
    bool tail = !sample.sender_busy && now_ms_ - last_data_ms_ >= TAIL_QUIET_MS;
    for (size_t i = 0; i < lanes_.size(); ++i) {
        const Lane* lane = lanes_[i].get();
        if (!lane || !lane->sendable()) continue;
        sent_.acked(i, lane->acked_bytes());
        Lane::PathState path = lane->path_state();
        // A lane that just timed out is usually one lost retransmission away from recovering,
        // and the peer's TCP may hold (SACKed) most of what it has not acknowledged: its
        // oldest chunk, the hole the flow waits for, goes again first, then twice as many
        // with each check it stays in timeout recovery, so that a lane that died is emptied
        // within a few hundred ms. Sending all at once duplicated up to 1.6 % of an upload.
        timeout_checks_[i] = path.timed_out ? timeout_checks_[i] + 1 : 0;
        if (timed_out(i)) sent_.reinject(i, size_t(1) << std::min<size_t>(timeout_checks_[i] - 1, 20));
        else if (tail) reinject_tail(i, *lane, path);
        if (fin_lane_ == i && !fin_again_) check_fin_lane(i, *lane, path, tail);
        // Unsigned differences: tcpi_delivered wraps after 2^32 segments.
        delivered_bytes_ += uint64_t(uint32_t(path.delivered - delivered_seen_[i])) * path.mss;
        delivered_seen_[i] = path.delivered;
        sample.lanes.push_back(LaneReading{path.min_rtt_us, path.srtt_us,
                                           uint32_t(path.delivered - delivered_at_join_[i]), path.carrying});
    }
    sample.delivered_bytes = delivered_bytes_;
    bool was_startup = budget_.in_startup();
    budget_.on_sample(sample);
    if (was_startup && !budget_.in_startup()) result_.startup_ms = now_ms_ - start_ms_;
}

// The tail of a burst (a 100 KB response, the end of a file) spreads over many lanes with a
// few packets each, and when a lane's last packets are lost nothing behind them tells its
// TCP: it finds out from a tail loss probe two round trips later, or from a timeout. The
// flow's receiver waits in order all that time. So once the flow has nothing left to send,
// the chunks a lane has held unacknowledged for 5/4 of its smoothed RTT plus a margin,
// with nothing of its own still unsent, go again on the other lanes: a copy arrives about
// a round trip earlier than the probe's retransmission. Only lanes whose acknowledgements
// are late pay, with a copy of their tail; a stream gives its lanes new DATA all the time,
// so this does not fire during one (TAIL_QUIET_MS).
void Engine::reinject_tail(size_t index, const Lane& lane, const Lane::PathState& path) {
    std::optional<uint64_t> oldest = sent_.oldest_unqueued_ms(index);
    if (!oldest || !tail_overdue(*oldest, path)) return;
    if (lane.pending() > 0 || lane.send_state().unsent > 0) return;  // still leaving: no tail yet
    sent_.reinject_sent_before(index, now_ms_ - tail_wait_ms(path));
}

// What went to a lane at `sent_ms` should have been acknowledged by now.
bool Engine::tail_overdue(uint64_t sent_ms, const Lane::PathState& path) const {
    return path.carrying && path.srtt_us != 0 && now_ms_ >= sent_ms + tail_wait_ms(path);
}

// While copies are held, our FIN is unacknowledged, or a lane is marked timed out (it takes
// no DATA until a check sees it recovered; were every lane marked, nothing else would ever
// look again).
bool Engine::lane_checks_due() const {
    return !sent_.empty() || fin_lane_ || std::any_of(timeout_checks_.begin(), timeout_checks_.end(), [](size_t n) { return n > 0; });
}

// Chunks of timed-out lanes go first, to the lanes that can send now; the receiver keeps
// whichever copy arrives first.
void Engine::reinject() {
    if (!sent_.reinjection_queued()) return;
    load_lanes(true);
    while (auto chunk = sent_.next_reinjection()) {
        std::optional<size_t> pick = pick_lane(loads_);
        if (!pick) return;
        if (!send_data(*pick, chunk->offset, chunk->bytes)) return;
        sent_.reinjected(*pick, lanes_[*pick]->given_bytes(), now_ms_);
    }
}

// Cuts the staged bytes into DATA frames, each written whole on the lane pick_lane() chooses
// (cut to its congestion window's room when it has some); the scheduler's counts are read once per batch and then advanced by what we
// gave each lane. What no lane can take now stays staged until a lane drains (EPOLLOUT).
void Engine::distribute() {
    budget_blocked_ = false;
    if (outbound_.next_chunk().empty()) return;
    load_lanes(true);
    for (auto chunk = outbound_.next_chunk(); !chunk.empty(); chunk = outbound_.next_chunk()) {
        if (budget_left_ < MIN_ROOM_BYTES) {
            budget_blocked_ = true;
            return;
        }
        std::optional<size_t> pick = pick_lane(loads_);
        if (!pick) return;
        // A lane with room gets what its window can send now, not a whole chunk; and no frame
        // goes past the budget.
        uint64_t room = loads_[*pick].room;
        uint64_t cut = room >= MIN_ROOM_BYTES ? std::min(room, budget_left_) : budget_left_;
        if (cut < FRAME_HEADER_BYTES + chunk.size()) chunk = chunk.first(size_t(cut - FRAME_HEADER_BYTES));
        uint64_t offset = outbound_.next_offset();
        budget_left_ -= std::min<uint64_t>(budget_left_, FRAME_HEADER_BYTES + chunk.size());
        if (!send_data(*pick, offset, chunk)) return;
        sent_.add(*pick, offset, chunk, lanes_[*pick]->given_bytes(), now_ms_);
        outbound_.sent(chunk.size());
        last_data_ms_ = now_ms_;
    }
}

// The lane it went to; nothing if no lane (but `avoid`) can send now, or the lane broke.
std::optional<size_t> Engine::send_control(Carries carries, std::span<const uint8_t> frame,
                                           std::optional<size_t> avoid) {
    load_lanes(false);
    if (avoid) loads_[*avoid].writable = false;
    std::optional<size_t> pick = pick_lane(loads_);
    if (!pick) return std::nullopt;  // tried again on the next pass, once a lane can send
    Lane& lane = *lanes_[*pick];
    if (int err = lane.send_frame(now_ms_, carries, frame)) {
        lane_broke(lane, "write", err);
        return std::nullopt;
    }
    return pick;
}

// FIN goes out once every DATA frame was given to a lane; it may overtake DATA still queued on
// other lanes, which the receiver allows (it delivers EOF only once every byte before it).
// It goes again, on another lane, when check_fin_lane() finds the lane it went to stalled.
void Engine::send_fin() {
    bool again = fin_again_ && !peer_done_;  // fin_again_ only ever follows a queued FIN
    if (!outbound_.fin_due() && !again) return;
    std::array<uint8_t, FRAME_HEADER_BYTES> frame;
    std::span<const uint8_t> bytes(frame.data(), encode_fin(frame, outbound_.end_offset()));
    std::optional<size_t> lane = send_control(Carries::stream, bytes, again ? fin_lane_ : std::nullopt);
    if (!lane) return;
    outbound_.set_fin_queued();
    fin_again_ = false;
    fin_lane_ = lane;
    fin_lane_end_ = lanes_[*lane]->given_bytes();
    fin_sent_ms_ = now_ms_;
}

// A FIN is 16 bytes at the very end of a lane's traffic: when that lane stalls (timeout
// recovery) or its last packets are lost (nothing behind them tells its TCP), the peer would
// wait seconds for it, or for ever on a lane that died. Seen: a flow whose DATA all arrived
// by reinjection, its FIN stuck on the dead lane. The receiver takes a repeated FIN.
void Engine::check_fin_lane(size_t index, const Lane& lane, const Lane::PathState& path, bool tail) {
    if (lane.acked_bytes() >= fin_lane_end_) {
        fin_lane_.reset();
        return;
    }
    if (timed_out(index) || (tail && tail_overdue(fin_sent_ms_, path))) fin_again_ = true;
}

// Our whole stream, FIN included, is in the lanes' sockets: from here on the peer may have
// everything it needs from us (control frames may still be pending; it does not need them).
bool Engine::fin_sent() const {
    if (!outbound_.fin_queued()) return false;
    if (peer_done_) return true;
    for (const auto& lane : lanes_)
        if (lane && lane->stream_pending()) return false;
    return true;
}

// Once the peer said it has our whole stream (peer_done_), what lanes still hold pending can
// only be copies it no longer needs: start_closing() cuts those lanes.
bool Engine::all_flushed() const {
    if (peer_done_) return true;
    for (const auto& lane : lanes_)
        if (lane && lane->pending() > 0) return false;
    return true;
}

// The first pass announces our whole buffer at once (the peer starts with INITIAL_WINDOW
// only). Later announcements wait until delivery freed WINDOW_STEP_DIVISOR-th of the buffer,
// and each goes out on two lanes: a WINDOW that waits behind a lost packet on the reverse
// path (a retransmission over a 600 ms link, an RTO if that is lost too) stalls the whole
// flow once the peer has used its credit. Measured on a 50 Mbit/s, 600 ms, 1 % loss link with
// quarter-buffer steps on one lane: the sender waited 7.3 s of a 32 s stream for credit while
// our 32 MB buffer never held more than 14.4 MB. A duplicate is harmless (credit never
// shrinks) and costs 16 bytes. Deadlock is still ruled out: a peer blocked at our last limit
// L has had all its bytes below L received, so delivering them moves our limit a whole
// buffer past L, and it is announced. Once the peer's FIN is in, it needs no credit.
void Engine::announce_window() {
    if (inbound_.fin_known()) return;
    uint64_t limit = inbound_.limit();
    if (limit - announced_ < inbound_.capacity() / WINDOW_STEP_DIVISOR) return;
    std::array<uint8_t, FRAME_HEADER_BYTES> frame;
    std::span<const uint8_t> bytes(frame.data(), encode_window(frame, limit));
    load_lanes(false);
    bool sent = false;
    for (int copy = 0; copy < 2; ++copy) {
        std::optional<size_t> pick = pick_lane(loads_);
        if (!pick) break;
        Lane& lane = *lanes_[*pick];
        if (int err = lane.send_frame(now_ms_, Carries::control, bytes)) {
            lane_broke(lane, "write", err);
            return;
        }
        loads_[*pick].writable = false;
        sent = true;
    }
    if (sent) announced_ = limit;
}

void Engine::send_keepalives() {
    if (options_.keepalive_ms <= 0 || closing_) return;
    std::array<uint8_t, FRAME_HEADER_BYTES> frame;
    size_t n = encode_keepalive(frame);
    for (auto& lane : lanes_) {
        if (!lane || !lane->sendable()) continue;
        if (now_ms_ - lane->last_send_ms() < uint64_t(options_.keepalive_ms)) continue;
        if (int err = lane->send_frame(now_ms_, Carries::control, std::span(frame.data(), n))) {
            lane_broke(*lane, "write", err);
            return;
        }
    }
}

}  // namespace pepsal::pair
