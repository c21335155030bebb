// The control plane as timed messages: a planner decision lands an actuation delay after it was
// made; the router hears of worker state changes a discovery delay after they happen, keeps
// sending to a draining worker until then (the worker serves what it gets and stops only after),
// and a request sent to a worker that died bounces and is routed again. Every message is in
// /control_plane; runs with random delays are deterministic.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "tests/test_util.h"

namespace servesim {
namespace {

using testing::H5File;
using testing::read_double_column;

// Kinds in /control_plane (core/observer.h ControlKind).
constexpr double kScale = 0, kReady = 1, kDraining = 2, kStopped = 3, kFailed = 4, kUnreachable = 5;

// Two workers of Llama-3.1-8B at 6 req/s for 5 minutes; `extra` adds keys (planner, failures).
std::string scenario(const std::string& extra) {
  return fmt::format(R"(name: control
seed: 3
simulation: {{sample_interval: 10s}}
workload:
  source: synthetic
  synthetic:
    duration: 5m
    arrival: {{process: poisson, rate: 6}}
    input_length: {{dist: fixed, value: 512}}
    output_length: {{dist: fixed, value: 64}}
router: {{policy: round_robin}}
pools:
  - name: agg
    replicas: 2
    model: llama-3.1-8b
    gpu: h100_sxm
    lifecycle: {{min_replicas: 1, max_replicas: 3, startup: {{dist: fixed, value: 60s}}}}
slo: {{ttft: 2s, itl: 100ms}}
{}
)",
                     extra);
}

struct ControlRows {
  std::vector<double> sent, lands, kind, pool, worker, target;
};

ControlRows control_rows(const std::string& path) {
  H5File f(path);
  return {read_double_column(f.id, "/control_plane", "sent_s"), read_double_column(f.id, "/control_plane", "lands_s"),
          read_double_column(f.id, "/control_plane", "kind"),   read_double_column(f.id, "/control_plane", "pool"),
          read_double_column(f.id, "/control_plane", "worker"), read_double_column(f.id, "/control_plane", "target")};
}

std::string run(const testing::TempDir& d, const std::string& name, const std::string& extra) {
  const std::string scn = d.write(name + ".yaml", scenario(extra));
  const std::string out = d.file(name + ".h5");
  auto r = testing::run_servesim(fmt::format("run {} -q -o {}", scn, out));
  EXPECT_EQ(r.exit_code, 0) << r.out;
  return out;
}

// The first state message of `kind` about `worker`: (sent, lands), or (-1, -1).
std::pair<double, double> first(const ControlRows& c, double kind, double worker) {
  for (size_t i = 0; i < c.kind.size(); ++i)
    if (c.kind[i] == kind && c.worker[i] == worker) return {c.sent[i], c.lands[i]};
  return {-1, -1};
}

TEST(ControlPlane, AScaleUpLandsAfterTheActuationDelayAndTheStartUp) {
  testing::TempDir d;
  const std::string plan = R"(planner:
  policy: scripted
  adjustment_interval: 30s
  scripted: [{at: 60s, pool: agg, replicas: 3}])";
  for (double delay : {0.0, 25.0}) {
    const std::string out = run(d, fmt::format("up{}", delay), plan + fmt::format("\n  actuation_delay: {{value: {}s}}", delay));
    const ControlRows c = control_rows(out);
    // the decision at 60 s, every decision recorded with its delay
    H5File f(out);
    const auto time = read_double_column(f.id, "/planner", "time_s");
    const auto lands = read_double_column(f.id, "/planner", "lands_s");
    const auto actuation = read_double_column(f.id, "/planner", "actuation_delay_s");
    ASSERT_FALSE(time.empty());
    for (size_t i = 0; i < time.size(); ++i) {
      EXPECT_DOUBLE_EQ(actuation[i], delay);
      EXPECT_DOUBLE_EQ(lands[i], time[i] + delay);
    }
    size_t scale_rows = 0;
    for (size_t i = 0; i < c.kind.size(); ++i) scale_rows += c.kind[i] == kScale;
    EXPECT_EQ(scale_rows, time.size()) << "one scale message per pool and decision";
    // worker 2 starts when the command lands and is ready a start-up later
    const auto [ready_sent, ready_lands] = first(c, kReady, 2);
    EXPECT_DOUBLE_EQ(ready_sent, 60 + delay + 60) << "delay " << delay;
    EXPECT_DOUBLE_EQ(ready_lands, ready_sent) << "no discovery delay configured";
  }
}

TEST(ControlPlane, TheRouterKeepsSendingToADrainingWorkerUntilItHearsAndTheWorkerFinishesThem) {
  testing::TempDir d;
  const std::string plan = R"(planner:
  policy: scripted
  adjustment_interval: 30s
  scripted: [{at: 60s, pool: agg, replicas: 1}])";
  for (double discovery : {0.0, 20.0}) {
    const std::string out = run(d, fmt::format("down{}", discovery),
                                plan + fmt::format("\n  discovery_delay: {{value: {}s}}", discovery));
    const ControlRows c = control_rows(out);
    size_t k = 0;
    while (k < c.kind.size() && c.kind[k] != kDraining) ++k;
    ASSERT_LT(k, c.kind.size()) << "a worker drained";
    const double w = c.worker[k], drain_at = c.sent[k], known_at = c.lands[k];
    EXPECT_DOUBLE_EQ(drain_at, 60);
    EXPECT_DOUBLE_EQ(known_at, 60 + discovery);
    H5File f(out);
    // a request is routed as it arrives (a worker always takes it here)
    const auto worker = read_double_column(f.id, "/requests", "decode_worker");
    const auto routed = read_double_column(f.id, "/requests", "arrival_s");
    const auto status = read_double_column(f.id, "/requests", "status");
    int during_lag = 0, after = 0;
    for (size_t i = 0; i < worker.size(); ++i) {
      EXPECT_EQ(status[i], 1) << "request " << i << " completed";
      if (worker[i] != w) continue;
      during_lag += routed[i] > drain_at && routed[i] < known_at;
      after += routed[i] >= known_at;
    }
    // round robin over two workers at 6 req/s: ~60 requests in a 20 s lag go to the draining one
    if (discovery > 0) EXPECT_GT(during_lag, 30);
    else EXPECT_EQ(during_lag, 0);
    EXPECT_EQ(after, 0) << "nothing routed there once the router knew";
    const auto [stopped_at, _] = first(c, kStopped, w);
    EXPECT_GE(stopped_at, known_at) << "it stops only after the router heard of the drain";
  }
}

TEST(ControlPlane, RequestsSentToAWorkerThatDiedBounceAndAreRoutedAgain) {
  testing::TempDir d;
  const std::string out = run(d, "fail", R"(failures:
  on_failure: retry
  schedule: [{at: 100s, pool: agg, count: 1}]
planner: {discovery_delay: {value: 15s}})");
  const ControlRows c = control_rows(out);
  size_t k = 0;
  while (k < c.kind.size() && c.kind[k] != kFailed) ++k;
  ASSERT_LT(k, c.kind.size());
  EXPECT_DOUBLE_EQ(c.sent[k], 100);
  EXPECT_DOUBLE_EQ(c.lands[k], 115);
  // the first request round robin sends to the dead worker bounces: the router marks it
  // unreachable at once (connection refused) and sends nothing more there
  const auto [unreachable_at, unreachable_lands] = first(c, kUnreachable, c.worker[k]);
  EXPECT_GT(unreachable_at, 100);
  EXPECT_LT(unreachable_at, 102);
  EXPECT_DOUBLE_EQ(unreachable_lands, unreachable_at);
  H5File f(out);
  const auto status = read_double_column(f.id, "/requests", "status");
  const auto worker = read_double_column(f.id, "/requests", "decode_worker");
  const auto arrival = read_double_column(f.id, "/requests", "arrival_s");
  for (size_t i = 0; i < status.size(); ++i) {
    EXPECT_EQ(status[i], 1) << "request " << i << " completed, the bounced one elsewhere";
    // the slot restarts at once (the lifecycle replaces the failed worker) and is ready 60 s later
    if (arrival[i] >= 100 && arrival[i] < 160) {
      EXPECT_NE(worker[i], c.worker[k]) << "request " << i;
    }
  }
}

TEST(ControlPlane, RandomDelaysAreDeterministic) {
  testing::TempDir d;
  const std::string extra = R"(failures: {on_failure: retry, schedule: [{at: 100s, pool: agg, count: 1}]}
planner:
  policy: scripted
  adjustment_interval: 20s
  scripted: [{at: 40s, pool: agg, replicas: 3}, {at: 200s, pool: agg, replicas: 1}]
  actuation_delay: {dist: lognormal, mean: 10s, std: 5s}
  discovery_delay: {dist: uniform, min: 1s, max: 8s})";
  const std::string a = run(d, "a", extra), b = run(d, "b", extra);
  for (const char* ds : {"/requests", "/control_plane", "/planner", "/timeseries/pools"})
    EXPECT_EQ(testing::read_raw(H5File(a).id, ds), testing::read_raw(H5File(b).id, ds)) << ds;
  const ControlRows c = control_rows(a);
  std::vector<double> delays;
  for (size_t i = 0; i < c.kind.size(); ++i)
    if (c.kind[i] == kScale) delays.push_back(c.lands[i] - c.sent[i]);
  ASSERT_GT(delays.size(), 5u);
  EXPECT_NE(*std::min_element(delays.begin(), delays.end()), *std::max_element(delays.begin(), delays.end()));
}

}  // namespace
}  // namespace servesim
