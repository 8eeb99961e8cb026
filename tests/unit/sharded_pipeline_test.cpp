// The pieces the multi-threaded pipeline relies on: the shard hash and the decoder's
// address pass. Whole captures are compared between one and several workers by
// tests/golden/check-threads. The live hooks the agent calls run through every worker.

#include "pipeline/sharded_pipeline.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <functional>
#include <tuple>

#include "decode_frames.h"
#include "flow/flow_key.h"

namespace pw::decode::test {
namespace {

constexpr V4 kOuterA = {198, 51, 100, 1};
constexpr V4 kOuterB = {198, 51, 100, 2};

TEST(AddressPairHash, IsTheSameInBothDirections) {
    EXPECT_EQ(flow::address_pair_hash(address(kClient4), address(kServer4)),
              flow::address_pair_hash(address(kServer4), address(kClient4)));
    EXPECT_NE(flow::address_pair_hash(address(kClient4), address(kServer4)),
              flow::address_pair_hash(address(kClient4), address(kOuterA)));
}

TEST(AddressPairHash, SameFromFrameBytes) {
    EXPECT_EQ(flow::address_pair_hash(kClient4.data(), kServer4.data(), false),
              flow::address_pair_hash(address(kClient4), address(kServer4)));
    EXPECT_EQ(flow::address_pair_hash(kClient6.data(), kServer6.data(), true),
              flow::address_pair_hash(address(kClient6), address(kServer6)));
}

TEST(DecoderAddresses, GivesTheInnermostAddressesOfATunnel) {
    Decoder decoder;
    Frame inner = ipv4(6, tcp(40000, 80, filler(20)));
    Frame frame = ethernet(0x0800, ipv4(4, inner, kOuterA, kOuterB));  // IPv4 in IPv4
    Packet out;
    ASSERT_EQ(decoder.addresses(DLT_EN10MB, frame, static_cast<uint32_t>(frame.size()), out),
              DecodeResult::kPacket);
    EXPECT_EQ(out.source, address(kClient4));
    EXPECT_EQ(out.target, address(kServer4));
}

// A GTP-U packet in two IP fragments: the first shows the inner addresses, which the whole
// packet has too, although the lengths in its UDP and GTP headers count bytes that only the
// second brings. The second has only its own addresses; both tell their datagram.
TEST(DecoderAddresses, FirstFragmentShowsInnerPair) {
    Frame inner = ipv4(6, tcp(40000, 80, filler(200)));
    Frame gtp = bytes({0x30, 0xFF});                  // version 1, a G-PDU
    put16(gtp, static_cast<uint16_t>(inner.size()));  // the length of what follows 8 bytes
    gtp = gtp + bytes({0, 0, 0, 1}) + inner;
    Frame tunnelled = udp(50000, 2152, gtp);
    Ipv4Options first;
    first.id = 77;
    first.more_fragments = true;
    Ipv4Options second;
    second.id = 77;
    second.offset_bytes = 80;
    Frame whole = ethernet(0x0800, ipv4(17, tunnelled, kOuterA, kOuterB));
    Frame head = ethernet(0x0800, ipv4(17, Frame(tunnelled.begin(), tunnelled.begin() + 80),
                                       kOuterA, kOuterB, first));
    Frame rest = ethernet(
        0x0800, ipv4(17, Frame(tunnelled.begin() + 80, tunnelled.end()), kOuterA, kOuterB, second));
    Decoder decoder;
    Packet out;
    FragmentPlace place;
    auto size = [](const Frame& frame) { return static_cast<uint32_t>(frame.size()); };

    ASSERT_EQ(decoder.addresses(DLT_EN10MB, whole, size(whole), out, &place),
              DecodeResult::kPacket);
    EXPECT_FALSE(place.found);
    EXPECT_EQ(out.source, address(kClient4));

    ASSERT_EQ(decoder.addresses(DLT_EN10MB, head, size(head), out, &place), DecodeResult::kHeld);
    EXPECT_TRUE(place.found);
    EXPECT_TRUE(place.first);
    EXPECT_FALSE(place.last);
    EXPECT_EQ(place.source, address(kOuterA));
    EXPECT_EQ(place.id, 77u);
    EXPECT_EQ(out.source, address(kClient4));
    EXPECT_EQ(out.target, address(kServer4));

    ASSERT_EQ(decoder.addresses(DLT_EN10MB, rest, size(rest), out, &place), DecodeResult::kPacket);
    EXPECT_TRUE(place.found);
    EXPECT_FALSE(place.first);
    EXPECT_TRUE(place.last);
    EXPECT_EQ(place.target, address(kOuterB));
    EXPECT_EQ(out.source, address(kOuterA));
}

TEST(DecoderAddresses, HoldsNothingForAFragment) {
    Decoder decoder;
    Frame first = ethernet(0x86dd, ipv6(44, ipv6_fragment(17, 0, true, 7) + filler(64)));
    Packet out;
    EXPECT_EQ(decoder.addresses(DLT_EN10MB, first, static_cast<uint32_t>(first.size()), out),
              DecodeResult::kHeld);
    EXPECT_EQ(out.source, address(kClient6));
    EXPECT_EQ(decoder.memory_bytes(), Decoder().memory_bytes());
}

// Frames of the shapes Decoder::addresses() reads without the full decoder, and damaged
// variants of them: each must get the result and the addresses decode() gives it.
std::vector<Frame> address_cases() {
    Frame tcp4 = ethernet(0x0800, ipv4(6, tcp(40000, 80, filler(20))));
    Frame udp4 = ethernet(0x0800, ipv4(17, udp(50000, 53, filler(12))));
    std::vector<Frame> cases = {
        tcp4,
        udp4,
        ethernet(0x8100, vlan_tag(7, 0x0800) + ipv4(6, tcp(40000, 80, filler(20)))),
        ethernet(0x86dd, ipv6(6, tcp(40000, 443, filler(20)))),
        ethernet(0x86dd, ipv6(17, udp(50000, 53, filler(12)))),
        ethernet(0x0800, ipv4(17, udp(50000, 4789, filler(30)))),  // the VXLAN port
        ethernet(0x0800, ipv4(17, udp(50000, 3544, filler(30)))),  // the Teredo port
    };
    Frame long_tcp_header = tcp4;
    long_tcp_header[14 + 20 + 12] = 0xF0;  // 60 bytes of TCP header in a 40-byte segment
    Frame short_tcp_header = tcp4;
    short_tcp_header[14 + 20 + 12] = 0x40;  // 16 bytes
    auto with_field = [](Frame frame, size_t offset, uint16_t value) {
        frame.at(offset) = static_cast<uint8_t>(value >> 8);
        frame.at(offset + 1) = static_cast<uint8_t>(value);
        return frame;
    };
    Frame short_udp_length = with_field(udp4, 14 + 20 + 4, 4);
    Frame zero_total_length = with_field(tcp4, 14 + 2, 0);
    Frame total_below_header = with_field(tcp4, 14 + 2, 12);
    Frame truncated_tcp = tcp4;
    truncated_tcp.resize(14 + 20 + 15);
    Frame truncated_vlan = ethernet(0x8100, bytes({0, 7}));
    Frame fragment = tcp4;
    fragment[14 + 6] = 0x20;  // more fragments
    for (const Frame& frame :
         {long_tcp_header, short_tcp_header, short_udp_length, zero_total_length,
          total_below_header, truncated_tcp, truncated_vlan, fragment}) {
        cases.push_back(frame);
    }
    return cases;
}

TEST(DecoderAddresses, AgreeWithDecodeOnPlainShapes) {
    std::vector<Frame> cases = address_cases();
    for (size_t i = 0; i < cases.size(); ++i) {
        SCOPED_TRACE(i);
        Decoder shard_decoder;
        Decoder full_decoder;
        Packet addresses;
        Packet packet;
        DecodeResult quick = shard_decoder.addresses(
            DLT_EN10MB, cases[i], static_cast<uint32_t>(cases[i].size()), addresses);
        DecodeResult full = full_decoder.decode(
            DLT_EN10MB, cases[i], static_cast<uint32_t>(cases[i].size()), 1'000'000, packet);
        if (full == DecodeResult::kHeld) continue;  // a fragment: addresses() reads it alone
        EXPECT_EQ(quick, full);
        if (full != DecodeResult::kPacket) continue;
        EXPECT_EQ(addresses.source, packet.source);
        EXPECT_EQ(addresses.target, packet.target);
    }
}

// A frame cut short by the snapshot length inside its transport header still gives a
// packet in decode(). The address pass must give the same, or the frame could reach
// another worker than the rest of its flow.
TEST(DecoderAddresses, AgreeOnSnaplenCutFrames) {
    Frame echo = ethernet(0x0800, ipv4(1, icmp(8, 0, bytes({0, 1, 0, 1}) + filler(56))));
    Frame tcp4 = ethernet(0x0800, ipv4(6, tcp(40000, 80, filler(40))));
    Frame udp4 = ethernet(0x0800, ipv4(17, udp(50000, 53, filler(40))));
    for (const Frame& whole : {echo, tcp4, udp4}) {
        for (size_t cut : {size_t{14 + 20 + 2}, size_t{14 + 20 + 6}, size_t{14 + 20 + 12}}) {
            SCOPED_TRACE(testing::Message()
                         << "protocol " << int{whole[14 + 9]} << ", cut at " << cut);
            Frame frame(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(cut));
            const auto wire = static_cast<uint32_t>(whole.size());
            Decoder shard_decoder;
            Decoder full_decoder;
            Packet addresses;
            Packet packet;
            DecodeResult quick = shard_decoder.addresses(DLT_EN10MB, frame, wire, addresses);
            DecodeResult full = full_decoder.decode(DLT_EN10MB, frame, wire, 1'000'000, packet);
            EXPECT_EQ(quick, full);
            if (full != DecodeResult::kPacket) continue;
            EXPECT_EQ(addresses.source, packet.source);
            EXPECT_EQ(addresses.target, packet.target);
        }
    }
}

// UDP frames from kClient4 to 100 servers, one flow each, spread over the workers.
void feed_hundred_flows(pipeline::ShardedPipeline& sharded) {
    for (uint16_t port = 1000; port < 1100; ++port) {
        V4 server = {192, 0, 2, static_cast<uint8_t>(port)};
        Frame frame = ethernet(0x0800, ipv4(17, udp(port, 53, filler(12)), kClient4, server));
        sharded.process_frame(DLT_EN10MB, frame, static_cast<uint32_t>(frame.size()),
                              1'700'000'000'000'000 + port);
    }
}

TEST(ShardedPipeline, CountsEveryFrameOnce) {
    pipeline::Settings settings;
    pipeline::ShardedPipeline sharded(settings, {}, 3);
    feed_hundred_flows(sharded);
    sharded.finish();
    pipeline::Summary summary = sharded.summary();
    EXPECT_EQ(summary.frames, 100u);
    EXPECT_EQ(summary.flows, 100u);
    EXPECT_EQ(summary.events, 300u);  // connect, statistics and disconnect of each
}

// Counts the connect events, which a pipeline writes at a flow's first packet.
struct ConnectCounter : events::EventSink {
    std::atomic<uint64_t> connects{0};
    void write(const events::Event& event) override {
        if (event.activity == events::Activity::kConnect) ++connects;
    }
};

// Feeds feed_hundred_flows() to 3 pipelines after input_left(left, total). Returns the
// connect events written before drain(). Those are the flows the caller's thread took,
// since a worker's frames wait in a batch that is not full.
uint64_t connects_before_drain(uint64_t left, uint64_t total) {
    pipeline::Settings settings;
    ConnectCounter counter;
    pipeline::ShardedPipeline sharded(settings, {&counter}, 3);
    sharded.input_left(left, total);
    feed_hundred_flows(sharded);
    const uint64_t before = counter.connects.load();
    sharded.drain();
    EXPECT_EQ(counter.connects.load(), 100u);
    sharded.finish();
    EXPECT_EQ(sharded.summary().flows, 100u);
    return before;
}

// At the end of the input the caller's thread takes every new pair itself, so that it does
// not wait for workers with long queues.
TEST(ShardedPipeline, CallerTakesNewPairsAtTheEnd) {
    for (uint64_t left : {uint64_t{0}, pipeline::ShardedPipeline::kEndBytesPerBatch - 1}) {
        SCOPED_TRACE(left);
        EXPECT_EQ(connects_before_drain(left, uint64_t{1} << 30), 100u);
    }
}

// Before the end the workers get new pairs: before the last 12 MiB of a large input, and
// before the last eighth of a small one.
TEST(ShardedPipeline, WorkersTakeNewPairsBeforeTheEnd) {
    EXPECT_LT(connects_before_drain(pipeline::ShardedPipeline::kAssignDepth *
                                        pipeline::ShardedPipeline::kEndBytesPerBatch,
                                    uint64_t{1} << 30),
              100u);
    EXPECT_LT(connects_before_drain(1 << 20, 7 << 20), 100u);
}

TEST(ShardedPipeline, LiveHooksReachEveryWorker) {
    for (unsigned workers : {1u, 3u}) {
        SCOPED_TRACE(workers);
        pipeline::Settings settings;
        pipeline::ShardedPipeline sharded(settings, {}, workers);
        feed_hundred_flows(sharded);
        // Before finish(): the frames still in a worker's batch are handed over first.
        EXPECT_EQ(sharded.open_flows().size(), 100u);
        EXPECT_EQ(sharded.current_summary().frames, 100u);
        sharded.mark_open_flows_partial();
        // Long after the last packet, every flow is idle and expires on its worker.
        sharded.expire_idle(1'700'000'000'000'000 + 3'600'000'000LL);
        EXPECT_TRUE(sharded.open_flows().empty());
        sharded.finish();
        EXPECT_EQ(sharded.summary().flows, 100u);
        EXPECT_EQ(sharded.current_summary().frames, 100u);  // after finish(), on this thread
    }
}

// A UDP datagram of pair `pair` (one client and server per pair) at `time_us`.
Frame pair_datagram(uint8_t pair, uint16_t port) {
    V4 client = {10, 9, 0, pair};
    V4 server = {192, 0, 2, pair};
    return ethernet(0x0800, ipv4(17, udp(port, 53, filler(400)), client, server));
}

// The summary of `threads` pipelines that analyzed `frames` (borrowed) to the end. With
// `in_turn`, the pipelines own new pairs in turn (ShardedPipeline::assign_in_turn()).
pipeline::Summary summary_of(const std::vector<std::pair<Frame, int64_t>>& frames,
                             const pipeline::Settings& settings, unsigned threads,
                             bool in_turn = false) {
    pipeline::ShardedPipeline sharded(settings, {}, threads);
    if (in_turn) sharded.assign_in_turn();
    for (const auto& [frame, time] : frames) {
        sharded.process_frame(DLT_EN10MB, frame, static_cast<uint32_t>(frame.size()), time, true);
    }
    sharded.finish();
    return sharded.summary();
}

// Owners are given as frames arrive, so which pipeline gets a pair depends on timing. The
// flows must not: a pair keeps its owner while any of its state lives, so every run counts
// what one pipeline counts. Here pairs fall idle past every timeout and come back, which
// lets their buckets change owner. Half the pairs start late in each round, when a
// worker's queue has grown, so that owners given then often differ from the next round's.
TEST(ShardedPipeline, CountsSameWhileOwnersChange) {
    pipeline::Settings settings;
    settings.tcp_idle_timeout_s = 20;
    settings.udp_idle_timeout_s = 20;
    settings.other_idle_timeout_s = 20;
    settings.tcp_closed_linger_s = 5;
    settings.expected_flow_timeout_s = 20;

    constexpr int kRounds = 4;
    constexpr uint8_t kPairs = 40;
    std::vector<std::pair<Frame, int64_t>> frames;
    int64_t now = 1'700'000'000'000'000;
    for (int round = 0; round < kRounds; ++round) {
        const auto port = static_cast<uint16_t>(1000 + round);
        for (int burst = 0; burst < 400; ++burst) {
            const uint8_t pairs = burst < 300 ? kPairs / 2 : kPairs;
            for (uint8_t pair = 1; pair <= pairs; ++pair) {
                frames.emplace_back(pair_datagram(pair, port), now += 100);
            }
        }
        now += 120'000'000;  // two minutes of silence: every flow times out
    }

    auto run = [&](unsigned threads) { return summary_of(frames, settings, threads); };
    pipeline::Summary one_thread = run(1);
    EXPECT_EQ(one_thread.flows, size_t{kRounds} * kPairs);
    for (unsigned threads : {2u, 3u}) {
        SCOPED_TRACE(threads);
        for (int attempt = 0; attempt < 5; ++attempt) {
            pipeline::Summary many = run(threads);
            EXPECT_EQ(many.frames, one_thread.frames);
            EXPECT_EQ(many.flows, one_thread.flows);
            EXPECT_EQ(many.flows_timed_out, one_thread.flows_timed_out);
            EXPECT_EQ(many.events, one_thread.events);
        }
    }
}

// The orders in which add_fragments() sends a datagram's fragments.
enum class Order { kInOrder, kLastFirst, kFirstLastMiddle };

// Appends the IPv4 datagram of `payload` from `from` to `to` as fragments of `piece` bytes
// of payload (a multiple of 8), in `order`.
void add_fragments(std::vector<std::pair<Frame, int64_t>>& frames, int64_t& now,
                   const Frame& payload, V4 from, V4 to, uint16_t id, size_t piece, Order order) {
    std::vector<Frame> parts;
    for (size_t offset = 0; offset < payload.size(); offset += piece) {
        Ipv4Options options;
        options.id = id;
        options.offset_bytes = static_cast<uint16_t>(offset);
        options.more_fragments = offset + piece < payload.size();
        const auto begin = payload.begin() + static_cast<std::ptrdiff_t>(offset);
        const auto end =
            payload.begin() + static_cast<std::ptrdiff_t>(std::min(offset + piece, payload.size()));
        parts.push_back(ethernet(0x0800, ipv4(17, Frame(begin, end), from, to, options)));
    }
    if (order == Order::kLastFirst) std::reverse(parts.begin(), parts.end());
    if (order == Order::kFirstLastMiddle)
        std::rotate(parts.begin() + 1, parts.end() - 1, parts.end());
    for (Frame& part : parts) frames.emplace_back(std::move(part), now += 100);
}

// Checks that 2 and 3 pipelines, owners given by load or in turn, count the flows,
// packets and events of one pipeline, which counts `flows` flows.
void expect_same_as_one_thread(const std::vector<std::pair<Frame, int64_t>>& frames, size_t flows) {
    pipeline::Summary one_thread = summary_of(frames, pipeline::Settings{}, 1);
    EXPECT_EQ(one_thread.flows, flows);
    for (unsigned threads : {2u, 3u}) {
        for (bool in_turn : {false, true}) {
            SCOPED_TRACE(testing::Message() << threads << " threads, in turn " << in_turn);
            pipeline::Summary many = summary_of(frames, pipeline::Settings{}, threads, in_turn);
            EXPECT_EQ(many.flows, one_thread.flows);
            EXPECT_EQ(many.packets, one_thread.packets);
            EXPECT_EQ(many.events, one_thread.events);
        }
    }
}

// A tunnel's datagram: `tunnel(reply, data)` gives the IPv4 payload of a datagram whose
// innermost packet carries `data` bytes.
using Tunnel = std::function<Frame(bool, size_t)>;

// How tunnel_frames() sends a datagram: whole (piece 0) or in fragments of `piece` bytes in
// `order`, with `data` bytes in its innermost packet.
struct Shape {
    size_t data;
    size_t piece;
    Order order;
};
// Fragments whose first one shows the inner pair, in three orders; 16-byte fragments whose
// first one shows nothing, in two orders; and whole.
constexpr Shape kShapes[] = {{1200, 600, Order::kInOrder},         {1200, 600, Order::kLastFirst},
                             {1200, 600, Order::kFirstLastMiddle}, {64, 16, Order::kInOrder},
                             {64, 16, Order::kFirstLastMiddle},    {64, 0, Order::kInOrder}};

// The frames of a tunnel between kOuterA and kOuterB, its datagrams in each of kShapes in
// turn, with the frames of 8 other pairs between each two of its datagrams.
std::vector<std::pair<Frame, int64_t>> tunnel_frames(const Tunnel& tunnel) {
    std::vector<std::pair<Frame, int64_t>> frames;
    int64_t now = 1'700'000'000'000'000;
    for (int i = 0; i < 300; ++i) {
        const bool reply = i % 2 == 1;
        const V4 from = reply ? kOuterB : kOuterA;
        const V4 to = reply ? kOuterA : kOuterB;
        const Shape& shape = kShapes[i % std::size(kShapes)];
        const Frame payload = tunnel(reply, shape.data);
        if (shape.piece == 0) {
            frames.emplace_back(ethernet(0x0800, ipv4(17, payload, from, to)), now += 100);
        } else {
            add_fragments(frames, now, payload, from, to, static_cast<uint16_t>(i), shape.piece,
                          shape.order);
        }
        for (uint8_t pair = 1; pair <= 8; ++pair) {
            frames.emplace_back(pair_datagram(pair, 2000), now += 100);
        }
    }
    return frames;
}

Frame vxlan(bool reply, size_t data) {
    Frame inner = reply ? ipv4(17, udp(53, 5000, filler(data)), kServer4, kClient4)
                        : ipv4(17, udp(5000, 53, filler(data)), kClient4, kServer4);
    return udp(50000, 4789, bytes({0x08, 0, 0, 0, 0, 0, 1, 0}) + ethernet(0x0800, inner));
}

Frame teredo(bool reply, size_t data) {
    Frame inner = reply ? ipv6(17, udp(53, 5000, filler(data)), kServer6, kClient6)
                        : ipv6(17, udp(5000, 53, filler(data)), kClient6, kServer6);
    return reply ? udp(3544, 50001, inner) : udp(50001, 3544, inner);
}

// A VXLAN tunnel's inner flow is one flow whatever the threads, since its fragments and
// whole packets reach one worker. A fragment that comes before the first one, or a first
// fragment too short to show the inner pair, waits until the datagram shows it.
TEST(ShardedPipeline, TunnelFragmentsStayWithFlow) {
    expect_same_as_one_thread(tunnel_frames(vxlan), 1 + 8);
}

// Teredo is tracked as two flows, the outer UDP one and the IPv6 one inside, which
// different pipelines may own. A datagram in IP fragments reaches both, like a whole one,
// so the inner flow stays one flow.
TEST(ShardedPipeline, TeredoFragmentsReachInnerFlow) {
    expect_same_as_one_thread(tunnel_frames(teredo), 2 + 8);
}

// A VXLAN datagram between client i (10.9.0.0/16) and kServer4 with `data` bytes in its
// inner UDP packet.
Frame client_vxlan(int i, bool reply, size_t data) {
    const V4 client = {10, 9, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)};
    Frame inner = reply ? ipv4(17, udp(53, 5000, filler(data)), kServer4, client)
                        : ipv4(17, udp(5000, 53, filler(data)), client, kServer4);
    return udp(50000, 4789, bytes({0x08, 0, 0, 0, 0, 0, 1, 0}) + ethernet(0x0800, inner));
}

// Hundreds of fragmented datagrams in flight at once, each of another inner pair: all
// first fragments, then all second ones and so on, then a whole reply each. Half of them
// come in 16-byte fragments, whose first one does not show the inner pair.
TEST(ShardedPipeline, ManyDatagramsInFlight) {
    constexpr int kDatagrams = 400;
    std::vector<std::vector<std::pair<Frame, int64_t>>> parts(kDatagrams);
    size_t max_parts = 0;
    for (int i = 0; i < kDatagrams; ++i) {
        const bool tiny = i % 2 == 1;
        int64_t unused = 0;
        add_fragments(parts[i], unused, client_vxlan(i, false, tiny ? 64 : 1200), kOuterA, kOuterB,
                      static_cast<uint16_t>(i), tiny ? 16 : 600, Order::kInOrder);
        max_parts = std::max(max_parts, parts[i].size());
    }
    std::vector<std::pair<Frame, int64_t>> frames;
    int64_t now = 1'700'000'000'000'000;
    for (size_t place = 0; place < max_parts; ++place) {
        for (auto& part : parts) {
            if (place < part.size()) frames.emplace_back(std::move(part[place].first), now += 100);
        }
    }
    for (int i = 0; i < kDatagrams; ++i) {
        frames.emplace_back(ethernet(0x0800, ipv4(17, client_vxlan(i, true, 64), kOuterB, kOuterA)),
                            now += 100);
    }
    expect_same_as_one_thread(frames, kDatagrams);
}

// Datagrams of one tunnel endpoint pair that all reuse one IP id, each of another inner
// pair, in each of kShapes: a fragment must follow its own datagram's first fragment, not
// an earlier one's with the same id.
TEST(ShardedPipeline, ReusedIdsFollowOwnDatagram) {
    constexpr int kDatagrams = 300;
    std::vector<std::pair<Frame, int64_t>> frames;
    int64_t now = 1'700'000'000'000'000;
    for (int i = 0; i < kDatagrams; ++i) {
        const Shape& shape = kShapes[i % std::size(kShapes)];
        const Frame payload = client_vxlan(i, false, shape.data);
        if (shape.piece == 0) {
            frames.emplace_back(ethernet(0x0800, ipv4(17, payload, kOuterA, kOuterB)), now += 100);
        } else {
            add_fragments(frames, now, payload, kOuterA, kOuterB, 7, shape.piece, shape.order);
        }
        frames.emplace_back(ethernet(0x0800, ipv4(17, client_vxlan(i, true, 64), kOuterB, kOuterA)),
                            now += 100);
    }
    expect_same_as_one_thread(frames, kDatagrams);
}

// `count` UDP flows of different pairs, 100 us apart, that stay open to the end.
std::vector<std::pair<Frame, int64_t>> open_flows(int count) {
    std::vector<std::pair<Frame, int64_t>> frames;
    int64_t now = 1'700'000'000'000'000;
    for (int flow = 0; flow < count; ++flow) {
        V4 client = {10, 9, static_cast<uint8_t>(flow >> 8), static_cast<uint8_t>(flow)};
        V4 server = {192, 0, 2, 1};
        frames.emplace_back(ethernet(0x0800, ipv4(17, udp(5000, 53, filler(64)), client, server)),
                            now += 100);
    }
    return frames;
}

// The flow table bound holds for all pipelines together: of 100 flows that stay open, a
// table of 60 ends 40 early. With more threads the pipelines hold flows at different
// moments: one may end its flows at the end of the input before another starts the flows
// of earlier frames. So fewer may end early, never more, however the pairs are owned.
TEST(ShardedPipeline, FlowBoundIsShared) {
    const auto frames = open_flows(100);
    pipeline::Settings settings;
    settings.max_flows = 60;
    EXPECT_EQ(summary_of(frames, settings, 1).flows_evicted, 40u);
    for (unsigned threads : {2u, 3u}) {
        for (bool in_turn : {false, true}) {
            SCOPED_TRACE(testing::Message() << threads << " threads, in turn " << in_turn);
            EXPECT_LE(summary_of(frames, settings, threads, in_turn).flows_evicted, 40u);
        }
    }
}

// So does the memory bound. A pipeline adds its memory to the shared total in steps, and
// ends its own flows rather than the oldest of all (shared_bounds.h), so more flows may
// end early than with one pipeline. With flows that all stay active, as here, no more than
// those steps hold.
TEST(ShardedPipeline, MemoryBoundIsShared) {
    const auto frames = open_flows(400);
    pipeline::Settings settings;
    settings.max_memory_bytes = 400'000;
    const pipeline::Summary one_thread = summary_of(frames, settings, 1);
    ASSERT_GT(one_thread.memory.flows_evicted, 0u);
    // One flow accounts for more than 2 KiB (memory_bound.cpp).
    const uint64_t per_step = pipeline::SharedBounds::kMemoryStep / 2048;
    for (unsigned threads : {2u, 3u}) {
        for (bool in_turn : {false, true}) {
            SCOPED_TRACE(testing::Message() << threads << " threads, in turn " << in_turn);
            const pipeline::Summary many = summary_of(frames, settings, threads, in_turn);
            EXPECT_LE(many.memory.flows_evicted,
                      one_thread.memory.flows_evicted + threads * per_step);
            EXPECT_EQ(many.memory.limit_bytes, settings.max_memory_bytes);
            // The peak is that of the pipelines together, which wait for one another only
            // up to kWaitSlack each over the bound.
            EXPECT_GT(many.memory.peak_bytes, settings.max_memory_bytes / 2);
            EXPECT_LE(many.memory.peak_bytes,
                      settings.max_memory_bytes + threads * pipeline::SharedBounds::kWaitSlack);
        }
    }
}

// 200 flows of one address pair that fall idle for a minute, then 20 rounds of one frame
// on each of 200 other pairs. With the pipeline that owns each frame: 0 for the idle pair,
// and 0 and 1 in turn for the others.
std::vector<std::tuple<Frame, int64_t, size_t>> idle_then_active() {
    std::vector<std::tuple<Frame, int64_t, size_t>> frames;
    int64_t now = 1'700'000'000'000'000;
    const V4 idle_client = {10, 8, 0, 1};
    const V4 server = {192, 0, 2, 1};
    for (uint16_t flow = 0; flow < 200; ++flow) {
        frames.emplace_back(
            ethernet(0x0800, ipv4(17, udp(static_cast<uint16_t>(2000 + flow), 53, filler(64)),
                                  idle_client, server)),
            now += 100, 0);
    }
    now += 60'000'000;
    for (int round = 0; round < 20; ++round) {
        for (int flow = 0; flow < 200; ++flow) {
            const V4 client = {10, 9, static_cast<uint8_t>(flow >> 8), static_cast<uint8_t>(flow)};
            frames.emplace_back(
                ethernet(0x0800, ipv4(17, udp(5000, 53, filler(64)), client, server)), now += 100,
                flow % 2);
        }
    }
    return frames;
}

// Runs two pipelines that share their bounds on this thread, each frame on its owner in
// input order, so that the result does not depend on how threads are scheduled.
std::array<pipeline::Summary, 2> summaries_of_two(
    const std::vector<std::tuple<Frame, int64_t, size_t>>& frames,
    const pipeline::Settings& settings) {
    pipeline::SharedBounds bounds(settings.max_flows, settings.max_memory_bytes, 2);
    pipeline::Pipeline first(settings, {});
    pipeline::Pipeline second(settings, {});
    first.share_bounds(bounds, 0);
    second.share_bounds(bounds, 1);
    pipeline::Pipeline* pipelines[] = {&first, &second};
    for (const auto& [frame, time, owner] : frames) {
        pipelines[owner]->process_frame(DLT_EN10MB, frame, static_cast<uint32_t>(frame.size()),
                                        time);
    }
    first.finish();
    second.finish();
    return {first.summary(), second.summary()};
}

// At the flow table bound the flows idle the longest end first, in whichever pipeline they
// are: pipeline 1, which has none, leaves the ending to pipeline 0. When each pipeline
// ended its own oldest flow, pipeline 1 ended its active flows, which then started again:
// 2,300 flows in all.
TEST(SharedBounds, IdleFlowsEndFirstUnderFlowBound) {
    pipeline::Settings settings;
    settings.max_flows = 300;
    const auto [first, second] = summaries_of_two(idle_then_active(), settings);
    EXPECT_EQ(first.flows + second.flows, 400u);
    EXPECT_EQ(first.flows_evicted, 100u);
    EXPECT_EQ(second.flows_evicted, 0u);
}

// So does the memory bound, where not every idle flow fits either.
TEST(SharedBounds, IdleFlowsEndFirstUnderMemoryBound) {
    pipeline::Settings settings;
    settings.max_memory_bytes = 800'000;  // about 300 flows
    const auto [first, second] = summaries_of_two(idle_then_active(), settings);
    EXPECT_EQ(first.flows + second.flows, 400u);
    EXPECT_GT(first.memory.flows_evicted, 0u);
    EXPECT_EQ(second.memory.flows_evicted, 0u);
}

// A later fragment whose first one never comes waits only a while, then goes by its own
// pair and is counted as one pipeline counts it.
TEST(ShardedPipeline, LoneLaterFragmentIsNotLost) {
    std::vector<std::pair<Frame, int64_t>> frames;
    int64_t now = 1'700'000'000'000'000;
    Ipv4Options later;
    later.id = 7;
    later.offset_bytes = 64;
    frames.emplace_back(ethernet(0x0800, ipv4(17, filler(40), kOuterA, kOuterB, later)), now);
    for (int second = 0; second < 40; ++second) {
        for (uint8_t pair = 1; pair <= 4; ++pair) {
            frames.emplace_back(pair_datagram(pair, 2000), now += 250'000);
        }
    }
    pipeline::Summary one_thread = summary_of(frames, pipeline::Settings{}, 1);
    for (bool in_turn : {false, true}) {
        SCOPED_TRACE(in_turn);
        pipeline::Summary many = summary_of(frames, pipeline::Settings{}, 2, in_turn);
        EXPECT_EQ(many.frames, one_thread.frames);
        EXPECT_EQ(many.fragments_held, one_thread.fragments_held);
        EXPECT_EQ(many.flows, one_thread.flows);
    }
}

// A fragment that waits for the rest of its datagram still moves the capture's clock, as
// with one pipeline. Here the look for idle flows falls on the fragment's frame on every
// pipeline, 9 ms before the first DNS flow's next statistics event falls due (every 60 s),
// so every pipeline writes it only when the flow ends.
TEST(ShardedPipeline, WaitingFragmentMovesTheClock) {
    const int64_t start = 1'700'000'000'000'000;
    std::vector<std::pair<Frame, int64_t>> frames;
    frames.emplace_back(
        ethernet(0x0800, ipv4(17, udp(2000, 53, filler(12)), {10, 3, 0, 1}, {10, 4, 0, 1})),
        start + 10'000);
    Ipv4Options last;
    last.id = 9;
    last.offset_bytes = 1024;
    frames.emplace_back(
        ethernet(0x0800, ipv4(17, filler(100), {10, 1, 0, 121}, {10, 2, 0, 121}, last)),
        start + 60'001'000);
    frames.emplace_back(
        ethernet(0x0800, ipv4(17, udp(2120, 53, filler(12)), {10, 3, 0, 121}, {10, 4, 0, 1})),
        start + 60'010'000);
    pipeline::Summary one_thread = summary_of(frames, pipeline::Settings{}, 1);
    EXPECT_EQ(one_thread.flows_timed_out, 0u);
    EXPECT_EQ(one_thread.anomalies.get(Anomaly::kFragmentIncomplete), 1u);
    for (unsigned threads : {2u, 3u}) {
        for (bool in_turn : {false, true}) {
            SCOPED_TRACE(testing::Message() << threads << " threads, in turn " << in_turn);
            pipeline::Summary many = summary_of(frames, pipeline::Settings{}, threads, in_turn);
            EXPECT_EQ(many.events, one_thread.events);
            EXPECT_EQ(many.flows_timed_out, one_thread.flows_timed_out);
            EXPECT_EQ(many.anomalies.get(Anomaly::kFragmentIncomplete), 1u);
        }
    }
}

// Datagrams that lack their first fragment wait on the caller's thread until they are as
// old as the fragment timeout, and datagrams that lack their last one wait in a pipeline.
// Both time out at the same looks as with one pipeline. Those too young to time out before
// the input ends are counted as incomplete.
TEST(ShardedPipeline, FragmentTimeoutsSameAsOneThread) {
    // Every 0.5 s, and every 0.1 s, which keeps hundreds of datagrams waiting at once.
    for (int64_t spacing : {500'000, 100'000}) {
        SCOPED_TRACE(spacing);
        std::vector<std::pair<Frame, int64_t>> frames;
        int64_t now = 1'700'000'000'000'000;
        for (uint16_t i = 0; i < 400; ++i) {
            const V4 from = {10, 1, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)};
            const V4 to = {10, 2, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)};
            std::vector<std::pair<Frame, int64_t>> parts;
            int64_t at = now;
            add_fragments(parts, at, udp(1000, 53, filler(1400)), from, to, i, 512,
                          Order::kInOrder);
            if (i % 2 == 0) {
                parts.erase(parts.begin());  // the first is missing
            } else {
                parts.pop_back();  // the last is missing
            }
            for (auto& part : parts) frames.push_back(std::move(part));
            frames.emplace_back(pair_datagram(static_cast<uint8_t>(i % 8), 2000), now += spacing);
        }
        pipeline::Summary one_thread = summary_of(frames, pipeline::Settings{}, 1);
        const uint64_t timeouts = one_thread.anomalies.get(Anomaly::kFragmentTimeout);
        const uint64_t incomplete = one_thread.anomalies.get(Anomaly::kFragmentIncomplete);
        EXPECT_GT(timeouts, 0u);
        EXPECT_GT(incomplete, 0u);
        EXPECT_EQ(timeouts + incomplete, 400u);
        for (unsigned threads : {2u, 3u}) {
            for (bool in_turn : {false, true}) {
                SCOPED_TRACE(testing::Message() << threads << " threads, in turn " << in_turn);
                pipeline::Summary many = summary_of(frames, pipeline::Settings{}, threads, in_turn);
                EXPECT_EQ(many.anomalies.get(Anomaly::kFragmentTimeout), timeouts);
                EXPECT_EQ(many.anomalies.get(Anomaly::kFragmentIncomplete), incomplete);
                EXPECT_EQ(many.events, one_thread.events);
            }
        }
    }
}

// In a capture whose times go backwards now and then, a flow touched by an older frame is
// kept before the flows of later times. So the scans for idle flows find every flow past
// its timeout, with one pipeline as with several.
TEST(ShardedPipeline, BackwardTimesTimeOutAlike) {
    std::vector<std::pair<Frame, int64_t>> frames;
    int64_t now = 1'700'000'000'000'000;
    for (int round = 0; round < 12; ++round) {
        for (uint8_t pair = 0; pair < 24; ++pair) {
            if ((pair + round) % 5 != 0) continue;  // each pair in some rounds only
            now += 1'000'000;
            // Every third frame is stamped 100 s in the past.
            const int64_t stamp = (pair + round) % 3 == 0 ? now - 100'000'000 : now;
            frames.emplace_back(pair_datagram(pair, static_cast<uint16_t>(2000 + round)), stamp);
        }
        now += 30'000'000;
    }
    pipeline::Summary one_thread = summary_of(frames, pipeline::Settings{}, 1);
    EXPECT_GT(one_thread.flows_timed_out, 0u);
    for (unsigned threads : {2u, 3u}) {
        for (bool in_turn : {false, true}) {
            SCOPED_TRACE(testing::Message() << threads << " threads, in turn " << in_turn);
            pipeline::Summary many = summary_of(frames, pipeline::Settings{}, threads, in_turn);
            EXPECT_EQ(many.flows_timed_out, one_thread.flows_timed_out);
            EXPECT_EQ(many.events, one_thread.events);
        }
    }
}

}  // namespace
}  // namespace pw::decode::test
