// Single-run confidence intervals (core/batch_means.h): the batching itself, and coverage
// against a closed form over many independent seeds.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>

#include "core/batch_means.h"
#include "core/sample_stats.h"
#include "tests/test_util.h"

namespace servesim {
namespace {

// The quickselect against the definition (sort by value, scan the running weight), on samples
// with many ties (a few distinct step times, as a steady batch gives) and with none.
TEST(WeightedSelect, EqualsTheSortedScan) {
  std::mt19937_64 rng(3);
  for (int trial = 0; trial < 400; ++trial) {
    const size_t n = 1 + rng() % 300;
    const int distinct = trial % 2 ? 5 : 1'000'000;
    std::vector<std::pair<double, std::int32_t>> v;
    double total = 0;
    for (size_t i = 0; i < n; ++i) {
      v.emplace_back(static_cast<double>(rng() % static_cast<std::uint64_t>(distinct)) * 1e-3,
                     static_cast<std::int32_t>(1 + rng() % 200));
      total += v.back().second;
    }
    for (double q : {0.0001, 0.5, 0.9, 0.99, 1.0}) {
      const double target = std::ceil(q * total);
      auto sorted = v;
      std::sort(sorted.begin(), sorted.end());
      double seen = 0, expected = std::nan("");
      for (auto [x, w] : sorted)
        if ((seen += w) >= target) {
          expected = x;
          break;
        }
      auto work = v;
      ASSERT_EQ(weighted_select(work, [&](double s) { return s >= target; }), expected) << trial << " q " << q;
    }
    auto work = v;  // never reached: the largest value
    EXPECT_EQ(weighted_select(work, [](double) { return false; }), std::max_element(v.begin(), v.end())->first);
  }
  std::vector<std::pair<double, double>> none;
  EXPECT_TRUE(std::isnan(weighted_select(none, [](double) { return true; })));
}

TEST(BatchMeans, BatchesDoubleAndStayBetweenKAnd2K) {
  BatchMeans b;
  for (int i = 0; i < 9; ++i) b.add(1.0);
  EXPECT_EQ(b.full_batches(), 9u);
  EXPECT_TRUE(std::isnan(b.mean_ci95().low));  // fewer than kMinBatches kept: no interval
  for (int n = 10; n <= 100'000; ++n) {
    b.add(static_cast<double>(n % 7));
    const auto full = b.full_batches();
    ASSERT_GE(full, std::min<std::size_t>(static_cast<std::size_t>(n) / 2, BatchMeans::kBatches)) << n;
    ASSERT_LE(full, 2 * BatchMeans::kBatches) << n;
  }
}

TEST(BatchMeans, IndependentDataCoverTheirMean) {
  // i.i.d. exponential(1) values: the interval holds 1 about 95% of the time
  int covered = 0, trials = 400;
  for (int t = 0; t < trials; ++t) {
    std::mt19937_64 rng(1000 + t);
    std::exponential_distribution<double> exp1(1.0);
    BatchMeans b;
    for (int i = 0; i < 5000; ++i) b.add(exp1(rng));
    auto ci = b.mean_ci95();
    covered += ci.low <= 1.0 && 1.0 <= ci.high;
  }
  const double coverage = static_cast<double>(covered) / trials;
  std::printf("i.i.d. exponential: coverage %.3f\n", coverage);
  EXPECT_GE(coverage, 0.92);
  EXPECT_LE(coverage, 0.98);
}

TEST(BatchMeans, TheFirstBatchIsTheWarmUp) {
  // a start-up transient inside the first batch (the first 2% far off) does not move the interval
  std::mt19937_64 rng(5);
  std::normal_distribution<double> noise(0, 0.1);
  BatchMeans b, level;
  for (int i = 0; i < 64'000; ++i) {
    const double x = 1.0 + noise(rng);
    b.add(i < 1'280 ? 10.0 : x);
    level.add(x);
  }
  EXPECT_EQ(b.warmup_batches(), 1u);
  EXPECT_GE(b.warmup_observations(), 1'280u);
  auto ci = b.mean_ci95();
  const auto lvl = level.mean_ci95();
  EXPECT_DOUBLE_EQ(ci.low, lvl.low);  // identical once the first batch is gone
  EXPECT_NEAR((ci.low + ci.high) / 2, 1.0, 0.002);
  EXPECT_LT(ci.high - ci.low, 0.005);
}

// The issue's check: over 100+ independent seeds of an M/M/1 run, the single-run interval for
// the mean wait holds the closed form rho / (mu - lambda) 90-98% of the time.
TEST(BatchMeans, SingleRunIntervalsCoverTheMM1MeanWait) {
  testing::TempDir dir;
  const std::string scn = dir.write("mm1.yaml", R"(
name: mm1
workload:
  max_requests: 20000
  synthetic:
    duration: 100d
    arrival: {process: poisson, rate: 50}
    input_length: {dist: exponential, mean: 2000, max: 1000000}
    output_length: {dist: fixed, value: 1}
pools:
  - engine: {max_num_seqs: 1, max_num_batched_tokens: 10000000, block_size: 100000, num_gpu_blocks: 1000}
    timing: {model: polynomial, polynomial: {constant_ms: 0, per_prefill_token_ms: 0.005}}
simulation: {sample_interval: 1h}
output: {requests: false}
)");
  const double lambda = 50, mu = 100, wq = (lambda / mu) / (mu - lambda);
  const double p90 = std::log((lambda / mu) / 0.10) / (mu - lambda);  // P(Wq > t) = rho e^{-(mu - lambda) t}
  const int seeds = 100;
  int mean_covered = 0, p90_covered = 0;
  for (int seed = 1; seed <= seeds; ++seed) {
    const std::string out = dir.file("mm1.h5");
    auto r = testing::run_servesim("run " + scn + " -q -o " + out + " --seed " + std::to_string(seed));
    ASSERT_EQ(r.exit_code, 0) << r.out;
    testing::H5File f(out);
    auto get = [&](const char* k) { return testing::read_double_column(f.id, "/summary", k).at(0); };
    mean_covered += get("queue_mean_ci95_low_s") <= wq && wq <= get("queue_mean_ci95_high_s");
    p90_covered += get("queue_p90_ci95_low_s") <= p90 && p90 <= get("queue_p90_ci95_high_s");
  }
  std::printf("M/M/1 rho 0.5, %d seeds x 20000 requests: mean wait covered %d, p90 covered %d\n", seeds, mean_covered,
              p90_covered);
  EXPECT_GE(mean_covered, 90);
  EXPECT_LE(mean_covered, 98);
  EXPECT_GE(p90_covered, 85);
  EXPECT_LE(p90_covered, 99);
}

}  // namespace
}  // namespace servesim
