// `flowtool serve`: accepts on one or more addresses and runs each connection in a thread of
// its own, until --count connections have finished, a signal, or the lifetime runs out.
#pragma once

#include <signal.h>

#include <atomic>
#include <cstdint>
#include <list>
#include <string>
#include <thread>
#include <vector>

#include "conn_log.hpp"
#include "endpoint.hpp"
#include "server_modes.hpp"
#include "unique_fd.hpp"
#include "watch_board.hpp"

namespace pepsal::flowtool {

struct ServeOptions {
    std::vector<Endpoint> listen;
    uint64_t count = 0;        // stop after this many connections have finished; 0: never
    uint64_t lifetime_ms = 0;  // stop after this long whatever happens; 0: never
    std::string log_path;      // per-connection log; empty: none
    std::string ready_file;    // written (atomically) with the bound addresses once listening
    ModeConfig modes;
};

struct ServeSummary {
    uint64_t connections = 0;  // accepted
    uint64_t ok = 0;
    uint64_t failed = 0;
    uint64_t stopped = 0;  // cut short by the server's own shutdown
    bool lifetime_expired = false;
};

class Server {
  public:
    // Binds and listens on every address. Throws std::system_error naming the address.
    explicit Server(const ServeOptions& opts);
    ~Server();  // stops and joins any connection thread still running
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    const std::vector<Endpoint>& bound() const { return bound_; }

    // Serves until done. SIGINT/SIGTERM must be blocked in every thread; they are delivered
    // only inside ppoll with `wait_mask`, and their handler sets `*stop_flag`.
    ServeSummary run(const volatile sig_atomic_t* stop_flag, const sigset_t* wait_mask);

  private:
    struct Worker {
        std::thread thread;
        std::atomic<bool> finished{false};
    };

    void write_ready_file() const;
    void accept_ready(int listen_fd);
    void start_worker(UniqueFd fd);
    void worker_main(UniqueFd fd, Worker* self);
    void reap_finished();
    void stop_all();

    ServeOptions opts_;
    std::vector<UniqueFd> listeners_;
    std::vector<Endpoint> bound_;
    ConnLog log_;
    WatchBoard board_;
    UniqueFd stop_fd_;  // eventfd: readable once the server shuts down (every Conn polls it)
    UniqueFd done_fd_;  // eventfd: a worker finished, wake the accept loop to reap it
    std::list<Worker> workers_;
    std::atomic<uint64_t> ok_{0}, failed_{0}, stopped_{0};
    uint64_t accepted_ = 0;
};

}  // namespace pepsal::flowtool
