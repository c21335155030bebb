#pragma once
// Samples token lengths from a LengthDistConfig: integers clamped to [max(1, min), max].
#include <cstdint>
#include <vector>

#include "core/rng.h"
#include "traces/workload_config.h"

namespace servesim {

struct TraceContext;

class LengthSampler {
 public:
  // `ctx` resolves an empirical distribution's file; `stream` names its random stream.
  LengthSampler(const LengthDistConfig& cfg, const TraceContext& ctx, const char* stream);
  std::uint32_t sample(Rng& rng) const;
  const std::vector<std::uint32_t>& empirical_values() const { return empirical_; }

 private:
  LengthDistConfig cfg_;
  double mu_ = 0, sigma_ = 0;  // lognormal parameters of log(length)
  std::vector<std::uint32_t> empirical_;  // reservoir sample of the file's values
};

}  // namespace servesim
