// The peer → local half of the engine and the life of the lanes: frames read from every lane,
// delivery to `local`, lanes arriving through the feed, lanes ending, and the graceful close.
#include <sys/socket.h>

#include <cstring>

#include "pair_engine_core.hpp"
#include "pair_fd_passing.hpp"

namespace pepsal::pair {

void Engine::deliver() {
    if (inbound_.has_ready() && !inbound_.blocked()) inbound_.flush();
    if (int err = inbound_.write_error()) {
        fail(EngineEnd::local_reset, std::string("write to local: ") + strerror(err));
        return;
    }
    if (inbound_.eof_ready() && !local_shut_) {
        if (::shutdown(local_.get(), SHUT_WR) < 0) {
            fail(EngineEnd::local_reset, std::string("shutdown local: ") + strerror(errno));
            return;
        }
        local_shut_ = true;
    }
}

void Engine::on_lane_event(Lane& lane, uint32_t events) {
    // EPOLLERR and EPOLLHUP: the read tells which error, or the EOF.
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) read_lane(lane);
    if (ending_ || !(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) || lane.pending() == 0) return;
    if (int err = lane.flush()) lane_broke(lane, "write", err);
}

// One read per wake-up and lane, so that a fast lane cannot starve the others; the lane is
// never left unread (the peer's credit guarantees we can hold whatever it sent). Once we sent
// DONE the peer may follow its own DONE with the next flow's first frame on the same lane: from
// then on reads stop at frame boundaries, so that the peer's DONE is the last byte we take.
void Engine::read_lane(Lane& lane) {
    if (lane.eof()) return;
    IoResult r = closing_ ? lane.read(lane.decoder().wanted()) : lane.read();
    if (r.err) {
        lane_broke(lane, "read", r.err);
        return;
    }
    if (r.eof) {
        on_lane_eof(lane);
        return;
    }
    if (closing_) closing_heard_ms_ = now_ms_;
    Frame frame;
    for (;;) {
        FrameDecoder::Status status = lane.decoder().next(frame);
        if (status == FrameDecoder::Status::need_more) return;
        if (status == FrameDecoder::Status::error) {
            fail(EngineEnd::protocol_error, lane_name(lane) + ": " + to_string(lane.decoder().error()));
            return;
        }
        on_frame(lane, frame);
        if (ending_) return;
    }
}

void Engine::on_frame(Lane& lane, const Frame& frame) {
    const FrameHeader& h = frame.header;
    ReorderError err = ReorderError::none;
    switch (h.type) {
        case FrameType::data:
            err = inbound_.on_data(h.seq, frame.payload);
            if (int werr = inbound_.write_error())
                fail(EngineEnd::local_reset, std::string("write to local: ") + strerror(werr));
            break;
        case FrameType::fin: err = inbound_.on_fin(h.seq); break;
        case FrameType::window: outbound_.raise_limit(h.seq); break;
        case FrameType::keepalive: break;
        case FrameType::done: on_lane_done(lane); return;
        case FrameType::rst: {
            RstReason reason;
            if (PayloadError e = parse_rst(frame.payload, reason); e != PayloadError::none)
                fail(EngineEnd::protocol_error, lane_name(lane) + ": RST: " + to_string(e));
            else
                fail(EngineEnd::peer_reset, lane_name(lane) + ": peer reset: " + to_string(reason),
                     uint32_t(reason));
            return;
        }
        case FrameType::open:
        case FrameType::join:
            fail(EngineEnd::protocol_error, lane_name(lane) + ": " + to_string(h.type) + " after the flow started");
            return;
    }
    if (err != ReorderError::none)
        fail(EngineEnd::protocol_error, lane_name(lane) + ": " + to_string(h.type) + " at " +
                                            std::to_string(h.seq) + ": " + to_string(err));
}

// The peer ends its lanes (DONE) only once it has both streams complete, which needs our FIN
// and every byte before it in its lanes: a DONE or an EOF earlier than that is a lane that
// broke or a peer that is wrong.
void Engine::on_lane_eof(Lane& lane) {
    lane.set_eof();
    if (lane.decoder().buffered() != 0) {
        fail(EngineEnd::protocol_error, lane_name(lane) + ": EOF inside a frame");
        return;
    }
    peer_finished(lane, "closed by the peer");
}

// The peer sends nothing after its DONE until it has ours, which it cannot have before we
// close: bytes behind it are a protocol error.
void Engine::on_lane_done(Lane& lane) {
    lane.set_done_received();
    if (lane.decoder().buffered() != 0 && !closing_) {
        fail(EngineEnd::protocol_error, lane_name(lane) + ": frames after DONE");
        return;
    }
    // The peer sends DONE once it delivered our whole stream, FIN included, and gave its
    // own FIN to a lane; that FIN may still be on its way on another lane, and the flow
    // waits for it (lanes_needed()).
    if (fin_sent()) return;
    if (outbound_.fin_queued()) {
        peer_done_ = true;
        return;
    }
    fail(EngineEnd::protocol_error, lane_name(lane) + ": DONE from the peer before our FIN");
}

void Engine::peer_finished(Lane& lane, const char* what) {
    if (fin_sent()) return;
    // The peer shuts its lanes only once our whole stream, FIN included, was delivered on its
    // side. With our FIN given to a lane and the peer's stream complete here, this EOF is that
    // closing, even if a lane of ours still holds bytes: copies of chunks that a lane stuck in
    // timeout recovery could not send, whose reinjected copies got there first.
    if (outbound_.fin_queued() && inbound_.complete()) {
        peer_done_ = true;
        return;
    }
    fail(EngineEnd::lane_failed, lane_name(lane) + ": " + what + " before the flow ended");
}

// Nothing more is needed from the lanes once our FIN and all our DATA were written and the
// peer's stream is complete: an error then (the peer, done, closed a lane with a keepalive
// unread) only ends that lane. Before that it fails the flow.
bool Engine::lanes_needed() const { return !(fin_sent() && inbound_.complete()); }

void Engine::lane_broke(Lane& lane, const char* call, int err) {
    lane.set_eof();
    if (lanes_needed())
        fail(EngineEnd::lane_failed, lane_name(lane) + ": " + call + ": " + strerror(err));
}

// One message per wake-up: the feed stays readable while more are queued, and a feed socket
// left blocking by mistake cannot block the flow.
void Engine::on_feed_event() {
    UniqueFd fd;
    uint8_t index = 0;
    switch (recv_fd(feed_.get(), fd, index)) {
        case FdReceive::would_block: return;
        case FdReceive::malformed: fail(EngineEnd::error, "malformed message on the lane feed"); return;
        case FdReceive::closed:
            poller_->set(feed_watch_, std::nullopt);
            feed_.reset();
            if (size_t missing = missing_lanes(); missing > 0 && !closing_)
                fail(EngineEnd::lane_failed, "lane feed closed with " + std::to_string(missing) + " lanes missing");
            return;
        case FdReceive::received: break;
    }
    if (index >= expected_ || lanes_[index]) {
        fail(EngineEnd::protocol_error, "lane index " + std::to_string(index) + " of " +
                                            std::to_string(expected_) + " duplicate or out of range");
        return;
    }
    add_lane(std::move(fd), index);
}

void Engine::add_lane(UniqueFd fd, size_t index) {
    lanes_[index] = std::make_unique<Lane>(std::move(fd), index, now_ms_);
    lanes_[index]->watch().tag = index;
    // The handshake and the first frames were delivered before the flow's data: not a rate.
    delivered_at_join_[index] = delivered_seen_[index] = lanes_[index]->path_state().delivered;
}

size_t Engine::missing_lanes() const {
    size_t missing = 0;
    for (const auto& lane : lanes_)
        if (!lane) ++missing;
    return missing;
}

// Starts the closing once both streams are done, ends it once the peer closed every lane, and
// fails the flow when every lane ended but the peer's stream is still incomplete.
void Engine::check_lanes() {
    // DONE goes behind whatever a lane has pending, and a lane with stream bytes pending is
    // cut: wait until nothing is.
    if (!closing_ && fin_sent() && local_shut_ && all_flushed()) start_closing();
    if (closing_ && options_.on_lane_released) release_lanes();
    bool all_ended = missing_lanes() == 0 || closing_;
    for (const auto& lane : lanes_)
        if (lane && (!lane->eof() || (closing_ && lane->pending() > 0))) all_ended = false;
    if (!all_ended) return;
    if (closing_)
        done_ = true;
    else if (!inbound_.complete())
        fail(EngineEnd::lane_failed, "every lane closed before the peer's stream was complete");
}

// Hands on each lane that carried DONE both ways, as soon as it has.
void Engine::release_lanes() {
    for (auto& lane : lanes_) {
        if (!lane || !lane->released()) continue;
        poller_->set(lane->watch(), std::nullopt);  // before its fd leaves us
        options_.on_lane_released(lane->take_fd(), budget_.bottleneck_bytes_per_s(), budget_.rtt_us(),
                                  budget_.measured());
        ++result_.released;
    }
}

// Both streams are complete here. DONE on every lane tells the peer we are done too; reading
// on until the peer's DONE lets both sides hand the lanes, idle and whole, to the next flow
// (EngineOptions::keep_lanes) or close them without a TCP RST hitting anything in flight.
// `local` stays open until then, so that an RST the peer sends because it failed to deliver
// our bytes still reaches the application.
void Engine::start_closing() {
    closing_ = true;
    closing_heard_ms_ = now_ms_;
    // A lane with bytes still pending (only after peer_done_, see all_flushed()) cannot end
    // without cutting a frame, which the peer would take for a protocol error: it is reset.
    for (auto& lane : lanes_) {
        if (!lane) continue;
        if (lane->pending() > 0) {
            poller_->set(lane->watch(), std::nullopt);  // before its fd number is free again
            lane->cut();
        } else if (lane->send_done(now_ms_) != 0) {
            lane->set_eof();  // broken: nothing more to wait for on it
        }
    }
    if (feed_) {
        poller_->set(feed_watch_, std::nullopt);
        feed_.reset();  // lanes still in it are closed with it; the flow no longer needs them
    }
}

}  // namespace pepsal::pair
