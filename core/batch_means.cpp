#include "core/batch_means.h"

#include <algorithm>

#include "core/sample_stats.h"

namespace servesim {

namespace {
constexpr double kMin = 1e-7, kMax = 1e7, kGrowth = 1.02;
const std::size_t kBins = static_cast<std::size_t>(std::ceil(std::log(kMax / kMin) / std::log(kGrowth))) + 2;

std::size_t bin_of(double v) {
  if (!(v > kMin)) return 0;
  if (v >= kMax) return kBins - 1;
  return 1 + static_cast<std::size_t>(std::log(v / kMin) / std::log(kGrowth));
}
double value_of(std::size_t i) { return i == 0 ? kMin : kMin * std::pow(kGrowth, static_cast<double>(i - 1) + 0.5); }

double quantile_of(const std::vector<std::uint32_t>& bins, double q) {
  double total = 0;
  for (auto c : bins) total += c;
  if (total == 0) return std::nan("");
  const double rank = std::max(1.0, std::ceil(q * total));
  double seen = 0;
  for (std::size_t i = 0; i < bins.size(); ++i) {
    seen += bins[i];
    if (seen >= rank) return value_of(i);
  }
  return value_of(bins.size() - 1);
}

BatchMeans::Interval t_interval(double center, const std::vector<double>& xs) {
  const std::size_t m = xs.size();
  if (m < BatchMeans::kMinBatches || std::isnan(center)) return {};
  const double mean = sample_mean(xs);
  double ss = 0;
  for (double x : xs) ss += (x - mean) * (x - mean);
  const double half = student_t_975(m - 1) * std::sqrt(ss / static_cast<double>(m - 1) / static_cast<double>(m));
  return {center - half, center + half};
}
}  // namespace

void BatchMeans::add(double value, double weight) {
  if (weight <= 0 || std::isnan(value)) return;
  if (batches_.empty() || batches_.back().count == batch_size_) {
    if (batches_.size() == 2 * kBatches) merge_pairs();
    batches_.emplace_back();
  }
  Batch& b = batches_.back();
  ++b.count;
  b.sum += value * weight;
  b.weight += weight;
  if (b.bins.empty()) b.bins.assign(kBins, 0);
  b.bins[bin_of(value)] += static_cast<std::uint32_t>(std::lround(weight));
}

void BatchMeans::merge_pairs() {
  for (std::size_t i = 0; i < batches_.size() / 2; ++i) {
    Batch merged = std::move(batches_[2 * i]);
    const Batch& other = batches_[2 * i + 1];
    merged.count += other.count;
    merged.sum += other.sum;
    merged.weight += other.weight;
    for (std::size_t k = 0; k < merged.bins.size(); ++k) merged.bins[k] += other.bins[k];
    batches_[i] = std::move(merged);
  }
  batches_.resize(batches_.size() / 2);
  batch_size_ *= 2;
}

std::size_t BatchMeans::full_batches() const {
  std::size_t n = batches_.size();
  if (n > 0 && batches_.back().count < batch_size_) --n;
  return n;
}

std::vector<double> BatchMeans::kept_means() const {
  std::vector<double> means;
  for (std::size_t i = warmup_batches(); i < full_batches(); ++i) means.push_back(batches_[i].sum / batches_[i].weight);
  return means;
}

BatchMeans::Interval BatchMeans::mean_ci95() const {
  const auto means = kept_means();
  return t_interval(sample_mean(means), means);
}

BatchMeans::Interval BatchMeans::quantile_ci95(double q, double point) const {
  std::vector<double> quantiles;
  for (std::size_t i = warmup_batches(); i < full_batches(); ++i) quantiles.push_back(quantile_of(batches_[i].bins, q));
  return t_interval(point, quantiles);
}

}  // namespace servesim
