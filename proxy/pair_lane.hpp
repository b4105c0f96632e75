// One lane of a flow inside the pair engine: its socket, the decoder of the frames it brings
// and the small buffer of frame bytes its socket has not taken yet.
//
// Frames are written whole and in order: a frame the socket takes only in part keeps its rest
// here, and every later frame waits behind it. The engine gives a lane a new DATA frame only
// while this buffer is empty, so that at most about one frame (plus a few control frames) is
// ever trapped behind a lane that has stopped moving.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "pair_engine_io.hpp"
#include "pair_engine_poll.hpp"
#include "pair_frame_decoder.hpp"
#include "pair_payload.hpp"
#include "unique_fd.hpp"

namespace pepsal::pair {

// The most a lane's socket holds unsent (TCP_NOTSENT_LOWAT): past it the socket refuses more,
// so the flow's next bytes wait in the engine and go to whichever lane can send first. A lane
// whose window collapsed (loss recovery, BBR's ProbeRTT at cwnd 4) traps at most this much
// plus one frame; without the bound the kernel took up to a whole send buffer (2.8 MB seen on
// a 600 ms link), which stalled the flow's in-order delivery for seconds.
constexpr uint64_t LANE_NOTSENT_LOWAT = 128 * 1024;

// What a frame carries: the stream (DATA, FIN: the peer cannot finish without it) or control
// (WINDOW, KEEPALIVE, RST).
enum class Carries { stream, control };

class Lane {
public:
    // Takes an authenticated lane socket; sets TCP_NODELAY on it (see pair_lane.cpp).
    Lane(UniqueFd fd, size_t index, uint64_t now_ms);

    size_t index() const { return index_; }
    int fd() const { return fd_.get(); }
    Watch& watch() { return watch_; }

    // --- output ---
    // At `now_ms`, writes the frame `head` + `body` now if nothing is pending, keeping what the
    // socket does not take; behind pending bytes it only joins the queue. 0, or the errno of a
    // failed write (the lane is then broken).
    int send_frame(uint64_t now_ms, Carries carries, std::span<const uint8_t> head,
                   std::span<const uint8_t> body = {});
    // Writes pending bytes until the socket is full. 0, or the errno of a failed write.
    int flush();
    size_t pending() const { return out_.size() - out_head_; }
    // Some pending byte belongs to a DATA or FIN frame, or did when a write failed: such bytes
    // never reach the peer, so the flow can never count as fully sent.
    bool stream_pending() const { return stream_lost_ || stream_end_ > out_head_; }
    struct SendState {
        // Pending bytes plus what the kernel holds not yet sent: how long a new frame would
        // wait before it leaves. Bytes in flight do not count: they are the lane's congestion
        // window at work, and a fast lane has the most of them.
        uint64_t unsent = 0;
        // Bytes the congestion window lets leave now (cwnd minus bytes in flight minus
        // unsent); 0 when it is full.
        uint64_t room = 0;
        // Bytes sent and neither acknowledged, SACKed nor marked lost: the lane's share of
        // the flow's FlightBudget, with `unsent`.
        uint64_t in_flight = 0;
    };
    // From TCP_INFO; all zero if that fails.
    SendState send_state() const;
    struct PathState {
        uint32_t delivered = 0;   // segments the peer acknowledged or SACKed so far (wraps)
        uint32_t mss = 0;
        uint32_t min_rtt_us = 0;  // 0: not measured
        uint32_t srtt_us = 0;
        bool carrying = false;    // has bytes in flight
        // In retransmission-timeout recovery (TCP_CA_Loss): what the lane holds
        // unacknowledged may take seconds more, so it should be sent again elsewhere.
        bool timed_out = false;
    };
    // From TCP_INFO; all zero if that fails.
    PathState path_state() const;
    uint64_t last_send_ms() const { return last_send_ms_; }
    // Bytes given to this lane so far (written or pending): the lane byte number of the last
    // byte of the frame just given, for SentChunks.
    uint64_t given_bytes() const { return written_ + pending(); }
    // Of the bytes given, how many the peer's TCP acknowledged (written minus SIOCOUTQ).
    uint64_t acked_bytes() const;
    // Accepts frames: connected, not shut down by us, peer not finished, no write error.
    bool sendable() const { return fd_.valid() && !shut_ && !eof_ && !broken_; }

    // --- input ---
    // One read into the decoder, of at most `max` bytes; frames are then taken with
    // decoder().next().
    IoResult read(size_t max = SIZE_MAX);
    FrameDecoder& decoder() { return decoder_; }
    // The peer finished this lane (EOF, DONE or, while closing, an error): nothing more is read.
    void set_eof() { eof_ = true; }
    bool eof() const { return eof_; }

    // --- ending ---
    // DONE: the graceful end of the flow on this lane, once the flow is complete (written
    // behind whatever is pending). 0, or the errno of a failed write.
    int send_done(uint64_t now_ms);
    // The peer's DONE arrived: nothing more of this flow comes on the lane.
    void set_done_received() {
        done_received_ = true;
        eof_ = true;
    }
    // DONE went both ways, all of ours was written and nothing of the peer's is left unread:
    // the lane may carry another flow.
    bool released() const {
        return fd_.valid() && done_sent_ && done_received_ && !broken_ && pending() == 0 && decoder_.buffered() == 0;
    }
    // The socket of a released lane, for the next flow; the lane is closed here.
    UniqueFd take_fd() { return std::move(fd_); }
    // Best effort, never blocks: RST(reason) behind whatever is pending, then close. Unread
    // input is discarded first, as it would make close() send a TCP RST that drops the frame
    // if it has not left yet; a socket armed to reset on close (arm_reset_on_close) resets
    // anyway, which also stops the kernel from sending a dead flow's queued DATA.
    void abort(RstReason reason);
    // Discards unread input (whose presence would turn close() into a TCP RST that drops
    // what is still queued for the peer), then closes.
    void close_gracefully();
    void close() { fd_.reset(); }
    // Closes with a TCP RST, dropping what is pending or queued, and counts as finished: for a
    // lane whose remaining bytes the peer no longer needs, at the end of a flow.
    void cut();

private:
    void keep(std::span<const uint8_t> bytes, Carries carries);
    int broke(int err);
    void drain_input();

    UniqueFd fd_;
    size_t index_;
    Watch watch_;
    FrameDecoder decoder_;
    std::vector<uint8_t> out_;  // frame bytes not yet taken by the socket, from out_head_
    size_t out_head_ = 0;
    size_t stream_end_ = 0;  // out_ offset just past the last DATA/FIN byte kept
    uint64_t last_send_ms_;
    uint64_t written_ = 0;  // bytes the socket took
    bool shut_ = false;  // DONE given: no more frames of this flow
    bool done_sent_ = false;
    bool done_received_ = false;
    bool eof_ = false;
    bool broken_ = false;
    bool stream_lost_ = false;
};

}  // namespace pepsal::pair
