#pragma once
// A timing model turns one engine iteration's batch into a duration.
#include <cstdint>
#include <string>

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
};

struct TimingContext {
  const PoolConfig& pool;
  std::string base_dir = ".";  // relative table paths resolve here (the scenario's folder)
  std::string resolve(const std::string& path) const { return resolve_path(base_dir, path); }
};

using TimingRegistry = Registry<"timing model", TimingModel, const TimingContext&>;

}  // namespace servesim
