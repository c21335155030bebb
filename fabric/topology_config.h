#pragma once
// The network description of a scenario's `topology` section (built into a graph by
// fabric/topology.h). Bandwidths are per direction; every link is full duplex.
#include <string>
#include <vector>

#include "core/config.h"
#include "core/units.h"

namespace servesim {

struct TopologyNodeConfig {
  std::string name;
  int gpus = 8;
  double nvlink_gbyte_per_s = 450;  // per GPU, per direction (H100 NVLink 4)
  Duration nvlink_latency{1e-6};
  int nics = 8;                     // GPU i reaches NIC i % nics over PCIe
  double pcie_gbyte_per_s = 64;     // PCIe 5.0 x16, per direction
  Duration pcie_latency{1e-6};
  std::string uplink;               // switch every NIC links to ("" = only the links listed)
  double uplink_gbit_per_s = 400;
  Duration uplink_latency{2e-6};
  std::string uplink_kind = "infiniband";
  template <class V>
  void visit(V& v) {
    v.field("name", name, "node name; its parts are NAME/gpuI, NAME/nvswitch, NAME/nicI");
    v.field("gpus", gpus, "GPUs in the node", config::at_least(1));
    v.field("nvlink_gbyte_per_s", nvlink_gbyte_per_s, "NVLink bandwidth per GPU per direction (GB/s)",
            config::positive());
    v.field("nvlink_latency", nvlink_latency, "NVLink hop latency", config::at_least(0));
    v.field("nics", nics, "network interfaces in the node", config::at_least(1));
    v.field("pcie_gbyte_per_s", pcie_gbyte_per_s, "GPU-to-NIC PCIe bandwidth per direction (GB/s)", config::positive());
    v.field("pcie_latency", pcie_latency, "PCIe hop latency", config::at_least(0));
    v.field("uplink", uplink, "a switch each of the node's NICs links to (empty: only topology.links)");
    v.field("uplink_gbit_per_s", uplink_gbit_per_s, "bandwidth of each NIC's uplink per direction (Gbit/s)",
            config::positive());
    v.field("uplink_latency", uplink_latency, "one-way latency of each NIC's uplink", config::at_least(0));
    v.field("uplink_kind", uplink_kind, "infiniband | roce | ethernet", config::one_of({"infiniband", "roce", "ethernet"}));
  }
};

struct TopologySwitchConfig {
  std::string name;
  template <class V>
  void visit(V& v) {
    v.field("name", name, "switch name");
  }
};

struct TopologyLinkConfig {
  std::string from, to;
  double gbit_per_s = 400;
  Duration latency{2e-6};
  std::string kind = "infiniband";
  template <class V>
  void visit(V& v) {
    v.field("from", from, "endpoint: NODE/nicI or a switch name");
    v.field("to", to, "endpoint: NODE/nicI or a switch name");
    v.field("gbit_per_s", gbit_per_s, "bandwidth per direction (Gbit/s)", config::positive());
    v.field("latency", latency, "one-way latency", config::at_least(0));
    v.field("kind", kind, "infiniband | roce | ethernet", config::one_of({"infiniband", "roce", "ethernet"}));
  }
};

struct TopologyConfig {
  std::vector<TopologyNodeConfig> nodes;
  std::vector<TopologySwitchConfig> switches;
  std::vector<TopologyLinkConfig> links;
  std::string placement = "pack";
  template <class V>
  void visit(V& v) {
    v.field("nodes", nodes,
            "GPU nodes (empty: as many 8-GPU H100 nodes as the pools need, every NIC on one 400 Gbit/s "
            "InfiniBand switch 'spine')");
    v.field("switches", switches, "network switches");
    v.field("links", links, "network links between NICs and switches");
    v.field("placement", placement,
            "how workers are put on GPUs: pack (fill nodes in order) | spread (round-robin over nodes) | "
            "explicit (each pool's devices)",
            config::one_of({"pack", "spread", "explicit"}));
  }
};

// The topology a run uses: `cfg` itself, or when it lists no nodes, the documented default
// (ceil(gpus / 8) nodes n0, n1, ... of 8 GPUs, each NIC on switch 'spine' at 400 Gbit/s IB).
TopologyConfig effective_topology(const TopologyConfig& cfg, int gpus_needed);

}  // namespace servesim
