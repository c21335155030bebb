#include "fabric/topology_config.h"

#include <fmt/format.h>

namespace servesim {

TopologyConfig effective_topology(const TopologyConfig& cfg, int gpus_needed) {
  if (!cfg.nodes.empty()) return cfg;
  TopologyConfig out = cfg;
  constexpr int kGpusPerNode = 8;
  const int nodes = std::max(1, (gpus_needed + kGpusPerNode - 1) / kGpusPerNode);
  out.switches = {TopologySwitchConfig{"spine"}};
  for (int n = 0; n < nodes; ++n) {
    TopologyNodeConfig node;
    node.name = fmt::format("n{}", n);
    node.gpus = kGpusPerNode;
    node.nics = kGpusPerNode;
    node.uplink = "spine";
    out.nodes.push_back(node);
  }
  return out;
}

}  // namespace servesim
