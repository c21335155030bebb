#pragma once
// "table": measured latencies on a (batch, tokens) grid per phase, interpolated bilinearly.
#include <atomic>
#include <map>
#include <string>
#include <vector>

#include "models/timing/timing_model.h"

namespace servesim {

// A rectangular grid of latencies: value(batch, tokens) in ms.
class LatencyGrid {
 public:
  void add(double batch, double tokens, double ms);
  // Checks the grid is complete (every batch x every tokens); throws InputError naming a hole.
  void finish(const std::string& where);
  bool empty() const { return batches_.empty(); }
  bool single_batch() const { return batches_.size() == 1; }
  double first_batch() const { return batches_.front(); }
  // Bilinear interpolation; outside the grid: clamps (and sets *clamped) if allowed, else throws.
  double at(double batch, double tokens, bool extrapolate, bool* clamped, const std::string& where) const;

 private:
  std::vector<double> batches_, tokens_;
  std::map<std::pair<double, double>, double> points_;
};

class TableTiming final : public TimingModel {
 public:
  TableTiming(const std::string& path, bool extrapolate);
  TimeNs iteration_ns(const BatchShape& b) const override;
  std::uint64_t extrapolations() const override { return extrapolations_; }

 private:
  std::string path_;
  bool extrapolate_;
  LatencyGrid prefill_, decode_;
  mutable std::atomic<std::uint64_t> extrapolations_{0};
};

}  // namespace servesim
