#include "scenario/placement.h"

namespace servesim {

WorkerPlacement place_workers(const ScenarioConfig& s, const config::SourceMap& map) {
  WorkerPlacement out;
  const bool explicit_placement = s.topology.placement == "explicit";
  for (size_t i = 0; i < s.pools.size(); ++i) {
    const auto& p = s.pools[i];
    const std::string key = fmt::format("pools.{}.devices", i);
    if (!explicit_placement && !p.devices.empty())
      map.fail(key, "devices are read only with topology.placement: explicit",
               "remove devices, or set topology.placement: explicit");
    if (explicit_placement && static_cast<int>(p.devices.size()) != worker_slots(p))
      map.fail(key, fmt::format("explicit placement needs the GPUs of each of the {} workers (replicas, or max_replicas), got {}", worker_slots(p),
                                p.devices.size()),
               "list one [GPU, ...] per replica, e.g. [[n0/gpu0], [n0/gpu1]]");
  }
  if (!is_disaggregated(s) && s.topology.nodes.empty()) return out;

  std::vector<int> need;
  std::vector<std::vector<std::string>> devices;
  int total = 0;
  for (const auto& p : s.pools)
    for (int k = 0; k < worker_slots(p); ++k) {
      need.push_back(p.gpus_per_worker());
      total += p.gpus_per_worker();
      if (explicit_placement) devices.push_back(p.devices[static_cast<size_t>(k)]);
    }
  if (s.topology.nodes.empty() && (!s.topology.switches.empty() || !s.topology.links.empty()))
    map.fail("topology.nodes", "switches and links need the nodes they join",
             "list the nodes, or remove switches and links to use the default topology");
  if (s.topology.nodes.empty() && explicit_placement)
    map.fail("topology.nodes", "explicit placement names GPUs, so the topology must list its nodes",
             "describe the nodes, switches and links, or use placement: pack");
  out.topology = std::make_unique<Topology>(effective_topology(s.topology, total), map, "topology");
  try {
    out.gpus = out.topology->place(need, s.topology.placement, devices);
  } catch (const ConfigError& e) {
    map.fail(explicit_placement ? "pools" : "topology.placement", e.what(), "");
  }

  std::vector<int> decode_gpus;
  std::vector<int> prefill_gpus;
  size_t w = 0;
  for (const auto& p : s.pools)
    for (int k = 0; k < worker_slots(p); ++k, ++w) {
      auto& to = role_of(p) == WorkerRole::kDecode ? decode_gpus : prefill_gpus;
      if (role_of(p) != WorkerRole::kAggregated) to.insert(to.end(), out.gpus[w].begin(), out.gpus[w].end());
    }
  for (int g : prefill_gpus) {
    try {
      out.topology->routes_from(g, decode_gpus);
    } catch (const ConfigError& e) {
      map.fail("topology.links", e.what(), "");
    }
  }
  return out;
}

}  // namespace servesim
