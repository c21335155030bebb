#pragma once
// Plain statistics of a small sample held in memory (fit errors, repeated measurements). Run
// metrics over many requests use Histogram instead.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <utility>
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

// The two-sided 95% Student t quantile (the 97.5% point) for `dof` degrees of freedom: exact
// table to 30, then the Cornish–Fisher expansion about the normal's 1.95996 (error < 1e-3).
inline double student_t_975(std::size_t dof) {
  static constexpr double kT[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                                  2.201,  2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                                  2.080,  2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
  if (dof == 0) return std::nan("");
  if (dof <= 30) return kT[dof - 1];
  const double z = 1.959964, v = static_cast<double>(dof);
  return z + (z * z * z + z) / (4 * v) + (5 * std::pow(z, 5) + 16 * z * z * z + 3 * z) / (96 * v * v);
}

// Of (value, weight) pairs, the value at which the weight summed in ascending value order first
// satisfies `reached` (a test monotone in the sum, e.g. `sum >= 0.99 * total`): the smallest
// value x whose weight at or below x is reached. The largest value if it never is; NaN for no
// pairs. Reorders v. A quickselect, expected O(n) where sorting is O(n log n); pairs of equal value
// need no order among themselves, so the answer is the one the sorted scan gives.
template <class Weight, class Reached>
double weighted_select(std::vector<std::pair<double, Weight>>& v, Reached reached) {
  if (v.empty()) return std::nan("");
  auto lo = v.begin(), hi = v.end();
  double below = 0;  // weight of the values below [lo, hi), all smaller than those in it
  while (hi - lo > 16) {
    const double a = lo->first, b = (lo + (hi - lo) / 2)->first, c = (hi - 1)->first;
    const double pivot = std::max(std::min(a, b), std::min(std::max(a, b), c));  // median of three
    const auto equal = std::partition(lo, hi, [&](const auto& p) { return p.first < pivot; });
    const auto above = std::partition(equal, hi, [&](const auto& p) { return p.first == pivot; });
    double less = 0, same = 0;
    for (auto it = lo; it != equal; ++it) less += static_cast<double>(it->second);
    for (auto it = equal; it != above; ++it) same += static_cast<double>(it->second);
    if (equal != lo && reached(below + less)) {
      hi = equal;
    } else if (reached(below + less + same)) {
      return pivot;
    } else {
      below += less + same;
      lo = above;
      if (lo == hi) return std::max_element(v.begin(), v.end())->first;
    }
  }
  std::sort(lo, hi);
  for (auto it = lo; it != hi; ++it)
    if (reached(below += static_cast<double>(it->second))) return it->first;
  return std::max_element(v.begin(), v.end())->first;
}

}  // namespace servesim
