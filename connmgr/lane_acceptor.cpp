#include "lane_acceptor.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <system_error>

#include "pair_lane_socket.hpp"
#include "log.hpp"
#include "pair_fd_passing.hpp"
#include "pair_frame.hpp"
#include "sockopt.hpp"

namespace pepsal::connmgr {

namespace {
constexpr uint64_t IDLE_LANE_TIMEOUT_MS = 3 * pair::LANE_KEEPALIVE_MS;  // no keepalive: the peer is gone
constexpr uint64_t EARLY_JOIN_TIMEOUT_MS = 10'000;
constexpr uint32_t MAX_AUTH_FAILURES = 5;           // per address and window
constexpr uint64_t AUTH_FAILURE_WINDOW_MS = 60'000;
constexpr uint64_t AUTH_BLOCK_MS = 60'000;
constexpr size_t MAX_PENDING_LANES = 1024;          // unauthenticated or unassigned lanes
}  // namespace

struct LaneAcceptor::Lane {
    enum class State { handshaking, first_frame, dead };
    UniqueFd fd;
    Endpoint peer;
    State state = State::handshaking;
    std::unique_ptr<pair::Acceptor> handshake;
    std::vector<uint8_t> buf;  // the message being read, exactly
    size_t need = pair::HELLO_BYTES;
    bool have_header = false;
    pair::FrameHeader header;
    uint64_t since_ms = 0;
    pair::PathEstimate path;  // a returned lane: what its last flow knew of the path
};

LaneAcceptor::LaneAcceptor(const Config& config, const pair::Psk& key, const pair::NonceRegistry& nonces,
                           int listener)
    : config_(config), key_(key), nonces_(nonces), listener_(listener) {}

LaneAcceptor::~LaneAcceptor() = default;

void LaneAcceptor::poll_set(std::vector<pollfd>& fds) const {
    if (lanes_.size() < MAX_PENDING_LANES) fds.push_back({listener_, POLLIN, 0});
    for (const auto& l : lanes_) fds.push_back({l->fd.get(), POLLIN, 0});
}

void LaneAcceptor::handle(const pollfd& p, uint64_t now) {
    if (p.fd == listener_) {
        accept_lanes(now);
        return;
    }
    for (auto& l : lanes_)
        if (l->fd.get() == p.fd) {
            on_readable(*l, now);
            break;
        }
    std::erase_if(lanes_, [](const auto& l) { return l->state == Lane::State::dead; });
}

bool LaneAcceptor::blocked(const Endpoint& peer, uint64_t now) {
    auto it = failures_.find(peer.addr_string());
    if (it == failures_.end() || now >= it->second.blocked_until_ms) return false;
    if (now - it->second.logged_block_ms >= 10'000) {
        LOG_WARN("pair-listen: refusing lanes from %s for %llu s after %u failed handshakes",
                 peer.addr_string().c_str(), (unsigned long long)(it->second.blocked_until_ms - now) / 1000,
                 MAX_AUTH_FAILURES);
        it->second.logged_block_ms = now;
    }
    return true;
}

void LaneAcceptor::accept_lanes(uint64_t now) {
    while (lanes_.size() < MAX_PENDING_LANES) {
        sockaddr_storage ss{};
        socklen_t len = sizeof ss;
        UniqueFd fd(accept4(listener_, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_CLOEXEC | SOCK_NONBLOCK));
        if (!fd) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                LOG_ERROR("accept on pair-listen %s: %m", config_.pair_listen.to_string().c_str());
            return;
        }
        auto lane = std::make_unique<Lane>();
        lane->peer = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
        if (blocked(lane->peer, now)) continue;  // closed by fd's destructor
        try {
            pair::prepare_lane_socket(fd.get(), config_, "lane from " + lane->peer.to_string());
        } catch (const std::system_error& e) {
            LOG_WARN("%s", e.what());
        }
        lane->fd = std::move(fd);
        lane->handshake = std::make_unique<pair::Acceptor>(key_, nonces_);
        lane->since_ms = now;
        lanes_.push_back(std::move(lane));
    }
}

// Reads exactly what the current message still needs, so no byte of the flow behind it is
// taken from the socket: the worker reads the rest.
void LaneAcceptor::on_readable(Lane& lane, uint64_t now) {
    size_t have = lane.buf.size();
    lane.buf.resize(have + lane.need);
    ssize_t n = recv(lane.fd.get(), lane.buf.data() + have, lane.need, 0);
    lane.buf.resize(have + std::max<ssize_t>(n, 0));
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) return;
        if (errno != ECONNRESET || lane.state != Lane::State::handshaking)
            return fail(lane, strerror(errno), lane.state == Lane::State::handshaking, now);
        // pepsal initiators close refused lanes with an RST: the handshake says what that means.
    }
    if (n <= 0) {
        if (lane.state == Lane::State::handshaking) {
            pair::HandshakeStep step = lane.handshake->eof();
            return fail(lane, std::string("closed during handshake: ") + pair::to_string(step.error), true, now);
        }
        lane.state = Lane::State::dead;  // an idle warm lane the peer no longer wants
        return;
    }
    lane.need -= size_t(n);
    lane.since_ms = now;
    if (lane.need > 0) return;
    if (lane.state == Lane::State::handshaking) on_handshake_bytes(lane, lane.buf.size(), now);
    else on_frame_bytes(lane, now);
}

void LaneAcceptor::on_handshake_bytes(Lane& lane, size_t n, uint64_t now) {
    pair::HandshakeStep step = lane.handshake->feed({lane.buf.data(), n});
    lane.buf.clear();
    switch (step.result) {
        case pair::HandshakeStep::Result::send:
            if (!pair::write_small(lane.fd.get(), step.output)) return fail(lane, "cannot send CHALLENGE", false, now);
            lane.need = pair::PROOF_BYTES;
            return;
        case pair::HandshakeStep::Result::done:
            lane.handshake.reset();
            lane.state = Lane::State::first_frame;
            lane.need = pair::FRAME_HEADER_BYTES;
            LOG_DEBUG("lane from %s authenticated", lane.peer.to_string().c_str());
            return;
        case pair::HandshakeStep::Result::failed:
            return fail(lane, std::string("handshake failed: ") + pair::to_string(step.error), true, now);
        case pair::HandshakeStep::Result::need_more:
            return fail(lane, "handshake message incomplete", true, now);
    }
}

void LaneAcceptor::on_frame_bytes(Lane& lane, uint64_t now) {
    if (!lane.have_header) {
        pair::FrameError err = pair::decode_header(lane.buf.data(), lane.header);
        if (err != pair::FrameError::none) return fail(lane, std::string("bad first frame: ") + pair::to_string(err), false, now);
        lane.buf.clear();
        if (lane.header.type == pair::FrameType::keepalive) {
            lane.need = pair::FRAME_HEADER_BYTES;
            return;
        }
        if (lane.header.type != pair::FrameType::open && lane.header.type != pair::FrameType::join)
            return fail(lane, std::string("first frame is ") + pair::to_string(lane.header.type), false, now);
        lane.have_header = true;
        lane.need = lane.header.length;
        if (lane.need > 0) return;
    }
    if (lane.header.type == pair::FrameType::open) {
        pair::OpenPayload open;
        pair::PayloadError err = pair::parse_open(lane.buf, open);
        if (err != pair::PayloadError::none) return fail(lane, std::string("bad OPEN: ") + pair::to_string(err), false, now);
        flows_.push_back(FlowStart{std::move(lane.fd), open, lane.peer, lane.path});
        lane.state = Lane::State::dead;
        return;
    }
    pair::JoinPayload join;
    pair::PayloadError err = pair::parse_join(lane.buf, join);
    if (err != pair::PayloadError::none) return fail(lane, std::string("bad JOIN: ") + pair::to_string(err), false, now);
    dispatch_join(lane, join, now);
}

void LaneAcceptor::dispatch_join(Lane& lane, const pair::JoinPayload& join, uint64_t now) {
    lane.state = Lane::State::dead;
    auto w = workers_.find(join.token);
    if (w == workers_.end()) {
        early_[join.token].push_back(EarlyJoin{std::move(lane.fd), join.lane_index, now});
        return;
    }
    // The worker owns the lane from here; our copy closes with `lane`.
    try {
        pair::send_fd(w->second.feed.get(), lane.fd.get(), join.lane_index);
    } catch (const std::system_error& e) {
        LOG_WARN("lane %u from %s: cannot hand it to worker %d: %s", join.lane_index,
                 lane.peer.to_string().c_str(), int(w->second.pid), e.what());
    }
    lane.fd.reset();
}

void LaneAcceptor::fail(Lane& lane, const std::string& why, bool auth_failure, uint64_t now) {
    LOG_WARN("lane from %s closed: %s", lane.peer.to_string().c_str(), why.c_str());
    lane.state = Lane::State::dead;
    lane.fd.reset();
    if (!auth_failure) return;
    Failures& f = failures_[lane.peer.addr_string()];
    if (now - f.window_start_ms >= AUTH_FAILURE_WINDOW_MS) f = Failures{0, now, f.blocked_until_ms, 0};
    if (++f.count >= MAX_AUTH_FAILURES) f.blocked_until_ms = now + AUTH_BLOCK_MS;
}

uint64_t LaneAcceptor::tick(uint64_t now) {
    for (auto& l : lanes_) {
        uint64_t limit = l->state == Lane::State::handshaking ? pair::LANE_HANDSHAKE_TIMEOUT_MS : IDLE_LANE_TIMEOUT_MS;
        if (now - l->since_ms >= limit) {
            bool hs = l->state == Lane::State::handshaking;
            fail(*l, hs ? "handshake timed out" : "idle lane without keepalive", hs, now);
        }
    }
    std::erase_if(lanes_, [](const auto& l) { return l->state == Lane::State::dead; });
    for (auto it = early_.begin(); it != early_.end();) {
        std::erase_if(it->second, [&](const EarlyJoin& j) { return now - j.since_ms >= EARLY_JOIN_TIMEOUT_MS; });
        it = it->second.empty() ? early_.erase(it) : std::next(it);
    }
    std::erase_if(failures_, [&](const auto& kv) {
        return now >= kv.second.blocked_until_ms && now - kv.second.window_start_ms >= AUTH_FAILURE_WINDOW_MS;
    });
    return now + 1000;
}

std::optional<FlowStart> LaneAcceptor::take_flow() {
    if (flows_.empty()) return std::nullopt;
    FlowStart f = std::move(flows_.front());
    flows_.pop_front();
    return f;
}

void LaneAcceptor::attach_worker(uint64_t token, pid_t pid, UniqueFd feed) {
    auto early = early_.find(token);
    if (early != early_.end()) {
        for (auto& j : early->second) {
            try {
                pair::send_fd(feed.get(), j.lane.get(), j.index);
            } catch (const std::system_error& e) {
                LOG_WARN("cannot hand an early lane to worker %d: %s", int(pid), e.what());
            }
        }
        early_.erase(early);
    }
    workers_[token] = Worker{pid, std::move(feed)};
}

void LaneAcceptor::put_back(UniqueFd fd, const pair::PathEstimate& path, uint64_t now) {
    if (lanes_.size() >= MAX_PENDING_LANES) {
        disarm_reset_on_close(fd.get());  // a FIN: the near side drops it from its pool
        return;
    }
    auto lane = std::make_unique<Lane>();
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (getpeername(fd.get(), reinterpret_cast<sockaddr*>(&ss), &len) == 0)
        lane->peer = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
    lane->fd = std::move(fd);
    lane->state = Lane::State::first_frame;
    lane->need = pair::FRAME_HEADER_BYTES;
    lane->since_ms = now;
    lane->path = path;
    lanes_.push_back(std::move(lane));
}

void LaneAcceptor::worker_gone(pid_t pid) {
    std::erase_if(workers_, [&](const auto& kv) { return kv.second.pid == pid; });
}

void LaneAcceptor::close_inherited() const {
    ::close(listener_);
    for (const auto& l : lanes_) ::close(l->fd.get());
    for (const auto& f : flows_) ::close(f.lane.get());
    for (const auto& [token, w] : workers_) ::close(w.feed.get());
    for (const auto& [token, joins] : early_)
        for (const auto& j : joins) ::close(j.lane.get());
}

}  // namespace pepsal::connmgr
