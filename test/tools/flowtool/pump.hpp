// Moves a flow's payload: sends a pattern stream and receives into a checker at the same time,
// in one poll loop, so neither direction can stall the other (as `both` and `echo` need).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "conn.hpp"
#include "pattern.hpp"

namespace pepsal::flowtool {

constexpr size_t IO_CHUNK_BYTES = 64 * 1024;
// A PatternReceiver limit meaning "until EOF".
constexpr uint64_t UNTIL_EOF = ~uint64_t(0);

// Bytes [0, total) of the stream for `seed`, hashed as they are handed to the kernel.
class PatternSender {
  public:
    PatternSender(uint64_t seed, uint64_t total);
    // Flips one bit of byte `offset` after hashing: the receiver's check must then fail.
    void corrupt_at(uint64_t offset) { corrupt_offset_ = offset; }
    bool done() const { return sent_ == total_; }
    uint64_t sent() const { return sent_; }
    // Sends until done (true), the socket would block or its turn is over (false).
    bool send_some(Conn& conn);
    std::string hex_final() { return sha_.hex_final(); }

  private:
    void refill();

    uint64_t seed_;
    uint64_t total_;
    uint64_t sent_ = 0;
    uint64_t generated_ = 0;
    std::optional<uint64_t> corrupt_offset_;
    Sha256 sha_;
    std::vector<uint8_t> buf_;
    size_t head_ = 0;  // buf_[head_, tail_) generated but not yet sent
    size_t tail_ = 0;
};

// Receives into a PatternChecker until EOF or until `limit` bytes have arrived.
class PatternReceiver {
  public:
    PatternReceiver(uint64_t seed, uint64_t limit)
        : checker_(seed), limit_(limit), buf_(IO_CHUNK_BYTES) {}
    void corrupt_at(uint64_t offset) { corrupt_offset_ = offset; }
    bool done() const { return eof_ || checker_.bytes() == limit_; }
    bool eof() const { return eof_; }
    // Reads until done (true), the socket would block or its turn is over (false).
    bool receive_some(Conn& conn);
    PatternChecker& checker() { return checker_; }

  private:
    PatternChecker checker_;
    uint64_t limit_;
    bool eof_ = false;
    std::optional<uint64_t> corrupt_offset_;
    std::vector<uint8_t> buf_;
};

struct PumpOptions {
    bool shutdown_after_send = false;  // SHUT_WR once the sender is done (the flow's "EOF")
    bool stop_at_eof = false;          // return at EOF even if the sender is not done
};

// Runs until both sides are done (either may be null). Throws FlowError from the connection.
void pump(Conn& conn, PatternSender* tx, PatternReceiver* rx, const PumpOptions& opts = {});

}  // namespace pepsal::flowtool
