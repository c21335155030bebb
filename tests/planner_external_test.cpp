// External planners over the JSON-lines protocol (docs/planner_protocol.md): the built-in sla
// policy written again in Python (examples/planners/sla_planner.py) gives a bit-identical run; an
// HPA-style planner scales; observations carry the documented fields and a drain list drains the
// named worker; a planner behind ZeroMQ works; every protocol breach ends the run with exit 3
// naming the problem, with the planner's stderr kept; bad configuration is exit 2.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <simdjson.h>

#include <unistd.h>

#include <fstream>
#include <sstream>

#include "tests/test_util.h"

namespace servesim {
namespace {

using ::testing::HasSubstr;
using testing::H5File;
using testing::read_double_column;

const std::string kSource = SERVESIM_SOURCE_DIR;

// A 20-minute step burst (6 -> 24 -> 6 req/s) on Llama-3.1-8B, planned by the sla policy.
std::string burst(const std::string& planner) {
  return fmt::format(R"(name: burst
seed: 1
simulation: {{sample_interval: 10s}}
workload:
  source: synthetic
  synthetic:
    duration: 20m
    arrival:
      process: poisson
      schedule: steps
      points: [{{at: 0s, rate: 6}}, {{at: 5m, rate: 24}}, {{at: 12m, rate: 6}}]
    input_length: {{dist: lognormal, mean: 2048, std: 1024, max: 8192}}
    output_length: {{dist: lognormal, mean: 256, std: 128, max: 1024}}
router: {{policy: least_loaded}}
pools:
  - name: agg
    replicas: 2
    model: llama-3.1-8b
    gpu: h100_sxm
    engine: {{max_num_seqs: 128, max_num_batched_tokens: 8192}}
    lifecycle: {{min_replicas: 1, max_replicas: 16, startup: {{dist: fixed, value: 1m}}}}
planner:
  adjustment_interval: 30s
  scrape_delay: 5s
  gpu_budget: 16
  predictor: {{name: holt_winters, alpha: 0.5, beta: 0.2}}
  actuation_delay: {{value: 5s}}
{}
slo: {{ttft: 1s, itl: 50ms}}
)",
                     planner);
}

std::string external(const std::string& command, const std::string& more = "") {
  return fmt::format("  policy: external\n  external: {{command: \"{}\"{}}}", command, more);
}

testing::CommandResult run(const testing::TempDir& d, const std::string& name, const std::string& planner) {
  const std::string scn = d.write(name + ".yaml", burst(planner));
  return testing::run_servesim(fmt::format("run {} -q -o {}", scn, d.file(name + ".h5")));
}

TEST(ExternalPlanner, TheSlaPolicyOverTheProtocolIsBitIdenticalToTheBuiltInOne) {
  testing::TempDir d;
  auto a = run(d, "builtin", "  policy: sla");
  ASSERT_EQ(a.exit_code, 0) << a.out;
  auto b = run(d, "external",
               external(fmt::format("/usr/bin/python3 {}/examples/planners/sla_planner.py --predictor holt_winters "
                                    "--alpha 0.5 --beta 0.2",
                                    kSource)));
  ASSERT_EQ(b.exit_code, 0) << b.out;
  H5File fa(d.file("builtin.h5")), fb(d.file("external.h5"));
  for (const char* ds : {"/requests", "/planner", "/control_plane", "/timeseries/pools", "/timeseries/cluster"})
    EXPECT_EQ(testing::read_raw(fa.id, ds), testing::read_raw(fb.id, ds)) << ds;
  // and the planner did scale through the burst (the comparison is not between two static runs)
  const auto target = read_double_column(fa.id, "/planner", "target");
  EXPECT_GE(*std::max_element(target.begin(), target.end()), 5);
}

TEST(ExternalPlanner, AnHpaStyleControllerScalesOnRunningRequestsPerWorker) {
  testing::TempDir d;
  auto r = run(d, "hpa",
               external(fmt::format("/usr/bin/python3 {}/examples/planners/hpa_planner.py --metric running_per_worker "
                                    "--target 24 --scale-down-window 120",
                                    kSource)));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  H5File f(d.file("hpa.h5"));
  const auto time = read_double_column(f.id, "/planner", "time_s");
  const auto target = read_double_column(f.id, "/planner", "target");
  double peak = 0, last = target.back();
  for (size_t i = 0; i < time.size(); ++i)
    if (time[i] > 300 && time[i] < 720) peak = std::max(peak, target[i]);
  EXPECT_GT(peak, 2) << "scaled up in the burst";
  EXPECT_LT(last, peak) << "and back down after it";
}

TEST(ExternalPlanner, ObservationsCarryTheDocumentedFieldsAndADrainListDrainsThatWorker) {
  testing::TempDir d;
  const std::string log = d.file("messages.jsonl");
  auto r = run(d, "recorded",
               external(fmt::format("/usr/bin/python3 {}/tests/planners/recording_planner.py {}", kSource, log),
                        ", worker_metrics: true"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  std::ifstream in(log);
  std::string line;
  simdjson::dom::parser parser;
  int observations = 0;
  double iterations = 0;
  ASSERT_TRUE(std::getline(in, line));
  simdjson::dom::element hello = parser.parse(line);
  EXPECT_EQ(std::string_view(hello["type"]), "hello");
  EXPECT_EQ(int64_t(hello["version"]), 1);
  EXPECT_EQ(int64_t(hello["pools"].at(0)["max_replicas"]), 16);
  EXPECT_DOUBLE_EQ(double(hello["slo"]["itl_s"]), 0.05);
  while (std::getline(in, line)) {
    simdjson::dom::element o = parser.parse(line);
    ++observations;
    EXPECT_EQ(std::string_view(o["type"]), "observation");
    EXPECT_DOUBLE_EQ(double(o["time_s"]), 35.0 + 30 * (observations - 1)) << "ticks every 30 s, seen 5 s late";
    EXPECT_DOUBLE_EQ(double(o["interval_s"]), 30);
    for (const char* k : {"requests", "completions", "mean_isl", "mean_osl", "output_tokens_per_s",
                          "prefix_hit_rate", "slo_attainment", "rejected", "router_queued"})
      EXPECT_FALSE(o["traffic"][k].error()) << k;
    for (const char* k : {"mean", "p50", "p90", "p99"}) {
      EXPECT_FALSE(o["traffic"]["ttft_s"][k].error()) << k;
      EXPECT_FALSE(o["traffic"]["itl_s"][k].error()) << k;
    }
    auto pool = o["pools"].at(0);
    for (const char* k : {"ready", "starting", "draining", "failed", "target", "gpus_per_worker", "queued_per_worker",
                          "running_per_worker", "kv_usage"})
      EXPECT_FALSE(pool[k].error()) << k;
    EXPECT_GT(double(o["expected_ttft_s_512"]), 0) << "a capacity query answered";
    for (auto w : o["workers"].get_array()) iterations += double(w["iterations"]);
    if (observations == 1) {
      EXPECT_NEAR(double(o["traffic"]["requests"]), 6 * 30, 60) << "Poisson at 6 req/s over 30 s";
      EXPECT_EQ(int64_t(pool["ready"]), 2);
    }
  }
  EXPECT_GE(observations, 39) << "20 minutes in 30 s ticks";
  EXPECT_LE(observations, 60);
  EXPECT_GT(iterations, 1000) << "forward-pass metrics sent";
  // the decision at 65 s drained agg_0 (worker 0), which landed 5 s later
  H5File f(d.file("recorded.h5"));
  const auto kind = read_double_column(f.id, "/control_plane", "kind");
  const auto worker = read_double_column(f.id, "/control_plane", "worker");
  const auto sent = read_double_column(f.id, "/control_plane", "sent_s");
  bool drained = false;
  for (size_t i = 0; i < kind.size(); ++i)
    if (kind[i] == 2) {
      EXPECT_EQ(worker[i], 0);
      EXPECT_DOUBLE_EQ(sent[i], 70);
      drained = true;
    }
  EXPECT_TRUE(drained);
}

TEST(ExternalPlanner, APlannerBehindZeroMqAnswersAndQueriesOverTcp) {
  testing::TempDir d;
  // a planner on a REP socket that asks one capacity query per tick and scales to 3 after 100 s;
  // it exits after bye
  const std::string py = d.write("rep.py", fmt::format(R"(import sys
sys.path.insert(0, "{}/examples/planners")
from servesim_planner import serve_zmq
def decide(obs, query):
    assert query([{{"op": "expected_ttft_s", "pool": "agg", "isl": 512}}])[0] > 0
    return {{"agg": 3}} if obs["time_s"] > 100 else {{}}
serve_zmq(decide, "tcp://127.0.0.1:" + sys.argv[1])
)",
                                                       kSource));
  const int port = 25000 + static_cast<int>(::getpid() % 5000);
  const std::string scn = d.write("zmq.yaml", burst(fmt::format(
                                                  "  policy: external\n  external: {{connect: \"tcp://127.0.0.1:{}\", "
                                                  "timeout: 20s}}",
                                                  port)));
  auto r = testing::run_command(fmt::format("timeout 120 /usr/bin/python3 {} {} & sleep 0.5; {} run {} -q -o {}; rc=$?; wait; exit $rc",
                                            py, port, SERVESIM_BIN, scn, d.file("zmq.h5")));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  H5File f(d.file("zmq.h5"));
  const auto target = read_double_column(f.id, "/planner", "target");
  EXPECT_EQ(target.back(), 3);
}

TEST(ExternalPlanner, EveryProtocolBreachEndsTheRunWithExit3NamingIt) {
  testing::TempDir d;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"json", "the reply is not JSON"},
      {"pool", "no pool is named 'nope' (the pools are: agg)"},
      {"range", "pool 'agg': replicas 99 is outside 1..16"},
      {"drain", "pool 'agg' has no worker 'agg_99' (its workers are agg_0..agg_15)"},
      {"hang", "no reply within 1 s (planner.external.timeout"},
      {"exit", "it closed its stdout before replying (it exited with status 7)"},
      {"version", "the planner must speak protocol version 1"},
  };
  for (const auto& [mode, message] : cases) {
    auto r = run(d, mode,
                 external(fmt::format("/usr/bin/python3 {}/tests/planners/misbehaving_planner.py {}", kSource, mode),
                          ", timeout: 1s"));
    EXPECT_EQ(r.exit_code, 3) << mode << ": " << r.out;
    EXPECT_THAT(r.out, HasSubstr(message)) << mode;
    if (mode != "version") {
      EXPECT_THAT(r.out, HasSubstr("[planner] misbehaving planner: " + mode)) << "stderr kept";
    }
  }
}

TEST(ExternalPlanner, BadConfigurationIsExit2) {
  testing::TempDir d;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"  policy: external", "policy external needs exactly one of command and connect"},
      {"  policy: external\n  external: {command: a, connect: \"tcp://127.0.0.1:1\"}",
       "policy external needs exactly one of command and connect"},
      {"  policy: external\n  external: {connect: \"inprocess://\"}", "inprocess:// is for planners given to the Python API"},
      {"  policy: external\n  external: {command: a, timeout: 0s}", "planner.external.timeout"},
      {"  discovery_delay: {dist: uniform, min: 5s, max: 1s}", "planner.discovery_delay.max"},
  };
  int k = 0;
  for (const auto& [planner, message] : cases) {
    auto r = run(d, fmt::format("bad{}", k++), planner);
    EXPECT_EQ(r.exit_code, 2) << planner << ": " << r.out;
    EXPECT_THAT(r.out, HasSubstr(message)) << planner;
  }
}

}  // namespace
}  // namespace servesim
