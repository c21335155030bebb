#pragma once
// A sweep file: a base scenario, a search space over any scenario key (as --set paths),
// constraints (SLA bounds, GPU budget), an objective, Pareto pairs, a strategy and replications.
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/units.h"

namespace servesim {

struct SweepParameterConfig {
  std::string key;                               // one scenario key ...
  std::vector<std::string> values;               // ... and its values
  std::vector<std::string> keys;                 // or several keys varied together ...
  std::vector<std::vector<std::string>> tuples;  // ... one value per key in each tuple
  template <class V>
  void visit(V& v) {
    v.field("key", key, "a scenario key path, as for --set (e.g. pools.0.replicas)");
    v.field("values", values, "the values it takes");
    v.field("keys", keys, "instead of key: several keys that vary together");
    v.field("tuples", tuples, "for keys: the combinations, one value per key");
  }
};

struct SweepBoundConfig {
  std::string metric;
  std::optional<double> max, min;
  template <class V>
  void visit(V& v) {
    v.field("metric", metric, "a summary metric (e.g. ttft_p90_s) or a derived one (sweep docs)");
    v.field("max", max, "the metric must not exceed this");
    v.field("min", min, "the metric must not fall below this");
  }
};

struct SweepGoalConfig {
  std::string metric = "output_tokens_per_s_per_gpu";
  std::string goal = "max";
  template <class V>
  void visit(V& v) {
    v.field("metric", metric, "summary or derived metric");
    v.field("goal", goal, "max | min", config::one_of({"max", "min"}));
  }
};

struct SweepParetoConfig {
  SweepGoalConfig x, y;
  template <class V>
  void visit(V& v) {
    v.field("x", x, "first objective");
    v.field("y", y, "second objective");
  }
};

struct SweepConfig {
  std::string name = "sweep";
  std::string base;
  std::vector<std::string> set;
  std::string strategy = "grid";
  std::uint64_t seed = 1;
  int trials = 20;
  int passes = 3;
  int replications = 1;
  Duration timeout{600.0};
  std::vector<SweepParameterConfig> parameters;
  std::vector<SweepBoundConfig> constraints;
  std::optional<int> gpu_budget;
  SweepGoalConfig objective;
  std::vector<SweepParetoConfig> pareto;
  template <class V>
  void visit(V& v) {
    v.field("name", name, "sweep name");
    v.field("base", base, "the base scenario file (relative to the sweep file)");
    v.field("set", set, "overrides applied to every trial, as --set KEY=VALUE");
    v.field("strategy", strategy, "search strategy (servesim --list)");
    v.field("seed", seed, "seed of the strategy; replication k of a trial runs with seed + k");
    v.field("trials", trials, "random: how many points to try", config::at_least(1));
    v.field("passes", passes, "coordinate: most passes over the parameters", config::at_least(1));
    v.field("replications", replications, "runs per point, with seeds seed, seed+1, ...", config::at_least(1));
    v.field("timeout", timeout, "wall-clock limit of one trial run", config::greater_than(0));
    v.field("parameters", parameters, "the search space");
    v.field("constraints", constraints, "SLA bounds a feasible trial meets");
    v.field("gpu_budget", gpu_budget, "most GPUs a feasible trial may use (summary metric gpus)", config::at_least(1));
    v.field("objective", objective, "what ranks feasible trials");
    v.field("pareto", pareto, "pairs of objectives whose non-dominated trials are written to /pareto");
  }
};

}  // namespace servesim
