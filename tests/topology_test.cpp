// Topology YAML -> Boost.Graph routes and placement; transfers over the routes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fabric/topology.h"

namespace servesim {
namespace {

using ::testing::HasSubstr;

const char* kTwoNodes = R"(
nodes:
  - {name: n0, gpus: 4, nics: 1, nvlink_gbyte_per_s: 450, nvlink_latency: 1us, pcie_gbyte_per_s: 64, pcie_latency: 1us}
  - {name: n1, gpus: 4, nics: 1, nvlink_gbyte_per_s: 450, nvlink_latency: 1us, pcie_gbyte_per_s: 64, pcie_latency: 1us}
switches: [{name: leaf}]
links:
  - {from: n0/nic0, to: leaf, gbit_per_s: 400, latency: 2us, kind: infiniband}
  - {from: n1/nic0, to: leaf, gbit_per_s: 400, latency: 2us, kind: infiniband}
)";

Topology build(const std::string& yaml) {
  config::Document doc = config::Document::from_string(yaml, "topo.yaml");
  config::SourceMap map("topo.yaml");
  TopologyConfig cfg = config::read_root<TopologyConfig>(doc, map);
  return Topology(cfg, map, "");
}

std::string error_of(const std::string& yaml) {
  try {
    build(yaml);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(Topology, RoutesInsideANodeOverNvlinkAndAcrossOverTheNetwork) {
  Topology t = build(kTwoNodes);
  auto inside = t.route(t.gpu("n0/gpu0"), t.gpu("n0/gpu3"));
  ASSERT_EQ(inside.size(), 2u);  // gpu -> nvswitch -> gpu
  for (auto l : inside) EXPECT_EQ(t.link_info()[static_cast<size_t>(l)].kind, "nvlink");
  auto across = t.route(t.gpu("n0/gpu1"), t.gpu("n1/gpu2"));
  std::vector<std::string> kinds;
  for (auto l : across) kinds.push_back(t.link_info()[static_cast<size_t>(l)].kind);
  EXPECT_EQ(kinds, (std::vector<std::string>{"pcie", "infiniband", "infiniband", "pcie"}));
  EXPECT_TRUE(t.route(t.gpu("n0/gpu0"), t.gpu("n0/gpu0")).empty());
}

TEST(Topology, ATransferAcrossNodesTakesLatencyPlusBytesOverTheIbLink) {
  Topology t = build(kTwoNodes);
  Fabric f(t.fabric_links());
  auto path = t.route(t.gpu("n0/gpu0"), t.gpu("n1/gpu0"));
  auto id = f.start(0, 1e9, path);
  EXPECT_DOUBLE_EQ(f.rate(id), 50e9);  // 400 Gb/s = 50 GB/s, below PCIe's 64
  TimeNs drained = f.next_drain();
  auto done = f.drain_until(drained);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].id, id);
  EXPECT_EQ(drained + done[0].latency_ns, 20'000'000 + 1000 + 2000 + 2000 + 1000);
  // two transfers from one node share its NIC's link
  Fabric g(t.fabric_links());
  auto a = g.start(0, 1e9, t.route(t.gpu("n0/gpu0"), t.gpu("n1/gpu0")));
  auto b = g.start(0, 1e9, t.route(t.gpu("n0/gpu1"), t.gpu("n1/gpu1")));
  EXPECT_DOUBLE_EQ(g.rate(a), 25e9);
  EXPECT_DOUBLE_EQ(g.rate(b), 25e9);
}

TEST(Topology, BadInputIsAClearError) {
  EXPECT_THAT(error_of("nodes: [{name: n0}]\nlinks: [{from: n0/nic0, to: spine}]\n"),
              HasSubstr("topo.yaml:2:29: key 'links.0.to': unknown endpoint 'spine'"));
  EXPECT_THAT(error_of("nodes: [{name: n0}]\nswitches: [{name: s}]\nlinks: [{from: n0/nic0, to: s, gbit_per_s: 0}]\n"),
              HasSubstr("'links.0.gbit_per_s': must be greater than 0"));
  EXPECT_THAT(error_of("nodes: [{name: n0}, {name: n0}]\n"), HasSubstr("'nodes.1.name': name 'n0' is used twice"));
  EXPECT_THAT(error_of("switches: [{name: s}]\n"), HasSubstr("needs at least one node"));
  EXPECT_THAT(error_of("nodes: [{name: n0, gpus: 2, bogus: 1}]\n"), HasSubstr("unknown key"));
  // two nodes with no network between them: a route is an error naming both GPUs
  Topology islands = build("nodes: [{name: a, gpus: 1}, {name: b, gpus: 1}]\n");
  try {
    islands.route(islands.gpu("a/gpu0"), islands.gpu("b/gpu0"));
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("no network path from a/gpu0 to b/gpu0"));
  }
}

TEST(Topology, PlacementPackSpreadAndExplicit) {
  Topology t = build(kTwoNodes);
  auto names = [&](const std::vector<std::vector<int>>& p) {
    std::vector<std::string> out;
    for (auto& w : p) out.push_back(t.vertex_name(w.front()));
    return out;
  };
  EXPECT_EQ(names(t.place({2, 2, 2}, "pack")), (std::vector<std::string>{"n0/gpu0", "n0/gpu2", "n1/gpu0"}));
  EXPECT_EQ(names(t.place({2, 2, 2}, "spread")), (std::vector<std::string>{"n0/gpu0", "n1/gpu0", "n0/gpu2"}));
  EXPECT_EQ(names(t.place({1}, "explicit", {{"n1/gpu3"}})), (std::vector<std::string>{"n1/gpu3"}));
  EXPECT_THROW(t.place({4, 4, 1}, "pack"), ConfigError);  // 9 GPUs on 8
  EXPECT_THROW(t.place({1, 1}, "explicit", {{"n0/gpu0"}, {"n0/gpu0"}}), ConfigError);
  EXPECT_THROW(t.place({3, 3, 3}, "spread"), ConfigError);  // a worker stays inside one node
}

}  // namespace
}  // namespace servesim
