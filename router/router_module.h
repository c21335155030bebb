#pragma once
// Router: picks a worker per request with its policy, from the load it has seen.
#include <systemc>

#include <functional>
#include <memory>
#include <vector>

#include "core/sim.h"
#include "router/router_policy.h"

namespace servesim {

// A finished request, as the router learns of it (its own load bookkeeping).
struct RouteRelease {
  std::int32_t worker = -1;
  std::int64_t tokens = 0;
};

class RouterModule : public sc_core::sc_module {
 public:
  SC_HAS_PROCESS(RouterModule);
  RouterModule(sc_core::sc_module_name name, std::unique_ptr<RouterPolicy> policy,
               TimedChannel<Request*>& requests, TimedChannel<RouteRelease>& releases,
               std::vector<TimedChannel<Request*>*> workers);

  const std::vector<WorkerView>& views() const { return views_; }
  // Called after releases leave no request routed anywhere (the last link of a request's life).
  void set_on_idle(std::function<void()> f) { on_idle_ = std::move(f); }

 private:
  void on_requests();
  void on_releases();

  std::unique_ptr<RouterPolicy> policy_;
  TimedChannel<Request*>& requests_;
  TimedChannel<RouteRelease>& releases_;
  std::vector<TimedChannel<Request*>*> workers_;
  std::vector<WorkerView> views_;
  std::int64_t active_ = 0;
  std::function<void()> on_idle_;
};

}  // namespace servesim
