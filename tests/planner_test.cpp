// The planner and worker lifecycle: the sla policy's arithmetic on hand-computed cases, the
// capacity model against a polynomial timing model, and end-to-end runs read back from HDF5
// (a step burst with start-up latency, the GPU budget while starting and draining overlap, a
// compressed diurnal day, failures, drain timeouts, bad configuration).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "planner/capacity.h"
#include "scenario/scenario.h"
#include "tests/test_util.h"

namespace servesim {
namespace {

using ::testing::HasSubstr;
using testing::H5File;
using testing::read_double_column;

// Round figures: prefill 10,000 tokens/s whatever the target; decode 2,000 tokens/s at a 50 ms
// step target, 1,000 below it; an idle prefill takes isl / 20,000 s.
class FakeCapacity final : public CapacityModel {
 public:
  double prefill_tokens_per_s(size_t, double, double) const override { return 10'000; }
  double decode_tokens_per_s(size_t, double, double itl_s) const override { return itl_s >= 0.05 ? 2'000 : 1'000; }
  double expected_ttft_s(size_t, double isl) const override { return isl / 20'000; }
  double expected_itl_s(size_t, double, double) const override { return 0.02; }
};

TEST(SlaPolicy, ReplicaArithmeticOnHandComputedCases) {
  FakeCapacity cap;
  double c = 0;
  // decode: 200 tokens / 2000 tok/s = 0.1 s per request, at most 90% busy -> 9 req/s per worker
  EXPECT_EQ(sla_replicas(WorkerRole::kDecode, 0, {10, 1000, 200, 1.0, 0.05}, cap, c), 2);
  EXPECT_DOUBLE_EQ(c, 9);
  // ITL twice what the model expects: aim for 25 ms -> 1000 tok/s -> 4.5 req/s -> ceil(10 / 4.5)
  SlaTargets corrected{10, 1000, 200, 1.0, 0.05};
  corrected.d_corr = 2;
  EXPECT_EQ(sla_replicas(WorkerRole::kDecode, 0, corrected, cap, c), 3);
  EXPECT_DOUBLE_EQ(c, 4.5);
  // prefill: 0.1 s per prompt; slack 1 - 0.05 = 0.95 s; M/D/1 allows 1.9 / 2.0 = 95%, capped at 90%
  EXPECT_EQ(sla_replicas(WorkerRole::kPrefill, 0, {20, 1000, 200, 1.0, 0.05}, cap, c), 3);
  EXPECT_DOUBLE_EQ(c, 9);
  // a 100 ms TTFT: slack 0.05 s -> utilisation 0.1 / 0.2 = 50% -> 5 req/s -> 4 workers for 20
  EXPECT_EQ(sla_replicas(WorkerRole::kPrefill, 0, {20, 1000, 200, 0.1, 0.05}, cap, c), 4);
  EXPECT_DOUBLE_EQ(c, 5);
  // aggregated: 0.1 + 0.1 s per request; TTFT 250 ms: slack 0.2 -> 0.4 / 0.6 = 2/3 -> 10/3 req/s
  EXPECT_EQ(sla_replicas(WorkerRole::kAggregated, 0, {4, 1000, 200, 0.25, 0.05}, cap, c), 2);
  EXPECT_NEAR(c, 10.0 / 3, 1e-12);
  EXPECT_EQ(sla_replicas(WorkerRole::kAggregated, 0, {4, 1000, 200, 1.0, 0.05}, cap, c), 1);
  // no demand, no workers
  EXPECT_EQ(sla_replicas(WorkerRole::kAggregated, 0, {0, 1000, 200, 1.0, 0.05}, cap, c), 0);
}

TEST(SlaPolicy, CapacityFromAPolynomialTimingModel) {
  // step = 5 ms + 0.1 ms per sequence; prefill = 5 ms + 0.01 ms per token
  auto s = load_scenario_string(R"(
pools:
  - engine: {max_num_seqs: 256, max_num_batched_tokens: 4096}
    timing: {model: polynomial, polynomial: {constant_ms: 5, per_prefill_token_ms: 0.01, per_decode_seq_ms: 0.1}}
)",
                                "cap.yaml");
  TimingCapacityModel cap(planner_scope(s.config), ".");
  // a 10 ms step fits 50 sequences: 50 tokens every 10 ms
  EXPECT_NEAR(cap.decode_tokens_per_s(0, 1000, 0.010), 5000, 1e-6);
  EXPECT_NEAR(cap.expected_itl_s(0, 50, 1000), 0.010, 1e-12);
  // one 1000-token prompt: 5 + 10 ms
  EXPECT_NEAR(cap.expected_ttft_s(0, 1000), 0.015, 1e-12);
  // within 100 ms: 8 prompts = 8000 tokens in two chunks (4096 + 3904): 10 + 80 ms
  EXPECT_NEAR(cap.prefill_tokens_per_s(0, 1000, 0.1), 8000 / 0.090, 1e-6);
}

// A hybrid linear-attention model's sequences each hold their state's blocks: with 20 blocks of
// 784 tokens and 3 state blocks a sequence, at most floor(20 x 784 / (500 + 3 x 784)) = 5 sequences of
// 500 tokens decode at once (the token count alone would admit 31), whatever the ITL target.
TEST(SlaPolicy, AHybridsStateBlocksBoundItsDecodeConcurrency) {
  auto s = load_scenario_string(R"(
pools:
  - {model: Qwen/Qwen3.5-27B, engine: {num_gpu_blocks: 20}, timing: {model: polynomial, polynomial: {constant_ms: 5, per_decode_seq_ms: 0.1}}}
)",
                                "cap.yaml");
  ASSERT_EQ(s.config.pools[0].engine.block_size, 784);
  TimingCapacityModel cap(planner_scope(s.config), ".");
  // 5 sequences: a 5.5 ms step
  EXPECT_NEAR(cap.decode_tokens_per_s(0, 500, 1.0), 5 / 0.0055, 1e-6);
}

class PlannerRun : public ::testing::Test {
 protected:
  std::string run(const std::string& yaml, const std::string& name, const std::string& sets = "", int expect = 0) {
    std::string out = dir_.file(name + ".h5");
    last_ = testing::run_servesim("run " + dir_.write(name + ".yaml", yaml) + " -q -o " + out + " " + sets);
    EXPECT_EQ(last_.exit_code, expect) << last_.out;
    return out;
  }
  std::string run_file(const std::string& scenario, const std::string& name, const std::string& sets) {
    std::string out = dir_.file(name + ".h5");
    last_ = testing::run_servesim(std::string("run ") + SERVESIM_SOURCE_DIR + "/scenarios/" + scenario + " -q -o " +
                                  out + " " + sets);
    EXPECT_EQ(last_.exit_code, 0) << last_.out;
    return out;
  }
  testing::TempDir dir_;
  testing::CommandResult last_;
};

// One worker, then three times the traffic from 300 s; a new worker takes 50 + 70 s to start.
const char* kStep = R"(
name: step
seed: 3
simulation: {sample_interval: 5s}
workload:
  synthetic:
    duration: 900s
    arrival: {process: poisson, schedule: steps, points: [{at: 0s, rate: 5}, {at: 300s, rate: 15}]}
    input_length: {dist: lognormal, mean: 2048, std: 1024, max: 8192}
    output_length: {dist: lognormal, mean: 256, std: 128, max: 1024}
router: {policy: least_loaded}
pools:
  - name: agg
    replicas: 1
    model: llama-3.1-8b
    lifecycle: {min_replicas: 1, max_replicas: 8, startup: {phases: [{name: pull, value: 50s}, {name: load, value: 70s}]}}
planner: {policy: sla, adjustment_interval: 30s}
slo: {ttft: 1s, itl: 50ms}
)";

TEST_F(PlannerRun, AStepIsAnsweredWithinAnIntervalAndViolationsEndWithTheNewCapacity) {
  H5File f(run(kStep, "step"));
  constexpr double step = 300, interval = 30, startup = 120, sample = 5;
  auto t = read_double_column(f.id, "/planner", "time_s");
  auto target = read_double_column(f.id, "/planner", "target");
  double decided = -1;
  for (size_t i = 0; i < t.size(); ++i)
    if (target[i] > 1) {
      decided = t[i];
      break;
    }
  ASSERT_GT(decided, step);
  EXPECT_LE(decided, step + interval);  // the first scrape that saw the burst
  // the new workers serve one start-up later (seen at the next sample)
  auto pt = read_double_column(f.id, "/timeseries/pools", "time_s");
  auto ready = read_double_column(f.id, "/timeseries/pools", "ready");
  double served = -1;
  for (size_t i = 0; i < pt.size(); ++i)
    if (ready[i] > 1) {
      served = pt[i];
      break;
    }
  EXPECT_GE(served, decided + startup);
  EXPECT_LE(served, decided + startup + sample);
  // SLO violations: requests caught by the burst, until the backlog drains
  auto arrival = read_double_column(f.id, "/requests", "arrival_s");
  auto ttft = read_double_column(f.id, "/requests", "ttft_s"), itl = read_double_column(f.id, "/requests", "mean_itl_s");
  int misses = 0, inside = 0;
  double first = 1e18, last = 0;
  for (size_t i = 0; i < arrival.size(); ++i) {
    if (ttft[i] <= 1.0 && !(itl[i] > 0.05)) continue;
    ++misses;
    first = std::min(first, arrival[i]);
    last = std::max(last, arrival[i]);
    inside += arrival[i] >= step && arrival[i] <= served;
  }
  ASSERT_GT(misses, 0);
  EXPECT_GE(first, step - 5);                   // at most a request already queued when it hit
  EXPECT_LE(last, served + (served - step));    // the backlog drains faster than it built
  // most violations are of requests that arrived before the new worker served; the rest are the
  // backlog it drains (about 30 s on two workers at three times the traffic)
  EXPECT_GE(inside, 0.8 * misses);
}

TEST_F(PlannerRun, ScaleDownWindowKeepsTheHighestRecentProposal) {
  H5File f(run(kStep, "stabilised", "--set planner.scale_down_window=90s"));
  auto t = read_double_column(f.id, "/planner", "time_s");
  auto proposed = read_double_column(f.id, "/planner", "proposed");
  auto target = read_double_column(f.id, "/planner", "target");
  int held_up = 0;
  for (size_t i = 0; i < t.size(); ++i) {
    double highest = 0;
    for (size_t k = 0; k <= i; ++k)
      // decision times carry float noise (510.00000000000006): compare with a tolerance
      if (t[k] > t[i] - 90 + 1e-6) highest = std::max(highest, std::clamp(proposed[k], 1.0, 8.0));
    EXPECT_EQ(target[i], highest) << "at " << t[i] << " s";
    held_up += target[i] > std::clamp(proposed[i], 1.0, 8.0);
  }
  EXPECT_GT(held_up, 0);  // the window did hold some scale-down back
}

// Two pools share a 4-GPU budget; the script moves the load from a to b at 60 s while a's
// workers still have requests: b may start only as a's GPUs free up.
const char* kSwap = R"(
name: swap
seed: 5
simulation: {sample_interval: 1s}
workload:
  synthetic:
    duration: 180s
    arrival: {process: poisson, rate: 6}
    input_length: {dist: fixed, value: 1024}
    output_length: {dist: fixed, value: 800}
router: {policy: round_robin}
pools:
  - {name: a, replicas: 2, tp: 2, model: llama-3.1-8b, lifecycle: {max_replicas: 2, startup: {value: 20s}}}
  - {name: b, replicas: 0, tp: 2, model: llama-3.1-8b, lifecycle: {max_replicas: 2, startup: {value: 20s}}}
planner:
  policy: scripted
  adjustment_interval: 10s
  gpu_budget: 4
  scripted: [{at: 60s, pool: a, replicas: 0}, {at: 60s, pool: b, replicas: 2}]
)";

TEST_F(PlannerRun, GpuBudgetHoldsWhileStartingAndDrainingOverlap) {
  H5File f(run(kSwap, "swap"));
  auto t = read_double_column(f.id, "/timeseries/pools", "time_s");
  auto pool = read_double_column(f.id, "/timeseries/pools", "pool");
  auto ready = read_double_column(f.id, "/timeseries/pools", "ready");
  auto starting = read_double_column(f.id, "/timeseries/pools", "starting");
  auto draining = read_double_column(f.id, "/timeseries/pools", "draining");
  std::map<double, double> held;  // GPUs held per sample time
  double a_draining_seen = 0, b_ready_at = -1;
  for (size_t i = 0; i < t.size(); ++i) {
    held[t[i]] += 2 * (ready[i] + starting[i] + draining[i]);
    if (pool[i] == 0) a_draining_seen += draining[i];
    if (pool[i] == 1 && ready[i] == 2 && b_ready_at < 0) b_ready_at = t[i];
  }
  for (auto [time, gpus] : held) EXPECT_LE(gpus, 4) << "at " << time << " s";
  EXPECT_GT(a_draining_seen, 0);  // the drain took time: the overlap was exercised
  EXPECT_GT(b_ready_at, 60 + 20);  // b waited for a's GPUs, then started
  auto in_use = read_double_column(f.id, "/timeseries/cluster", "gpus_in_use");
  EXPECT_LE(*std::max_element(in_use.begin(), in_use.end()), 4);
  EXPECT_EQ(read_double_column(f.id, "/summary", "requests_completed").at(0),
            read_double_column(f.id, "/summary", "requests_arrived").at(0));
}

TEST_F(PlannerRun, DiurnalSlaPlannerUsesFewerGpuHoursThanStaticPeakAtTheSameSlo) {
  // the shipped day compressed to 2 hours
  const std::string day = "--set workload.synthetic.duration=2h --set workload.synthetic.arrival.period=2h ";
  H5File sla(run_file("planner_diurnal.yaml", "sla", day));
  H5File peak(run_file("planner_diurnal.yaml", "peak", day + "--set planner.policy=static --set pools.0.replicas=3"));
  auto get = [](H5File& f, const char* m) { return read_double_column(f.id, "/summary", m).at(0); };
  EXPECT_LT(get(sla, "gpu_hours"), 0.9 * get(peak, "gpu_hours"));
  EXPECT_GE(get(sla, "slo_attainment"), get(peak, "slo_attainment") - 0.01);
  EXPECT_GT(get(sla, "scale_events"), 0);
  // GPU-hours are the integral of GPUs held: static peak is 3 GPUs for the whole run
  EXPECT_NEAR(get(peak, "gpu_hours"), 3 * get(peak, "sim_time_s") / 3600, 1e-9);
}

const char* kFailures = R"(
name: failures
seed: 9
workload:
  synthetic:
    duration: 60s
    arrival: {process: poisson, rate: 8}
    input_length: {dist: fixed, value: 512}
    output_length: {dist: fixed, value: 400}
pools:
  - {name: a, replicas: 2, model: llama-3.1-8b, lifecycle: {max_replicas: 2, startup: {value: 30s}}}
failures:
  schedule: [{at: 20s, pool: a, count: 1}]
)";

TEST_F(PlannerRun, AFailedWorkersRequestsAreRetriedOrFailedAndCounted) {
  H5File retry(run(kFailures, "retry"));
  auto get = [](H5File& f, const char* m) { return read_double_column(f.id, "/summary", m).at(0); };
  EXPECT_EQ(get(retry, "worker_failures"), 1);
  EXPECT_GT(get(retry, "request_retries"), 0);
  EXPECT_EQ(get(retry, "requests_failed"), 0);
  EXPECT_EQ(get(retry, "requests_completed"), get(retry, "requests_arrived"));
  // the lost worker is replaced (its pool's target is unchanged) after a start-up
  auto t = read_double_column(retry.id, "/timeseries/pools", "time_s");
  auto ready = read_double_column(retry.id, "/timeseries/pools", "ready");
  EXPECT_EQ(ready[static_cast<size_t>(std::find(t.begin(), t.end(), 25.0) - t.begin())], 1);
  EXPECT_EQ(ready[static_cast<size_t>(std::find(t.begin(), t.end(), 55.0) - t.begin())], 2);

  H5File fail(run(kFailures, "fail", "--set failures.on_failure=fail"));
  EXPECT_GT(get(fail, "requests_failed"), 0);
  EXPECT_EQ(get(fail, "request_retries"), 0);
  EXPECT_EQ(get(fail, "requests_completed") + get(fail, "requests_failed"), get(fail, "requests_arrived"));
  EXPECT_LT(get(fail, "slo_attainment"), 1.0);  // failed requests count against the SLO
}

TEST_F(PlannerRun, DrainTimeoutMigratesOrAbortsWhatIsLeft) {
  // scale a from 2 to 1 at 20 s; a 1 s drain timeout leaves long requests behind
  std::string yaml = std::string(kFailures) + R"(
planner:
  policy: scripted
  adjustment_interval: 10s
  scripted: [{at: 20s, pool: a, replicas: 1}]
)";
  auto swap = [&](const std::string& from, const std::string& to) {
    ASSERT_NE(yaml.find(from), std::string::npos) << from;
    yaml.replace(yaml.find(from), from.size(), to);
  };
  swap("failures:\n  schedule: [{at: 20s, pool: a, count: 1}]\n", "");
  swap("startup: {value: 30s}", "startup: {value: 30s}, drain_timeout: 1s");
  auto get = [](H5File& f, const char* m) { return read_double_column(f.id, "/summary", m).at(0); };
  H5File migrate(run(yaml, "migrate"));
  EXPECT_GT(get(migrate, "request_retries"), 0);
  EXPECT_EQ(get(migrate, "requests_completed"), get(migrate, "requests_arrived"));
  swap("drain_timeout: 1s", "drain_timeout: 1s, on_drain_timeout: abort");
  H5File abort(run(yaml, "abort"));
  EXPECT_GT(get(abort, "requests_failed"), 0);
  EXPECT_EQ(get(abort, "requests_completed") + get(abort, "requests_failed"), get(abort, "requests_arrived"));
}

// Disaggregated pools scale while requests are between their prefill and decode workers: the
// prefill pool is overloaded (long prompts, two-token outputs), so a draining decode worker is
// idle long before the requests routed to it leave the prefill queue, and must wait for them.
TEST_F(PlannerRun, DisaggregatedPoolsDrainWithoutLosingAHandOff) {
  const char* yaml = R"(
name: disagg_drain
seed: 4
workload:
  synthetic:
    duration: 40s
    arrival: {process: poisson, rate: 12}
    input_length: {dist: fixed, value: 6000}
    output_length: {dist: fixed, value: 2}
router: {policy: round_robin}
pools:
  - {name: p, role: prefill, replicas: 1, model: llama-3.1-8b, lifecycle: {max_replicas: 3, startup: {value: 5s}}}
  - {name: d, role: decode, replicas: 3, model: llama-3.1-8b, lifecycle: {startup: {value: 5s}}}
planner:
  policy: scripted
  adjustment_interval: 1s
  scripted: [{at: 10s, pool: d, replicas: 1}, {at: 15s, pool: p, replicas: 3}, {at: 25s, pool: d, replicas: 3}]
)";
  H5File f(run(yaml, "disagg_drain"));
  auto get = [&](const char* m) { return read_double_column(f.id, "/summary", m).at(0); };
  EXPECT_EQ(get("requests_completed"), get("requests_arrived"));
  EXPECT_EQ(get("requests_remote_prefill"), get("requests_arrived"));
  auto pool = read_double_column(f.id, "/timeseries/pools", "pool");
  auto ready = read_double_column(f.id, "/timeseries/pools", "ready");
  auto t = read_double_column(f.id, "/timeseries/pools", "time_s");
  double d_at_20 = -1, d_at_35 = -1;
  for (size_t i = 0; i < t.size(); ++i)
    if (pool[i] == 1 && t[i] == 20) d_at_20 = ready[i];
    else if (pool[i] == 1 && t[i] == 35) d_at_35 = ready[i];
  EXPECT_EQ(d_at_20, 1);
  EXPECT_EQ(d_at_35, 3);
}

TEST_F(PlannerRun, BadPlannerConfigurationIsAClearError) {
  struct Case {
    std::string sets, key, says;
  } cases[] = {
      {"--set planner.policy=magic", "planner.policy", "unknown"},
      {"--set pools.0.lifecycle.max_replicas=1 --set pools.0.replicas=2", "pools.0.lifecycle.max_replicas",
       "below replicas"},
      {"--set planner.gpu_budget=1 --set pools.0.replicas=2", "planner.gpu_budget", "above the budget"},
      {"--set pools.0.lifecycle.min_replicas=9", "pools.0.lifecycle.min_replicas", "above the 8 workers"},
  };
  for (const auto& c : cases) {
    auto r = testing::run_servesim("validate " + dir_.write("p.yaml", kStep) + " " + c.sets);
    EXPECT_EQ(r.exit_code, 2) << c.sets << "\n" << r.out;
    EXPECT_THAT(r.out, HasSubstr("'" + c.key + "'")) << r.out;
    EXPECT_THAT(r.out, HasSubstr(c.says)) << r.out;
  }
  std::string swap = kSwap;
  swap.replace(swap.find("{at: 60s, pool: b,"), 18, "{at: 60s, pool: c,");
  auto r = testing::run_servesim("validate " + dir_.write("s.yaml", swap));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.out, HasSubstr("planner.scripted.1.pool"));
  EXPECT_THAT(r.out, HasSubstr("no pool is named 'c'"));
}

}  // namespace
}  // namespace servesim
