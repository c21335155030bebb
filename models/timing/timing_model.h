#pragma once
// A timing model turns one engine iteration's batch into a duration.
#include <cstdint>
#include <string>

#include "core/paths.h"
#include "core/registry.h"
#include "core/scenario.h"
#include "core/units.h"

namespace servesim {

// What an iteration computes. Attention work of a prefill chunk of c new tokens after k
// cached/earlier tokens is c*k + c*(c+1)/2 (token, context-token) pairs.
struct BatchShape {
  std::int32_t prefill_seqs = 0;
  std::int64_t prefill_tokens = 0;
  double prefill_attention_pairs = 0;
  std::int32_t decode_seqs = 0;
  std::int64_t decode_context_tokens = 0;  // sum of KV lengths read by the decodes
  bool empty() const { return prefill_seqs == 0 && decode_seqs == 0; }
};

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
