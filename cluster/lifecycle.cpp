#include "cluster/lifecycle.h"

#include <algorithm>
#include <cmath>

#include "core/distributions.h"
#include "models/duration_sample.h"
#include "models/power.h"

namespace servesim {

namespace {
constexpr std::uint32_t kSender = 2;  // on channels the frontend (0) and KV fabric (1) share
}

Lifecycle::Lifecycle(sc_core::sc_module_name name, const ScenarioConfig& cfg, std::vector<Worker*> workers,
                     RouterModule& router, TimedChannel<ScaleCommand>& commands,
                     TimedChannel<WorkerStateMsg>& to_router, TimedChannel<RouteRelease>& releases,
                     TimedChannel<Request*>& requeue, TimedChannel<Request*>& failed, RunObserver& observer)
    : sc_core::sc_module(name),
      cfg_(cfg),
      workers_(std::move(workers)),
      router_(router),
      commands_(commands),
      to_router_(to_router),
      observer_(observer),
      releases_(releases),
      requeue_(requeue),
      failed_(failed),
      pool_workers_(cfg.pools.size()),
      state_(workers_.size(), WorkerState::kStopped),
      generation_(workers_.size(), 0),
      rng_(make_rng(cfg.seed, "lifecycle")),
      drain_known_(workers_.size(), 0),
      published_until_(workers_.size(), 0),
      pool_failures_(cfg.pools.size(), 0),
      discovery_rng_(make_rng(cfg.seed, "lifecycle.discovery")) {
  for (Worker* w : workers_) {
    pool_of_.push_back(static_cast<size_t>(w->pool()));
    pool_workers_[static_cast<size_t>(w->pool())].push_back(static_cast<size_t>(w->id()));
    w->set_on_idle([this](std::int32_t id) { on_idle(id); });
    w->set_on_bounce([this, id = w->id()](Request* r) {
      // connection refused: the router stops sending there at once, then routes the request again
      publish(static_cast<size_t>(id), WorkerStateKind::kUnreachable, true);
      hand_back(r, true);
    });
  }
  router_.set_on_release([this](std::int32_t w) { on_idle(w); });
  for (const auto& p : cfg.pools) {
    targets_.push_back(p.replicas);
    const PowerModel power = PowerModel::for_pool(p, Catalog::builtin());
    pool_idle_w_.push_back(power.idle_w() * p.attention_dp);  // the model prices one rank's GPUs
    pool_tdp_w_.push_back(power.tdp_w() * p.attention_dp);
  }
  // the pools' first `replicas` workers serve from the start, already warm
  for (size_t p = 0; p < cfg.pools.size(); ++p)
    for (int k = 0; k < cfg.pools[p].replicas; ++k) {
      const size_t w = pool_workers_[p][static_cast<size_t>(k)];
      state_[w] = WorkerState::kReady;
      hold(p, +1);
    }
  for (size_t w = 0; w < workers_.size(); ++w)
    if (state_[w] == WorkerState::kStopped) workers_[w]->mark_stopped();
  SC_METHOD(on_ready);
  sensitive << ready_.event();
  dont_initialize();
  SC_METHOD(on_commands);
  sensitive << commands_.event();
  dont_initialize();
  SC_METHOD(on_discovered);
  sensitive << discovered_.event();
  dont_initialize();
  SC_METHOD(on_drain_timeout);
  sensitive << drain_timeout_.event();
  dont_initialize();
  SC_METHOD(on_scheduled_failure);
  sensitive << failure_tick_;
  dont_initialize();
  SC_METHOD(on_random_failure);
  sensitive << random_failure_;
  dont_initialize();
}

void Lifecycle::start_of_simulation() {
  // the fleet the scenario starts with is known to the router from the start
  for (size_t w = 0; w < workers_.size(); ++w)
    if (state_[w] == WorkerState::kReady) publish(w, WorkerStateKind::kReady, true);
  const auto& schedule = cfg_.failures.schedule;
  for (size_t k = 0; k < schedule.size(); ++k) failure_order_.push_back(k);
  std::stable_sort(failure_order_.begin(), failure_order_.end(),
                   [&](size_t a, size_t b) { return schedule[a].at.ns() < schedule[b].at.ns(); });
  if (!failure_order_.empty()) failure_tick_.notify(ns_time(schedule[failure_order_.front()].at.ns()));
  arm_random_failure();
}

void Lifecycle::account() {
  const TimeNs now = now_ns();
  const double dt = ns_to_s(now - area_at_);
  gpu_area_ += gpus_ * dt;
  idle_energy_j_ += idle_w_ * dt;
  for (size_t p = 0; p < targets_.size(); ++p)
    if (count(p, WorkerState::kReady) < targets_[p]) {
      under_area_ += dt;
      break;
    }
  area_at_ = now;
}

double Lifecycle::gpu_seconds() const { return gpu_area_ + gpus_ * ns_to_s(now_ns() - area_at_); }

double Lifecycle::idle_energy_j() const { return idle_energy_j_ + idle_w_ * ns_to_s(now_ns() - area_at_); }

// A worker of `pool` starts (+1) or stops (-1) holding its GPUs (callers account() first).
void Lifecycle::hold(size_t pool, int sign) {
  gpus_ += sign * cfg_.pools[pool].gpus_per_worker();
  peak_gpus_ = std::max(peak_gpus_, gpus_);
  idle_w_ += sign * pool_idle_w_[pool];
  tdp_w_ += sign * pool_tdp_w_[pool];
  peak_tdp_w_ = std::max(peak_tdp_w_, tdp_w_);
}

double Lifecycle::underprovisioned_s() const {
  for (size_t p = 0; p < targets_.size(); ++p)
    if (count(p, WorkerState::kReady) < targets_[p]) return under_area_ + ns_to_s(now_ns() - area_at_);
  return under_area_;
}

int Lifecycle::count(size_t pool, WorkerState s) const {
  int n = 0;
  for (size_t w : pool_workers_.at(pool)) n += state_[w] == s;
  return n;
}

bool Lifecycle::settled() const {
  for (WorkerState s : state_)
    if (s == WorkerState::kStarting || s == WorkerState::kDraining) return false;
  return true;
}

void Lifecycle::on_commands() {
  commands_.drain([&](ScaleCommand&& c) { set_target(static_cast<size_t>(c.pool), c.target, c.drain); });
}

void Lifecycle::set_target(size_t pool, int target, const std::vector<std::int32_t>& drain) {
  account();
  const auto& lc = cfg_.pools[pool].lifecycle;
  targets_[pool] = std::clamp(target, lc.min_replicas, static_cast<int>(pool_workers_[pool].size()));
  int serving = count(pool, WorkerState::kStarting) + count(pool, WorkerState::kReady);
  for (std::int32_t w : drain) {
    const auto k = static_cast<size_t>(w);
    if (serving <= targets_[pool]) break;
    if (k >= workers_.size() || pool_of_[k] != pool)
      throw InvariantError(fmt::format("scale command for pool {} drains worker {} of another pool", pool, w));
    if (state_[k] != WorkerState::kReady && state_[k] != WorkerState::kStarting) continue;
    reconciling_ = true;
    drain_worker(k);
    reconciling_ = false;
    --serving;
  }
  reconcile(pool);
}

void Lifecycle::publish(size_t w, WorkerStateKind kind, bool at_once) {
  const TimeNs now = now_ns();
  const TimeNs delay = at_once ? 0 : s_to_ns(sample_duration_s(cfg_.planner.discovery_delay, discovery_rng_));
  // discovery never reorders a worker's states; the router's own finding (at once) is not discovery
  const TimeNs due = at_once ? now : std::max(now + delay, published_until_[w]);
  if (!at_once) published_until_[w] = due;
  to_router_.send(WorkerStateMsg{static_cast<std::int32_t>(w), kind}, due - now, kSender);
  if (kind == WorkerStateKind::kDraining)
    discovered_.send(Timer{static_cast<std::int32_t>(w), generation_[w]}, due - now, kSender);
  static constexpr ControlKind kinds[] = {ControlKind::kReady, ControlKind::kDraining, ControlKind::kStopped,
                                          ControlKind::kFailed, ControlKind::kUnreachable};
  observer_.on_control(ControlRecord{ns_to_s(now), ns_to_s(due), static_cast<std::int32_t>(pool_of_[w]),
                                     static_cast<std::int32_t>(w), -1,
                                     static_cast<std::int32_t>(kinds[static_cast<size_t>(kind)])});
}

// The router has seen the drain: from now on nothing new is routed there, so it may stop.
void Lifecycle::on_discovered() {
  discovered_.drain([&](Timer t) {
    const auto w = static_cast<size_t>(t.worker);
    if (generation_[w] != t.generation || state_[w] != WorkerState::kDraining) return;
    drain_known_[w] = 1;
    on_idle(t.worker);
  });
}

void Lifecycle::reconcile(size_t pool) {
  if (reconciling_) return;  // a stop below must not re-enter: the outer loop goes on counting
  reconciling_ = true;
  reconcile_pool(pool);
  reconciling_ = false;
}

void Lifecycle::reconcile_pool(size_t pool) {
  const int tp = cfg_.pools[pool].gpus_per_worker();
  int serving = count(pool, WorkerState::kStarting) + count(pool, WorkerState::kReady);
  while (serving < targets_[pool]) {
    if (cfg_.planner.gpu_budget && gpus_ + tp > *cfg_.planner.gpu_budget) return;  // waits for GPUs to free up
    if (cfg_.planner.power_budget_w && tdp_w_ + pool_tdp_w_[pool] > *cfg_.planner.power_budget_w) return;  // or power
    auto slot = std::find_if(pool_workers_[pool].begin(), pool_workers_[pool].end(),
                             [&](size_t w) { return state_[w] == WorkerState::kStopped; });
    if (slot == pool_workers_[pool].end()) return;  // the rest are still draining
    start_worker(*slot);
    ++serving;
  }
  while (serving > targets_[pool]) {
    // cancel the newest start first, else drain the least loaded ready worker
    size_t victim = workers_.size();
    for (auto it = pool_workers_[pool].rbegin(); it != pool_workers_[pool].rend(); ++it)
      if (state_[*it] == WorkerState::kStarting) {
        victim = *it;
        break;
      }
    if (victim == workers_.size()) {
      std::int64_t best = -1;
      for (auto it = pool_workers_[pool].rbegin(); it != pool_workers_[pool].rend(); ++it) {
        if (state_[*it] != WorkerState::kReady) continue;
        EngineLoad l = workers_[*it]->load();
        const std::int64_t load = l.waiting + l.running + l.held + l.incoming;
        if (best < 0 || load < best) best = load, victim = *it;
      }
    }
    if (victim == workers_.size()) return;
    drain_worker(victim);
    --serving;
  }
}

TimeNs Lifecycle::sample_startup(const StartupConfig& s) {
  double total = 0;
  if (s.phases.empty()) total = sample_duration_s(s, rng_);
  for (const auto& phase : s.phases) total += sample_duration_s(phase, rng_);
  return s_to_ns(total);
}

void Lifecycle::start_worker(size_t w) {
  account();
  const PoolConfig& pool = cfg_.pools[pool_of_[w]];
  state_[w] = WorkerState::kStarting;
  ++generation_[w];
  hold(pool_of_[w], +1);
  if (cfg_.planner.gpu_budget && gpus_ > *cfg_.planner.gpu_budget)
    throw InvariantError(fmt::format("{} GPUs in use, above the budget of {}", gpus_, *cfg_.planner.gpu_budget));
  if (cfg_.planner.power_budget_w && tdp_w_ > *cfg_.planner.power_budget_w * (1 + 1e-12))
    throw InvariantError(fmt::format("{} W of GPUs in use, above the power budget of {} W", tdp_w_,
                                     *cfg_.planner.power_budget_w));
  ++stats_.starts;
  // the worker takes requests only once ready: until then what reaches its slot (sent to the
  // worker that failed there, before the router heard) bounces
  ready_.send(Timer{static_cast<std::int32_t>(w), generation_[w]}, sample_startup(pool.lifecycle.startup), kSender);
}

void Lifecycle::on_ready() {
  ready_.drain([&](Timer t) {
    const auto w = static_cast<size_t>(t.worker);
    if (generation_[w] != t.generation || state_[w] != WorkerState::kStarting) return;
    account();
    state_[w] = WorkerState::kReady;
    workers_[w]->start();
    publish(w, WorkerStateKind::kReady);
  });
}

void Lifecycle::drain_worker(size_t w) {
  if (state_[w] == WorkerState::kStarting) {
    stop_worker(w, StopCause::kIdle);
    return;
  }
  account();
  state_[w] = WorkerState::kDraining;
  ++generation_[w];
  drain_known_[w] = 0;
  publish(w, WorkerStateKind::kDraining);
  const auto& lc = cfg_.pools[pool_of_[w]].lifecycle;
  if (lc.drain_timeout)
    drain_timeout_.send(Timer{static_cast<std::int32_t>(w), generation_[w]}, lc.drain_timeout->ns(), kSender);
  on_idle(static_cast<std::int32_t>(w));
}

// A draining worker stops once the router knows it drains, it holds nothing and nothing routed
// to it is still on its way (a decode worker's request may still be prefilling elsewhere).
void Lifecycle::on_idle(std::int32_t worker) {
  const auto w = static_cast<size_t>(worker);
  if (state_[w] == WorkerState::kDraining && drain_known_[w] && workers_[w]->idle() && router_.routed_to(w) == 0)
    stop_worker(w, StopCause::kIdle);
}

void Lifecycle::on_drain_timeout() {
  drain_timeout_.drain([&](Timer t) {
    const auto w = static_cast<size_t>(t.worker);
    if (generation_[w] == t.generation && state_[w] == WorkerState::kDraining) stop_worker(w, StopCause::kDrainTimeout);
  });
}

// The requests a stopping worker still holds (none when it stopped idle) start over elsewhere or
// fail, as the cause's setting says.
void Lifecycle::stop_worker(size_t w, StopCause cause) {
  account();
  const WorkerState was = state_[w];
  if (was == WorkerState::kStopped) return;
  state_[w] = WorkerState::kStopped;
  if (cause == StopCause::kFailure) ++pool_failures_[pool_of_[w]];
  // a start cancelled before it was ever announced needs no message
  if (was != WorkerState::kStarting)
    publish(w, cause == StopCause::kFailure ? WorkerStateKind::kFailed : WorkerStateKind::kStopped);
  ++generation_[w];
  hold(pool_of_[w], -1);
  ++stats_.stops;
  const bool timed_out = cause == StopCause::kDrainTimeout;
  const bool retry = timed_out ? cfg_.pools[pool_of_[w]].lifecycle.on_drain_timeout == "migrate"
                               : cfg_.failures.on_failure == "retry";
  router_.engine_resetting(w);
  for (Request* r : workers_[w]->stop()) {
    if (timed_out) retry ? ++stats_.migrated : ++stats_.aborted;
    else retry ? ++stats_.retried : ++stats_.failed_requests;
    hand_back(r, retry);
  }
  if (cause == StopCause::kFailure) ++stats_.failures;
  if (!reconciling_)
    for (size_t p = 0; p < targets_.size(); ++p) reconcile(p);  // freed GPUs, or a worker to replace
}

// A request leaves a worker that stopped: the router forgets it there; it starts over from
// routing, or ends as failed.
void Lifecycle::hand_back(Request* r, bool retry) {
  if (!retry) {
    r->status = RequestStatus::kFailed;
    r->finish_ns = now_ns();
    failed_.send(r, 0, kSender);  // the frontend releases it at the router
    return;
  }
  releases_.send(
      RouteRelease{r->worker, static_cast<std::int64_t>(r->input_tokens) + r->output_tokens, false, r->dp_rank}, 0,
      kSender);
  r->restart();
  requeue_.send(r, 0, kSender);
}

void Lifecycle::on_scheduled_failure() {
  const auto& schedule = cfg_.failures.schedule;
  const TimeNs now = now_ns();
  for (; next_failure_ < failure_order_.size() && schedule[failure_order_[next_failure_]].at.ns() <= now;
       ++next_failure_) {
    const auto& f = schedule[failure_order_[next_failure_]];
    size_t pool = 0;
    while (cfg_.pools[pool].name != f.pool) ++pool;  // validated: the pool exists
    int left = f.count;
    for (size_t w : pool_workers_[pool])
      if (left > 0 && (state_[w] == WorkerState::kReady || state_[w] == WorkerState::kDraining)) {
        stop_worker(w, StopCause::kFailure);
        --left;
      }
  }
  if (next_failure_ < failure_order_.size())
    failure_tick_.notify(ns_time(schedule[failure_order_[next_failure_]].at.ns() - now));
}

void Lifecycle::arm_random_failure() {
  const double rate = cfg_.failures.rate_per_worker_hour;
  if (rate <= 0 || workers_.empty()) return;
  // thinning: candidate events at rate x all workers; one hits a serving worker with the
  // chance serving / all, so each serving worker fails at `rate`
  const double mean_s = 3600.0 / (rate * static_cast<double>(workers_.size()));
  random_failure_.notify(ns_time(std::max<TimeNs>(1, s_to_ns(sample_exponential(rng_, mean_s)))));
}

void Lifecycle::on_random_failure() {
  const size_t w = static_cast<size_t>(uniform01(rng_) * static_cast<double>(workers_.size())) % workers_.size();
  if (state_[w] == WorkerState::kReady || state_[w] == WorkerState::kDraining) stop_worker(w, StopCause::kFailure);
  arm_random_failure();
}

}  // namespace servesim
