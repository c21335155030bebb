#pragma once
// Confidence intervals from a single run, by the method of batch means. Observations fill
// batches of equal size in the order they complete; when 2K batches are full, neighbours merge
// and the size doubles, so a run of any length ends with K..2K full batches in fixed memory
// (the partial last batch is left out). The first batch (1/2K to 1/K of the run) is the warm-up
// and is dropped: a fixed rule, because choosing the cut from the data (MSER) shrinks the
// interval it then reports: on 300 seeds of M/M/1 at rho 0.5 (20,000 waits by Lindley's
// recursion), MSER's intervals held the mean wait 90% of the time, this rule's 95%
// (tests/batch_means_test.cpp checks the simulator's coverage). Means get a Student t interval over the kept batch means; quantiles get
// sectioning (Asmussen & Glynn, Stochastic Simulation, III.5): the run's own quantile ± t·s/√m,
// s the spread of the kept batches' quantiles, read from a coarse histogram (2% bins) each
// batch keeps. The intervals assume the kept part is stationary: a run whose load ramps or
// whose planner rescales has no steady state, and its interval is only the batches' spread.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace servesim {

class BatchMeans {
 public:
  static constexpr std::size_t kBatches = 16;    // K
  static constexpr std::size_t kMinBatches = 10;  // fewer kept batches: no interval (NaN)

  void add(double value, double weight = 1);

  struct Interval {
    double low = std::nan(""), high = std::nan("");
  };
  Interval mean_ci95() const;
  // `point`: the run's own estimate of the q-quantile (from its fine histogram).
  Interval quantile_ci95(double q, double point) const;
  std::size_t full_batches() const;
  std::size_t warmup_batches() const { return full_batches() > 0 ? 1 : 0; }
  std::uint64_t warmup_observations() const { return warmup_batches() * batch_size_; }

 private:
  struct Batch {
    std::uint64_t count = 0;
    double sum = 0, weight = 0;
    std::vector<std::uint32_t> bins;  // coarse histogram, allocated on the batch's first value
  };
  void merge_pairs();
  std::vector<double> kept_means() const;

  std::vector<Batch> batches_;
  std::uint64_t batch_size_ = 1;
};

}  // namespace servesim
