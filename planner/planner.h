#pragma once
// The Planner: a periodic SystemC process. Every adjustment_interval it scrapes what a metrics
// system would (request count, mean ISL/OSL, TTFT/ITL, queue depths, KV usage per pool), which
// reaches it scrape_delay later; predictors forecast the next interval; the policy proposes
// replica targets; the planner bounds them (min/max replicas, GPU budget) and hands them to the
// lifecycle, which starts and drains workers.
#include <systemc>

#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include "cluster/lifecycle.h"
#include "core/observer.h"
#include "core/sim.h"
#include "planner/load_predictor.h"
#include "planner/planner_policy.h"

namespace servesim {

// What the scraper accumulates between scrapes (a RunObserver fed by the cluster).
class PlannerMetrics final : public RunObserver {
 public:
  void on_arrival(const Request& r) override;
  void on_request_done(const Request& r) override;
  void on_iteration(std::int32_t, TimeNs duration, const BatchShape&, const IterationResult& res) override;
  // Fills the window's traffic fields of `obs` and starts a new window.
  void scrape(PlannerObservation& obs);

 private:
  double arrivals_ = 0, isl_sum_ = 0, completions_ = 0, osl_sum_ = 0, itl_sum_s_ = 0, itl_tokens_ = 0;
  std::vector<double> ttft_;
};

class Planner : public sc_core::sc_module {
 public:
  SC_HAS_PROCESS(Planner);
  Planner(sc_core::sc_module_name name, PlannerScope cfg, const std::string& base_dir, Lifecycle& lifecycle,
          std::vector<Worker*> workers, PlannerMetrics& metrics, RunObserver& observer, std::function<bool()> drained);

  std::uint64_t scale_events() const { return scale_events_; }
  // Sleep through idle time: a planner whose policy never acts (PlannerPolicy::acts(), "static")
  // stops ticking while `idle` holds after a tick; wake() (on the next arrival) resumes it on its
  // tick grid. Policies that act on quiet windows keep ticking.
  void set_idle_check(std::function<bool()> idle) { idle_ = std::move(idle); }
  void wake();

 private:
  void start_of_simulation() override;
  void on_tick();
  void on_observation();
  void decide(const PlannerObservation& seen);

  PlannerScope cfg_;
  Lifecycle& lifecycle_;
  std::vector<Worker*> workers_;
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
  std::vector<PlannerRecord> records_;
  std::vector<std::deque<std::pair<TimeNs, int>>> recent_;  // per pool: (time, bounded proposal) in the window
};

}  // namespace servesim
