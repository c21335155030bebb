#pragma once
// Where each worker runs: the scenario's topology (or the default one) built into a graph, and
// each worker's GPUs by TP rank. Needed when a pool is disaggregated or nodes are given.
#include <memory>
#include <vector>

#include "fabric/topology.h"
#include "scenario/scenario.h"

namespace servesim {

struct WorkerPlacement {
  std::unique_ptr<Topology> topology;  // null when the scenario needs no network
  std::vector<std::vector<int>> gpus;  // per worker (pools in order, then replicas): its GPU vertices
};

// Builds and places; checks that every prefill worker's GPUs reach every decode worker's.
// Errors are ConfigErrors naming the scenario key.
WorkerPlacement place_workers(const ScenarioConfig& s, const config::SourceMap& map);

}  // namespace servesim
