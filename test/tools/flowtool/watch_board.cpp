#include "watch_board.hpp"

#include <chrono>

namespace pepsal::flowtool {

void WatchBoard::post(uint64_t token, const std::string& end) {
    {
        std::lock_guard lock(mu_);
        if (ends_.insert_or_assign(token, end).second) order_.push_back(token);
        while (order_.size() > MAX_ENTRIES) {
            ends_.erase(order_.front());
            order_.pop_front();
        }
    }
    changed_.notify_all();
}

std::string WatchBoard::await(uint64_t token, Deadline deadline) {
    std::unique_lock lock(mu_);
    for (;;) {
        if (auto it = ends_.find(token); it != ends_.end()) return it->second;
        if (stopped_) return "stopped";
        if (deadline.is_never()) {
            changed_.wait(lock);
            continue;
        }
        int ms = deadline.poll_timeout_ms();
        if (ms == 0) return "unknown";
        changed_.wait_for(lock, std::chrono::milliseconds(ms));
    }
}

void WatchBoard::stop() {
    {
        std::lock_guard lock(mu_);
        stopped_ = true;
    }
    changed_.notify_all();
}

}  // namespace pepsal::flowtool
