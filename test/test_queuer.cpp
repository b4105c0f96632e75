// The queuer against the real kernel: each privileged test enters a fresh network namespace of
// its own (unshare on the test thread, undone on exit, so nothing outlives the test), queues the
// SYNs leaving through lo to NFQUEUE with iptables, and makes real connections or sends raw
// segments. Needs root; without it the tests are skipped, unless CI=true, where they fail.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "captured_syn.hpp"
#include "clock.hpp"
#include "conn_table.hpp"
#include "error.hpp"
#include "fd_count.hpp"
#include "netns.hpp"
#include "nfqueue.hpp"
#include "queuer.hpp"
#include "rate_limit.hpp"
#include "unique_fd.hpp"

using namespace pepsal;
using namespace pepsal::queuer;
using pepsal::test::privileged_or_skip;
using pepsal::test::ScopedNetns;
using pepsal::test::sh;
using Bytes = std::vector<uint8_t>;

namespace {

constexpr uint16_t QUEUE_NUM = 7;  // namespaces have their own queues: no clash with others
constexpr uint32_t BYPASS_MARK = 0x40;
constexpr uint64_t WAIT_LIMIT_MS = 10'000;  // generous upper bound on what takes milliseconds
constexpr unsigned HANG_LIMIT_S = 120;      // a wedged test ends the run instead of hanging it
constexpr int STOP_SIGNAL = SIGUSR1;

// ---- packets ---------------------------------------------------------------------------------

Bytes tcp_syn(uint16_t sport, uint16_t dport, Bytes options, size_t payload = 0, int doff = -1) {
    while (options.size() % 4) options.push_back(0);
    Bytes s(20 + options.size() + payload, 'd');
    std::fill(s.begin(), s.begin() + 20, 0);
    std::copy(options.begin(), options.end(), s.begin() + 20);
    s[0] = uint8_t(sport >> 8), s[1] = uint8_t(sport);
    s[2] = uint8_t(dport >> 8), s[3] = uint8_t(dport);
    s[12] = uint8_t((doff >= 0 ? doff : int(5 + options.size() / 4)) << 4);
    s[13] = 0x02;  // SYN
    s[14] = s[15] = 0xff;
    return s;
}

Bytes with_ip_header(int family, const Bytes& seg) {
    bool v4 = family == AF_INET;
    Bytes p(v4 ? 20 : 40, 0);
    size_t len = v4 ? p.size() + seg.size() : seg.size();
    p[0] = v4 ? 0x45 : 0x60;
    p[v4 ? 2 : 4] = uint8_t(len >> 8), p[v4 ? 3 : 5] = uint8_t(len);
    p[v4 ? 9 : 6] = IPPROTO_TCP;
    p[v4 ? 12 : 23] = p[v4 ? 16 : 39] = 1;  // 0.0.0.1 → 0.0.0.1, ::1 → ::1; enough for parsing
    p.insert(p.end(), seg.begin(), seg.end());
    return p;
}

// ---- privileges, namespace, firewall ---------------------------------------------------------

// Packets counted by the rule carrying `comment` in OUTPUT of `table` (iptables or ip6tables).
uint64_t rule_packets(const char* tool, const char* table, const std::string& comment) {
    std::string cmd = std::string(tool) + " -w -t " + table + " -L OUTPUT -v -x -n";
    FILE* f = popen(cmd.c_str(), "r");
    REQUIRE(f != nullptr);
    char line[512];
    std::optional<uint64_t> found;
    while (fgets(line, sizeof line, f))
        if (std::string(line).find("/* " + comment + " */") != std::string::npos)
            found = std::strtoull(line, nullptr, 10);
    pclose(f);
    INFO(cmd << ": no rule /* " << comment << " */");
    REQUIRE(found);
    return *found;
}

void write_sysctl(const std::string& path, const char* value) {
    std::ofstream f("/proc/sys/" + path);  // per namespace for net/*: this thread's namespace
    f << value;
    f.close();
    INFO("/proc/sys/" << path);
    REQUIRE(f.good());
}

bool wait_until(const std::function<bool()>& done) {
    for (uint64_t end = monotonic_ms() + WAIT_LIMIT_MS; monotonic_ms() < end;) {
        if (done()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return done();
}

// ---- the queuer on a thread, stopped the way the queuer process is ---------------------------

void on_stop_signal(int) {}

// The stop signal's handler, restored afterwards: its default action would end the run.
struct StopSignalHandler {
    struct sigaction old{};
    StopSignalHandler() {
        struct sigaction sa{};
        sa.sa_handler = on_stop_signal;  // no SA_RESTART: it must interrupt ppoll
        sigemptyset(&sa.sa_mask);
        sigaction(STOP_SIGNAL, &sa, &old);
    }
    ~StopSignalHandler() { sigaction(STOP_SIGNAL, &old, nullptr); }
};

// Runs Queuer::run on a thread that blocks STOP_SIGNAL except inside ppoll, as the queuer process
// blocks SIGTERM: stop() sets the flag, then signals the thread.
class QueuerThread {
public:
    QueuerThread(uint16_t queue, uint32_t mark, ConnTable& table) : queuer_(queue, mark, table) {
        sigset_t block, old;
        sigemptyset(&block);
        sigaddset(&block, STOP_SIGNAL);
        pthread_sigmask(SIG_BLOCK, &block, &old);
        wait_mask_ = old;
        sigdelset(&wait_mask_, STOP_SIGNAL);
        thread_ = std::thread([this] {  // inherits the blocked mask
            try {
                queuer_.run(stop_, wait_mask_);
            } catch (...) {
                error_ = std::current_exception();
            }
        });
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
    }
    ~QueuerThread() { join(); }

    // Ends run() and returns the final counters; rethrows what run() threw.
    QueuerCounters stop() {
        join();
        if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
        return queuer_.counters();
    }

private:
    void join() {
        if (!thread_.joinable()) return;
        stop_ = 1;
        pthread_kill(thread_.native_handle(), STOP_SIGNAL);
        thread_.join();
    }

    Queuer queuer_;
    volatile sig_atomic_t stop_ = 0;
    sigset_t wait_mask_{};
    std::exception_ptr error_;
    std::thread thread_;
};

// One test's world: a table, a namespace whose lo SYNs go to QUEUE_NUM, a running queuer.
struct Lab {
    struct Segment {
        std::string name = "pq-table-" + std::to_string(getpid());
        ~Segment() { ConnTable::remove(name); }
    } segment;
    ConnTable table;
    ScopedNetns netns;
    StopSignalHandler handler;
    QueuerThread queuer;

    explicit Lab(uint32_t capacity)
        : table(ConnTable::create(segment.name, capacity)), queuer(QUEUE_NUM, BYPASS_MARK, table) {
        alarm(HANG_LIMIT_S);
        sh("ip link set lo up");
        for (const char* tool : {"iptables", "ip6tables"})
            sh(std::string(tool) + " -w -t mangle -A OUTPUT -p tcp --syn -o lo -j NFQUEUE" +
               " --queue-num " + std::to_string(QUEUE_NUM));
    }
    ~Lab() { alarm(0); }
};

// ---- sockets ---------------------------------------------------------------------------------

Endpoint local_of(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0);
    return Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

UniqueFd listen_on(const char* text) {
    Endpoint at = *Endpoint::parse(text);
    UniqueFd fd(socket(at.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(fd);
    REQUIRE(bind(fd.get(), at.sa(), at.len()) == 0);
    REQUIRE(listen(fd.get(), 16) == 0);
    return fd;
}

// Connects with `mss` as the SYN's MSS option (TCP_MAXSEG) and `mark` as the SYN's mark.
UniqueFd connect_to(const Endpoint& server, int mss, uint32_t mark = 0) {
    UniqueFd fd(socket(server.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(fd);
    timeval limit{time_t(WAIT_LIMIT_MS / 1000), 0};  // a lost SYN fails the test, not hangs it
    REQUIRE(setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit) == 0);
    REQUIRE(setsockopt(fd.get(), IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof mss) == 0);
    if (mark) REQUIRE(setsockopt(fd.get(), SOL_SOCKET, SO_MARK, &mark, sizeof mark) == 0);
    INFO("connect " << server.to_string());
    REQUIRE(connect(fd.get(), server.sa(), server.len()) == 0);
    return fd;
}

std::optional<FlowView> find_flow(const ConnTable& table, const Endpoint& client) {
    for (const FlowView& f : table.snapshot())
        if (f.syn.client == client) return f;
    return std::nullopt;
}

// Sends `seg` as the payload of an IPv4 TCP packet to 127.0.0.1 (the kernel adds the IP header).
// SYNs to `dport` go to HAND_QUEUE, which a test reads itself instead of through a Queuer; the
// rule comments "pq-hand" (queued) and "pq-passed" (verdict given, or failed open) count them.
constexpr uint16_t HAND_QUEUE = QUEUE_NUM + 1;
void queue_by_hand(uint16_t dport) {
    std::string port = std::to_string(dport);
    sh("iptables -w -t mangle -I OUTPUT -p tcp --syn --dport " + port +
       " -m comment --comment pq-hand -j NFQUEUE --queue-num " + std::to_string(HAND_QUEUE));
    sh("iptables -w -t filter -A OUTPUT -p tcp --syn --dport " + port +
       " -m comment --comment pq-passed");
}

void send_raw_tcp(int raw, const Bytes& seg) {
    Endpoint to = *Endpoint::parse("127.0.0.1:0");
    REQUIRE(sendto(raw, seg.data(), seg.size(), 0, to.sa(), to.len()) == ssize_t(seg.size()));
}

}  // namespace

TEST_CASE("parse_captured_syn accepts a SYN cut by the copy range, nothing else", "[queuer]") {
    constexpr size_t RANGE = NfQueue::COPY_RANGE_BYTES;
    Bytes opts = {2, 4, 0x04, 0x57, 1, 3, 3, 6};  // MSS 1111, NOP, WS 6
    int family = GENERATE(AF_INET, AF_INET6);
    Bytes full = with_ip_header(family, tcp_syn(30003, 80, opts, 1000));
    Bytes cut(full.begin(), full.begin() + RANGE);
    SynRecord r;
    CHECK(parse_syn(cut.data(), cut.size(), r) == SynParse::truncated);
    REQUIRE(parse_captured_syn(cut.data(), cut.size(), RANGE, r) == SynParse::ok);
    CHECK(r.client.port() == 30003);
    CHECK(r.options.mss == 1111);
    CHECK(r.options.wscale == 6);
    SECTION("a capture shorter than the range must be whole") {
        Bytes short_cut(full.begin(), full.begin() + RANGE - 1);
        CHECK(parse_captured_syn(short_cut.data(), short_cut.size(), RANGE, r) ==
              SynParse::truncated);
    }
    SECTION("headers that do not fit in the capture stay truncated") {
        Bytes late = with_ip_header(family, tcp_syn(1, 2, {}, 1000, 15));
        late.resize((family == AF_INET ? 20 : 40) + 59);  // one byte short of the TCP header
        CHECK(parse_captured_syn(late.data(), late.size(), late.size(), r) == SynParse::truncated);
    }
    SECTION("the caller's bytes are not modified") {
        Bytes before = cut;
        parse_captured_syn(cut.data(), cut.size(), RANGE, r);
        CHECK(cut == before);
    }
}

TEST_CASE("RateLimit lets one event per interval through and counts the rest", "[queuer]") {
    RateLimit limit(1000);
    CHECK(limit.allow(5000));
    CHECK_FALSE(limit.allow(5001));
    CHECK_FALSE(limit.allow(5999));
    CHECK(limit.allow(6000));
    CHECK(limit.suppressed() == 2);
    CHECK(limit.allow(9000));
    CHECK(limit.suppressed() == 0);
}

TEST_CASE("the queuer records loopback SYNs with their endpoints and options", "[queuer]") {
    if (!privileged_or_skip("[queuer]")) return;
    Lab lab(16);
    const char* where = GENERATE("127.0.0.1:0", "[::1]:0");
    UniqueFd listener = listen_on(where);
    Endpoint server = local_of(listener.get());

    UniqueFd c1 = connect_to(server, 1200);
    std::optional<FlowView> f1 = find_flow(lab.table, local_of(c1.get()));
    REQUIRE(f1);  // connect() returned, so the SYN had its verdict and its record
    CHECK(f1->state == SlotState::pending);
    CHECK(f1->syn.dest == server);
    CHECK(f1->syn.options.mss == 1200);
    CHECK(f1->syn.options.sack_permitted);
    CHECK(f1->syn.options.timestamps);
    CHECK(f1->syn.options.wscale <= 14);

    // The options come from the packet: with SACK and timestamps off, the next SYN has neither.
    write_sysctl("net/ipv4/tcp_sack", "0");
    write_sysctl("net/ipv4/tcp_timestamps", "0");
    UniqueFd c2 = connect_to(server, 1000);
    std::optional<FlowView> f2 = find_flow(lab.table, local_of(c2.get()));
    REQUIRE(f2);
    CHECK(f2->syn.options.mss == 1000);
    CHECK_FALSE(f2->syn.options.sack_permitted);
    CHECK_FALSE(f2->syn.options.timestamps);

    QueuerCounters c = lab.queuer.stop();
    CHECK(c.inserted == 2);
    CHECK(c.syns == c.inserted + c.duplicates);  // a SYN retransmitted on a slow machine is a dup
    CHECK(c.packets == c.syns);
    CHECK(c.bypassed == 0);
    CHECK(lab.table.stats().inserted == 2);
}

TEST_CASE("a full table lets SYNs through with the bypass mark OR-ed into theirs", "[queuer]") {
    if (!privileged_or_skip("[queuer]")) return;
    Lab lab(1);
    // Counting rules in filter OUTPUT, which packets reach after the queue's verdict.
    auto count = [](const char* tool, const char* mark, const char* name) {
        sh(std::string(tool) + " -w -t filter -A OUTPUT -p tcp --syn -m mark --mark " + mark +
           " -m comment --comment " + name);
    };
    count("iptables", "0", "pq-unmarked");
    count("iptables", "0x140", "pq-ored");
    count("iptables", "0x40", "pq-replaced");
    count("ip6tables", "0x40", "pq-bypass6");
    UniqueFd l4 = listen_on("127.0.0.1:0");
    UniqueFd l6 = listen_on("[::1]:0");

    UniqueFd first = connect_to(local_of(l4.get()), 1400);
    UniqueFd marked = connect_to(local_of(l4.get()), 1400, 0x100);  // table full from here on
    UniqueFd plain6 = connect_to(local_of(l6.get()), 1400);
    CHECK(find_flow(lab.table, local_of(first.get())));
    CHECK_FALSE(find_flow(lab.table, local_of(marked.get())));
    CHECK_FALSE(find_flow(lab.table, local_of(plain6.get())));

    CHECK(rule_packets("iptables", "filter", "pq-unmarked") >= 1);
    CHECK(rule_packets("iptables", "filter", "pq-ored") >= 1);      // 0x100 | 0x40
    CHECK(rule_packets("iptables", "filter", "pq-replaced") == 0);  // the old mark survived
    CHECK(rule_packets("ip6tables", "filter", "pq-bypass6") >= 1);

    QueuerCounters c = lab.queuer.stop();
    CHECK(c.inserted == 1);
    CHECK(c.bypassed >= 2);
    CHECK(lab.table.stats().full == c.bypassed);
}

TEST_CASE("malformed and truncated SYNs are counted and pass; cut SYNs are recorded",
          "[queuer]") {
    if (!privileged_or_skip("[queuer]")) return;
    Lab lab(16);
    sh("iptables -w -t filter -A OUTPUT -p tcp --syn -m comment --comment pq-passed");
    UniqueFd raw(socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_TCP));
    REQUIRE(raw);

    send_raw_tcp(raw.get(), tcp_syn(30001, 9, {1, 1, 8, 1}));    // timestamps of length 1
    send_raw_tcp(raw.get(), tcp_syn(30002, 9, {}, 0, 15));       // 60-byte header in 20 bytes
    send_raw_tcp(raw.get(), tcp_syn(30003, 9, {2, 4, 0x04, 0x57}, 600));  // cut at 256 bytes
    Endpoint cut_client = *Endpoint::parse("127.0.0.1:30003");
    bool all_seen = wait_until([&] {
        return lab.table.stats().malformed_syns == 2 && find_flow(lab.table, cut_client);
    });
    CHECK(all_seen);
    CHECK(wait_until([] { return rule_packets("iptables", "filter", "pq-passed") == 3; }));
    std::optional<FlowView> cut = find_flow(lab.table, cut_client);
    REQUIRE(cut);
    CHECK(cut->syn.options.mss == 1111);
    CHECK(cut->syn.dest == *Endpoint::parse("127.0.0.1:9"));

    QueuerCounters c = lab.queuer.stop();
    CHECK(c.packets == 3);
    CHECK(c.malformed == 1);
    CHECK(c.truncated == 1);
    CHECK(c.inserted == 1);
}

TEST_CASE("queue setup: errors name the call and the queue, the socket is close-on-exec",
          "[queuer]") {
    if (!privileged_or_skip("[queuer]")) return;
    int fds_before = test::open_fd_count();
    {
        Lab lab(4);
        using Catch::Matchers::Contains;
        CHECK_THROWS_WITH(Queuer(QUEUE_NUM, BYPASS_MARK, lab.table),
                          Contains("nfq_create_queue 7") && Contains("another process"));
        CHECK_THROWS_AS(Queuer(QUEUE_NUM + 1, 0, lab.table), std::invalid_argument);
        NfQueue other(QUEUE_NUM + 1, [](const QueuedPacket&) { return std::nullopt; });
        CHECK((fcntl(other.fd(), F_GETFD) & FD_CLOEXEC) != 0);
        CHECK((fcntl(other.fd(), F_GETFL) & O_NONBLOCK) != 0);
        CHECK(other.receive_one() == Receive::drained);
        lab.queuer.stop();
    }
    CHECK(test::open_fd_count() == fds_before);
}

TEST_CASE("a netlink overrun is reported, not fatal, and the kernel fails open", "[queuer]") {
    if (!privileged_or_skip("[queuer]")) return;
    Lab lab(4);
    constexpr int SYNS = 64;
    queue_by_hand(10);
    int handled = 0;
    NfQueue q(HAND_QUEUE, [&](const QueuedPacket&) {
        ++handled;
        return std::nullopt;
    });
    int tiny = 1;  // the kernel rounds it up to its minimum, room for a few messages
    REQUIRE(setsockopt(q.fd(), SOL_SOCKET, SO_RCVBUFFORCE, &tiny, sizeof tiny) == 0);
    UniqueFd raw(socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_TCP));
    REQUIRE(raw);
    for (int i = 0; i < SYNS; ++i) send_raw_tcp(raw.get(), tcp_syn(uint16_t(31000 + i), 10, {}));
    REQUIRE(wait_until([&] { return rule_packets("iptables", "mangle", "pq-hand") == SYNS; }));

    int overruns = 0;
    for (Receive r; (r = q.receive_one()) != Receive::drained;) overruns += r == Receive::overrun;
    CHECK(overruns >= 1);
    CHECK(handled >= 1);
    CHECK(handled < SYNS);
    // Every SYN went on: those we answered, and those the kernel could not queue to us.
    CHECK(wait_until([] { return rule_packets("iptables", "filter", "pq-passed") == SYNS; }));
}

TEST_CASE("a packet whose handler throws is accepted before the error propagates", "[queuer]") {
    if (!privileged_or_skip("[queuer]")) return;
    Lab lab(4);
    queue_by_hand(11);
    NfQueue q(HAND_QUEUE, [](const QueuedPacket&) -> std::optional<uint32_t> {
        throw std::runtime_error("table lock failed");
    });
    UniqueFd raw(socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_TCP));
    REQUIRE(raw);
    send_raw_tcp(raw.get(), tcp_syn(32000, 11, {}));
    bool thrown = wait_until([&] {
        try {
            q.receive_one();
        } catch (const std::runtime_error& e) {
            return std::string(e.what()) == "table lock failed";
        }
        return false;
    });
    CHECK(thrown);
    CHECK(wait_until([] { return rule_packets("iptables", "filter", "pq-passed") == 1; }));
}
