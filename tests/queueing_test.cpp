// Queueing-theory ground truth for the whole simulated path (trace -> frontend -> router ->
// worker -> frontend). One worker with max_num_seqs 1 and single-token outputs is a single
// server whose service time the polynomial timing model fixes exactly.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "cluster/run.h"
#include "scenario/scenario.h"

namespace servesim {
namespace {

struct QueueRun {
  double mean_wait_s;
  double completed;
};

QueueRun run_queue(double rate, const std::string& lengths, const std::string& timing, int workers,
                   const std::string& policy, long requests) {
  // 2048-token KV blocks: a request holds one or two, so the run costs little per request; the
  // service time (all these tests look at) does not depend on the block size.
  std::string yaml = fmt::format(R"(
name: queue
seed: 11
workload:
  max_requests: {requests}
  synthetic:
    duration: 100d
    arrival: {{process: poisson, rate: {rate}}}
    input_length: {lengths}
    output_length: {{dist: fixed, value: 1}}
router: {{policy: {policy}}}
pools:
  - replicas: {workers}
    engine: {{max_num_seqs: 1, max_num_batched_tokens: 100000, block_size: 2048, num_gpu_blocks: 10000}}
    timing: {{model: polynomial, polynomial: {timing}}}
simulation: {{sample_interval: 1h}}
output: {{requests: false}}
)",
                                 fmt::arg("requests", requests), fmt::arg("rate", rate), fmt::arg("lengths", lengths),
                                 fmt::arg("policy", policy), fmt::arg("workers", workers), fmt::arg("timing", timing));
  auto scenario = load_scenario_string(yaml, "queue.yaml");
  RunResult r = run_scenario(scenario, RunOptions{});
  QueueRun q{};
  for (auto& [k, v] : r.metrics) {
    if (k == "queue_mean_s") q.mean_wait_s = v;
    if (k == "requests_completed") q.completed = v;
  }
  return q;
}

constexpr double kServiceS = 0.010;  // deterministic service: 10 ms per request

// M/D/1 (Pollaczek-Khinchine): Wq = rho * D / (2 (1 - rho))
double md1_wait(double rho) { return rho * kServiceS / (2 * (1 - rho)); }

class MD1 : public ::testing::TestWithParam<double> {};

TEST_P(MD1, MeanWaitMatchesPollaczekKhinchine) {
  const double rho = GetParam();
  // higher load: longer busy periods, so more requests for the same precision
  const long n = rho < 0.85 ? 300'000 : 3'000'000;
  QueueRun q = run_queue(rho / kServiceS, "{dist: fixed, value: 16}", "{constant_ms: 10}", 1, "round_robin", n);
  EXPECT_EQ(q.completed, n);
  std::printf("M/D/1 rho %.2f: mean wait %.6f s, closed form %.6f s (%+.2f%%)\n", rho, q.mean_wait_s, md1_wait(rho),
              100 * (q.mean_wait_s / md1_wait(rho) - 1));
  EXPECT_NEAR(q.mean_wait_s, md1_wait(rho), 0.03 * md1_wait(rho)) << "rho " << rho;
}

INSTANTIATE_TEST_SUITE_P(Utilisation, MD1, ::testing::Values(0.5, 0.8, 0.9));

TEST(MM1, ExponentialServiceMatchesTheClosedForm) {
  // service = 5 us per prompt token, prompt ~ Exponential(mean 2000 tokens): mean 10 ms
  const double rho = 0.8, mu = 1 / kServiceS;
  QueueRun q = run_queue(rho * mu, "{dist: exponential, mean: 2000, max: 1000000}",
                         "{constant_ms: 0, per_prefill_token_ms: 0.005}", 1, "round_robin", 1'000'000);
  const double wq = rho / (mu - rho * mu);  // M/M/1: Wq = rho / (mu - lambda)
  std::printf("M/M/1 rho %.2f: mean wait %.6f s, closed form %.6f s (%+.2f%%)\n", rho, q.mean_wait_s, wq,
              100 * (q.mean_wait_s / wq - 1));
  EXPECT_NEAR(q.mean_wait_s, wq, 0.03 * wq);
}

TEST(MultiServer, RandomRoutingMakesEachWorkerAnMD1Queue) {
  // Poisson thinning: random routing to c workers gives each a Poisson stream of lambda / c
  const double rho = 0.8;
  QueueRun q = run_queue(4 * rho / kServiceS, "{dist: fixed, value: 16}", "{constant_ms: 10}", 4, "random", 1'000'000);
  std::printf("4 x M/D/1 (random) rho %.2f: mean wait %.6f s, closed form %.6f s (%+.2f%%)\n", rho, q.mean_wait_s,
              md1_wait(rho), 100 * (q.mean_wait_s / md1_wait(rho) - 1));
  EXPECT_NEAR(q.mean_wait_s, md1_wait(rho), 0.03 * md1_wait(rho));
}

TEST(MultiServer, RoundRobinWaitsLessThanMD1PerQueue) {
  // Round-robin hands each worker every c-th arrival: Erlang-c inter-arrivals, less variable
  // than Poisson, so each queue is E_c/D/1 and waits strictly less than M/D/1 at the same load.
  const double rho = 0.8;
  QueueRun rr = run_queue(4 * rho / kServiceS, "{dist: fixed, value: 16}", "{constant_ms: 10}", 4, "round_robin", 300'000);
  EXPECT_LT(rr.mean_wait_s, 0.5 * md1_wait(rho));
  EXPECT_GT(rr.mean_wait_s, 0.0);
}

}  // namespace
}  // namespace servesim
