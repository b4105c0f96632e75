#include "server.hpp"

#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <optional>

#include "error.hpp"
#include "failure.hpp"
#include "log.hpp"

namespace pepsal::flowtool {

namespace {

constexpr useconds_t ACCEPT_BACKOFF_US = 100 * 1000;

UniqueFd listen_on(const Endpoint& at) {
    std::string name = at.to_string();
    UniqueFd fd(::socket(at.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) throw_errno("socket for " + name);
    int one = 1;
    if (setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
        throw_errno("setsockopt SO_REUSEADDR " + name);
    // One family per socket, so "[::]:P" and "0.0.0.0:P" can be served side by side.
    if (at.family() == AF_INET6 &&
        setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0)
        throw_errno("setsockopt IPV6_V6ONLY " + name);
    if (::bind(fd.get(), at.sa(), at.len()) < 0) throw_errno("bind " + name);
    if (::listen(fd.get(), SOMAXCONN) < 0) throw_errno("listen " + name);
    return fd;
}

Endpoint bound_address(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) < 0) throw_errno("getsockname");
    return Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

UniqueFd make_eventfd() {
    UniqueFd fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!fd) throw_errno("eventfd");
    return fd;
}

void signal_eventfd(int fd) {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(fd, &one, sizeof one);  // only fails if already huge
}

}  // namespace

Server::Server(const ServeOptions& opts)
    : opts_(opts), stop_fd_(make_eventfd()), done_fd_(make_eventfd()) {
    if (!opts_.log_path.empty()) log_ = ConnLog(opts_.log_path);
    for (const auto& at : opts_.listen) {
        listeners_.push_back(listen_on(at));
        bound_.push_back(bound_address(listeners_.back().get()));
    }
    write_ready_file();
}

Server::~Server() {
    stop_all();
}

void Server::write_ready_file() const {
    if (opts_.ready_file.empty()) return;
    std::string tmp = opts_.ready_file + ".tmp";
    FILE* f = std::fopen(tmp.c_str(), "we");
    if (!f) throw_errno("fopen --ready-file " + tmp);
    for (const auto& e : bound_) std::fprintf(f, "%s\n", e.to_string().c_str());
    bool ok = std::fclose(f) == 0;
    // rename() makes the file appear complete, so a script polling for it never reads half.
    if (!ok || std::rename(tmp.c_str(), opts_.ready_file.c_str()) < 0)
        throw_errno("write --ready-file " + opts_.ready_file);
}

ServeSummary Server::run(const volatile sig_atomic_t* stop_flag, const sigset_t* wait_mask) {
    ServeSummary s;
    uint64_t end_ms = opts_.lifetime_ms ? monotonic_ms() + opts_.lifetime_ms : 0;
    for (;;) {
        bool accepting = opts_.count == 0 || accepted_ < opts_.count;
        if (*stop_flag || (!accepting && workers_.empty())) break;
        if (end_ms && monotonic_ms() >= end_ms) {
            s.lifetime_expired = true;
            break;
        }
        std::vector<pollfd> fds{{done_fd_.get(), POLLIN, 0}};
        if (accepting)
            for (auto& l : listeners_) fds.push_back({l.get(), POLLIN, 0});
        timespec ts{}, *tsp = nullptr;
        if (end_ms) {
            uint64_t left = end_ms - std::min(end_ms, monotonic_ms());
            ts = {time_t(left / 1000), long(left % 1000) * 1000000};
            tsp = &ts;
        }
        int n = ppoll(fds.data(), fds.size(), tsp, wait_mask);
        if (n < 0 && errno != EINTR) throw_errno("ppoll");
        if (n <= 0) continue;
        if (fds[0].revents) reap_finished();
        for (size_t i = 1; i < fds.size(); ++i)
            if (fds[i].revents) accept_ready(fds[i].fd);
    }
    stop_all();
    s.connections = accepted_;
    s.ok = ok_;
    s.failed = failed_;
    s.stopped = stopped_;
    return s;
}

void Server::accept_ready(int listen_fd) {
    while (opts_.count == 0 || accepted_ < opts_.count) {
        UniqueFd fd(accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
        if (!fd) {
            // EAGAIN: drained. Anything else (ECONNABORTED, EMFILE) costs that one connection
            // only; the listener stays up.
            int err = errno;
            if (err != EAGAIN && err != EWOULDBLOCK && err != EINTR)
                LOG_WARN("accept4 on %s: %s", bound_address(listen_fd).to_string().c_str(),
                         std::strerror(err));
            // Out of fds or memory the listener stays readable: back off instead of spinning.
            if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM)
                usleep(ACCEPT_BACKOFF_US);
            return;
        }
        ++accepted_;
        start_worker(std::move(fd));
    }
}

void Server::start_worker(UniqueFd fd) {
    Worker& w = workers_.emplace_back();
    try {
        w.thread = std::thread(&Server::worker_main, this, std::move(fd), &w);
    } catch (const std::system_error& e) {
        LOG_WARN("no thread for a connection: %s", e.what());
        ++failed_;
        workers_.pop_back();
    }
}

void Server::worker_main(UniqueFd fd, Worker* self) {
    ConnOutcome out;
    Endpoint peer, local;
    std::string status = "ok";
    std::optional<Conn> conn;
    try {
        conn.emplace(std::move(fd), Deadline::never(), stop_fd_.get());
        conn->set_idle_timeout_ms(opts_.modes.idle_timeout_ms);
        peer = conn->peer();
        local = conn->local();
        serve_connection(*conn, opts_.modes, board_, out);
    } catch (const FlowError& e) {
        status =
            e.code() == Fail::stopped ? "stopped" : std::string("error=") + fail_name(e.code());
        if (e.code() != Fail::stopped)
            LOG_WARN("%s mode=%s: %s", flow_name(peer, local).c_str(), out.mode.c_str(), e.what());
    } catch (const std::exception& e) {
        status = "error=io";
        LOG_WARN("%s mode=%s: %s", flow_name(peer, local).c_str(), out.mode.c_str(), e.what());
    }
    // Logged before the socket closes, so a client that has seen the close finds the line.
    log_.record(peer, out, status);
    conn.reset();
    LOG_INFO("%s mode=%s received=%llu sent=%llu %s", flow_name(peer, local).c_str(),
             out.mode.c_str(), (unsigned long long)out.received, (unsigned long long)out.sent,
             status.c_str());
    ++(status == "ok" ? ok_ : status == "stopped" ? stopped_ : failed_);
    self->finished = true;
    signal_eventfd(done_fd_.get());
}

void Server::reap_finished() {
    uint64_t v;
    [[maybe_unused]] ssize_t n = ::read(done_fd_.get(), &v, sizeof v);
    for (auto it = workers_.begin(); it != workers_.end();) {
        if (it->finished) {
            it->thread.join();
            it = workers_.erase(it);
        } else {
            ++it;
        }
    }
}

void Server::stop_all() {
    signal_eventfd(stop_fd_.get());
    board_.stop();
    for (auto& w : workers_) w.thread.join();
    workers_.clear();
}

}  // namespace pepsal::flowtool
