#pragma once
// The search space (a grid of parameter values), trial ranking and search strategies. Plain
// code, no processes: the runner evaluates the points the strategy asks for.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "app/commands/sweep_config.h"
#include "core/registry.h"

namespace servesim {

using Metrics = std::map<std::string, double>;

class SweepSpace {
 public:
  explicit SweepSpace(const std::vector<SweepParameterConfig>& params);
  size_t dims() const { return choices_.size(); }
  size_t size() const;                     // grid points
  size_t choices(size_t dim) const { return choices_[dim].size(); }
  // A point: one choice index per dimension; its id is its place in the grid (row-major).
  std::uint64_t id(const std::vector<size_t>& point) const;
  std::vector<size_t> point(std::uint64_t id) const;
  // --set overrides of a point, and a readable "key=value" per dimension.
  std::vector<std::string> overrides(const std::vector<size_t>& point) const;
  std::string label(size_t dim) const;             // "pools.0.replicas" or "a+b" for tuples
  std::string value(size_t dim, size_t choice) const;  // "2" or "3/1"

 private:
  std::vector<std::vector<std::string>> keys_;                  // per dimension
  std::vector<std::vector<std::vector<std::string>>> choices_;  // per dimension, per choice: one value per key
};

// Derived metrics added to a run's summary: output_tokens_per_s_per_gpu, tokens_per_s_per_user.
void add_derived_metrics(Metrics& m);

struct Ranking {
  bool feasible = false;
  double violation = 0;  // sum over bounds of max(metric / bound - 1, 0) (inverse for min bounds)
  double objective = 0;  // the objective, sign-adjusted so that larger is better
};
Ranking rank(const SweepConfig& cfg, const Metrics& m);
// a better than b: feasible first; feasible by objective, infeasible by violation.
bool better(const Ranking& a, const Ranking& b);

// Non-dominated points under two goals (ties kept, exact duplicates kept once: the first).
struct ParetoPoint {
  std::uint64_t id;
  double x, y;
};
std::vector<ParetoPoint> pareto_front(std::vector<ParetoPoint> points, bool x_max, bool y_max);

// Mean and 95% confidence half-width (Student t) of a sample; half-width NaN for one value.
struct MeanCi {
  double mean, half_width;
};
MeanCi mean_ci95(const std::vector<double>& values);

// A strategy proposes batches of points; it sees every evaluated point's ranking.
struct Evaluated {
  std::vector<size_t> point;
  Ranking ranking;
};
class SweepStrategy {
 public:
  virtual ~SweepStrategy() = default;
  // The next points to evaluate (already-evaluated ones may be repeated: the runner reuses them);
  // empty when the search is over.
  virtual std::vector<std::vector<size_t>> next(const std::vector<Evaluated>& done) = 0;
};
struct SweepStrategyContext {
  const SweepConfig& config;
  const SweepSpace& space;
};
using SweepStrategyRegistry = Registry<"sweep strategy", SweepStrategy, const SweepStrategyContext&>;

}  // namespace servesim
