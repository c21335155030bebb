#include "app/commands/sweep_space.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include "core/error.h"
#include "core/rng.h"
#include "core/sample_stats.h"

namespace servesim {

SweepSpace::SweepSpace(const std::vector<SweepParameterConfig>& params) {
  for (const auto& p : params) {
    if (!p.key.empty()) {
      keys_.push_back({p.key});
      choices_.emplace_back();
      for (const auto& v : p.values) choices_.back().push_back({v});
    } else {
      keys_.push_back(p.keys);
      choices_.push_back(p.tuples);
    }
  }
}

size_t SweepSpace::size() const {
  size_t n = 1;
  for (const auto& c : choices_) n *= c.size();
  return n;
}

std::uint64_t SweepSpace::id(const std::vector<size_t>& point) const {
  std::uint64_t id = 0;
  for (size_t d = 0; d < dims(); ++d) id = id * choices_[d].size() + point[d];
  return id;
}

std::vector<size_t> SweepSpace::point(std::uint64_t id) const {
  std::vector<size_t> p(dims());
  for (size_t d = dims(); d-- > 0;) {
    p[d] = static_cast<size_t>(id % choices_[d].size());
    id /= choices_[d].size();
  }
  return p;
}

std::vector<std::string> SweepSpace::overrides(const std::vector<size_t>& point) const {
  std::vector<std::string> out;
  for (size_t d = 0; d < dims(); ++d)
    for (size_t k = 0; k < keys_[d].size(); ++k) out.push_back(keys_[d][k] + "=" + choices_[d][point[d]][k]);
  return out;
}

std::string SweepSpace::label(size_t dim) const { return fmt::format("{}", fmt::join(keys_[dim], "+")); }
std::string SweepSpace::value(size_t dim, size_t choice) const {
  return fmt::format("{}", fmt::join(choices_[dim][choice], "/"));
}

void add_derived_metrics(Metrics& m) {
  auto get = [&](const char* k) { return m.count(k) ? m.at(k) : std::nan(""); };
  m["output_tokens_per_s_per_gpu"] = get("output_tokens_per_s") / get("gpus");
  m["tokens_per_s_per_user"] = 1.0 / get("tpot_mean_s");
}

Ranking rank(const SweepConfig& cfg, const Metrics& m) {
  Ranking r;
  auto value = [&](const std::string& k) {
    auto it = m.find(k);
    return it == m.end() ? std::nan("") : it->second;
  };
  auto over = [](double v, double bound) {
    if (std::isnan(v)) return 1.0;  // a metric the run could not produce counts as a full miss
    return std::max(0.0, v / bound - 1);
  };
  for (const auto& b : cfg.constraints) {
    const double v = value(b.metric);
    if (b.max) r.violation += over(v, *b.max);
    if (b.min) r.violation += std::isnan(v) || v <= 0 ? 1.0 : std::max(0.0, *b.min / v - 1);
  }
  if (cfg.gpu_budget) r.violation += over(value("gpus"), *cfg.gpu_budget);
  r.feasible = r.violation == 0;
  const double obj = value(cfg.objective.metric);
  r.objective = std::isnan(obj) ? -INFINITY : (cfg.objective.goal == "max" ? obj : -obj);
  return r;
}

bool better(const Ranking& a, const Ranking& b) {
  if (a.feasible != b.feasible) return a.feasible;
  if (a.feasible) return a.objective > b.objective;
  return a.violation < b.violation;
}

std::vector<ParetoPoint> pareto_front(std::vector<ParetoPoint> points, bool x_max, bool y_max) {
  for (auto& p : points) {  // both goals as "larger is better"
    if (!x_max) p.x = -p.x;
    if (!y_max) p.y = -p.y;
  }
  std::vector<ParetoPoint> front;
  std::set<std::pair<double, double>> seen;
  for (const auto& p : points) {
    if (std::isnan(p.x) || std::isnan(p.y)) continue;
    bool dominated = false;
    for (const auto& q : points)
      if (q.x >= p.x && q.y >= p.y && (q.x > p.x || q.y > p.y)) {
        dominated = true;
        break;
      }
    if (!dominated && seen.insert({p.x, p.y}).second) front.push_back(p);
  }
  for (auto& p : front) {
    if (!x_max) p.x = -p.x;
    if (!y_max) p.y = -p.y;
  }
  std::sort(front.begin(), front.end(), [](const ParetoPoint& a, const ParetoPoint& b) { return a.x < b.x; });
  return front;
}

MeanCi mean_ci95(const std::vector<double>& v) {
  if (v.empty()) return {std::nan(""), std::nan("")};
  const double n = static_cast<double>(v.size());
  const double mean = std::accumulate(v.begin(), v.end(), 0.0) / n;
  if (v.size() < 2) return {mean, std::nan("")};
  double ss = 0;
  for (double x : v) ss += (x - mean) * (x - mean);
  const double t = student_t_975(v.size() - 1);
  return {mean, t * std::sqrt(ss / (n - 1) / n)};
}

namespace {

class GridStrategy final : public SweepStrategy {
 public:
  explicit GridStrategy(const SweepStrategyContext& c) : space_(c.space) {}
  std::vector<std::vector<size_t>> next(const std::vector<Evaluated>&) override {
    if (done_) return {};
    done_ = true;
    std::vector<std::vector<size_t>> out;
    for (std::uint64_t id = 0; id < space_.size(); ++id) out.push_back(space_.point(id));
    return out;
  }

 private:
  const SweepSpace& space_;
  bool done_ = false;
};

class RandomStrategy final : public SweepStrategy {
 public:
  explicit RandomStrategy(const SweepStrategyContext& c) : space_(c.space), trials_(c.config.trials), seed_(c.config.seed) {}
  std::vector<std::vector<size_t>> next(const std::vector<Evaluated>&) override {
    if (done_) return {};
    done_ = true;
    // a seeded partial Fisher-Yates over the grid's ids: distinct points, same ones per seed
    const std::uint64_t n = space_.size();
    const std::uint64_t k = std::min<std::uint64_t>(n, static_cast<std::uint64_t>(trials_));
    Rng rng = make_rng(seed_, "sweep/random");
    std::map<std::uint64_t, std::uint64_t> swapped;
    auto at = [&](std::uint64_t i) { return swapped.count(i) ? swapped[i] : i; };
    std::vector<std::vector<size_t>> out;
    for (std::uint64_t i = 0; i < k; ++i) {
      const std::uint64_t j = i + static_cast<std::uint64_t>(uniform01(rng) * static_cast<double>(n - i));
      const std::uint64_t vi = at(i), vj = at(std::min(j, n - 1));
      swapped[std::min(j, n - 1)] = vi;
      out.push_back(space_.point(vj));
    }
    return out;
  }

 private:
  const SweepSpace& space_;
  int trials_;
  std::uint64_t seed_;
  bool done_ = false;
};

// Coordinate descent: from the first value of every parameter, vary one parameter at a time over
// all its values (the others held at the best so far), keep the best, move to the next; stop
// after a pass that changes nothing, or after `passes`. Order the parameters as the search should
// go (e.g. TP shape, then the worker split within the budget, then router knobs).
class CoordinateStrategy final : public SweepStrategy {
 public:
  explicit CoordinateStrategy(const SweepStrategyContext& c)
      : space_(c.space), passes_(c.config.passes), best_(c.space.dims(), 0) {}

  std::vector<std::vector<size_t>> next(const std::vector<Evaluated>& done) override {
    if (started_) {  // adopt the best of the batch just evaluated for this dimension
      const Ranking* top = nullptr;
      size_t choice = best_[dim_];
      for (const auto& e : done) {
        bool in_batch = true;
        for (size_t d = 0; d < space_.dims(); ++d)
          if (d != dim_ && e.point[d] != best_[d]) in_batch = false;
        if (in_batch && (!top || better(e.ranking, *top))) top = &e.ranking, choice = e.point[dim_];
      }
      if (choice != best_[dim_]) changed_ = true;
      best_[dim_] = choice;
      if (++dim_ == space_.dims()) {
        dim_ = 0;
        if (++pass_ >= passes_ || !changed_) return {};
        changed_ = false;
      }
    }
    started_ = true;
    if (space_.dims() == 0) return {};
    std::vector<std::vector<size_t>> batch;
    for (size_t c = 0; c < space_.choices(dim_); ++c) {
      auto p = best_;
      p[dim_] = c;
      batch.push_back(p);
    }
    return batch;
  }

 private:
  const SweepSpace& space_;
  int passes_;
  std::vector<size_t> best_;
  size_t dim_ = 0;
  int pass_ = 0;
  bool started_ = false, changed_ = false;
};

}  // namespace

SERVESIM_REGISTER(SweepStrategyRegistry, "grid", "every combination of the parameters' values",
                  [](const SweepStrategyContext& c) { return std::make_unique<GridStrategy>(c); })
SERVESIM_REGISTER(SweepStrategyRegistry, "random", "`trials` distinct grid points drawn with the sweep's seed",
                  [](const SweepStrategyContext& c) { return std::make_unique<RandomStrategy>(c); })
SERVESIM_REGISTER(SweepStrategyRegistry, "coordinate",
                  "coordinate descent: one parameter at a time, in the order listed, keeping the best; up to "
                  "`passes` passes",
                  [](const SweepStrategyContext& c) { return std::make_unique<CoordinateStrategy>(c); })

}  // namespace servesim
