#include "lane_pool.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <system_error>

#include "pair_lane_socket.hpp"
#include "log.hpp"
#include "pair_frame.hpp"
#include "sockopt.hpp"

namespace pepsal::connmgr {

namespace {
constexpr uint64_t FIRST_BACKOFF_MS = 500;
constexpr uint64_t MAX_BACKOFF_MS = 5'000;  // a restarted peer is back in use within 5 s
constexpr uint64_t FAILURE_LOG_INTERVAL_MS = 10'000;
}  // namespace

struct LanePool::Lane {
    enum class State { connecting, handshaking, ready, dead };
    UniqueFd fd;
    State state = State::connecting;
    std::unique_ptr<pair::Initiator> handshake;
    uint64_t since_ms = 0;      // state entered
    uint64_t last_sent_ms = 0;  // for keepalives
    uint64_t returned_ms = 0;   // when a flow last handed it back; 0: never carried one
    pair::PathEstimate path;    // what that flow knew of the path
};

LanePool::LanePool(const Config& config, const pair::Psk& key, pair::NonceRegistry& nonces, ConnTable& table)
    : config_(config), table_(table), key_(key), nonces_(nonces) {}

LanePool::~LanePool() = default;

void LanePool::poll_set(std::vector<pollfd>& fds) const {
    for (const auto& l : lanes_) {
        short events = l->state == Lane::State::connecting ? POLLOUT : POLLIN;
        fds.push_back({l->fd.get(), events, 0});
    }
}

void LanePool::handle(const pollfd& p, uint64_t now) {
    for (auto& l : lanes_) {
        if (l->fd.get() != p.fd) continue;
        if (l->state == Lane::State::connecting) on_connected(*l, now);
        else on_readable(*l, now);
        break;
    }
    std::erase_if(lanes_, [](const auto& l) { return l->state == Lane::State::dead; });
}

void LanePool::start_connect(uint64_t now) {
    const Endpoint& peer = config_.peer;
    auto lane = std::make_unique<Lane>();
    lane->fd.reset(socket(peer.family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    lane->since_ms = now;
    try {
        if (!lane->fd) throw std::system_error(errno, std::generic_category(), "socket");
        pair::prepare_lane_socket(lane->fd.get(), config_, "lane to " + peer.to_string());
    } catch (const std::system_error& e) {
        LOG_ERROR("lane to %s: %s", peer.to_string().c_str(), e.what());
        next_attempt_ms_ = now + MAX_BACKOFF_MS;
        return;
    }
    if (connect(lane->fd.get(), peer.sa(), peer.len()) < 0 && errno != EINPROGRESS) {
        drop(*lane, strerror(errno), true, now);
        return;
    }
    lanes_.push_back(std::move(lane));
}

void LanePool::on_connected(Lane& lane, uint64_t now) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(lane.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    if (err) return drop(lane, strerror(err), true, now);
    lane.handshake = std::make_unique<pair::Initiator>(key_, nonces_);
    pair::HandshakeStep step = lane.handshake->start();
    if (!pair::write_small(lane.fd.get(), step.output)) return drop(lane, "cannot send HELLO", true, now);
    lane.state = Lane::State::handshaking;
    lane.since_ms = lane.last_sent_ms = now;
}

void LanePool::on_readable(Lane& lane, uint64_t now) {
    uint8_t buf[pair::CHALLENGE_BYTES];
    ssize_t n = recv(lane.fd.get(), buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (lane.state == Lane::State::ready) {
        // The far side sends nothing on a lane before it carries a flow: this is its close.
        return drop(lane, n == 0 ? "closed by the peer" : n < 0 ? strerror(errno) : "unexpected data", n != 0, now);
    }
    if (n < 0) return drop(lane, strerror(errno), true, now);
    pair::HandshakeStep step = n > 0 ? lane.handshake->feed({buf, size_t(n)}) : lane.handshake->eof();
    switch (step.result) {
        case pair::HandshakeStep::Result::need_more: return;
        case pair::HandshakeStep::Result::failed:
            return drop(lane, pair::to_string(step.error), true, now);
        case pair::HandshakeStep::Result::send:
            return drop(lane, "unexpected handshake step", true, now);
        case pair::HandshakeStep::Result::done:
            if (step.consumed != size_t(n)) return drop(lane, "bytes after the handshake", true, now);
            if (!pair::write_small(lane.fd.get(), step.output)) return drop(lane, "cannot send PROOF", true, now);
            lane.handshake.reset();
            lane.state = Lane::State::ready;
            lane.since_ms = lane.last_sent_ms = now;
            backoff_ms_ = 0;
            table_.add_lanes_opened(1);
            if (!peer_up_) LOG_NOTICE("lanes to peer %s authenticated", config_.peer.to_string().c_str());
            peer_up_ = true;
            return;
    }
}

void LanePool::drop(Lane& lane, const char* why, bool failure, uint64_t now) {
    lane.state = Lane::State::dead;
    lane.fd.reset();
    lane.handshake.reset();
    peer_up_ = false;  // a close by the peer may be its restart: the next lane logs again
    if (!failure) return;
    backoff_ms_ = std::min(MAX_BACKOFF_MS, std::max(FIRST_BACKOFF_MS, backoff_ms_ * 2));
    next_attempt_ms_ = now + backoff_ms_;
    if (now - last_failure_log_ms_ >= FAILURE_LOG_INTERVAL_MS || last_failure_log_ms_ == 0) {
        LOG_WARN("lane to peer %s failed: %s; retrying in %llu ms", config_.peer.to_string().c_str(), why,
                 (unsigned long long)backoff_ms_);
        last_failure_log_ms_ = now;
    }
}

uint64_t LanePool::tick(uint64_t now, size_t lent) {
    for (auto& l : lanes_) {
        bool handshaking = l->state != Lane::State::ready;
        if (handshaking && now - l->since_ms >= pair::LANE_HANDSHAKE_TIMEOUT_MS) {
            drop(*l, "handshake timed out", true, now);
        } else if (!handshaking && now - l->last_sent_ms >= pair::LANE_KEEPALIVE_MS) {
            uint8_t frame[pair::FRAME_HEADER_BYTES];
            size_t len = pair::encode_keepalive(frame);
            if (!pair::write_small(l->fd.get(), {frame, len})) drop(*l, "keepalive not sent", false, now);
            l->last_sent_ms = now;
        }
    }
    std::erase_if(lanes_, [](const auto& l) { return l->state == Lane::State::dead; });
    // Pending handshakes count towards the target, so a slow peer is not flooded with connects.
    size_t spare = std::min<size_t>(2 * config_.lanes, config_.warm_lanes);
    size_t target = std::max(spare, config_.warm_lanes > lent ? config_.warm_lanes - lent : 0);
    while (lanes_.size() < target && now >= next_attempt_ms_) {
        size_t before = lanes_.size();
        start_connect(now);
        if (lanes_.size() == before) break;
    }
    uint64_t wake = now + 1000;
    if (lanes_.size() < target) wake = std::min(wake, std::max(next_attempt_ms_, now + 1));
    return wake;
}

std::vector<UniqueFd> LanePool::take(size_t n, pair::PathEstimate& path) {
    // Most recently returned first; never-used lanes (returned_ms 0) keep their age order.
    std::stable_sort(lanes_.begin(), lanes_.end(),
                     [](const auto& a, const auto& b) { return a->returned_ms > b->returned_ms; });
    std::vector<UniqueFd> out;
    path = {};
    for (auto& l : lanes_) {
        if (out.size() == n) break;
        if (l->state != Lane::State::ready) continue;
        if (path.bytes_per_s == 0) path = l->path;
        out.push_back(std::move(l->fd));
        l->state = Lane::State::dead;
    }
    std::erase_if(lanes_, [](const auto& l) { return l->state == Lane::State::dead; });
    return out;
}

void LanePool::put_back(UniqueFd fd, const pair::PathEstimate& path, uint64_t now) {
    auto lane = std::make_unique<Lane>();
    lane->fd = std::move(fd);
    lane->path = path;
    lane->state = Lane::State::ready;
    lane->since_ms = lane->last_sent_ms = lane->returned_ms = now;
    lanes_.push_back(std::move(lane));
    trim();
}

// Closes ready lanes beyond warm-lanes, the least recently used first, without a reset: the
// far side takes the FIN for a lane we no longer want.
void LanePool::trim() {
    while (lanes_.size() > config_.warm_lanes) {
        auto coldest = lanes_.end();
        for (auto it = lanes_.begin(); it != lanes_.end(); ++it)
            if ((*it)->state == Lane::State::ready &&
                (coldest == lanes_.end() || (*it)->returned_ms < (*coldest)->returned_ms))
                coldest = it;
        if (coldest == lanes_.end()) return;
        disarm_reset_on_close((*coldest)->fd.get());
        lanes_.erase(coldest);
    }
}

size_t LanePool::ready() const {
    return size_t(std::count_if(lanes_.begin(), lanes_.end(),
                                [](const auto& l) { return l->state == Lane::State::ready; }));
}

void LanePool::close_inherited() const {
    for (const auto& l : lanes_) ::close(l->fd.get());
}

}  // namespace pepsal::connmgr
