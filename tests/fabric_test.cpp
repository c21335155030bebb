// Max-min fair sharing of KV-fabric links.
#include <gtest/gtest.h>

#include <map>

#include "fabric/fabric.h"

namespace servesim {
namespace {

// Runs the fabric's own event loop; returns each flow's arrival time (drained + path latency).
std::map<Fabric::FlowId, TimeNs> finish_all(Fabric& f) {
  std::map<Fabric::FlowId, TimeNs> arrival;
  while (f.active() > 0) {
    TimeNs t = f.next_drain();
    for (auto d : f.drain_until(t)) arrival[d.id] = t + d.latency_ns;
  }
  return arrival;
}

TEST(Fabric, OneTransferTakesLatencyPlusBytesOverBottleneck) {
  // 50 GB/s NIC link (2 us) then a 25 GB/s link (3 us): bottleneck 25 GB/s
  Fabric f({{50e9, 2000}, {25e9, 3000}});
  const double bytes = 1'234'567'890;
  auto id = f.start(1000, bytes, {0, 1});
  EXPECT_DOUBLE_EQ(f.rate(id), 25e9);
  auto arrival = finish_all(f);
  // 1,234,567,890 B / 25e9 B/s = 49,382,715.6 ns -> the first whole ns at which all bytes are in
  EXPECT_EQ(arrival[id], 1000 + 49'382'716 + 5000);
}

TEST(Fabric, TwoEqualTransfersOnOneLinkTakeTwiceAsLong) {
  Fabric f({{10e9, 0}});
  auto a = f.start(0, 1e9, {0}), b = f.start(0, 1e9, {0});
  EXPECT_DOUBLE_EQ(f.rate(a), 5e9);
  auto arrival = finish_all(f);
  EXPECT_EQ(arrival[a], 200'000'000);  // alone: 100 ms
  EXPECT_EQ(arrival[b], 200'000'000);
}

TEST(Fabric, ThreeFlowsGetTheirMaxMinShares) {
  // links: L0 = 10 GB/s shared by flows A and B; L1 = 30 GB/s shared by B and C.
  // Max-min: L0 is the bottleneck (10/2 = 5 < 30/2): A = B = 5; C gets L1's rest: 30 - 5 = 25.
  Fabric f({{10e9, 0}, {30e9, 0}});
  auto a = f.start(0, 5e9, {0}), b = f.start(0, 1e9, {0, 1}), c = f.start(0, 50e9, {1});
  EXPECT_DOUBLE_EQ(f.rate(a), 5e9);
  EXPECT_DOUBLE_EQ(f.rate(b), 5e9);
  EXPECT_DOUBLE_EQ(f.rate(c), 25e9);
  auto load = f.link_load();
  EXPECT_DOUBLE_EQ(load[0], 10e9);
  EXPECT_DOUBLE_EQ(load[1], 30e9);
  // B drains first at 0.2 s; then A gets all of L0 (10) and C all of L1 (30)
  auto arrival = finish_all(f);
  EXPECT_EQ(arrival[b], 200'000'000);
  // A: 1 GB by 0.2 s, 4 GB left at 10 GB/s -> 0.6 s;  C: 5 GB by 0.2 s, 45 GB left at 30 -> 1.7 s
  EXPECT_EQ(arrival[a], 600'000'000);
  EXPECT_EQ(arrival[c], 1'700'000'000);
}

TEST(Fabric, ARateRiseMovesTheOtherFlowsCompletion) {
  Fabric f({{1e9, 0}});
  auto a = f.start(0, 1e9, {0});
  f.drain_until(500'000'000);  // half done alone
  auto b = f.start(500'000'000, 0.25e9, {0});
  EXPECT_DOUBLE_EQ(f.rate(a), 0.5e9);
  auto arrival = finish_all(f);
  EXPECT_EQ(arrival[b], 1'000'000'000);  // 0.25 GB at 0.5 GB/s
  EXPECT_EQ(arrival[a], 1'250'000'000);  // 0.25 GB left at 1 GB/s after b
}

}  // namespace
}  // namespace servesim

namespace servesim {
namespace {

TEST(Fabric, ACappedFlowTakesItsCapAndLeavesTheRest) {
  // one 10 GB/s link: A is capped at 2 GB/s (its source's rate), B takes the other 8
  Fabric f({{10e9, 0}});
  auto a = f.start(0, 1e9, {0}, 2e9), b = f.start(0, 4e9, {0});
  EXPECT_DOUBLE_EQ(f.rate(a), 2e9);
  EXPECT_DOUBLE_EQ(f.rate(b), 8e9);
  // at 0.25 s lift A's cap: A has 0.5 GB left, B 2 GB; both get 5 -> A done at 0.35 s, then B alone
  f.set_cap(250'000'000, a, std::numeric_limits<double>::infinity());
  EXPECT_DOUBLE_EQ(f.rate(a), 5e9);
  auto arrival = finish_all(f);
  EXPECT_EQ(arrival[a], 350'000'000);
  // B: 2 GB - 0.1 s x 5 = 1.5 GB at 10 GB/s -> 0.15 s more
  EXPECT_EQ(arrival[b], 500'000'000);
  // a cap above the fair share changes nothing
  Fabric g({{10e9, 0}});
  auto c = g.start(0, 1e9, {0}, 7e9), d = g.start(0, 1e9, {0});
  EXPECT_DOUBLE_EQ(g.rate(c), 5e9);
  EXPECT_DOUBLE_EQ(g.rate(d), 5e9);
}

}  // namespace
}  // namespace servesim
