#pragma once
// Random variates built only on uniform01(), so that a seed gives the same numbers with
// every C++ standard library (std::*_distribution algorithms are implementation-defined).
#include <cmath>
#include <numbers>

#include "core/rng.h"

namespace servesim {

inline double sample_exponential(Rng& rng, double mean) {
  return -mean * std::log1p(-uniform01(rng));
}

inline double sample_standard_normal(Rng& rng) {
  // Box-Muller; the second variate is discarded to keep the stream position simple.
  double u1 = uniform01(rng), u2 = uniform01(rng);
  if (u1 <= 0) u1 = 0x1.0p-53;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

// Gamma(shape k, scale theta) by Marsaglia and Tsang (2000); k < 1 via the boost k+1 trick.
inline double sample_gamma(Rng& rng, double shape, double scale) {
  if (shape < 1.0) {
    double u = uniform01(rng);
    if (u <= 0) u = 0x1.0p-53;
    return sample_gamma(rng, shape + 1.0, scale) * std::pow(u, 1.0 / shape);
  }
  const double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
  while (true) {
    double x, v;
    do {
      x = sample_standard_normal(rng);
      v = 1.0 + c * x;
    } while (v <= 0);
    v = v * v * v;
    double u = uniform01(rng);
    if (u < 1.0 - 0.0331 * x * x * x * x) return d * v * scale;
    if (u > 0 && std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v * scale;
  }
}

}  // namespace servesim
