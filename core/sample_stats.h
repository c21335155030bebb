#pragma once
// Plain statistics of a small sample held in memory (fit errors, repeated measurements). Run
// metrics over many requests use Histogram instead.
#include <algorithm>
#include <cmath>
#include <vector>

namespace servesim {

// NaN for an empty sample.
inline double sample_mean(const std::vector<double>& v) {
  if (v.empty()) return std::nan("");
  double sum = 0;
  for (double x : v) sum += x;
  return sum / static_cast<double>(v.size());
}

// The middle value (the mean of the two middle values for an even count); NaN for an empty sample.
inline double sample_median(std::vector<double> v) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace servesim
