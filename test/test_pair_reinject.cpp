// Reinjection on real kernel TCP: a lane whose packets are dropped (iptables, in a private
// network namespace) goes into retransmission-timeout recovery, and the engine sends what that
// lane holds again on the other lanes, so the flow completes while the lane is still dead;
// and the tail of a burst whose lane lost it goes again once the flow has nothing more to
// send, long before that lane's own timeout. Also SentChunks, the store of copies behind it.
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "clock.hpp"
#include "netns.hpp"
#include "pair_rig.hpp"
#include "pair_sent_chunks.hpp"

using namespace pepsal;
using namespace pepsal::pair;
using namespace pepsal::test;

TEST_CASE("pair sent chunks: copies live until a lane acknowledges them", "[pair]") {
    SentChunks s(3);
    Bytes a(100, 1), b(50, 2), c(70, 3);
    s.add(0, 0, a, 116);     // lane 0 bytes 0..115 (16-byte header + payload)
    s.add(1, 100, b, 66);
    s.add(0, 150, c, 202);
    CHECK(s.bytes() == 220);
    s.acked(0, 115);  // one byte short of the first frame
    CHECK(s.bytes() == 220);
    s.acked(1, 66);
    CHECK(s.bytes() == 170);
    // Lane 0 timed out: both its chunks are queued, once.
    CHECK(s.reinject(0) == 170);
    CHECK(s.reinject(0) == 0);
    auto first = s.next_reinjection();
    REQUIRE(first);
    CHECK(first->offset == 0);
    CHECK(Bytes(first->bytes.begin(), first->bytes.end()) == a);
    s.reinjected(2, 116);  // sent again on lane 2
    CHECK(s.reinjected_bytes() == 100);
    // Lane 2 acknowledges the copy: the chunk is gone, also from lane 0's list.
    s.acked(2, 116);
    CHECK(s.bytes() == 70);
    auto second = s.next_reinjection();
    REQUIRE(second);
    CHECK(second->offset == 150);
    // Lane 0 recovers and acknowledges everything before the copy went out.
    s.acked(0, 202);
    CHECK(s.empty());
    CHECK(!s.next_reinjection());
    CHECK(!s.reinjection_queued());
    CHECK_THROWS_AS(s.reinjected(1, 300), std::logic_error);
    // A bounded reinjection takes the oldest chunks first, each once.
    SentChunks t(2);
    t.add(0, 0, a, 116);
    t.add(0, 100, b, 182);
    t.add(0, 150, c, 268);
    CHECK(t.reinject(0, 1) == 100);
    CHECK(t.next_reinjection()->offset == 0);
    t.skip_reinjection();
    CHECK(t.reinject(0, 5) == 120);  // the other two
    CHECK(t.reinject(0, 5) == 0);
    CHECK_THROWS_AS(s.add(5, 0, a, 1), std::out_of_range);
}

TEST_CASE("pair sent chunks: the tail sent before a time is queued, once", "[pair]") {
    SentChunks s(2);
    Bytes a(100, 1), b(50, 2), c(70, 3);
    CHECK(!s.oldest_unqueued_ms(0));
    s.add(0, 0, a, 116, 1000);
    s.add(0, 100, b, 182, 1010);
    s.add(1, 150, c, 86, 1005);
    CHECK(s.oldest_unqueued_ms(0) == 1000u);
    CHECK(s.reinject_sent_before(0, 999) == 0);
    CHECK(s.reinject_sent_before(0, 1000) == 100);  // the first chunk only
    CHECK(s.oldest_unqueued_ms(0) == 1010u);
    CHECK(s.reinject_sent_before(0, 5000) == 50);   // the rest; the first is not queued twice
    CHECK(!s.oldest_unqueued_ms(0));
    CHECK(s.reinject_sent_before(0, 5000) == 0);
    CHECK(s.oldest_unqueued_ms(1) == 1005u);        // other lanes untouched
    // A chunk acknowledged (here: by its copy's lane) is neither queued nor counted.
    s.reinjected(1, 202, 2000);                     // chunk 0 sent again on lane 1
    s.acked(1, 202);
    CHECK(!s.oldest_unqueued_ms(1));
    CHECK(s.next_reinjection()->offset == 100);
}

namespace {

// From construction on, every packet the near engine sends on lane `index` is lost on the way
// (INPUT: a drop in OUTPUT would fail the send, which TCP retries as unsent, not as a loss),
// ACKs included; restore() ends that.
class DeadLane {
public:
    DeadLane(const Rig& rig, size_t index)
        : rule_("INPUT -i lo -p tcp --sport " + std::to_string(rig.near_lane_ports.at(index)) + " -j DROP") {
        sh("iptables -w -A " + rule_);
    }
    void restore() { sh("iptables -w -D " + rule_); }

private:
    std::string rule_;
};

}  // namespace

TEST_CASE("pair engine sends the lost tail of a burst again once nothing else is to send", "[pair-engine][root]") {
    if (!privileged_or_skip("[pair-engine][root]")) return;
    ScopedNetns netns;
    sh("ip link set lo up");
    // Lane timeouts take 3 s here: whatever arrives much sooner came by tail reinjection.
    sh("ip route change local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1 rto_min 3s");
    RigOptions o(4);
    Rig rig(o);
    exchange_hello(rig);
    DeadLane dead(rig, 0);  // the first choice of a burst: ties go to the lowest index
    Bytes up = pattern(22, 20'000);
    uint64_t start = monotonic_ms();
    REQUIRE(write_all(rig.client.get(), up) == 0);  // no FIN: the flow stays open, and idle
    Received got = read_to_eof(rig.server.get(), up.size());
    uint64_t took = monotonic_ms() - start;
    CHECK(got.err == 0);
    CHECK((got.data == up));
    INFO("20 KB arrived in " << took << " ms while lane 0 was dead");
    CHECK(took < 1500);
    dead.restore();
    shutdown(rig.client.get(), SHUT_WR);
    shutdown(rig.server.get(), SHUT_WR);
    CHECK(read_to_eof(rig.client.get()).err == 0);
    CHECK(read_to_eof(rig.server.get()).err == 0);
    EngineResult near = rig.near.join(), far = rig.far.join();
    INFO(near.detail << " / " << far.detail);
    CHECK(near.end == EngineEnd::closed);
    CHECK(far.end == EngineEnd::closed);
    CHECK(near.reinjected > 0);
    CHECK(near.reinjected <= up.size());  // each lost byte once
}

TEST_CASE("pair engine sends a timed-out lane's data again on the others", "[pair-engine][root]") {
    if (!privileged_or_skip("[pair-engine][root]")) return;
    ScopedNetns netns;
    sh("ip link set lo up");
    RigOptions o(4);
    Rig rig(o);
    exchange_hello(rig);
    DeadLane dead(rig, 0);
    Bytes up = pattern(21, 6 * MB);
    std::thread cw([&] {
        write_all(rig.client.get(), up);
        shutdown(rig.client.get(), SHUT_WR);
    });
    uint64_t start = monotonic_ms();
    Received got = read_to_eof(rig.server.get());  // times out (HANG_LIMIT_S) without reinjection
    uint64_t took = monotonic_ms() - start;
    cw.join();
    CHECK(got.err == 0);
    CHECK(got.data.size() == up.size());
    CHECK((got.data == up));
    INFO("6 MB arrived in " << took << " ms while lane 0 was dead");
    CHECK(took < uint64_t(HANG_LIMIT_S) * 1000 / 2);
    // Lane 0 stays dead: the flow still ends cleanly on both sides. Near resets the lane it
    // can no longer flush (its copies were delivered); far, which never hears that reset,
    // closes it after LANE_CLOSE_WAIT_MS of silence.
    shutdown(rig.server.get(), SHUT_WR);
    CHECK(read_to_eof(rig.client.get()).err == 0);
    EngineResult near = rig.near.join(), far = rig.far.join();
    INFO(near.detail << " / " << far.detail);
    CHECK(near.end == EngineEnd::closed);
    CHECK(far.end == EngineEnd::closed);
    CHECK(near.reinjected > 0);
    // Far sent only the 7-byte hello; lane 0 may have lost the ACK of it (delayed, then
    // dropped), and then far's tail reinjection sent it again.
    CHECK(far.reinjected <= 7);
    dead.restore();
}
