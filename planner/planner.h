#pragma once
// The Planner: a periodic SystemC process. Every adjustment_interval it scrapes what a metrics
// system would (request count, mean ISL/OSL, TTFT/ITL, queue depths, KV usage per pool) through
// a ClusterView, which reaches it scrape_delay later; predictors forecast the next interval; the
// policy proposes replica targets; the planner bounds them (min/max replicas, GPU budget) and
// sends them as ScaleCommand messages that reach the lifecycle an actuation delay later. It
// knows nothing of the cluster beyond the view and the channel.
#include <systemc>

#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include "core/messages.h"
#include "core/observer.h"
#include "core/rng.h"
#include "core/sim.h"
#include "planner/cluster_view.h"
#include "planner/load_predictor.h"
#include "planner/planner_policy.h"

namespace servesim {

// What the scraper accumulates between scrapes (a RunObserver fed by the cluster).
class PlannerMetrics final : public RunObserver {
 public:
  // `slo`: what SLO attainment is measured against; `workers`: worker slots, cluster-wide.
  PlannerMetrics(const SloConfig& slo, size_t workers) : slo_(slo), forward_(workers) {}
  void on_arrival(const Request& r) override;
  void on_request_done(const Request& r) override;
  void on_iteration(std::int32_t worker, TimeNs duration, const BatchShape& b, const IterationResult& res) override;
  // Fills the window's traffic fields of `obs` and (when `reset`) starts a new window.
  void scrape(PlannerObservation& obs, bool reset = true);
  struct ForwardPasses {
    double iterations = 0, prefill_tokens = 0, decode_tokens = 0;
  };
  // The window's forward passes of one worker (read before scrape() clears them).
  const ForwardPasses& forward(size_t worker) const { return forward_.at(worker); }

 private:
  SloConfig slo_;
  double arrivals_ = 0, isl_sum_ = 0, completions_ = 0, osl_sum_ = 0, itl_sum_s_ = 0, itl_tokens_ = 0;
  double output_tokens_ = 0, prompt_tokens_done_ = 0, cached_tokens_done_ = 0, meeting_slo_ = 0, rejected_ = 0;
  double spec_verified_ = 0, spec_accepted_ = 0;  // speculative decoding: sequence-steps, accepted draft tokens
  std::vector<double> ttft_;
  std::vector<std::pair<double, double>> itl_;  // (step seconds, tokens it gave)
  std::vector<ForwardPasses> forward_;
};

class Planner : public sc_core::sc_module {
 public:
  SC_HAS_PROCESS(Planner);
  Planner(sc_core::sc_module_name name, PlannerScope cfg, const std::string& base_dir, const ClusterView& cluster,
          TimedChannel<ScaleCommand>& commands, PlannerMetrics& metrics, RunObserver& observer,
          std::function<bool()> drained, InProcessPlanner in_process = {});

  std::uint64_t scale_events() const { return scale_events_; }
  // Sleep through idle time: a planner whose policy never acts (PlannerPolicy::acts(), "static")
  // stops ticking while `idle` holds after a tick; wake() (on the next arrival) resumes it on its
  // tick grid. Policies that act on quiet windows keep ticking.
  void set_idle_check(std::function<bool()> idle) { idle_ = std::move(idle); }
  void wake();
  // What a tick now would observe, the window left as it is (the Python API's observe()).
  PlannerObservation peek() { return observe(false); }
  // A replica target from outside the policy (the Python API's scale()), sent as the planner's
  // own decisions are: an actuation delay to the lifecycle, recorded in /control_plane.
  void command(size_t pool, int target);

 private:
  PlannerObservation observe(bool reset);
  TimeNs send(size_t pool, int target, std::vector<std::int32_t> drain);
  void start_of_simulation() override;
  void on_tick();
  void on_observation();
  void decide(const PlannerObservation& seen);

  PlannerScope cfg_;
  const ClusterView& cluster_;
  TimedChannel<ScaleCommand>& commands_;
  PlannerMetrics& metrics_;
  RunObserver& observer_;
  std::function<bool()> drained_;
  std::function<bool()> idle_;
  bool asleep_ = false;
  std::unique_ptr<PlannerPolicy> policy_;
  std::unique_ptr<LoadPredictor> requests_, isl_, osl_;
  TimedChannel<PlannerObservation> observations_{"observations"};
  sc_core::sc_event tick_;
  TimeNs last_scrape_ = 0;
  std::uint64_t scale_events_ = 0;
  std::vector<int> sent_;                     // the last target sent per pool
  std::vector<std::uint64_t> failures_seen_;  // per pool, at the last scrape
  std::vector<WorkerStatus> worker_status_;
  Rng rng_;
  std::vector<PlannerRecord> records_;
  std::vector<std::deque<std::pair<TimeNs, int>>> recent_;  // per pool: (time, bounded proposal) in the window
};

}  // namespace servesim
