// End-to-end runs through the CLI, read back from HDF5 with the C API: layout, row counts,
// conservation, Little's law, determinism, and a run killed mid-way.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <map>
#include <numeric>
#include <thread>

#include "tests/test_util.h"

namespace servesim {
namespace {

using ::testing::HasSubstr;

const char* kScenario = R"(
name: e2e
seed: 5
simulation: {sample_interval: 2s}
workload:
  source: synthetic
  synthetic:
    duration: 60s
    arrival: {process: poisson, rate: 6}
    input_length: {dist: lognormal, mean: 800, std: 400, max: 8000}
    output_length: {dist: uniform, min: 1, max: 200}
router: {policy: least_loaded}
pools:
  - name: a
    replicas: 3
    tp: 2
    engine: {max_num_seqs: 32}
    timing: {model: polynomial, polynomial: {constant_ms: 6, per_prefill_token_ms: 0.05, per_decode_seq_ms: 0.1}}
slo: {ttft: 500ms, itl: 40ms}
)";

using testing::H5File;

class RunTest : public ::testing::Test {
 protected:
  std::string run(const std::string& scenario, const std::string& out_name, const std::string& extra = "") {
    std::string scn = dir_.write("scn.yaml", scenario);
    std::string out = dir_.file(out_name);
    last_ = testing::run_servesim("run " + scn + " -o " + out + " " + extra);
    EXPECT_EQ(last_.exit_code, 0) << last_.out;
    return out;
  }
  testing::TempDir dir_;
  testing::CommandResult last_;
};

TEST_F(RunTest, WritesEveryDatasetWithDocumentedColumns) {
  std::string out = run(kScenario, "run.h5");
  EXPECT_THAT(last_.out, HasSubstr("ttft"));
  EXPECT_THAT(last_.out, HasSubstr("goodput"));
  H5File f(out);
  ASSERT_GE(f.id, 0);
  EXPECT_EQ(testing::read_string_attribute(f.id, "/meta", "scenario_name"), "e2e");
  EXPECT_THAT(testing::read_string_attribute(f.id, "/meta", "scenario_yaml"), HasSubstr("max_num_seqs: 32"));
  EXPECT_FALSE(testing::read_string_attribute(f.id, "/meta", "servesim_version").empty());
  EXPECT_FALSE(testing::read_string_attribute(f.id, "/meta", "git_commit").empty());
  EXPECT_FALSE(testing::read_string_attribute(f.id, "/meta", "wall_start_utc").empty());

  EXPECT_EQ(testing::compound_fields(f.id, "/requests"),
            (std::vector<std::string>{"id", "session_id", "trace_id", "arrival_s", "deps_done_s", "think_s",
                                      "tool_wait_s", "input_tokens", "output_tokens", "cached_tokens",
                                      "expected_cached_tokens", "preemptions", "prefill_worker", "decode_worker",
                                      "priority", "model", "lora", "lora_loaded", "slo_class", "queue_s", "prefill_s",
                                      "transfer_s", "decode_s", "ttft_s", "e2e_s", "mean_itl_s", "status",
                                      "reject_reason", "route", "reserve_wait_s", "transfer_bytes", "first_step_s",
                                      "energy_j", "offloaded_tokens", "onboard_s", "disk_tokens", "remote_tokens",
                                      "fetch_s", "prefill_dp_rank", "decode_dp_rank"}));
  EXPECT_EQ(testing::compound_fields(f.id, "/edges"), (std::vector<std::string>{"trace_id", "waits_for"}));
  EXPECT_EQ(testing::dataset_rows(f.id, "/edges"), 0u);  // independent requests: no graph
  auto ts_fields = testing::compound_fields(f.id, "/timeseries/cluster");
  EXPECT_EQ(ts_fields.front(), "time_s");
  EXPECT_EQ(ts_fields.size(), 31u);
  EXPECT_EQ(testing::compound_fields(f.id, "/workers").front(), "time_s");

  auto summary = [&](const std::string& k) { return testing::read_double_column(f.id, "/summary", k).at(0); };
  const double arrived = summary("requests_arrived");
  EXPECT_GT(arrived, 300);
  // every request ends exactly once: one row each, ids 0..n-1 once
  EXPECT_EQ(testing::dataset_rows(f.id, "/requests"), static_cast<hsize_t>(arrived));
  EXPECT_EQ(summary("requests_completed"), arrived);
  auto ids = testing::read_double_column(f.id, "/requests", "id");
  std::sort(ids.begin(), ids.end());
  for (size_t i = 0; i < ids.size(); ++i) ASSERT_EQ(ids[i], static_cast<double>(i));
  // tokens out = tokens asked for
  auto osl = testing::read_double_column(f.id, "/requests", "output_tokens");
  EXPECT_DOUBLE_EQ(summary("output_tokens_total"), std::accumulate(osl.begin(), osl.end(), 0.0));
  EXPECT_EQ(summary("gpus"), 6);
  // timeseries: one row per 2 s window, the last one partial; workers: one row per worker per window
  auto t = testing::read_double_column(f.id, "/timeseries/cluster", "time_s");
  const double end = summary("sim_time_s");
  EXPECT_EQ(t.size(), static_cast<size_t>(std::ceil(end / 2.0)));
  EXPECT_DOUBLE_EQ(t.back(), end);
  EXPECT_EQ(testing::dataset_rows(f.id, "/workers"), 3 * t.size());
  auto arrivals = testing::read_double_column(f.id, "/timeseries/cluster", "arrivals");
  EXPECT_EQ(std::accumulate(arrivals.begin(), arrivals.end(), 0.0), arrived);
  auto completions = testing::read_double_column(f.id, "/timeseries/cluster", "completions");
  EXPECT_EQ(std::accumulate(completions.begin(), completions.end(), 0.0), arrived);
}

TEST_F(RunTest, LittlesLawHoldsOnTheTimeseries) {
  std::string out = run(kScenario, "little.h5");
  H5File f(out);
  // time-integral of requests in system == sum of their sojourn times (every request ends)
  auto mean = testing::read_double_column(f.id, "/timeseries/cluster", "in_system_mean");
  auto interval = testing::read_double_column(f.id, "/timeseries/cluster", "interval_s");
  double area = 0;
  for (size_t i = 0; i < mean.size(); ++i) area += mean[i] * interval[i];
  auto e2e = testing::read_double_column(f.id, "/requests", "e2e_s");
  double sojourn = std::accumulate(e2e.begin(), e2e.end(), 0.0);
  EXPECT_NEAR(area, sojourn, 1e-6 * sojourn);
  // and L = lambda W over the run
  const double T = testing::read_double_column(f.id, "/summary", "sim_time_s")[0];
  const double lambda = static_cast<double>(e2e.size()) / T;
  EXPECT_NEAR(area / T, lambda * sojourn / static_cast<double>(e2e.size()), 1e-9 * area);
}

TEST_F(RunTest, SameSeedIsBitIdenticalOtherSeedDiffers) {
  std::string a = run(kScenario, "a.h5"), b = run(kScenario, "b.h5"), c = run(kScenario, "c.h5", "--seed 6");
  H5File fa(a), fb(b), fc(c);
  for (const char* ds : {"/requests", "/timeseries/cluster", "/workers"}) {
    auto ra = testing::read_raw(fa.id, ds), rb = testing::read_raw(fb.id, ds);
    ASSERT_FALSE(ra.empty()) << ds;
    EXPECT_TRUE(ra == rb) << ds << " differs between two runs with the same seed";
  }
  EXPECT_FALSE(testing::read_raw(fa.id, "/requests") == testing::read_raw(fc.id, "/requests"));
}

TEST_F(RunTest, MaxTimeLeavesRequestsUnfinishedAndCounted) {
  std::string out = run(kScenario, "cap.h5", "--set simulation.max_time=20s");
  H5File f(out);
  auto summary = [&](const std::string& k) { return testing::read_double_column(f.id, "/summary", k).at(0); };
  EXPECT_DOUBLE_EQ(summary("sim_time_s"), 20.0);
  EXPECT_GT(summary("requests_unfinished"), 0);
  EXPECT_EQ(summary("requests_completed") + summary("requests_unfinished"), summary("requests_arrived"));
  EXPECT_EQ(testing::dataset_rows(f.id, "/requests"), static_cast<hsize_t>(summary("requests_arrived")));
}

TEST_F(RunTest, KilledRunLeavesAReadableFile) {
  // a long run with frequent flushes; kill -9 once rows have been flushed
  std::string scn = dir_.write("long.yaml", std::string(kScenario) +
                                                "output: {flush_interval: 100ms}\n");
  std::string out = dir_.file("killed.h5");
  // while it runs, the results are snapshotted beside the target, which appears only at the end
  const std::string partial = dir_.file("killed.partial.h5");
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    execl(SERVESIM_BIN, SERVESIM_BIN, "run", scn.c_str(), "-o", out.c_str(), "-q", "--set",
          "workload.synthetic.duration=100h", "--set", "workload.synthetic.arrival.rate=50", "--set",
          "pools.0.replicas=40", static_cast<char*>(nullptr));
    _exit(127);
  }
  hsize_t rows = 0;
  for (int i = 0; i < 200 && rows < 1000; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    rows = testing::rows_if_readable(partial, "/requests");
  }
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the run ended before it could be killed";
  ASSERT_GE(rows, 1000u) << "no rows were flushed while the run was going";
  EXPECT_FALSE(testing::exists(out)) << "a killed run must not look finished";
  H5File f(partial);
  ASSERT_GE(f.id, 0) << "the killed run's file does not open";
  hsize_t n = testing::dataset_rows(f.id, "/requests");
  EXPECT_GE(n, rows);
  auto e2e = testing::read_double_column(f.id, "/requests", "e2e_s");
  ASSERT_EQ(e2e.size(), n);
  for (double v : e2e) ASSERT_TRUE(v > 0) << "a flushed row is damaged";
  EXPECT_GT(testing::dataset_rows(f.id, "/timeseries/cluster"), 0u);
}

TEST_F(RunTest, RealTracesRunEndToEnd) {
  std::string mooncake = testing::data_file("mooncake/conversation_trace.jsonl.gz");
  std::string out = run(fmt::format(R"(
name: mooncake
workload: {{source: mooncake_jsonl, path: {}, max_requests: 2000, spread_equal_timestamps: 3s}}
pools: [{{replicas: 8, timing: {{polynomial: {{constant_ms: 10, per_prefill_token_ms: 0.02}}}}}}]
)", mooncake), "mooncake.h5");
  H5File f(out);
  EXPECT_EQ(testing::dataset_rows(f.id, "/requests"), 2000u);
}

// A trace's priority reaches /requests, and under engine.policy: priority the lower values,
// queued together, are admitted first (the priorities fall with arrival order, so FCFS would
// give the opposite ranking).
TEST_F(RunTest, TracePriorityIsRecordedAndServedFirst) {
  std::string trace;
  for (int i = 0; i < 40; ++i)
    trace += fmt::format(R"({{"timestamp": 0, "input_length": 200, "output_length": 20, "priority": {}}})", 2 - i % 4) + "\n";
  const std::string path = dir_.write("prio.jsonl", trace);
  std::string out = run(fmt::format(R"(
name: prio
workload: {{source: mooncake_jsonl, path: {}}}
pools: [{{replicas: 1, engine: {{max_num_seqs: 4, policy: priority}},
          timing: {{model: polynomial, polynomial: {{constant_ms: 10, per_prefill_token_ms: 0.01}}}}}}]
)", path), "prio.h5");
  H5File f(out);
  const auto ids = testing::read_double_column(f.id, "/requests", "id");
  const auto prio = testing::read_double_column(f.id, "/requests", "priority");
  const auto queue = testing::read_double_column(f.id, "/requests", "queue_s");
  ASSERT_EQ(ids.size(), 40u);
  std::map<double, std::pair<double, int>> queue_by_priority;  // sum and count
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(prio[i], 2 - static_cast<int>(ids[i]) % 4) << "request " << ids[i];
    queue_by_priority[prio[i]].first += queue[i];
    queue_by_priority[prio[i]].second += 1;
  }
  ASSERT_EQ(queue_by_priority.size(), 4u);
  double previous = -1;
  for (const auto& [p, sum_count] : queue_by_priority) {  // ascending priority value
    const double mean = sum_count.first / sum_count.second;
    EXPECT_GT(mean, previous) << "priority " << p;
    previous = mean;
  }
}

TEST_F(RunTest, ProgressLineOnlyOnATerminal) {
  run(kScenario, "quiet.h5");
  EXPECT_THAT(last_.out, ::testing::Not(HasSubstr("[servesim]")));  // stderr is a pipe here
}

}  // namespace
}  // namespace servesim

namespace servesim {
namespace {

// An error raised inside a SystemC process keeps its kind (exit code) and its own message.
TEST(RunErrors, AnErrorInsideTheSimulationKeepsItsExitCodeAndMessage) {
  testing::TempDir dir;
  std::string scn = dir.write("big.yaml", R"(
workload:
  synthetic: {duration: 5s, arrival: {rate: 1}, input_length: {dist: fixed, value: 5000}}
pools: [{engine: {num_gpu_blocks: 100}}]
)");
  auto r = testing::run_servesim("run " + scn + " -q -o " + dir.file("x.h5"));
  EXPECT_EQ(r.exit_code, 3) << r.out;
  EXPECT_THAT(r.out, ::testing::HasSubstr("input error: request 0 (5000 prompt + 128 output tokens) needs 321 KV blocks"));
  EXPECT_THAT(r.out, ::testing::Not(::testing::HasSubstr("E549")));
}

}  // namespace
}  // namespace servesim

namespace servesim {
namespace {

// Runs the scenario at `path` with `sets` (--set overrides) and returns its run file.
std::string run_scenario(testing::TempDir& dir, const std::string& path, const std::string& sets) {
  const std::string out = dir.file("run.h5");
  auto r = testing::run_servesim("run " + path + " -q -o " + out + " " + sets);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  return out;
}

// Closed loop (benchmark-client style): exactly `concurrency` requests in flight while the trace
// lasts; with a think time Z, Little's law over the loop: N = X (R + Z).
TEST(ClosedLoop, KeepsTheConcurrencyAndObeysLittlesLaw) {
  testing::TempDir dir;
  const char* yaml = R"(
name: closed
seed: 4
workload:
  max_requests: 3000
  synthetic:
    duration: 100d
    input_length: {dist: uniform, min: 200, max: 2000}
    output_length: {dist: uniform, min: 20, max: 200}
  closed_loop: {concurrency: 8}
pools: [{replicas: 2, timing: {model: polynomial, polynomial: {constant_ms: 5, per_prefill_token_ms: 0.02, per_decode_seq_ms: 0.2}}}]
simulation: {sample_interval: 1s}
)";
  std::string out = dir.file("closed.h5");
  auto r = testing::run_servesim("run " + dir.write("closed.yaml", yaml) + " -q -o " + out);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  {
    testing::H5File f(out);
    auto mean = testing::read_double_column(f.id, "/timeseries/cluster", "in_system_mean");
    auto arrivals = testing::read_double_column(f.id, "/requests", "arrival_s");
    const double last_arrival = *std::max_element(arrivals.begin(), arrivals.end());
    auto t = testing::read_double_column(f.id, "/timeseries/cluster", "time_s");
    int full = 0;
    for (size_t i = 0; i < t.size(); ++i)
      if (t[i] <= std::floor(last_arrival)) {
        EXPECT_DOUBLE_EQ(mean[i], 8) << "window ending " << t[i];
        ++full;
      }
    EXPECT_GT(full, 10);
    // every request starts when another ends: arrivals after the first 8 coincide with completions
    std::sort(arrivals.begin(), arrivals.end());
    EXPECT_EQ(arrivals[7], 0);
    EXPECT_GT(arrivals[8], 0);
  }
  // a think time of 0.5 s: N = X (R + Z) over the run
  std::string out2 = dir.file("think.h5");
  r = testing::run_servesim("run " + dir.file("closed.yaml") + " -q -o " + out2 +
                            " --set workload.closed_loop.think_time=500ms");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  testing::H5File f(out2);
  auto summary = [&](const char* k) { return testing::read_double_column(f.id, "/summary", k).at(0); };
  const double x = summary("throughput_req_per_s"), rt = summary("e2e_mean_s");
  EXPECT_NEAR(x * (rt + 0.5), 8, 8 * 0.01);
}

TEST(Run, ClosedLoopRampSpreadsTheFirstRequests) {
  testing::TempDir dir;
  const char* yaml = R"(
name: ramp
seed: 9
workload:
  max_requests: 40
  synthetic:
    duration: 100d
    input_length: {dist: fixed, value: 512}
    output_length: {dist: fixed, value: 2000}  # ~10 s each: longer than the ramp
  closed_loop: {concurrency: 8, ramp: 4s}
pools: [{replicas: 1, timing: {model: polynomial, polynomial: {constant_ms: 5, per_prefill_token_ms: 0.01}}}]
)";
  const std::string path = dir.write("ramp.yaml", yaml);
  auto first_arrivals = [&](const std::string& sets) {
    testing::H5File f(run_scenario(dir, path, sets));
    auto a = testing::read_double_column(f.id, "/requests", "arrival_s");
    std::sort(a.begin(), a.end());
    return std::vector<double>(a.begin(), a.begin() + 8);
  };
  auto even = first_arrivals("");
  for (int k = 0; k < 8; ++k) EXPECT_NEAR(even[k], 0.5 * k, 1e-9);  // 4 s / 8
  auto random = first_arrivals("--set workload.closed_loop.ramp_phases=random");
  EXPECT_EQ(random, first_arrivals("--set workload.closed_loop.ramp_phases=random"));  // from the seed
  EXPECT_NE(random, even);
  for (double t : random) EXPECT_LT(t, 4.0);
  EXPECT_NE(random, first_arrivals("--set workload.closed_loop.ramp_phases=random --seed 10"));
}

TEST(Run, FrontendLatencyAddsToEveryTtftAndNothingElse) {
  testing::TempDir dir;
  const char* yaml = R"(
name: fe
seed: 2
workload:
  max_requests: 1
  synthetic:
    duration: 10s
    arrival: {process: constant, rate: 1}
    input_length: {dist: fixed, value: 1000}
    output_length: {dist: fixed, value: 10}
pools: [{replicas: 1, timing: {model: polynomial, polynomial: {constant_ms: 5, per_prefill_token_ms: 0.01}}}]
)";
  const std::string path = dir.write("fe.yaml", yaml);
  auto run = [&](const std::string& sets) {
    testing::H5File f(run_scenario(dir, path, sets));
    return std::pair(testing::read_double_column(f.id, "/requests", "ttft_s").at(0),
                     testing::read_double_column(f.id, "/requests", "mean_itl_s").at(0));
  };
  auto [ttft, itl] = run("");
  EXPECT_NEAR(ttft, 0.005 + 1000 * 0.01e-3, 1e-9);  // one prefill iteration
  auto [ttft2, itl2] = run("--set frontend.request_latency=25ms");
  EXPECT_NEAR(ttft2 - ttft, 0.025, 1e-9);
  EXPECT_DOUBLE_EQ(itl2, itl);
}

// Four requests arrive at once; the frontend's processes take them one at a time, each busy
// 8 ms + 4 ms per 1,000 of its 500 prompt tokens = 10 ms. The engine is idle whenever one reaches
// it (a 5 ms prefill, one output token), so each TTFT is its turn's end + 5 ms.
TEST(Run, FrontendProcessesTakeABurstOneRequestAtATime) {
  testing::TempDir dir;
  const char* yaml = R"(
name: fe_processes
seed: 3
workload:
  max_requests: 4
  synthetic:
    duration: 10s
    input_length: {dist: fixed, value: 500}
    output_length: {dist: fixed, value: 1}
  closed_loop: {concurrency: 4}
frontend: {processing: {per_request: 8ms, per_1k_input_tokens: 4ms}}
pools: [{replicas: 1, timing: {model: polynomial, polynomial: {constant_ms: 5}}}]
)";
  const std::string path = dir.write("fe.yaml", yaml);
  auto ttfts_ms = [&](const std::string& sets) {
    testing::H5File f(run_scenario(dir, path, sets));
    for (double a : testing::read_double_column(f.id, "/requests", "arrival_s")) EXPECT_EQ(a, 0);
    std::vector<double> t = testing::read_double_column(f.id, "/requests", "ttft_s");
    std::sort(t.begin(), t.end());
    for (double& x : t) x = std::round(x * 1e9) / 1e6;  // whole nanoseconds, in ms
    return t;
  };
  EXPECT_EQ(ttfts_ms(""), (std::vector<double>{15, 25, 35, 45}));
  // two processes: two requests reach the engine at 10 ms and share its iteration
  EXPECT_EQ(ttfts_ms("--set frontend.processing.processes=2"), (std::vector<double>{15, 15, 25, 25}));
  // the fixed latency comes after the turn
  EXPECT_EQ(ttfts_ms("--set frontend.request_latency=1ms"), (std::vector<double>{16, 26, 36, 46}));
  // no processing time: all four in one iteration
  EXPECT_EQ(ttfts_ms("--set frontend.processing.per_request=0s --set frontend.processing.per_1k_input_tokens=0s"),
            (std::vector<double>{5, 5, 5, 5}));
  const testing::CommandResult bad = testing::run_servesim("validate " + path + " --set frontend.processing.processes=0");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.out.find("frontend.processing.processes"), std::string::npos) << bad.out;
}

TEST(Run, ClosedLoopDesyncStartsInABurstThenSpreadsTheSuccessors) {
  testing::TempDir dir;
  const char* yaml = R"(
name: desync
seed: 11
workload:
  max_requests: 64
  synthetic:
    duration: 100d
    input_length: {dist: fixed, value: 512}
    output_length: {dist: fixed, value: 200}
  closed_loop: {concurrency: 8, desync: 3s}
pools: [{replicas: 1, timing: {model: polynomial, polynomial: {constant_ms: 5, per_prefill_token_ms: 0.01}}}]
)";
  const std::string path = dir.write("desync.yaml", yaml);
  auto arrivals = [&](const std::string& sets) {
    testing::H5File f(run_scenario(dir, path, sets));
    auto a = testing::read_double_column(f.id, "/requests", "arrival_s");
    std::sort(a.begin(), a.end());
    return a;
  };
  auto a = arrivals("");
  for (int k = 0; k < 8; ++k) EXPECT_EQ(a[k], 0);  // the burst
  // the burst's 8 requests end together (same lengths, one batch) at about 1 s; their
  // successors spread over the next 3 s instead of arriving together
  std::vector<double> next(a.begin() + 8, a.begin() + 16);
  EXPECT_GT(next.back() - next.front(), 1.0);
  EXPECT_LT(next.back() - next.front(), 3.0);
  auto lockstep = arrivals("--set workload.closed_loop.desync=0s");
  EXPECT_EQ(lockstep[8], lockstep[15]);  // without it they stay in lockstep
  EXPECT_EQ(a, arrivals(""));            // the same seed, the same phases
}

// The run ends when the last request has finished, not while one is still on its way: a closed
// loop of at most `concurrency` requests sends them all before any arrives, and a desynced
// successor can be in transit while the system is empty. Both once ended the run early, silently.
TEST(Run, EveryRequestSentArrivesAndEnds) {
  testing::TempDir dir;
  const char* yaml = R"(
name: in_transit
seed: 3
workload:
  max_requests: 8
  synthetic:
    duration: 100d
    input_length: {dist: fixed, value: 512}
    output_length: {dist: fixed, value: 20}
  closed_loop: {concurrency: 8}
pools: [{replicas: 1, timing: {model: polynomial, polynomial: {constant_ms: 5, per_prefill_token_ms: 0.01}}}]
)";
  const std::string path = dir.write("t.yaml", yaml);
  auto completed = [&](const std::string& sets) {
    testing::H5File f(run_scenario(dir, path, sets));
    return testing::read_double_column(f.id, "/summary", "requests_completed").at(0);
  };
  EXPECT_EQ(completed(""), 8);  // the whole trace in the first wave
  EXPECT_EQ(completed("--set workload.max_requests=3"), 3);
  // the first wave ends together (about 0.2 s) and its successors wait up to 5 s: the system is
  // empty while they are on their way
  EXPECT_EQ(completed("--set workload.max_requests=16 --set workload.closed_loop.desync=5s"), 16);
  EXPECT_EQ(completed("--set workload.max_requests=16 --set workload.closed_loop.think_time=2s"), 16);
}

}  // namespace
}  // namespace servesim
