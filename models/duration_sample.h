#pragma once
// A draw from a configured duration distribution (start-up phases, control-plane delays).
#include <cmath>

#include "core/distributions.h"
#include "core/rng.h"
#include "models/pool_config.h"

namespace servesim {

inline double sample_duration_s(const DurationDistConfig& d, Rng& rng) {
  if (d.dist == "uniform") return d.min.seconds + (d.max.seconds - d.min.seconds) * uniform01(rng);
  if (d.dist == "lognormal") {
    if (d.std.seconds <= 0) return d.mean.seconds;
    const double s2 = std::log1p(d.std.seconds * d.std.seconds / (d.mean.seconds * d.mean.seconds));
    return std::exp(std::log(d.mean.seconds) - s2 / 2 + std::sqrt(s2) * sample_standard_normal(rng));
  }
  return d.value.seconds;
}

}  // namespace servesim
