// One TCP connection of a flow: a non-blocking socket whose every wait honours the flow's
// deadline and, on the server, a stop signal, so no call can block a test forever.
#pragma once

#include <poll.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "deadline.hpp"
#include "endpoint.hpp"
#include "unique_fd.hpp"

namespace pepsal::flowtool {

class Conn {
  public:
    // `stop_fd` (may be -1) becoming readable ends every wait with Fail::stopped.
    Conn(UniqueFd fd, Deadline deadline, int stop_fd = -1);

    // Connects within `connect_timeout_ms` (and the overall deadline). Throws FlowError:
    // refused, timeout, or io naming the address.
    static Conn connect(const Endpoint& to, Deadline deadline, uint64_t connect_timeout_ms);

    int fd() const { return fd_.get(); }
    const Endpoint& local() const { return local_; }
    const Endpoint& peer() const { return peer_; }
    Deadline deadline() const { return deadline_; }
    void set_deadline(Deadline d) { deadline_ = d; }
    // Besides the deadline, waits fail once no byte has moved either way for `ms` (0: never).
    // The server uses this, so long transfers are fine and only stuck ones are cut.
    void set_idle_timeout_ms(uint64_t ms) { idle_ms_ = ms; }
    void set_nodelay();

    // One attempt each, never blocking: bytes moved, 0 = EOF (read only), -1 = would block.
    // Throws FlowError on reset or any other error.
    ssize_t try_read(uint8_t* buf, size_t cap);
    ssize_t try_write(const uint8_t* buf, size_t len);
    // Waits for `events` on the socket; returns revents. Throws FlowError on timeout (deadline
    // or idle timeout) or stop.
    short wait(short events);

    // Blocking forms built on the above. read_some returns 0 on EOF.
    size_t read_some(uint8_t* buf, size_t cap);
    void write_all(const uint8_t* buf, size_t len);
    void write_all(const std::string& s) {
        write_all(reinterpret_cast<const uint8_t*>(s.data()), s.size());
    }
    // Reads exactly `len` bytes; false if EOF came first (`*got` then says how many arrived).
    bool read_exact(uint8_t* buf, size_t len, size_t* got = nullptr);
    // Reads up to and excluding '\n'. Bytes after it stay queued for the next read. Throws
    // FlowError(protocol / early_eof) if the line exceeds `max_len` or EOF comes first.
    std::string read_line(size_t max_len);

    void shutdown_write();
    // Closes so that the kernel sends RST instead of FIN (SO_LINGER {1, 0}).
    void close_with_reset();

  private:
    [[noreturn]] void fail(int err, const char* call) const;

    UniqueFd fd_;
    Deadline deadline_;
    uint64_t idle_ms_ = 0;
    uint64_t last_progress_ms_;  // monotonic; when a byte last moved (or the Conn was made)
    int stop_fd_;
    Endpoint local_;
    Endpoint peer_;
    std::string pending_;  // read past a header line, delivered before the socket's bytes
};

}  // namespace pepsal::flowtool
