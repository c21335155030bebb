#pragma once
// A timing model turns one engine iteration's batch into a duration.
#include <cstdint>
#include <string>
#include <vector>

#include "core/iteration.h"
#include "core/paths.h"
#include "core/registry.h"
#include "core/units.h"
#include "models/pool_config.h"

namespace servesim {

class TimingModel {
 public:
  virtual ~TimingModel() = default;
  virtual TimeNs iteration_ns(const BatchShape& batch) const = 0;
  // Lookups that fell outside measured data and were clamped or extrapolated.
  virtual std::uint64_t extrapolations() const { return 0; }
  // The fixed per-iteration framework time included in iteration_ns (scheduling, sampling): a
  // speculative draft's forward passes run inside the target's iteration and do not pay it again.
  virtual TimeNs overhead_ns() const { return 0; }
  // Where an iteration's time goes, part by part, summing to iteration_ns (servesim timing
  // --breakdown); empty where a model does not tell its parts apart.
  struct Part {
    const char* name;
    double ms;
  };
  virtual std::vector<Part> parts(const BatchShape&) const { return {}; }
};

struct ModelSpec;

struct TimingContext {
  const PoolConfig& pool;
  std::string base_dir = ".";  // relative table paths resolve here (the scenario's folder)
  const ModelSpec* model = nullptr;  // price this model instead of the pool's (a speculative draft)
  std::string resolve(const std::string& path) const { return resolve_path(base_dir, path); }
};

using TimingRegistry = Registry<"timing model", TimingModel, const TimingContext&>;

}  // namespace servesim
