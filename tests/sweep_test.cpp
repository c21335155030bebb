// Sweeps: the grid, the strategies, ranking, Pareto fronts and confidence intervals as plain code;
// then `servesim sweep` end to end (parallel = serial, resume, a failing trial, replications
// whose interval covers a closed form).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

#include "app/commands/sweep_mpi.h"
#include "app/commands/sweep_space.h"
#include "tests/test_util.h"

namespace servesim {
namespace {

using ::testing::HasSubstr;
using testing::H5File;
using testing::read_double_column;

std::vector<SweepParameterConfig> three_params() {
  SweepParameterConfig a, b, c;
  a.key = "pools.0.replicas";
  a.values = {"1", "2", "3"};
  b.key = "router.policy";
  b.values = {"round_robin", "least_loaded"};
  c.keys = {"pools.0.replicas", "pools.1.replicas"};
  c.tuples = {{"3", "1"}, {"2", "2"}};
  return {a, b, c};
}

TEST(SweepSpace, GridIsRowMajorOverEveryCombination) {
  SweepSpace s(three_params());
  EXPECT_EQ(s.size(), 12u);
  std::set<std::vector<size_t>> seen;
  for (std::uint64_t id = 0; id < s.size(); ++id) {
    auto p = s.point(id);
    EXPECT_EQ(s.id(p), id);
    seen.insert(p);
  }
  EXPECT_EQ(seen.size(), 12u);
  EXPECT_EQ(s.point(7), (std::vector<size_t>{1, 1, 1}));  // 7 = 1*4 + 1*2 + 1
  EXPECT_EQ(s.overrides({2, 0, 0}), (std::vector<std::string>{"pools.0.replicas=3", "router.policy=round_robin",
                                                              "pools.0.replicas=3", "pools.1.replicas=1"}));
  EXPECT_EQ(s.label(2), "pools.0.replicas+pools.1.replicas");
  EXPECT_EQ(s.value(2, 1), "2/2");
}

std::vector<std::vector<size_t>> first_batch(const SweepConfig& cfg, const SweepSpace& space) {
  auto strategy = SweepStrategyRegistry::instance().create(cfg.strategy, SweepStrategyContext{cfg, space});
  return strategy->next({});
}

TEST(SweepSpace, RandomDrawsDistinctPointsReproduciblyBySeed) {
  SweepSpace space(three_params());
  SweepConfig cfg;
  cfg.strategy = "random";
  cfg.trials = 5;
  auto a = first_batch(cfg, space), b = first_batch(cfg, space);
  EXPECT_EQ(a, b);
  EXPECT_EQ(std::set<std::vector<size_t>>(a.begin(), a.end()).size(), 5u);
  cfg.seed = 2;
  EXPECT_NE(first_batch(cfg, space), a);
  cfg.trials = 100;  // more than the grid: every point once
  EXPECT_EQ(first_batch(cfg, space).size(), 12u);
}

TEST(SweepSpace, CoordinateDescentWalksToTheOptimumOfASeparableObjective) {
  // 3 parameters x 5 values; objective -(x0-3)^2 - (x1-1)^2 - (x2-4)^2, best at (3, 1, 4)
  std::vector<SweepParameterConfig> params(3);
  for (auto& p : params) {
    p.key = "k";
    p.values = {"0", "1", "2", "3", "4"};
  }
  SweepSpace space(params);
  SweepConfig cfg;
  cfg.strategy = "coordinate";
  cfg.passes = 5;
  auto strategy = SweepStrategyRegistry::instance().create(cfg.strategy, SweepStrategyContext{cfg, space});
  std::vector<Evaluated> done;
  std::set<std::uint64_t> evaluated;
  int batches = 0;
  for (auto batch = strategy->next(done); !batch.empty(); batch = strategy->next(done)) {
    ++batches;
    for (const auto& p : batch) {
      Ranking r;
      r.feasible = true;
      r.objective = -std::pow(p[0] - 3.0, 2) - std::pow(p[1] - 1.0, 2) - std::pow(p[2] - 4.0, 2);
      done.push_back({p, r});
      evaluated.insert(space.id(p));
    }
  }
  // pass 1 finds the optimum one coordinate at a time; pass 2 changes nothing and stops
  EXPECT_EQ(batches, 6);
  auto best = std::max_element(done.begin(), done.end(), [](const Evaluated& a, const Evaluated& b) {
    return better(b.ranking, a.ranking);
  });
  EXPECT_EQ(best->point, (std::vector<size_t>{3, 1, 4}));
  // pass 1: 5 + 4 + 4 distinct points; pass 2 re-checks x0 and x1 around the optimum (4 new each),
  // and x2's line was pass 1's last batch: 21 of the 125 points
  EXPECT_EQ(evaluated.size(), 21u);
}

TEST(SweepSpace, ParetoFrontKeepsTiesDropsDominatedAndDuplicates) {
  // maximise x and y
  std::vector<ParetoPoint> pts{{0, 1, 5}, {1, 2, 4}, {2, 2, 4}, {3, 3, 1}, {4, 1, 4}, {5, 2, 3}, {6, 3, 1}, {7, 0, 6}};
  auto front = pareto_front(pts, true, true);
  std::vector<std::uint64_t> ids;
  for (const auto& p : front) ids.push_back(p.id);
  // (1,5) (2,4) (3,1) (0,6) are non-dominated; (2,4) and (3,1) appear twice: kept once each
  EXPECT_EQ(ids, (std::vector<std::uint64_t>{7, 0, 1, 3}));
  // minimising y instead: (3,1) dominates everything with x <= 3 except... only itself remains
  auto low = pareto_front(pts, true, false);
  ASSERT_EQ(low.size(), 1u);
  EXPECT_EQ(low[0].id, 3u);
}

TEST(SweepSpace, ViolationRankingAndDerivedMetrics) {
  SweepConfig cfg;
  cfg.constraints = {SweepBoundConfig{"ttft_p90_s", 1.0, std::nullopt}, SweepBoundConfig{"itl_p90_s", 0.05, std::nullopt},
                     SweepBoundConfig{"goodput_req_per_s", std::nullopt, 10.0}};
  cfg.gpu_budget = 8;
  Metrics m{{"ttft_p90_s", 1.5}, {"itl_p90_s", 0.1}, {"goodput_req_per_s", 8}, {"gpus", 4},
            {"output_tokens_per_s", 1000}, {"tpot_mean_s", 0.02}};
  add_derived_metrics(m);
  EXPECT_DOUBLE_EQ(m["output_tokens_per_s_per_gpu"], 250);
  EXPECT_DOUBLE_EQ(m["tokens_per_s_per_user"], 50);
  Ranking r = rank(cfg, m);
  EXPECT_FALSE(r.feasible);
  EXPECT_DOUBLE_EQ(r.violation, 0.5 + 1.0 + 0.25);  // 1.5/1 - 1, 0.1/0.05 - 1, 10/8 - 1
  Metrics ok{{"ttft_p90_s", 0.5}, {"itl_p90_s", 0.01}, {"goodput_req_per_s", 12}, {"gpus", 8},
             {"output_tokens_per_s", 800}, {"tpot_mean_s", 0.02}};
  add_derived_metrics(ok);
  Ranking f = rank(cfg, ok);
  EXPECT_TRUE(f.feasible);
  EXPECT_TRUE(better(f, r));
  ok["gpus"] = 9;  // over the budget by 1/8
  EXPECT_DOUBLE_EQ(rank(cfg, ok).violation, 0.125);
  Ranking worse = r;
  worse.violation = 2;
  EXPECT_TRUE(better(r, worse));
}

TEST(SweepSpace, ConfidenceIntervalIsStudentT) {
  MeanCi c = mean_ci95({1, 2, 3, 4, 5});
  EXPECT_DOUBLE_EQ(c.mean, 3);
  EXPECT_NEAR(c.half_width, 2.776 * std::sqrt(2.5 / 5), 1e-12);
  EXPECT_TRUE(std::isnan(mean_ci95({7}).half_width));
}

class SweepRun : public ::testing::Test {
 protected:
  testing::CommandResult sweep(const std::string& file, const std::string& out, const std::string& extra = "") {
    auto r = testing::run_servesim("sweep " + file + " -o " + out + " " + extra);
    EXPECT_EQ(r.exit_code, 0) << r.out;
    return r;
  }
  std::string quick() const { return std::string(SERVESIM_SOURCE_DIR) + "/scenarios/sweep_quick.yaml"; }
  testing::TempDir dir_;
};

std::vector<double> column(const std::string& file, const std::string& dataset, const std::string& field) {
  H5File f(file);
  return read_double_column(f.id, dataset, field);
}

TEST_F(SweepRun, ParallelTrialsGiveTheSameTableAsSerial) {
  std::string one = dir_.file("one.h5"), two = dir_.file("two.h5");
  auto r1 = sweep(quick(), one, "-j 1");
  sweep(quick(), two, "-j 2");
  EXPECT_THAT(r1.out, HasSubstr("12 points, 12 runs (12 ran, 0 reused, 0 failed)"));
  EXPECT_THAT(r1.out, HasSubstr("best feasible by output_tokens_per_s_per_gpu"));
  for (const char* m : {"trial", "ok", "output_tokens_per_s", "ttft_p90_s", "gpus", "requests_completed"})
    EXPECT_EQ(column(one, "/trials", m), column(two, "/trials", m)) << m;
  auto feasible = column(one, "/trial_stats", "feasible");
  auto objective = column(one, "/trial_stats", "objective");
  // trial_stats is ranked: feasible first, by objective
  for (size_t i = 1; i < feasible.size(); ++i) {
    EXPECT_LE(feasible[i], feasible[i - 1]);
    if (feasible[i] && feasible[i - 1]) {
      EXPECT_LE(objective[i], objective[i - 1]);
    }
  }
  EXPECT_GT(testing::dataset_rows(H5File(one).id, "/pareto/output_tokens_per_s_per_gpu__tokens_per_s_per_user"), 0u);
}

TEST_F(SweepRun, ResumeRunsOnlyTheMissingTrials) {
  std::string out = dir_.file("q.h5");
  sweep(quick(), out);
  const auto first = column(out, "/trials", "output_tokens_per_s");
  // a sweep killed part-way: three trial runs never finished
  for (int id : {1, 5, 10}) std::filesystem::remove(dir_.file(fmt::format("q.trials/t{}_r0.h5", id)));
  auto r = sweep(quick(), out, "--resume");
  EXPECT_THAT(r.out, HasSubstr("(3 ran, 9 reused, 0 failed)"));
  EXPECT_EQ(column(out, "/trials", "output_tokens_per_s"), first);
}

TEST_F(SweepRun, AnImpossibleTrialIsRecordedAsFailedNotFatal) {
  std::string yaml = fmt::format(R"(
name: impossible
base: {}/scenarios/quickstart.yaml
set: [workload.synthetic.duration=10s]
parameters:
  - {{key: pools.0.model, values: [llama-3.1-8b, llama-3.1-70b]}}
)",
                                 SERVESIM_SOURCE_DIR);
  std::string out = dir_.file("imp.h5");
  auto r = sweep(dir_.write("imp.yaml", yaml), out);
  EXPECT_THAT(r.out, HasSubstr("(2 ran, 0 reused, 1 failed)"));
  H5File f(out);
  EXPECT_EQ(read_double_column(f.id, "/trials", "ok"), (std::vector<double>{1, 0}));
  auto err = testing::read_string_column(f.id, "/trials", "error");
  EXPECT_THAT(err[1], HasSubstr("does not fit"));
  EXPECT_EQ(testing::read_string_column(f.id, "/trials", "status")[1], "failed");
}

TEST_F(SweepRun, ATrialOverItsTimeoutIsKilledAndRecorded) {
  // one trial is a minute of heavy traffic, the other a single request; the limit is 1 s
  std::string yaml = fmt::format(R"(
name: slow
base: {}/scenarios/quickstart.yaml
timeout: 1s
parameters:
  - {{key: workload.max_requests, values: [1, 100000000]}}
  - {{key: workload.synthetic.duration, values: [100d]}}
)",
                                 SERVESIM_SOURCE_DIR);
  std::string out = dir_.file("slow.h5");
  auto r = sweep(dir_.write("slow.yaml", yaml), out);
  EXPECT_THAT(r.out, HasSubstr("(2 ran, 0 reused, 1 failed)"));
  H5File f(out);
  EXPECT_EQ(testing::read_string_column(f.id, "/trials", "status"), (std::vector<std::string>{"ok", "timeout"}));
  auto wall = read_double_column(f.id, "/trials", "wall_s");
  EXPECT_GE(wall[1], 1.0);
  EXPECT_LT(wall[1], 30.0);
}

TEST_F(SweepRun, BadSweepFileIsAClearError) {
  std::string yaml = fmt::format(R"(
base: {}/scenarios/quickstart.yaml
strategy: annealing
parameters: [{{key: pools.0.replicas, values: [1]}}]
)",
                                 SERVESIM_SOURCE_DIR);
  auto r = testing::run_servesim("sweep " + dir_.write("bad.yaml", yaml));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.out, HasSubstr("bad.yaml:3"));
  EXPECT_THAT(r.out, HasSubstr("unknown strategy 'annealing'"));
  std::string typo = fmt::format(R"(
base: {}/scenarios/quickstart.yaml
parameters: [{{key: pools.0.replicaz, values: [1]}}]
)",
                                 SERVESIM_SOURCE_DIR);
  r = testing::run_servesim("sweep " + dir_.write("typo.yaml", typo));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.out, HasSubstr("parameters.0"));
  EXPECT_THAT(r.out, HasSubstr("replicaz"));
}

// Two MPI ranks (mpirun, Open MPI) share the trials and give the local run's table.
TEST_F(SweepRun, TwoMpiRanksGiveTheLocalResults) {
  if (testing::run_servesim("--list").out.find("sweep across MPI ranks: yes") == std::string::npos)
    GTEST_SKIP() << "built without MPI";
  if (testing::run_command("command -v mpirun").exit_code != 0) GTEST_SKIP() << "no mpirun";
  std::string local = dir_.file("local.h5"), mpi = dir_.file("mpi.h5");
  sweep(quick(), local);
  // root may run it here (CI containers); LeakSanitizer would only report Open MPI's own state
  auto r = testing::run_command(
      "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_warn_on_fork=0 ASAN_OPTIONS=detect_leaks=0 "
      "mpirun -n 2 --oversubscribe " +
      std::string(SERVESIM_BIN) + " sweep " + quick() + " -o " + mpi);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("2 MPI ranks"));
  for (const char* m : {"trial", "ok", "output_tokens_per_s", "ttft_p90_s", "gpus", "requests_completed"})
    EXPECT_EQ(column(local, "/trials", m), column(mpi, "/trials", m)) << m;
  EXPECT_EQ(column(local, "/trial_stats", "trial"), column(mpi, "/trial_stats", "trial"));
}

TEST(SweepMpi, ResultsRoundTripThroughTheWireFormat) {
  TrialRun a;
  a.id = 42;
  a.replication = 3;
  a.seed = 7;
  a.status = "failed";
  a.wall_s = 1.0 / 3;
  a.error = "servesim: input error: x = y";
  a.reused = true;
  a.metrics = {{"ttft_p90_s", 0.1 + 0.2}, {"gpus", 8}, {"nan_metric", std::nan("")}};
  auto back = decode_runs(encode_runs({a, a}));
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[1].id, 42u);
  EXPECT_EQ(back[1].replication, 3);
  EXPECT_EQ(back[1].status, "failed");
  EXPECT_EQ(back[1].error, a.error);
  EXPECT_TRUE(back[1].reused);
  EXPECT_EQ(back[1].wall_s, a.wall_s);  // bit-exact
  EXPECT_EQ(back[1].metrics.at("ttft_p90_s"), 0.1 + 0.2);
  EXPECT_TRUE(std::isnan(back[1].metrics.at("nan_metric")));
}

// M/D/1: one worker serving 10 ms requests one at a time, Poisson arrivals at 80% load. The
// mean wait in queue is rho D / (2 (1 - rho)) = 20 ms; ten replications' 95% interval covers it.
TEST_F(SweepRun, ReplicationIntervalCoversTheMD1MeanWait) {
  std::string base = dir_.write("md1.yaml", R"(
name: md1
workload:
  max_requests: 20000
  synthetic:
    duration: 100d
    arrival: {process: poisson, rate: 80}
    input_length: {dist: fixed, value: 1}
    output_length: {dist: fixed, value: 1}
pools:
  - engine: {max_num_seqs: 1, max_num_batched_tokens: 100000, block_size: 2048, num_gpu_blocks: 10000}
    timing: {model: polynomial, polynomial: {constant_ms: 10}}
simulation: {sample_interval: 1h}
output: {requests: false}
)");
  std::string sweep_file = dir_.write("md1_sweep.yaml", fmt::format(R"(
name: md1_sweep
base: {}
replications: 10
parameters: [{{key: router.policy, values: [round_robin]}}]
objective: {{metric: queue_mean_s, goal: min}}
)",
                                                                    base));
  std::string out = dir_.file("md1.h5");
  sweep(sweep_file, out, "-j 2");
  H5File f(out);
  EXPECT_EQ(testing::dataset_rows(f.id, "/trials"), 10u);
  const double mean = read_double_column(f.id, "/trial_stats", "queue_mean_s").at(0);
  const double ci = read_double_column(f.id, "/trial_stats", "queue_mean_s_ci95").at(0);
  const double closed_form = 0.8 * 0.010 / (2 * (1 - 0.8));
  EXPECT_GT(ci, 0);
  EXPECT_LT(ci, 0.1 * closed_form);  // the interval is informative
  EXPECT_NEAR(mean, closed_form, ci);
  // seeds differ per replication: the runs are not copies
  auto q = read_double_column(f.id, "/trials", "queue_mean_s");
  EXPECT_EQ(std::set<double>(q.begin(), q.end()).size(), 10u);
}

}  // namespace
}  // namespace servesim
