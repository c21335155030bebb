#pragma once
// The network the KV fabric runs on: nodes with GPUs behind an NVSwitch and NICs on PCIe,
// switches, and links (InfiniBand, RoCE, Ethernet) between NICs and switches, built into a
// Boost.Graph graph. Every link is full duplex: one fabric link per direction. A transfer's
// route is the lowest-latency path between two GPUs (fewest hops on ties).
#include <boost/graph/adjacency_list.hpp>

#include <map>
#include <string>
#include <vector>

#include "core/config.h"
#include "fabric/fabric.h"
#include "fabric/topology_config.h"

namespace servesim {

struct LinkInfo {
  std::string name;  // "A->B"
  std::string kind;  // nvlink | pcie | infiniband | roce | ethernet
};

class Topology {
 public:
  // Validates and builds; throws ConfigError naming the key (`where` prefixes paths).
  Topology(const TopologyConfig& cfg, const config::SourceMap& map, const std::string& where = "topology");

  // Vertex of a GPU by name ("n0/gpu3"); throws ConfigError if unknown.
  int gpu(const std::string& name) const;
  std::vector<std::string> gpu_names() const;
  // Fabric link indices from GPU a to GPU b (empty when a == b); throws ConfigError if no path.
  std::vector<std::int32_t> route(int from_gpu, int to_gpu) const;
  // The routes from one GPU to each of `to_gpus` (one shortest-path search).
  std::vector<std::vector<std::int32_t>> routes_from(int from_gpu, const std::vector<int>& to_gpus) const;
  // Places workers needing `gpus_per_worker[i]` GPUs: pack (fill nodes in order), spread
  // (round-robin over nodes), explicit (given GPU names). Each worker stays in one node.
  std::vector<std::vector<int>> place(const std::vector<int>& gpus_per_worker, const std::string& policy,
                                      const std::vector<std::vector<std::string>>& explicit_gpus = {}) const;

  const std::vector<FabricLink>& fabric_links() const { return fabric_links_; }
  const std::vector<LinkInfo>& link_info() const { return link_info_; }
  const std::string& vertex_name(int v) const { return names_.at(static_cast<size_t>(v)); }

 private:
  struct EdgeProps {
    std::int32_t link;
    double weight;
  };
  using Graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS, boost::no_property, EdgeProps>;
  int add_vertex(const std::string& name);
  void add_link(int a, int b, double bytes_per_s, TimeNs latency, const std::string& kind);

  Graph g_;
  std::vector<std::string> names_;
  std::map<std::string, int> by_name_;
  std::vector<std::vector<int>> node_gpus_;  // per node, its GPU vertices
  std::vector<FabricLink> fabric_links_;
  std::vector<LinkInfo> link_info_;
};

}  // namespace servesim
