#pragma once
// A routing policy picks one worker for a request from the ready workers, as the router
// sees them. Plain class: unit-testable without SystemC.
#include <cstdint>
#include <span>

#include "core/registry.h"
#include "core/request.h"
#include "core/scenario.h"

namespace servesim {

struct WorkerView {
  std::int32_t worker_id = 0;
  std::int32_t active_seqs = 0;     // requests routed there and not yet finished
  std::int64_t active_tokens = 0;   // their prompt + output tokens
};

class RouterPolicy {
 public:
  virtual ~RouterPolicy() = default;
  // Index into `workers` (never empty).
  virtual size_t choose(const Request& request, std::span<const WorkerView> workers) = 0;
};

struct RouterContext {
  const RouterConfig& config;
  std::uint64_t seed;
};

using RouterRegistry = Registry<"router policy", RouterPolicy, const RouterContext&>;

}  // namespace servesim
