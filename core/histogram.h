#pragma once
// Percentiles in bounded memory: log-spaced bins 0.2% wide from 100 ns to 10^7 s, so a
// percentile is within 0.1% of the exact order statistic; count, sum, min and max are exact.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace servesim {

class LogHistogram {
 public:
  static constexpr double kMin = 1e-7, kMax = 1e7, kGrowth = 1.002;

  LogHistogram() : bins_(bin_count() + 2, 0) {}

  void add(double value, std::uint64_t weight = 1) {
    if (weight == 0) return;
    bins_[index(value)] += weight;
    count_ += weight;
    sum_ += value * static_cast<double>(weight);
    if (value < min_) min_ = value;
    if (value > max_) max_ = value;
  }
  std::uint64_t count() const { return count_; }
  double mean() const { return count_ ? sum_ / static_cast<double>(count_) : std::nan(""); }
  double sum() const { return sum_; }
  double min() const { return count_ ? min_ : std::nan(""); }
  double max() const { return count_ ? max_ : std::nan(""); }

  // q in [0, 1]; NaN when empty.
  double quantile(double q) const {
    if (count_ == 0) return std::nan("");
    auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
    if (rank < 1) rank = 1;
    std::uint64_t seen = 0;
    for (size_t i = 0; i < bins_.size(); ++i) {
      seen += bins_[i];
      if (seen >= rank) return std::clamp(value_of(i), min_, max_);
    }
    return max_;
  }

 private:
  static size_t bin_count() {
    return static_cast<size_t>(std::ceil(std::log(kMax / kMin) / std::log(kGrowth)));
  }
  size_t index(double v) const {
    if (!(v > kMin)) return 0;
    if (v >= kMax) return bins_.size() - 1;
    return 1 + static_cast<size_t>(std::log(v / kMin) / std::log(kGrowth));
  }
  double value_of(size_t i) const {
    if (i == 0) return kMin;
    // geometric middle of the bin
    return kMin * std::pow(kGrowth, static_cast<double>(i - 1) + 0.5);
  }

  std::vector<std::uint64_t> bins_;
  std::uint64_t count_ = 0;
  double sum_ = 0, min_ = std::numeric_limits<double>::infinity(), max_ = -std::numeric_limits<double>::infinity();
};

}  // namespace servesim
