#include "router/router_module.h"

namespace servesim {

RouterModule::RouterModule(sc_core::sc_module_name name, std::unique_ptr<RouterPolicy> policy,
                           TimedChannel<Request*>& requests, TimedChannel<RouteRelease>& releases,
                           std::vector<TimedChannel<Request*>*> workers)
    : sc_core::sc_module(name),
      policy_(std::move(policy)),
      requests_(requests),
      releases_(releases),
      workers_(std::move(workers)) {
  for (size_t i = 0; i < workers_.size(); ++i) views_.push_back(WorkerView{static_cast<std::int32_t>(i), 0, 0});
  SC_METHOD(on_requests);
  sensitive << requests_.event();
  dont_initialize();
  SC_METHOD(on_releases);
  sensitive << releases_.event();
  dont_initialize();
}

void RouterModule::on_requests() {
  const TimeNs now = now_ns();
  requests_.drain([&](Request* r) {
    size_t i = policy_->choose(*r, views_);
    if (i >= views_.size())
      throw InvariantError(fmt::format("router policy chose worker {} of {}", i, views_.size()));
    WorkerView& v = views_[i];
    ++v.active_seqs;
    v.active_tokens += static_cast<std::int64_t>(r->input_tokens) + r->output_tokens;
    ++active_;
    r->routed_ns = now;
    r->worker = v.worker_id;
    workers_[i]->send(r, 0, 0);
  });
}

void RouterModule::on_releases() {
  releases_.drain([&](RouteRelease rel) {
    WorkerView& v = views_.at(static_cast<size_t>(rel.worker));
    --v.active_seqs;
    v.active_tokens -= rel.tokens;
    --active_;
  });
  if (active_ == 0 && on_idle_) on_idle_();
}

}  // namespace servesim
