#include "fabric/topology.h"

#include <boost/graph/dijkstra_shortest_paths.hpp>

#include <limits>
#include <set>

namespace servesim {

int Topology::add_vertex(const std::string& name) {
  int v = static_cast<int>(boost::add_vertex(g_));
  names_.push_back(name);
  by_name_[name] = v;
  return v;
}

void Topology::add_link(int a, int b, double bytes_per_s, TimeNs latency, const std::string& kind) {
  for (auto [x, y] : {std::pair{a, b}, std::pair{b, a}}) {
    auto id = static_cast<std::int32_t>(fabric_links_.size());
    fabric_links_.push_back({bytes_per_s, latency});
    link_info_.push_back({names_[static_cast<size_t>(x)] + "->" + names_[static_cast<size_t>(y)], kind});
    // lowest latency first; a nanosecond per hop breaks ties toward fewer hops
    boost::add_edge(static_cast<size_t>(x), static_cast<size_t>(y), EdgeProps{id, static_cast<double>(latency) + 1.0}, g_);
  }
}

Topology::Topology(const TopologyConfig& cfg, const config::SourceMap& map, const std::string& where) {
  auto key = [&](const std::string& rest) { return where.empty() ? rest : where + "." + rest; };
  if (cfg.nodes.empty()) map.fail(key("nodes"), "a topology needs at least one node", "add a node");
  std::set<std::string> seen;
  for (size_t n = 0; n < cfg.nodes.size(); ++n) {
    const auto& node = cfg.nodes[n];
    std::string path = key(fmt::format("nodes.{}.name", n));
    if (node.name.empty() || node.name.find('/') != std::string::npos)
      map.fail(path, "a node needs a name without '/'", "name it, e.g. n0");
    if (!seen.insert(node.name).second) map.fail(path, fmt::format("name '{}' is used twice", node.name), "rename it");
    int sw = add_vertex(node.name + "/nvswitch");
    std::vector<int> nics;
    for (int i = 0; i < node.nics; ++i) nics.push_back(add_vertex(fmt::format("{}/nic{}", node.name, i)));
    node_gpus_.emplace_back();
    for (int i = 0; i < node.gpus; ++i) {
      int gpu = add_vertex(fmt::format("{}/gpu{}", node.name, i));
      node_gpus_.back().push_back(gpu);
      add_link(gpu, sw, node.nvlink_gbyte_per_s * 1e9, node.nvlink_latency.ns(), "nvlink");
      add_link(gpu, nics[static_cast<size_t>(i % node.nics)], node.pcie_gbyte_per_s * 1e9, node.pcie_latency.ns(), "pcie");
    }
  }
  for (size_t s = 0; s < cfg.switches.size(); ++s) {
    const auto& name = cfg.switches[s].name;
    std::string path = key(fmt::format("switches.{}.name", s));
    if (name.empty()) map.fail(path, "a switch needs a name", "name it");
    if (!seen.insert(name).second || by_name_.count(name))
      map.fail(path, fmt::format("name '{}' is used twice", name), "rename it");
    add_vertex(name);
  }
  for (size_t n = 0; n < cfg.nodes.size(); ++n) {
    const auto& node = cfg.nodes[n];
    if (node.uplink.empty()) continue;
    auto sw = by_name_.find(node.uplink);
    if (sw == by_name_.end() || node.uplink.find('/') != std::string::npos)
      map.fail(key(fmt::format("nodes.{}.uplink", n)), fmt::format("unknown switch '{}'", node.uplink),
               "name a switch listed in topology.switches");
    for (int i = 0; i < node.nics; ++i)
      add_link(by_name_.at(fmt::format("{}/nic{}", node.name, i)), sw->second, node.uplink_gbit_per_s * 1e9 / 8,
               node.uplink_latency.ns(), node.uplink_kind);
  }
  for (size_t l = 0; l < cfg.links.size(); ++l) {
    const auto& link = cfg.links[l];
    int ends[2];
    for (int e = 0; e < 2; ++e) {
      const std::string& end = e == 0 ? link.from : link.to;
      auto it = by_name_.find(end);
      if (it == by_name_.end() || end.find("/gpu") != std::string::npos || end.find("/nvswitch") != std::string::npos)
        map.fail(key(fmt::format("links.{}.{}", l, e == 0 ? "from" : "to")),
                 fmt::format("unknown endpoint '{}'", end), "use a switch name or NODE/nicI of a node above");
      ends[e] = it->second;
    }
    if (ends[0] == ends[1])
      map.fail(key(fmt::format("links.{}.to", l)), "a link joins two different endpoints", "fix 'to'");
    add_link(ends[0], ends[1], link.gbit_per_s * 1e9 / 8, link.latency.ns(), link.kind);
  }
}

int Topology::gpu(const std::string& name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end() || name.find("/gpu") == std::string::npos)
    throw ConfigError(fmt::format("unknown GPU '{}'; GPUs are named NODE/gpuI", name));
  return it->second;
}

std::vector<std::string> Topology::gpu_names() const {
  std::vector<std::string> out;
  for (const auto& node : node_gpus_)
    for (int v : node) out.push_back(names_[static_cast<size_t>(v)]);
  return out;
}

std::vector<std::int32_t> Topology::route(int from, int to) const { return routes_from(from, {to}).front(); }

std::vector<std::vector<std::int32_t>> Topology::routes_from(int from, const std::vector<int>& to_gpus) const {
  const size_t n = boost::num_vertices(g_);
  std::vector<double> dist(n);
  std::vector<size_t> pred(n);
  boost::dijkstra_shortest_paths(
      g_, static_cast<size_t>(from),
      boost::weight_map(boost::get(&EdgeProps::weight, g_))
          .distance_map(boost::make_iterator_property_map(dist.begin(), boost::get(boost::vertex_index, g_)))
          .predecessor_map(boost::make_iterator_property_map(pred.begin(), boost::get(boost::vertex_index, g_))));
  std::vector<std::vector<std::int32_t>> out;
  for (int to : to_gpus) {
    std::vector<std::int32_t>& path = out.emplace_back();
    if (to == from) continue;
    if (dist[static_cast<size_t>(to)] == std::numeric_limits<double>::max() ||
        pred[static_cast<size_t>(to)] == static_cast<size_t>(to))
      throw ConfigError(fmt::format("no network path from {} to {}: KV cannot move between them. Fix: link their "
                                    "nodes' NICs to a common switch in topology.links",
                                    names_[static_cast<size_t>(from)], names_[static_cast<size_t>(to)]));
    for (size_t v = static_cast<size_t>(to); v != static_cast<size_t>(from); v = pred[v]) {
      // the cheapest edge pred[v] -> v (parallel links: the one Dijkstra relaxed)
      double best = std::numeric_limits<double>::max();
      std::int32_t link = -1;
      for (auto [e, end] = boost::out_edges(pred[v], g_); e != end; ++e)
        if (boost::target(*e, g_) == v && g_[*e].weight < best) best = g_[*e].weight, link = g_[*e].link;
      path.push_back(link);
    }
    std::reverse(path.begin(), path.end());
  }
  return out;
}

std::vector<std::vector<int>> Topology::place(const std::vector<int>& gpus_per_worker, const std::string& policy,
                                              const std::vector<std::vector<std::string>>& explicit_gpus) const {
  std::vector<std::vector<int>> out;
  if (policy == "explicit") {
    if (explicit_gpus.size() != gpus_per_worker.size())
      throw ConfigError(fmt::format("explicit placement lists {} workers but there are {}", explicit_gpus.size(),
                                    gpus_per_worker.size()));
    std::set<int> used;
    for (size_t w = 0; w < explicit_gpus.size(); ++w) {
      if (static_cast<int>(explicit_gpus[w].size()) != gpus_per_worker[w])
        throw ConfigError(fmt::format("worker {} needs {} GPUs but placement lists {}", w, gpus_per_worker[w],
                                      explicit_gpus[w].size()));
      out.emplace_back();
      for (const auto& name : explicit_gpus[w]) {
        int v = gpu(name);
        if (!used.insert(v).second) throw ConfigError(fmt::format("GPU {} is placed twice", name));
        out.back().push_back(v);
      }
    }
    return out;
  }
  if (policy != "pack" && policy != "spread")
    throw ConfigError(fmt::format("unknown placement '{}'; use pack, spread or explicit", policy));
  std::vector<size_t> next(node_gpus_.size(), 0);  // first free GPU per node
  size_t rr = 0;
  for (size_t w = 0; w < gpus_per_worker.size(); ++w) {
    const auto need = static_cast<size_t>(gpus_per_worker[w]);
    bool placed = false;
    for (size_t k = 0; k < node_gpus_.size() && !placed; ++k) {
      size_t n = policy == "pack" ? k : (rr + k) % node_gpus_.size();
      if (node_gpus_[n].size() - next[n] < need) continue;
      out.emplace_back(node_gpus_[n].begin() + static_cast<std::ptrdiff_t>(next[n]),
                       node_gpus_[n].begin() + static_cast<std::ptrdiff_t>(next[n] + need));
      next[n] += need;
      rr = n + 1;
      placed = true;
    }
    if (!placed) {
      size_t free = 0;
      for (size_t n = 0; n < node_gpus_.size(); ++n) free += node_gpus_[n].size() - next[n];
      throw ConfigError(fmt::format("cannot place worker {} ({} GPUs in one node): {} GPUs left across {} nodes. Fix: "
                                    "add nodes or GPUs to the topology, or lower tp",
                                    w, need, free, node_gpus_.size()));
    }
  }
  return out;
}

}  // namespace servesim
